//! The SLS REST API over the embedded store: what `sentry-sls sls-local`
//! serves, so the official SLS SDKs (and our own client) can write and read
//! the local store exactly as they would Alibaba Cloud.
//!
//! Faithful where clients can tell: the project comes from the first label
//! of `Host`; absolute-form request targets work (clients behind
//! `HTTP_PROXY`); signatures are verified (v1) against the configured keys;
//! bodies are decompressed with hard limits; every error is SLS's
//! `{"errorCode","errorMessage"}` with `x-log-requestid`; response header
//! names are lowercase. A fault mode injects 500s, 403 `WriteQuotaExceed`,
//! `Incomplete` answers and slow answers, always *before* a write is applied,
//! so a client that retries correctly neither loses nor duplicates data.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use sentry_sls_local::{LocalProject, LocalStore};
use sentry_sls_protocol::model::{
    GetLogsV2Meta, GetLogsV2Request, GetLogsV2Response, HistogramEntry, LogRow, ShardEntry,
};
use sentry_sls_protocol::{header, sign, CompressType, ErrorCode, ProtocolError};
use sentry_sls_store::{
    IndexConfig, LogBatch, LogRecord, LogStore, LogstoreConfig, Progress, QueryRequest,
    QueryResult, StoreError,
};
use serde_json::{json, Value};

/// Kinds of injected faults and their probabilities (0..=1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// 500 `InternalServerError` (reads and writes).
    pub internal_error: f64,
    /// 403 `WriteQuotaExceed` (writes).
    pub write_quota: f64,
    /// `Incomplete` progress with no rows (queries).
    pub incomplete: f64,
    /// A delay of 50–800 ms before answering.
    pub slow: f64,
    /// A write that is applied and then answered with a 500, as when a
    /// PutLogs times out after SLS applied it (the client re-sends: a duplicate).
    pub lost_answer: f64,
    /// Seed of the fault sequence (reproducible runs).
    pub seed: u64,
}

impl FaultConfig {
    /// Parses `500=0.2,quota=0.1,incomplete=0.3,slow=0.1,seed=7`.
    pub fn parse(text: &str) -> Result<FaultConfig, String> {
        let mut config = FaultConfig {
            seed: 0x5eed,
            ..FaultConfig::default()
        };
        for part in text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("fault `{part}` is not name=probability"))?;
            if name == "seed" {
                config.seed = value.parse().map_err(|_| format!("bad seed `{value}`"))?;
                continue;
            }
            let probability: f64 = value
                .parse()
                .map_err(|_| format!("bad probability `{value}`"))?;
            if !(0.0..=1.0).contains(&probability) {
                return Err(format!("probability of {name} must be within 0..1"));
            }
            match name {
                "500" | "internal" => config.internal_error = probability,
                "quota" | "403" => config.write_quota = probability,
                "incomplete" => config.incomplete = probability,
                "slow" => config.slow = probability,
                "lost" => config.lost_answer = probability,
                other => {
                    return Err(format!(
                        "unknown fault `{other}` (500, quota, incomplete, slow, lost, seed)"
                    ))
                }
            }
        }
        Ok(config)
    }
}

/// Settings of the SLS API listener.
#[derive(Clone)]
pub struct SlsApiConfig {
    /// Accepted access keys (id → secret). Empty: no signature checks.
    pub credentials: BTreeMap<String, String>,
    /// Largest request body as sent (compressed), bytes.
    pub max_body_bytes: usize,
    /// Largest decompressed PutLogs body, bytes (SLS: 10 MB).
    pub max_raw_bytes: usize,
    /// Fault injection, if on.
    pub faults: Option<FaultConfig>,
    /// Time limit of one query.
    pub query_timeout: Duration,
}

impl std::fmt::Debug for SlsApiConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SlsApiConfig")
            .field(
                "access_key_ids",
                &self.credentials.keys().collect::<Vec<_>>(),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_raw_bytes", &self.max_raw_bytes)
            .field("faults", &self.faults)
            .finish()
    }
}

impl Default for SlsApiConfig {
    fn default() -> Self {
        SlsApiConfig {
            credentials: BTreeMap::new(),
            max_body_bytes: 16 * 1024 * 1024,
            max_raw_bytes: sentry_sls_protocol::model::MAX_RAW_BODY_BYTES,
            faults: None,
            query_timeout: Duration::from_secs(55),
        }
    }
}

struct ApiState {
    store: Arc<LocalStore>,
    config: SlsApiConfig,
    random: AtomicU64,
    requests: AtomicU64,
}

impl ApiState {
    /// A uniform number in [0, 1) from a shared xorshift sequence.
    fn random(&self) -> f64 {
        let mut current = self.random.load(Ordering::Relaxed);
        loop {
            let mut next = current;
            next ^= next << 13;
            next ^= next >> 7;
            next ^= next << 17;
            match self.random.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return (next >> 11) as f64 / (1u64 << 53) as f64,
                Err(actual) => current = actual,
            }
        }
    }

    fn request_id(&self) -> String {
        let sequence = self.requests.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        format!("{:016X}{:08X}", nanos, sequence as u32)
    }
}

/// The router of the SLS REST API over `store`.
pub fn router(store: Arc<LocalStore>, config: SlsApiConfig) -> Router {
    let seed = config
        .faults
        .as_ref()
        .map(|faults| faults.seed)
        .unwrap_or(1)
        .max(1);
    let state = Arc::new(ApiState {
        store,
        config,
        random: AtomicU64::new(seed),
        requests: AtomicU64::new(0),
    });
    Router::new().fallback(handle).with_state(state)
}

/// An SLS error: code, message.
struct ApiError(ProtocolError);

impl From<ProtocolError> for ApiError {
    fn from(error: ProtocolError) -> Self {
        ApiError(error)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError(ProtocolError::new(
            ErrorCode::parse(error.code.as_str()),
            error.message,
        ))
    }
}

fn error(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError(ProtocolError::new(code, message))
}

type ApiResult = Result<Response, ApiError>;

fn json_response(value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (
        [(axum::http::header::CONTENT_TYPE, header::CONTENT_TYPE_JSON)],
        body,
    )
        .into_response()
}

async fn handle(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    let request_id = state.request_id();
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let result = dispatch(&state, request).await;
    let mut response = match result {
        Ok(response) => response,
        Err(ApiError(error)) => {
            let status = StatusCode::from_u16(error.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            tracing::debug!(%method, %path, code = error.code.as_str(), message = %error.message, "sls api error");
            let body = json!({"errorCode": error.code.as_str(), "errorMessage": error.message});
            (status, json_response(&body)).into_response()
        }
    };
    let code = response.status().as_u16().to_string();
    metrics::counter!("sls_local_requests_total", "method" => method.to_string(), "status" => code)
        .increment(1);
    metrics::histogram!("sls_local_request_seconds").record(started.elapsed().as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(header::REQUEST_ID, value);
    }
    response
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// The project: the first DNS label of `Host`, port stripped.
fn project_name(headers: &HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|authority| authority.to_string()))?;
    let host = host
        .rsplit_once(':')
        .map(|(name, _)| name.to_string())
        .unwrap_or(host);
    let (label, rest) = host.split_once('.')?;
    (!label.is_empty() && !rest.is_empty() && label.parse::<u8>().is_err())
        .then(|| label.to_string())
}

fn verify_signature(
    state: &ApiState,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Result<(), ApiError> {
    let content_md5 = header_text(headers, header::CONTENT_MD5);
    if !content_md5.is_empty() && !sign::content_md5_matches(content_md5, body) {
        return Err(error(
            ErrorCode::PostBodyInvalid,
            "Content-MD5 does not match the request body",
        ));
    }
    if state.config.credentials.is_empty() {
        return Ok(());
    }
    let authorization = header_text(headers, header::AUTHORIZATION);
    if authorization.is_empty() {
        return Err(error(
            ErrorCode::Unauthorized,
            "missing Authorization header",
        ));
    }
    let (access_key_id, signature) = sign::parse_authorization(authorization)?;
    let Some(secret) = state.config.credentials.get(access_key_id) else {
        return Err(error(ErrorCode::Unauthorized, "AccessKeyId not found"));
    };
    let date = header_text(headers, header::DATE);
    if date.is_empty() && header_text(headers, header::LOG_DATE).is_empty() {
        return Err(error(ErrorCode::MissingDate, "missing Date header"));
    }
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|value| (name.as_str(), value)))
        .collect();
    let input = sign::SignatureInput {
        method: method.as_str(),
        content_md5,
        content_type: header_text(headers, header::CONTENT_TYPE),
        date,
        headers: &pairs,
        path,
        query,
    };
    if !sign::verify(secret, &input, signature) {
        return Err(error(
            ErrorCode::SignatureNotMatch,
            "signature does not match: check the AccessKeySecret",
        ));
    }
    if let Ok(sent) = sign::parse_date(sign::signing_date(date, &pairs)) {
        sign::check_clock_skew(sent, SystemTime::now())?;
    }
    Ok(())
}

fn query_param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

async fn dispatch(state: &Arc<ApiState>, request: Request) -> ApiResult {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, state.config.max_body_bytes)
        .await
        .map_err(|_| {
            error(
                ErrorCode::PostBodyTooLarge,
                format!("body larger than {} bytes", state.config.max_body_bytes),
            )
        })?;
    let path = parts.uri.path().to_string();
    let query = sign::parse_query(parts.uri.query().unwrap_or(""));
    verify_signature(state, &parts.method, &parts.headers, &path, &query, &body)?;
    let segments: Vec<&str> = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let project_name = project_name(&parts.headers, &parts.uri).ok_or_else(|| {
        error(
            ErrorCode::MissingHost,
            "the Host header must be {project}.{endpoint}",
        )
    })?;
    if segments.is_empty() && parts.method == Method::POST {
        return create_project(state, &project_name, &body);
    }
    let project = state.store.project(&project_name)?;
    let is_write = parts.method == Method::POST
        && segments.first() == Some(&"logstores")
        && (segments.len() == 2 || segments.get(2) == Some(&"shards"));
    let is_query = (parts.method == Method::POST && segments.get(2) == Some(&"logs"))
        || (parts.method == Method::GET
            && segments.len() == 2
            && query_param(&query, "type").is_some());
    inject_faults(state, is_write, is_query).await?;
    let method = parts.method.clone();
    let headers = &parts.headers;
    match (method, segments.as_slice()) {
        (Method::GET, []) => Ok(json_response(
            &json!({"projectName": project.name(), "status": "Normal", "description": ""}),
        )),
        (Method::POST, ["logstores"]) => {
            let config: LogstoreConfig = parse_json(&body)?;
            project.create_logstore(config).await?;
            Ok(StatusCode::OK.into_response())
        }
        (Method::GET, ["logstores"]) => {
            let names = project.logstore_names();
            Ok(json_response(
                &json!({"count": names.len(), "total": names.len(), "logstores": names}),
            ))
        }
        (Method::GET, ["logstores", logstore]) => match query_param(&query, "type") {
            Some("log") => get_logs_v1(&project, logstore, &query, state).await,
            Some("histogram") => get_histograms(&project, logstore, &query, state).await,
            _ => Ok(json_response(&project.get_logstore(logstore).await?)),
        },
        (Method::PUT, ["logstores", logstore]) => {
            let mut config: LogstoreConfig = parse_json(&body)?;
            config.name = logstore.to_string();
            project.update_logstore(config).await?;
            Ok(StatusCode::OK.into_response())
        }
        (Method::DELETE, ["logstores", logstore]) => {
            let project = Arc::clone(&project);
            let name = logstore.to_string();
            tokio::task::spawn_blocking(move || project.delete_logstore(&name))
                .await
                .map_err(|join| error(ErrorCode::InternalServerError, join.to_string()))??;
            Ok(StatusCode::OK.into_response())
        }
        (Method::POST, ["logstores", logstore])
        | (Method::POST, ["logstores", logstore, "shards", "lb"]) => {
            put_logs(state, &project, logstore, headers, &body).await
        }
        (Method::POST, ["logstores", logstore, "shards", "route"]) => {
            let key = query_param(&query, "key").unwrap_or("");
            sentry_sls_protocol::model::parse_hash_key(key)?;
            put_logs(state, &project, logstore, headers, &body).await
        }
        (Method::POST, ["logstores", logstore, "logs"]) => {
            get_logs_v2(&project, logstore, headers, &body, state).await
        }
        (Method::GET, ["logstores", logstore, "shards"]) => {
            let shards: Vec<ShardEntry> = project
                .list_shards(logstore)
                .await?
                .into_iter()
                .map(|shard| ShardEntry {
                    shard_id: shard.id,
                    status: shard.status,
                    inclusive_begin_key: shard.begin_key,
                    exclusive_end_key: shard.end_key,
                    create_time: shard.create_time,
                })
                .collect();
            Ok(json_response(&shards))
        }
        (Method::POST, ["logstores", logstore, "index"]) => {
            let index: IndexConfig = parse_json(&body)?;
            project.create_index(logstore, index).await?;
            Ok(StatusCode::OK.into_response())
        }
        (Method::PUT, ["logstores", logstore, "index"]) => {
            let index: IndexConfig = parse_json(&body)?;
            project.update_index(logstore, index).await?;
            Ok(StatusCode::OK.into_response())
        }
        (Method::GET, ["logstores", logstore, "index"]) => {
            let index = project.get_index(logstore).await?;
            let mut value = serde_json::to_value(&index)
                .map_err(|e| error(ErrorCode::InternalServerError, e.to_string()))?;
            if let Value::Object(map) = &mut value {
                map.entry("index_mode").or_insert(json!("v2"));
            }
            Ok(json_response(&value))
        }
        (method, _) => Err(error(
            ErrorCode::ParameterInvalid,
            format!("unsupported request: {method} {path}"),
        )),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            ErrorCode::PostBodyInvalid,
            format!("invalid JSON body: {e}"),
        )
    })
}

fn create_project(state: &ApiState, host_project: &str, body: &[u8]) -> ApiResult {
    let requested: Value = if body.is_empty() {
        json!({})
    } else {
        parse_json(body)?
    };
    let name = requested
        .get("projectName")
        .and_then(Value::as_str)
        .unwrap_or(host_project);
    state.store.create_project(name)?;
    Ok(StatusCode::OK.into_response())
}

async fn inject_faults(state: &ApiState, is_write: bool, is_query: bool) -> Result<(), ApiError> {
    let Some(faults) = &state.config.faults else {
        return Ok(());
    };
    if state.random() < faults.slow {
        let millis = 50 + (state.random() * 750.0) as u64;
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
    if (is_write || is_query) && state.random() < faults.internal_error {
        return Err(error(
            ErrorCode::InternalServerError,
            "injected fault: internal server error",
        ));
    }
    if is_write && state.random() < faults.write_quota {
        return Err(error(
            ErrorCode::WriteQuotaExceed,
            "injected fault: Write QPS Exceed",
        ));
    }
    Ok(())
}

fn incomplete_fault(state: &ApiState) -> bool {
    state
        .config
        .faults
        .as_ref()
        .is_some_and(|faults| state.random() < faults.incomplete)
}

async fn put_logs(
    state: &ApiState,
    project: &Arc<LocalProject>,
    logstore: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult {
    project.logstore(logstore)?;
    let compression = CompressType::from_header(
        headers
            .get(header::COMPRESS_TYPE)
            .and_then(|value| value.to_str().ok()),
    )?;
    let raw_size = match headers
        .get(header::BODY_RAW_SIZE)
        .and_then(|value| value.to_str().ok())
    {
        Some(text) => text.trim().parse::<usize>().map_err(|_| {
            error(
                ErrorCode::InvalidBodyRawSize,
                format!("invalid x-log-bodyrawsize `{text}`"),
            )
        })?,
        None if compression == CompressType::None => body.len(),
        None => {
            return Err(error(
                ErrorCode::MissingBodyRawSize,
                "x-log-bodyrawsize is required for compressed bodies",
            ))
        }
    };
    let raw =
        sentry_sls_protocol::decompress(compression, body, raw_size, state.config.max_raw_bytes)?;
    let groups = if header_text(headers, header::MODE) == header::MODE_BATCH_GROUP {
        sentry_sls_protocol::decode_log_group_list(&raw)?.log_groups
    } else {
        vec![sentry_sls_protocol::decode_log_group(&raw)?]
    };
    for group in &groups {
        sentry_sls_protocol::validate_log_group(group)?;
    }
    for group in groups {
        let batch = LogBatch {
            topic: group.topic.unwrap_or_default(),
            source: group.source.unwrap_or_default(),
            tags: group
                .log_tags
                .into_iter()
                .map(|tag| (tag.key, tag.value))
                .collect(),
            logs: group
                .logs
                .into_iter()
                .map(|log| LogRecord {
                    time: log.time,
                    time_ns: log.time_ns.unwrap_or(0),
                    contents: log
                        .contents
                        .into_iter()
                        .map(|content| (content.key, content.value))
                        .collect(),
                })
                .collect(),
        };
        metrics::counter!("sls_local_logs_written_total").increment(batch.logs.len() as u64);
        project.put_logs(logstore, batch).await?;
    }
    if state
        .config
        .faults
        .as_ref()
        .is_some_and(|faults| state.random() < faults.lost_answer)
    {
        metrics::counter!("sls_local_lost_answers_total").increment(1);
        return Err(error(
            ErrorCode::InternalServerError,
            "injected fault: the write was applied but its answer is lost",
        ));
    }
    Ok(StatusCode::OK.into_response())
}

async fn run_query(
    state: &ApiState,
    project: &LocalProject,
    logstore: &str,
    request: QueryRequest,
) -> Result<QueryResult, ApiError> {
    if incomplete_fault(state) {
        project.logstore(logstore)?;
        return Ok(QueryResult {
            progress: Progress::Incomplete,
            keys: Vec::new(),
            rows: Vec::new(),
            processed_rows: 0,
            has_sql: request.query.contains('|'),
        });
    }
    match tokio::time::timeout(
        state.config.query_timeout,
        project.get_logs(logstore, request),
    )
    .await
    {
        Ok(result) => Ok(result?),
        Err(_) => Err(error(ErrorCode::ServerBusy, "query timed out")),
    }
}

/// Adds `topic` as a `__topic__` condition of the search part.
fn with_topic(query: &str, topic: Option<&str>) -> String {
    let Some(topic) = topic.filter(|topic| !topic.is_empty()) else {
        return query.to_string();
    };
    let condition = format!("__topic__:{}", sentry_sls_slsql::quote_value(topic));
    // Split where SLS splits (a `|` inside a quoted value is not the separator);
    // an unparsable query is passed on unchanged for the store to reject.
    let Ok(split) = sentry_sls_slsql::split_query(query) else {
        return query.to_string();
    };
    let search = format!("({}) and {condition}", split.search);
    match split.sql {
        None => search,
        Some(sql) => {
            let settings: String = split
                .settings
                .iter()
                .map(|(name, value)| format!("set session {name}={value}; "))
                .collect();
            format!("{search} | {settings}{sql}")
        }
    }
}

fn progress_text(progress: Progress) -> &'static str {
    match progress {
        Progress::Complete => header::PROGRESS_COMPLETE,
        Progress::Incomplete => header::PROGRESS_INCOMPLETE,
    }
}

async fn get_logs_v2(
    project: &Arc<LocalProject>,
    logstore: &str,
    headers: &HeaderMap,
    body: &Bytes,
    state: &ApiState,
) -> ApiResult {
    let request: GetLogsV2Request = parse_json(body)?;
    let started = Instant::now();
    let query_text = with_topic(
        request.query.as_deref().unwrap_or("*"),
        request.topic.as_deref(),
    );
    let result = run_query(
        state,
        project,
        logstore,
        QueryRequest {
            from: request.from,
            to: request.to,
            query: query_text.clone(),
            line: request.line.unwrap_or(100),
            offset: request.offset.unwrap_or(0),
            reverse: request.reverse.unwrap_or(false),
        },
    )
    .await?;
    let (where_query, agg_query) = match query_text.split_once('|') {
        Some((search, sql)) => (search.trim().to_string(), sql.trim().to_string()),
        None => (query_text.trim().to_string(), String::new()),
    };
    let meta = GetLogsV2Meta {
        progress: progress_text(result.progress).to_string(),
        count: result.rows.len() as u64,
        processed_rows: Some(result.processed_rows as i64),
        elapsed_millisecond: Some(started.elapsed().as_millis() as i64),
        has_sql: Some(result.has_sql),
        where_query: Some(where_query),
        agg_query: Some(agg_query),
        keys: Some(result.keys.clone()),
        cpu_sec: Some(started.elapsed().as_secs_f64()),
        cpu_cores: Some(1.0),
        ..GetLogsV2Meta::default()
    };
    let response = GetLogsV2Response {
        meta,
        data: result.rows.into_iter().map(LogRow).collect(),
    };
    let json = serde_json::to_vec(&response)
        .map_err(|e| error(ErrorCode::InternalServerError, e.to_string()))?;
    let compression =
        CompressType::from_accept_encoding(header_text(headers, header::ACCEPT_ENCODING));
    if compression == CompressType::None {
        return Ok((
            [(axum::http::header::CONTENT_TYPE, header::CONTENT_TYPE_JSON)],
            json,
        )
            .into_response());
    }
    let raw_size = json.len().to_string();
    let compressed = sentry_sls_protocol::compress(compression, &json);
    let mut response = Response::new(Body::from(compressed));
    let response_headers = response.headers_mut();
    response_headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(header::CONTENT_TYPE_JSON),
    );
    if let Some(value) = compression.header_value() {
        response_headers.insert(header::COMPRESS_TYPE, HeaderValue::from_static(value));
    }
    if let Ok(value) = HeaderValue::from_str(&raw_size) {
        response_headers.insert(header::BODY_RAW_SIZE, value);
    }
    Ok(response)
}

fn integer_param(
    query: &[(String, String)],
    name: &str,
    code: ErrorCode,
) -> Result<Option<i64>, ApiError> {
    match query_param(query, name) {
        None | Some("") => Ok(None),
        Some(text) => text
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| error(code, format!("invalid {name}: {text}"))),
    }
}

fn time_range(query: &[(String, String)]) -> Result<(i64, i64), ApiError> {
    let from = integer_param(query, "from", ErrorCode::InvalidTimeRange)?;
    let to = integer_param(query, "to", ErrorCode::InvalidTimeRange)?;
    match (from, to) {
        // Log times are unsigned 32-bit seconds; wider bounds only invite overflow.
        (Some(from), Some(to))
            if (0..=i64::from(u32::MAX) + 1).contains(&from)
                && (0..=i64::from(u32::MAX) + 1).contains(&to) =>
        {
            Ok((from, to))
        }
        (Some(_), Some(_)) => Err(error(
            ErrorCode::InvalidTimeRange,
            "from and to must be unix seconds",
        )),
        _ => Err(error(
            ErrorCode::InvalidTimeRange,
            "from and to are required",
        )),
    }
}

fn set_header(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

async fn get_logs_v1(
    project: &Arc<LocalProject>,
    logstore: &str,
    query: &[(String, String)],
    state: &ApiState,
) -> ApiResult {
    let (from, to) = time_range(query)?;
    let line = integer_param(query, "line", ErrorCode::InvalidLine)?.unwrap_or(100);
    let offset = integer_param(query, "offset", ErrorCode::InvalidOffset)?.unwrap_or(0);
    if !(0..=100).contains(&line) {
        return Err(error(
            ErrorCode::InvalidLine,
            "line must be within [0, 100]",
        ));
    }
    if offset < 0 {
        return Err(error(
            ErrorCode::InvalidOffset,
            "offset must not be negative",
        ));
    }
    let reverse = match query_param(query, "reverse") {
        None | Some("") => false,
        Some(text) => sentry_sls_protocol::model::parse_bool_param(text).ok_or_else(|| {
            error(
                ErrorCode::InvalidReverse,
                format!("invalid reverse: {text}"),
            )
        })?,
    };
    let started = Instant::now();
    let query_text = with_topic(
        query_param(query, "query").unwrap_or("*"),
        query_param(query, "topic"),
    );
    let result = run_query(
        state,
        project,
        logstore,
        QueryRequest {
            from,
            to,
            query: query_text,
            line: line as u32,
            offset: offset as u32,
            reverse,
        },
    )
    .await?;
    let rows: Vec<LogRow> = result.rows.iter().cloned().map(LogRow).collect();
    let mut response = json_response(&rows);
    set_header(
        &mut response,
        header::PROGRESS,
        progress_text(result.progress),
    );
    set_header(&mut response, header::COUNT, &rows.len().to_string());
    set_header(
        &mut response,
        header::PROCESSED_ROWS,
        &result.processed_rows.to_string(),
    );
    set_header(
        &mut response,
        header::ELAPSED_MILLISECOND,
        &started.elapsed().as_millis().to_string(),
    );
    set_header(
        &mut response,
        header::HAS_SQL,
        if result.has_sql { "true" } else { "false" },
    );
    let query_info = json!({"keys": result.keys, "mode": 0, "isAccurate": 1});
    set_header(&mut response, header::QUERY_INFO, &query_info.to_string());
    Ok(response)
}

async fn get_histograms(
    project: &Arc<LocalProject>,
    logstore: &str,
    query: &[(String, String)],
    state: &ApiState,
) -> ApiResult {
    let (from, to) = time_range(query)?;
    if from >= to {
        return Err(error(
            ErrorCode::InvalidTimeRange,
            "from must be less than to",
        ));
    }
    let search = with_topic(
        query_param(query, "query").unwrap_or("*"),
        query_param(query, "topic"),
    );
    if search.contains('|') {
        return Err(error(
            ErrorCode::InvalidQueryString,
            "histograms take a search statement without SQL",
        ));
    }
    let span = to - from;
    let interval = ((span + 59) / 60).max(1);
    let sql = format!(
        "{} | select (__time__ - {from}) / {interval} as bucket, count(*) as c group by bucket limit 1000",
        if search.trim().is_empty() { "*" } else { search.trim() }
    );
    let result = run_query(
        state,
        project,
        logstore,
        QueryRequest {
            from,
            to,
            query: sql,
            ..QueryRequest::default()
        },
    )
    .await?;
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    for row in &result.rows {
        let field = |name: &str| {
            row.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        if let (Some(bucket), Some(count)) = (
            field("bucket").and_then(|v| v.parse().ok()),
            field("c").and_then(|v| v.parse().ok()),
        ) {
            counts.insert(bucket, count);
        }
    }
    let progress = progress_text(result.progress).to_string();
    let mut entries = Vec::new();
    let mut bucket_start = from;
    let mut index = 0;
    while bucket_start < to {
        let bucket_end = (bucket_start + interval).min(to);
        if bucket_end <= bucket_start {
            break;
        }
        entries.push(HistogramEntry {
            from: bucket_start,
            to: bucket_end,
            count: counts.get(&index).copied().unwrap_or(0),
            progress: progress.clone(),
        });
        bucket_start = bucket_end;
        index += 1;
    }
    let total: u64 = entries.iter().map(|entry| entry.count).sum();
    let mut response = json_response(&entries);
    set_header(&mut response, header::PROGRESS, &progress);
    set_header(&mut response, header::COUNT, &total.to_string());
    Ok(response)
}
