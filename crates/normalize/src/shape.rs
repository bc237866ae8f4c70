//! The explicit `null`s Sentry's interface classes write into the event dict when they are
//! loaded (`Frame.to_python` and friends call `setdefault(key, None)` on the stored dicts),
//! so bodies have the genuine 23.7.1 nodestore shape.

use serde_json::{Map, Value};

const FRAME_KEYS: [&str; 24] = [
    "abs_path",
    "colno",
    "context_line",
    "data",
    "errors",
    "filename",
    "function",
    "raw_function",
    "image_addr",
    "in_app",
    "instruction_addr",
    "addr_mode",
    "lineno",
    "module",
    "package",
    "platform",
    "post_context",
    "pre_context",
    "symbol",
    "symbol_addr",
    "trust",
    "vars",
    "snapshot",
    "lock",
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
    // A frame has a handful of keys and gets about twenty defaults: comparing against its
    // keys is cheaper than hashing each default twice (`contains_key`, then `insert`), and
    // `entry` would allocate a key String even for keys already there.
    let missing: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !m.keys().any(|present| present == k))
        .collect();
    if missing.len() > m.len() {
        // Growing a handful of keys to twenty-odd would regrow (and rehash) the map
        // twice; `Map` has no `reserve`, so move the keys into one built at full size.
        let old = std::mem::replace(m, Map::with_capacity(m.len() + missing.len()));
        m.extend(old);
    }
    for k in missing {
        m.insert(k.to_string(), Value::Null);
    }
}

fn fill_frames(container: &mut Value, key: &str) {
    let Some(Value::Array(frames)) = container.get_mut(key).and_then(|st| st.get_mut("frames"))
    else {
        return;
    };
    if !frames.iter().any(|f| !f.is_null()) {
        return;
    }
    for f in frames.iter_mut().filter_map(Value::as_object_mut) {
        setdefault_nulls(f, &FRAME_KEYS);
    }
}

/// Adds the `null` defaults of every interface Sentry loads.
pub fn fill_interface_defaults(event: &mut Map<String, Value>) {
    if let Some(Value::Array(values)) = event.get_mut("exception").and_then(|e| e.get_mut("values"))
    {
        if values.iter().any(|v| !v.is_null()) {
            for v in values.iter_mut().filter(|v| v.is_object()) {
                fill_frames(v, "stacktrace");
                fill_frames(v, "raw_stacktrace");
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
    if let Some(Value::Array(values)) = event.get_mut("threads").and_then(|e| e.get_mut("values")) {
        for v in values.iter_mut().filter(|v| v.is_object()) {
            fill_frames(v, "stacktrace");
            fill_frames(v, "raw_stacktrace");
        }
    }
    if event.contains_key("stacktrace") {
        let mut top = Value::Object(std::mem::take(event));
        fill_frames(&mut top, "stacktrace");
        if let Value::Object(m) = top {
            *event = m;
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
