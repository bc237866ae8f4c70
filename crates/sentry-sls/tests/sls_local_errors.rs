//! Bad input to the real `sls-local` binary gets SLS's error code and shape,
//! and the server keeps serving. Requests are built and signed by hand here
//! (with the protocol crate), so each can be broken in exactly one way.

mod common;

use std::time::SystemTime;

use common::{SlsLocal, ACCESS_KEY_ID, ACCESS_KEY_SECRET, PROJECT};
use prost::Message;
use sentry_sls_protocol::proto::{Log, LogContent, LogGroup};
use sentry_sls_protocol::sign;

struct Request<'a> {
    method: &'a str,
    project: &'a str,
    path: &'a str,
    query: Vec<(String, String)>,
    content_type: &'a str,
    body: Vec<u8>,
    compress: Option<&'a str>,
    raw_size: Option<usize>,
    content_md5: Option<String>,
}

impl<'a> Request<'a> {
    fn new(method: &'a str, path: &'a str, body: Vec<u8>) -> Self {
        Request {
            method,
            project: PROJECT,
            path,
            query: Vec::new(),
            content_type: "application/x-protobuf",
            raw_size: Some(body.len()),
            body,
            compress: None,
            content_md5: None,
        }
    }
}

/// Sends a signed request; returns status and JSON body (`null` if empty).
async fn send(server: &SlsLocal, request: Request<'_>) -> (u16, serde_json::Value) {
    let date = sign::rfc1123_date(SystemTime::now());
    let md5 = if request.body.is_empty() {
        String::new()
    } else {
        request
            .content_md5
            .clone()
            .unwrap_or_else(|| sign::content_md5(&request.body))
    };
    let mut headers: Vec<(String, String)> = vec![
        ("x-log-apiversion".into(), "0.6.0".into()),
        ("x-log-signaturemethod".into(), "hmac-sha1".into()),
    ];
    if let Some(raw_size) = request.raw_size {
        headers.push(("x-log-bodyrawsize".into(), raw_size.to_string()));
    }
    if let Some(compress) = request.compress {
        headers.push(("x-log-compresstype".into(), compress.into()));
    }
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let input = sign::SignatureInput {
        method: request.method,
        content_md5: &md5,
        content_type: request.content_type,
        date: &date,
        headers: &pairs,
        path: request.path,
        query: &request.query,
    };
    let authorization = sign::authorize(ACCESS_KEY_ID, ACCESS_KEY_SECRET, &input);
    let mut url = format!("{}{}", server.endpoint(), request.path);
    if !request.query.is_empty() {
        url.push('?');
        url.push_str(&sign::encode_query(&request.query));
    }
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut builder = client
        .request(request.method.parse().unwrap(), url)
        .header("Host", format!("{}.sls.test", request.project))
        .header("Date", &date)
        .header("Content-Type", request.content_type)
        .header("Authorization", authorization);
    if !md5.is_empty() {
        builder = builder.header("Content-MD5", &md5);
    }
    for (name, value) in &headers {
        builder = builder.header(name, value);
    }
    let response = builder.body(request.body).send().await.unwrap();
    let status = response.status().as_u16();
    assert!(
        response.headers().contains_key("x-log-requestid"),
        "every answer carries a request id"
    );
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, body)
}

fn code(body: &serde_json::Value) -> &str {
    assert!(
        body["errorMessage"].is_string(),
        "error bodies carry errorMessage: {body}"
    );
    body["errorCode"].as_str().unwrap_or("")
}

fn log_group() -> Vec<u8> {
    LogGroup {
        logs: vec![Log {
            time: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs() as u32,
            contents: vec![LogContent::new("k", "v")],
            time_ns: None,
        }],
        topic: Some("t".into()),
        ..LogGroup::default()
    }
    .encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_sls_error_codes_and_the_server_keeps_serving() {
    let directory = tempfile::tempdir().unwrap();
    let server = SlsLocal::start(directory.path(), None);
    let create = br#"{"logstoreName":"ls","ttl":30,"shardCount":1}"#.to_vec();
    let mut request = Request::new("POST", "/logstores", create);
    request.content_type = "application/json";
    assert_eq!(send(&server, request).await.0, 200);
    let put = "/logstores/ls/shards/lb";

    // Malformed protobuf.
    let (status, body) = send(
        &server,
        Request::new("POST", put, vec![0xff, 0xff, 0xff, 0x0f, 0x01]),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "PostBodyInvalid"));
    // Wrong Content-MD5 (signed as sent, so only the digest is wrong).
    let mut request = Request::new("POST", put, log_group());
    request.content_md5 = Some("0123456789ABCDEF0123456789ABCDEF".into());
    let (status, body) = send(&server, request).await;
    assert_eq!((status, code(&body)), (400, "PostBodyInvalid"));
    // Bad LZ4.
    let mut request = Request::new("POST", put, vec![0xf0, 0x01, 0x02, 0x03]);
    request.compress = Some("lz4");
    request.raw_size = Some(1000);
    let (status, body) = send(&server, request).await;
    assert_eq!((status, code(&body)), (400, "PostBodyUncompressError"));
    // Unknown compression.
    let mut request = Request::new("POST", put, log_group());
    request.compress = Some("snappy");
    let (status, body) = send(&server, request).await;
    assert_eq!((status, code(&body)), (400, "InvalidCompressType"));
    // Oversized: declared raw size over the 10 MB limit (rejected before inflating).
    let raw = vec![b'a'; 64];
    let mut request = Request::new("POST", put, lz4_flex::block::compress(&raw));
    request.compress = Some("lz4");
    request.raw_size = Some(50 * 1024 * 1024);
    let (status, body) = send(&server, request).await;
    assert_eq!((status, code(&body)), (400, "PostBodyTooLarge"));
    // Oversized as sent: a body over the listener's limit.
    let (status, body) = send(
        &server,
        Request::new("POST", put, vec![0u8; 17 * 1024 * 1024]),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "PostBodyTooLarge"));
    // Unknown project and logstore.
    let mut request = Request::new("POST", put, log_group());
    request.project = "no-such-project";
    let (status, body) = send(&server, request).await;
    assert_eq!((status, code(&body)), (404, "ProjectNotExist"));
    let (status, body) = send(
        &server,
        Request::new("POST", "/logstores/nope/shards/lb", log_group()),
    )
    .await;
    assert_eq!((status, code(&body)), (404, "LogStoreNotExist"));
    // Reserved key in a log.
    let reserved = LogGroup {
        logs: vec![Log {
            time: 1,
            contents: vec![LogContent::new("__time__", "1")],
            time_ns: None,
        }],
        ..LogGroup::default()
    }
    .encode_to_vec();
    let (status, _) = send(&server, Request::new("POST", put, reserved)).await;
    assert_eq!(status, 400);
    // Index, then bad SQL and a bad time range.
    let index =
        br#"{"line":{"token":[" "]},"keys":{"k":{"type":"text","doc_value":true}}}"#.to_vec();
    let mut request = Request::new("POST", "/logstores/ls/index", index);
    request.content_type = "application/json";
    assert_eq!(send(&server, request).await.0, 200);
    let query = |text: &str, from: i64, to: i64| {
        serde_json::to_vec(&serde_json::json!({"from": from, "to": to, "query": text})).unwrap()
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut request = Request::new(
        "POST",
        "/logstores/ls/logs",
        query("* | select count(* from", now - 60, now + 60),
    );
    request.content_type = "application/json";
    let (status, body) = send(&server, request).await;
    assert_eq!((status, code(&body)), (400, "ParameterInvalid"));
    let mut request = Request::new("POST", "/logstores/ls/logs", query("*", now, now));
    request.content_type = "application/json";
    let (status, body) = send(&server, request).await;
    assert_eq!((status, code(&body)), (400, "InvalidTimeRange"));
    // Time bounds that would overflow bucket arithmetic are refused, not looped on.
    let mut request = Request::new("GET", "/logstores/ls", Vec::new());
    request.query = vec![
        ("type".into(), "histogram".into()),
        ("from".into(), "9223372036854775708".into()),
        ("to".into(), "9223372036854775807".into()),
        ("query".into(), "*".into()),
    ];
    request.raw_size = Some(0);
    let (status, body) = send(&server, request).await;
    assert_eq!((status, code(&body)), (400, "InvalidTimeRange"));
    // Still serving: a good write and a read that sees it.
    assert_eq!(
        send(&server, Request::new("POST", put, log_group()))
            .await
            .0,
        200
    );
    let mut request = Request::new(
        "POST",
        "/logstores/ls/logs",
        query("* | select count(*) as c", now - 60, now + 60),
    );
    request.content_type = "application/json";
    let (status, body) = send(&server, request).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["c"], "1");
    assert_eq!(body["meta"]["progress"], "Complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_directory_exits_with_an_error() {
    let directory = tempfile::tempdir().unwrap();
    let server = SlsLocal::start(directory.path(), None);
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_sentry-sls"))
        .args(["sls-local", "--listen", "127.0.0.1:0", "--project", PROJECT])
        .arg("--data-dir")
        .arg(directory.path())
        .env("SLS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("SLS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second sls-local on a data directory in use kept running");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("in use by another process"), "{stderr}");
    assert!(
        stderr.contains(&directory.path().display().to_string()),
        "{stderr}"
    );
    // The first one is unharmed.
    let (status, _) = send(&server, Request::new("GET", "/logstores", Vec::new())).await;
    assert_eq!(status, 200);
}
