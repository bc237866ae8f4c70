//! The Snuba-compatible HTTP API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sentry_sls_query::{Engine, QueryRequest, SnubaError};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

/// Settings of the Snuba listener.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Time limit for one request.
    pub request_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
struct AppState {
    engine: Engine,
    metrics: Option<PrometheusHandle>,
}

/// The router of the Snuba API.
pub fn router(engine: Engine, metrics: Option<PrometheusHandle>, config: &ServerConfig) -> Router {
    let state = AppState { engine, metrics };
    Router::new()
        .route("/health", get(health))
        .route("/health_envoy", get(|| async { axum::Json(json!({})) }))
        .route("/metrics", get(metrics_text))
        .route("/query", post(legacy_query))
        .route("/rpc/{name}/{version}", post(rpc))
        .route("/{dataset}/snql", post(snql))
        .route("/{dataset}/mql", post(mql))
        .route("/{storage}", delete(delete_rows))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            config.request_timeout,
        ))
        .with_state(Arc::new(state))
}

/// Serves the Snuba API on `listener` until `shutdown` resolves, then drains
/// in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?address, "listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Maps an error to Snuba's status and body.
pub fn error_response(error: &SnubaError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(error.to_body())).into_response()
}

/// Snuba's answer, ending in a newline as Flask's does: the self-hosted
/// healthcheck (`grep ok -s -m 1` on a raw keep-alive socket) needs a whole
/// line to match and exit.
async fn health() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        "{\"status\":\"ok\",\"down_file_exists\":false}\n",
    )
        .into_response()
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics recorder not installed").into_response(),
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": {"type": "not_found", "message": "no such endpoint"}})),
    )
        .into_response()
}

#[derive(Clone, Copy)]
enum Language {
    Snql,
    Mql,
}

async fn snql(
    State(state): State<Arc<AppState>>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_query(state, dataset, headers, body, Language::Snql).await
}

async fn mql(
    State(state): State<Arc<AppState>>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_query(state, dataset, headers, body, Language::Mql).await
}

/// `POST /query`: the dataset comes from the body (default `events`).
async fn legacy_query(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let dataset = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|value| {
            value
                .get("dataset")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "events".to_string());
    run_query(state, dataset, headers, body, Language::Snql).await
}

async fn run_query(
    state: Arc<AppState>,
    dataset: String,
    headers: HeaderMap,
    body: Bytes,
    language: Language,
) -> Response {
    let started = Instant::now();
    let referer_header = headers
        .get("referer")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    // Sentry sends no Content-Type: the raw body is the JSON.
    let request = match QueryRequest::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return finish(&dataset, "<unknown>", started, Err(error)),
    };
    let referrer = request.effective_referrer(referer_header.as_deref());
    let organization = request.organization_id();
    let dataset_for_engine = dataset.clone();
    let engine = state.engine.clone();
    let outcome = tokio::task::spawn_blocking(move || match language {
        Language::Snql => engine.snql(&dataset_for_engine, &request),
        Language::Mql => engine.mql(&dataset_for_engine, &request),
    })
    .await
    .unwrap_or_else(|join_error| {
        Err(SnubaError::Internal(format!(
            "query task failed: {join_error}"
        )))
    });
    tracing::info!(
        dataset = %dataset,
        referrer = %referrer,
        organization_id = ?organization,
        ok = outcome.is_ok(),
        duration_ms = started.elapsed().as_millis() as u64,
        "snuba query"
    );
    finish(&dataset, &referrer, started, outcome)
}

fn finish(
    dataset: &str,
    referrer: &str,
    started: Instant,
    outcome: Result<Value, SnubaError>,
) -> Response {
    let (response, status) = match &outcome {
        Ok(body) => (
            axum::Json(sentry_sls_query::response::Ordered(body)).into_response(),
            "200".to_string(),
        ),
        Err(error) => {
            if error.status() >= 500 {
                tracing::error!(dataset, referrer, error = %error, "snuba query failed");
            } else {
                tracing::debug!(dataset, referrer, error = %error, "snuba query rejected");
            }
            (error_response(error), error.status().to_string())
        }
    };
    let labels = [
        ("dataset", dataset.to_string()),
        ("referrer", referrer.to_string()),
        ("status", status),
    ];
    metrics::counter!("snuba_requests_total", &labels).increment(1);
    metrics::histogram!("snuba_request_duration_seconds", "dataset" => dataset.to_string())
        .record(started.elapsed().as_secs_f64());
    response
}

/// `POST /rpc/{name}/{version}`: the EAP protobuf endpoints (spans, logs,
/// traces) are not served; answer with Snuba's `Error` proto and its code as
/// the status, which Sentry turns into `NotFound`.
async fn rpc(Path((name, version)): Path<(String, String)>) -> Response {
    let message = format!("endpoint {name}/{version} is not served by sentry-sls");
    let status = StatusCode::NOT_FOUND;
    (
        status,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        encode_rpc_error(status.as_u16() as u32, &message),
    )
        .into_response()
}

/// `sentry_protos.snuba.v1.Error { int32 code = 1; string message = 2; }`.
fn encode_rpc_error(code: u32, message: &str) -> Vec<u8> {
    let mut out = vec![0x08];
    push_varint(&mut out, u64::from(code));
    out.push(0x12);
    push_varint(&mut out, message.len() as u64);
    out.extend_from_slice(message.as_bytes());
    out
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// `DELETE /{storage}`: only `search_issues` accepts deletes in Snuba; we
/// keep no issue-platform rows, so a valid delete removes nothing.
async fn delete_rows(Path(storage): Path<String>, body: Bytes) -> Response {
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let body = match parsed {
        Ok(body) => body,
        Err(error) => return error_response(&SnubaError::Json(format!("Malformed JSON: {error}"))),
    };
    if storage != "search_issues" {
        return error_response(&SnubaError::InvalidQuery(format!(
            "Deletes not enabled for storage {storage}"
        )));
    }
    let columns = body.pointer("/query/columns").and_then(Value::as_object);
    let Some(columns) = columns else {
        return error_response(&SnubaError::InvalidQuery("missing query.columns".into()));
    };
    for (column, values) in columns {
        if !["project_id", "group_id"].contains(&column.as_str()) {
            return error_response(&SnubaError::InvalidQuery(format!(
                "Invalid column for delete: {column}"
            )));
        }
        if !values.is_array() {
            return error_response(&SnubaError::InvalidQuery(format!(
                "{column} must be a list"
            )));
        }
    }
    if !columns.contains_key("project_id") {
        return error_response(&SnubaError::InvalidQuery(
            "missing required column project_id".into(),
        ));
    }
    axum::Json(json!({"data": {"search_issues_local_v2": []}})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_error_is_a_valid_protobuf() {
        let bytes = encode_rpc_error(404, "nope");
        assert_eq!(
            bytes,
            [0x08, 0x94, 0x03, 0x12, 0x04, b'n', b'o', b'p', b'e']
        );
    }
}
