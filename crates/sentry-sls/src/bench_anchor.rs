//! `sentry-sls bench query --anchor DIR`: the ClickHouse anchor's own data
//! (shared/bench/clickhouse-anchor, `errors.parquet`) imported into an
//! embedded store as records of docs/schema.md, the anchor's Q1–Q8 sent as
//! SnQL through the Snuba HTTP API, and ClickHouse (chdb, via the anchor's
//! `run.py --engines chdb`) timed in the same run on the same events. Every
//! answer is checked against ClickHouse's result rows.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, TimeUnit, UInt64Type, UInt8Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use sentry_sls_local::{LocalStore, LocalStoreConfig};
use sentry_sls_store::{LogBatch, LogRecord, LogStore};
use serde_json::{json, Value};

use crate::bench::median;
use crate::bench_query::{QueryBenchArgs, SnubaServer};

const DAY: i64 = 86_400;
/// Logstore TTL for the anchor's data (dated 2025-09): the maximum, so
/// retention keeps it.
const TTL_DAYS: u32 = 3650;
const LOGSTORE: &str = "logstore-rum";
/// The 25 groups of Q4/Q5 (queries.sql `G25`) and the hottest group.
const G25: &str = "24796, 18553, 12310, 6067, 29824, 17338, 28609, 27394, 26179, 23749, 18889, \
                   6739, 12439, 18139, 29539, 28039, 26539, 25039, 22039, 19039, 16039, 13039, \
                   10039, 7039, 4039";
const HOTTEST: u64 = 24796;
/// Project 1 once per group of `G25`, as Sentry's unhandled-flag query lists it.
const P25: &str = "1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1";
const EVENT: &str = "6cec947f620a3e33ab4642d7ae271e4e";
const W14: &str = "timestamp >= toDateTime('2025-09-03T12:00:00') AND timestamp < toDateTime('2025-09-17T12:00:00')";
const W24: &str = "timestamp >= toDateTime('2025-09-16T12:00:00') AND timestamp < toDateTime('2025-09-17T12:00:00')";
/// Promoted tags: record key ← tag key (docs/schema.md §1.3), besides the
/// ones the anchor has as columns (environment, release, level, user).
const PROMOTED_TAGS: [(&str, &str); 7] = [
    ("dist", "sentry:dist"),
    ("transaction_name", "transaction"),
    ("logger", "logger"),
    ("browser", "browser"),
    ("browser_name", "browser.name"),
    ("os_name", "os.name"),
    ("device", "device"),
];

/// The names of the anchor queries `--queries` selects (all without it).
fn selected_names(args: &QueryBenchArgs) -> Vec<&'static str> {
    queries()
        .into_iter()
        .map(|(name, _, _)| name)
        .filter(|name| {
            args.queries.is_empty()
                || args
                    .queries
                    .iter()
                    .any(|prefix| name.starts_with(prefix.as_str()))
        })
        .collect()
}

/// The anchor's queries (names as in queries.sql) as the SnQL Sentry sends
/// for them, and the result columns in ClickHouse's order.
fn queries() -> Vec<(&'static str, String, &'static [&'static str])> {
    let list = |aggregate: &str, alias: &str| {
        format!(
            "MATCH (events SAMPLE 1.0) SELECT {aggregate} AS `{alias}`, uniq(group_id) AS `total` BY group_id \
             WHERE {W14} AND project_id IN tuple(1) AND type != 'transaction' \
             ORDER BY {alias} DESC, group_id ASC LIMIT 150 OFFSET 0 TOTALS True"
        )
    };
    let spark = |window: &str, granularity: u64| {
        format!(
            "MATCH (events) SELECT count() AS `aggregate` BY group_id, time WHERE group_id IN tuple({G25}) \
             AND {window} AND project_id IN tuple(1) ORDER BY time DESC LIMIT 10000 OFFSET 0 \
             GRANULARITY {granularity}"
        )
    };
    vec![
        (
            "Q1_issues_sort_date",
            list("multiply(toUInt64(max(timestamp)), 1000)", "last_seen"),
            &["group_id", "last_seen", "total"],
        ),
        (
            "Q2_issues_sort_freq",
            list("count()", "times_seen"),
            &["group_id", "times_seen", "total"],
        ),
        (
            "Q3_issues_sort_user",
            list("uniq(tags[sentry:user])", "user_count"),
            &["group_id", "user_count", "total"],
        ),
        (
            "Q4_seen_stats_25_groups",
            format!(
                "MATCH (events) SELECT count() AS `times_seen`, min(timestamp) AS `first_seen`, \
                 max(timestamp) AS `last_seen`, uniq(tags[sentry:user]) AS `count` BY group_id \
                 WHERE group_id IN tuple({G25}) AND project_id IN tuple(1) AND {W14} LIMIT 1000 OFFSET 0"
            ),
            &["group_id", "times_seen", "first_seen", "last_seen", "count"],
        ),
        (
            "Q5h_sparkline_hourly_24h",
            spark(W24, 3600),
            &["group_id", "time", "aggregate"],
        ),
        (
            "Q5d_sparkline_daily_14d",
            spark(W14, 86400),
            &["group_id", "time", "aggregate"],
        ),
        (
            "Q6_tag_facets_hot_group",
            format!(
                "MATCH (events) SELECT count() AS `count`, min(timestamp) AS `first_seen`, \
                 max(timestamp) AS `last_seen` BY tags_key, tags_value WHERE group_id IN tuple({HOTTEST}) \
                 AND project_id IN tuple(1) AND {W14} ORDER BY count DESC LIMIT 10 BY tags_key \
                 LIMIT 1000 OFFSET 0"
            ),
            &["tags_key", "tags_value", "count", "first_seen", "last_seen"],
        ),
        (
            "Q7_latest_event_hot_group",
            format!(
                "MATCH (events) SELECT event_id, group_id, project_id, timestamp WHERE group_id IN \
                 tuple({HOTTEST}) AND project_id IN tuple(1) AND {W14} \
                 ORDER BY timestamp DESC, event_id DESC LIMIT 1 OFFSET 0"
            ),
            &["event_id", "group_id", "project_id", "timestamp"],
        ),
        (
            "Q8_event_by_id",
            format!(
                "MATCH (events) SELECT event_id, group_id, project_id, timestamp WHERE \
                 event_id IN tuple('{EVENT}') AND project_id IN tuple(1) AND {W14} LIMIT 1 OFFSET 0"
            ),
            &["event_id", "group_id", "project_id", "timestamp"],
        ),
        (
            // No ClickHouse figure in the anchor's queries.sql: ours only.
            "Q9_unhandled_flag_25_groups",
            format!(
                "MATCH (events) SELECT group_id, argMax(has(exception_stacks.mechanism_handled, 0), timestamp) \
                 AS `unhandled` BY group_id WHERE {W14} AND project_id IN tuple({P25}) AND project_id IN \
                 tuple({P25}) AND group_id IN tuple({G25}) ORDER BY group_id ASC"
            ),
            &["group_id", "unhandled"],
        ),
    ]
}

// ------------------------------------------------------------------ import

fn cast(array: &ArrayRef, to: &DataType) -> anyhow::Result<ArrayRef> {
    Ok(arrow::compute::cast(array, to)?)
}

/// Column `name` of `batch` as epoch values in `unit`.
fn epoch(batch: &RecordBatch, name: &str, unit: TimeUnit) -> anyhow::Result<Option<ArrayRef>> {
    let Some(column) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let typed = cast(column, &DataType::Timestamp(unit, None))?;
    Ok(Some(cast(&typed, &DataType::Int64)?))
}

fn strings(batch: &RecordBatch, name: &str) -> anyhow::Result<Option<ArrayRef>> {
    batch
        .column_by_name(name)
        .map(|column| cast(column, &DataType::Utf8))
        .transpose()
}

/// A UUID column (FixedSizeBinary(16) or text) as 32 lowercase hex digits.
fn uuid_hex(array: &dyn Array, row: usize) -> Option<String> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::FixedSizeBinary(_) => Some(
            array
                .as_fixed_size_binary()
                .value(row)
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
        ),
        DataType::Utf8 => Some(
            array
                .as_string::<i32>()
                .value(row)
                .replace('-', "")
                .to_lowercase(),
        ),
        DataType::LargeUtf8 => Some(
            array
                .as_string::<i64>()
                .value(row)
                .replace('-', "")
                .to_lowercase(),
        ),
        other => panic!("unexpected UUID column type {other}"),
    }
}

fn list_strings(array: &dyn Array, row: usize) -> Vec<Option<String>> {
    if array.is_null(row) {
        return Vec::new();
    }
    let values = array.as_list::<i32>().value(row);
    let values = arrow::compute::cast(&values, &DataType::Utf8).expect("list values as text");
    let values = values.as_string::<i32>();
    (0..values.len())
        .map(|i| (!values.is_null(i)).then(|| values.value(i).to_string()))
        .collect()
}

fn list_u8(array: &dyn Array, row: usize) -> Vec<Option<u8>> {
    if array.is_null(row) {
        return Vec::new();
    }
    let values = array.as_list::<i32>().value(row);
    let values = arrow::compute::cast(&values, &DataType::UInt8).expect("list values as u8");
    let values = values.as_primitive::<UInt8Type>();
    (0..values.len())
        .map(|i| (!values.is_null(i)).then(|| values.value(i)))
        .collect()
}

/// The rows of `batch` whose day is `day`, as records of docs/schema.md.
fn records(batch: &RecordBatch, day: i64, out: &mut Vec<LogRecord>) -> anyhow::Result<()> {
    let need = |array: Option<ArrayRef>, name: &str| {
        array.with_context(|| format!("errors.parquet has no column {name}"))
    };
    let timestamp = need(epoch(batch, "timestamp", TimeUnit::Second)?, "timestamp")?;
    let timestamp = timestamp.as_primitive::<Int64Type>();
    let timestamp_ms = need(
        epoch(batch, "timestamp_ms", TimeUnit::Millisecond)?,
        "timestamp_ms",
    )?;
    let timestamp_ms = timestamp_ms.as_primitive::<Int64Type>();
    let received = epoch(batch, "received", TimeUnit::Second)?;
    let first_seen = epoch(batch, "group_first_seen", TimeUnit::Second)?;
    let project = cast(
        batch.column_by_name("project_id").context("project_id")?,
        &DataType::UInt64,
    )?;
    let project = project.as_primitive::<UInt64Type>();
    let group = cast(
        batch.column_by_name("group_id").context("group_id")?,
        &DataType::UInt64,
    )?;
    let group = group.as_primitive::<UInt64Type>();
    let deleted = batch
        .column_by_name("deleted")
        .map(|column| cast(column, &DataType::UInt8))
        .transpose()?;
    let event_id = batch.column_by_name("event_id").context("event_id")?;
    let primary_hash = batch
        .column_by_name("primary_hash")
        .context("primary_hash")?;
    let texts: Vec<(&str, ArrayRef)> = [
        "type",
        "level",
        "platform",
        "title",
        "message",
        "culprit",
        "environment",
        "release",
        "user",
    ]
    .into_iter()
    .filter_map(|name| {
        strings(batch, name)
            .transpose()
            .map(|array| array.map(|a| (name, a)))
    })
    .collect::<anyhow::Result<_>>()?;
    let tag_keys = batch.column_by_name("tags.key").context("tags.key")?;
    let tag_values = batch.column_by_name("tags.value").context("tags.value")?;
    let stacks: Vec<(&str, &ArrayRef)> = [
        ("exception_stacks_type", "exception_stacks.type"),
        ("exception_stacks_value", "exception_stacks.value"),
        (
            "exception_stacks_mechanism_type",
            "exception_stacks.mechanism_type",
        ),
    ]
    .into_iter()
    .filter_map(|(key, name)| batch.column_by_name(name).map(|array| (key, array)))
    .collect();
    let handled = batch.column_by_name("exception_stacks.mechanism_handled");

    for row in 0..batch.num_rows() {
        let time = timestamp.value(row);
        if time.div_euclid(DAY) != day {
            continue;
        }
        if deleted
            .as_ref()
            .is_some_and(|d| d.as_primitive::<UInt8Type>().value(row) != 0)
        {
            continue;
        }
        let millis = timestamp_ms.value(row);
        let mut contents: Vec<(String, String)> = Vec::with_capacity(32);
        let mut put = |key: &str, value: String| {
            if !value.is_empty() {
                contents.push((key.to_string(), value));
            }
        };
        put("schema_version", "1".into());
        put("project_id", project.value(row).to_string());
        put("group_id", group.value(row).to_string());
        put(
            "event_id",
            uuid_hex(event_id.as_ref(), row).unwrap_or_default(),
        );
        let hash = uuid_hex(primary_hash.as_ref(), row).unwrap_or_default();
        put("hashes", serde_json::to_string(&[&hash])?);
        put("primary_hash", hash);
        put("timestamp_ms", millis.to_string());
        if let Some(received) = &received {
            put(
                "received",
                received.as_primitive::<Int64Type>().value(row).to_string(),
            );
        }
        if let Some(first_seen) = &first_seen {
            let first_seen = first_seen.as_primitive::<Int64Type>();
            if !first_seen.is_null(row) {
                put("group_first_seen", first_seen.value(row).to_string());
            }
        }
        for (name, array) in &texts {
            let array = array.as_string::<i32>();
            if !array.is_null(row) {
                put(name, array.value(row).to_string());
            }
        }
        let keys = list_strings(tag_keys.as_ref(), row);
        let values = list_strings(tag_values.as_ref(), row);
        let mut tags: BTreeMap<String, String> = BTreeMap::new();
        for (key, value) in keys.into_iter().zip(values) {
            if let (Some(key), Some(value)) = (key, value) {
                if !key.is_empty() && !value.is_empty() {
                    tags.insert(key, value);
                }
            }
        }
        for (key, tag) in PROMOTED_TAGS {
            if let Some(value) = tags.get(tag) {
                put(key, value.clone());
            }
        }
        if !tags.is_empty() {
            put("tags", serde_json::to_string(&tags)?);
        }
        let mut any_exception = false;
        for (key, array) in &stacks {
            let values = list_strings(array.as_ref(), row);
            if !values.is_empty() {
                any_exception = true;
                put(key, serde_json::to_string(&values)?);
            }
        }
        if let Some(handled) = handled {
            let flags = list_u8(handled.as_ref(), row);
            if !flags.is_empty() {
                any_exception = true;
                put(
                    "exception_stacks_mechanism_handled",
                    serde_json::to_string(&flags)?,
                );
                put(
                    "unhandled",
                    if flags.contains(&Some(0)) { "1" } else { "0" }.into(),
                );
            }
        }
        if any_exception && !contents.iter().any(|(key, _)| key == "unhandled") {
            contents.push(("unhandled".into(), "0".into()));
        }
        out.push(LogRecord {
            time: u32::try_from(time).context("timestamp out of range")?,
            time_ns: (millis.rem_euclid(1000) * 1_000_000) as u32,
            contents,
        });
    }
    Ok(())
}

/// Imports `errors.parquet` into `store` in arrival (time) order: one UTC
/// day at a time, reading only the row groups that hold that day, sorted by
/// timestamp, sent in PutLogs-sized batches. Returns the rows imported.
async fn import(path: &Path, store: &dyn LogStore) -> anyhow::Result<u64> {
    // Pass 1: the days each row group holds (timestamp column only).
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
    let metadata = builder.metadata().clone();
    let schema = builder.parquet_schema().clone();
    let timestamp_leaf = (0..schema.num_columns())
        .find(|&i| schema.column(i).path().string() == "timestamp")
        .context("no timestamp column")?;
    let mut days_of_group: Vec<(i64, i64)> = Vec::new();
    for group in 0..metadata.num_row_groups() {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?
            .with_row_groups(vec![group])
            .with_projection(ProjectionMask::leaves(&schema, [timestamp_leaf]))
            .build()?;
        let (mut low, mut high) = (i64::MAX, i64::MIN);
        for batch in reader {
            let batch = batch?;
            let times = epoch(&batch, "timestamp", TimeUnit::Second)?.context("timestamp")?;
            let times = times.as_primitive::<Int64Type>();
            if let (Some(min), Some(max)) = (arrow::compute::min(times), arrow::compute::max(times))
            {
                low = low.min(min.div_euclid(DAY));
                high = high.max(max.div_euclid(DAY));
            }
        }
        days_of_group.push((low, high));
    }
    let first = days_of_group
        .iter()
        .map(|d| d.0)
        .min()
        .context("empty file")?;
    let last = days_of_group
        .iter()
        .map(|d| d.1)
        .max()
        .context("empty file")?;
    let mut total = 0u64;
    for day in first..=last {
        let groups: Vec<usize> = days_of_group
            .iter()
            .enumerate()
            .filter(|(_, (low, high))| *low <= day && day <= *high)
            .map(|(index, _)| index)
            .collect();
        if groups.is_empty() {
            continue;
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?
            .with_row_groups(groups)
            .with_batch_size(16 * 1024)
            .build()?;
        let mut day_records = Vec::new();
        for batch in reader {
            records(&batch?, day, &mut day_records)?;
        }
        day_records.sort_by_key(|record| (record.time, record.time_ns));
        total += day_records.len() as u64;
        let mut rest = day_records.as_slice();
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(5000));
            rest = tail;
            let batch = LogBatch {
                topic: "sentry_error".into(),
                source: "anchor".into(),
                tags: Vec::new(),
                logs: chunk.to_vec(),
            };
            store
                .put_logs(LOGSTORE, batch)
                .await
                .map_err(|error| anyhow::anyhow!("loading: {error}"))?;
        }
        tracing::info!(day, total, "imported");
    }
    Ok(total)
}

// ------------------------------------------------------------------ answers

/// One cell in the comparable form of run.py's `norm_val`: integers (also
/// integer strings) as integers, DateTimes as `YYYY-MM-DD HH:MM:SS` UTC,
/// dates as that at midnight.
fn norm(value: &Value) -> Value {
    match value {
        Value::Number(number) => match number.as_i64() {
            Some(int) => json!(int),
            None => match number.as_u64() {
                Some(int) => json!(int),
                None => json!(number.as_f64()),
            },
        },
        Value::String(text) => {
            if !text.is_empty()
                && text.len() < 20
                && text
                    .trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            {
                if let Ok(int) = text.parse::<i64>() {
                    return json!(int);
                }
                if let Ok(int) = text.parse::<u64>() {
                    return json!(int);
                }
            }
            let bytes = text.as_bytes();
            let date_like = bytes.len() >= 10
                && bytes[4] == b'-'
                && bytes[7] == b'-'
                && bytes[..4].iter().all(u8::is_ascii_digit);
            if date_like && bytes.len() == 10 {
                return json!(format!("{text} 00:00:00"));
            }
            if date_like && bytes.len() >= 19 && matches!(bytes[10], b'T' | b' ') {
                let offset = &text[19..];
                if offset.is_empty() || offset == "+00:00" || offset == "Z" {
                    return json!(format!("{} {}", &text[..10], &text[11..19]));
                }
            }
            value.clone()
        }
        other => other.clone(),
    }
}

fn our_rows(answer: &Value, columns: &[&str]) -> Vec<Vec<Value>> {
    let row = |object: &Value| -> Vec<Value> {
        columns
            .iter()
            .map(|column| norm(object.get(*column).unwrap_or(&Value::Null)))
            .collect()
    };
    let mut rows: Vec<Vec<Value>> = answer["data"]
        .as_array()
        .map(|rows| rows.iter().map(row).collect())
        .unwrap_or_default();
    if let Some(totals) = answer.get("totals").filter(|t| t.is_object()) {
        rows.push(row(totals));
    }
    rows
}

fn clickhouse_rows(result: &Value) -> Vec<Vec<Value>> {
    result
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    row.as_array()
                        .map(|cells| cells.iter().map(norm).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn key(row: &[Value]) -> String {
    serde_json::to_string(row).unwrap_or_default()
}

/// run.py's `compare`: exact for Q1–Q3, Q7, Q8; as sets for Q4/Q5 (Q5 must
/// be ordered by time descending); Q6 equal up to ties on `count`.
fn compare(name: &str, ours: &[Vec<Value>], theirs: &[Vec<Value>]) -> (bool, String) {
    if ["Q1", "Q2", "Q3", "Q7", "Q8"]
        .iter()
        .any(|p| name.starts_with(p))
    {
        if ours == theirs {
            return (true, format!("identical ({} rows)", ours.len()));
        }
        let first = ours.iter().zip(theirs).position(|(a, b)| a != b);
        return (
            false,
            format!(
                "DIFF: {} vs {} rows; first differing row {first:?}: {:?} vs {:?}",
                ours.len(),
                theirs.len(),
                first.and_then(|i| ours.get(i)),
                first.and_then(|i| theirs.get(i)),
            ),
        );
    }
    if name.starts_with("Q4") || name.starts_with("Q5") {
        if name.starts_with("Q5") {
            let times: Vec<String> = ours.iter().map(|row| row[1].to_string()).collect();
            let mut sorted = times.clone();
            sorted.sort_by(|a, b| b.cmp(a));
            if times != sorted {
                return (false, "DIFF: not ordered by time DESC".into());
            }
        }
        let mut a: Vec<String> = ours.iter().map(|row| key(row)).collect();
        let mut b: Vec<String> = theirs.iter().map(|row| key(row)).collect();
        a.sort();
        b.sort();
        return if a == b {
            (true, format!("identical as sets ({} rows)", a.len()))
        } else {
            let only_ours: Vec<&String> = a.iter().filter(|x| !b.contains(x)).take(2).collect();
            let only_theirs: Vec<&String> = b.iter().filter(|x| !a.contains(x)).take(2).collect();
            (
                false,
                format!(
                    "DIFF: {} vs {} rows, ours only {only_ours:?}, ClickHouse only {only_theirs:?}",
                    a.len(),
                    b.len()
                ),
            )
        };
    }
    // Q6: ORDER BY count DESC LIMIT 10 BY key: ties on count may pick other rows.
    let counts = |rows: &[Vec<Value>]| rows.iter().map(|r| r[2].clone()).collect::<Vec<_>>();
    if counts(ours) != counts(theirs) {
        return (false, "DIFF: count sequences differ".into());
    }
    let by_key = |rows: &[Vec<Value>]| {
        let mut map: BTreeMap<String, Vec<Vec<Value>>> = BTreeMap::new();
        for row in rows {
            map.entry(row[0].to_string()).or_default().push(row.clone());
        }
        map
    };
    let (a, b) = (by_key(ours), by_key(theirs));
    if a.keys().ne(b.keys()) {
        return (false, "DIFF: tag keys differ".into());
    }
    let mut ties = 0;
    for (tag, rows_a) in &a {
        let rows_b = &b[tag];
        let count = |row: &Vec<Value>| row[2].as_i64().unwrap_or(0);
        let mut ca: Vec<i64> = rows_a.iter().map(count).collect();
        let mut cb: Vec<i64> = rows_b.iter().map(count).collect();
        ca.sort_unstable();
        cb.sort_unstable();
        if ca != cb {
            return (false, format!("DIFF: counts for key {tag}"));
        }
        let cut = ca.first().copied().unwrap_or(0);
        let above = |rows: &Vec<Vec<Value>>| {
            let mut keys: Vec<String> = rows
                .iter()
                .filter(|r| count(r) > cut)
                .map(|r| key(r))
                .collect();
            keys.sort();
            keys
        };
        if above(rows_a) != above(rows_b) {
            return (
                false,
                format!("DIFF: rows above the tie line for key {tag}"),
            );
        }
        ties += rows_a
            .iter()
            .filter(|r| count(r) == cut && !rows_b.contains(r))
            .count();
    }
    (
        true,
        format!("identical up to ties ({} rows, {} keys; {ties} boundary rows picked differently among equal counts)", ours.len(), a.len()),
    )
}

// ------------------------------------------------------------------ run

/// `/proc/loadavg` (1, 5, 15 min), to judge how busy the machine was.
fn loadavg() -> Value {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            json!(text
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "))
        })
        .unwrap_or(Value::Null)
}

/// Runs the anchor comparison and returns the report.
pub async fn run(args: &QueryBenchArgs, anchor: &Path) -> anyhow::Result<Value> {
    anyhow::ensure!(
        !selected_names(args).is_empty(),
        "--queries {:?} selects none of the anchor's queries (Q1_…Q8_)",
        args.queries
    );
    let parquet_path = anchor.join("errors.parquet");
    let file_rows = ParquetRecordBatchReaderBuilder::try_new(
        File::open(&parquet_path).with_context(|| format!("opening {}", parquet_path.display()))?,
    )?
    .metadata()
    .file_metadata()
    .num_rows();

    // ClickHouse first (its own process), then us: never both at once.
    let mut clickhouse: Option<Value> = None;
    let mut clickhouse_source = "none".to_string();
    if let Some(python) = &args.anchor_python {
        let out = anchor.join(format!("results-chdb-{}.json", std::process::id()));
        let status = Command::new(python)
            .arg(&args.anchor_script)
            .args([
                "--engines",
                "chdb",
                "--queries",
                &selected_names(args).join(","),
            ])
            .arg("--work")
            .arg(anchor)
            .args([
                "--rows",
                &file_rows.to_string(),
                "--runs",
                &args.runs.to_string(),
            ])
            .arg("--json")
            .arg(&out)
            .status()
            .with_context(|| format!("running {}", args.anchor_script.display()))?;
        anyhow::ensure!(
            status.success() || status.code() == Some(1),
            "run.py failed: {status}"
        );
        clickhouse = Some(serde_json::from_slice(&std::fs::read(&out)?)?);
        clickhouse_source = format!("measured in this run: {}", out.display());
    } else if let Ok(bytes) = std::fs::read(anchor.join("results.json")) {
        clickhouse = Some(serde_json::from_slice(&bytes)?);
        clickhouse_source = format!("NOT this run: {}/results.json", anchor.display());
    }

    let (directory, keep) = match &args.store_dir {
        Some(directory) => (directory.clone(), true),
        None => (
            args.work_dir.join(format!("anchor-{}", std::process::id())),
            false,
        ),
    };
    let marker_path = directory.join("anchor-import.json");
    let parquet_bytes = std::fs::metadata(&parquet_path)?.len();
    let marker = json!({"parquet": parquet_path.display().to_string(), "bytes": parquet_bytes, "rows": file_rows});
    let reuse = keep
        && std::fs::read(&marker_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .is_some_and(|old| old == marker);
    if !reuse && directory.exists() {
        std::fs::remove_dir_all(&directory)?;
    }
    std::fs::create_dir_all(&directory)?;
    let mut store_config = LocalStoreConfig::default();
    if let Some(rows) = args.flush_rows {
        store_config.flush_rows = rows;
        store_config.flush_bytes = usize::MAX / 2;
        store_config.flush_interval = Duration::from_secs(24 * 3600);
    }
    let store = LocalStore::open(&directory, store_config)
        .map_err(|error| anyhow::anyhow!("opening the store: {error}"))?;
    let project = store
        .project_or_create("bench")
        .map_err(|error| anyhow::anyhow!("creating the project: {error}"))?;
    crate::store_args::setup(project.as_ref(), LOGSTORE, TTL_DAYS).await?;
    let mut load_seconds = None;
    let mut imported = None;
    if !reuse {
        let started = Instant::now();
        imported = Some(import(&parquet_path, project.as_ref()).await?);
        let flushing = project.clone();
        tokio::task::spawn_blocking(move || flushing.flush_all())
            .await?
            .map_err(|error| anyhow::anyhow!("flushing: {error}"))?;
        load_seconds = Some(started.elapsed().as_secs_f64());
        std::fs::write(&marker_path, serde_json::to_vec(&marker)?)?;
    }
    // Measure the layout the store settles into: every past day compacted
    // into one segment (the background compactor's end state). A kept store
    // written before compaction existed is compacted here too.
    let compacting = project.clone();
    let started = Instant::now();
    let compacted = tokio::task::spawn_blocking(move || compacting.compact_all())
        .await?
        .map_err(|error| anyhow::anyhow!("compacting: {error}"))?;
    let compact_seconds = started.elapsed().as_secs_f64();
    tracing::info!(segments = compacted, seconds = compact_seconds, "compacted");

    let server = SnubaServer::start(
        project.clone() as Arc<dyn LogStore>,
        LOGSTORE,
        TTL_DAYS,
        Duration::from_secs(300),
        Duration::from_secs(400),
    )
    .await?;
    let client = reqwest::Client::new();
    let url = server.snql_url.clone();

    let load_before = loadavg();
    let mut results = Vec::new();
    let mut all_ok = true;
    let selected = selected_names(args);
    for (name, text, columns) in queries() {
        if !selected.contains(&name) {
            continue;
        }
        let body = json!({"query": text, "dataset": "events", "app_id": "bench",
                          "tenant_ids": {"referrer": "bench", "organization_id": 1}});
        let mut timings = Vec::new();
        let mut answer = Value::Null;
        // The first run builds what later runs reuse (segment rollups, file
        // metadata): reported apart as `first_ms`.
        let mut first_ms = 0.0;
        for run in 0..args.runs + 3 {
            let begun = Instant::now();
            let response = client.post(&url).json(&body).send().await?;
            let status = response.status();
            answer = response.json().await?;
            anyhow::ensure!(status.is_success(), "{name}: {status} {answer}");
            let elapsed = begun.elapsed().as_secs_f64() * 1000.0;
            if run == 0 {
                first_ms = elapsed;
            }
            if run >= 3 {
                timings.push(elapsed);
            }
        }
        let mut sorted = timings.clone();
        let median_ms = median(&mut sorted);
        let p90 = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
        let ours = our_rows(&answer, columns);
        let reference = clickhouse
            .as_ref()
            .and_then(|report| report["results"]["chdb"].get(name));
        let (check, clickhouse_ms, clickhouse_p90, rows_read) = match reference {
            Some(reference) => {
                let (ok, message) = compare(name, &ours, &clickhouse_rows(&reference["result"]));
                all_ok &= ok;
                (
                    json!({"ok": ok, "msg": message}),
                    reference["median_ms"].as_f64(),
                    reference["p90_ms"].as_f64(),
                    reference["rows_read"].clone(),
                )
            }
            None => (
                json!({"ok": null, "msg": "no ClickHouse result"}),
                None,
                None,
                Value::Null,
            ),
        };
        tracing::info!(query = name, median_ms, ?clickhouse_ms, "measured");
        results.push(json!({
            "query": name, "median_ms": median_ms, "p90_ms": p90, "first_ms": first_ms, "runs_ms": timings,
            "rows": ours.len(), "clickhouse_median_ms": clickhouse_ms, "clickhouse_p90_ms": clickhouse_p90,
            "clickhouse_rows_read": rows_read,
            "ratio": clickhouse_ms.map(|ch| median_ms / ch), "check": check,
        }));
    }
    let load_after = loadavg();
    let segments = project
        .logstore(LOGSTORE)
        .map(|logstore| logstore.stats().2)
        .ok();
    server.stop().await;
    store.shutdown();
    if !keep {
        let _ = std::fs::remove_dir_all(&directory);
    }
    let table: Vec<String> = results
        .iter()
        .map(|r| {
            format!(
                "| {} | {:.1} | {} | {} | {} |",
                r["query"].as_str().unwrap_or_default(),
                r["median_ms"].as_f64().unwrap_or_default(),
                r["clickhouse_median_ms"]
                    .as_f64()
                    .map_or("n/a".into(), |v| format!("{v:.1}")),
                r["ratio"]
                    .as_f64()
                    .map_or("n/a".into(), |v| format!("{v:.2}")),
                if r["check"]["ok"] == json!(true) {
                    "OK"
                } else {
                    "FAIL"
                },
            )
        })
        .collect();
    Ok(json!({
        "bench": "query-anchor",
        "anchor": anchor.display().to_string(),
        "events": file_rows,
        "imported": imported,
        "load_seconds": load_seconds,
        "compacted_segments": compacted,
        "compact_seconds": compact_seconds,
        "runs": args.runs,
        "clickhouse": clickhouse_source,
        "clickhouse_versions": clickhouse.as_ref().map(|c| c["versions"].clone()),
        "flush_rows": args.flush_rows,
        "segments": segments,
        "all_answers_equal": all_ok,
        "loadavg_before_after": [load_before, load_after],
        "table": table,
        "results": results,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_normalise_like_run_py() {
        assert_eq!(norm(&json!("24796")), json!(24796));
        assert_eq!(norm(&json!(7)), json!(7));
        assert_eq!(
            norm(&json!("2025-09-03T12:00:01+00:00")),
            json!("2025-09-03 12:00:01")
        );
        assert_eq!(
            norm(&json!("2025-09-03 12:00:01")),
            json!("2025-09-03 12:00:01")
        );
        assert_eq!(norm(&json!("2025-09-03")), json!("2025-09-03 00:00:00"));
        assert_eq!(norm(&json!("id:12")), json!("id:12"));
        assert_eq!(
            norm(&json!("6cec947f620a3e33ab4642d7ae271e4e")),
            json!("6cec947f620a3e33ab4642d7ae271e4e")
        );
    }

    #[test]
    fn answers_compare_by_the_anchor_rules() {
        let rows = |r: &[(&str, i64)]| -> Vec<Vec<Value>> {
            r.iter()
                .map(|(k, c)| vec![json!("level"), json!(k), json!(c)])
                .collect()
        };
        // Q6: ties on the last count may pick different values.
        let a = rows(&[("error", 9), ("warning", 3), ("info", 1)]);
        let b = rows(&[("error", 9), ("warning", 3), ("debug", 1)]);
        assert!(compare("Q6_tag_facets_hot_group", &a, &b).0);
        let c = rows(&[("error", 9), ("info", 3), ("warning", 1)]);
        assert!(!compare("Q6_tag_facets_hot_group", &a, &c).0);
        // Q1: exact, order included; Q4: as sets.
        assert!(!compare("Q1_issues_sort_date", &a, &b).0);
        let mut reversed = a.clone();
        reversed.reverse();
        assert!(compare("Q4_seen_stats_25_groups", &a, &reversed).0);
        assert!(!compare("Q1_issues_sort_date", &a, &reversed).0);
    }
}
