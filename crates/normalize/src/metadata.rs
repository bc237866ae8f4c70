//! `materialize_metadata`: event type, title, culprit, location and metadata as Sentry's
//! event types (`sentry.eventtypes`) and culprit code compute them.

use crate::enhancements::function_name_for_frame;
use crate::fingerprint::crash_frame;
use crate::parameterize::{py_strip, splitlines};
use serde_json::{json, Map, Value};

/// Platforms whose titles may show tree labels.
const TREE_LABEL_PLATFORMS: [&str; 16] = [
    "cocoa",
    "objc",
    "native",
    "swift",
    "c",
    "android",
    "apple-ios",
    "cordova",
    "capacitor",
    "javascript-cordova",
    "javascript-capacitor",
    "react-native",
    "flutter",
    "dart-flutter",
    "unity",
    "dotnet-xamarin",
];

/// What `materialize_metadata` writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Materialized {
    /// `error`, `default` or `transaction`.
    pub event_type: String,
    /// The issue title.
    pub title: String,
    /// The culprit (transaction name or crash location).
    pub culprit: String,
    /// The crash file, for errors.
    pub location: Option<String>,
    /// Type-specific metadata.
    pub metadata: Map<String, Value>,
}

/// `truncatechars`: at most `n` characters, ending in `...` when cut.
pub fn truncatechars(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        let mut out: String = s.chars().take(n.saturating_sub(3)).collect();
        out.push_str("...");
        out
    } else {
        s.to_string()
    }
}

fn str_at(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn default_metadata(data: &Map<String, Value>) -> Map<String, Value> {
    let logentry = data.get("logentry").and_then(Value::as_object);
    let message = logentry
        .and_then(|l| str_at(l.get("formatted")).or_else(|| str_at(l.get("message"))))
        .map(py_strip)
        .unwrap_or("");
    let title = match splitlines(message).first() {
        Some(first) if !message.is_empty() => truncatechars(first, 100),
        _ if !message.is_empty() => String::new(),
        _ => "<unlabeled event>".to_string(),
    };
    let mut m = Map::new();
    m.insert("title".into(), json!(title));
    m
}

fn crash_location(data: &Map<String, Value>) -> Option<(Option<String>, Option<String>)> {
    let filter = |f: &Map<String, Value>| match f.get("function") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => s != "<redacted>" && s != "<unknown>",
        Some(_) => true,
    };
    let frame = crash_frame(data, &filter)?;
    let platform = data.get("platform").and_then(Value::as_str);
    let file = str_at(frame.get("filename"))
        .or_else(|| str_at(frame.get("abs_path")))
        .map(str::to_string);
    Some((file, function_name_for_frame(frame, platform)))
}

fn error_metadata(data: &Map<String, Value>) -> Map<String, Value> {
    let mut rv = Map::new();
    let Some(exceptions) = data
        .get("exception")
        .and_then(|e| e.get("values"))
        .and_then(Value::as_array)
    else {
        return rv;
    };
    if exceptions.is_empty() {
        return rv;
    }
    let main_id = data
        .get("main_exception_id")
        .filter(|v| !v.is_null() && v.as_i64() != Some(0));
    let mut exception = main_id.and_then(|id| {
        exceptions
            .iter()
            .filter_map(Value::as_object)
            .find(|e| e.get("mechanism").and_then(|m| m.get("exception_id")) == Some(id))
    });
    if exception.is_none() {
        exception = exceptions
            .last()
            .and_then(Value::as_object)
            .filter(|e| !e.is_empty());
    }
    let Some(exception) = exception else {
        return rv;
    };
    let loc = crash_location(data);
    let value = exception.get("value").and_then(Value::as_str).unwrap_or("");
    rv.insert("value".into(), json!(truncatechars(value, 1024)));
    let synthetic = exception
        .get("mechanism")
        .and_then(|m| m.get("synthetic"))
        .is_some_and(|s| s.as_bool() == Some(true));
    if !synthetic {
        let ty = match exception.get("type") {
            Some(Value::String(s)) => s.as_str(),
            _ => "Error",
        };
        rv.insert("type".into(), json!(truncatechars(ty, 128)));
    }
    if let Some((file, func)) = loc {
        if let Some(f) = file {
            rv.insert("filename".into(), json!(f));
        }
        if let Some(f) = func.filter(|f| !f.is_empty()) {
            rv.insert("function".into(), json!(f));
        }
    }
    let platform = data.get("platform").and_then(Value::as_str).unwrap_or("");
    rv.insert(
        "display_title_with_tree_label".into(),
        json!(TREE_LABEL_PLATFORMS.contains(&platform)),
    );
    rv
}

fn error_title(metadata: &Map<String, Value>) -> String {
    let mut title = metadata
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(t) = &mut title {
        if let Some(value) = str_at(metadata.get("value")) {
            let first = splitlines(value).first().copied().unwrap_or("");
            t.push_str(": ");
            t.push_str(&truncatechars(first, 100));
        }
    }
    let function = || {
        metadata
            .get("function")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match title {
        Some(t) if !t.is_empty() => t,
        _ => function().unwrap_or_else(|| "<unknown>".to_string()),
    }
}

fn frame_culprit(frame: &Map<String, Value>, platform: Option<&str>) -> String {
    let platform = str_at(frame.get("platform")).or(platform);
    let function = str_at(frame.get("function"));
    if matches!(platform, Some("objc" | "cocoa" | "native")) {
        return function.unwrap_or("?").to_string();
    }
    let Some(fileloc) = str_at(frame.get("module")).or_else(|| str_at(frame.get("filename")))
    else {
        return String::new();
    };
    if matches!(platform, Some("javascript" | "node")) {
        return format!("{}({})", function.unwrap_or("?"), fileloc);
    }
    format!("{} in {}", fileloc, function.unwrap_or("?"))
}

fn stacktrace_culprit(frames: &[Value], platform: Option<&str>) -> Option<String> {
    let mut default = None;
    for frame in frames.iter().rev() {
        let Some(frame) = frame.as_object().filter(|f| !f.is_empty()) else {
            continue;
        };
        if frame
            .get("in_app")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            let c = frame_culprit(frame, platform);
            if !c.is_empty() {
                return Some(c);
            }
        } else if default.is_none() {
            default = Some(frame_culprit(frame, platform));
        }
    }
    default
}

/// `generate_culprit`.
fn generate_culprit(data: &Map<String, Value>) -> String {
    let platform = data.get("platform").and_then(Value::as_str);
    fn frames_of(st: Option<&Value>) -> Option<&Vec<Value>> {
        st.and_then(|s| s.get("frames"))
            .and_then(Value::as_array)
            .filter(|f| !f.is_empty())
    }
    let exceptions: Vec<&Value> = data
        .get("exception")
        .and_then(|e| e.get("values"))
        .and_then(Value::as_array)
        .map(|v| v.iter().filter(|x| !x.is_null()).collect())
        .unwrap_or_default();
    let stacktraces: Vec<&Vec<Value>> = if !exceptions.is_empty() {
        if let Some(last) = exceptions.last() {
            if last
                .get("mechanism")
                .and_then(|m| m.get("synthetic"))
                .and_then(Value::as_bool)
                == Some(true)
            {
                return String::new();
            }
        }
        exceptions
            .iter()
            .filter_map(|e| frames_of(e.get("stacktrace")))
            .collect()
    } else {
        frames_of(data.get("stacktrace")).into_iter().collect()
    };
    let mut culprit = stacktraces
        .last()
        .and_then(|f| stacktrace_culprit(f, platform))
        .unwrap_or_default();
    if culprit.is_empty()
        && data
            .get("request")
            .is_some_and(|r| !r.is_null() && r.as_object().is_none_or(|o| !o.is_empty()))
    {
        culprit = data
            .get("request")
            .and_then(|r| r.get("url"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
    }
    truncatechars(&culprit, 200)
}

/// Computes type, title, culprit, location and metadata of a normalized, grouped event.
pub fn materialize(data: &Map<String, Value>) -> Materialized {
    let event_type = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let culprit = str_at(data.get("culprit"))
        .or_else(|| str_at(data.get("transaction")))
        .map(str::to_string)
        .unwrap_or_else(|| generate_culprit(data));
    let (title, location, mut metadata) = match event_type.as_str() {
        "error" => {
            let m = error_metadata(data);
            let location = m
                .get("filename")
                .and_then(Value::as_str)
                .map(str::to_string);
            (error_title(&m), location, m)
        }
        "transaction" => {
            let t = data
                .get("transaction")
                .and_then(Value::as_str)
                .unwrap_or("<unlabeled transaction>")
                .to_string();
            let mut m = Map::new();
            m.insert("title".into(), json!(t));
            (t, None, m)
        }
        _ => {
            let m = default_metadata(data);
            let t = m
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("<untitled>")
                .to_string();
            (t, None, m)
        }
    };
    let mut title = title;
    if let Some(custom) = data.get("title").and_then(Value::as_str) {
        metadata.insert("title".into(), json!(custom));
        title = custom.to_string();
    }
    Materialized {
        event_type,
        title,
        culprit,
        location,
        metadata,
    }
}
