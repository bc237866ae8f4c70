//! The legacy `/api/{project_id}/store/` body: one JSON event.
//!
//! Relay's `decode_event`: a body that starts with `{` is the JSON event itself; otherwise it is
//! base64 (very old SDKs, e.g. raven-python, sent `base64(zlib(json))`), whose decoding is either
//! the JSON itself or zlib-compressed JSON. The result is wrapped as an envelope with one event
//! item, as Relay does, so the store and envelope endpoints share everything downstream.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, Engine, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::decode::{ContentEncoding, DecodeError};
use crate::envelope::{Envelope, EnvelopeHeaders, Item, ItemType, Limits};
use crate::ids::{EventId, IdError};

/// Why a store body was rejected.
#[derive(Debug, thiserror::Error)]
pub enum StoreBodyError {
    /// The body is empty or only whitespace.
    #[error("empty event body")]
    Empty,
    /// Not JSON, and not valid base64 either.
    #[error("invalid base64 in event body")]
    Base64,
    /// Base64 of something that is neither JSON nor zlib/deflate data.
    #[error("bad compression in event body: {0}")]
    Decompress(DecodeError),
    /// The (decoded) event is not valid JSON.
    #[error("invalid event json: {0}")]
    InvalidJson(serde_json::Error),
    /// The (decoded) event is JSON but not an object.
    #[error("event is not a json object")]
    NotAnObject,
    /// The event's `event_id` is present but not a valid id.
    #[error("invalid event id")]
    InvalidEventId(IdError),
    /// The decoded event is larger than [`Limits::max_event_size`].
    #[error("event exceeds the size limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

impl StoreBodyError {
    /// Whether this is a size limit breach (Relay answers 413) rather than a bad body (400).
    pub fn is_size_limit(&self) -> bool {
        matches!(self, StoreBodyError::TooLarge { .. })
    }
}

/// Standard-alphabet base64, padding optional.
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// URL-safe base64, padding optional.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a store body (already decoded from its `Content-Encoding`) to the event's JSON
/// bytes, at most `max_event_size` of them, checked to be one JSON object.
pub fn decode_store_body(body: Bytes, max_event_size: usize) -> Result<Bytes, StoreBodyError> {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .ok_or(StoreBodyError::Empty)?;
    let json = if body[start] == b'{' {
        body
    } else {
        let text: Vec<u8> = body
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let binary = STANDARD_LENIENT
            .decode(&text)
            .or_else(|_| URL_SAFE_LENIENT.decode(&text))
            .map_err(|_| StoreBodyError::Base64)?;
        if binary.first() == Some(&b'{') {
            Bytes::from(binary)
        } else {
            match ContentEncoding::Deflate.decode(&binary, max_event_size) {
                Ok(json) => Bytes::from(json),
                Err(DecodeError::TooLarge { limit }) => {
                    return Err(StoreBodyError::TooLarge { limit })
                }
                Err(e) => return Err(StoreBodyError::Decompress(e)),
            }
        }
    };
    if json.len() > max_event_size {
        return Err(StoreBodyError::TooLarge {
            limit: max_event_size,
        });
    }
    // Full syntax check, without building the document.
    serde_json::from_slice::<serde::de::IgnoredAny>(&json).map_err(StoreBodyError::InvalidJson)?;
    if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(StoreBodyError::NotAnObject);
    }
    Ok(json)
}

/// Decodes a store body and wraps the event as an envelope, as Relay's store endpoint does: one
/// item, typed from the event's `type` (`transaction` → [`ItemType::Transaction`], `csp`/`hpkp`/
/// `expectct`/`expectstaple` → [`ItemType::Security`], `feedback` → [`ItemType::Feedback`],
/// otherwise [`ItemType::Event`]), with `content_type: application/json`, and the envelope
/// header's `event_id` set from the event's, when it has one.
pub fn parse_store_body(body: Bytes, limits: &Limits) -> Result<Envelope, StoreBodyError> {
    let json = decode_store_body(body, limits.max_event_size)?;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        event_id: Option<Value>,
        #[serde(default, rename = "type")]
        ty: Option<Value>,
    }
    let probe: Probe = serde_json::from_slice(&json).map_err(StoreBodyError::InvalidJson)?;
    let event_id = match probe.event_id {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            Some(EventId::parse(&text).map_err(StoreBodyError::InvalidEventId)?)
        }
        Some(_) => return Err(StoreBodyError::InvalidEventId(IdError::InvalidEventId)),
    };
    let ty = match probe.ty.as_ref().and_then(Value::as_str) {
        Some("transaction") => ItemType::Transaction,
        Some("csp" | "hpkp" | "expectct" | "expectstaple") => ItemType::Security,
        Some("feedback") => ItemType::Feedback,
        _ => ItemType::Event,
    };
    let mut item = Item::new(ty, json);
    item.headers.content_type = Some("application/json".into());
    let mut envelope = Envelope::new(EnvelopeHeaders {
        event_id,
        ..EnvelopeHeaders::default()
    });
    envelope.add_item(item);
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use base64::engine::general_purpose::STANDARD;
    use flate2::write::ZlibEncoder;
    use flate2::Compression;

    const EVENT: &str =
        r#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","message":"hello","level":"error"}"#;

    fn limits() -> Limits {
        Limits::default()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_json() {
        let e = parse_store_body(Bytes::from_static(EVENT.as_bytes()), &limits()).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e.items[0].ty(), &ItemType::Event);
        assert_eq!(&e.items[0].payload[..], EVENT.as_bytes());
        assert_eq!(
            e.headers.event_id.unwrap().to_string(),
            "9ec79c33ec9942ab8353589fcb2e04dc"
        );
        assert_eq!(
            e.items[0].headers.content_type.as_deref(),
            Some("application/json")
        );
    }

    #[test]
    fn base64_zlib_and_base64_json() {
        let old = STANDARD.encode(zlib(EVENT.as_bytes()));
        let e = parse_store_body(Bytes::from(old), &limits()).unwrap();
        assert_eq!(&e.items[0].payload[..], EVENT.as_bytes());

        let wrapped = format!("{}\n", STANDARD.encode(EVENT).trim_end_matches('='));
        let e = parse_store_body(Bytes::from(wrapped), &limits()).unwrap();
        assert_eq!(&e.items[0].payload[..], EVENT.as_bytes());
    }

    #[test]
    fn item_type_from_event_type() {
        for (ty, expected) in [
            ("transaction", ItemType::Transaction),
            ("csp", ItemType::Security),
            ("feedback", ItemType::Feedback),
            ("error", ItemType::Event),
        ] {
            let body = format!(r#"{{"type":"{ty}"}}"#);
            let e = parse_store_body(Bytes::from(body), &limits()).unwrap();
            assert_eq!(e.items[0].ty(), &expected);
            assert_eq!(e.headers.event_id, None);
        }
    }

    #[test]
    fn errors() {
        let check = |body: &[u8]| parse_store_body(Bytes::copy_from_slice(body), &limits());
        assert!(matches!(check(b""), Err(StoreBodyError::Empty)));
        assert!(matches!(check(b"  \n"), Err(StoreBodyError::Empty)));
        assert!(matches!(
            check(b"{\"a\":"),
            Err(StoreBodyError::InvalidJson(_))
        ));
        assert!(matches!(
            check(b"{} x"),
            Err(StoreBodyError::InvalidJson(_))
        ));
        assert!(matches!(check(b"[1,2]"), Err(StoreBodyError::Base64)));
        assert!(matches!(
            check(STANDARD.encode("[1,2]").as_bytes()),
            Err(StoreBodyError::Decompress(_))
        ));
        assert!(matches!(
            check(STANDARD.encode(zlib(b"[1,2]")).as_bytes()),
            Err(StoreBodyError::NotAnObject)
        ));
        assert!(matches!(check(b"not base64!"), Err(StoreBodyError::Base64)));
        assert!(matches!(
            check(br#"{"event_id":"xyz"}"#),
            Err(StoreBodyError::InvalidEventId(_))
        ));
        assert!(matches!(
            check(br#"{"event_id":5}"#),
            Err(StoreBodyError::InvalidEventId(_))
        ));
    }

    #[test]
    fn event_size_limit() {
        let small = Limits {
            max_event_size: 20,
            ..Limits::default()
        };
        let err = parse_store_body(Bytes::from_static(EVENT.as_bytes()), &small).unwrap_err();
        assert!(err.is_size_limit());
        // A compressed bomb is cut off at the limit.
        let big = format!(r#"{{"message":"{}"}}"#, "a".repeat(100_000));
        let body = STANDARD.encode(zlib(big.as_bytes()));
        let err = parse_store_body(Bytes::from(body), &small).unwrap_err();
        assert!(matches!(err, StoreBodyError::TooLarge { limit: 20 }));
    }
}
