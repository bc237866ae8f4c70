//! Fingerprint variables (`{{ default }}`, `{{ type }}`, `{{ tags.x }}`, ...) and their
//! values (`sentry.grouping.utils`).

use regex::Regex;
use serde_json::{Map, Value};
use std::sync::LazyLock;

static VAR: LazyLock<Regex> = LazyLock::new(|| {
    // Constant pattern.
    Regex::new(r"^\{\{\s*(\S+)\s*\}\}$").unwrap_or_else(|e| panic!("fingerprint regex: {e}"))
});

/// The variable name of a `{{ var }}` entry.
pub fn parse_var(value: &str) -> Option<&str> {
    VAR.captures(value)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// Whether the entry is `{{ default }}` (any spacing).
pub fn is_default(value: &str) -> bool {
    parse_var(value) == Some("default")
}

fn value_path<'a>(data: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let mut cur = data;
    for k in keys {
        cur = match (k.parse::<i64>(), cur) {
            (Ok(i), Value::Array(a)) => {
                let idx = if i < 0 { a.len() as i64 + i } else { i };
                a.get(usize::try_from(idx).ok()?)?
            }
            (_, Value::Object(o)) => o.get(*k)?,
            _ => return None,
        };
    }
    (!cur.is_null()).then_some(cur)
}

/// [`value_path`] from the event's top-level map (no copy of the event into a `Value`).
fn path<'a>(data: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    let (first, rest) = keys.split_first()?;
    value_path(data.get(*first)?, rest)
}

fn truthy_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::String(_) | Value::Null | Value::Bool(false) => None,
        Value::Bool(true) => Some("True".into()),
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// `get_crash_frame_from_event_data`: the last in-app frame passing `filter` of the top
/// stack trace, else the last frame passing it.
pub fn crash_frame<'a>(
    data: &'a Map<String, Value>,
    filter: &dyn Fn(&Map<String, Value>) -> bool,
) -> Option<&'a Map<String, Value>> {
    let nonempty = |v: Option<&'a Value>| v.and_then(Value::as_array).filter(|a| !a.is_empty());
    let frames = nonempty(path(
        data,
        &["exception", "values", "-1", "stacktrace", "frames"],
    ))
    .or_else(|| nonempty(path(data, &["stacktrace", "frames"])))
    .or_else(|| {
        let threads = path(data, &["threads", "values"])?.as_array()?;
        if threads.len() == 1 {
            value_path(&threads[0], &["stacktrace", "frames"])?.as_array()
        } else {
            None
        }
    })?;
    let mut default = None;
    for frame in frames.iter().rev().filter_map(Value::as_object) {
        if !filter(frame) {
            continue;
        }
        if frame
            .get("in_app")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return Some(frame);
        }
        if default.is_none() {
            default = Some(frame);
        }
    }
    default.filter(|f| !f.is_empty())
}

/// `get_fingerprint_value`: `None` for unknown variables (they stay literal).
pub fn variable_value(var: &str, data: &Map<String, Value>) -> Option<String> {
    let any = |_: &Map<String, Value>| true;
    let frame_str = |key: &str| -> Option<String> {
        crash_frame(data, &any).and_then(|f| truthy_str(f.get(key)))
    };
    Some(match var {
        "transaction" => {
            truthy_str(path(data, &["transaction"])).unwrap_or_else(|| "<no-transaction>".into())
        }
        "message" => truthy_str(path(data, &["logentry", "formatted"]))
            .or_else(|| truthy_str(path(data, &["logentry", "message"])))
            .or_else(|| truthy_str(path(data, &["exception", "values", "-1", "value"])))
            .unwrap_or_else(|| "<no-message>".into()),
        "type" | "error.type" => truthy_str(path(data, &["exception", "values", "-1", "type"]))
            .unwrap_or_else(|| "<no-type>".into()),
        "value" | "error.value" => truthy_str(path(data, &["exception", "values", "-1", "value"]))
            .unwrap_or_else(|| "<no-value>".into()),
        "function" | "stack.function" => {
            frame_str("function").unwrap_or_else(|| "<no-function>".into())
        }
        "path" | "stack.abs_path" => frame_str("abs_path")
            .or_else(|| frame_str("filename"))
            .unwrap_or_else(|| "<no-abs-path>".into()),
        "stack.filename" => frame_str("filename")
            .or_else(|| frame_str("abs_path"))
            .unwrap_or_else(|| "<no-filename>".into()),
        "module" | "stack.module" => frame_str("module").unwrap_or_else(|| "<no-module>".into()),
        "package" | "stack.package" => frame_str("package")
            .map(|p| {
                let p = p.rsplit('/').next().unwrap_or(&p).to_string();
                p.rsplit('\\').next().unwrap_or(&p).to_string()
            })
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "<no-package>".into()),
        "level" => truthy_str(path(data, &["level"])).unwrap_or_else(|| "<no-level>".into()),
        "logger" => truthy_str(path(data, &["logger"])).unwrap_or_else(|| "<no-logger>".into()),
        _ => {
            let tag = var.strip_prefix("tags.")?;
            let tags = data.get("tags").and_then(Value::as_array);
            for pair in tags.into_iter().flatten() {
                if let Some([k, v]) = pair.as_array().map(Vec::as_slice) {
                    if k.as_str() == Some(tag) {
                        return match v {
                            Value::String(s) => Some(s.clone()),
                            Value::Null => None,
                            other => Some(other.to_string()),
                        };
                    }
                }
            }
            format!("<no-value-for-tag-{tag}>")
        }
    })
}

/// `resolve_fingerprint_values`: replaces known variables by their values.
pub fn resolve(values: &[String], data: &Map<String, Value>) -> Vec<String> {
    values
        .iter()
        .map(|v| match parse_var(v) {
            Some(var) => variable_value(var, data).unwrap_or_else(|| v.clone()),
            None => v.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vars() {
        assert!(is_default("{{ default }}"));
        assert!(is_default("{{default}}"));
        assert!(!is_default("{{ DEFAULT }}"));
        let data = json!({"exception": {"values": [{"type": "E", "value": "v", "stacktrace": {"frames": [
            {"function": "a", "in_app": true, "module": "m"}, {"function": "b", "package": "/usr/lib/libx.so"}]}}]},
            "tags": [["server_name", "web-1"]]});
        assert_eq!(
            resolve(
                &[
                    "{{ type }}".into(),
                    "{{ function }}".into(),
                    "{{ tags.server_name }}".into(),
                    "{{ tags.x }}".into(),
                    "{{ nope }}".into(),
                    "{{ transaction }}".into()
                ],
                data.as_object().unwrap()
            ),
            vec![
                "E",
                "a",
                "web-1",
                "<no-value-for-tag-x>",
                "{{ nope }}",
                "<no-transaction>"
            ]
        );
    }
}
