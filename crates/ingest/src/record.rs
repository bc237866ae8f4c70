//! The record keys of one processed event (docs/schema.md §1): promoted
//! scalars, tags/contexts/flags as sorted JSON objects, Snuba's nested
//! columns as JSON arrays, all within the §1.5 length budget.

use std::collections::BTreeMap;

use sentry_sls_event::ProjectId;
use serde_json::{Map, Value};

/// Largest analysed value written (schema §1.5): SLS cuts at 16,384 bytes.
pub const MAX_VALUE_BYTES: usize = 16_000;
/// Longest element of `exception_stacks_value`.
const MAX_EXCEPTION_VALUE_BYTES: usize = 4_096;
/// Longest element of every other array or object.
const MAX_ELEMENT_BYTES: usize = 1_024;

/// Promoted tags: record key ← tag key (schema §1.3).
const PROMOTED_TAGS: &[(&str, &str)] = &[
    ("environment", "environment"),
    ("release", "sentry:release"),
    ("dist", "sentry:dist"),
    ("user", "sentry:user"),
    ("transaction_name", "transaction"),
    ("level", "level"),
    ("logger", "logger"),
    ("browser", "browser"),
    ("browser_name", "browser.name"),
    ("os_name", "os.name"),
    ("device", "device"),
];

/// Span status names in Snuba's code order (`transaction_status`).
const SPAN_STATUSES: &[&str] = &[
    "ok",
    "cancelled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal_error",
    "unavailable",
    "data_loss",
    "unauthenticated",
];

fn get<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(value, |value, key| value.get(key))
}

/// `get` from the event's top level.
fn at<'a>(event: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    let (first, rest) = keys.split_first()?;
    get(event.get(*first)?, rest)
}

/// A scalar as Sentry's tag/text form; `None` for null, empty, objects and arrays.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A scalar as Python's `str()` renders it (contexts are flattened that way).
fn python_str(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Number(number) => {
            let text = number.to_string();
            if number.is_f64() && !text.contains(['.', 'e', 'E']) {
                Some(format!("{text}.0"))
            } else {
                Some(text)
            }
        }
        _ => None,
    }
}

/// Cuts `text` to at most `limit` bytes at a character boundary.
fn cut(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn ids_hex(value: Option<&Value>) -> Option<String> {
    text(value).map(|id| id.replace('-', "").to_ascii_lowercase())
}

fn bool_flag(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_bool)
        .map(|flag| if flag { "1" } else { "0" }.to_string())
}

/// Sentry's tag rules: key `[a-zA-Z0-9_.:-]{1,200}`, value non-empty,
/// ≤ 200 characters, no newline.
fn valid_tag(key: &str, value: &str) -> bool {
    (1..=200).contains(&key.len())
        && key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_.:-".contains(&byte))
        && !value.is_empty()
        && value.chars().count() <= 200
        && !value.contains('\n')
}

/// The event's tags as a sorted map (pairs or object form; the last value
/// of a repeated key wins).
pub fn tags(event: &Map<String, Value>) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    let mut add = |key: Option<String>, value: Option<String>| {
        if let (Some(key), Some(value)) = (key, value) {
            if valid_tag(&key, &value) {
                tags.insert(key, value);
            }
        }
    };
    match event.get("tags") {
        Some(Value::Array(pairs)) => {
            for pair in pairs {
                if let Some([key, value]) = pair.as_array().map(Vec::as_slice) {
                    add(text(Some(key)), text(Some(value)));
                }
            }
        }
        Some(Value::Object(map)) => {
            for (key, value) in map {
                add(Some(key.clone()), text(Some(value)));
            }
        }
        _ => {}
    }
    tags
}

/// Sentry's `sentry:user` tag value: `id:`, `username:`, `email:` or `ip:`.
pub fn user_tag(event: &Map<String, Value>) -> Option<String> {
    let user = event.get("user")?;
    [
        ("id", "id"),
        ("username", "username"),
        ("email", "email"),
        ("ip_address", "ip"),
    ]
    .iter()
    .find_map(|(field, prefix)| text(user.get(field)).map(|value| format!("{prefix}:{value}")))
}

/// Adds the tags Sentry's EventManager adds after normalisation
/// (`sentry:release`, `sentry:dist`, `sentry:user`) to the body's tag pairs.
pub fn add_sentry_tags(event: &mut Map<String, Value>) {
    let release = text(event.get("release"));
    let dist = text(event.get("dist")).filter(|_| release.is_some());
    let user = user_tag(event);
    let Some(Value::Array(pairs)) = event.get_mut("tags") else {
        return;
    };
    for (key, value) in [
        ("sentry:release", release),
        ("sentry:dist", dist),
        ("sentry:user", user),
    ] {
        let Some(value) = value else { continue };
        let value = cut(&value, 200).to_string();
        pairs.retain(|pair| pair.get(0).and_then(Value::as_str) != Some(key));
        pairs.push(Value::Array(vec![key.into(), value.into()]));
    }
}

/// The metadata keys in the order Sentry's `ErrorEvent.get_metadata` sets them; any
/// others (a custom `title`) come after, as they were set later.
const METADATA_ORDER: [&str; 4] = ["value", "type", "filename", "function"];

/// Sentry's `search_message`: the message plus metadata values and the
/// culprit not already in it (what Snuba stores in `message`).
fn search_message(event: &Map<String, Value>) -> Option<String> {
    let mut message = text(
        event
            .get("logentry")
            .and_then(|entry| entry.get("formatted")),
    )
    .or_else(|| text(event.get("logentry").and_then(|entry| entry.get("message"))))
    .unwrap_or_default();
    if let Some(Value::Object(metadata)) = event.get("metadata") {
        // Sentry walks the dict in the order `get_metadata` filled it; a `Map` is sorted.
        let first = METADATA_ORDER.iter().filter_map(|key| metadata.get(*key));
        let rest = metadata
            .iter()
            .filter(|(key, _)| !METADATA_ORDER.contains(&key.as_str()))
            .map(|(_, value)| value);
        for value in first.chain(rest) {
            if let Some(value) = value.as_str().filter(|value| !value.is_empty()) {
                if !message.contains(value) {
                    message = format!("{message} {value}");
                }
            }
        }
    }
    if let Some(culprit) = text(event.get("culprit")) {
        if !message.contains(&culprit) {
            message = format!("{message} {culprit}");
        }
    }
    let message = message.trim();
    (!message.is_empty()).then(|| message.to_string())
}

/// Contexts flattened as Snuba's errors processor does: `<context>.<field>`
/// for scalar fields, Python `str()` values; trace ids live in their keys.
fn contexts(event: &Map<String, Value>) -> BTreeMap<String, String> {
    let mut flat = BTreeMap::new();
    let Some(Value::Object(contexts)) = event.get("contexts") else {
        return flat;
    };
    for (name, context) in contexts {
        let Value::Object(fields) = context else {
            continue;
        };
        for (field, value) in fields {
            if field == "type" || (name == "trace" && (field == "trace_id" || field == "span_id")) {
                continue;
            }
            if let Some(value) = python_str(value).filter(|value| !value.is_empty()) {
                flat.insert(format!("{name}.{field}"), value);
            }
        }
    }
    if let Some(Value::Object(geo)) = event.get("user").and_then(|user| user.get("geo")) {
        for (field, value) in geo {
            if let Some(value) = python_str(value).filter(|value| !value.is_empty()) {
                flat.insert(format!("geo.{field}"), value);
            }
        }
    }
    flat
}

/// Feature flags from `contexts.flags.values`.
fn flags(event: &Map<String, Value>) -> BTreeMap<String, String> {
    let mut flags = BTreeMap::new();
    if let Some(Value::Array(values)) = event
        .get("contexts")
        .and_then(|contexts| get(contexts, &["flags", "values"]))
    {
        for entry in values {
            if let (Some(flag), Some(result)) = (
                text(entry.get("flag")),
                entry.get("result").and_then(python_str),
            ) {
                flags.insert(flag, result);
            }
        }
    }
    flags
}

/// A sorted map as a JSON object within the budget: longest values are
/// dropped first (ties: key descending), never a `keep` key.
fn object_within_budget(
    mut map: BTreeMap<String, String>,
    keep: &[&str],
) -> (Option<String>, bool) {
    for value in map.values_mut() {
        if value.len() > MAX_ELEMENT_BYTES {
            *value = cut(value, MAX_ELEMENT_BYTES).to_string();
        }
    }
    let mut trimmed = false;
    loop {
        if map.is_empty() {
            return (None, trimmed);
        }
        let encoded = serde_json::to_string(&map).unwrap_or_default();
        if encoded.len() <= MAX_VALUE_BYTES {
            return (Some(encoded), trimmed);
        }
        let victim = map
            .iter()
            .filter(|(key, _)| !keep.contains(&key.as_str()))
            .max_by(|(key_a, value_a), (key_b, value_b)| {
                value_a.len().cmp(&value_b.len()).then(key_a.cmp(key_b))
            })
            .map(|(key, _)| key.clone());
        match victim {
            Some(key) => {
                map.remove(&key);
                trimmed = true;
            }
            None => return (Some(encoded), trimmed),
        }
    }
}

/// Positional arrays of one family (equal lengths), as JSON strings, with
/// whole entries dropped from the head until every array fits.
fn family_within_budget(columns: Vec<(&str, Vec<Value>)>) -> (Vec<(String, String)>, bool) {
    family_fitting(&columns, false)
}

/// Like [`family_within_budget`], dropping entries from the tail.
fn family_within_budget_tail(columns: Vec<(&str, Vec<Value>)>) -> (Vec<(String, String)>, bool) {
    family_fitting(&columns, true)
}

/// The longest run of entries (kept at the head or the tail) whose arrays
/// all fit the budget, found by binary search: the size grows with the run.
fn family_fitting(
    columns: &[(&str, Vec<Value>)],
    keep_head: bool,
) -> (Vec<(String, String)>, bool) {
    let length = columns.first().map_or(0, |(_, values)| values.len());
    let encode = |keep: usize| -> Vec<(String, String)> {
        columns
            .iter()
            .map(|(key, values)| {
                let slice = if keep_head {
                    &values[..keep]
                } else {
                    &values[length - keep..]
                };
                (
                    (*key).to_string(),
                    serde_json::to_string(slice).unwrap_or_default(),
                )
            })
            .collect()
    };
    let fits = |encoded: &[(String, String)]| {
        encoded
            .iter()
            .all(|(_, json)| json.len() <= MAX_VALUE_BYTES)
    };
    let all = encode(length);
    if length == 0 || fits(&all) {
        return (all, false);
    }
    // Invariant: `low` entries fit (one always kept), `high` do not.
    let (mut low, mut high) = (1, length);
    while high - low > 1 {
        let middle = (low + high) / 2;
        if fits(&encode(middle)) {
            low = middle;
        } else {
            high = middle;
        }
    }
    (encode(low), true)
}

fn exception_values(event: &Map<String, Value>) -> Vec<&Value> {
    event
        .get("exception")
        .and_then(|exception| exception.get("values"))
        .and_then(Value::as_array)
        .map(|values| values.iter().filter(|value| value.is_object()).collect())
        .unwrap_or_default()
}

/// Record keys being built, and the keys whose values were trimmed.
#[derive(Default)]
struct Builder {
    out: Vec<(String, String)>,
    trimmed: Vec<&'static str>,
}

impl Builder {
    /// Adds a scalar key unless empty, cut to the budget.
    fn put(&mut self, key: &'static str, value: Option<String>) {
        let Some(value) = value.filter(|value| !value.is_empty()) else {
            return;
        };
        let kept = cut(&value, MAX_VALUE_BYTES);
        if kept.len() < value.len() {
            self.trimmed.push(key);
        }
        self.out.push((key.to_string(), kept.to_string()));
    }
}

/// The record keys derived from a processed event (everything except ids,
/// times and the body, which the caller adds).
pub fn keys(
    project_id: ProjectId,
    event: &Map<String, Value>,
    event_type: &str,
    hashes: &[String],
) -> Vec<(String, String)> {
    let mut b = Builder::default();
    b.put("type", Some(event_type.to_string()));
    b.put("platform", text(event.get("platform")));
    b.put("title", text(event.get("title")));
    b.put("culprit", text(event.get("culprit")));
    b.put("location", text(event.get("location")));
    b.put("version", text(event.get("version")));
    b.put("message", search_message(event));
    if let Some(primary) = hashes.first() {
        b.put("primary_hash", Some(primary.clone()));
        b.put(
            "group_id",
            Some(sentry_sls_event::group_id(project_id, primary).to_string()),
        );
        b.put(
            "hashes",
            Some(serde_json::to_string(hashes).unwrap_or_default()),
        );
    }
    let tags = tags(event);
    for (key, tag) in PROMOTED_TAGS {
        b.put(key, tags.get(*tag).cloned());
    }
    b.put("user_id", text(at(event, &["user", "id"])));
    b.put("user_name", text(at(event, &["user", "username"])));
    b.put("user_email", text(at(event, &["user", "email"])));
    b.put("ip_address", text(at(event, &["user", "ip_address"])));
    b.put("sdk_name", text(at(event, &["sdk", "name"])));
    b.put("sdk_version", text(at(event, &["sdk", "version"])));
    if let Some(Value::Array(integrations)) = at(event, &["sdk", "integrations"]) {
        let names: Vec<Value> = integrations
            .iter()
            .filter_map(Value::as_str)
            .map(|name| Value::String(cut(name, MAX_ELEMENT_BYTES).to_string()))
            .collect();
        if !names.is_empty() {
            let (encoded, cut_any) = family_within_budget(vec![("sdk_integrations", names)]);
            if cut_any {
                b.trimmed.push("sdk_integrations");
            }
            b.out.extend(encoded);
        }
    }
    b.put("http_method", text(at(event, &["request", "method"])));
    let referer = match at(event, &["request", "headers"]) {
        Some(Value::Array(pairs)) => pairs.iter().find_map(|pair| {
            let pair = pair.as_array()?;
            (pair.first()?.as_str()?.eq_ignore_ascii_case("referer"))
                .then(|| text(pair.get(1)))
                .flatten()
        }),
        Some(Value::Object(headers)) => headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("referer"))
            .and_then(|(_, value)| text(Some(value))),
        _ => None,
    };
    b.put("http_referer", referer);
    b.put(
        "trace_id",
        ids_hex(at(event, &["contexts", "trace", "trace_id"])),
    );
    b.put(
        "span_id",
        ids_hex(at(event, &["contexts", "trace", "span_id"])),
    );
    b.put(
        "trace_sampled",
        bool_flag(at(event, &["contexts", "trace", "sampled"])),
    );
    b.put(
        "replay_id",
        ids_hex(at(event, &["contexts", "replay", "replay_id"])),
    );
    b.put(
        "profile_id",
        ids_hex(at(event, &["contexts", "profile", "profile_id"])),
    );
    let errors = event
        .get("errors")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if errors > 0 {
        b.put("num_processing_errors", Some(errors.to_string()));
    }

    if event_type == "transaction" {
        b.put(
            "transaction_op",
            text(at(event, &["contexts", "trace", "op"])),
        );
        let status = at(event, &["contexts", "trace", "status"])
            .and_then(Value::as_str)
            .and_then(|status| SPAN_STATUSES.iter().position(|name| *name == status));
        b.put("transaction_status", status.map(|code| code.to_string()));
        let start = event.get("start_timestamp").and_then(Value::as_f64);
        let end = event.get("timestamp").and_then(Value::as_f64);
        if let (Some(start), Some(end)) = (start, end) {
            if end >= start {
                b.put(
                    "duration_ms",
                    Some(((end - start) * 1000.0).round().to_string()),
                );
            }
        }
        if let Some(Value::Object(measurements)) = event.get("measurements") {
            let values: BTreeMap<&String, &Value> = measurements
                .iter()
                .filter_map(|(name, entry)| Some((name, entry.get("value")?)))
                .filter(|(_, value)| value.is_number())
                .collect();
            if !values.is_empty() {
                let encoded = serde_json::to_string(&values).unwrap_or_default();
                if encoded.len() <= MAX_VALUE_BYTES {
                    b.put("measurements", Some(encoded));
                } else {
                    b.trimmed.push("measurements");
                }
            }
        }
    }

    let keep: Vec<&str> = PROMOTED_TAGS.iter().map(|(_, tag)| *tag).collect();
    for (key, map, keep) in [
        ("tags", tags, keep.as_slice()),
        ("contexts", contexts(event), &[][..]),
        ("flags", flags(event), &[][..]),
    ] {
        let (encoded, cut_any) = object_within_budget(map, keep);
        if cut_any {
            b.trimmed.push(key);
        }
        b.put(key, encoded);
    }

    // Exceptions: Snuba's exception_stacks.* and exception_frames.* columns.
    let exceptions = exception_values(event);
    if !exceptions.is_empty() {
        // One allocation per element (there is one per frame and column): cut in place.
        let element = |value: Option<&Value>, limit: usize| {
            text(value).map_or(Value::Null, |mut text| {
                let kept = cut(&text, limit).len();
                text.truncate(kept);
                Value::String(text)
            })
        };
        let handled: Vec<Value> = exceptions
            .iter()
            .map(|exception| {
                match get(exception, &["mechanism", "handled"]).and_then(Value::as_bool) {
                    Some(flag) => Value::from(u8::from(flag)),
                    None => Value::Null,
                }
            })
            .collect();
        let unhandled = handled.iter().any(|flag| flag.as_u64() == Some(0));
        let stacks = vec![
            (
                "exception_stacks_type",
                exceptions
                    .iter()
                    .map(|e| element(e.get("type"), MAX_ELEMENT_BYTES))
                    .collect(),
            ),
            (
                "exception_stacks_value",
                exceptions
                    .iter()
                    .map(|e| element(e.get("value"), MAX_EXCEPTION_VALUE_BYTES))
                    .collect(),
            ),
            (
                "exception_stacks_mechanism_type",
                exceptions
                    .iter()
                    .map(|e| element(get(e, &["mechanism", "type"]), MAX_ELEMENT_BYTES))
                    .collect(),
            ),
            ("exception_stacks_mechanism_handled", handled),
        ];
        let (encoded, cut_any) = family_within_budget(stacks);
        if cut_any {
            b.trimmed.push("exception_stacks");
        }
        b.out.extend(encoded);
        b.out
            .push(("unhandled".into(), if unhandled { "1" } else { "0" }.into()));

        let names = [
            "abs_path", "filename", "function", "module", "package", "in_app", "lineno", "colno",
        ];
        let mut columns: Vec<Vec<Value>> = vec![Vec::new(); names.len() + 1];
        for (level, exception) in exceptions.iter().enumerate() {
            let Some(Value::Array(frames)) = get(exception, &["stacktrace", "frames"]) else {
                continue;
            };
            for frame in frames.iter().filter(|frame| frame.is_object()) {
                for (column, name) in names.iter().enumerate() {
                    let value = match *name {
                        "in_app" => frame
                            .get("in_app")
                            .and_then(Value::as_bool)
                            .map_or(Value::Null, |flag| Value::from(u8::from(flag))),
                        "lineno" | "colno" => frame
                            .get(*name)
                            .and_then(Value::as_u64)
                            .map_or(Value::Null, Value::from),
                        _ => element(frame.get(*name), MAX_ELEMENT_BYTES),
                    };
                    columns[column].push(value);
                }
                columns[names.len()].push(Value::from(level));
            }
        }
        if !columns[0].is_empty() {
            let keys = [
                "exception_frames_abs_path",
                "exception_frames_filename",
                "exception_frames_function",
                "exception_frames_module",
                "exception_frames_package",
                "exception_frames_in_app",
                "exception_frames_lineno",
                "exception_frames_colno",
                "exception_frames_stack_level",
            ];
            let family = keys.iter().copied().zip(columns).collect();
            let (encoded, cut_any) = family_within_budget(family);
            if cut_any {
                b.trimmed.push("exception_frames");
            }
            b.out.extend(encoded);
        }
        // Whether the exception happened on the main thread.
        let thread_id = exceptions.last().and_then(|e| e.get("thread_id")).cloned();
        if let (Some(thread_id), Some(Value::Array(threads))) =
            (thread_id, at(event, &["threads", "values"]))
        {
            if let Some(thread) = threads
                .iter()
                .find(|thread| thread.get("id") == Some(&thread_id))
            {
                b.put("exception_main_thread", bool_flag(thread.get("main")));
            }
        }
    }

    if let Some(Value::Object(modules)) = event.get("modules") {
        let sorted: BTreeMap<&String, Value> = modules
            .iter()
            .map(|(name, version)| {
                (
                    name,
                    text(Some(version)).map_or(Value::Null, |v| {
                        Value::String(cut(&v, MAX_ELEMENT_BYTES).to_string())
                    }),
                )
            })
            .collect();
        if !sorted.is_empty() {
            let names: Vec<Value> = sorted
                .keys()
                .map(|name| Value::String(cut(name, MAX_ELEMENT_BYTES).to_string()))
                .collect();
            let versions: Vec<Value> = sorted.into_values().collect();
            // Modules drop from the tail, unlike frames.
            let (encoded, cut_any) = family_within_budget_tail(vec![
                ("modules_name", names),
                ("modules_version", versions),
            ]);
            if cut_any {
                b.trimmed.push("modules");
            }
            b.out.extend(encoded);
        }
    }

    if !b.trimmed.is_empty() {
        b.trimmed.sort_unstable();
        b.trimmed.dedup();
        let trimmed = serde_json::to_string(&b.trimmed).unwrap_or_default();
        b.out.push(("trimmed".into(), trimmed));
    }
    b.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookup<'a>(keys: &'a [(String, String)], key: &str) -> Option<&'a str> {
        keys.iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn derives_promoted_keys_and_nested_columns() {
        let mut event = json!({
            "platform": "python", "title": "ValueError: bad", "culprit": "app.views in pay",
            "version": "7", "release": "app@1", "dist": "7", "level": "error",
            "logentry": {"formatted": "payment failed"},
            "metadata": {"type": "ValueError", "value": "bad", "display_title_with_tree_label": false},
            "user": {"id": "u1", "email": "u1@example.com", "geo": {"city": "Berlin"}},
            "tags": [["level", "error"], ["environment", "prod"], ["browser", "Chrome 126"], ["bad key!", "x"], ["empty", ""]],
            "contexts": {"trace": {"trace_id": "A0B1C2D3-E4F5-0617-2839-4A5B6C7D8E9F", "span_id": "0123456789abcdef", "sampled": true, "type": "trace"},
                         "runtime": {"name": "CPython", "version": "3.11", "build": 1.0}},
            "request": {"method": "POST", "headers": [["Referer", "https://a.example/x"]]},
            "sdk": {"name": "sentry.python", "version": "2.0", "integrations": ["django", "redis"]},
            "modules": {"zlib": "1.0", "django": "4.2"},
            "exception": {"values": [
                {"type": "KeyError", "value": "k", "mechanism": {"type": "generic", "handled": true},
                 "stacktrace": {"frames": [{"filename": "a.py", "function": "f", "lineno": 3, "in_app": false}]}},
                {"type": "ValueError", "value": "bad", "mechanism": {"type": "django", "handled": false},
                 "stacktrace": {"frames": [{"filename": "b.py", "function": "g", "lineno": 9, "colno": 2, "in_app": true, "module": "app.b"}]}}
            ]},
        });
        add_sentry_tags(event.as_object_mut().unwrap());
        let event = event.as_object().unwrap();
        let keys = keys(
            ProjectId(1),
            event,
            "error",
            &["0123456789abcdef0123456789abcdef".into()],
        );
        assert_eq!(lookup(&keys, "environment"), Some("prod"));
        assert_eq!(lookup(&keys, "release"), Some("app@1"));
        assert_eq!(lookup(&keys, "dist"), Some("7"));
        assert_eq!(lookup(&keys, "user"), Some("id:u1"));
        assert_eq!(lookup(&keys, "browser"), Some("Chrome 126"));
        assert_eq!(
            lookup(&keys, "message"),
            Some("payment failed bad ValueError app.views in pay")
        );
        let tags: BTreeMap<String, String> =
            serde_json::from_str(lookup(&keys, "tags").unwrap()).unwrap();
        assert_eq!(tags["sentry:user"], "id:u1");
        assert!(!tags.contains_key("bad key!") && !tags.contains_key("empty"));
        assert_eq!(
            lookup(&keys, "trace_id"),
            Some("a0b1c2d3e4f5061728394a5b6c7d8e9f")
        );
        assert_eq!(lookup(&keys, "trace_sampled"), Some("1"));
        let contexts: BTreeMap<String, String> =
            serde_json::from_str(lookup(&keys, "contexts").unwrap()).unwrap();
        assert_eq!(contexts["runtime.build"], "1.0");
        assert_eq!(contexts["geo.city"], "Berlin");
        assert!(!contexts.contains_key("trace.trace_id"));
        assert_eq!(lookup(&keys, "http_referer"), Some("https://a.example/x"));
        assert_eq!(
            lookup(&keys, "sdk_integrations"),
            Some(r#"["django","redis"]"#)
        );
        assert_eq!(
            lookup(&keys, "exception_stacks_type"),
            Some(r#"["KeyError","ValueError"]"#)
        );
        assert_eq!(
            lookup(&keys, "exception_stacks_mechanism_handled"),
            Some("[1,0]")
        );
        assert_eq!(lookup(&keys, "unhandled"), Some("1"));
        assert_eq!(lookup(&keys, "exception_frames_stack_level"), Some("[0,1]"));
        assert_eq!(lookup(&keys, "exception_frames_colno"), Some("[null,2]"));
        assert_eq!(
            lookup(&keys, "exception_frames_module"),
            Some(r#"[null,"app.b"]"#)
        );
        assert_eq!(lookup(&keys, "modules_name"), Some(r#"["django","zlib"]"#));
        assert_eq!(
            lookup(&keys, "group_id").unwrap().parse::<u64>().unwrap() >> 52,
            1
        );
        assert_eq!(lookup(&keys, "trimmed"), None);
        assert!(keys.iter().all(|(_, value)| !value.is_empty()));
    }

    #[test]
    fn nothing_exceeds_the_budget_and_trimming_is_listed() {
        let frames: Vec<Value> = (0..2000)
            .map(|n| json!({"filename": format!("file_{n}.py"), "function": "x".repeat(50), "lineno": n}))
            .collect();
        let tags: Vec<Value> = (0..400)
            .map(|n| json!([format!("k{n}"), "v".repeat(150)]))
            .collect();
        let mut event = json!({
            "logentry": {"formatted": "é".repeat(20_000)},
            "tags": tags,
            "release": "r1",
            "exception": {"values": [{"type": "E", "value": "v", "stacktrace": {"frames": frames}}]},
        });
        add_sentry_tags(event.as_object_mut().unwrap());
        let keys = keys(ProjectId(1), event.as_object().unwrap(), "error", &[]);
        for (key, value) in &keys {
            assert!(
                value.len() <= MAX_VALUE_BYTES,
                "{key} has {} bytes",
                value.len()
            );
        }
        let trimmed: Vec<String> = serde_json::from_str(lookup(&keys, "trimmed").unwrap()).unwrap();
        assert!(trimmed.contains(&"message".to_string()));
        assert!(trimmed.contains(&"tags".to_string()));
        assert!(trimmed.contains(&"exception_frames".to_string()));
        // Promoted tags survive, the newest frames are kept, families stay aligned.
        let tags: BTreeMap<String, String> =
            serde_json::from_str(lookup(&keys, "tags").unwrap()).unwrap();
        assert_eq!(tags["sentry:release"], "r1");
        let lines: Vec<Value> =
            serde_json::from_str(lookup(&keys, "exception_frames_lineno").unwrap()).unwrap();
        let levels: Vec<Value> =
            serde_json::from_str(lookup(&keys, "exception_frames_stack_level").unwrap()).unwrap();
        assert_eq!(lines.len(), levels.len());
        assert_eq!(lines.last(), Some(&json!(1999)));
    }
}
