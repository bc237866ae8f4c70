//! Compaction merges a day's segments into one: every row and every answer
//! stays the same, queries running meanwhile still read their files, a
//! crash never leaves a file counted twice, retention still drops days, and
//! the background compactor settles old days by itself.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::ArrayRef;
use arrow::row::{RowConverter, SortField};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sentry_sls_local::{LocalProject, LocalStore, LocalStoreConfig};
use sentry_sls_store::{
    FieldIndex, FieldType, IndexConfig, LogBatch, LogRecord, LogStore, LogstoreConfig,
    QueryRequest, QueryResult,
};

/// First day of the data (2023-12-09), long settled.
const DAY0: i64 = 19_700;
const DAYS: i64 = 3;
const ROWS: u32 = 6_000;

fn config(background: bool) -> LocalStoreConfig {
    LocalStoreConfig {
        flush_rows: 1_000,
        flush_interval: Duration::from_secs(3600),
        query_threads: 2,
        background_compaction: background,
        compact_interval: Duration::from_millis(50),
        ..LocalStoreConfig::default()
    }
}

fn index() -> IndexConfig {
    let mut keys = BTreeMap::new();
    for name in ["project_id", "group_id"] {
        keys.insert(name.to_string(), FieldIndex::analytic(FieldType::Long));
    }
    for name in ["event_id", "user", "level", "extra"] {
        keys.insert(name.to_string(), FieldIndex::analytic(FieldType::Text));
    }
    IndexConfig {
        keys,
        ..IndexConfig::default()
    }
}

fn time(i: u32) -> u32 {
    let day = i64::from(i) % DAYS;
    ((DAY0 + day) * 86_400) as u32 + (i.wrapping_mul(7_919) % 86_400)
}

/// Row `i`: three projects, 50 groups, users missing on some rows, a column
/// only some batches have, and one batch whose `group_id`s are not
/// canonical integers (so its segment stores them as text).
fn row(i: u32) -> LogRecord {
    let group = 1_000 + (i * i) % 50;
    let mut contents = vec![
        ("project_id".into(), (1 + i % 3).to_string()),
        (
            "group_id".into(),
            if (3_000..3_250).contains(&i) {
                format!("0{group}")
            } else {
                group.to_string()
            },
        ),
        (
            "event_id".into(),
            format!("{:032x}", u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        ),
        (
            "level".into(),
            ["error", "warning"][(i % 7 % 2) as usize].into(),
        ),
    ];
    if !i.is_multiple_of(10) {
        contents.push(("user".into(), format!("u{}", i % 37)));
    }
    if (2_000..2_100).contains(&i) {
        contents.push(("extra".into(), format!("x{}", i % 4)));
    }
    LogRecord {
        time: time(i),
        time_ns: i % 1000,
        contents,
    }
}

async fn setup(directory: &std::path::Path, background: bool) -> (LocalStore, Arc<LocalProject>) {
    setup_with(directory, background, row).await
}

/// [`row`] with every `group_id` a canonical integer (as ingest writes them).
fn canonical_row(i: u32) -> LogRecord {
    let mut record = row(i);
    for (key, value) in &mut record.contents {
        if key == "group_id" {
            *value = value.trim_start_matches('0').to_string();
        }
    }
    record
}

async fn setup_with(
    directory: &std::path::Path,
    background: bool,
    row: fn(u32) -> LogRecord,
) -> (LocalStore, Arc<LocalProject>) {
    let store = LocalStore::open(directory, config(background)).unwrap();
    let project = store.create_project("compaction").unwrap();
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
    for start in (0..ROWS).step_by(250) {
        let batch = LogBatch {
            topic: "t".into(),
            source: "s".into(),
            tags: Vec::new(),
            logs: (start..start + 250).map(row).collect(),
        };
        project.put_logs("events", batch).await.unwrap();
    }
    flush(&project).await;
    (store, project)
}

async fn flush(project: &Arc<LocalProject>) {
    let flushing = Arc::clone(project);
    tokio::task::spawn_blocking(move || flushing.flush_all())
        .await
        .unwrap()
        .unwrap();
}

async fn compact(project: &Arc<LocalProject>) -> usize {
    let compacting = Arc::clone(project);
    tokio::task::spawn_blocking(move || compacting.compact_all())
        .await
        .unwrap()
        .unwrap()
}

/// Whether `path` is deleted within a few seconds: a retired segment is removed
/// as soon as its last holder lets go, but off the async workers when that
/// holder was on one, so the removal may still be running.
async fn removed(path: &std::path::Path) -> bool {
    for _ in 0..100 {
        if !path.exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// `text` over every day of the data.
async fn query(project: &LocalProject, text: &str) -> QueryResult {
    query_range(project, text, DAY0 * 86_400, (DAY0 + DAYS) * 86_400).await
}

/// `text` over `[from, to)`.
async fn query_range(project: &LocalProject, text: &str, from: i64, to: i64) -> QueryResult {
    project
        .get_logs(
            "events",
            QueryRequest {
                from,
                to,
                query: text.into(),
                ..QueryRequest::default()
            },
        )
        .await
        .unwrap()
}

const QUERIES: [&str; 4] = [
    "* | select project_id, group_id, count(*) as c, count(distinct user) as u, \
     min(__time__) as lo, max(__time__) as hi, count(extra) as x \
     group by project_id, group_id order by project_id, group_id limit 1000",
    "* | select __time__, __time_ns_part__, event_id, project_id, group_id, user, level, extra \
     order by event_id limit 100000",
    "group_id: 1004 and project_id: 2 | select count(*) as c, max(event_id) as e",
    "* | select level, count(*) as c group by level order by level",
];

/// Every query's rows, plus the raw rows of one search.
async fn answers(project: &LocalProject) -> Vec<Vec<Vec<(String, String)>>> {
    let mut all = Vec::new();
    for text in QUERIES {
        all.push(query(project, text).await.rows);
    }
    let one = format!("{:032x}", 4_321u64.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    all.push(query(project, &format!("event_id: {one}")).await.rows);
    all
}

fn count(result: &QueryResult) -> u64 {
    result.rows[0]
        .iter()
        .find(|(key, _)| key == "c")
        .unwrap()
        .1
        .parse()
        .unwrap()
}

/// Whether the segment's rows are in (project_id, group_id, __time__) order.
/// Every row of a segment file, as one batch.
fn read_segment(path: &PathBuf) -> arrow::record_batch::RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn sorted(path: &PathBuf) -> bool {
    sorted_rows(&read_segment(path))
}

/// Whether the rows are in (project_id, group_id, time) order.
fn sorted_rows(all: &arrow::record_batch::RecordBatch) -> bool {
    let keys: Vec<ArrayRef> = ["project_id", "group_id", "__time__"]
        .iter()
        .map(|name| all.column_by_name(name).unwrap().clone())
        .collect();
    let converter = RowConverter::new(
        keys.iter()
            .map(|column| SortField::new(column.data_type().clone()))
            .collect(),
    )
    .unwrap();
    let rows = converter.convert_columns(&keys).unwrap();
    (1..rows.num_rows()).all(|i| rows.row(i - 1) <= rows.row(i))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_every_row_and_answer_and_sorts_each_day() {
    let directory = tempfile::tempdir().unwrap();
    let (store, project) = setup(directory.path(), false).await;
    let logstore = project.logstore("events").unwrap();
    let before = logstore.segments();
    assert!(
        before.len() >= 3 * DAYS as usize,
        "{} segments",
        before.len()
    );
    let expected = answers(&project).await;
    assert_eq!(expected[1].len(), ROWS as usize);

    let merged = compact(&project).await;
    assert_eq!(merged, before.len());
    let after = logstore.segments();
    assert_eq!(after.len(), DAYS as usize, "one segment per day");
    assert_eq!(
        after.iter().map(|segment| segment.rows).sum::<u64>(),
        u64::from(ROWS)
    );
    for segment in &after {
        assert!(segment.level > 0);
        let path = logstore.segment_path(segment);
        assert!(sorted(&path), "{} is not in key order", segment.path);
    }
    // The inputs are gone from disk, no temporary file is left.
    for segment in &before {
        assert!(
            removed(&logstore.segment_path(segment)).await,
            "{}",
            segment.path
        );
    }
    assert_eq!(answers(&project).await, expected);
    // Nothing left to merge.
    assert_eq!(compact(&project).await, 0);

    // After a restart the manifest names the compacted segments.
    drop(logstore);
    store.shutdown();
    drop(project);
    drop(store);
    let store = LocalStore::open(directory.path(), config(false)).unwrap();
    let project = store.project("compaction").unwrap();
    assert_eq!(project.logstore("events").unwrap().segments(), after);
    assert_eq!(answers(&project).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_during_compaction_read_their_snapshot() {
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = setup(directory.path(), false).await;
    let logstore = project.logstore("events").unwrap();
    // A snapshot taken before compaction keeps its files readable…
    let snapshot = logstore.snapshot(DAY0 * 86_400, (DAY0 + DAYS) * 86_400);
    let pinned = snapshot.segment_paths.clone();
    assert!(!pinned.is_empty());
    let queries = {
        let project = Arc::clone(&project);
        tokio::spawn(async move {
            let mut answered = 0;
            for _ in 0..40 {
                let result = query(&project, "* | select count(*) as c").await;
                assert_eq!(count(&result), u64::from(ROWS));
                answered += 1;
            }
            answered
        })
    };
    compact(&project).await;
    assert_eq!(queries.await.unwrap(), 40);
    for path in &pinned {
        assert!(
            path.exists(),
            "{} was deleted under a snapshot",
            path.display()
        );
    }
    // …until the snapshot is dropped.
    drop(snapshot);
    for path in &pinned {
        assert!(
            removed(path).await,
            "{} outlived its last snapshot",
            path.display()
        );
    }
    let result = query(&project, "* | select count(*) as c").await;
    assert_eq!(count(&result), u64::from(ROWS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_leftovers_are_removed_at_open() {
    let directory = tempfile::tempdir().unwrap();
    let (store, project) = setup(directory.path(), false).await;
    let logstore = project.logstore("events").unwrap();
    let inputs = logstore.segments();
    // Keep copies of a day's inputs, as a crash after the manifest switch
    // but before their deletion would leave them.
    let day0: Vec<(PathBuf, Vec<u8>)> = inputs
        .iter()
        .filter(|segment| segment.day == DAY0)
        .map(|segment| {
            let path = logstore.segment_path(segment);
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    compact(&project).await;
    let compacted = logstore.segments();
    let first = logstore.segment_path(&compacted[0]);
    let partition = first.parent().unwrap().to_path_buf();
    for (path, bytes) in &day0 {
        std::fs::write(path, bytes).unwrap();
    }
    // A merged file written before a crash, never named by the manifest, and
    // a half-written one.
    std::fs::copy(
        &first,
        partition.join("compacted-000000000000000000000001.parquet"),
    )
    .unwrap();
    std::fs::write(
        partition.join("compacted-000000000000000000000002.parquet.tmp"),
        b"PAR1 half",
    )
    .unwrap();
    drop(logstore);
    store.shutdown();
    drop(project);
    drop(store);

    let store = LocalStore::open(directory.path(), config(false)).unwrap();
    let project = store.project("compaction").unwrap();
    let logstore = project.logstore("events").unwrap();
    assert_eq!(logstore.segments(), compacted);
    let files: Vec<PathBuf> = std::fs::read_dir(&partition)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files, vec![first.clone()], "only the named segment is left");
    let result = query(&project, "* | select count(*) as c").await;
    assert_eq!(count(&result), u64::from(ROWS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_compacted_days() {
    let directory = tempfile::tempdir().unwrap();
    let (store, project) = setup(directory.path(), false).await;
    compact(&project).await;
    let logstore = project.logstore("events").unwrap();
    let compacted: Vec<PathBuf> = logstore
        .segments()
        .iter()
        .map(|segment| logstore.segment_path(segment))
        .collect();
    let mut settings = project.get_logstore("events").await.unwrap();
    settings.ttl = 1;
    project.update_logstore(settings).await.unwrap();
    drop(logstore);
    store.shutdown();
    drop(project);
    drop(store);
    // Retention runs when the flusher is first idle after opening.
    let store = LocalStore::open(directory.path(), config(false)).unwrap();
    let project = store.project("compaction").unwrap();
    let logstore = project.logstore("events").unwrap();
    for _ in 0..100 {
        if logstore.segments().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(logstore.segments().is_empty());
    for path in &compacted {
        assert!(removed(path).await, "{}", path.display());
    }
    let result = query(&project, "* | select count(*) as c").await;
    assert_eq!(count(&result), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_compactor_settles_old_days() {
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = setup(directory.path(), true).await;
    let logstore = project.logstore("events").unwrap();
    for _ in 0..200 {
        if logstore.segments().len() == DAYS as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let segments = logstore.segments();
    assert_eq!(segments.len(), DAYS as usize, "{segments:?}");
    let result = query(&project, "* | select count(*) as c").await;
    assert_eq!(count(&result), u64::from(ROWS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushes_write_sorted_day_segments_without_empty_columns() {
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = setup(directory.path(), false).await;
    let logstore = project.logstore("events").unwrap();
    let segments = logstore.segments();
    // Six flushes of rows spread over three days: a segment per flush and day.
    assert_eq!(segments.len(), 6 * DAYS as usize, "{segments:?}");
    let mut rows = 0;
    let mut with_extra = 0;
    for segment in &segments {
        let path = logstore.segment_path(segment);
        let all = read_segment(&path);
        assert!(
            sorted_rows(&all),
            "{path:?} is not in (project, group, time) order"
        );
        assert_eq!(all.num_rows() as u64, segment.rows);
        let times = all
            .column_by_name("__time__")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        let (low, high) = (
            arrow::compute::min(times).unwrap(),
            arrow::compute::max(times).unwrap(),
        );
        assert_eq!((low, high), (segment.min_time, segment.max_time));
        assert_eq!(low.div_euclid(86_400), segment.day);
        assert_eq!(high.div_euclid(86_400), segment.day);
        for name in ["user", "extra", "level", "event_id"] {
            if let Some(column) = all.column_by_name(name) {
                assert!(column.null_count() < all.num_rows(), "{name} is all null");
            }
        }
        with_extra += usize::from(all.column_by_name("extra").is_some());
        rows += segment.rows;
    }
    assert_eq!(rows, u64::from(ROWS));
    // Rows 2000..2100 (one flush, all three days) have `extra`; no other segment does.
    assert_eq!(with_extra, DAYS as usize);
}

/// A query for the latest (or earliest) rows reads the newest (oldest)
/// segments first and stops when older ones cannot rank: the same rows as
/// reading everything, from fewer input rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_rows_come_from_the_newest_segments_with_the_same_answer() {
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = setup(directory.path(), false).await;
    let everything = query(&project, "* | select count(*) as c").await;
    let all_rows = count(&everything);
    for (search, direction, limit) in [
        ("*", "desc", 1),
        ("*", "desc", 17),
        ("*", "asc", 5),
        ("group_id: 1004", "desc", 3),
        ("*", "desc", 2_500),
        ("*", "asc", 5_000),
        ("level: warning", "asc", 40),
    ] {
        let select = format!("{search} | select event_id, __time__ as t, group_id from log");
        let fast = query(
            &project,
            &format!("{select} order by t {direction}, event_id {direction} limit {limit}"),
        )
        .await;
        // Ordering by an expression is not a plain time order: read all.
        let reference = query(
            &project,
            &format!("{select} order by t + 0 {direction}, event_id {direction} limit {limit}"),
        )
        .await;
        assert_eq!(fast.rows, reference.rows, "{search} {direction} {limit}");
        assert_eq!(
            reference.processed_rows, all_rows,
            "{search} {direction} {limit}"
        );
        if limit < 100 && search == "*" {
            assert!(
                fast.processed_rows < all_rows / 2,
                "{search} {direction} {limit}: read {} of {all_rows}",
                fast.processed_rows
            );
        }
    }
}

/// Group counts and first/last seen over whole days come from the days'
/// rollups, the days a window cuts from their rows: the same answers as
/// reading every row (a condition on another column forces that), from
/// fewer rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_counts_over_whole_days_read_rollups_with_the_same_answers() {
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = setup_with(directory.path(), false, canonical_row).await;
    let all_rows = u64::from(ROWS);
    let (start, end) = (DAY0 * 86_400, (DAY0 + DAYS) * 86_400);
    let queries = [
        "* | select group_id as g, max(__time__) * 1000 as ls, count(group_id) over () as t, \
         sum(count(*)) over () as total from log where project_id in (1, 2) {extra} group by group_id \
         order by ls desc, g limit 20",
        "* | select group_id as g, (__time__ - __time__ % 86400) as d, count(*) as n from log \
         where group_id in (1004, 1009, 1016) {extra} group by group_id, (__time__ - __time__ % 86400) \
         order by d desc, g limit 100",
        "project_id: 2 | select count(*) as n, min(__time__) as lo, max(__time__) as hi from log \
         where true {extra}",
        "group_id: 1004 or group_id: 1009 | select project_id as p, count(*) as n, \
         min(__time__) as lo from log where __time__ >= {lo} {extra} group by project_id \
         having count(*) > 10 order by p",
        "group_id: 999999 | select count(*) as n, max(__time__) as hi from log where true {extra}",
        "* | select group_id as g, (__time__ - __time__ % 3600) as h, count(*) as n, \
         max(__time__) as last from log where group_id in (1004, 1009, 1016) {extra} \
         group by group_id, (__time__ - __time__ % 3600) order by h desc, g limit 1000",
    ];
    for (from, to) in [
        (start, end),
        (start + 40_000, end - 1_000),
        (start + 86_400, end),
        (start + 5 * 3_600, end - 7 * 3_600),
    ] {
        for text in queries {
            let lo = from + 50_000;
            let fast = text.replace("{extra}", "").replace("{lo}", &lo.to_string());
            let slow = text
                .replace("{extra}", "and level != 'none'")
                .replace("{lo}", &lo.to_string());
            let rolled = query_range(&project, &fast, from, to).await;
            let reference = query_range(&project, &slow, from, to).await;
            assert!(!reference.rows.is_empty(), "{fast}");
            assert_eq!(rolled.rows, reference.rows, "{fast} over [{from}, {to})");
            assert_eq!(rolled.keys, reference.keys, "{fast}");
            let rolls_up =
                !text.contains("{lo}") && !text.contains("3600") && !text.contains("999999");
            if (from, to) == (start, end) && rolls_up {
                assert!(
                    rolled.processed_rows < all_rows / 2,
                    "{fast}: read {} of {all_rows}",
                    rolled.processed_rows
                );
            }
        }
    }
}
