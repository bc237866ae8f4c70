//! Envelopes as real SDKs put them on the wire (tests/fixtures/README.md), and the ways a body
//! can be broken.

use std::io::Write;

use bytes::Bytes;
use sentry_sls_event::{
    decode_body, node_id, Envelope, EnvelopeError, EventId, ItemType, Limits, ProjectId,
};

const PYTHON_ERROR: &[u8] = include_bytes!("fixtures/python_error.envelope");
const JS_ERROR: &[u8] = include_bytes!("fixtures/js_error.envelope");
const JS_SESSION: &[u8] = include_bytes!("fixtures/js_session.envelope");
const PYTHON_ATTACHMENT: &[u8] =
    include_bytes!("fixtures/python_attachment_trailing_lines.envelope");

fn parse(body: &[u8]) -> Result<Envelope, EnvelopeError> {
    Envelope::parse_slice(body, &Limits::default())
}

fn json(payload: &[u8]) -> serde_json::Value {
    serde_json::from_slice(payload).expect("payload is JSON")
}

#[test]
fn python_error_event_with_length() {
    let envelope = parse(PYTHON_ERROR).unwrap();
    let event_id = EventId::parse("c0ffee00c0ffee00c0ffee00c0ffee00").unwrap();
    assert_eq!(envelope.headers.event_id, Some(event_id));
    assert_eq!(
        envelope.headers.sent_at.as_deref(),
        Some("2024-11-20T08:15:42.123456Z")
    );
    assert_eq!(
        envelope.headers.other["trace"]["public_key"],
        "e12d836b15bb49d7bbf99e64295d995b"
    );
    assert_eq!(
        envelope.dsn_public_key(),
        None,
        "python sends no dsn header"
    );
    assert_eq!(envelope.len(), 1);

    let item = &envelope.items[0];
    assert_eq!(item.ty(), &ItemType::Event);
    assert_eq!(
        item.headers.content_type.as_deref(),
        Some("application/json")
    );
    let event = json(&item.payload);
    assert_eq!(event["exception"]["values"][0]["type"], "ZeroDivisionError");
    assert_eq!(
        event["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]["café"],
        "'crème'"
    );
    assert_eq!(
        node_id(ProjectId(42), &envelope.event_id().unwrap()),
        node_id(ProjectId(42), &event_id)
    );
}

#[test]
fn js_error_event_without_length_or_trailing_newline() {
    assert_ne!(JS_ERROR.last(), Some(&b'\n'));
    let envelope = parse(JS_ERROR).unwrap();
    assert_eq!(envelope.len(), 1);
    assert_eq!(
        envelope.dsn_public_key(),
        Some("e12d836b15bb49d7bbf99e64295d995b")
    );
    assert_eq!(
        envelope.headers.sdk.as_ref().unwrap()["name"],
        "sentry.javascript.browser"
    );
    let item = &envelope.items[0];
    assert_eq!(item.ty(), &ItemType::Event);
    assert_eq!(item.headers.content_type, None);
    assert_eq!(json(&item.payload)["platform"], "javascript");
    assert_eq!(
        envelope.event_id().unwrap().to_string(),
        "0b1f3ac28e2a4d47a8f3c6c0c8e1d2a4"
    );
}

#[test]
fn js_session_update() {
    let envelope = parse(JS_SESSION).unwrap();
    assert_eq!(envelope.headers.event_id, None);
    assert_eq!(envelope.event_id(), None);
    assert_eq!(envelope.event_item(), None);
    assert_eq!(envelope.len(), 1);
    assert_eq!(envelope.items[0].ty(), &ItemType::Session);
    let session = json(&envelope.items[0].payload);
    assert_eq!(session["status"], "ok");
    assert_eq!(session["attrs"]["release"], "myapp@1.0.0");
}

#[test]
fn binary_attachment_and_trailing_empty_lines() {
    assert!(PYTHON_ATTACHMENT.ends_with(b"\n\n\n\n"));
    let envelope = parse(PYTHON_ATTACHMENT).unwrap();
    let types: Vec<_> = envelope.items.iter().map(|i| i.ty().clone()).collect();
    assert_eq!(
        types,
        [
            ItemType::Event,
            ItemType::Attachment,
            ItemType::ClientReport
        ]
    );
    let attachment = &envelope.items[1];
    let mut expected: Vec<u8> = (0..=255).collect();
    expected.extend_from_slice(b"\n\n{\"type\":\"event\"}\n\r\n");
    assert_eq!(&attachment.payload[..], &expected[..]);
    assert_eq!(attachment.headers.filename.as_deref(), Some("blob.bin"));
    assert_eq!(
        attachment.headers.attachment_type.as_deref(),
        Some("event.attachment")
    );
    assert_eq!(
        json(&envelope.items[2].payload)["discarded_events"][0]["quantity"],
        3
    );
}

#[test]
fn fixtures_survive_serialize_and_reparse() {
    for body in [PYTHON_ERROR, JS_ERROR, JS_SESSION, PYTHON_ATTACHMENT] {
        let envelope = parse(body).unwrap();
        let reparsed = parse(&envelope.serialize()).unwrap();
        assert_eq!(reparsed, envelope);
    }
    // An envelope already in canonical form serializes to the same bytes.
    let canonical = parse(PYTHON_ATTACHMENT).unwrap().serialize();
    assert_eq!(parse(&canonical).unwrap().serialize(), canonical);
}

#[test]
fn gzip_compressed_envelope() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(PYTHON_ATTACHMENT).unwrap();
    let compressed = encoder.finish().unwrap();
    let limits = Limits::default();
    let decoded = decode_body(Some("gzip"), &compressed, limits.max_envelope_size).unwrap();
    let envelope = Envelope::parse(Bytes::from(decoded), &limits).unwrap();
    assert_eq!(envelope, parse(PYTHON_ATTACHMENT).unwrap());
}

#[test]
fn truncated_envelopes() {
    // Cut inside the length-framed event payload.
    let cut = &PYTHON_ERROR[..PYTHON_ERROR.len() - 20];
    assert!(matches!(parse(cut), Err(EnvelopeError::UnexpectedEof)));
    // Cut inside the item header.
    let header_end = PYTHON_ERROR.iter().position(|&b| b == b'\n').unwrap();
    let cut = &PYTHON_ERROR[..header_end + 10];
    assert!(matches!(
        parse(cut),
        Err(EnvelopeError::InvalidItemHeader(_))
    ));
    // Cut inside the envelope header.
    assert!(matches!(
        parse(&PYTHON_ERROR[..header_end - 3]),
        Err(EnvelopeError::InvalidHeader(_))
    ));
    // A length-less payload cut short is just a shorter payload (as in Relay); its JSON is
    // what breaks, later.
    let envelope = parse(&JS_ERROR[..JS_ERROR.len() - 5]).unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&envelope.items[0].payload).is_err());
}

/// Rewrites the `"length":N` of the first length-framed item.
fn with_length(body: &[u8], change: impl Fn(usize) -> usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(body).into_owned();
    let start = text.find("\"length\":").unwrap() + "\"length\":".len();
    let end = start + text[start..].find(|c: char| !c.is_ascii_digit()).unwrap();
    let length: usize = text[start..end].parse().unwrap();
    let mut out = body[..start].to_vec();
    out.extend_from_slice(change(length).to_string().as_bytes());
    out.extend_from_slice(&body[end..]);
    out
}

#[test]
fn wrong_lengths() {
    assert!(parse(&with_length(PYTHON_ERROR, |n| n)).is_ok());
    assert!(matches!(
        parse(&with_length(PYTHON_ERROR, |n| n - 1)),
        Err(EnvelopeError::MissingNewline)
    ));
    // One more: the payload's "\n" becomes part of it and EOF ends it (Relay accepts this too).
    let envelope = parse(&with_length(PYTHON_ERROR, |n| n + 1)).unwrap();
    assert_eq!(envelope.items[0].payload.last(), Some(&b'\n'));
    assert!(matches!(
        parse(&with_length(PYTHON_ERROR, |n| n + 2)),
        Err(EnvelopeError::UnexpectedEof)
    ));
    // In the middle of an envelope, a short length runs into the next header.
    assert!(matches!(
        parse(&with_length(PYTHON_ATTACHMENT, |n| n + 1)),
        Err(EnvelopeError::MissingNewline)
    ));
}

#[test]
fn bad_json_headers() {
    let mut body = b"{\"event_id\":\"c0ffee00c0ffee00c0ffee00c0ffee00\",}\n".to_vec();
    body.extend_from_slice(
        &PYTHON_ERROR[PYTHON_ERROR.iter().position(|&b| b == b'\n').unwrap() + 1..],
    );
    let err = parse(&body).unwrap_err();
    assert!(matches!(err, EnvelopeError::InvalidHeader(_)));
    assert!(
        err.to_string().starts_with("invalid envelope header: "),
        "{err}"
    );

    let err = parse(b"{}\n{\"type\":\"event\",\"length\":2\n{}\n").unwrap_err();
    assert!(matches!(err, EnvelopeError::InvalidItemHeader(_)));
    let err = parse(b"{\"event_id\":\"c0ffee00\"}\n").unwrap_err();
    assert!(matches!(err, EnvelopeError::InvalidHeader(_)));
}

#[test]
fn item_without_type() {
    let err = parse(b"{}\n{\"length\":2,\"content_type\":\"application/json\"}\n{}\n").unwrap_err();
    assert!(matches!(err, EnvelopeError::MissingItemType));
    assert_eq!(err.to_string(), "missing item type");
}

#[test]
fn oversized_event_is_a_size_error() {
    let message = "x".repeat(1 << 20);
    let event = format!(r#"{{"message":"{message}"}}"#);
    let body = format!(
        "{{}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    );
    let err = parse(body.as_bytes()).unwrap_err();
    assert!(err.is_size_limit());
    assert!(
        matches!(&err, EnvelopeError::TooLarge { what, limit: 1_048_576 } if what == "event item"),
        "{err}"
    );
    // The same item as an attachment is fine.
    let attachment = body.replacen("\"event\"", "\"attachment\"", 1);
    assert!(parse(attachment.as_bytes()).is_ok());
}

#[test]
fn two_events_in_one_envelope_are_rejected() {
    let err = parse(b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"transaction\"}\n{}\n").unwrap_err();
    assert!(matches!(err, EnvelopeError::TooManyItems { limit: 1, .. }));
    assert_eq!(err.to_string(), "too many event items (limit 1)");
}

#[test]
fn unknown_item_types_are_kept_verbatim() {
    let body = b"{}\n{\"type\":\"brand_new\",\"length\":3,\"flavour\":\"x\"}\nabc\n";
    let envelope = parse(body).unwrap();
    assert_eq!(
        envelope.items[0].ty(),
        &ItemType::Unknown("brand_new".into())
    );
    assert_eq!(envelope.items[0].headers.other["flavour"], "x");
    assert_eq!(envelope.serialize(), body);
}
