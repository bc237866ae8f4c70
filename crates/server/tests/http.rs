//! The Snuba API through a real HTTP server on loopback: error shapes and
//! codes for bad input, and the server keeps serving afterwards.

use std::sync::Arc;

use sentry_sls_query::{Engine, NoRowsExecutor};
use sentry_sls_server::{router, ServerConfig};
use serde_json::{json, Value};

async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = router(
        Engine::new(Arc::new(NoRowsExecutor)),
        None,
        &ServerConfig::default(),
    );
    tokio::spawn(sentry_sls_server::serve(
        listener,
        app,
        std::future::pending(),
    ));
    format!("http://{address}")
}

const GOOD: &str = "MATCH (events) SELECT count() AS `count` BY group_id WHERE project_id IN array(1) AND timestamp >= toDateTime('2025-01-01T00:00:00') AND timestamp < toDateTime('2025-01-02T00:00:00') ORDER BY count DESC LIMIT 10 TOTALS True";

async fn post(client: &reqwest::Client, url: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    // Sentry sends no Content-Type; neither do we.
    let response = client
        .post(url)
        .header("referer", "test")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

#[tokio::test]
async fn errors_have_snubas_shape_and_the_server_keeps_serving() {
    let base = start().await;
    let client = reqwest::Client::new();
    let snql = format!("{base}/events/snql");
    let cases: Vec<(String, String, u16, &str)> = vec![
        (snql.clone(), "{not json".into(), 400, "json"),
        (snql.clone(), json!({"query": GOOD, "bogus": 1}).to_string(), 400, "schema"),
        (snql.clone(), json!({"query": GOOD, "totals": true}).to_string(), 400, "schema"),
        (snql.clone(), json!({"query": GOOD, "debug": "yes"}).to_string(), 400, "schema"),
        (snql.clone(), json!({"query": "MATCH (events) SELECT WHERE"}).to_string(), 400, "invalid_query"),
        (
            snql.clone(),
            json!({"query": "MATCH (events) SELECT count() WHERE project_id = 1"}).to_string(),
            400,
            "invalid_query",
        ),
        (
            snql.clone(),
            json!({"query": "MATCH (events) SELECT count() WHERE timestamp >= toDateTime('2025-01-01') AND timestamp < toDateTime('2025-01-02')"}).to_string(),
            400,
            "invalid_query",
        ),
        (
            snql.clone(),
            json!({"query": GOOD.replace("count() AS", "nosuchfn() AS")}).to_string(),
            400,
            "invalid_query",
        ),
        (
            snql.clone(),
            json!({"query": GOOD.replace("BY group_id", "BY nosuchcolumn")}).to_string(),
            400,
            "invalid_query",
        ),
        (format!("{base}/nosuchdataset/snql"), json!({"query": GOOD}).to_string(), 404, "dataset"),
        (snql.clone(), json!({"dataset": "events"}).to_string(), 500, "internal_server_error"),
    ];
    for (url, body, status, error_type) in cases {
        let (got_status, got) = post(&client, &url, body.clone()).await;
        assert_eq!(got_status, status, "{body}: {got}");
        assert_eq!(got["error"]["type"], error_type, "{body}: {got}");
        assert!(
            got["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{got}"
        );
        // Still serving after every bad request.
        let health = client.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status().as_u16(), 200);
    }
    let (_, missing_time) = post(
        &client,
        &snql,
        json!({"query": "MATCH (events) SELECT count() WHERE project_id = 1"}).to_string(),
    )
    .await;
    assert_eq!(
        missing_time["error"]["message"],
        "Missing >= condition with a datetime literal on column timestamp for entity events. Example: timestamp >= toDateTime('2023-05-16 00:00')"
    );
}

#[tokio::test]
async fn answers_valid_queries_with_meta_totals_and_dry_run() {
    let base = start().await;
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(health.contains("ok"));

    let (status, body) = post(
        &client,
        &format!("{base}/events/snql"),
        json!({"query": GOOD}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!([]));
    assert_eq!(
        body["meta"],
        json!([{"name": "group_id", "type": "UInt64"}, {"name": "count", "type": "UInt64"}])
    );
    assert_eq!(body["totals"], json!({"group_id": 0, "count": 0}));
    assert!(body["timing"].is_object() && body["quota_allowance"].is_object());
    assert!(body.get("sql").is_none());

    let (status, body) = post(
        &client,
        &format!("{base}/events/snql"),
        json!({"query": GOOD, "dry_run": true, "debug": true}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!([]));
    assert_eq!(body["meta"], json!([]));
    assert!(body["sql"].is_string());

    // Datasets sentry-sls does not store answer empty but valid results.
    let issues = "MATCH (search_issues) SELECT count() AS `count` BY group_id WHERE project_id IN array(1) AND timestamp >= toDateTime('2025-01-01T00:00:00') AND timestamp < toDateTime('2025-01-02T00:00:00')";
    let (status, body) = post(
        &client,
        &format!("{base}/search_issues/snql"),
        json!({"query": issues}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["meta"][0]["name"], "group_id");

    // No BY: an aggregate over no rows is one row of defaults, as in ClickHouse.
    let count = "MATCH (events) SELECT count() AS `c` WHERE project_id = 1 AND timestamp >= toDateTime('2025-01-01T00:00:00') AND timestamp < toDateTime('2025-01-02T00:00:00')";
    let (_, body) = post(
        &client,
        &format!("{base}/events/snql"),
        json!({"query": count}).to_string(),
    )
    .await;
    assert_eq!(body["data"], json!([{"c": 0}]));

    let rpc = client
        .post(format!("{base}/rpc/EndpointTraceItemTable/v1"))
        .body(vec![0u8; 4])
        .send()
        .await
        .unwrap();
    assert_eq!(rpc.status().as_u16(), 404);
    assert_eq!(rpc.bytes().await.unwrap()[0], 0x08);

    let delete = client
        .delete(format!("{base}/search_issues"))
        .body(json!({"query": {"columns": {"project_id": [1], "group_id": [2]}}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status().as_u16(), 200);
}
