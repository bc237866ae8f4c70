//! Envelope items to records (docs/schema.md): one log per error or
//! transaction event; every other item type is accepted and counted.
//!
//! Each event is normalised and grouped as Sentry 23.7.1 does
//! (`sentry-sls-normalize`), its timestamp kept in the window of schema §1.1,
//! and written as one record: ids and times, the keys of [`crate::record`],
//! and the processed body in Sentry's nodestore encoding (written by
//! `sentry_sls_normalize::body`, stored by [`crate::body`]).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use sentry_sls_event::{node_id, Envelope, EventId, ItemType, ProjectId};
use sentry_sls_normalize::{normalize, Options};
use sentry_sls_store::{LogBatch, LogRecord};
use serde_json::Value;

use crate::{body, record};

/// Topic of error (non-transaction) events.
pub const TOPIC_ERROR: &str = "sentry_error";
/// Topic of transactions.
pub const TOPIC_TRANSACTION: &str = "sentry_transaction";
/// Record schema version written.
pub const SCHEMA_VERSION: &str = "1";
/// Oldest timestamp kept by default, relative to receipt (schema §1.1):
/// SLS refuses log times more than 7 days old.
pub const DEFAULT_MAX_PAST_SECONDS: i64 = 6 * 86_400;
/// Newest accepted timestamp, relative to receipt.
const FUTURE_SECONDS: i64 = 60;

/// Why an envelope's events were refused (a 400 for the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// An event item is not a JSON object.
    #[error("invalid event payload: {0}")]
    InvalidEvent(String),
    /// An event id is not 32 hex digits.
    #[error("invalid event id: {0}")]
    InvalidEventId(String),
    /// The event body is too large to store even compressed.
    #[error("{0}")]
    TooLarge(String),
}

/// The records of one envelope, ready for the spool.
#[derive(Debug, Default)]
pub struct Processed {
    /// The event id to answer with (`{"id": …}`), if the envelope had an event.
    pub event_id: Option<EventId>,
    /// One batch per topic.
    pub batches: Vec<LogBatch>,
    /// Items per type, for metrics.
    pub items: BTreeMap<String, u64>,
    /// Ids of the events in `batches`.
    pub stored: Vec<EventId>,
    /// Events left out because `skip` said they were stored before.
    pub duplicates: u64,
}

fn now_millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// Event timestamp in ms: a float of seconds or an RFC 3339 string.
fn timestamp_millis(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(number) => number
            .as_f64()
            .filter(|seconds| seconds.is_finite())
            .map(|seconds| (seconds * 1000.0).round() as i64),
        Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|time| time.timestamp_millis())
            .or_else(|| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|time| time.and_utc().timestamp_millis())
            }),
        _ => None,
    }
}

/// The record of one event item.
fn event_record(
    project_id: ProjectId,
    item_type: &ItemType,
    payload: &[u8],
    header_event_id: Option<EventId>,
    receipt: &Receipt<'_>,
) -> Result<(EventId, &'static str, LogRecord), ProcessError> {
    let received = receipt.received;
    let past_secs = receipt.max_past_secs;
    let value: Value = serde_json::from_slice(payload)
        .map_err(|error| ProcessError::InvalidEvent(error.to_string()))?;
    let Value::Object(mut event) = value else {
        return Err(ProcessError::InvalidEvent(
            "an event must be a JSON object".into(),
        ));
    };
    let event_id = match event.get("event_id").and_then(Value::as_str) {
        Some(text) => {
            EventId::parse(text).map_err(|_| ProcessError::InvalidEventId(text.to_string()))?
        }
        None => header_event_id.unwrap_or_else(|| EventId::from_hash_of(payload)),
    };
    event.insert("event_id".into(), Value::String(event_id.to_string()));
    if *item_type == ItemType::Transaction {
        event.insert("type".into(), Value::String("transaction".into()));
    }
    let received_ms = now_millis(received);
    let mut options = Options::new(project_id.0, received_ms as f64 / 1000.0);
    options.max_past_secs = past_secs;
    options.max_future_secs = FUTURE_SECONDS;
    options.client_ip = receipt.client_ip.map(str::to_string);
    let normalized = normalize(Value::Object(event), &options)
        .map_err(|error| ProcessError::InvalidEvent(error.to_string()))?;
    let is_transaction = normalized.event_type == "transaction";
    let mut event = normalized.event;
    record::add_sentry_tags(&mut event);
    // Normalisation clamped the time into the window; keep the record and the
    // body on the same millisecond (schema §1.1 invariant).
    let timestamp_ms = timestamp_millis(event.get("timestamp"))
        .filter(|ms| {
            *ms >= received_ms - past_secs * 1000 && *ms <= received_ms + FUTURE_SECONDS * 1000
        })
        .unwrap_or(received_ms);
    event.insert(
        "timestamp".into(),
        Value::from(timestamp_ms as f64 / 1000.0),
    );
    let mut contents: Vec<(String, String)> = vec![
        ("schema_version".into(), SCHEMA_VERSION.into()),
        ("project_id".into(), project_id.0.to_string()),
        ("event_id".into(), event_id.to_string()),
        ("node_id".into(), node_id(project_id, &event_id)),
        ("received".into(), (received_ms / 1000).to_string()),
        ("timestamp_ms".into(), timestamp_ms.to_string()),
    ];
    contents.extend(record::keys(
        project_id,
        &event,
        &normalized.event_type,
        &normalized.hashes,
    ));
    // The processed body is about twice the raw event (interface defaults, grouping config).
    let body_bytes = sentry_sls_normalize::body::to_json(&event, payload.len() * 2 + 4096);
    drop(event);
    let body_keys =
        body::encode(body_bytes).map_err(|error| ProcessError::TooLarge(error.to_string()))?;
    contents.extend(body_keys);
    let record = LogRecord {
        time: (timestamp_ms.div_euclid(1000)).clamp(0, i64::from(u32::MAX)) as u32,
        time_ns: (timestamp_ms.rem_euclid(1000) * 1_000_000) as u32,
        contents,
    };
    Ok((
        event_id,
        if is_transaction {
            TOPIC_TRANSACTION
        } else {
            TOPIC_ERROR
        },
        record,
    ))
}

/// Processes a few sample events (Python, JavaScript and native stack traces, a message) and
/// drops the records: this builds the grouping rules and compiles the lazily built regexes
/// before the first request, which would otherwise pay for it (with a concurrent request
/// blocked on the same initialisation) on an async worker. Returns the records made.
pub fn warm_up() -> usize {
    let frames = |platform: &str| {
        serde_json::json!([
            {"function": "main", "module": "app.main", "filename": "app/main.py", "in_app": true,
             "platform": platform, "context_line": "run()", "lineno": 3},
            {"function": "std::panicking::begin_panic", "package": "/usr/lib/libstd.so",
             "abs_path": "https://cdn.example.com/app.js", "platform": platform, "lineno": 7}
        ])
    };
    // One envelope per event: an envelope holds at most one event item.
    let mut records = 0;
    for platform in ["python", "javascript", "native"] {
        let event = serde_json::json!({
            "platform": platform,
            "message": "warm-up 42 at 0xdeadbeef",
            "exception": {"values": [{"type": "WarmUp", "value": "warm-up 1 of 3",
                "mechanism": {"type": "generic", "handled": true},
                "stacktrace": {"frames": frames(platform)}}]},
        });
        let text = format!("{{}}\n{{\"type\":\"event\"}}\n{event}\n");
        records += Envelope::parse_slice(text.as_bytes(), &sentry_sls_event::Limits::default())
            .ok()
            .and_then(|envelope| {
                process(ProjectId(1), &envelope, SystemTime::now(), "warm-up").ok()
            })
            .map_or(0, |processed| {
                processed.batches.iter().map(|b| b.logs.len()).sum()
            });
    }
    records
}

/// The records of `envelope` for `project_id`, received at `received`.
pub fn process(
    project_id: ProjectId,
    envelope: &Envelope,
    received: SystemTime,
    source: &str,
) -> Result<Processed, ProcessError> {
    let receipt = Receipt {
        received,
        source,
        client_ip: None,
        max_past_secs: DEFAULT_MAX_PAST_SECONDS,
    };
    process_with(project_id, envelope, &receipt, &|_| false)
}

/// How and when an envelope arrived.
#[derive(Debug, Clone, Copy)]
pub struct Receipt<'a> {
    /// When it was received.
    pub received: SystemTime,
    /// `__source__` of the records (this instance's name).
    pub source: &'a str,
    /// The client's address, for `{{auto}}` user IPs.
    pub client_ip: Option<&'a str>,
    /// Oldest event timestamp kept, in seconds before `received`; an older
    /// one becomes `received` (Relay's `max_secs_in_past`).
    pub max_past_secs: i64,
}

/// [`process`], leaving out events for which `skip` is true (ids stored
/// before: see [`crate::SeenSet`]).
pub fn process_with(
    project_id: ProjectId,
    envelope: &Envelope,
    receipt: &Receipt<'_>,
    skip: &dyn Fn(&EventId) -> bool,
) -> Result<Processed, ProcessError> {
    let source = receipt.source;
    let mut processed = Processed::default();
    let mut by_topic: BTreeMap<&'static str, Vec<LogRecord>> = BTreeMap::new();
    for item in &envelope.items {
        *processed
            .items
            .entry(item.ty().as_str().to_string())
            .or_default() += 1;
        if !matches!(item.ty(), ItemType::Event | ItemType::Transaction) {
            continue;
        }
        let (event_id, topic, record) = event_record(
            project_id,
            item.ty(),
            &item.payload,
            envelope.headers.event_id,
            receipt,
        )?;
        processed.event_id.get_or_insert(event_id);
        if skip(&event_id) {
            processed.duplicates += 1;
            continue;
        }
        processed.stored.push(event_id);
        by_topic.entry(topic).or_default().push(record);
    }
    if processed.event_id.is_none() {
        processed.event_id = envelope.headers.event_id;
    }
    processed.batches = by_topic
        .into_iter()
        .map(|(topic, logs)| LogBatch {
            topic: topic.to_string(),
            source: source.to_string(),
            tags: Vec::new(),
            logs,
        })
        .collect();
    Ok(processed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry_sls_event::Limits;

    fn value<'a>(record: &'a LogRecord, key: &str) -> Option<&'a str> {
        record
            .contents
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn an_error_event_becomes_one_record_with_ids_times_and_body() {
        let received = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let envelope = Envelope::parse_slice(
            b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"event\"}\n\
              {\"message\":\"boom\",\"timestamp\":1699999990.25,\"tags\":[[\"b\",\"2\"],[\"a\",\"1\"],[\"e\",\"\"]],\
              \"exception\":{\"values\":[{\"type\":\"ValueError\"}]},\"user\":{\"id\":\"u1\"}}\n\
              {\"type\":\"client_report\"}\n{}\n",
            &Limits::default(),
        )
        .unwrap();
        let processed = process(ProjectId(42), &envelope, received, "test").unwrap();
        assert_eq!(
            processed.event_id.unwrap().to_string(),
            "9ec79c33ec9942ab8353589fcb2e04dc"
        );
        assert_eq!(processed.items["client_report"], 1);
        assert_eq!(processed.batches.len(), 1);
        assert_eq!(processed.batches[0].topic, TOPIC_ERROR);
        let record = &processed.batches[0].logs[0];
        assert_eq!(record.time, 1_699_999_990);
        assert_eq!(record.time_ns, 250_000_000);
        assert_eq!(value(record, "timestamp_ms"), Some("1699999990250"));
        assert_eq!(value(record, "type"), Some("error"));
        assert_eq!(value(record, "level"), Some("error"));
        assert_eq!(value(record, "platform"), Some("other"));
        assert_eq!(
            value(record, "tags"),
            Some(r#"{"a":"1","b":"2","level":"error","sentry:user":"id:u1"}"#)
        );
        assert_eq!(value(record, "user"), Some("id:u1"));
        assert_eq!(value(record, "title"), Some("ValueError"));
        let primary = value(record, "primary_hash").unwrap();
        assert_eq!(primary.len(), 32);
        assert_eq!(
            value(record, "group_id"),
            Some(
                sentry_sls_event::group_id(ProjectId(42), primary)
                    .to_string()
                    .as_str()
            )
        );
        assert_eq!(value(record, "user_id"), Some("u1"));
        assert_eq!(value(record, "node_id").unwrap().len(), 32);
        assert_eq!(value(record, "environment"), None, "absent, never empty");
        let body = body::decode(|key| value(record, key).map(str::to_string)).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["event_id"], "9ec79c33ec9942ab8353589fcb2e04dc");
        assert_eq!(body["project"], 42);
    }

    #[test]
    fn timestamps_outside_the_window_become_the_receive_time() {
        let received = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        for timestamp in ["1600000000", "1800000000", "\"garbage\""] {
            let payload = format!("{{\"timestamp\":{timestamp}}}");
            let body = format!("{{}}\n{{\"type\":\"transaction\"}}\n{payload}\n");
            let envelope = Envelope::parse_slice(body.as_bytes(), &Limits::default()).unwrap();
            let processed = process(ProjectId(1), &envelope, received, "test").unwrap();
            assert_eq!(processed.batches[0].topic, TOPIC_TRANSACTION);
            assert_eq!(
                processed.batches[0].logs[0].time, 1_700_000_000,
                "{timestamp}"
            );
        }
    }

    #[test]
    fn the_past_window_is_the_receipts() {
        let received = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let thirteen_days_ago = 1_700_000_000 - 13 * 86_400;
        let body = format!("{{}}\n{{\"type\":\"event\"}}\n{{\"timestamp\":{thirteen_days_ago}}}\n");
        let envelope = Envelope::parse_slice(body.as_bytes(), &Limits::default()).unwrap();
        for (days, kept) in [(6, 1_700_000_000), (14, thirteen_days_ago)] {
            let receipt = Receipt {
                received,
                source: "test",
                client_ip: None,
                max_past_secs: days * 86_400,
            };
            let processed = process_with(ProjectId(1), &envelope, &receipt, &|_| false).unwrap();
            let record = &processed.batches[0].logs[0];
            assert_eq!(record.time, kept as u32, "{days} days");
            let body = body::decode(|key| value(record, key).map(str::to_string)).unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["timestamp"].as_f64(), Some(kept as f64), "{days} days");
        }
    }

    #[test]
    fn warm_up_processes_its_samples() {
        // The samples go through the whole pipeline (a panic here would stop `serve`).
        assert_eq!(warm_up(), 3);
    }

    #[test]
    fn bad_events_are_refused() {
        let received = SystemTime::now();
        for body in [
            "{}\n{\"type\":\"event\"}\n[1,2]\n",
            "{}\n{\"type\":\"event\"}\n{\"event_id\":\"xyz\"}\n",
        ] {
            let envelope = Envelope::parse_slice(body.as_bytes(), &Limits::default()).unwrap();
            assert!(
                process(ProjectId(1), &envelope, received, "test").is_err(),
                "{body}"
            );
        }
    }
}
