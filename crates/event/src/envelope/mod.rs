//! Sentry envelopes: parsing (with limits) and serialization.
//!
//! Wire format (Relay's `relay-server/src/envelope`):
//!
//! ```text
//! {"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://key@host/42"}\n
//! {"type":"event","length":41,"content_type":"application/json"}\n
//! {"message":"hello world","level":"error"}\n
//! {"type":"attachment","length":7,"filename":"application.log"}\n
//! Hello\r\n\n
//! ```
//!
//! - The first JSON value is the envelope header object. It must be followed by `\n` or the end
//!   of the body.
//! - Each item is a header object (`type` required) followed by `\n`, then the payload. With a
//!   `length` header exactly that many bytes follow, then `\n` or the end of the body; without
//!   one, the payload runs to the next `\n` or the end of the body.
//! - Whitespace (including empty lines) before an item header is skipped, and so is trailing
//!   whitespace at the end of the body. (Relay rejects a body ending in more than one newline
//!   with "unexpected end of file"; SDKs and proxies that add one more are accepted here.)
//!
//! [`Limits`] are enforced as the items are read: the body size first, then each item as soon
//! as it is framed.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ids::EventId;

mod item;
mod limits;

pub use item::{Item, ItemHeaders, ItemType, RESERVED_ITEM_HEADERS};
pub use limits::Limits;

/// Why an envelope was rejected.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The body is empty or only whitespace.
    #[error("missing envelope header")]
    MissingHeader,
    /// A header or a `length`-framed payload is followed by something other than `\n`.
    #[error("missing newline after header or payload")]
    MissingNewline,
    /// The envelope header is not a JSON object, or one of its known fields has the wrong type
    /// (e.g. an invalid `event_id`).
    #[error("invalid envelope header: {0}")]
    InvalidHeader(serde_json::Error),
    /// An item header is not a JSON object, or `length`/`content_type`/… has the wrong type.
    #[error("invalid item header: {0}")]
    InvalidItemHeader(serde_json::Error),
    /// An item header without a (non-empty string) `type`.
    #[error("missing item type")]
    MissingItemType,
    /// An item's `length` runs past the end of the body.
    #[error("unexpected end of file")]
    UnexpectedEof,
    /// A size limit was exceeded.
    #[error("{what} exceeds the size limit of {limit} bytes")]
    TooLarge {
        /// What was too large: `envelope`, `<type> item`, or `<category> items combined`.
        what: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A count limit was exceeded.
    #[error("too many {what} items (limit {limit})")]
    TooManyItems {
        /// The limit category (`event`, `attachment`, `session`, …) or `envelope` for all items.
        what: String,
        /// The limit.
        limit: usize,
    },
}

impl EnvelopeError {
    /// Whether this is a size or count limit breach (Relay answers 413), as opposed to a
    /// malformed envelope (400).
    pub fn is_size_limit(&self) -> bool {
        matches!(
            self,
            EnvelopeError::TooLarge { .. } | EnvelopeError::TooManyItems { .. }
        )
    }
}

/// Envelope header keys with a typed field in [`EnvelopeHeaders`]. They never appear in
/// [`EnvelopeHeaders::other`] after parsing, and are ignored there when serializing.
pub const RESERVED_ENVELOPE_HEADERS: &[&str] = &["event_id", "dsn", "sdk", "sent_at"];

/// The envelope header (first line). A JSON `null` in a typed field reads as absent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnvelopeHeaders {
    /// `event_id`: the id of the event this envelope carries, if any.
    pub event_id: Option<EventId>,
    /// `dsn`: the DSN the SDK was configured with (may authenticate the request).
    pub dsn: Option<String>,
    /// `sdk`: `{"name": …, "version": …}` as sent.
    pub sdk: Option<Value>,
    /// `sent_at`: RFC 3339 time the SDK sent the envelope, as sent (used for clock drift).
    pub sent_at: Option<String>,
    /// Every other header (`trace` dynamic sampling context, …), kept for forward
    /// compatibility.
    pub other: BTreeMap<String, Value>,
}

impl EnvelopeHeaders {
    fn from_json(map: Map<String, Value>) -> Result<Self, EnvelopeError> {
        let mut headers = EnvelopeHeaders::default();
        for (key, value) in map {
            match key.as_str() {
                "event_id" => {
                    headers.event_id = match value {
                        Value::Null => None,
                        Value::String(text) => Some(EventId::parse(&text).map_err(|_| {
                            invalid_header(format!("invalid event_id {:?}", truncate(&text)))
                        })?),
                        _ => return Err(invalid_header("`event_id` must be a string".into())),
                    }
                }
                "dsn" => headers.dsn = optional_string(value, "dsn")?,
                "sent_at" => headers.sent_at = optional_string(value, "sent_at")?,
                "sdk" => headers.sdk = Some(value).filter(|v| !v.is_null()),
                _ => {
                    headers.other.insert(key, value);
                }
            }
        }
        Ok(headers)
    }

    /// The header line's entries, in the order they are written.
    fn to_json(&self) -> Vec<(String, Value)> {
        let mut map = Vec::new();
        if let Some(event_id) = &self.event_id {
            map.push(("event_id".into(), Value::from(event_id.to_string())));
        }
        if let Some(dsn) = &self.dsn {
            map.push(("dsn".into(), Value::from(dsn.as_str())));
        }
        if let Some(sdk) = &self.sdk {
            map.push(("sdk".into(), sdk.clone()));
        }
        if let Some(sent_at) = &self.sent_at {
            map.push(("sent_at".into(), Value::from(sent_at.as_str())));
        }
        for (key, value) in &self.other {
            if !RESERVED_ENVELOPE_HEADERS.contains(&key.as_str()) {
                map.push((key.clone(), value.clone()));
            }
        }
        map
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

fn invalid_header(reason: String) -> EnvelopeError {
    EnvelopeError::InvalidHeader(serde::de::Error::custom(reason))
}

fn optional_string(value: Value, key: &str) -> Result<Option<String>, EnvelopeError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(invalid_header(format!("`{key}` must be a string"))),
    }
}

/// A parsed envelope: header and items, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Envelope {
    /// The envelope header.
    pub headers: EnvelopeHeaders,
    /// The items, in body order.
    pub items: Vec<Item>,
}

/// Reads one JSON value starting at `start` (after optional whitespace). `None` when only
/// whitespace remains; otherwise the value and the absolute offset just past it.
fn read_json(slice: &[u8], start: usize) -> Option<Result<(Value, usize), serde_json::Error>> {
    let mut stream = serde_json::Deserializer::from_slice(&slice[start..]).into_iter::<Value>();
    let value = stream.next()?;
    Some(value.map(|value| (value, start + stream.byte_offset())))
}

/// JSON's whitespace (RFC 8259): what Relay's JSON stream skips before an item header.
fn is_json_whitespace(byte: &u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

/// A header or `length`-framed payload must be followed by `\n` or the end of the body.
fn require_termination(slice: &[u8], offset: usize) -> Result<(), EnvelopeError> {
    match slice.get(offset) {
        None | Some(b'\n') => Ok(()),
        Some(_) => Err(EnvelopeError::MissingNewline),
    }
}

impl Envelope {
    /// An envelope with `headers` and no items.
    pub fn new(headers: EnvelopeHeaders) -> Self {
        Envelope {
            headers,
            items: Vec::new(),
        }
    }

    /// Parses an envelope body (already decoded from its `Content-Encoding`). Payloads are
    /// zero-copy slices of `body`.
    pub fn parse(body: Bytes, limits: &Limits) -> Result<Envelope, EnvelopeError> {
        if body.len() > limits.max_envelope_size {
            return Err(EnvelopeError::TooLarge {
                what: "envelope".into(),
                limit: limits.max_envelope_size,
            });
        }
        let slice = body.as_ref();
        let (header_value, header_end) = match read_json(slice, 0) {
            None => return Err(EnvelopeError::MissingHeader),
            Some(Err(e)) => return Err(EnvelopeError::InvalidHeader(e)),
            Some(Ok(parsed)) => parsed,
        };
        let Value::Object(header_map) = header_value else {
            return Err(invalid_header("expected a json object".into()));
        };
        require_termination(slice, header_end)?;
        let headers = EnvelopeHeaders::from_json(header_map)?;

        let mut budget = limits::Budget::new(limits);
        let mut items = Vec::new();
        let mut offset = header_end + 1;
        loop {
            while slice.get(offset).is_some_and(is_json_whitespace) {
                offset += 1;
            }
            if offset >= slice.len() {
                break;
            }
            let (item, end) = Self::parse_item(&body, offset)?;
            budget.admit(&item)?;
            items.push(item);
            offset = end + 1;
        }
        Ok(Envelope { headers, items })
    }

    /// [`Envelope::parse`] on a borrowed body (copied once).
    pub fn parse_slice(body: &[u8], limits: &Limits) -> Result<Envelope, EnvelopeError> {
        Envelope::parse(Bytes::copy_from_slice(body), limits)
    }

    /// Parses the item starting at `offset` (a non-whitespace byte); returns it and the offset
    /// just past its payload.
    fn parse_item(body: &Bytes, offset: usize) -> Result<(Item, usize), EnvelopeError> {
        let slice = body.as_ref();
        let (header_value, header_end) = match read_json(slice, offset) {
            None => return Err(EnvelopeError::UnexpectedEof),
            Some(Err(e)) => return Err(EnvelopeError::InvalidItemHeader(e)),
            Some(Ok(parsed)) => parsed,
        };
        let Value::Object(header_map) = header_value else {
            return Err(EnvelopeError::InvalidItemHeader(serde::de::Error::custom(
                "expected a json object",
            )));
        };
        let (headers, length) = ItemHeaders::from_json(header_map)?;
        require_termination(slice, header_end)?;

        // The header of a last, empty item need not end in a newline.
        let payload_start = (header_end + 1).min(slice.len());
        let payload_end = match length {
            Some(declared_length) => {
                let end = usize::try_from(declared_length)
                    .ok()
                    .and_then(|length| payload_start.checked_add(length))
                    .filter(|&end| end <= slice.len())
                    .ok_or(EnvelopeError::UnexpectedEof)?;
                require_termination(slice, end)?;
                end
            }
            None => slice[payload_start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(slice.len(), |pos| payload_start + pos),
        };
        let item = Item {
            headers,
            payload: body.slice(payload_start..payload_end),
        };
        Ok((item, payload_end))
    }

    /// Writes the envelope in wire format: every item with an explicit `length` and followed by
    /// `\n`, so any payload bytes survive. `Envelope::parse(e.serialize())` gives back `e`
    /// (given [`ItemType::Unknown`] never holds a known name and the `other` maps hold no
    /// reserved keys).
    pub fn serialize(&self) -> Vec<u8> {
        let size = self.items.iter().map(|i| i.len() + 64).sum::<usize>() + 128;
        let mut out = Vec::with_capacity(size);
        self.serialize_into(&mut out);
        out
    }

    /// [`Envelope::serialize`], appending to `out`.
    pub fn serialize_into(&self, out: &mut Vec<u8>) {
        write_json(out, self.headers.to_json());
        out.push(b'\n');
        for item in &self.items {
            write_json(out, item.headers.to_json(item.len()));
            out.push(b'\n');
            out.extend_from_slice(&item.payload);
            out.push(b'\n');
        }
    }

    /// The event id: the header's `event_id`, or else the `event_id` field of the first event
    /// item ([`ItemType::is_event`]) that has a valid one.
    pub fn event_id(&self) -> Option<EventId> {
        self.headers.event_id.or_else(|| {
            self.items
                .iter()
                .filter(|item| item.ty().is_event())
                .find_map(|item| event_id_in_payload(&item.payload))
        })
    }

    /// The public key of the header's `dsn` (`https://<public_key>[:<secret>]@host/…`), if the
    /// header has a DSN with a non-empty key.
    pub fn dsn_public_key(&self) -> Option<&str> {
        self.headers
            .dsn
            .as_deref()
            .and_then(crate::auth::dsn_public_key)
    }

    /// The first item whose payload is an event body ([`ItemType::is_event`]).
    pub fn event_item(&self) -> Option<&Item> {
        self.items.iter().find(|item| item.ty().is_event())
    }

    /// The items of type `ty`, in order.
    pub fn items_of<'a>(&'a self, ty: &'a ItemType) -> impl Iterator<Item = &'a Item> + 'a {
        self.items.iter().filter(move |item| item.ty() == ty)
    }

    /// Appends an item.
    pub fn add_item(&mut self, item: Item) {
        self.items.push(item);
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the envelope has no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A JSON object written with its entries in the given order (a `serde_json::Map` is
/// sorted by key).
struct Ordered<'a>(&'a [(String, Value)]);

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

fn write_json(out: &mut Vec<u8>, entries: Vec<(String, Value)>) {
    serde_json::to_writer(out, &Ordered(&entries))
        .expect("serializing a JSON value into memory cannot fail");
}

/// The `event_id` field of a JSON event payload, if present and valid.
pub(crate) fn event_id_in_payload(payload: &[u8]) -> Option<EventId> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        event_id: Option<Value>,
    }
    let first = payload.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    let probe: Probe = serde_json::from_slice(payload).ok()?;
    match probe.event_id? {
        Value::String(text) => EventId::parse(&text).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42"}"#;

    fn parse(body: &[u8]) -> Result<Envelope, EnvelopeError> {
        Envelope::parse_slice(body, &Limits::default())
    }

    fn with_header(rest: &str) -> Vec<u8> {
        format!("{HEADER}\n{rest}").into_bytes()
    }

    #[test]
    fn header_only_with_and_without_newline() {
        for body in [HEADER.to_string(), format!("{HEADER}\n")] {
            let e = parse(body.as_bytes()).unwrap();
            assert!(e.is_empty());
            assert_eq!(
                e.event_id().unwrap().to_string(),
                "9ec79c33ec9942ab8353589fcb2e04dc"
            );
            assert_eq!(e.dsn_public_key(), Some("e12d836b15bb49d7bbf99e64295d995b"));
        }
    }

    #[test]
    fn explicit_and_implicit_lengths() {
        let body = with_header(concat!(
            "{\"type\":\"attachment\",\"length\":10,\"content_type\":\"text/plain\",\"filename\":\"hello.txt\"}\n",
            "\u{feff}Hello\r\n\n",
            "{\"type\":\"event\"}\n",
            "{\"message\":\"hello world\",\"level\":\"error\"}\n",
        ));
        let e = parse(&body).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e.items[0].ty(), &ItemType::Attachment);
        assert_eq!(&e.items[0].payload[..], "\u{feff}Hello\r\n".as_bytes());
        assert_eq!(e.items[0].headers.filename.as_deref(), Some("hello.txt"));
        assert_eq!(e.items[1].ty(), &ItemType::Event);
        assert_eq!(
            &e.items[1].payload[..],
            br#"{"message":"hello world","level":"error"}"#
        );
    }

    #[test]
    fn empty_items_blank_lines_and_eof() {
        let e = parse(&with_header(
            "{\"type\":\"attachment\",\"length\":0}\n\n{\"type\":\"attachment\",\"length\":0}",
        ))
        .unwrap();
        assert_eq!(e.len(), 2);
        assert!(e.items.iter().all(Item::is_empty));

        // Last item header at EOF without newline, no length: empty payload.
        let e = parse(&with_header("{\"type\":\"attachment\"}")).unwrap();
        assert_eq!(e.len(), 1);
        assert!(e.items[0].is_empty());

        // Implicit length running to EOF.
        let e = parse(&with_header("{\"type\":\"attachment\"}\nhelloworld")).unwrap();
        assert_eq!(&e.items[0].payload[..], b"helloworld");

        // Trailing blank lines and whitespace.
        let e = parse(&with_header("{\"type\":\"session\"}\n{}\n\n\n \r\n")).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(&e.items[0].payload[..], b"{}");
    }

    #[test]
    fn implicit_length_item_with_empty_line_payload() {
        // Without `length`, the payload of an item followed by an empty line is empty.
        let e = parse(&with_header(
            "{\"type\":\"attachment\"}\n\n{\"type\":\"event\"}\n{}",
        ))
        .unwrap();
        assert_eq!(e.len(), 2);
        assert!(e.items[0].is_empty());
        assert_eq!(&e.items[1].payload[..], b"{}");
    }

    #[test]
    fn malformed_envelopes() {
        assert!(matches!(parse(b""), Err(EnvelopeError::MissingHeader)));
        assert!(matches!(parse(b" \n "), Err(EnvelopeError::MissingHeader)));
        assert!(matches!(parse(b"{"), Err(EnvelopeError::InvalidHeader(_))));
        assert!(matches!(
            parse(b"[1]\n"),
            Err(EnvelopeError::InvalidHeader(_))
        ));
        assert!(matches!(
            parse(b"{\"event_id\":\"nope\"}\n"),
            Err(EnvelopeError::InvalidHeader(_))
        ));
        assert!(matches!(
            parse(b"{\"dsn\":5}"),
            Err(EnvelopeError::InvalidHeader(_))
        ));
        assert!(matches!(
            parse(b"{} {}"),
            Err(EnvelopeError::MissingNewline)
        ));
        assert!(matches!(
            parse(&with_header("{\"type\":\"event\"} {}")),
            Err(EnvelopeError::MissingNewline)
        ));
        assert!(matches!(
            parse(&with_header("{\"type\":\"event\",\"length\":2}\n{}}")),
            Err(EnvelopeError::MissingNewline)
        ));
        assert!(matches!(
            parse(&with_header("{\"type\":\"event\",\"length\":20}\n{}")),
            Err(EnvelopeError::UnexpectedEof)
        ));
        assert!(matches!(
            parse(&with_header(&format!(
                "{{\"type\":\"event\",\"length\":{}}}\n{{}}",
                u64::MAX
            ))),
            Err(EnvelopeError::UnexpectedEof)
        ));
        assert!(matches!(
            parse(&with_header("{\"length\":2}\n{}")),
            Err(EnvelopeError::MissingItemType)
        ));
        assert!(matches!(
            parse(&with_header("\"event\"\n{}")),
            Err(EnvelopeError::InvalidItemHeader(_))
        ));
        assert!(matches!(
            parse(&with_header("not json\n")),
            Err(EnvelopeError::InvalidItemHeader(_))
        ));
    }

    #[test]
    fn error_messages_are_lowercase() {
        let errors = [
            parse(b"").unwrap_err(),
            parse(b"{} {}").unwrap_err(),
            parse(b"{").unwrap_err(),
            parse(&with_header("{}")).unwrap_err(),
            parse(&with_header("{\"type\":\"event\",\"length\":20}\n")).unwrap_err(),
        ];
        for e in errors {
            let text = e.to_string();
            assert!(text.starts_with(|c: char| c.is_ascii_lowercase()), "{text}");
            assert!(!e.is_size_limit());
        }
    }

    #[test]
    fn envelope_size_limit() {
        let limits = Limits {
            max_envelope_size: 10,
            ..Limits::default()
        };
        let err = Envelope::parse_slice(&with_header(""), &limits).unwrap_err();
        assert!(err.is_size_limit());
        assert_eq!(
            err.to_string(),
            "envelope exceeds the size limit of 10 bytes"
        );
    }

    #[test]
    fn header_fields_and_unknown_keys() {
        let e = parse(
            br#"{"event_id":"9EC79C33-EC99-42AB-8353-589FCB2E04DC","dsn":null,"sdk":{"name":"sentry.python","version":"2.19.0"},"sent_at":"2024-05-01T10:00:00.000000Z","trace":{"trace_id":"abc","public_key":"k"},"x":1.50}"#,
        )
        .unwrap();
        let h = &e.headers;
        assert_eq!(h.dsn, None);
        assert_eq!(h.sdk.as_ref().unwrap()["name"], "sentry.python");
        assert_eq!(h.sent_at.as_deref(), Some("2024-05-01T10:00:00.000000Z"));
        assert_eq!(h.other.len(), 2);
        assert_eq!(h.other["trace"]["public_key"], "k");
        assert_eq!(e.dsn_public_key(), None);
        // Unknown keys are written back verbatim (number text included).
        let out = String::from_utf8(e.serialize()).unwrap();
        assert!(out.starts_with(r#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sdk":"#));
        assert!(out.contains(r#""x":1.50"#), "{out}");
    }

    #[test]
    fn event_id_falls_back_to_event_payload() {
        let e = parse(
            b"{}\n{\"type\":\"attachment\"}\n{\"event_id\":\"00000000000000000000000000000001\"}\n{\"type\":\"event\"}\n{\"level\":\"error\",\"event_id\":\"9ec79c33-ec99-42ab-8353-589fcb2e04dc\"}\n",
        )
        .unwrap();
        assert_eq!(
            e.event_id().unwrap().to_string(),
            "9ec79c33ec9942ab8353589fcb2e04dc"
        );
        assert_eq!(e.event_item().unwrap().ty(), &ItemType::Event);
        assert_eq!(e.items_of(&ItemType::Attachment).count(), 1);

        let e = parse(b"{}\n{\"type\":\"event\"}\n{\"event_id\":42}\n").unwrap();
        assert_eq!(e.event_id(), None);
        let e = parse(b"{}\n{\"type\":\"session\"}\n{\"sid\":\"x\"}\n").unwrap();
        assert_eq!(e.event_id(), None);
        assert_eq!(
            event_id_in_payload(b"[\"9ec79c33ec9942ab8353589fcb2e04dc\"]"),
            None
        );
    }

    #[test]
    fn serialize_writes_lengths_and_round_trips() {
        let body = with_header(concat!(
            "{\"type\":\"event\"}\n{\"message\":\"hi\"}\n",
            "{\"type\":\"attachment\",\"length\":3,\"filename\":\"b.bin\"}\n\n\n\n\n",
            "{\"type\":\"future\",\"item_count\":3}\nxyz",
        ));
        let e = parse(&body).unwrap();
        let out = e.serialize();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.contains("{\"type\":\"event\",\"length\":16}\n{\"message\":\"hi\"}\n"),
            "{text}"
        );
        assert!(text
            .contains("{\"type\":\"attachment\",\"length\":3,\"filename\":\"b.bin\"}\n\n\n\n\n"));
        assert!(text.ends_with("{\"type\":\"future\",\"length\":3,\"item_count\":3}\nxyz\n"));
        assert_eq!(parse(&out).unwrap(), e);
    }

    #[test]
    fn payloads_are_zero_copy() {
        let body = Bytes::from(with_header("{\"type\":\"event\",\"length\":2}\n{}\n"));
        let e = Envelope::parse(body.clone(), &Limits::default()).unwrap();
        let offset = e.items[0].payload.as_ptr() as usize - body.as_ptr() as usize;
        assert!(offset < body.len());
    }
}
