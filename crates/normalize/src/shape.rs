//! The explicit `null`s Sentry's interface classes write into the event dict when they are
//! loaded (`Frame.to_python` and friends call `setdefault(key, None)` on the stored dicts),
//! so bodies have the genuine 23.7.1 nodestore shape.
//!
//! Frames get theirs when the body is written ([`crate::body`]), not in the tree: an event
//! has dozens of frames and each gets about twenty defaults, which as map entries cost a
//! key allocation, an insert and a drop apiece (about 4 % of ingest's CPU).

use serde_json::{Map, Value};

/// The keys `Frame.to_python` sets to `null` when absent, in sorted order (the body writer
/// merges them with a frame's own sorted keys).
pub(crate) const FRAME_KEYS: [&str; 24] = [
    "abs_path",
    "addr_mode",
    "colno",
    "context_line",
    "data",
    "errors",
    "filename",
    "function",
    "image_addr",
    "in_app",
    "instruction_addr",
    "lineno",
    "lock",
    "module",
    "package",
    "platform",
    "post_context",
    "pre_context",
    "raw_function",
    "snapshot",
    "symbol",
    "symbol_addr",
    "trust",
    "vars",
];
const MECHANISM_KEYS: [&str; 11] = [
    "type",
    "synthetic",
    "description",
    "help_link",
    "handled",
    "data",
    "meta",
    "source",
    "is_exception_group",
    "exception_id",
    "parent_id",
];
const SDK_KEYS: [&str; 4] = ["name", "version", "integrations", "packages"];
const TEMPLATE_KEYS: [&str; 6] = [
    "abs_path",
    "filename",
    "context_line",
    "lineno",
    "pre_context",
    "post_context",
];
const HTTP_KEYS: [&str; 9] = [
    "api_target",
    "method",
    "url",
    "fragment",
    "cookies",
    "headers",
    "data",
    "env",
    "inferred_content_type",
];

fn setdefault_nulls(m: &mut Map<String, Value>, keys: &[&str]) {
    // Not `entry`, which would allocate a key String even for keys already there.
    for k in keys {
        if !m.contains_key(*k) {
            m.insert((*k).to_string(), Value::Null);
        }
    }
}

/// The frames of `stacktrace`, if Sentry loads them as frames (they hold something other
/// than nulls).
fn frame_list(stacktrace: Option<&Value>) -> Option<&Vec<Value>> {
    let Some(Value::Array(frames)) = stacktrace.and_then(|st| st.get("frames")) else {
        return None;
    };
    frames.iter().any(|f| !f.is_null()).then_some(frames)
}

/// Every frame list whose object frames get [`FRAME_KEYS`] defaults: those of exception
/// and thread values, each as `stacktrace` and `raw_stacktrace`, and the top-level stack
/// trace. (Sentry also skips exceptions whose values are all `null`; those have no frames.)
pub(crate) fn frame_lists(event: &Map<String, Value>) -> Vec<&Vec<Value>> {
    let mut lists = Vec::new();
    for area in ["exception", "threads"] {
        if let Some(Value::Array(values)) = event.get(area).and_then(|e| e.get("values")) {
            for v in values.iter().filter(|v| v.is_object()) {
                lists.extend(frame_list(v.get("stacktrace")));
                lists.extend(frame_list(v.get("raw_stacktrace")));
            }
        }
    }
    lists.extend(frame_list(event.get("stacktrace")));
    lists
}

/// Adds the `null` defaults of every interface Sentry loads except frames, whose defaults
/// [`crate::body`] writes.
pub fn fill_interface_defaults(event: &mut Map<String, Value>) {
    if let Some(Value::Array(values)) = event.get_mut("exception").and_then(|e| e.get_mut("values"))
    {
        if values.iter().any(|v| !v.is_null()) {
            for v in values.iter_mut() {
                if let Some(m) = v
                    .get_mut("mechanism")
                    .and_then(Value::as_object_mut)
                    .filter(|m| !m.is_empty())
                {
                    setdefault_nulls(m, &MECHANISM_KEYS);
                }
            }
        }
    }
    if let Some(m) = event.get_mut("sdk").and_then(Value::as_object_mut) {
        setdefault_nulls(m, &SDK_KEYS);
    }
    if let Some(m) = event.get_mut("template").and_then(Value::as_object_mut) {
        setdefault_nulls(m, &TEMPLATE_KEYS);
    }
    if let Some(m) = event.get_mut("request").and_then(Value::as_object_mut) {
        m.entry("query_string").or_insert(Value::Array(Vec::new()));
        setdefault_nulls(m, &HTTP_KEYS);
    }
}
