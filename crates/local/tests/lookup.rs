//! Id lookups (`node_id: x`) read only what may hold the id: same answers
//! as the full scan, fewer rows processed. The ignored test measures it on
//! a million rows (`cargo test --release -p sentry-sls-local --test lookup
//! -- --ignored --nocapture`).

use std::collections::BTreeMap;
use std::time::Instant;

use sentry_sls_local::{LocalProject, LocalStore, LocalStoreConfig};
use sentry_sls_store::{
    FieldIndex, FieldType, IndexConfig, LogBatch, LogRecord, LogStore, LogstoreConfig,
    QueryRequest, QueryResult,
};

const BASE: u32 = 1_700_000_000;

fn node(i: u64) -> String {
    format!("{:032x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn event(i: u64) -> String {
    format!("{:032x}", i.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0xe7)
}

async fn project(directory: &std::path::Path) -> (LocalStore, std::sync::Arc<LocalProject>) {
    // No background compaction: the tests count the segments read.
    let config = LocalStoreConfig {
        background_compaction: false,
        ..LocalStoreConfig::default()
    };
    let store = LocalStore::open(directory, config).unwrap();
    let project = store.create_project("lookup").unwrap();
    project
        .create_logstore(LogstoreConfig {
            name: "events".into(),
            ttl: 3650,
            shard_count: 1,
            other: BTreeMap::new(),
        })
        .await
        .unwrap();
    let mut keys = BTreeMap::new();
    let mut node_id = FieldIndex::analytic(FieldType::Text);
    node_id.doc_value = false;
    keys.insert("node_id".to_string(), node_id);
    keys.insert(
        "event_id".to_string(),
        FieldIndex::analytic(FieldType::Text),
    );
    keys.insert(
        "received".to_string(),
        FieldIndex::analytic(FieldType::Long),
    );
    project
        .create_index(
            "events",
            IndexConfig {
                keys,
                ..IndexConfig::default()
            },
        )
        .await
        .unwrap();
    (store, project)
}

async fn write(project: &LocalProject, range: std::ops::Range<u64>, body_bytes: usize) {
    let filler = "x".repeat(body_bytes);
    let ids: Vec<u64> = range.collect();
    for chunk in ids.chunks(10_000) {
        let logs = chunk
            .iter()
            .map(|&i| LogRecord {
                time: BASE + (i % 86_400) as u32,
                time_ns: 0,
                contents: vec![
                    ("node_id".into(), node(i)),
                    ("event_id".into(), event(i)),
                    ("received".into(), (u64::from(BASE) + i).to_string()),
                    ("body".into(), format!("{{\"i\":{i},\"f\":\"{filler}\"}}")),
                ],
            })
            .collect();
        project
            .put_logs(
                "events",
                LogBatch {
                    topic: "sentry_error".into(),
                    logs,
                    ..LogBatch::default()
                },
            )
            .await
            .unwrap();
    }
}

async fn search(project: &LocalProject, query: &str) -> QueryResult {
    project
        .get_logs(
            "events",
            QueryRequest {
                from: i64::from(BASE),
                to: i64::from(BASE) + 2 * 86_400,
                query: query.into(),
                line: 100,
                offset: 0,
                reverse: true,
            },
        )
        .await
        .unwrap()
}

fn bodies(result: &QueryResult) -> Vec<String> {
    let mut bodies: Vec<String> = result
        .rows
        .iter()
        .filter_map(|row| {
            row.iter()
                .find(|(key, _)| key == "body")
                .map(|(_, v)| v.clone())
        })
        .collect();
    bodies.sort();
    bodies
}

async fn flush(project: &std::sync::Arc<LocalProject>) {
    let project = std::sync::Arc::clone(project);
    tokio::task::spawn_blocking(move || project.flush_all().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn lookups_prune_segments_and_memtable_without_changing_answers() {
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = project(directory.path()).await;
    write(&project, 0..3000, 20).await;
    flush(&project).await;
    write(&project, 3000..6000, 20).await;
    flush(&project).await;
    write(&project, 6000..6500, 20).await; // memtable

    for ids in [vec![5], vec![4000, 6100], vec![1, 3001, 6001, 99_999]] {
        let pruned = ids
            .iter()
            .map(|&i| format!("node_id: {}", node(i)))
            .collect::<Vec<_>>()
            .join(" or ");
        // Same meaning, but not a pure id lookup: the full scan.
        let scanned = format!("({pruned}) or __topic__: no_such_topic");
        let (fast, slow) = (
            search(&project, &pruned).await,
            search(&project, &scanned).await,
        );
        assert_eq!(bodies(&fast), bodies(&slow), "{pruned}");
        let expected = ids.iter().filter(|&&i| i < 6500).count();
        assert_eq!(fast.rows.len(), expected, "{pruned}");
        assert!(fast.processed_rows <= slow.processed_rows);
        if ids.len() == 1 {
            // One segment of three thousand rows, nothing from the memtable.
            assert_eq!(
                (fast.processed_rows, slow.processed_rows),
                (3000, 6500),
                "{pruned}"
            );
        }
    }
    // Upper case and a phrase still go through the token rules.
    let upper = search(&project, &format!("node_id: {}", node(7).to_uppercase())).await;
    assert_eq!(upper.rows.len(), 1);
    let missing = search(&project, "node_id: no_such_node").await;
    assert_eq!(missing.rows.len(), 0);
    assert!(missing.processed_rows <= 1000, "{}", missing.processed_rows);
}

#[tokio::test]
async fn event_ids_in_sql_read_only_segments_whose_bloom_filters_may_hold_them() {
    let directory = tempfile::tempdir().unwrap();
    let (store, project) = project(directory.path()).await;
    write(&project, 0..3000, 20).await;
    flush(&project).await;
    write(&project, 3000..6000, 20).await;
    flush(&project).await;
    write(&project, 6000..6500, 20).await; // memtable

    let list = |ids: &[u64]| {
        ids.iter()
            .map(|&i| format!("'{}'", event(i)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for ids in [
        vec![5],
        vec![4000, 6100],
        vec![1, 3001, 99_999],
        vec![99_999],
    ] {
        let pruned = format!(
            "* | SELECT received FROM log WHERE received > 0 AND (event_id IN ({})) ORDER BY received",
            list(&ids)
        );
        // Same rows, but the condition is not a conjunct: every segment is read.
        let scanned = format!(
            "* | SELECT received FROM log WHERE event_id IN ({}) OR received < 0 ORDER BY received",
            list(&ids)
        );
        let (fast, slow) = (
            search(&project, &pruned).await,
            search(&project, &scanned).await,
        );
        assert_eq!(fast.rows, slow.rows, "{pruned}");
        assert_eq!(
            fast.rows.len(),
            ids.iter().filter(|&&i| i < 6500).count(),
            "{pruned}"
        );
        let segments = ids.iter().filter(|&&i| i < 6000).count() as u64;
        assert_eq!(
            (fast.processed_rows, slow.processed_rows),
            (500 + 3000 * segments, 6500),
            "{pruned}"
        );
    }
    // `=` and a nested SELECT over `log` prune too.
    let nested = format!(
        "* | SELECT b FROM (SELECT received AS b FROM log WHERE \"event_id\" = '{}') AS t",
        event(42)
    );
    let found = search(&project, &nested).await;
    assert_eq!(found.rows.len(), 1);
    assert_eq!(found.processed_rows, 3500);
    drop(store);
}

#[tokio::test]
async fn a_lookup_matching_many_rows_scans_instead_of_selecting() {
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = project(directory.path()).await;
    let logs: Vec<LogRecord> = (0..12_000u32)
        .map(|i| LogRecord {
            time: BASE + i,
            time_ns: 0,
            contents: vec![
                ("node_id".into(), format!("n{i}:shared")),
                ("body".into(), i.to_string()),
            ],
        })
        .collect();
    project
        .put_logs(
            "events",
            LogBatch {
                topic: "t".into(),
                logs,
                ..LogBatch::default()
            },
        )
        .await
        .unwrap();
    flush(&project).await;
    let fast = search(&project, "node_id: shared").await;
    let slow = search(&project, "node_id: shared or __topic__: no_such_topic").await;
    assert_eq!(fast.rows.len(), 100);
    assert_eq!(bodies(&fast), bodies(&slow));
    let one = search(&project, "node_id: n11999").await;
    assert_eq!(bodies(&one), ["11999"]);
}

#[tokio::test]
#[ignore = "benchmark: a million rows"]
async fn a_million_rows() {
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = project(directory.path()).await;
    let started = Instant::now();
    write(&project, 0..1_000_000, 200).await;
    flush(&project).await;
    println!(
        "wrote and flushed 1,000,000 rows in {:?}",
        started.elapsed()
    );
    for round in 0..3 {
        let id = node(123_457 + round);
        let pruned = format!("node_id: {id}");
        let scanned = format!("node_id: {id} or __topic__: no_such_topic");
        let started = Instant::now();
        let fast = search(&project, &pruned).await;
        let fast_time = started.elapsed();
        let started = Instant::now();
        let slow = search(&project, &scanned).await;
        let slow_time = started.elapsed();
        assert_eq!(bodies(&fast), bodies(&slow));
        assert_eq!(fast.rows.len(), 1);
        println!(
            "lookup {round}: pruned {fast_time:?} ({} rows read), full scan {slow_time:?} ({} rows read)",
            fast.processed_rows, slow.processed_rows
        );
    }
    let ids: Vec<String> = (0..30)
        .map(|i| format!("node_id: {}", node(i * 33_331)))
        .collect();
    let started = Instant::now();
    let many = search(&project, &ids.join(" or ")).await;
    println!(
        "30 ids in one statement: {:?}, {} rows",
        started.elapsed(),
        many.rows.len()
    );
}
