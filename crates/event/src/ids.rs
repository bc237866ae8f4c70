//! Identifiers: event ids, project ids, and the derived node id and group id.
//!
//! The derived ids are interfaces other parts of sentry-sls rely on (DESIGN.md, "Interfaces
//! every part relies on"):
//!
//! - node id = lowercase md5 hex of `"{project_id}:{event_id}"`, with the event id written as 32
//!   lowercase hex digits without dashes ([`node_id`]);
//! - group id = a deterministic integer in `[2^52, 2^53)` derived from the project id and the
//!   primary grouping hash ([`group_id`]).

use std::fmt;
use std::str::FromStr;

use md5::{Digest, Md5};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text is not a UUID (32 hex digits, optionally dashed as 8-4-4-4-12, optionally
    /// wrapped in braces).
    #[error("invalid event id")]
    InvalidEventId,
    /// The text is not a decimal unsigned 64-bit integer.
    #[error("invalid project id")]
    InvalidProjectId,
}

/// A Sentry event id: a UUID, written canonically as 32 lowercase hex digits without dashes.
///
/// There is deliberately no random constructor (this crate has no source of randomness): callers
/// that must mint an id pass 16 random bytes to [`EventId::from_uuid_bytes`], or derive one from
/// data with [`EventId::from_hash_of`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId([u8; 16]);

impl EventId {
    /// The all-zero id.
    pub const NIL: EventId = EventId([0; 16]);

    /// The id whose 16 bytes are `bytes` (big-endian UUID byte order).
    pub const fn from_uuid_bytes(bytes: [u8; 16]) -> Self {
        EventId(bytes)
    }

    /// An id derived from data: the 16-byte md5 digest of `data`, used as is.
    ///
    /// Deterministic, so the same data always gives the same id; use it only where that is
    /// wanted (e.g. an id for an event that arrived without one, keyed on its body).
    pub fn from_hash_of(data: &[u8]) -> Self {
        EventId(Md5::digest(data).into())
    }

    /// The 16 bytes of this id.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Whether this is the all-zero id.
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }

    /// Parses an event id.
    ///
    /// Accepts, in any letter case: 32 hex digits (`9ec79c33ec9942ab8353589fcb2e04dc`), the
    /// dashed UUID form (`9ec79c33-ec99-42ab-8353-589fcb2e04dc`), and the dashed form in braces
    /// (`{9ec79c33-…}`). Nothing else: no surrounding whitespace, no dashes elsewhere.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let bytes = text.as_bytes();
        let inner = match bytes {
            [b'{', inner @ .., b'}'] if inner.len() == 36 => inner,
            _ => bytes,
        };
        let mut digits = [0u8; 32];
        match inner.len() {
            32 => digits.copy_from_slice(inner),
            36 => {
                let mut n = 0;
                for (i, &c) in inner.iter().enumerate() {
                    if matches!(i, 8 | 13 | 18 | 23) {
                        if c != b'-' {
                            return Err(IdError::InvalidEventId);
                        }
                    } else {
                        digits[n] = c;
                        n += 1;
                    }
                }
            }
            _ => return Err(IdError::InvalidEventId),
        }
        let mut out = [0u8; 16];
        for (i, pair) in digits.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]).ok_or(IdError::InvalidEventId)?;
            let lo = hex_value(pair[1]).ok_or(IdError::InvalidEventId)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(EventId(out))
    }

    /// The dashed UUID form, lowercase (`9ec79c33-ec99-42ab-8353-589fcb2e04dc`).
    pub fn to_hyphenated(&self) -> String {
        let simple = self.to_string();
        format!(
            "{}-{}-{}-{}-{}",
            &simple[0..8],
            &simple[8..12],
            &simple[12..16],
            &simple[16..20],
            &simple[20..32]
        )
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

impl fmt::Display for EventId {
    /// 32 lowercase hex digits, no dashes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

impl FromStr for EventId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventId::parse(s)
    }
}

impl Serialize for EventId {
    /// Serialized as its canonical string (32 lowercase hex digits).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    /// Deserialized from any string [`EventId::parse`] accepts.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        EventId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A Sentry project id: the numeric path segment of `/api/{project_id}/…` and the last path
/// segment of a DSN.
///
/// `0` is a valid project id: Alibaba Cloud RUM's Sentry integration uses it when the Sentry
/// console is not used (reference/peers.md §0).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct ProjectId(pub u64);

impl ProjectId {
    /// Parses a project id from a URL path segment: one or more ASCII digits (leading zeros
    /// allowed) whose value fits in a `u64`. No sign, no whitespace.
    pub fn parse(segment: &str) -> Result<Self, IdError> {
        if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::InvalidProjectId);
        }
        segment
            .parse::<u64>()
            .map(ProjectId)
            .map_err(|_| IdError::InvalidProjectId)
    }

    /// The numeric value.
    pub const fn value(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for ProjectId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProjectId::parse(s)
    }
}

impl From<u64> for ProjectId {
    fn from(value: u64) -> Self {
        ProjectId(value)
    }
}

/// The nodestore id of an event: lowercase md5 hex of `"{project_id}:{event_id}"`, the event id
/// written as 32 lowercase hex digits without dashes (DESIGN.md).
///
/// ```
/// use sentry_sls_event::{node_id, EventId, ProjectId};
/// let event_id: EventId = "9ec79c33-ec99-42ab-8353-589fcb2e04dc".parse().unwrap();
/// // md5("42:9ec79c33ec9942ab8353589fcb2e04dc")
/// assert_eq!(node_id(ProjectId(42), &event_id), "6cb467f0ac3360327605d69def14c4e7");
/// ```
pub fn node_id(project_id: ProjectId, event_id: &EventId) -> String {
    let digest = Md5::digest(format!("{project_id}:{event_id}").as_bytes());
    to_hex(&digest)
}

/// Smallest group id [`group_id`] returns: 2^52.
pub const GROUP_ID_MIN: u64 = 1 << 52;
/// One past the largest group id [`group_id`] returns: 2^53 (so every group id is exact as a
/// JavaScript number and above any Postgres sequence id).
pub const GROUP_ID_END: u64 = 1 << 53;

/// The group id of an issue: a deterministic integer in `[2^52, 2^53)` from the project id and the
/// event's primary grouping hash.
///
/// Exact derivation: `d = md5("{project_id}:{primary_hash}")` (the hash string used as given);
/// take `d[0..8]` as a big-endian `u64`, keep its low 52 bits, add 2^52.
///
/// ```
/// use sentry_sls_event::{group_id, ProjectId};
/// assert_eq!(group_id(ProjectId(42), "deadbeef"), 5_445_244_213_177_732);
/// ```
pub fn group_id(project_id: ProjectId, primary_hash: &str) -> u64 {
    let digest = Md5::digest(format!("{project_id}:{primary_hash}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) & (GROUP_ID_MIN - 1)) + GROUP_ID_MIN
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SIMPLE: &str = "9ec79c33ec9942ab8353589fcb2e04dc";

    #[test]
    fn event_id_parses_all_accepted_forms() {
        let expected = EventId::parse(SIMPLE).unwrap();
        for text in [
            "9EC79C33EC9942AB8353589FCB2E04DC",
            "9ec79c33-ec99-42ab-8353-589fcb2e04dc",
            "9EC79C33-EC99-42AB-8353-589FCB2E04DC",
            "{9ec79c33-ec99-42ab-8353-589fcb2e04dc}",
        ] {
            assert_eq!(EventId::parse(text).unwrap(), expected, "{text}");
        }
        assert_eq!(expected.to_string(), SIMPLE);
        assert_eq!(
            expected.to_hyphenated(),
            "9ec79c33-ec99-42ab-8353-589fcb2e04dc"
        );
        assert_eq!(expected.as_bytes()[0], 0x9e);
    }

    #[test]
    fn event_id_rejects_malformed() {
        for text in [
            "",
            "9ec79c33ec9942ab8353589fcb2e04d",
            "9ec79c33ec9942ab8353589fcb2e04dcc",
            "9ec79c33ec9942ab8353589fcb2e04dg",
            " 9ec79c33ec9942ab8353589fcb2e04dc",
            "9ec79c3-3ec99-42ab-8353-589fcb2e04dc",
            "9ec79c33-ec99-42ab-8353-589fcb2e04dc-",
            "{9ec79c33ec9942ab8353589fcb2e04dc}",
            "9ec79c33_ec99_42ab_8353_589fcb2e04dc",
            "é9c79c33ec9942ab8353589fcb2e04d",
        ] {
            assert_eq!(EventId::parse(text), Err(IdError::InvalidEventId), "{text}");
        }
    }

    #[test]
    fn event_id_serde_is_the_simple_string() {
        let id = EventId::parse(SIMPLE).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{SIMPLE}\""));
        let back: EventId =
            serde_json::from_str("\"9ec79c33-ec99-42ab-8353-589fcb2e04dc\"").unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<EventId>("\"nope\"").is_err());
        assert!(serde_json::from_str::<EventId>("12").is_err());
    }

    #[test]
    fn event_id_helpers() {
        assert!(EventId::NIL.is_nil());
        assert_eq!(EventId::NIL.to_string(), "0".repeat(32));
        let bytes = [7u8; 16];
        assert_eq!(*EventId::from_uuid_bytes(bytes).as_bytes(), bytes);
        // md5("") = d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(
            EventId::from_hash_of(b"").to_string(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
    }

    #[test]
    fn project_id_parsing() {
        assert_eq!(ProjectId::parse("42"), Ok(ProjectId(42)));
        assert_eq!(ProjectId::parse("0"), Ok(ProjectId(0)));
        assert_eq!(ProjectId::parse("007"), Ok(ProjectId(7)));
        assert_eq!(
            ProjectId::parse("18446744073709551615"),
            Ok(ProjectId(u64::MAX))
        );
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1 ",
            "18446744073709551616",
            "1a",
            "٣",
        ] {
            assert_eq!(
                ProjectId::parse(bad),
                Err(IdError::InvalidProjectId),
                "{bad}"
            );
        }
        assert_eq!(ProjectId(5).to_string(), "5");
        assert_eq!(serde_json::to_string(&ProjectId(5)).unwrap(), "5");
    }

    #[test]
    fn node_id_of_known_pairs() {
        // Expected values computed independently with Python's hashlib:
        //   hashlib.md5(b"42:9ec79c33ec9942ab8353589fcb2e04dc").hexdigest()
        //   hashlib.md5(b"0:00000000000000000000000000000000").hexdigest()
        let dashed = EventId::parse("9EC79C33-EC99-42AB-8353-589FCB2E04DC").unwrap();
        assert_eq!(
            node_id(ProjectId(42), &dashed),
            "6cb467f0ac3360327605d69def14c4e7"
        );
        assert_eq!(
            node_id(ProjectId(0), &EventId::NIL),
            "b5a91e01203709b333b7c365c01a65f2"
        );
    }

    #[test]
    fn group_id_of_known_pair() {
        // Python: d = hashlib.md5(b"42:deadbeef").digest()
        //         (int.from_bytes(d[:8], "big") & (2**52 - 1)) + 2**52
        assert_eq!(group_id(ProjectId(42), "deadbeef"), 5_445_244_213_177_732);
        assert_ne!(
            group_id(ProjectId(43), "deadbeef"),
            group_id(ProjectId(42), "deadbeef")
        );
    }

    proptest! {
        #[test]
        fn group_id_in_range_and_deterministic(project in any::<u64>(), hash in ".*") {
            let g = group_id(ProjectId(project), &hash);
            prop_assert!((GROUP_ID_MIN..GROUP_ID_END).contains(&g));
            prop_assert_eq!(g, group_id(ProjectId(project), &hash));
        }

        #[test]
        fn event_id_display_parse_round_trip(bytes in any::<[u8; 16]>()) {
            let id = EventId::from_uuid_bytes(bytes);
            let text = id.to_string();
            prop_assert_eq!(text.len(), 32);
            prop_assert_eq!(EventId::parse(&text).unwrap(), id);
            prop_assert_eq!(EventId::parse(&id.to_hyphenated()).unwrap(), id);
            prop_assert_eq!(EventId::parse(&text.to_uppercase()).unwrap(), id);
        }

        #[test]
        fn node_id_is_32_lowercase_hex(project in any::<u64>(), bytes in any::<[u8; 16]>()) {
            let n = node_id(ProjectId(project), &EventId::from_uuid_bytes(bytes));
            prop_assert_eq!(n.len(), 32);
            prop_assert!(n.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }

        #[test]
        fn event_id_parse_never_panics(text in ".*") {
            let _ = EventId::parse(&text);
            let _ = ProjectId::parse(&text);
        }
    }
}
