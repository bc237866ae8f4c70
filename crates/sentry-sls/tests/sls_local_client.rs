//! Our SLS client against the real `sls-local` binary: fault mode, wrong
//! keys, SIGKILL during sustained appends, and malformed requests.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{SlsLocal, ACCESS_KEY_ID, ACCESS_KEY_SECRET, PROJECT};
use sentry_sls_client::{SlsClient, SlsClientConfig};
use sentry_sls_store::{
    FieldIndex, FieldType, IndexConfig, LogBatch, LogRecord, LogStore, LogstoreConfig,
    QueryRequest, StoreErrorCode,
};

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

fn client(server: &SlsLocal, secret: &str, retries: u32) -> SlsClient {
    let mut config = SlsClientConfig::new(server.endpoint(), PROJECT, ACCESS_KEY_ID, secret);
    config.max_retries = retries;
    config.base_backoff = Duration::from_millis(5);
    config.max_backoff = Duration::from_millis(50);
    config.timeout = Duration::from_secs(20);
    SlsClient::new(config).unwrap()
}

async fn create(store: &SlsClient, logstore: &str) {
    store
        .create_logstore(LogstoreConfig {
            name: logstore.into(),
            ttl: 30,
            shard_count: 1,
            other: BTreeMap::new(),
        })
        .await
        .unwrap();
    let mut keys = BTreeMap::new();
    keys.insert("id".to_string(), FieldIndex::analytic(FieldType::Text));
    keys.insert("batch".to_string(), FieldIndex::analytic(FieldType::Text));
    store
        .create_index(
            logstore,
            IndexConfig {
                line: None,
                keys,
                other: BTreeMap::new(),
            },
        )
        .await
        .unwrap();
}

fn batch(number: usize, size: usize, time: u32) -> LogBatch {
    LogBatch {
        topic: "test".into(),
        source: "127.0.0.1".into(),
        tags: Vec::new(),
        logs: (0..size)
            .map(|i| LogRecord {
                time,
                time_ns: 0,
                contents: vec![
                    ("id".into(), format!("{number}-{i}")),
                    ("batch".into(), number.to_string()),
                ],
            })
            .collect(),
    }
}

fn sql(query: &str, from: u32) -> QueryRequest {
    QueryRequest {
        from: i64::from(from) - 60,
        to: i64::from(from) + 3600,
        query: query.into(),
        ..QueryRequest::default()
    }
}

fn cell(row: &[(String, String)], key: &str) -> String {
    row.iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.clone())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_mode_loses_and_duplicates_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let server = SlsLocal::start(
        directory.path(),
        Some("500=0.2,quota=0.2,incomplete=0.3,slow=0.05,seed=11"),
    );
    let store = client(&server, ACCESS_KEY_SECRET, 12);
    create(&store, "faults").await;
    let time = now();
    let batches = 30;
    let size = 400;
    for number in 0..batches {
        store
            .put_logs("faults", batch(number, size, time))
            .await
            .unwrap();
    }
    let result = store
        .get_logs(
            "faults",
            sql(
                "* | select count(*) as c, count(distinct id) as d, approx_distinct(batch) as b",
                time,
            ),
        )
        .await
        .unwrap();
    assert_eq!(result.progress, sentry_sls_store::Progress::Complete);
    let row = &result.rows[0];
    assert_eq!(
        cell(row, "c"),
        (batches * size).to_string(),
        "no loss, no duplicates"
    );
    assert_eq!(cell(row, "d"), (batches * size).to_string());
    assert_eq!(cell(row, "b"), batches.to_string());
    // The faults really happened and were retried through.
    assert!(server.requests("status=\"500\"") > 0, "no 500 was injected");
    assert!(server.requests("status=\"403\"") > 0, "no 403 was injected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_reported_without_retrying() {
    let directory = tempfile::tempdir().unwrap();
    let server = SlsLocal::start(directory.path(), None);
    let good = client(&server, ACCESS_KEY_SECRET, 5);
    create(&good, "keys").await;
    let before = server.requests("status=\"401\"");
    let wrong = client(&server, "not-the-secret", 5);
    let error = wrong
        .put_logs("keys", batch(0, 3, now()))
        .await
        .unwrap_err();
    assert_eq!(error.code, StoreErrorCode::SignatureNotMatch);
    assert!(error.request_id.is_some(), "the request id is surfaced");
    assert_eq!(
        server.requests("status=\"401\"") - before,
        1,
        "exactly one attempt"
    );
    let error = wrong.get_logs("keys", sql("*", now())).await.unwrap_err();
    assert_eq!(error.code, StoreErrorCode::SignatureNotMatch);
    assert_eq!(server.requests("status=\"401\"") - before, 2);
    // Non-retryable codes from the good key: exactly one attempt each.
    let before_404 = server.requests("status=\"404\"");
    let error = good
        .put_logs("missing", batch(0, 1, now()))
        .await
        .unwrap_err();
    assert_eq!(error.code, StoreErrorCode::LogStoreNotExist);
    assert_eq!(server.requests("status=\"404\"") - before_404, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_log_survives_sigkill() {
    let directory = tempfile::tempdir().unwrap();
    let mut server = SlsLocal::start(directory.path(), None);
    let store = Arc::new(client(&server, ACCESS_KEY_SECRET, 0));
    create(&store, "crash").await;
    let time = now();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for writer in 0..3 {
        let store = Arc::clone(&store);
        let acknowledged = Arc::clone(&acknowledged);
        writers.push(tokio::spawn(async move {
            for round in 0.. {
                let number = round * 3 + writer;
                if store
                    .put_logs("crash", batch(number, 250, time))
                    .await
                    .is_err()
                {
                    return;
                }
                acknowledged.lock().unwrap().push(number);
            }
        }));
    }
    // Sustained appends, then SIGKILL mid-stream.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged: BTreeSet<usize> = acknowledged.lock().unwrap().iter().copied().collect();
    assert!(
        acknowledged.len() > 10,
        "only {} batches were acknowledged",
        acknowledged.len()
    );
    let restarted = SlsLocal::start(directory.path(), None);
    let reader = client(&restarted, ACCESS_KEY_SECRET, 3);
    let result = reader
        .get_logs(
            "crash",
            sql(
                "* | select batch, count(*) as c group by batch limit 100000",
                time,
            ),
        )
        .await
        .unwrap();
    let counts: BTreeMap<usize, u64> = result
        .rows
        .iter()
        .map(|row| {
            (
                cell(row, "batch").parse().unwrap(),
                cell(row, "c").parse().unwrap(),
            )
        })
        .collect();
    for number in &acknowledged {
        assert_eq!(
            counts.get(number),
            Some(&250),
            "acknowledged batch {number} is missing or partial"
        );
    }
    // Unacknowledged batches may be there (written, ack lost) but never partially.
    assert!(counts.values().all(|&count| count == 250));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_creates_and_then_checks_the_logstore_and_index_through_the_sls_protocol() {
    let directory = tempfile::tempdir().unwrap();
    let server = SlsLocal::start(directory.path(), None);
    let run_setup = || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_sentry-sls"))
            .arg("setup")
            .env("SLS_ENDPOINT", server.endpoint())
            .env("SLS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("SLS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
            .env("SLS_PROJECT", PROJECT)
            .env("SLS_LOGSTORE", "events-rum")
            .env("SLS_TTL", "7")
            .env("SENTRY_SLS_LOG", "info")
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "setup failed: {log}");
        assert!(
            !log.contains(ACCESS_KEY_SECRET),
            "the secret must never be logged"
        );
        log
    };
    let first = run_setup();
    assert!(
        first.contains("created logstore") && first.contains("created the index"),
        "{first}"
    );
    let second = run_setup();
    assert!(
        second.contains("logstore exists") && second.contains("index is up to date"),
        "{second}"
    );
    let store = client(&server, ACCESS_KEY_SECRET, 3);
    assert_eq!(store.get_logstore("events-rum").await.unwrap().ttl, 7);
    let index = store.get_index("events-rum").await.unwrap();
    assert_eq!(index.keys.len(), 70);
    assert_eq!(index.keys["group_id"].field_type, FieldType::Long);
}
