//! The WAL payload of one append: a compact length-prefixed encoding of a
//! [`LogBatch`] (faster than JSON, no schema compiler needed).

use sentry_sls_store::{LogBatch, LogRecord, WriteKey};

/// First four bytes of a keyed frame: a topic length no real frame can have.
const KEYED_MARKER: [u8; 4] = [0xff; 4];

fn put_str(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// Encodes a batch.
pub fn encode(batch: &LogBatch) -> Vec<u8> {
    let approx: usize = batch
        .logs
        .iter()
        .map(|log| {
            12 + log
                .contents
                .iter()
                .map(|(k, v)| 8 + k.len() + v.len())
                .sum::<usize>()
        })
        .sum();
    let mut out = Vec::with_capacity(approx + 64);
    put_str(&mut out, &batch.topic);
    put_str(&mut out, &batch.source);
    out.extend_from_slice(&(batch.tags.len() as u32).to_le_bytes());
    for (key, value) in &batch.tags {
        put_str(&mut out, key);
        put_str(&mut out, value);
    }
    out.extend_from_slice(&(batch.logs.len() as u32).to_le_bytes());
    for log in &batch.logs {
        out.extend_from_slice(&log.time.to_le_bytes());
        out.extend_from_slice(&log.time_ns.to_le_bytes());
        out.extend_from_slice(&(log.contents.len() as u32).to_le_bytes());
        for (key, value) in &log.contents {
            put_str(&mut out, key);
            put_str(&mut out, value);
        }
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Reader<'_> {
    fn u32(&mut self) -> Option<u32> {
        let end = self.position.checked_add(4)?;
        let value = u32::from_le_bytes(self.bytes.get(self.position..end)?.try_into().ok()?);
        self.position = end;
        Some(value)
    }

    fn u64(&mut self) -> Option<u64> {
        let end = self.position.checked_add(8)?;
        let value = u64::from_le_bytes(self.bytes.get(self.position..end)?.try_into().ok()?);
        self.position = end;
        Some(value)
    }

    fn string(&mut self) -> Option<String> {
        let length = self.u32()? as usize;
        let end = self.position.checked_add(length)?;
        let value = std::str::from_utf8(self.bytes.get(self.position..end)?).ok()?;
        self.position = end;
        Some(value.to_string())
    }

    /// A count, bounded by what the remaining bytes could hold.
    fn count(&mut self, min_item_bytes: usize) -> Option<usize> {
        let count = self.u32()? as usize;
        (count.saturating_mul(min_item_bytes) <= self.bytes.len() - self.position).then_some(count)
    }
}

/// Encodes a batch with its idempotency key (see [`decode_keyed`]).
pub fn encode_keyed(batch: &LogBatch, key: &WriteKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.stream.len() + 24);
    out.extend_from_slice(&KEYED_MARKER);
    put_str(&mut out, &key.stream);
    out.extend_from_slice(&key.position.0.to_le_bytes());
    out.extend_from_slice(&key.position.1.to_le_bytes());
    out.extend_from_slice(&encode(batch));
    out
}

/// Decodes a frame written by [`encode`] or [`encode_keyed`]; `None` if the
/// bytes are not a valid encoding.
pub fn decode_keyed(bytes: &[u8]) -> Option<(Option<WriteKey>, LogBatch)> {
    if !bytes.starts_with(&KEYED_MARKER) {
        return decode(bytes).map(|batch| (None, batch));
    }
    let mut reader = Reader {
        bytes,
        position: KEYED_MARKER.len(),
    };
    let stream = reader.string()?;
    let high = reader.u64()?;
    let low = reader.u64()?;
    let batch = decode(&bytes[reader.position..])?;
    Some((
        Some(WriteKey {
            stream,
            position: (high, low),
        }),
        batch,
    ))
}

/// Decodes a batch; `None` if the bytes are not a valid encoding.
pub fn decode(bytes: &[u8]) -> Option<LogBatch> {
    let mut reader = Reader { bytes, position: 0 };
    let topic = reader.string()?;
    let source = reader.string()?;
    let tag_count = reader.count(8)?;
    let mut tags = Vec::with_capacity(tag_count);
    for _ in 0..tag_count {
        tags.push((reader.string()?, reader.string()?));
    }
    let log_count = reader.count(12)?;
    let mut logs = Vec::with_capacity(log_count);
    for _ in 0..log_count {
        let time = reader.u32()?;
        let time_ns = reader.u32()?;
        let pair_count = reader.count(8)?;
        let mut contents = Vec::with_capacity(pair_count);
        for _ in 0..pair_count {
            contents.push((reader.string()?, reader.string()?));
        }
        logs.push(LogRecord {
            time,
            time_ns,
            contents,
        });
    }
    (reader.position == bytes.len()).then_some(LogBatch {
        topic,
        source,
        tags,
        logs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_garbage() {
        let batch = LogBatch {
            topic: "t".into(),
            source: "127.0.0.1".into(),
            tags: vec![("host".into(), "a".into())],
            logs: vec![LogRecord {
                time: 1_700_000_000,
                time_ns: 5,
                contents: vec![("k".into(), "v".into()), ("empty".into(), String::new())],
            }],
        };
        let bytes = encode(&batch);
        assert_eq!(decode(&bytes).unwrap(), batch);
        assert!(decode(&bytes[..bytes.len() - 1]).is_none());
        assert!(decode(&[0xff; 16]).is_none());
        assert_eq!(decode_keyed(&bytes).unwrap(), (None, batch.clone()));
        let key = WriteKey {
            stream: "spool-1".into(),
            position: (7, 4096),
        };
        let keyed = encode_keyed(&batch, &key);
        assert_eq!(decode_keyed(&keyed).unwrap(), (Some(key), batch));
        assert!(
            decode(&keyed).is_none(),
            "a keyed frame is not a plain batch"
        );
        assert!(decode_keyed(&keyed[..keyed.len() - 1]).is_none());
        assert!(decode_keyed(&keyed[..10]).is_none());
    }
}
