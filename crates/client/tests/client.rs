//! The client against a verifying, scripted SLS mock on loopback.

mod mock;

use std::time::{Duration, Instant};

use mock::{sql_rows, MockSls, Scripted};
use sentry_sls_client::SlsClient;
use sentry_sls_store::{
    IndexConfig, LogBatch, LogRecord, LogStore, LogstoreConfig, Progress, QueryRequest,
    StoreErrorCode,
};
use serde_json::json;

fn batch(count: usize, value_len: usize) -> LogBatch {
    LogBatch {
        topic: "errors".to_owned(),
        source: "10.1.2.3".to_owned(),
        tags: vec![("release".to_owned(), "1.0".to_owned())],
        logs: (0..count)
            .map(|index| LogRecord {
                time: 1_700_000_000,
                time_ns: 7,
                contents: vec![
                    ("seq".to_owned(), index.to_string()),
                    ("payload".to_owned(), "p".repeat(value_len)),
                ],
            })
            .collect(),
    }
}

fn query(text: &str) -> QueryRequest {
    QueryRequest {
        from: 1_700_000_000,
        to: 1_700_003_600,
        query: text.to_owned(),
        line: 0,
        offset: 0,
        reverse: false,
    }
}

/// The `seq` values of every log the mock received, in arrival order.
fn received_sequence(mock: &MockSls) -> Vec<String> {
    mock.received()
        .iter()
        .filter_map(|request| request.log_group.as_ref())
        .flat_map(|group| group.logs.iter())
        .map(|log| log.contents[0].value.clone())
        .collect()
}

#[tokio::test]
async fn split_put_of_ten_thousand_logs_arrives_complete() {
    let mock = MockSls::start().await;
    for _ in 0..3 {
        mock.push(Scripted::ok());
    }
    mock.client()
        .put_logs("events", batch(10_000, 20))
        .await
        .unwrap();

    mock.assert_all_valid();
    let received = mock.received();
    assert!(received.len() >= 3);
    let sizes: Vec<usize> = received
        .iter()
        .map(|request| request.log_group.as_ref().unwrap().logs.len())
        .collect();
    assert_eq!(sizes, vec![4096, 4096, 1808]);
    let expected: Vec<String> = (0..10_000).map(|seq| seq.to_string()).collect();
    assert_eq!(received_sequence(&mock), expected);
    for request in &received {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/logstores/events/shards/lb");
        assert_eq!(request.header("x-log-compresstype"), Some("lz4"));
        assert_eq!(
            request.header("content-type"),
            Some("application/x-protobuf")
        );
        let group = request.log_group.as_ref().unwrap();
        assert_eq!(group.topic.as_deref(), Some("errors"));
        assert_eq!(group.source.as_deref(), Some("10.1.2.3"));
        assert_eq!(group.log_tags[0].key, "release");
        assert_eq!(group.logs[0].time, 1_700_000_000);
        assert_eq!(group.logs[0].time_ns, Some(7));
    }
}

#[tokio::test]
async fn large_logs_split_by_raw_size() {
    let mock = MockSls::start().await;
    for _ in 0..3 {
        mock.push(Scripted::ok());
    }
    mock.client()
        .put_logs("events", batch(12, 1024 * 1024))
        .await
        .unwrap();
    mock.assert_all_valid();
    let received = mock.received();
    assert_eq!(received.len(), 3);
    for request in &received {
        assert!(request.raw_body.len() <= 5 * 1024 * 1024);
        let raw_size: usize = request
            .header("x-log-bodyrawsize")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(raw_size, request.raw_body.len());
    }
    assert_eq!(received_sequence(&mock).len(), 12);
}

#[tokio::test]
async fn oversized_log_fails_before_sending_anything() {
    let mock = MockSls::start().await;
    let error = mock
        .client()
        .put_logs("events", batch(1, 6 * 1024 * 1024))
        .await
        .unwrap_err();
    assert_eq!(error.code, StoreErrorCode::ParameterInvalid);
    assert!(mock.received().is_empty());
}

#[tokio::test]
async fn retries_500_and_write_quota_then_succeeds() {
    let mock = MockSls::start().await;
    mock.push(Scripted::error(500, "InternalServerError", "boom"));
    mock.push(Scripted::error(403, "WriteQuotaExceed", "Write QPS Exceed"));
    mock.push(Scripted::ok());
    mock.client()
        .put_logs("events", batch(5, 10))
        .await
        .unwrap();

    mock.assert_all_valid();
    let received = mock.received();
    assert_eq!(received.len(), 3, "one attempt plus two retries");
    assert!(received
        .iter()
        .all(|request| request.raw_body == received[0].raw_body));
}

#[tokio::test]
async fn retries_non_json_502_and_gives_up_after_max_retries() {
    let mock = MockSls::start().await;
    mock.push(Scripted::text(502, "<html>bad gateway</html>"));
    mock.push(Scripted::ok());
    mock.client().put_logs("events", batch(1, 1)).await.unwrap();
    assert_eq!(mock.received().len(), 2);

    let mut config = mock.config();
    config.max_retries = 2;
    let client = SlsClient::new(config).unwrap();
    for _ in 0..3 {
        mock.push(Scripted::error(503, "ServerBusy", "busy"));
    }
    let error = client.put_logs("events", batch(1, 1)).await.unwrap_err();
    assert_eq!(error.code, StoreErrorCode::ServerBusy);
    assert_eq!(
        mock.received().len(),
        2 + 3,
        "max_retries 2 means 3 attempts"
    );
    assert_eq!(error.request_id.as_deref(), Some("mock-req-5"));
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let cases = [
        (401, "SignatureNotMatch", StoreErrorCode::SignatureNotMatch),
        (400, "ParameterInvalid", StoreErrorCode::ParameterInvalid),
        (404, "LogStoreNotExist", StoreErrorCode::LogStoreNotExist),
    ];
    for (status, code, expected) in cases {
        let mock = MockSls::start().await;
        mock.push(
            Scripted::error(status, code, "scripted failure").header("x-log-requestid", "RID-42"),
        );
        mock.push(Scripted::ok());
        let error = mock
            .client()
            .put_logs("events", batch(3, 3))
            .await
            .unwrap_err();
        assert_eq!(mock.received().len(), 1, "{code} was retried");
        assert_eq!(error.code, expected);
        assert_eq!(error.message, "scripted failure");
        assert_eq!(error.request_id.as_deref(), Some("RID-42"));
    }
}

#[tokio::test]
async fn a_wrong_secret_is_reported_once_as_signature_not_match() {
    let mock = MockSls::start().await;
    let mut config = mock.config();
    config.access_key_secret = "not-the-secret".to_owned();
    let client = SlsClient::new(config).unwrap();
    let error = client.get_logs("events", query("*")).await.unwrap_err();
    assert_eq!(error.code, StoreErrorCode::SignatureNotMatch);
    assert_eq!(error.request_id.as_deref(), Some("mock-req-1"));
    assert_eq!(mock.received().len(), 1);
    assert!(!mock.received()[0].signature_ok);
}

#[tokio::test]
async fn sts_token_is_sent_and_signed() {
    let mock = MockSls::start().await;
    mock.push(Scripted::ok());
    let mut config = mock.config();
    config.security_token = Some("sts-token".to_owned());
    SlsClient::new(config)
        .unwrap()
        .put_logs("events", batch(1, 1))
        .await
        .unwrap();
    mock.assert_all_valid();
    let request = &mock.received()[0];
    assert_eq!(request.header("x-acs-security-token"), Some("sts-token"));
    let authorization = request.header("authorization").unwrap();
    assert!(authorization.starts_with("LOG test-ak:"), "{authorization}");
}

#[tokio::test]
async fn hash_key_routing_uses_the_route_endpoint() {
    let mock = MockSls::start().await;
    mock.push(Scripted::ok());
    let client = mock.client();
    client
        .put_logs_with_hash_key("events", batch(2, 2), "14D2F850AD6EA48E46E4547EDBBB27E0")
        .await
        .unwrap();
    mock.assert_all_valid();
    let request = &mock.received()[0];
    assert_eq!(request.path, "/logstores/events/shards/route");
    assert_eq!(
        request.query_value("key"),
        Some("14d2f850ad6ea48e46e4547edbbb27e0")
    );
    let error = client
        .put_logs_with_hash_key("events", batch(1, 1), "not-a-key")
        .await
        .unwrap_err();
    assert_eq!(error.code, StoreErrorCode::ParameterInvalid);
    assert_eq!(mock.received().len(), 1);
}

#[tokio::test]
async fn incomplete_is_reissued_until_complete() {
    let mock = MockSls::start().await;
    let rows = vec![json!({"level": "error", "c": "3"})];
    mock.push(Scripted::logs(
        "Incomplete",
        true,
        &["level", "c"],
        Vec::new(),
    ));
    mock.push(Scripted::logs(
        "Incomplete",
        true,
        &["level", "c"],
        Vec::new(),
    ));
    mock.push(Scripted::logs("Complete", true, &["level", "c"], rows));
    let request = query("* | select level, count(*) as c group by level");
    let result = mock.client().get_logs("events", request).await.unwrap();

    mock.assert_all_valid();
    assert_eq!(result.progress, Progress::Complete);
    assert_eq!(result.rows.len(), 1);
    let received = mock.received();
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/logstores/events/logs");
        assert_eq!(request.header("accept-encoding"), Some("lz4"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(
            request.json(),
            received[0].json(),
            "re-issue must be identical"
        );
    }
    assert_eq!(
        received[0].json()["query"],
        "* | select level, count(*) as c group by level"
    );
}

#[tokio::test]
async fn persistent_incomplete_returns_the_last_answer() {
    let mock = MockSls::start().await;
    let mut config = mock.config();
    config.max_incomplete_retries = 2;
    for index in 0..3 {
        let rows = vec![json!({"attempt": index.to_string()})];
        mock.push(Scripted::logs("Incomplete", false, &[], rows));
    }
    let client = SlsClient::new(config).unwrap();
    let result = client
        .get_logs("events", query("level:error"))
        .await
        .unwrap();
    assert_eq!(result.progress, Progress::Incomplete);
    assert_eq!(mock.received().len(), 3);
    assert_eq!(
        result.rows,
        vec![vec![("attempt".to_owned(), "2".to_owned())]]
    );
}

#[tokio::test]
async fn lz4_responses_are_decompressed_and_mapped() {
    let mock = MockSls::start().await;
    let rows = vec![
        json!({"c": "10", "level": "error"}),
        json!({"level": "null", "c": "2"}),
    ];
    mock.push(Scripted::logs("Complete", true, &["level", "c"], rows).lz4());
    let result = mock
        .client()
        .get_logs_v2(
            "events",
            &query("* | select level, count(*) as c group by level"),
        )
        .await
        .unwrap();
    assert!(result.has_sql);
    assert_eq!(result.keys, vec!["level", "c"]);
    assert_eq!(result.processed_rows, 1000);
    let first: Vec<(&str, &str)> = result.rows[0]
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    assert_eq!(first, vec![("level", "error"), ("c", "10")]);
}

#[tokio::test]
async fn sql_paging_stitches_pages_in_order() {
    let mock = MockSls::start().await;
    mock.push(Scripted::logs("Complete", true, &["name", "seq"], sql_rows(0, 10_000)).lz4());
    mock.push(Scripted::logs("Complete", true, &["name", "seq"], sql_rows(10_000, 10_000)).lz4());
    mock.push(Scripted::logs(
        "Complete",
        true,
        &["name", "seq"],
        sql_rows(20_000, 2_500),
    ));
    let client = mock.client();
    let sql = "select name, seq order by seq";
    let result = client
        .get_logs_all_sql("events", 1_700_000_000, 1_700_003_600, "", sql, 1_000_000)
        .await
        .unwrap();

    mock.assert_all_valid();
    let queries: Vec<String> = mock
        .received()
        .iter()
        .map(|request| request.json()["query"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        queries,
        vec![
            "* | select name, seq order by seq limit 0,10000",
            "* | select name, seq order by seq limit 10000,10000",
            "* | select name, seq order by seq limit 20000,10000",
        ]
    );
    assert_eq!(result.rows.len(), 22_500);
    assert_eq!(result.keys, vec!["name", "seq"]);
    assert_eq!(result.processed_rows, 3000);
    assert_eq!(result.progress, Progress::Complete);
    for (index, row) in result.rows.iter().enumerate() {
        assert_eq!(row[1].1, index.to_string());
    }
    let body = mock.received()[0].json();
    assert!(body.get("line").is_none() && body.get("offset").is_none());
}

#[tokio::test]
async fn sql_paging_stops_at_max_rows() {
    let mock = MockSls::start().await;
    mock.push(Scripted::logs(
        "Complete",
        true,
        &["name", "seq"],
        sql_rows(0, 10_000),
    ));
    mock.push(Scripted::logs(
        "Incomplete",
        true,
        &["name", "seq"],
        sql_rows(10_000, 5_000),
    ));
    mock.push(Scripted::logs(
        "Incomplete",
        true,
        &["name", "seq"],
        sql_rows(10_000, 5_000),
    ));
    let mut config = mock.config();
    config.max_incomplete_retries = 1;
    let result = SlsClient::new(config)
        .unwrap()
        .get_logs_all_sql("events", 0, 10, "level:error", "select name, seq", 15_000)
        .await
        .unwrap();
    let received = mock.received();
    assert_eq!(received.len(), 3);
    assert_eq!(
        received[1].json()["query"],
        "level:error | select name, seq limit 10000,5000"
    );
    assert_eq!(result.rows.len(), 15_000);
    assert_eq!(result.progress, Progress::Incomplete);
}

#[tokio::test]
async fn search_paging_advances_offset_until_an_empty_page() {
    let mock = MockSls::start().await;
    let page = |start: usize, count: usize| {
        let rows = (start..start + count)
            .map(|seq| json!({"__time__": "1700000000", "seq": seq.to_string()}))
            .collect();
        Scripted::logs("Complete", false, &[], rows)
    };
    mock.push(page(0, 100));
    mock.push(page(100, 100));
    mock.push(page(200, 37));
    mock.push(Scripted::logs("Complete", false, &[], Vec::new()));
    let result = mock
        .client()
        .get_logs_all_search("events", 0, 10, "level:error", true, 10_000)
        .await
        .unwrap();
    mock.assert_all_valid();
    let received = mock.received();
    let offsets: Vec<Option<u64>> = received
        .iter()
        .map(|request| request.json()["offset"].as_u64())
        .collect();
    assert_eq!(offsets, vec![None, Some(100), Some(200), Some(237)]);
    assert!(received
        .iter()
        .all(|request| request.json()["line"] == 100 && request.json()["reverse"] == true));
    assert_eq!(result.rows.len(), 237);
    assert_eq!(result.keys, vec!["__time__", "seq"]);
    assert_eq!(result.rows[236][1].1, "236");
    assert!(!result.has_sql);
}

#[tokio::test]
async fn get_logs_v1_reads_headers_and_array_body() {
    let mock = MockSls::start().await;
    let body = json!([{"b": "2", "a": "1"}]);
    mock.push(
        Scripted::json(200, &body)
            .header("x-log-progress", "Complete")
            .header("x-log-processed-rows", "77")
            .header("x-log-has-sql", "true")
            .header("x-log-query-info", r#"{"keys":["a","b"],"mode":0}"#),
    );
    let request = QueryRequest {
        line: 50,
        offset: 5,
        reverse: true,
        ..query("level:error and msg:\"a b\" | select a, b")
    };
    let result = mock.client().get_logs_v1("events", &request).await.unwrap();
    mock.assert_all_valid();
    let received = &mock.received()[0];
    assert_eq!(received.method, "GET");
    assert_eq!(received.path, "/logstores/events");
    assert_eq!(received.query_value("type"), Some("log"));
    assert_eq!(
        received.query_value("query"),
        Some("level:error and msg:\"a b\" | select a, b")
    );
    assert_eq!(received.query_value("line"), Some("50"));
    assert_eq!(received.query_value("offset"), Some("5"));
    assert_eq!(received.query_value("reverse"), Some("true"));
    assert_eq!(result.progress, Progress::Complete);
    assert_eq!(result.processed_rows, 77);
    assert!(result.has_sql);
    assert_eq!(result.keys, vec!["a", "b"]);
    assert_eq!(result.rows[0][0], ("a".to_owned(), "1".to_owned()));

    mock.push(Scripted::json(200, &json!([])));
    let error = mock
        .client()
        .get_logs_v1("events", &request)
        .await
        .unwrap_err();
    assert_eq!(error.code.as_str(), "BadResponse");
}

#[tokio::test]
async fn logstore_index_and_shard_admin() {
    let mock = MockSls::start().await;
    let client = mock.client();
    let config: LogstoreConfig =
        serde_json::from_value(json!({"logstoreName": "events", "ttl": 30, "shardCount": 2}))
            .unwrap();
    mock.push(Scripted::ok());
    client.create_logstore(config.clone()).await.unwrap();
    mock.push(Scripted::json(
        200,
        &json!({"logstoreName": "events", "ttl": 30, "shardCount": 2, "autoSplit": true}),
    ));
    let fetched = client.get_logstore("events").await.unwrap();
    assert_eq!(fetched.other.get("autoSplit"), Some(&json!(true)));
    mock.push(Scripted::ok());
    client.update_logstore(config).await.unwrap();

    let index: IndexConfig = serde_json::from_value(json!({
        "line": {"token": [","], "caseSensitive": false},
        "keys": {"level": {"type": "text", "doc_value": true}},
        "max_text_len": 2048
    }))
    .unwrap();
    mock.push(Scripted::ok());
    client.create_index("events", index.clone()).await.unwrap();
    mock.push(Scripted::json(200, &serde_json::to_value(&index).unwrap()));
    assert_eq!(client.get_index("events").await.unwrap(), index);
    mock.push(Scripted::ok());
    client.update_index("events", index.clone()).await.unwrap();

    mock.push(Scripted::json(
        200,
        &json!([{"shardID": 0, "status": "readwrite",
                 "inclusiveBeginKey": "00000000000000000000000000000000",
                 "exclusiveEndKey": "ffffffffffffffffffffffffffffffff",
                 "createTime": 1453949705}]),
    ));
    let shards = client.list_shards("events").await.unwrap();
    assert_eq!(shards[0].id, 0);
    assert_eq!(shards[0].end_key, "ffffffffffffffffffffffffffffffff");

    mock.assert_all_valid();
    let calls: Vec<(String, String)> = mock
        .received()
        .iter()
        .map(|request| (request.method.clone(), request.path.clone()))
        .collect();
    let expected = [
        ("POST", "/logstores"),
        ("GET", "/logstores/events"),
        ("PUT", "/logstores/events"),
        ("POST", "/logstores/events/index"),
        ("GET", "/logstores/events/index"),
        ("PUT", "/logstores/events/index"),
        ("GET", "/logstores/events/shards"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(calls, expected);
    let received = mock.received();
    assert_eq!(received[0].json()["logstoreName"], "events");
    assert_eq!(received[0].json()["shardCount"], 2);
    assert_eq!(received[3].json()["keys"]["level"]["doc_value"], true);
    assert_eq!(received[1].header("x-log-bodyrawsize"), Some("0"));
}

#[tokio::test]
async fn timeouts_are_retried() {
    let mock = MockSls::start().await;
    mock.push(Scripted::ok().delayed(Duration::from_secs(2)));
    mock.push(Scripted::ok());
    let mut config = mock.config();
    config.timeout = Duration::from_millis(300);
    SlsClient::new(config)
        .unwrap()
        .put_logs("events", batch(1, 1))
        .await
        .unwrap();
    assert_eq!(mock.received().len(), 2);

    mock.push(Scripted::ok().delayed(Duration::from_secs(2)));
    let mut config = mock.config();
    config.timeout = Duration::from_millis(200);
    config.max_retries = 0;
    let error = SlsClient::new(config)
        .unwrap()
        .put_logs("events", batch(1, 1))
        .await
        .unwrap_err();
    assert_eq!(error.code, StoreErrorCode::RequestTimeout);
}

#[tokio::test]
async fn connection_failures_are_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = MockSls::start().await.config();
    config.endpoint = format!("127.0.0.1:{port}");
    config.max_retries = 2;
    let started = Instant::now();
    let error = SlsClient::new(config)
        .unwrap()
        .get_logs("events", query("*"))
        .await
        .unwrap_err();
    assert_eq!(error.code, StoreErrorCode::InternalServerError);
    assert!(
        error.message.starts_with("network error"),
        "{}",
        error.message
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
