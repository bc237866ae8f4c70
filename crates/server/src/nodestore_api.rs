//! The nodestore API (`/v1/nodes/…` on the Snuba listener): Sentry Web's
//! `SLSNodeStorage` reads event bodies here, by node id
//! (`md5("{project_id}:{event_id}")`), and writes the nodes it keeps itself.
//!
//! - `GET /v1/nodes/{id}`: the node's bytes, unchanged (Sentry's node
//!   encoding: compact sorted JSON, then optional subkey lines), or 404;
//! - `POST /v1/nodes/get_multi` `{"ids": [...]}`: `{"nodes": {id: text | null}}`,
//!   every id in one call (at most [`NodestoreConfig::max_ids`]);
//! - `PUT /v1/nodes/{id}`: stores the request body as the node (a record of
//!   topic [`NODE_TOPIC`] with `node_id` and the body keys of docs/schema.md §2);
//! - `DELETE /v1/nodes/{id}`, `POST /v1/nodes/delete_multi` `{"ids": [...]}`:
//!   a log store cannot delete, so a delete writes a **tombstone** record
//!   (topic [`NODE_TOPIC`], `node_id`, `deleted=1`); reads take the newest
//!   record of an id, and a newest tombstone means "not found". A later put
//!   (or a re-ingested event) is newer than the tombstone and is found again.
//!
//! Reads are search-only queries `node_id: a or node_id: b …` (at most
//! [`TERMS_PER_STATEMENT`] terms per statement, as SLS allows) over
//! `[now − ttl, now + 15 min)`. Hits are re-checked for the exact id (the
//! search matches tokens, case-insensitively). Of several hits for one id
//! (duplicate events, puts, tombstones) the newest wins: the greatest
//! `node_written_ns` (written by this API, unique and increasing per
//! process), else `received` (seconds, written by ingest) × 10⁹. Bodies are
//! decoded and checked (`body_len`, `body_crc32` or `body_md5`) by
//! [`sentry_sls_ingest::body::decode`]. The node's TTL is the logstore's
//! retention: a `ttl` Sentry passes is not applied per node.
//!
//! Errors are JSON `{"error": {"type", "message"}}`: 400 `invalid_request`,
//! 404 `not_found`, 413 `too_large`, 503 `store_unavailable` (the store
//! failed or is busy: retry), 504 `timeout`, 500 `corrupt_node`/`internal`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sentry_sls_ingest::body::{self, BodyError};
use sentry_sls_slsql::SearchExpr;
use sentry_sls_store::{LogBatch, LogRecord, LogStore, QueryRequest, StoreError, StoreErrorCode};
use serde_json::{json, Value};
use tower_http::timeout::TimeoutLayer;

/// `__topic__` of the records this API writes (nodes and tombstones).
pub const NODE_TOPIC: &str = "sentry_node";
/// Most `node_id` terms in one search statement (SLS's limit is 30 conditions).
pub const TERMS_PER_STATEMENT: usize = 30;
/// Rows per page of a search-only query (SLS's `line` cap).
const PAGE_LINES: u32 = 100;
/// Most pages read for one statement (bounds a pathological id with
/// thousands of records).
const MAX_PAGES: u32 = 50;
/// Statements of one get_multi run at once.
const PARALLEL_STATEMENTS: usize = 4;
/// How far past `now` a read looks (SLS accepts log times up to now + 15 min).
const FUTURE_SECONDS: i64 = 15 * 60;

/// Settings of the nodestore API.
#[derive(Debug, Clone)]
pub struct NodestoreConfig {
    /// Logstore holding events and nodes.
    pub logstore: String,
    /// Lookup window in days (the logstore's retention, `SLS_TTL`).
    pub ttl_days: u32,
    /// Most ids in one get_multi or delete_multi call.
    pub max_ids: usize,
    /// Time limit of one store call (query page or write).
    pub store_timeout: Duration,
    /// Time limit of one HTTP request.
    pub request_timeout: Duration,
    /// Largest request body (a node put), in bytes.
    pub max_body_bytes: usize,
    /// `__source__` of written records.
    pub source: String,
}

impl Default for NodestoreConfig {
    fn default() -> Self {
        NodestoreConfig {
            logstore: "logstore-rum".to_string(),
            ttl_days: 30,
            max_ids: 1000,
            store_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 8 * 1024 * 1024,
            source: "sentry-sls-nodestore".to_string(),
        }
    }
}

/// The store, settings and write clock the handlers share (also used by
/// the groups API to read event bodies).
pub(crate) struct NodeState {
    pub(crate) store: Arc<dyn LogStore>,
    pub(crate) config: NodestoreConfig,
    /// Last `node_written_ns` handed out (strictly increasing).
    clock: AtomicU64,
}

/// The nodestore routes, to merge into the Snuba listener's router.
pub fn router(store: Arc<dyn LogStore>, config: NodestoreConfig) -> Router {
    let max_body = config.max_body_bytes;
    let timeout = config.request_timeout;
    let state = NodeState::new(store, config);
    Router::new()
        .route("/v1/nodes/get_multi", post(get_multi))
        .route("/v1/nodes/delete_multi", post(delete_multi))
        .route(
            "/v1/nodes/{id}",
            get(get_one).put(put_one).delete(delete_one),
        )
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// A failed request: status, `error.type` and message.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request",
            message: message.into(),
        }
    }

    pub(crate) fn store(error: StoreError) -> Self {
        let (status, kind) = match error.code {
            StoreErrorCode::ParameterInvalid | StoreErrorCode::InvalidTimeRange => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
            _ => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
        };
        ApiError {
            status,
            kind,
            message: error.to_string(),
        }
    }

    pub(crate) fn timeout(what: &str) -> Self {
        ApiError {
            status: StatusCode::GATEWAY_TIMEOUT,
            kind: "timeout",
            message: format!("the log store did not answer in time ({what})"),
        }
    }

    fn corrupt(id: &str, error: BodyError) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "corrupt_node",
            message: format!("node {id}: {error}"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, kind = self.kind, message = %self.message, "nodestore request failed");
        }
        (
            self.status,
            axum::Json(json!({"error": {"type": self.kind, "message": self.message}})),
        )
            .into_response()
    }
}

/// Whether `id` is a node id this API accepts: 1–256 printable ASCII
/// characters without spaces. Sentry's are md5 hex; others (tests, other
/// node users) are plain words.
pub fn valid_node_id(id: &str) -> bool {
    (1..=256).contains(&id.len()) && id.bytes().all(|byte| byte.is_ascii_graphic())
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if valid_node_id(id) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "a node id is 1-256 printable ASCII characters without spaces",
        ))
    }
}

/// `{"ids": [...]}`: unique, valid ids, at most `max_ids`.
fn parse_ids(body: &[u8], max_ids: usize) -> Result<Vec<String>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::invalid(format!("body is not JSON: {error}")))?;
    let Some(items) = value.get("ids").and_then(Value::as_array) else {
        return Err(ApiError::invalid("body must be {\"ids\": [...]}"));
    };
    if items.len() > max_ids {
        return Err(ApiError::invalid(format!(
            "at most {max_ids} ids per call, got {}",
            items.len()
        )));
    }
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Some(id) = item.as_str() else {
            return Err(ApiError::invalid("every id must be a string"));
        };
        check_id(id)?;
        if !ids.iter().any(|seen| seen == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

impl NodeState {
    pub(crate) fn new(store: Arc<dyn LogStore>, config: NodestoreConfig) -> Arc<NodeState> {
        Arc::new(NodeState {
            store,
            config,
            clock: AtomicU64::new(0),
        })
    }

    /// A `node_written_ns` value: wall clock, strictly increasing.
    fn next_version(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(0);
        let mut last = self.clock.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self
                .clock
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(current) => last = current,
            }
        }
    }

    /// One record of [`NODE_TOPIC`] for `id`: the node's body keys, or a
    /// tombstone when `data` is `None`.
    fn record(&self, id: &str, data: Option<&[u8]>) -> Result<LogRecord, ApiError> {
        let version = self.next_version();
        let seconds = version / 1_000_000_000;
        let mut contents = vec![
            ("node_id".to_string(), id.to_string()),
            ("received".to_string(), seconds.to_string()),
            ("node_written_ns".to_string(), version.to_string()),
        ];
        match data {
            Some(data) => contents.extend(body::encode(data).map_err(|error| ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                kind: "too_large",
                message: error.to_string(),
            })?),
            None => contents.push(("deleted".to_string(), "1".to_string())),
        }
        Ok(LogRecord {
            time: seconds as u32,
            time_ns: (version % 1_000_000_000) as u32,
            contents,
        })
    }

    async fn write(&self, logs: Vec<LogRecord>) -> Result<(), ApiError> {
        let batch = LogBatch {
            topic: NODE_TOPIC.to_string(),
            source: self.config.source.clone(),
            tags: Vec::new(),
            logs,
        };
        match tokio::time::timeout(
            self.config.store_timeout,
            self.store.put_logs(&self.config.logstore, batch),
        )
        .await
        {
            Ok(result) => result.map_err(ApiError::store),
            Err(_) => Err(ApiError::timeout("write")),
        }
    }

    /// The newest record of each of `ids` (at most [`TERMS_PER_STATEMENT`]).
    async fn newest_records(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<(String, String)>>, ApiError> {
        let query = SearchExpr::Or(
            ids.iter()
                .map(|id| SearchExpr::field_term("node_id", id.clone()))
                .collect(),
        )
        .to_string();
        let now = now_seconds();
        let from = now - i64::from(self.config.ttl_days.max(1)) * 86_400;
        let to = now + FUTURE_SECONDS;
        let mut best: HashMap<String, (u128, Vec<(String, String)>)> = HashMap::new();
        for page in 0..MAX_PAGES {
            let request = QueryRequest {
                from,
                to,
                query: query.clone(),
                line: PAGE_LINES,
                offset: page * PAGE_LINES,
                reverse: true,
            };
            let result = match tokio::time::timeout(
                self.config.store_timeout,
                self.store.get_logs(&self.config.logstore, request),
            )
            .await
            {
                Ok(result) => result.map_err(ApiError::store)?,
                Err(_) => return Err(ApiError::timeout("node lookup")),
            };
            let count = result.rows.len();
            for row in result.rows {
                let Some(id) = field(&row, "node_id") else {
                    continue;
                };
                // The search matched tokens, case-insensitively: keep exact ids.
                if !ids.iter().any(|wanted| wanted == id) {
                    continue;
                }
                let id = id.to_string();
                let order = record_order(&row);
                match best.get(&id) {
                    Some((current, _)) if *current >= order => {}
                    _ => {
                        best.insert(id, (order, row));
                    }
                }
            }
            if count < PAGE_LINES as usize {
                return Ok(best.into_iter().map(|(id, (_, row))| (id, row)).collect());
            }
        }
        Err(ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal",
            message: format!(
                "more than {} records for these node ids",
                MAX_PAGES * PAGE_LINES
            ),
        })
    }

    /// The bytes of each id (`None`: missing or deleted).
    pub(crate) async fn lookup(
        self: &Arc<Self>,
        ids: Vec<String>,
    ) -> Result<BTreeMap<String, Option<Vec<u8>>>, ApiError> {
        let semaphore = Arc::new(tokio::sync::Semaphore::new(PARALLEL_STATEMENTS));
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in ids.chunks(TERMS_PER_STATEMENT) {
            let chunk = chunk.to_vec();
            let state = Arc::clone(self);
            let semaphore = Arc::clone(&semaphore);
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                state.newest_records(&chunk).await
            });
        }
        let mut found: HashMap<String, Vec<(String, String)>> = HashMap::new();
        while let Some(joined) = tasks.join_next().await {
            let records = joined.map_err(|error| ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: "internal",
                message: format!("lookup task failed: {error}"),
            })??;
            found.extend(records);
        }
        let mut nodes = BTreeMap::new();
        for id in ids {
            let data = match found.remove(&id) {
                None => None,
                Some(row) if field(&row, "deleted") == Some("1") => None,
                Some(row) => Some(
                    body::decode(|key| field(&row, key).map(str::to_string))
                        .map_err(|error| ApiError::corrupt(&id, error))?,
                ),
            };
            nodes.insert(id, data);
        }
        Ok(nodes)
    }
}

fn field<'a>(row: &'a [(String, String)], key: &str) -> Option<&'a str> {
    row.iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

/// How new a record is: `node_written_ns`, else `received` seconds in ns,
/// else `__time__` in ns.
fn record_order(row: &[(String, String)]) -> u128 {
    let number = |key: &str| field(row, key).and_then(|value| value.parse::<u128>().ok());
    number("node_written_ns")
        .or_else(|| number("received").map(|seconds| seconds * 1_000_000_000))
        .or_else(|| number("__time__").map(|seconds| seconds * 1_000_000_000))
        .unwrap_or(0)
}

async fn get_one(State(state): State<Arc<NodeState>>, Path(id): Path<String>) -> Response {
    if let Err(error) = check_id(&id) {
        return error.into_response();
    }
    match state.lookup(vec![id.clone()]).await {
        Ok(mut nodes) => match nodes.remove(&id).flatten() {
            Some(data) => {
                ([(header::CONTENT_TYPE, "application/octet-stream")], data).into_response()
            }
            None => ApiError {
                status: StatusCode::NOT_FOUND,
                kind: "not_found",
                message: format!("no node {id}"),
            }
            .into_response(),
        },
        Err(error) => error.into_response(),
    }
}

async fn get_multi(State(state): State<Arc<NodeState>>, body: Bytes) -> Response {
    let ids = match parse_ids(&body, state.config.max_ids) {
        Ok(ids) => ids,
        Err(error) => return error.into_response(),
    };
    match state.lookup(ids).await {
        Ok(nodes) => {
            let mut out = serde_json::Map::new();
            for (id, data) in nodes {
                let value = match data {
                    None => Value::Null,
                    Some(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => Value::String(text),
                        Err(_) => {
                            return ApiError::corrupt(
                                &id,
                                BodyError::Corrupt("node data is not UTF-8".into()),
                            )
                            .into_response()
                        }
                    },
                };
                out.insert(id, value);
            }
            axum::Json(json!({ "nodes": out })).into_response()
        }
        Err(error) => error.into_response(),
    }
}

async fn put_one(
    State(state): State<Arc<NodeState>>,
    Path(id): Path<String>,
    data: Bytes,
) -> Response {
    if let Err(error) = check_id(&id) {
        return error.into_response();
    }
    if std::str::from_utf8(&data).is_err() {
        return ApiError::invalid("node data must be UTF-8 (Sentry's node encoding is JSON)")
            .into_response();
    }
    let record = match state.record(&id, Some(&data)) {
        Ok(record) => record,
        Err(error) => return error.into_response(),
    };
    match state.write(vec![record]).await {
        Ok(()) => axum::Json(json!({"stored": 1})).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn delete_ids(state: &NodeState, ids: &[String]) -> Response {
    if ids.is_empty() {
        return axum::Json(json!({"deleted": 0})).into_response();
    }
    let mut logs = Vec::with_capacity(ids.len());
    for id in ids {
        match state.record(id, None) {
            Ok(record) => logs.push(record),
            Err(error) => return error.into_response(),
        }
    }
    match state.write(logs).await {
        Ok(()) => axum::Json(json!({"deleted": ids.len()})).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn delete_one(State(state): State<Arc<NodeState>>, Path(id): Path<String>) -> Response {
    if let Err(error) = check_id(&id) {
        return error.into_response();
    }
    delete_ids(&state, &[id]).await
}

async fn delete_multi(State(state): State<Arc<NodeState>>, body: Bytes) -> Response {
    match parse_ids(&body, state.config.max_ids) {
        Ok(ids) => delete_ids(&state, &ids).await,
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(valid_node_id("0123456789abcdef0123456789abcdef"));
        assert!(valid_node_id("node_1"));
        assert!(!valid_node_id(""));
        assert!(!valid_node_id("a b"));
        assert!(!valid_node_id("é"));
        assert!(!valid_node_id(&"a".repeat(257)));
    }

    #[test]
    fn the_newest_record_wins() {
        let row = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect()
        };
        let event = row(&[("received", "100")]);
        let put = row(&[("received", "100"), ("node_written_ns", "100500000000")]);
        assert!(record_order(&put) > record_order(&event));
        assert_eq!(record_order(&row(&[("__time__", "7")])), 7_000_000_000);
    }

    #[test]
    fn bulk_ids_are_bounded_and_deduplicated() {
        let ids = parse_ids(br#"{"ids": ["a", "b", "a"]}"#, 10).unwrap();
        assert_eq!(ids, ["a", "b"]);
        assert!(parse_ids(br#"{"ids": ["a", "b", "c"]}"#, 2).is_err());
        assert!(parse_ids(br#"{"ids": [1]}"#, 2).is_err());
        assert!(parse_ids(br#"["a"]"#, 2).is_err());
    }
}
