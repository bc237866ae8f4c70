//! The event body inside a record (docs/schema.md §2): the nodestore bytes,
//! plain up to [`PLAIN_MAX`] (`body`), above that one zstd frame in base64 cut
//! into chunks (`body_zstd_1..n`), with `body_len` and a checksum so the reader
//! returns exactly the bytes ingest stored: `body_crc32` (CRC-32, what ingest
//! writes) or `body_md5` (records of earlier versions). MD5 of a 10 KB body
//! took a tenth of an event's processing; CRC-32 takes a hundredth of that
//! and catches the same truncation and corruption.
//!
//! Processed events are JSON full of repeated keys and nulls: zstd at level 1
//! stores a typical 11 KB body in about 2.8 KB of base64 for about 30 µs,
//! and every later stage (spool, WAL, memtable, segments, compaction) carries
//! a record frame of less than half its plain size.

use std::cell::RefCell;

use base64::Engine;
use md5::{Digest, Md5};

/// Size of one base64 chunk (a multiple of 4), so one value stays well under SLS's 1 MB.
pub const CHUNK: usize = 524_288;
/// Largest body kept as plain JSON (readable as it is): below it compression
/// saves a few hundred bytes at most.
pub const PLAIN_MAX: usize = 1024;
/// Largest body stored or read (ingest's own limits stop far below it): a
/// damaged `body_len` cannot make the reader allocate more.
pub const MAX_LEN: usize = 64 * 1024 * 1024;
/// zstd level of stored bodies. On the `bench stages` events level 1 costs
/// about 11 µs less than the default 3 for the same size (a 6,462 against a
/// 6,451 byte frame); the fast levels below 1 save 5–12 µs and add 10–28 %.
const LEVEL: i32 = 1;
/// Most chunks of one body (4 MiB of base64).
pub const MAX_CHUNKS: usize = 8;

/// Why a body could not be stored or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Even compressed, the body needs more than [`MAX_CHUNKS`] chunks.
    #[error("event body too large: {0} bytes")]
    TooLarge(usize),
    /// A stored body is inconsistent (missing chunk, bad codec, checksum mismatch).
    #[error("corrupt stored body: {0}")]
    Corrupt(String),
}

/// The `body_crc32` of `bytes`: CRC-32 (IEEE), 8 lowercase hex digits.
fn crc32_hex(bytes: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(bytes))
}

fn md5_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Md5::digest(bytes);
    let mut out = String::with_capacity(32);
    for byte in digest {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 15)] as char);
    }
    out
}

/// The record keys holding `body`, in order (an owned body that fits is moved, not copied).
pub fn encode(body: impl Into<Vec<u8>>) -> Result<Vec<(String, String)>, BodyError> {
    let body: Vec<u8> = body.into();
    if body.len() > MAX_LEN {
        return Err(BodyError::TooLarge(body.len()));
    }
    let mut keys = Vec::with_capacity(4);
    if body.len() <= PLAIN_MAX {
        let len = body.len();
        let checksum = crc32_hex(&body);
        match String::from_utf8(body) {
            Ok(text) => {
                keys.push(("body_codec".to_string(), "json".to_string()));
                keys.push(("body".to_string(), text));
                keys.push(("body_len".to_string(), len.to_string()));
                keys.push(("body_crc32".to_string(), checksum));
                return Ok(keys);
            }
            Err(error) => return encode_compressed(&error.into_bytes()),
        }
    }
    encode_compressed(&body)
}

/// A body too large (or not UTF-8) for the plain form: zstd, base64, in chunks.
fn encode_compressed(body: &[u8]) -> Result<Vec<(String, String)>, BodyError> {
    thread_local! {
        // A compression context allocates its tables once: one per thread, reused.
        static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    }
    let mut keys = Vec::with_capacity(6);
    let compressed = COMPRESSOR
        .with(|cell| {
            let mut cell = cell.borrow_mut();
            let compressor = match cell.as_mut() {
                Some(compressor) => compressor,
                None => cell.insert(zstd::bulk::Compressor::new(LEVEL)?),
            };
            compressor.compress(body)
        })
        .map_err(|error| BodyError::Corrupt(error.to_string()))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(compressed);
    let parts = encoded.len().div_ceil(CHUNK).max(1);
    if parts > MAX_CHUNKS {
        return Err(BodyError::TooLarge(body.len()));
    }
    keys.push(("body_codec".to_string(), "zstd-b64".to_string()));
    if parts == 1 {
        // The common case moves the one chunk instead of copying it.
        keys.push(("body_zstd_1".to_string(), encoded));
    } else {
        for (index, chunk) in encoded.as_bytes().chunks(CHUNK).enumerate() {
            let chunk = std::str::from_utf8(chunk).expect("base64 is ASCII");
            keys.push((format!("body_zstd_{}", index + 1), chunk.to_string()));
        }
    }
    keys.push(("body_parts".to_string(), parts.to_string()));
    keys.push(("body_len".to_string(), body.len().to_string()));
    keys.push(("body_crc32".to_string(), crc32_hex(body)));
    Ok(keys)
}

/// The body bytes of a record, checked against `body_len` and `body_crc32`
/// (or, in records of earlier versions, `body_md5`).
pub fn decode(get: impl Fn(&str) -> Option<String>) -> Result<Vec<u8>, BodyError> {
    let corrupt = |message: &str| BodyError::Corrupt(message.to_string());
    let body = match get("body_codec").as_deref() {
        Some("json") => get("body")
            .ok_or_else(|| corrupt("body missing"))?
            .into_bytes(),
        Some("zstd-b64") => {
            let parts: usize = get("body_parts")
                .and_then(|parts| parts.parse().ok())
                .filter(|parts| (1..=MAX_CHUNKS).contains(parts))
                .ok_or_else(|| corrupt("bad body_parts"))?;
            let mut encoded = String::new();
            for index in 1..=parts {
                encoded.push_str(
                    &get(&format!("body_zstd_{index}")).ok_or_else(|| corrupt("chunk missing"))?,
                );
            }
            let compressed = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|error| BodyError::Corrupt(error.to_string()))?;
            // The length sizes the output buffer: bounded, so a damaged record cannot
            // make the reader allocate gigabytes.
            let length: usize = get("body_len")
                .and_then(|length| length.parse().ok())
                .filter(|length| *length <= MAX_LEN)
                .ok_or_else(|| corrupt("bad body_len"))?;
            zstd::bulk::decompress(&compressed, length)
                .map_err(|error| BodyError::Corrupt(error.to_string()))?
        }
        other => return Err(BodyError::Corrupt(format!("unknown body_codec {other:?}"))),
    };
    if get("body_len").as_deref() != Some(body.len().to_string().as_str()) {
        return Err(corrupt("length mismatch"));
    }
    match (get("body_crc32"), get("body_md5")) {
        (Some(crc32), _) if crc32 == crc32_hex(&body) => Ok(body),
        (Some(_), _) => Err(corrupt("crc32 mismatch")),
        (None, Some(md5)) if md5 == md5_hex(&body) => Ok(body),
        (None, Some(_)) => Err(corrupt("md5 mismatch")),
        (None, None) => Err(corrupt("checksum missing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(body: &[u8]) -> Vec<(String, String)> {
        let keys = encode(body).unwrap();
        let lookup = |name: &str| {
            keys.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        assert_eq!(decode(lookup).unwrap(), body);
        for (_, value) in &keys {
            assert!(
                value.len() <= CHUNK,
                "every value stays under SLS's 1 MB limit"
            );
        }
        keys
    }

    #[test]
    fn small_bodies_stay_plain() {
        let keys = round_trip(br#"{"event_id":"a","message":"hi"}"#);
        assert_eq!(keys[0], ("body_codec".to_string(), "json".to_string()));
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            md5_hex(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
    }

    #[test]
    fn event_sized_bodies_are_compressed_and_the_plain_limit_is_exact() {
        // A processed event: repeated keys and nulls, as the normaliser writes them.
        let frame = r#"{"abs_path":"/srv/app/handlers.py","colno":null,"context_line":"    return charge(order)","data":null,"filename":"app/handlers.py","function":"checkout","in_app":true,"lineno":42,"module":"app.handlers","package":null,"platform":null,"post_context":[],"pre_context":[],"raw_function":null,"symbol":null,"vars":null}"#;
        let event = format!(
            "{{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"exception\":{{\"values\":[{{\"stacktrace\":{{\"frames\":[{}]}},\"type\":\"ValueError\"}}]}}}}",
            vec![frame; 30].join(",")
        );
        let keys = round_trip(event.as_bytes());
        assert_eq!(keys[0].1, "zstd-b64");
        assert!(!keys.iter().any(|(key, _)| key == "body"));
        let stored: usize = keys
            .iter()
            .filter(|(key, _)| key.starts_with("body_zstd_"))
            .map(|(_, value)| value.len())
            .sum();
        assert!(
            stored * 4 < event.len(),
            "{} bytes of event JSON stored in {stored}",
            event.len()
        );
        // Up to PLAIN_MAX bytes stay plain JSON, one byte more is compressed.
        let padded = |len: usize| format!("{{\"x\":\"{}\"}}", "y".repeat(len - 8));
        assert_eq!(round_trip(padded(PLAIN_MAX).as_bytes())[0].1, "json");
        assert_eq!(
            round_trip(padded(PLAIN_MAX + 1).as_bytes())[0].1,
            "zstd-b64"
        );
    }

    #[test]
    fn bodies_over_the_limit_are_refused_on_write() {
        assert_eq!(
            encode(vec![b' '; MAX_LEN + 1]),
            Err(BodyError::TooLarge(MAX_LEN + 1))
        );
    }

    #[test]
    fn a_damaged_length_is_refused_before_it_sizes_a_buffer() {
        let keys = encode("z".repeat(4096)).unwrap();
        let lookup = |name: &str| {
            if name == "body_len" {
                Some(u64::MAX.to_string())
            } else {
                keys.iter()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.clone())
            }
        };
        assert_eq!(
            decode(lookup),
            Err(BodyError::Corrupt("bad body_len".to_string()))
        );
    }

    #[test]
    fn large_bodies_round_trip_byte_exact() {
        // 1 MiB of repetitive JSON and 1 MiB of random ASCII (xorshift, reproducible).
        let repetitive = format!("{{\"x\":\"{}\"}}", "abc".repeat(350_000));
        let keys = round_trip(repetitive.as_bytes());
        assert_eq!(keys[0].1, "zstd-b64");
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let random: Vec<u8> = (0..1024 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                b' ' + (state % 94) as u8
            })
            .collect();
        let keys = round_trip(&random);
        assert!(
            keys.iter().any(|(key, _)| key == "body_zstd_2"),
            "incompressible data spans chunks"
        );
    }

    #[test]
    fn tampering_is_detected() {
        let keys = encode(b"{\"a\":1}").unwrap();
        let lookup = |name: &str| {
            if name == "body" {
                Some("{\"a\":2}".to_string())
            } else {
                keys.iter()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.clone())
            }
        };
        assert!(matches!(decode(lookup), Err(BodyError::Corrupt(_))));
        assert!(matches!(decode(|_| None), Err(BodyError::Corrupt(_))));
    }

    #[test]
    fn bodies_carry_a_crc32_and_records_with_an_md5_still_read() {
        // The CRC-32 check value of "123456789".
        assert_eq!(crc32_hex(b"123456789"), "cbf43926");
        let body = br#"{"event_id":"a","message":"hi"}"#;
        let keys = encode(&body[..]).unwrap();
        assert!(keys
            .iter()
            .any(|(key, value)| key == "body_crc32" && *value == crc32_hex(body)));
        assert!(!keys.iter().any(|(key, _)| key == "body_md5"));
        // A record of an earlier version: `body_md5`, no `body_crc32`.
        let legacy = |md5: String| {
            move |name: &str| match name {
                "body_codec" => Some("json".to_string()),
                "body" => Some(String::from_utf8(body.to_vec()).unwrap()),
                "body_len" => Some(body.len().to_string()),
                "body_md5" => Some(md5.clone()),
                _ => None,
            }
        };
        assert_eq!(decode(legacy(md5_hex(body))).unwrap(), body);
        assert!(matches!(
            decode(legacy(md5_hex(b"other"))),
            Err(BodyError::Corrupt(_))
        ));
    }
}
