//! Envelope items: their type, headers and payload.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::EnvelopeError;

/// The `type` of an envelope item, with Relay's wire names.
///
/// Names this crate does not know are kept verbatim in [`ItemType::Unknown`] so envelopes from
/// newer SDKs still parse and re-serialize. Build values from names with
/// [`ItemType::from_name`]: `Unknown` should never hold a known name (`Unknown("event")` would
/// re-parse as [`ItemType::Event`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemType {
    /// `event`: an error or default event, JSON.
    Event,
    /// `transaction`: a transaction event, JSON.
    Transaction,
    /// `security`: a security report already in event form, JSON.
    Security,
    /// `attachment`: an arbitrary (often binary) file.
    Attachment,
    /// `form_data`: multipart form fields collected as JSON.
    FormData,
    /// `raw_security`: a security report (CSP, …) as the browser sent it.
    RawSecurity,
    /// `nel`: a Network Error Logging report.
    Nel,
    /// `unreal_report`: a compressed Unreal Engine 4 crash report.
    UnrealReport,
    /// `user_report`: legacy user feedback (`event_id`, `name`, `email`, `comments`), JSON.
    UserReport,
    /// `feedback`: user feedback as an event (Relay's `UserReportV2`), JSON.
    Feedback,
    /// `session`: one session update, JSON.
    Session,
    /// `sessions`: aggregated sessions, JSON.
    Sessions,
    /// `statsd`: metrics in statsd text format.
    Statsd,
    /// `metric_buckets`: pre-aggregated metric buckets, JSON.
    MetricBuckets,
    /// `client_report`: the SDK's outcome report (discarded events), JSON.
    ClientReport,
    /// `profile`: a transaction profile, JSON.
    Profile,
    /// `profile_chunk` (also accepted as `profile_chunk_ui`): a continuous-profiling chunk.
    ProfileChunk,
    /// `replay_event`: replay metadata, JSON.
    ReplayEvent,
    /// `replay_recording`: replay recording data (often compressed).
    ReplayRecording,
    /// `replay_video`: replay video data.
    ReplayVideo,
    /// `check_in`: a cron monitor check-in, JSON.
    CheckIn,
    /// `log`: product logs (usually an item container), JSON.
    Log,
    /// `otel_log`: one OpenTelemetry log record, JSON (early logs SDKs).
    OtelLog,
    /// `span`: standalone spans (one span, or an item container), JSON.
    Span,
    /// `otel_span`: one OpenTelemetry span, JSON.
    OtelSpan,
    /// `otel_traces_data`: an OTLP `TracesData` container.
    OtelTracesData,
    /// `trace_metric`: trace-connected metrics (usually an item container), JSON.
    TraceMetric,
    /// Any other type name, verbatim.
    Unknown(String),
}

/// Every known item type with its wire name (the canonical one for aliases).
const KNOWN: &[(&str, ItemType)] = &[
    ("event", ItemType::Event),
    ("transaction", ItemType::Transaction),
    ("security", ItemType::Security),
    ("attachment", ItemType::Attachment),
    ("form_data", ItemType::FormData),
    ("raw_security", ItemType::RawSecurity),
    ("nel", ItemType::Nel),
    ("unreal_report", ItemType::UnrealReport),
    ("user_report", ItemType::UserReport),
    ("feedback", ItemType::Feedback),
    ("session", ItemType::Session),
    ("sessions", ItemType::Sessions),
    ("statsd", ItemType::Statsd),
    ("metric_buckets", ItemType::MetricBuckets),
    ("client_report", ItemType::ClientReport),
    ("profile", ItemType::Profile),
    ("profile_chunk", ItemType::ProfileChunk),
    ("replay_event", ItemType::ReplayEvent),
    ("replay_recording", ItemType::ReplayRecording),
    ("replay_video", ItemType::ReplayVideo),
    ("check_in", ItemType::CheckIn),
    ("log", ItemType::Log),
    ("otel_log", ItemType::OtelLog),
    ("span", ItemType::Span),
    ("otel_span", ItemType::OtelSpan),
    ("otel_traces_data", ItemType::OtelTracesData),
    ("trace_metric", ItemType::TraceMetric),
];

impl ItemType {
    /// The item type for a wire name (case-sensitive, as Relay). Unknown names become
    /// [`ItemType::Unknown`]; `profile_chunk_ui` (sent by some Android SDKs) is
    /// [`ItemType::ProfileChunk`].
    pub fn from_name(name: &str) -> Self {
        if name == "profile_chunk_ui" {
            return ItemType::ProfileChunk;
        }
        KNOWN
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, ty)| ty.clone())
            .unwrap_or_else(|| ItemType::Unknown(name.to_owned()))
    }

    /// The wire name (for `Unknown`, the name as received).
    pub fn as_str(&self) -> &str {
        match self {
            ItemType::Unknown(name) => name,
            known => KNOWN
                .iter()
                .find(|(_, ty)| ty == known)
                .map(|(name, _)| *name)
                .unwrap_or_default(),
        }
    }

    /// All known item types (every variant but `Unknown`).
    pub fn known() -> impl Iterator<Item = &'static ItemType> {
        KNOWN.iter().map(|(_, ty)| ty)
    }

    /// Whether the payload is an event body (JSON with an `event_id` field) that identifies the
    /// envelope's event: `event`, `transaction`, `security`, `feedback`.
    pub fn is_event(&self) -> bool {
        matches!(
            self,
            ItemType::Event | ItemType::Transaction | ItemType::Security | ItemType::Feedback
        )
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ItemType {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(ItemType::from_name(s))
    }
}

impl From<&str> for ItemType {
    fn from(name: &str) -> Self {
        ItemType::from_name(name)
    }
}

/// Header keys with a typed field in [`ItemHeaders`] (or, for `length`, derived from the
/// payload). They never appear in [`ItemHeaders::other`] after parsing, and are ignored there
/// when serializing.
pub const RESERVED_ITEM_HEADERS: &[&str] = &[
    "type",
    "length",
    "content_type",
    "filename",
    "attachment_type",
];

/// The JSON header line of an envelope item, minus `length` (which is framing: it is always the
/// payload's length, written on serialization).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemHeaders {
    /// `type` (required).
    pub ty: ItemType,
    /// `content_type`, e.g. `application/json`, `application/vnd.sentry.items.log+json`.
    pub content_type: Option<String>,
    /// `filename` (attachments).
    pub filename: Option<String>,
    /// `attachment_type`, e.g. `event.attachment`, `event.minidump`, `event.view_hierarchy`.
    pub attachment_type: Option<String>,
    /// Every other header (`item_count`, `platform`, …), kept for forward compatibility.
    pub other: BTreeMap<String, Value>,
}

impl ItemHeaders {
    /// Headers with just a type.
    pub fn new(ty: ItemType) -> Self {
        ItemHeaders {
            ty,
            content_type: None,
            filename: None,
            attachment_type: None,
            other: BTreeMap::new(),
        }
    }

    /// Reads item headers from a parsed JSON object; returns them with the `length` header.
    pub(crate) fn from_json(map: Map<String, Value>) -> Result<(Self, Option<u64>), EnvelopeError> {
        let mut headers = ItemHeaders::new(ItemType::Event);
        let mut ty = None;
        let mut length = None;
        for (key, value) in map {
            match key.as_str() {
                "type" => match value {
                    Value::Null => {}
                    Value::String(name) if name.is_empty() => {}
                    Value::String(name) => ty = Some(ItemType::from_name(&name)),
                    _ => return Err(invalid_item_header("`type` must be a string")),
                },
                "length" => match value {
                    Value::Null => {}
                    number => {
                        length = Some(number.as_u64().ok_or_else(|| {
                            invalid_item_header("`length` must be a non-negative integer")
                        })?)
                    }
                },
                "content_type" => headers.content_type = optional_string(value, "content_type")?,
                "filename" => headers.filename = optional_string(value, "filename")?,
                "attachment_type" => {
                    headers.attachment_type = optional_string(value, "attachment_type")?
                }
                _ => {
                    headers.other.insert(key, value);
                }
            }
        }
        headers.ty = ty.ok_or(EnvelopeError::MissingItemType)?;
        Ok((headers, length))
    }

    /// The header line's JSON object, with `length` set to `length`: `type` and `length`
    /// first (as Relay writes them), then the known headers, then the others.
    pub(crate) fn to_json(&self, length: usize) -> Vec<(String, Value)> {
        let mut map = vec![
            ("type".into(), Value::from(self.ty.as_str())),
            ("length".into(), Value::from(length as u64)),
        ];
        for (key, value) in [
            ("content_type", &self.content_type),
            ("filename", &self.filename),
            ("attachment_type", &self.attachment_type),
        ] {
            if let Some(value) = value {
                map.push((key.into(), Value::from(value.as_str())));
            }
        }
        for (key, value) in &self.other {
            if !RESERVED_ITEM_HEADERS.contains(&key.as_str()) {
                map.push((key.clone(), value.clone()));
            }
        }
        map
    }
}

fn invalid_item_header(reason: &str) -> EnvelopeError {
    EnvelopeError::InvalidItemHeader(serde::de::Error::custom(reason))
}

fn optional_string(value: Value, key: &str) -> Result<Option<String>, EnvelopeError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(invalid_item_header(&format!("`{key}` must be a string"))),
    }
}

/// One envelope item: headers and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The item's headers.
    pub headers: ItemHeaders,
    /// The payload bytes (a zero-copy slice of the parsed envelope).
    pub payload: Bytes,
}

impl Item {
    /// An item of type `ty` with `payload` and no other headers.
    pub fn new(ty: ItemType, payload: impl Into<Bytes>) -> Self {
        Item {
            headers: ItemHeaders::new(ty),
            payload: payload.into(),
        }
    }

    /// The item's type.
    pub fn ty(&self) -> &ItemType {
        &self.headers.ty
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// The `item_count` header (number of entries in an item container), if a non-negative
    /// integer.
    pub fn item_count(&self) -> Option<u64> {
        self.headers.other.get("item_count").and_then(Value::as_u64)
    }

    /// Whether this item is an item container: its content type is
    /// `application/vnd.sentry.items.*` (batched logs, spans, trace metrics).
    pub fn is_container(&self) -> bool {
        const PREFIX: &str = "application/vnd.sentry.items.";
        self.headers.content_type.as_deref().is_some_and(|ct| {
            ct.len() >= PREFIX.len()
                && ct.is_char_boundary(PREFIX.len())
                && ct[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let mut count = 0;
        for ty in ItemType::known() {
            assert_eq!(&ItemType::from_name(ty.as_str()), ty);
            assert_eq!(ty.to_string(), ty.as_str());
            count += 1;
        }
        assert_eq!(count, 27);
        assert_eq!(ItemType::from_name("feedback"), ItemType::Feedback);
        assert_eq!(ItemType::from_name("check_in"), ItemType::CheckIn);
        assert_eq!(
            ItemType::from_name("profile_chunk_ui"),
            ItemType::ProfileChunk
        );
        assert_eq!(
            ItemType::from_name("Event"),
            ItemType::Unknown("Event".into())
        );
        let future: ItemType = "future_thing".parse().unwrap();
        assert_eq!(future, ItemType::Unknown("future_thing".into()));
        assert_eq!(future.as_str(), "future_thing");
    }

    #[test]
    fn event_types() {
        assert!(ItemType::Event.is_event());
        assert!(ItemType::Transaction.is_event());
        assert!(!ItemType::Attachment.is_event());
        assert!(!ItemType::Unknown("event".into()).is_event());
    }

    fn headers(json: &str) -> Result<(ItemHeaders, Option<u64>), EnvelopeError> {
        match serde_json::from_str::<Value>(json).unwrap() {
            Value::Object(map) => ItemHeaders::from_json(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn header_fields() {
        let (h, len) = headers(
            r#"{"type":"attachment","length":3,"filename":"a.txt","content_type":"text/plain","attachment_type":"event.attachment","item_count":2,"x":[1]}"#,
        )
        .unwrap();
        assert_eq!(h.ty, ItemType::Attachment);
        assert_eq!(len, Some(3));
        assert_eq!(h.filename.as_deref(), Some("a.txt"));
        assert_eq!(h.content_type.as_deref(), Some("text/plain"));
        assert_eq!(h.attachment_type.as_deref(), Some("event.attachment"));
        assert_eq!(h.other.len(), 2);
        let item = Item {
            headers: h,
            payload: Bytes::from_static(b"abc"),
        };
        assert_eq!(item.item_count(), Some(2));
        assert!(!item.is_container());

        let (h, len) = headers(r#"{"type":"log","length":null,"filename":null}"#).unwrap();
        assert_eq!((h.ty, len, h.filename), (ItemType::Log, None, None));
    }

    #[test]
    fn header_errors() {
        assert!(matches!(headers("{}"), Err(EnvelopeError::MissingItemType)));
        assert!(matches!(
            headers(r#"{"type":null}"#),
            Err(EnvelopeError::MissingItemType)
        ));
        assert!(matches!(
            headers(r#"{"type":""}"#),
            Err(EnvelopeError::MissingItemType)
        ));
        for bad in [
            r#"{"type":1}"#,
            r#"{"type":"event","length":-1}"#,
            r#"{"type":"event","length":1.5}"#,
            r#"{"type":"event","length":"3"}"#,
            r#"{"type":"event","filename":3}"#,
        ] {
            assert!(
                matches!(headers(bad), Err(EnvelopeError::InvalidItemHeader(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn containers() {
        let mut item = Item::new(ItemType::Log, &b"{}"[..]);
        item.headers.content_type = Some("application/vnd.sentry.items.log+json".into());
        assert!(item.is_container());
        item.headers.content_type = Some("APPLICATION/VND.SENTRY.ITEMS.SPAN.V2+JSON".into());
        assert!(item.is_container());
        item.headers.content_type = Some("application/json".into());
        assert!(!item.is_container());
        item.headers.content_type = Some("application/vnd.sentry.itemsé".into());
        assert!(!item.is_container());
    }

    #[test]
    fn serialized_headers_put_type_and_length_first_and_skip_reserved() {
        let mut h = ItemHeaders::new(ItemType::Unknown("new_type".into()));
        h.other.insert("length".into(), Value::from(99));
        h.other.insert("platform".into(), Value::from("python"));
        let mut out = Vec::new();
        super::super::write_json(&mut out, h.to_json(5));
        let json = String::from_utf8(out).unwrap();
        assert_eq!(
            json,
            r#"{"type":"new_type","length":5,"platform":"python"}"#
        );
    }
}
