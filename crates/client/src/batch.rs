//! From a [`LogBatch`] to PutLogs request bodies: protobuf `LogGroup`s small enough for
//! every documented SLS limit era (§1.4: at most 4096 logs and 5 MB of raw protobuf each).
//!
//! Splitting happens before anything is sent, so a log that can never fit fails the whole
//! batch up front instead of after part of it was written.

use bytes::Bytes;
use prost::Message;
use sentry_sls_protocol::model::{RECOMMENDED_LOGS_PER_PUT, RECOMMENDED_RAW_BODY_BYTES};
use sentry_sls_protocol::{CompressType, Log, LogContent, LogGroup, LogTag};
use sentry_sls_store::{LogBatch, LogRecord, StoreError};

/// How large one PutLogs request may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitLimits {
    /// Most logs in one request.
    pub max_logs: usize,
    /// Most bytes of encoded (uncompressed) `LogGroup` in one request.
    pub max_raw_bytes: usize,
}

impl Default for SplitLimits {
    /// 4096 logs and 5 MiB: the old documented caps, valid under every newer limit too.
    fn default() -> Self {
        SplitLimits {
            max_logs: RECOMMENDED_LOGS_PER_PUT,
            max_raw_bytes: RECOMMENDED_RAW_BODY_BYTES,
        }
    }
}

/// Splits `batch` into `LogGroup`s that each respect `limits`, keeping log order; every group
/// repeats the batch's topic, source and tags. An empty batch gives no group.
///
/// Sizes are exact: each group's `encoded_len()` is at most `limits.max_raw_bytes`.
///
/// Errors: `ParameterInvalid` when a single log (with the group's topic, source and tags)
/// encodes to more than `limits.max_raw_bytes`, or when `limits.max_logs` is 0. Retrying
/// cannot fix either.
pub fn split_batch(batch: LogBatch, limits: SplitLimits) -> Result<Vec<LogGroup>, StoreError> {
    if limits.max_logs == 0 {
        return Err(StoreError::invalid("split limits allow no log per request"));
    }
    let template = LogGroup {
        logs: Vec::new(),
        reserved: None,
        topic: Some(batch.topic),
        source: Some(batch.source),
        machine_uuid: None,
        log_tags: batch
            .tags
            .into_iter()
            .map(|(key, value)| LogTag { key, value })
            .collect(),
    };
    let group_overhead = template.encoded_len();
    let mut groups = Vec::new();
    let mut current: Vec<Log> = Vec::new();
    let mut current_bytes = group_overhead;
    for (index, record) in batch.logs.into_iter().enumerate() {
        let log = to_log(record);
        let log_bytes = log_entry_len(&log);
        if group_overhead + log_bytes > limits.max_raw_bytes {
            return Err(StoreError::invalid(format!(
                "log {index} encodes to {log_bytes} bytes (plus {group_overhead} of group \
                 header); one PutLogs request carries at most {} raw bytes",
                limits.max_raw_bytes
            )));
        }
        let full =
            current.len() == limits.max_logs || current_bytes + log_bytes > limits.max_raw_bytes;
        if full {
            groups.push(LogGroup {
                logs: std::mem::take(&mut current),
                ..template.clone()
            });
            current_bytes = group_overhead;
        }
        current.push(log);
        current_bytes += log_bytes;
    }
    if !current.is_empty() {
        groups.push(LogGroup {
            logs: current,
            ..template
        });
    }
    Ok(groups)
}

/// Bytes a log adds to a `LogGroup`: the one-byte key of field 1, the length prefix, and
/// the message itself.
fn log_entry_len(log: &Log) -> usize {
    let body = log.encoded_len();
    1 + prost::length_delimiter_len(body) + body
}

/// A store record as a protobuf `Log`; a zero nanosecond part is left out, as SDKs may.
fn to_log(record: LogRecord) -> Log {
    Log {
        time: record.time,
        contents: record
            .contents
            .into_iter()
            .map(|(key, value)| LogContent { key, value })
            .collect(),
        time_ns: (record.time_ns != 0).then_some(record.time_ns),
    }
}

/// One PutLogs body ready to send: compressed bytes plus the raw size for
/// `x-log-bodyrawsize`.
#[derive(Debug, Clone)]
pub(crate) struct EncodedGroup {
    /// The bytes on the wire.
    pub(crate) body: Bytes,
    /// Length of the encoded protobuf before compression.
    pub(crate) raw_size: usize,
    /// Logs in the group, for logging.
    pub(crate) log_count: usize,
}

/// Encodes and compresses each group. CPU-bound: callers run it off the async threads.
pub(crate) fn encode_groups(groups: Vec<LogGroup>, codec: CompressType) -> Vec<EncodedGroup> {
    groups
        .into_iter()
        .map(|group| {
            let raw = group.encode_to_vec();
            let body = sentry_sls_protocol::compress(codec, &raw);
            EncodedGroup {
                body: Bytes::from(body),
                raw_size: raw.len(),
                log_count: group.logs.len(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: usize, value_len: usize) -> LogRecord {
        LogRecord {
            time: 1_700_000_000 + index as u32,
            time_ns: (index % 3) as u32,
            contents: vec![
                ("seq".to_owned(), index.to_string()),
                ("payload".to_owned(), "x".repeat(value_len)),
            ],
        }
    }

    fn batch(logs: Vec<LogRecord>) -> LogBatch {
        LogBatch {
            topic: "errors".to_owned(),
            source: "10.0.0.1".to_owned(),
            tags: vec![("host".to_owned(), "web-1".to_owned())],
            logs,
        }
    }

    fn sequence(groups: &[LogGroup]) -> Vec<String> {
        groups
            .iter()
            .flat_map(|group| group.logs.iter())
            .map(|log| log.contents[0].value.clone())
            .collect()
    }

    #[test]
    fn ten_thousand_small_logs_split_at_4096() {
        let logs = (0..10_000).map(|index| record(index, 10)).collect();
        let groups = split_batch(batch(logs), SplitLimits::default()).unwrap();
        let sizes: Vec<usize> = groups.iter().map(|group| group.logs.len()).collect();
        assert_eq!(sizes, vec![4096, 4096, 1808]);
        let expected: Vec<String> = (0..10_000).map(|index| index.to_string()).collect();
        assert_eq!(sequence(&groups), expected);
        for group in &groups {
            assert_eq!(group.topic.as_deref(), Some("errors"));
            assert_eq!(group.source.as_deref(), Some("10.0.0.1"));
            assert_eq!(
                group.log_tags,
                vec![LogTag {
                    key: "host".to_owned(),
                    value: "web-1".to_owned()
                }]
            );
        }
        assert_eq!(groups[0].logs[1].time_ns, Some(1));
        assert_eq!(groups[0].logs[0].time_ns, None);
    }

    #[test]
    fn large_logs_split_by_encoded_size_under_5_mib() {
        let one_mib = 1024 * 1024;
        let logs = (0..12).map(|index| record(index, one_mib)).collect();
        let limits = SplitLimits::default();
        let groups = split_batch(batch(logs), limits).unwrap();
        assert_eq!(groups.len(), 3, "4 logs of 1 MiB per 5 MiB request");
        for group in &groups {
            assert!(group.encoded_len() <= limits.max_raw_bytes);
            assert_eq!(group.logs.len(), 4);
        }
        let expected: Vec<String> = (0..12).map(|index| index.to_string()).collect();
        assert_eq!(sequence(&groups), expected);
    }

    #[test]
    fn groups_fill_exactly_to_the_byte_limit() {
        let logs: Vec<LogRecord> = (0..50).map(|index| record(index, 100)).collect();
        let probe = split_batch(batch(logs.clone()), SplitLimits::default()).unwrap();
        let whole = probe[0].encoded_len();
        let limits = SplitLimits {
            max_logs: 4096,
            max_raw_bytes: whole / 3,
        };
        let groups = split_batch(batch(logs), limits).unwrap();
        assert!(groups.len() >= 3);
        for (position, group) in groups.iter().enumerate() {
            assert!(group.encoded_len() <= limits.max_raw_bytes);
            if let Some(next) = groups.get(position + 1) {
                let first_of_next = log_entry_len(&next.logs[0]);
                assert!(group.encoded_len() + first_of_next > limits.max_raw_bytes);
            }
        }
        assert_eq!(sequence(&groups).len(), 50);
    }

    #[test]
    fn a_log_larger_than_the_limit_is_refused() {
        let logs = vec![record(0, 10), record(1, 6 * 1024 * 1024)];
        let error = split_batch(batch(logs), SplitLimits::default()).unwrap_err();
        assert_eq!(
            error.code,
            sentry_sls_store::StoreErrorCode::ParameterInvalid
        );
        assert!(error.message.contains("log 1"), "{}", error.message);
    }

    #[test]
    fn empty_batches_and_zero_limits() {
        assert!(split_batch(batch(Vec::new()), SplitLimits::default())
            .unwrap()
            .is_empty());
        let zero = SplitLimits {
            max_logs: 0,
            max_raw_bytes: 1024,
        };
        assert!(split_batch(batch(vec![record(0, 1)]), zero).is_err());
    }

    #[test]
    fn encoded_groups_decode_back() {
        let logs = (0..10).map(|index| record(index, 50)).collect();
        let groups = split_batch(batch(logs), SplitLimits::default()).unwrap();
        let encoded = encode_groups(groups.clone(), CompressType::Lz4);
        assert_eq!(encoded.len(), 1);
        assert_eq!(encoded[0].log_count, 10);
        let raw = sentry_sls_protocol::decompress(
            CompressType::Lz4,
            &encoded[0].body,
            encoded[0].raw_size,
            1 << 20,
        )
        .unwrap();
        assert_eq!(
            sentry_sls_protocol::decode_log_group(&raw).unwrap(),
            groups[0]
        );
    }
}
