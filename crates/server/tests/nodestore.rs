//! The nodestore and groups APIs over HTTP on loopback, on the embedded store
//! with the index of docs/schema.md §4: event bodies written by ingest are
//! found by node id byte for byte; puts, tombstones and re-puts; bulk reads
//! in one call; errors; the groups of a project.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sentry_sls_event::{node_id, Envelope, EventId, ProjectId};
use sentry_sls_local::{LocalStore, LocalStoreConfig};
use sentry_sls_server::nodestore_api::NodestoreConfig;
use sentry_sls_store::{IndexConfig, LogStore, LogstoreConfig};
use serde_json::{json, Value};

const LOGSTORE: &str = "logstore-rum";
const SCHEMA_DOC: &str = include_str!("../../../docs/schema.md");

fn required_index() -> IndexConfig {
    let section = SCHEMA_DOC.split("## 4. The SLS index").nth(1).unwrap();
    let body = section
        .split("```json")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    serde_json::from_str(body).unwrap()
}

/// A data directory removed when the test ends.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "sentry-sls-nodestore-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Service {
    base: String,
    store: Arc<dyn LogStore>,
    local: Arc<LocalStore>,
    _directory: TempDir,
}

async fn start() -> Service {
    let directory = TempDir::new();
    let local = Arc::new(LocalStore::open(&directory.0, LocalStoreConfig::default()).unwrap());
    let project = local.project_or_create("sentry-sls").unwrap();
    let store: Arc<dyn LogStore> = project;
    store
        .create_logstore(LogstoreConfig {
            name: LOGSTORE.into(),
            ttl: 30,
            shard_count: 2,
            other: Default::default(),
        })
        .await
        .unwrap();
    store
        .create_index(LOGSTORE, required_index())
        .await
        .unwrap();
    let config = NodestoreConfig {
        logstore: LOGSTORE.into(),
        max_ids: 100,
        ..Default::default()
    };
    let app = sentry_sls_server::nodestore_api::router(Arc::clone(&store), config.clone()).merge(
        sentry_sls_server::groups_api::router(Arc::clone(&store), config),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(sentry_sls_server::serve(
        listener,
        app,
        std::future::pending(),
    ));
    Service {
        base: format!("http://{address}"),
        store,
        local,
        _directory: directory,
    }
}

/// Stores one event as ingest would (normalised, grouped, body encoded);
/// returns its node id and the stored body.
async fn ingest(service: &Service, project: u64, event: Value) -> (String, Vec<u8>) {
    let event_id = event["event_id"].as_str().unwrap().to_string();
    let envelope = format!(
        "{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\"}}\n{}\n",
        event
    );
    let envelope = Envelope::parse_slice(
        envelope.as_bytes(),
        &sentry_sls_event::envelope::Limits::default(),
    )
    .unwrap();
    let processed =
        sentry_sls_ingest::process(ProjectId(project), &envelope, SystemTime::now(), "test")
            .unwrap();
    let mut body = None;
    for batch in &processed.batches {
        for log in &batch.logs {
            let get = |key: &str| {
                log.contents
                    .iter()
                    .find(|(name, _)| name == key)
                    .map(|(_, value)| value.clone())
            };
            body = Some(sentry_sls_ingest::body::decode(get).unwrap());
        }
    }
    for batch in processed.batches {
        service.store.put_logs(LOGSTORE, batch).await.unwrap();
    }
    let node = node_id(ProjectId(project), &EventId::parse(&event_id).unwrap());
    (node, body.unwrap())
}

fn event(event_id: &str, message: &str, environment: &str) -> Value {
    json!({
        "event_id": event_id,
        "timestamp": SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64(),
        "platform": "python",
        "level": "error",
        "environment": environment,
        "release": "app@1",
        "message": message,
        "exception": {"values": [{"type": "ValueError", "value": message,
            "stacktrace": {"frames": [{"function": "pay", "module": "app.views", "in_app": true}]}}]},
    })
}

async fn get(client: &reqwest::Client, url: String) -> (u16, Vec<u8>) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let response = client.post(url).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn event_bodies_are_found_by_node_id_in_memory_and_in_segments() {
    let service = start().await;
    let client = reqwest::Client::new();
    let (first, first_body) = ingest(
        &service,
        7,
        event("a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4", "bad input", "prod"),
    )
    .await;
    // Flushed into a Parquet segment: the lookup filter of the segment is used.
    let project = service.local.project("sentry-sls").unwrap();
    tokio::task::spawn_blocking(move || project.flush_all().unwrap())
        .await
        .unwrap();
    let (second, second_body) = ingest(
        &service,
        7,
        event("ffffffffffffffffffffffffffffff01", "timeout", "staging"),
    )
    .await;

    for (node, body) in [(&first, &first_body), (&second, &second_body)] {
        let (status, bytes) = get(&client, format!("{}/v1/nodes/{node}", service.base)).await;
        assert_eq!(status, 200);
        assert_eq!(&bytes, body, "the stored bytes, unchanged");
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed["event_id"].as_str().unwrap().len(), 32);
    }
    // Same event id, another project: another node id, not found.
    let other = node_id(
        ProjectId(8),
        &EventId::parse("a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4").unwrap(),
    );
    let (status, body) = get(&client, format!("{}/v1/nodes/{other}", service.base)).await;
    assert_eq!(status, 404);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["type"], "not_found");
    // Upper case is not the same id (the search is case-insensitive; the API is not).
    let (status, _) = get(
        &client,
        format!("{}/v1/nodes/{}", service.base, first.to_uppercase()),
    )
    .await;
    assert_eq!(status, 404);

    let (status, answer) = post(
        &client,
        format!("{}/v1/nodes/get_multi", service.base),
        json!({"ids": [first, second, other, first]}),
    )
    .await;
    assert_eq!(status, 200);
    let nodes = answer["nodes"].as_object().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[&first].as_str().unwrap().as_bytes(), first_body);
    assert_eq!(nodes[&second].as_str().unwrap().as_bytes(), second_body);
    assert!(nodes[&other].is_null());
}

#[tokio::test]
async fn puts_tombstones_and_bulk_calls() {
    let service = start().await;
    let client = reqwest::Client::new();
    let url = |id: &str| format!("{}/v1/nodes/{id}", service.base);
    let data = "{\"foo\":\"a\"}\nother\n{\"foo\":\"b\"}";
    let response = client.put(url("node_1")).body(data).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        get(&client, url("node_1")).await,
        (200, data.as_bytes().to_vec())
    );

    // Overwrite, delete, write again: the newest record wins each time.
    client
        .put(url("node_1"))
        .body("{\"foo\":\"c\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(get(&client, url("node_1")).await.1, b"{\"foo\":\"c\"}");
    let response = client.delete(url("node_1")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(get(&client, url("node_1")).await.0, 404);
    client
        .put(url("node_1"))
        .body("{\"foo\":\"d\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(get(&client, url("node_1")).await.1, b"{\"foo\":\"d\"}");

    // A thousand-odd ids are several statements of 30 terms; still one call.
    let ids: Vec<String> = (0..95).map(|i| format!("{i:032x}")).collect();
    for id in ids.iter().step_by(3) {
        client
            .put(url(id))
            .body(format!("{{\"n\":\"{id}\"}}"))
            .send()
            .await
            .unwrap();
    }
    let (status, answer) = post(
        &client,
        format!("{}/v1/nodes/get_multi", service.base),
        json!({ "ids": ids }),
    )
    .await;
    assert_eq!(status, 200);
    for (position, id) in ids.iter().enumerate() {
        let value = &answer["nodes"][id];
        if position % 3 == 0 {
            assert_eq!(value.as_str().unwrap(), format!("{{\"n\":\"{id}\"}}"));
        } else {
            assert!(value.is_null(), "{id}");
        }
    }
    let (status, answer) = post(
        &client,
        format!("{}/v1/nodes/delete_multi", service.base),
        json!({"ids": [ids[0], ids[3], "node_1"]}),
    )
    .await;
    assert_eq!((status, answer["deleted"].as_u64()), (200, Some(3)));
    for id in [&ids[0], &ids[3], &"node_1".to_string()] {
        assert_eq!(get(&client, url(id)).await.0, 404);
    }
    assert_eq!(get(&client, url(&ids[6])).await.0, 200);

    // Bad requests are clear JSON errors.
    let too_many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    for body in [
        json!({"ids": too_many}),
        json!({"ids": ["a b"]}),
        json!(["x"]),
    ] {
        let (status, answer) = post(
            &client,
            format!("{}/v1/nodes/get_multi", service.base),
            body,
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(answer["error"]["type"], "invalid_request");
    }
    let response = client
        .put(url("bin"))
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // A body of several 512 KiB chunks goes through the zstd codec and back.
    let large = format!("{{\"x\":\"{}\"}}", "abc".repeat(300_000));
    let response = client
        .put(url("large"))
        .body(large.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(get(&client, url("large")).await.1, large.as_bytes());
}

#[tokio::test]
async fn groups_of_a_project_are_computed_from_the_store() {
    let service = start().await;
    let client = reqwest::Client::new();
    let started = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    ingest(
        &service,
        3,
        event("00000000000000000000000000000001", "boom", "prod"),
    )
    .await;
    ingest(
        &service,
        3,
        event("00000000000000000000000000000002", "boom", "staging"),
    )
    .await;
    ingest(
        &service,
        4,
        event("00000000000000000000000000000003", "boom", "prod"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(10)).await;

    let response = client
        .get(format!(
            "{}/v1/groups?project_id=3&since={}",
            service.base,
            started - 5
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let groups = answer["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{answer}");
    let group = &groups[0];
    assert_eq!(group["times_seen"], 2);
    assert_eq!(group["environments"], json!(["prod", "staging"]));
    assert_eq!(group["releases"], json!(["app@1"]));
    // One GroupRelease row per (release, environment), each with its own seen times.
    let release_seen = group["release_seen"].as_array().unwrap();
    let keys: Vec<(&str, &str, i64)> = release_seen
        .iter()
        .map(|seen| {
            assert_eq!(seen["first_seen"], seen["last_seen"], "{seen}");
            (
                seen["release"].as_str().unwrap(),
                seen["environment"].as_str().unwrap(),
                seen["times_seen"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys, [("app@1", "prod", 1), ("app@1", "staging", 1)]);
    assert_eq!(group["level"], "error");
    assert_eq!(group["platform"], "python");
    assert!(group["title"].as_str().unwrap().starts_with("ValueError"));
    assert_eq!(group["metadata"]["type"], "ValueError");
    assert!(group["group_id"].as_u64().unwrap() >= 1 << 52);
    assert_eq!(group["primary_hash"].as_str().unwrap().len(), 32);
    assert!(group["first_seen"].as_i64().unwrap() <= group["last_seen"].as_i64().unwrap());
    assert_eq!(answer["truncated"], false);

    // Nothing changed since now.
    let response = client
        .get(format!(
            "{}/v1/groups?project_id=3&since={}",
            service.base,
            started + 3600
        ))
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["groups"], json!([]));
    let response = client
        .get(format!("{}/v1/groups?since=1", service.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
