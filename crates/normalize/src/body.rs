//! The processed body as Sentry's nodestore writes it: compact JSON, keys sorted, ASCII only
//! (`json.dumps(sort_keys=True, ensure_ascii=True)`), with every frame's `null` defaults
//! ([`crate::shape`]) merged in as the frame is written.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::shape::{frame_lists, FRAME_KEYS};

/// The nodestore JSON of a [`crate::Normalized`] event; `capacity` presizes the buffer.
pub fn to_json(event: &Map<String, Value>, capacity: usize) -> Vec<u8> {
    let frame_lists: Vec<*const Vec<Value>> = frame_lists(event)
        .into_iter()
        .map(|list| list as *const Vec<Value>)
        .collect();
    let mut out = Vec::with_capacity(capacity);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, AsciiFormatter);
    let body = Sorted {
        frame_lists: &frame_lists,
        frame: false,
    };
    body.map(event, &mut serializer)
        .expect("JSON values serialize into memory");
    out
}

/// Serializes values with object keys in sorted order, merging in frame defaults, without
/// rebuilding the tree. A `Map` iterates in byte order of its keys (serde_json without
/// `preserve_order`), which is the code point order of Python's `sort_keys`.
#[derive(Clone, Copy)]
struct Sorted<'a> {
    /// The frame lists (by address) whose object elements are frames.
    frame_lists: &'a [*const Vec<Value>],
    /// Whether the value being written is a frame.
    frame: bool,
}

/// A value written by [`Sorted`].
struct Node<'a>(Sorted<'a>, &'a Value);

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Node(how, value) = *self;
        match value {
            Value::Object(map) => how.map(map, serializer),
            Value::Array(items) => {
                let frames = how.frame_lists.contains(&(items as *const Vec<Value>));
                let element = Sorted {
                    frame: frames,
                    ..how
                };
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Node(element, item))?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

impl Sorted<'_> {
    fn map<S: Serializer>(
        self,
        map: &Map<String, Value>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let inner = Sorted {
            frame: false,
            ..self
        };
        if self.frame {
            // The frame's own keys, sorted, merged with the sorted defaults it lacks.
            let own = map.iter().map(|(k, v)| (k.as_str(), v));
            let mut entries: Vec<(&str, &Value)> = Vec::with_capacity(own.len() + FRAME_KEYS.len());
            let mut defaults = FRAME_KEYS.iter().copied().peekable();
            for (key, value) in own {
                while let Some(default) = defaults.next_if(|default| *default <= key) {
                    if default != key {
                        entries.push((default, &Value::Null));
                    }
                }
                entries.push((key, value));
            }
            entries.extend(defaults.map(|default| (default, &Value::Null)));
            let mut out = serializer.serialize_map(Some(entries.len()))?;
            for (key, value) in entries {
                out.serialize_entry(key, &Node(inner, value))?;
            }
            return out.end();
        }
        debug_assert!(map.keys().is_sorted());
        let mut out = serializer.serialize_map(Some(map.len()))?;
        for (key, value) in map {
            out.serialize_entry(key, &Node(inner, value))?;
        }
        out.end()
    }
}

/// serde_json's compact format with every character outside printable ASCII written as
/// `\uXXXX` (UTF-16 units), in the same pass. serde_json escapes quotes, backslashes and
/// control characters itself; this adds DEL and everything above it, as Python does.
struct AsciiFormatter;

/// Whether Python's `ensure_ascii` writes the byte as it is (serde_json has already taken
/// out what it escapes).
fn plain(byte: u8) -> bool {
    byte < 0x7f
}

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        if fragment.is_ascii() && !fragment.contains('\x7f') {
            // Nearly every string: both checks go a word at a time.
            return writer.write_all(fragment.as_bytes());
        }
        let mut rest = fragment;
        while let Some(at) = rest.bytes().position(|byte| !plain(byte)) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let character = rest[at..].chars().next().expect("a character starts here");
            let mut units = [0u16; 2];
            for unit in character.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            rest = &rest[at + character.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn frame_keys_are_sorted() {
        assert!(FRAME_KEYS.is_sorted());
    }

    #[test]
    fn bodies_are_pythons_sorted_ascii_json() {
        // Expected: json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":")).
        let expected = r#"{"a":"\u00fc\t\u007f","b":{"a":[{"x":null,"y":"\u00e9\ud83d\ude00\n\""}],"z":1},"\u00e9":"\u20ac"}"#;
        let unsorted = json(
            r#"{"\u00e9":"\u20ac","b":{"z":1,"a":[{"y":"\u00e9\ud83d\ude00\n\"","x":null}]},"a":"\u00fc\t\u007f"}"#,
        );
        assert_eq!(String::from_utf8(to_json(&unsorted, 0)).unwrap(), expected);
        let sorted = json(expected);
        assert_eq!(String::from_utf8(to_json(&sorted, 0)).unwrap(), expected);
    }

    /// The frame keys of `body`'s frame, checking they are written in sorted order.
    fn frame_keys(body: &str, frame: &Value) -> Vec<String> {
        let keys: Vec<String> = frame.as_object().unwrap().keys().cloned().collect();
        assert!(keys.is_sorted(), "{body}");
        keys
    }

    #[test]
    fn frames_get_their_null_defaults_and_nothing_else_does() {
        let event = json(
            r#"{"exception":{"values":[{"stacktrace":{"frames":[{"lineno":3,"function":"f","vars":{"x":1}},null]},
                "raw_stacktrace":{"frames":[{"module":"r"}]},
                "mechanism":{"type":"generic"}}, null]},
                "threads":{"values":[{"stacktrace":{"frames":[null,{"function":"t"}]}},
                    {"stacktrace":{"frames":[null]}}]},
                "stacktrace":{"frames":[{"module":"m"}]},
                "extra":{"frames":[{"function":"g"}]}}"#,
        );
        let text = String::from_utf8(to_json(&event, 0)).unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        let mut all: Vec<&str> = FRAME_KEYS.to_vec(); // `vars` is one of them
        all.sort_unstable();
        for frame in [
            &body["exception"]["values"][0]["stacktrace"]["frames"][0],
            &body["exception"]["values"][0]["raw_stacktrace"]["frames"][0],
            &body["threads"]["values"][0]["stacktrace"]["frames"][1],
            &body["stacktrace"]["frames"][0],
        ] {
            let keys = frame_keys(&text, frame);
            assert!(keys.len() >= FRAME_KEYS.len(), "{frame}");
            assert!(FRAME_KEYS.iter().all(|key| keys.iter().any(|k| k == key)));
        }
        let first = &body["exception"]["values"][0]["stacktrace"]["frames"][0];
        assert_eq!(frame_keys(&text, first), all);
        assert_eq!(first["lineno"], 3);
        assert_eq!(
            first["vars"],
            serde_json::json!({"x": 1}),
            "nested maps get no defaults"
        );
        assert_eq!(
            body["exception"]["values"][0]["stacktrace"]["frames"][1],
            Value::Null
        );
        assert_eq!(
            body["extra"]["frames"][0],
            serde_json::json!({"function": "g"})
        );
        assert_eq!(
            body["exception"]["values"][0]["mechanism"],
            serde_json::json!({"type": "generic"})
        );
    }
}
