//! A scripted SLS on 127.0.0.1 for the client's integration tests.
//!
//! Every request is checked the way real SLS (and `sls-local`) would: the v1 signature is
//! re-derived with `sentry_sls_protocol::sign::verify`, `Content-MD5` is compared with the
//! bytes received, the body is decompressed with `x-log-bodyrawsize`, protobuf bodies are
//! decoded into a `LogGroup`, and the project must arrive in `Host`. A bad signature gets a
//! real `401 SignatureNotMatch`; any other problem gets `400 MockProblem` so the client
//! never retries it. Otherwise the next scripted reply is sent, with a fresh
//! `x-log-requestid` unless the script sets one.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use sentry_sls_client::{SlsClient, SlsClientConfig};
use sentry_sls_protocol::sign::{
    content_md5_matches, parse_authorization, parse_date, parse_query, verify,
};
use sentry_sls_protocol::{decode_log_group, CompressType, LogGroup, SignatureInput};
use serde_json::{json, Value};

/// Project the test clients use.
pub const PROJECT: &str = "test-project";
/// AccessKey id the mock accepts.
pub const AK_ID: &str = "test-ak";
/// AccessKey secret the mock verifies with.
pub const AK_SECRET: &str = "test-secret";

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Scripted {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Option<Duration>,
}

impl Scripted {
    /// `200` with an empty body (PutLogs, admin writes).
    pub fn ok() -> Self {
        Scripted {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
            delay: None,
        }
    }

    /// A JSON answer.
    pub fn json(status: u16, value: &Value) -> Self {
        Scripted {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: serde_json::to_vec(value).unwrap(),
            delay: None,
        }
    }

    /// An SLS error answer.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Scripted::json(status, &json!({"errorCode": code, "errorMessage": message}))
    }

    /// A non-JSON answer.
    pub fn text(status: u16, text: &str) -> Self {
        Scripted {
            status,
            headers: Vec::new(),
            body: text.as_bytes().to_vec(),
            delay: None,
        }
    }

    /// A GetLogsV2 answer.
    pub fn logs(progress: &str, has_sql: bool, keys: &[&str], rows: Vec<Value>) -> Self {
        let meta = json!({
            "progress": progress,
            "count": rows.len(),
            "hasSQL": has_sql,
            "keys": keys,
            "processedRows": 1000,
            "elapsedMillisecond": 3,
        });
        Scripted::json(200, &json!({"meta": meta, "data": rows}))
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// LZ4-compresses the body the way SLS does (`x-log-compresstype` + `x-log-bodyrawsize`).
    pub fn lz4(mut self) -> Self {
        let raw_size = self.body.len();
        self.body = sentry_sls_protocol::compress(CompressType::Lz4, &self.body);
        self.header("x-log-compresstype", "lz4")
            .header("x-log-bodyrawsize", &raw_size.to_string())
    }

    /// Waits this long before answering.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// A request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Decoded query pairs, in wire order.
    pub query: Vec<(String, String)>,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The decompressed body.
    pub raw_body: Vec<u8>,
    /// Whether the v1 signature verified.
    pub signature_ok: bool,
    /// Everything else that was wrong.
    pub problems: Vec<String>,
    /// The decoded PutLogs body.
    pub log_group: Option<LogGroup>,
}

impl Received {
    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// A query value.
    pub fn query_value(&self, key: &str) -> Option<&str> {
        find(&self.query, key)
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.raw_body).unwrap()
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

struct MockState {
    script: Mutex<VecDeque<Scripted>>,
    received: Mutex<Vec<Received>>,
    request_counter: AtomicU64,
}

/// A running mock; the server task stops when the test's runtime does.
pub struct MockSls {
    addr: SocketAddr,
    state: Arc<MockState>,
}

impl MockSls {
    /// Binds 127.0.0.1:0 and starts serving.
    pub async fn start() -> MockSls {
        let state = Arc::new(MockState {
            script: Mutex::new(VecDeque::new()),
            received: Mutex::new(Vec::new()),
            request_counter: AtomicU64::new(0),
        });
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        MockSls { addr, state }
    }

    /// Queues the next answer.
    pub fn push(&self, reply: Scripted) {
        self.state.script.lock().unwrap().push_back(reply);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Asserts every request was well-formed and correctly signed.
    pub fn assert_all_valid(&self) {
        for (index, request) in self.received().iter().enumerate() {
            assert!(request.signature_ok, "request {index} has a bad signature");
            assert!(
                request.problems.is_empty(),
                "request {index}: {:?}",
                request.problems
            );
        }
    }

    /// A client configuration for this mock with millisecond backoff.
    pub fn config(&self) -> SlsClientConfig {
        let mut config =
            SlsClientConfig::new(format!("http://{}", self.addr), PROJECT, AK_ID, AK_SECRET);
        config.base_backoff = Duration::from_millis(1);
        config.max_backoff = Duration::from_millis(5);
        config.timeout = Duration::from_secs(10);
        config
    }

    /// A client for this mock.
    pub fn client(&self) -> SlsClient {
        SlsClient::new(self.config()).unwrap()
    }
}

async fn handle(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let text = value.to_str().unwrap_or("<non-ascii>").to_owned();
            (name.as_str().to_owned(), text)
        })
        .collect();
    let query = parse_query(parts.uri.query().unwrap_or(""));
    let path = parts.uri.path().to_owned();
    let mut problems = Vec::new();
    let raw_body = check_headers_and_body(&headers, &body, &mut problems);
    let log_group = match find(&headers, "content-type") {
        Some("application/x-protobuf") => match decode_log_group(&raw_body) {
            Ok(group) => Some(group),
            Err(error) => {
                problems.push(format!("log group does not decode: {error}"));
                None
            }
        },
        _ => None,
    };
    let signature_ok = check_signature(parts.method.as_str(), &path, &query, &headers);

    let number = state.request_counter.fetch_add(1, Ordering::SeqCst) + 1;
    state.received.lock().unwrap().push(Received {
        method: parts.method.to_string(),
        path,
        query,
        headers,
        raw_body,
        signature_ok,
        problems: problems.clone(),
        log_group,
    });

    let reply = if !signature_ok {
        Scripted::error(401, "SignatureNotMatch", "mock: signature does not verify")
    } else if !problems.is_empty() {
        Scripted::error(400, "MockProblem", &problems.join("; "))
    } else {
        let next = state.script.lock().unwrap().pop_front();
        next.unwrap_or_else(|| Scripted::error(400, "MockScriptExhausted", "no reply queued"))
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::builder().status(reply.status);
    if find(&reply.headers, "x-log-requestid").is_none() {
        response = response.header("x-log-requestid", format!("mock-req-{number}"));
    }
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).unwrap()
}

/// Checks the SLS header rules and returns the decompressed body.
fn check_headers_and_body(
    headers: &[(String, String)],
    body: &[u8],
    problems: &mut Vec<String>,
) -> Vec<u8> {
    let expected_host = format!("{PROJECT}.127.0.0.1");
    if find(headers, "host") != Some(expected_host.as_str()) {
        problems.push(format!("host is {:?}", find(headers, "host")));
    }
    match find(headers, "date") {
        Some(date) if parse_date(date).is_ok() => {}
        other => problems.push(format!("date is {other:?}")),
    }
    if find(headers, "x-log-apiversion") != Some("0.6.0") {
        problems.push("x-log-apiversion is not 0.6.0".to_owned());
    }
    if find(headers, "x-log-signaturemethod") != Some("hmac-sha1") {
        problems.push("x-log-signaturemethod is not hmac-sha1".to_owned());
    }
    let Some(raw_size) = find(headers, "x-log-bodyrawsize").and_then(|v| v.parse::<usize>().ok())
    else {
        problems.push("x-log-bodyrawsize missing".to_owned());
        return body.to_vec();
    };
    if body.is_empty() {
        if find(headers, "content-md5").is_some() {
            problems.push("content-md5 on an empty body".to_owned());
        }
        if raw_size != 0 {
            problems.push(format!("x-log-bodyrawsize {raw_size} on an empty body"));
        }
        return Vec::new();
    }
    match find(headers, "content-md5") {
        Some(md5) if content_md5_matches(md5, body) => {
            if md5 != md5.to_ascii_uppercase() {
                problems.push("content-md5 is not uppercase".to_owned());
            }
        }
        other => problems.push(format!("content-md5 {other:?} does not match the body")),
    }
    if find(headers, "content-type").is_none() {
        problems.push("content-type missing".to_owned());
    }
    let codec = CompressType::from_header(find(headers, "x-log-compresstype")).unwrap();
    match sentry_sls_protocol::decompress(codec, body, raw_size, 64 << 20) {
        Ok(raw) => raw,
        Err(error) => {
            problems.push(format!("body does not decompress: {error}"));
            body.to_vec()
        }
    }
}

fn check_signature(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
) -> bool {
    let Some(Ok((access_key_id, signature))) =
        find(headers, "authorization").map(parse_authorization)
    else {
        return false;
    };
    let header_pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let input = SignatureInput {
        method,
        content_md5: find(headers, "content-md5").unwrap_or(""),
        content_type: find(headers, "content-type").unwrap_or(""),
        date: find(headers, "date").unwrap_or(""),
        headers: &header_pairs,
        path,
        query,
    };
    access_key_id == AK_ID && verify(AK_SECRET, &input, signature)
}

/// `count` SQL rows `{"seq": start+i, "name": "row-{start+i}"}`.
pub fn sql_rows(start: usize, count: usize) -> Vec<Value> {
    (start..start + count)
        .map(|seq| json!({"name": format!("row-{seq}"), "seq": seq.to_string()}))
        .collect()
}
