//! Sentry 23.7.1 event processing without Python: turns a raw SDK event into the processed
//! body Sentry writes to nodestore, with the grouping hashes of `newstyle:2023-01-11`.
//!
//! The pipeline mirrors `EventManager.save()`: Relay's store normalisation ([`relay`]), the
//! level/logger/environment/transaction and interface tags, `normalize_stacktraces_for_grouping`
//! (function trimming and the built-in [`enhancements`] deciding `in_app`), grouping
//! ([`variants`]) and `materialize_metadata` ([`metadata`]).

pub mod body;
pub mod component;
pub mod enhancements;
pub mod fingerprint;
pub mod functions;
pub mod glob;
pub mod metadata;
pub mod parameterize;
pub mod relay;
mod shape;
pub mod strategies;
pub mod variants;

use enhancements::{set_in_app, Enhancements, DEFAULT_ENHANCEMENTS};
use serde_json::{json, Map, Value};

/// The grouping config id Sentry 23.7.1 uses by default.
pub const GROUPING_CONFIG_ID: &str = "newstyle:2023-01-11";

/// How to normalise one event.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Sentry project id (written as `project`).
    pub project_id: u64,
    /// When the event was received, in Unix seconds.
    pub received: f64,
    /// The client's IP, substituted for `{{auto}}` user IPs.
    pub client_ip: Option<String>,
    /// Timestamps older than `received - max_past_secs` are replaced by `received`.
    pub max_past_secs: i64,
    /// Timestamps newer than `received + max_future_secs` are replaced by `received`.
    pub max_future_secs: i64,
}

impl Options {
    /// Relay's defaults: 30 days into the past, 60 seconds into the future.
    pub fn new(project_id: u64, received: f64) -> Options {
        Options {
            project_id,
            received,
            client_ip: None,
            max_past_secs: 30 * 24 * 3600,
            max_future_secs: 60,
        }
    }
}

/// A processed event.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The processed body (what Sentry writes to nodestore), top-level keys sorted; frames
    /// get their `null` defaults when [`body::to_json`] writes it.
    pub event: Map<String, Value>,
    /// `error`, `default` or `transaction`.
    pub event_type: String,
    /// The issue title.
    pub title: String,
    /// The culprit.
    pub culprit: String,
    /// The crash location (file), for errors.
    pub location: Option<String>,
    /// Type-specific metadata (`type`, `value`, `filename`, `function`, `title`, ...).
    pub metadata: Map<String, Value>,
    /// Grouping hashes, primary first (empty for transactions).
    pub hashes: Vec<String>,
    /// The variant that produced the primary hash (`app`, `system`, `default`, ...).
    pub primary_variant: String,
    /// The fingerprint after defaulting to `["{{ default }}"]`.
    pub fingerprint: Vec<String>,
}

/// Why an event could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    /// The payload is not a JSON object.
    #[error("event payload is not a JSON object")]
    NotAnObject,
    /// The payload nests deeper than Relay accepts.
    #[error("event payload is nested too deeply")]
    TooDeep,
}

/// Calls `f` with the frame list of every stack trace Sentry normalises for grouping.
fn for_each_frame_list(event: &mut Map<String, Value>, mut f: impl FnMut(&mut Vec<Value>)) {
    let mut visit = |container: &mut Value, key: &str| {
        if let Some(Value::Array(frames)) =
            container.get_mut(key).and_then(|st| st.get_mut("frames"))
        {
            if frames.iter().any(|fr| !fr.is_null()) {
                f(frames);
            }
        }
    };
    for area in ["exception", "threads"] {
        if let Some(Value::Array(values)) = event.get_mut(area).and_then(|e| e.get_mut("values")) {
            for v in values.iter_mut().filter(|v| v.is_object()) {
                visit(v, "stacktrace");
                visit(v, "raw_stacktrace");
            }
        }
    }
    if event.contains_key("stacktrace") {
        let mut top = Value::Object(std::mem::take(event));
        visit(&mut top, "stacktrace");
        if let Value::Object(m) = top {
            *event = m;
        }
    }
}

/// `normalize_stacktraces_for_grouping`: trims function names, applies the enhancement
/// rules' frame modifications and defaults `in_app` to false.
fn normalize_stacktraces_for_grouping(event: &mut Map<String, Value>, enhancements: &Enhancements) {
    let platform = event
        .get("platform")
        .and_then(Value::as_str)
        .map(str::to_string);
    let platform = platform.as_deref();
    for_each_frame_list(event, |frames| {
        let mut frames: Vec<&mut Map<String, Value>> =
            frames.iter_mut().filter_map(Value::as_object_mut).collect();
        for frame in frames.iter_mut() {
            update_frame(frame, platform);
        }
        enhancements.apply_modifications_to_frames(&mut frames, platform, None);
        for frame in frames.iter_mut() {
            if frame.get("in_app").is_none_or(|v| !v.is_boolean()) {
                set_in_app(frame, false);
            }
        }
    });
}

/// `_update_frame`: restores an earlier `in_app` and stores trimmed function names.
fn update_frame(frame: &mut Map<String, Value>, platform: Option<&str>) {
    let orig = frame
        .get("data")
        .and_then(|d| d.get("orig_in_app"))
        .filter(|v| !v.is_null())
        .cloned();
    if let Some(orig) = orig {
        let v = match orig.as_i64() {
            Some(-1) => Value::Null,
            Some(n) => Value::Bool(n != 0),
            None => Value::Bool(orig.as_bool().unwrap_or(false)),
        };
        frame.insert("in_app".into(), v);
    }
    if frame.get("raw_function").is_some_and(|v| !v.is_null()) {
        return;
    }
    let Some(raw) = frame
        .get("function")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
    else {
        return;
    };
    let frame_platform = frame
        .get("platform")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .or(platform);
    let trimmed = functions::trim_function_name(raw, frame_platform);
    if trimmed != raw {
        let raw = raw.to_string();
        frame.insert("raw_function".into(), Value::String(raw));
        frame.insert("function".into(), Value::String(trimmed));
    }
}

/// `set_tag`: removes any tag with the key, then appends it (values capped at 200 chars).
fn set_tag(event: &mut Map<String, Value>, key: &str, value: &str) {
    let tags = event.entry("tags").or_insert_with(|| json!([]));
    if !tags.is_array() {
        *tags = json!([]);
    }
    if let Some(list) = tags.as_array_mut() {
        list.retain(|t| t.get(0).and_then(Value::as_str) != Some(key));
        let value: String = value.chars().take(200).collect();
        list.push(json!([key, value]));
    }
}

fn add_interface_tags(event: &mut Map<String, Value>) {
    let mut tags: Vec<(String, String)> = Vec::new();
    let last_mechanism = event
        .get("exception")
        .and_then(|e| e.get("values"))
        .and_then(Value::as_array)
        .and_then(|v| v.last())
        .and_then(|e| e.get("mechanism"))
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    if let Some(m) = last_mechanism {
        if let Some(t) = m.get("type").and_then(Value::as_str) {
            tags.push(("mechanism".into(), t.to_string()));
        }
        if let Some(h) = m.get("handled").and_then(Value::as_bool) {
            tags.push(("handled".into(), if h { "yes" } else { "no" }.into()));
        }
    }
    if let Some(ctx) = event.get("contexts").and_then(Value::as_object) {
        for (alias, c) in ctx {
            let Some(c) = c.as_object() else { continue };
            let ty = c.get("type").and_then(Value::as_str).unwrap_or(alias);
            let mapping: &[(&str, &[&str])] = match ty {
                "device" => &[("", &["model"]), ("family", &["family"])],
                "runtime" | "browser" => &[("", &["name", "version"]), ("name", &["name"])],
                "os" => &[
                    ("", &["name", "version"]),
                    ("name", &["name"]),
                    ("rooted", &["rooted"]),
                ],
                "gpu" => &[("name", &["name"]), ("vendor", &["vendor_name"])],
                "monitor" => &[("id", &["id"]), ("slug", &["slug"])],
                "app" => &[("device", &["device_app_hash"])],
                _ => &[],
            };
            for (field, keys) in mapping {
                let parts: Option<Vec<String>> = keys
                    .iter()
                    .map(|k| {
                        c.get(*k).filter(|v| !v.is_null()).map(|v| match v {
                            Value::String(s) => s.clone(),
                            Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
                            other => other.to_string(),
                        })
                    })
                    .collect();
                let Some(parts) = parts else { continue };
                let value = parts.join(" ").trim().to_string();
                if value.is_empty() {
                    continue;
                }
                let key = if field.is_empty() {
                    alias.clone()
                } else {
                    format!("{alias}.{field}")
                };
                tags.push((key, value));
            }
        }
    }
    for (k, v) in tags {
        set_tag(event, &k, &v);
    }
}

/// Grouping of an already normalized event body (for tests and debugging): the variants as
/// Sentry's grouping info shows them, plus hashes.
pub fn grouping_variants(event: &Map<String, Value>) -> variants::Grouping {
    variants::group(event, &DEFAULT_ENHANCEMENTS)
}

/// Normalises and groups one raw event.
pub fn normalize(raw: Value, options: &Options) -> Result<Normalized, NormalizeError> {
    let mut event = relay::normalize(raw, options)?;
    event.insert("project".into(), json!(options.project_id));
    let is_transaction = event.get("type").and_then(Value::as_str) == Some("transaction");
    let has_exceptions = event
        .get("exception")
        .and_then(|e| e.get("values"))
        .and_then(Value::as_array)
        .is_some_and(|v| !v.is_empty());
    let event_type = if is_transaction {
        "transaction"
    } else if has_exceptions {
        "error"
    } else {
        "default"
    };
    event.insert("type".into(), json!(event_type));

    // _pull_out_data: top-level attributes duplicated into tags.
    event.entry("tags").or_insert_with(|| json!([]));
    for key in ["level", "logger", "environment", "transaction"] {
        if let Some(v) = event
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| key == "level" || !v.is_empty())
        {
            let v = v.to_string();
            set_tag(&mut event, key, &v);
        }
    }

    let mut hashes = Vec::new();
    let mut primary_variant = String::new();
    let mut fingerprint = Vec::new();
    if !is_transaction {
        add_interface_tags(&mut event);
        event.insert(
            "grouping_config".into(),
            json!({"enhancements": enhancements::DEFAULT_ENHANCEMENTS_STRING, "id": GROUPING_CONFIG_ID}),
        );
        normalize_stacktraces_for_grouping(&mut event, &DEFAULT_ENHANCEMENTS);
        let fp = event
            .get("fingerprint")
            .and_then(Value::as_array)
            .filter(|f| !f.is_empty())
            .cloned();
        let fp = fp.unwrap_or_else(|| vec![json!("{{ default }}")]);
        event.insert("fingerprint".into(), Value::Array(fp.clone()));
        fingerprint = fp
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let grouping = variants::group(&event, &DEFAULT_ENHANCEMENTS);
        if let Some(id) = grouping.main_exception_id {
            event.insert("main_exception_id".into(), id);
        }
        hashes = grouping.hashes;
        primary_variant = grouping.primary_variant;
        event.insert("hashes".into(), json!(hashes));
    }

    let m = metadata::materialize(&event);
    event.insert("type".into(), json!(m.event_type));
    event.insert("culprit".into(), json!(m.culprit));
    event.insert("metadata".into(), Value::Object(m.metadata.clone()));
    event.insert("title".into(), json!(m.title));
    event.insert("location".into(), json!(m.location));
    shape::fill_interface_defaults(&mut event);

    // A `Map` is sorted by key (serde_json without `preserve_order`), as Sentry's body is.
    Ok(Normalized {
        event,
        event_type: m.event_type,
        title: m.title,
        culprit: m.culprit,
        location: m.location,
        metadata: m.metadata,
        hashes,
        primary_variant,
        fingerprint,
    })
}
