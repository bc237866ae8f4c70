//! The ingest listener: Sentry SDKs post envelopes here (directly, or
//! mirrored by nginx), and the answers are Relay's.
//!
//! `POST /api/{project_id}/envelope/` and `/store/`, also under the
//! Alibaba RUM prefix `/rum/sentry/{workspace}/{service_id}/`. Auth comes from
//! `X-Sentry-Auth`, `Authorization`, the `sentry_key` query parameter or the
//! envelope header's `dsn`; the key policy is `open` (any key, as Alibaba RUM)
//! or `strict` (configured public keys per project). A request is answered
//! 200 `{"id": …}` only after its records are fsynced in the spool; 400 for
//! malformed input, 401 for bad auth, 413 for size limits, 429 with
//! `Retry-After` when too many requests are in flight, 503 with
//! `Retry-After` when the spool is full. CORS is open for browser SDKs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sentry_sls_event::{
    decode_body_bytes, parse_store_body, Auth, AuthError, DecodeError, Envelope, Limits, ProjectId,
};
use sentry_sls_ingest::{process_with, ProcessError, Receipt, SeenSet, Spool, SpoolError};
use serde_json::json;
use tower_http::timeout::TimeoutLayer;

/// Which public keys are accepted.
#[derive(Debug, Clone, Default)]
pub enum KeyPolicy {
    /// Any key (or none), as Alibaba Cloud RUM does.
    #[default]
    Open,
    /// Only the listed public keys of each project.
    Strict(BTreeMap<u64, BTreeSet<String>>),
}

/// Settings of the ingest listener.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Accepted keys.
    pub key_policy: KeyPolicy,
    /// Largest request body as sent (compressed), bytes.
    pub max_body_bytes: usize,
    /// Envelope and item limits (decompressed).
    pub limits: Limits,
    /// `__source__` of the records (this instance's name).
    pub source: String,
    /// Time limit of one request.
    pub request_timeout: Duration,
    /// Requests processed at once; more are answered 429 with `Retry-After`
    /// (bounds the memory that bodies in flight can take).
    pub max_in_flight: usize,
    /// Event ids remembered for an hour to drop repeats (0: off).
    pub seen_capacity: usize,
    /// Oldest event timestamp kept, in seconds before receipt (older ones
    /// become the time received).
    pub max_past_secs: i64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        let limits = Limits::default();
        IngestConfig {
            key_policy: KeyPolicy::Open,
            max_body_bytes: 40 * 1024 * 1024,
            limits,
            source: "sentry-sls".into(),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 256,
            seen_capacity: 500_000,
            max_past_secs: sentry_sls_ingest::DEFAULT_MAX_PAST_SECONDS,
        }
    }
}

struct IngestState {
    spool: Spool,
    config: IngestConfig,
    metrics: Option<PrometheusHandle>,
    in_flight: AtomicUsize,
    seen: SeenSet,
    /// One permit per core for preparing large requests on the blocking pool (decode,
    /// parse, normalise): more would only make threads take turns.
    cpu: tokio::sync::Semaphore,
}

/// Counts a request as in flight until dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Request bodies (as sent) up to this size are prepared on the async worker that
/// received them; larger ones (big envelopes, attachments) go to the blocking pool.
const INLINE_BODY_BYTES: usize = 32 * 1024;

fn retry_later(status: StatusCode, detail: &str, seconds: &'static str) -> Response {
    let mut response = error(status, detail);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
    response
}

/// The router of the ingest listener.
pub fn router(spool: Spool, config: IngestConfig, metrics: Option<PrometheusHandle>) -> Router {
    let body_limit = config.max_body_bytes;
    let config_seen_capacity = config.seen_capacity;
    let timeout = config.request_timeout;
    let state = Arc::new(IngestState {
        spool,
        config,
        metrics,
        in_flight: AtomicUsize::new(0),
        seen: SeenSet::new(config_seen_capacity, Duration::from_secs(3600)),
        cpu: tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, usize::from),
        ),
    });
    let mut router = Router::new()
        .route(
            "/health",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"status\":\"ok\"}\n",
                )
            }),
        )
        .route("/metrics", get(metrics_text));
    for prefix in ["", "/rum/sentry/{workspace}/{service_id}"] {
        for (kind, trailing) in [
            ("envelope", "/"),
            ("envelope", ""),
            ("store", "/"),
            ("store", ""),
        ] {
            let path = format!("{prefix}/api/{{project_id}}/{kind}{trailing}");
            let handler = if kind == "envelope" {
                post(envelope).options(preflight)
            } else {
                post(store).options(preflight)
            };
            router = router.route(&path, handler);
        }
    }
    router
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not found") })
        .layer(axum::middleware::map_response(cors_headers))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .with_state(state)
}

async fn metrics_text(State(state): State<Arc<IngestState>>) -> Response {
    match &state.metrics {
        Some(handle) => handle.render().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn cors_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-sentry-error, x-sentry-rate-limits, retry-after"),
    );
    response
}

async fn preflight() -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "content-type, content-encoding, authorization, x-sentry-auth, sentry-trace, baggage, x-requested-with",
        ),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("3600"),
    );
    response
}

/// Relay's error body.
fn error(status: StatusCode, detail: impl Into<String>) -> Response {
    let detail = detail.into();
    metrics::counter!("ingest_requests_total", "status" => status.as_u16().to_string())
        .increment(1);
    let mut response = (status, axum::Json(json!({ "detail": detail }))).into_response();
    if let Ok(value) = HeaderValue::from_str(&detail) {
        response.headers_mut().insert("x-sentry-error", value);
    }
    response
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// What went wrong with a request, as Relay would answer it.
enum Rejection {
    BadRequest(String),
    TooLarge(String),
    Unauthorized(String),
}

impl Rejection {
    fn response(self) -> Response {
        match self {
            Rejection::BadRequest(detail) => error(StatusCode::BAD_REQUEST, detail),
            Rejection::TooLarge(detail) => error(StatusCode::PAYLOAD_TOO_LARGE, detail),
            Rejection::Unauthorized(detail) => error(StatusCode::UNAUTHORIZED, detail),
        }
    }
}

fn check_key(
    policy: &KeyPolicy,
    project_id: ProjectId,
    key: Option<&str>,
) -> Result<(), Rejection> {
    match policy {
        KeyPolicy::Open => Ok(()),
        KeyPolicy::Strict(keys) => match (keys.get(&project_id.0), key) {
            (Some(allowed), Some(key)) if allowed.contains(key) => Ok(()),
            (_, None) => Err(Rejection::Unauthorized(
                "missing authorization information".into(),
            )),
            _ => Err(Rejection::Unauthorized(format!(
                "invalid public key for project {}",
                project_id.0
            ))),
        },
    }
}

/// The SDK's address as a proxy in front reports it (nginx sets
/// `X-Forwarded-For`/`X-Real-IP`); it fills `{{auto}}` user IPs.
fn client_ip(headers: &HeaderMap) -> Option<String> {
    let forwarded = header_text(headers, header::HeaderName::from_static("x-forwarded-for"))
        .and_then(|list| list.split(',').next())
        .map(str::trim);
    forwarded
        .or_else(|| header_text(headers, header::HeaderName::from_static("x-real-ip")))
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_string)
}

/// Decoding, parsing, auth and processing: CPU work, run on the blocking pool.
fn prepare(
    config: &IngestConfig,
    seen: &SeenSet,
    project: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Bytes,
    legacy_store: bool,
) -> Result<(ProjectId, sentry_sls_ingest::Processed), Rejection> {
    let project_id = ProjectId::parse(project)
        .map_err(|_| Rejection::BadRequest("invalid project path parameter".into()))?;
    if body.is_empty() {
        return Err(Rejection::BadRequest("empty request body".into()));
    }
    let encoding = header_text(headers, header::CONTENT_ENCODING);
    let limit = if legacy_store {
        config.limits.max_event_size
    } else {
        config.limits.max_envelope_size
    };
    let decoded = decode_body_bytes(encoding, body, limit).map_err(|failure| match failure {
        DecodeError::TooLarge { .. } => {
            Rejection::TooLarge(format!("request body too large: {failure}"))
        }
        other => Rejection::BadRequest(format!("invalid body encoding: {other}")),
    })?;
    let envelope = if legacy_store {
        parse_store_body(decoded, &config.limits).map_err(|failure| {
            if failure.is_size_limit() {
                Rejection::TooLarge(failure.to_string())
            } else {
                Rejection::BadRequest(failure.to_string())
            }
        })?
    } else {
        Envelope::parse(decoded, &config.limits).map_err(|failure| {
            if failure.is_size_limit() {
                Rejection::TooLarge(failure.to_string())
            } else {
                Rejection::BadRequest(format!("invalid envelope: {failure}"))
            }
        })?
    };
    let auth = match Auth::from_request(
        header_text(headers, header::HeaderName::from_static("x-sentry-auth")),
        header_text(headers, header::AUTHORIZATION),
        query,
    ) {
        Ok(auth) => Some(auth.public_key),
        Err(AuthError::Missing) => envelope.dsn_public_key().map(str::to_string),
        Err(AuthError::InvalidVersion) => {
            return Err(Rejection::BadRequest("unsupported protocol version".into()))
        }
        Err(failure) => {
            return Err(Rejection::Unauthorized(format!(
                "bad authentication: {failure}"
            )))
        }
    };
    check_key(&config.key_policy, project_id, auth.as_deref())?;
    let skip = |event_id: &sentry_sls_event::EventId| seen.contains(project_id, event_id);
    let client_ip = client_ip(headers);
    let receipt = Receipt {
        received: SystemTime::now(),
        source: &config.source,
        client_ip: client_ip.as_deref(),
        max_past_secs: config.max_past_secs,
    };
    let processed =
        process_with(project_id, &envelope, &receipt, &skip).map_err(|failure| match failure {
            ProcessError::TooLarge(detail) => Rejection::TooLarge(detail),
            other => Rejection::BadRequest(other.to_string()),
        })?;
    Ok((project_id, processed))
}

/// Records `ingest_request_seconds` when dropped: how long the handler held a request, also
/// when it ends without an answer (the request timeout, a client gone).
struct Timed(std::time::Instant);

impl Drop for Timed {
    fn drop(&mut self) {
        metrics::histogram!("ingest_request_seconds").record(self.0.elapsed().as_secs_f64());
    }
}

async fn accept(
    state: Arc<IngestState>,
    project: String,
    headers: HeaderMap,
    query: Option<String>,
    body: Bytes,
    legacy_store: bool,
) -> Response {
    // The handler's share of a client's latency: decoding, processing, the spool's fsync.
    let _timed = Timed(std::time::Instant::now());
    let guard = InFlight(&state.in_flight);
    if state.in_flight.fetch_add(1, Ordering::AcqRel) >= state.config.max_in_flight {
        drop(guard);
        metrics::counter!("ingest_requests_total", "status" => "429").increment(1);
        return retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests in flight; retry later",
            "1",
        );
    }
    let inline = body.len() <= INLINE_BODY_BYTES;
    let job = {
        let state = Arc::clone(&state);
        move || {
            prepare(
                &state.config,
                &state.seen,
                &project,
                &headers,
                query.as_deref(),
                body,
                legacy_store,
            )
        }
    };
    let prepared = if inline {
        // A typical SDK request takes well under a millisecond to prepare: doing it here
        // saves two thread hand-offs per request, and the runtime has one worker per core.
        Ok(job())
    } else {
        let Ok(cpu) = state.cpu.acquire().await else {
            return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
        };
        let prepared = tokio::task::spawn_blocking(job).await;
        drop(cpu);
        prepared
    };
    let (project_id, processed) = match prepared {
        Ok(Ok(prepared)) => prepared,
        Ok(Err(rejection)) => return rejection.response(),
        Err(join) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal error: {join}"),
            )
        }
    };
    for (item_type, count) in &processed.items {
        metrics::counter!("ingest_items_total", "type" => item_type.clone()).increment(*count);
    }
    if processed.duplicates > 0 {
        metrics::counter!("ingest_duplicate_events_total").increment(processed.duplicates);
    }
    for batch in &processed.batches {
        match state.spool.append(batch).await {
            Ok(()) => {}
            Err(SpoolError::Full { .. }) => {
                metrics::counter!("ingest_requests_total", "status" => "503").increment(1);
                return retry_later(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the event queue is full; retry later",
                    "60",
                );
            }
            Err(failure) => return error(StatusCode::SERVICE_UNAVAILABLE, failure.to_string()),
        }
    }
    for event_id in &processed.stored {
        state.seen.insert(project_id, *event_id);
    }
    metrics::counter!("ingest_requests_total", "status" => "200").increment(1);
    let body = match processed.event_id {
        Some(event_id) => json!({ "id": event_id.to_string() }),
        None => json!({}),
    };
    axum::Json(body).into_response()
}

async fn envelope(
    State(state): State<Arc<IngestState>>,
    Path(params): Path<BTreeMap<String, String>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let project = params.get("project_id").cloned().unwrap_or_default();
    accept(state, project, headers, query, body, false).await
}

async fn store(
    State(state): State<Arc<IngestState>>,
    Path(params): Path<BTreeMap<String, String>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let project = params.get("project_id").cloned().unwrap_or_default();
    accept(state, project, headers, query, body, true).await
}
