//! The embedded store end to end: appends, flushes, restarts, and SLS
//! queries checked against the same computation done here over the rows.

use std::collections::BTreeMap;
use std::time::Duration;

use sentry_sls_local::{LocalStore, LocalStoreConfig};
use sentry_sls_store::{
    FieldIndex, FieldType, IndexConfig, LogBatch, LogRecord, LogStore, LogstoreConfig,
    QueryRequest, QueryResult, StoreErrorCode,
};

const BASE: u32 = 1_700_000_000;

fn index() -> IndexConfig {
    let mut keys = BTreeMap::new();
    keys.insert("level".to_string(), FieldIndex::analytic(FieldType::Text));
    keys.insert("message".to_string(), FieldIndex::analytic(FieldType::Text));
    keys.insert("user".to_string(), FieldIndex::analytic(FieldType::Text));
    keys.insert("latency".to_string(), FieldIndex::analytic(FieldType::Long));
    keys.insert("ratio".to_string(), FieldIndex::analytic(FieldType::Double));
    keys.insert("payload".to_string(), FieldIndex::analytic(FieldType::Json));
    IndexConfig {
        line: Some(serde_json::json!({"token": [" ", ",", ":"], "caseSensitive": false})),
        keys,
        other: BTreeMap::new(),
    }
}

fn config() -> LocalStoreConfig {
    LocalStoreConfig {
        flush_rows: 2_000,
        flush_interval: Duration::from_secs(3600),
        query_threads: 2,
        ..LocalStoreConfig::default()
    }
}

/// Row `i` of the test data: deterministic, with skewed levels and users.
fn row(i: u32) -> LogRecord {
    let level = ["error", "warning", "info"][(i % 7 % 3) as usize];
    LogRecord {
        time: BASE + i * 30,
        time_ns: 0,
        contents: vec![
            ("level".into(), level.into()),
            (
                "message".into(),
                format!("request {} failed at step{}", i % 11, i % 5),
            ),
            ("user".into(), format!("u{}", (i * i) % 13)),
            ("latency".into(), (i % 997).to_string()),
            ("ratio".into(), format!("{}.5", i % 10)),
            ("payload".into(), format!(r#"{{"a":{{"b":"x{}"}}}}"#, i % 4)),
        ],
    }
}

async fn setup(directory: &std::path::Path, rows: u32) -> LocalStore {
    let store = LocalStore::open(directory, config()).unwrap();
    let project = store.create_project("test-project").unwrap();
    project
        .create_logstore(LogstoreConfig {
            name: "events".into(),
            ttl: 3650,
            shard_count: 1,
            other: BTreeMap::new(),
        })
        .await
        .unwrap();
    project.create_index("events", index()).await.unwrap();
    let mut next = 0;
    while next < rows {
        let end = (next + 700).min(rows);
        let batch = LogBatch {
            topic: "t".into(),
            source: "127.0.0.1".into(),
            tags: vec![("host".into(), "h1".into())],
            logs: (next..end).map(row).collect(),
        };
        project.put_logs("events", batch).await.unwrap();
        next = end;
    }
    store
}

async fn sql(store: &LocalStore, query: &str) -> QueryResult {
    store
        .project("test-project")
        .unwrap()
        .get_logs(
            "events",
            QueryRequest {
                from: i64::from(BASE),
                to: i64::from(BASE) + 10_000_000,
                query: query.into(),
                ..QueryRequest::default()
            },
        )
        .await
        .unwrap()
}

fn value<'a>(row: &'a [(String, String)], key: &str) -> &'a str {
    &row.iter().find(|(name, _)| name == key).unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_match_an_independent_computation_across_flushes_and_restarts() {
    let directory = tempfile::tempdir().unwrap();
    let rows = 2_500;
    let store = setup(directory.path(), rows).await;
    let expected_levels = |rows: u32| {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for i in 0..rows {
            *counts
                .entry(value(&row(i).contents, "level").to_string())
                .or_default() += 1;
        }
        counts
    };
    let check = |result: QueryResult| {
        assert_eq!(result.keys, vec!["level".to_string(), "c".to_string()]);
        let got: BTreeMap<String, u64> = result
            .rows
            .iter()
            .map(|r| {
                (
                    value(r, "level").to_string(),
                    value(r, "c").parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, expected_levels(rows));
    };
    check(
        sql(
            &store,
            "* | select level, count(*) as c group by level order by level",
        )
        .await,
    );
    // Part of the rows is in segments (flush at 2,000), part in the memtable.
    // The flusher is asynchronous: wait (bounded) until the frozen part is written.
    let logstore = store
        .project("test-project")
        .unwrap()
        .logstore("events")
        .unwrap();
    let mut waited = 0;
    while logstore.stats().1 == 0 && waited < 200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let (memtable, segment_rows, _) = logstore.stats();
    assert!(
        segment_rows > 0 && memtable > 0,
        "memtable {memtable}, segments {segment_rows}"
    );
    drop(logstore);
    check(
        sql(
            &store,
            "* | select level, count(*) as c group by level order by level",
        )
        .await,
    );
    drop(store);
    // Restart: WAL replay plus segments give the same answer.
    let store = LocalStore::open(directory.path(), config()).unwrap();
    check(
        sql(
            &store,
            "* | select level, count(*) as c group by level order by level",
        )
        .await,
    );
    // After a full flush, still the same.
    let project = store.project("test-project").unwrap();
    tokio::task::spawn_blocking(move || project.flush_all())
        .await
        .unwrap()
        .unwrap();
    check(
        sql(
            &store,
            "* | select level, count(*) as c group by level order by level",
        )
        .await,
    );

    // Typed columns, Presto functions.
    let result = sql(&store, "* | select sum(latency) as s, max(ratio) as m, count_if(latency > 500) as big, approx_distinct(user) as users").await;
    let sum: u64 = (0..rows).map(|i| u64::from(i % 997)).sum();
    assert_eq!(value(&result.rows[0], "s"), sum.to_string());
    assert_eq!(value(&result.rows[0], "m"), "9.5");
    assert_eq!(
        value(&result.rows[0], "big"),
        (0..rows).filter(|i| i % 997 > 500).count().to_string()
    );
    let users: std::collections::BTreeSet<u32> = (0..rows).map(|i| (i * i) % 13).collect();
    assert_eq!(value(&result.rows[0], "users"), users.len().to_string());
    let result = sql(&store, "* | select user, max_by(latency, __time__) as last, min_by(latency, __time__) as first group by user order by user limit 3").await;
    for r in &result.rows {
        let user = value(r, "user");
        let matching: Vec<u32> = (0..rows)
            .filter(|i| format!("u{}", (i * i) % 13) == user)
            .collect();
        assert_eq!(
            value(r, "last"),
            (matching.last().unwrap() % 997).to_string()
        );
        assert_eq!(
            value(r, "first"),
            (matching.first().unwrap() % 997).to_string()
        );
    }
    // Search part: token match, field match, numeric range, not.
    let result = sql(
        &store,
        "level:error and latency >= 900 | select count(*) as c",
    )
    .await;
    let expected = (0..rows)
        .filter(|&i| i % 7 % 3 == 0 && i % 997 >= 900)
        .count();
    assert_eq!(value(&result.rows[0], "c"), expected.to_string());
    let result = sql(&store, "step3 not level:info | select count(*) as c").await;
    let expected = (0..rows).filter(|&i| i % 5 == 3 && i % 7 % 3 != 2).count();
    assert_eq!(value(&result.rows[0], "c"), expected.to_string());
    // JSON, dates, NULL rendering, paging with LIMIT offset, count.
    let result = sql(&store, "* | select json_extract_scalar(payload, '$.a.b') as b, count(*) as c group by b order by b").await;
    assert_eq!(result.rows.len(), 4);
    assert_eq!(value(&result.rows[0], "b"), "x0");
    let result = sql(
        &store,
        "* | select date_trunc('hour', __time__) as h, count(*) as c group by h order by h limit 1",
    )
    .await;
    assert_eq!(value(&result.rows[0], "h"), "2023-11-14 22:00:00.000");
    let result = sql(
        &store,
        "* | select json_extract_scalar(payload, '$.missing') as n limit 1",
    )
    .await;
    assert_eq!(value(&result.rows[0], "n"), "null");
    let result = sql(&store, "* | select __time__ order by __time__ limit 10, 5").await;
    assert_eq!(result.rows.len(), 5);
    assert_eq!(
        value(&result.rows[0], "__time__"),
        (BASE + 10 * 30).to_string()
    );
    let result = sql(&store, "* | select level").await;
    assert_eq!(result.rows.len(), 100, "SLS's default LIMIT is 100");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_only_results_are_raw_rows_in_time_order() {
    let directory = tempfile::tempdir().unwrap();
    let store = setup(directory.path(), 300).await;
    let project = store.project("test-project").unwrap();
    let request = QueryRequest {
        from: i64::from(BASE),
        to: i64::from(BASE) + 100_000,
        query: "level:warning".into(),
        line: 10,
        offset: 5,
        reverse: true,
    };
    let result = project.get_logs("events", request).await.unwrap();
    assert!(!result.has_sql);
    let expected: Vec<u32> = (0..300)
        .rev()
        .filter(|i| i % 7 % 3 == 1)
        .skip(5)
        .take(10)
        .collect();
    let got: Vec<u32> = result
        .rows
        .iter()
        .map(|r| value(r, "__time__").parse::<u32>().unwrap())
        .collect();
    assert_eq!(
        got,
        expected.iter().map(|i| BASE + i * 30).collect::<Vec<_>>()
    );
    let first = &result.rows[0];
    assert_eq!(value(first, "__tag__:host"), "h1");
    assert_eq!(value(first, "__source__"), "127.0.0.1");
    assert_eq!(value(first, "level"), "warning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_use_sls_codes() {
    let directory = tempfile::tempdir().unwrap();
    let store = setup(directory.path(), 10).await;
    let project = store.project("test-project").unwrap();
    let query = |text: &str, from: i64, to: i64| QueryRequest {
        from,
        to,
        query: text.into(),
        ..QueryRequest::default()
    };
    let base = i64::from(BASE);
    let code = |result: Result<QueryResult, sentry_sls_store::StoreError>| result.unwrap_err().code;
    assert_eq!(
        code(
            project
                .get_logs("events", query("* | select nope(", base, base + 10))
                .await
        ),
        StoreErrorCode::ParameterInvalid
    );
    assert_eq!(
        code(
            project
                .get_logs(
                    "events",
                    query("* | select missing_column", base, base + 10)
                )
                .await
        ),
        StoreErrorCode::ParameterInvalid
    );
    assert_eq!(
        code(
            project
                .get_logs("events", query("unindexed:x", base, base + 10))
                .await
        ),
        StoreErrorCode::ParameterInvalid
    );
    assert_eq!(
        code(project.get_logs("events", query("*", base, base)).await),
        StoreErrorCode::InvalidTimeRange
    );
    assert_eq!(
        code(project.get_logs("nope", query("*", base, base + 1)).await),
        StoreErrorCode::LogStoreNotExist
    );
    assert_eq!(
        store.project("nope").err().map(|error| error.code),
        Some(StoreErrorCode::ProjectNotExist)
    );
    let duplicate = project
        .create_logstore(LogstoreConfig {
            name: "events".into(),
            ttl: 30,
            shard_count: 1,
            other: BTreeMap::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(duplicate.code, StoreErrorCode::LogStoreAlreadyExist);
}

/// Keyed appends commit once per (stream, position), whether the repeat
/// comes from the WAL, from a flushed segment's manifest, or after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_appends_commit_once_across_flushes_and_restarts() {
    use sentry_sls_store::WriteKey;
    let directory = tempfile::tempdir().unwrap();
    let key = |stream: &str, offset: u64| WriteKey {
        stream: stream.into(),
        position: (1, offset),
    };
    let batch = |from: u32, to: u32| LogBatch {
        topic: "t".into(),
        source: "s".into(),
        tags: Vec::new(),
        logs: (from..to).map(row).collect(),
    };
    let count = |store: LocalStore| async move {
        let result = sql(&store, "* | select count(*) as n").await;
        let n: u64 = value(&result.rows[0], "n").parse().unwrap();
        (store, n)
    };
    let store = setup(directory.path(), 0).await;
    let project = store.project("test-project").unwrap();
    assert!(project
        .put_logs_once("events", batch(0, 10), key("a", 100))
        .await
        .unwrap());
    // A re-send of the same batch, and an older one, are skipped.
    assert!(!project
        .put_logs_once("events", batch(0, 10), key("a", 100))
        .await
        .unwrap());
    assert!(!project
        .put_logs_once("events", batch(0, 5), key("a", 50))
        .await
        .unwrap());
    // Another stream has its own positions.
    assert!(project
        .put_logs_once("events", batch(10, 20), key("b", 100))
        .await
        .unwrap());
    let (store, n) = count(store).await;
    assert_eq!(n, 20);
    // Marks survive a restart that replays the WAL...
    store.shutdown();
    drop(project);
    drop(store);
    let store = LocalStore::open(directory.path(), config()).unwrap();
    let project = store.project("test-project").unwrap();
    assert!(!project
        .put_logs_once("events", batch(0, 10), key("a", 100))
        .await
        .unwrap());
    assert!(project
        .put_logs_once("events", batch(20, 30), key("a", 200))
        .await
        .unwrap());
    // ...and a flush that moves them from the WAL into the manifest.
    let flushing = std::sync::Arc::clone(&project);
    tokio::task::spawn_blocking(move || flushing.flush_all())
        .await
        .unwrap()
        .unwrap();
    store.shutdown();
    drop(project);
    drop(store);
    let store = LocalStore::open(directory.path(), config()).unwrap();
    let project = store.project("test-project").unwrap();
    for (from, to, stream, offset) in [(20, 30, "a", 200), (10, 20, "b", 100), (0, 10, "a", 100)] {
        assert!(
            !project
                .put_logs_once("events", batch(from, to), key(stream, offset))
                .await
                .unwrap(),
            "{stream}@{offset} was applied before the flush"
        );
    }
    let (_store, n) = count(store).await;
    assert_eq!(n, 30);
}

/// `long` keys are stored as Int64 where every value is a canonical
/// integer; a batch holding any other spelling keeps text. Answers must not
/// depend on which: raw rows show the stored strings, numeric search and
/// SQL see the numbers (non-numbers are NULL), across memtable and
/// segments in any mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_keys_read_alike_typed_or_not() {
    let directory = tempfile::tempdir().unwrap();
    let store = setup(directory.path(), 0).await;
    let project = store.project("test-project").unwrap();
    let values = [
        vec!["5", "12", "-3"],
        vec!["007", "5", "x"],
        vec!["9", "5", "40"],
    ];
    let mut time = BASE;
    for (round, batch) in values.iter().enumerate() {
        let logs = batch
            .iter()
            .map(|latency| {
                time += 1;
                LogRecord {
                    time,
                    time_ns: 0,
                    contents: vec![
                        ("latency".into(), latency.to_string()),
                        ("level".into(), format!("r{round}")),
                    ],
                }
            })
            .collect();
        let batch = LogBatch {
            topic: "t".into(),
            source: "s".into(),
            tags: Vec::new(),
            logs,
        };
        project.put_logs("events", batch).await.unwrap();
        if round == 0 {
            let flushing = project.clone();
            tokio::task::spawn_blocking(move || flushing.flush_all())
                .await
                .unwrap()
                .unwrap();
        }
    }
    let all: Vec<&str> = values.iter().flatten().copied().collect();
    let numbers: Vec<i64> = all.iter().filter_map(|v| v.parse::<i64>().ok()).collect();
    for flushed in [false, true] {
        if flushed {
            let flushing = project.clone();
            tokio::task::spawn_blocking(move || flushing.flush_all())
                .await
                .unwrap()
                .unwrap();
        }
        let raw = sql(&store, "*").await;
        let mut shown: Vec<String> = raw
            .rows
            .iter()
            .map(|row| value(row, "latency").to_string())
            .collect();
        shown.sort();
        let mut expected: Vec<String> = all.iter().map(|v| v.to_string()).collect();
        expected.sort();
        assert_eq!(shown, expected, "raw rows keep the stored text");
        let fives = sql(&store, "latency: 5 | select count(*) AS n").await;
        assert_eq!(value(&fives.rows[0], "n"), "3");
        let range = sql(&store, "latency > 6 | select count(*) AS n").await;
        let expected = numbers.iter().filter(|n| **n > 6).count();
        assert_eq!(value(&range.rows[0], "n"), expected.to_string());
        let totals = sql(
            &store,
            "* | select sum(latency) AS s, count(latency) AS c, max(latency) AS m",
        )
        .await;
        assert_eq!(
            value(&totals.rows[0], "s"),
            numbers.iter().sum::<i64>().to_string()
        );
        assert_eq!(value(&totals.rows[0], "c"), numbers.len().to_string());
        assert_eq!(value(&totals.rows[0], "m"), "40");
    }
}

#[tokio::test]
async fn a_data_directory_in_use_cannot_be_opened_twice() {
    // Two stores on one directory would interleave WAL segments and manifests.
    let directory = tempfile::tempdir().unwrap();
    let store = LocalStore::open(directory.path(), config()).unwrap();
    let error = LocalStore::open(directory.path(), config())
        .err()
        .expect("a second open of a directory in use succeeded");
    assert!(
        error.to_string().contains("in use by another process"),
        "{error}"
    );
    store.shutdown();
    drop(store);
    LocalStore::open(directory.path(), config()).unwrap();
}
