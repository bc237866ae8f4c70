//! The part of Relay's store normalisation (sentry-relay 0.8.28, `StoreNormalizer`) that
//! Sentry's processed body and grouping depend on: legacy shapes, type coercion, defaults,
//! clock clamping, logentry formatting, stack trace fixes and tag shapes.

use crate::Options;
use chrono::DateTime;
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

/// Platforms Relay accepts; anything else becomes `other`.
const VALID_PLATFORMS: [&str; 19] = [
    "as3",
    "c",
    "cfml",
    "cocoa",
    "csharp",
    "elixir",
    "go",
    "groovy",
    "haskell",
    "java",
    "javascript",
    "native",
    "node",
    "objc",
    "other",
    "perl",
    "php",
    "python",
    "ruby",
];

/// The most frames Relay keeps per stack trace (the newest ones).
const MAX_FRAMES: usize = 250;

/// Relay's `max_chars = "symbol"` (exception types, function names).
const MAX_SYMBOL_CHARS: usize = 256;

/// Relay's string trimming: over `max` characters keeps `max - 3` and appends `...`.
fn trim_chars(s: &mut String, max: usize) {
    if s.chars().count() > max {
        let mut out: String = s.chars().take(max - 3).collect();
        out.push_str("...");
        *s = out;
    }
}

/// Deepest nesting accepted. serde_json's parser stops at 128 levels, so only values built
/// in code can exceed this; refusing them keeps every recursive walk safe.
const MAX_DEPTH: usize = 256;

fn depth(v: &Value) -> usize {
    // Iterative, so hostile nesting cannot overflow the stack.
    let mut max = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        if d > MAX_DEPTH {
            return d;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    max
}

/// Relay's lenient string: strings stay, numbers and booleans are printed, `null` is absent.
fn lenient_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "true".into() } else { "false".into() }),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Keeps `key` only if it is a string (Relay drops values of the wrong type).
fn keep_string(m: &mut Map<String, Value>, key: &str) {
    if m.get(key).is_some_and(|v| !v.is_string()) {
        m.remove(key);
    }
}

fn keep_bool(m: &mut Map<String, Value>, key: &str) {
    if m.get(key).is_some_and(|v| !v.is_boolean()) {
        m.remove(key);
    }
}

fn keep_int(m: &mut Map<String, Value>, key: &str) {
    let ok = match m.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_u64().is_some() || n.as_i64().is_some(),
        _ => false,
    };
    if !ok {
        m.remove(key);
    }
}

/// Removes `null`s and empty strings/containers the way Relay skips empty values on output.
fn drop_empty(m: &mut Map<String, Value>) {
    m.retain(|_, v| match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        _ => true,
    });
}

fn event_id(raw: Option<&Value>, seed: impl FnOnce() -> String) -> String {
    if let Some(s) = raw.and_then(Value::as_str) {
        let hex: String = s
            .chars()
            .filter(|c| *c != '-')
            .collect::<String>()
            .to_lowercase();
        if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return hex;
        }
    }
    // No usable id: derive a stable one from the payload (Relay would use a random UUID).
    Md5::digest(seed().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_timestamp(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite() && *f >= 0.0),
        Value::String(s) => {
            if let Ok(f) = s.parse::<f64>() {
                return Some(f).filter(|f| f.is_finite() && *f >= 0.0);
            }
            let dt = DateTime::parse_from_rfc3339(s)
                .ok()
                .or_else(|| DateTime::parse_from_rfc3339(&format!("{s}Z")).ok())?;
            Some(dt.timestamp() as f64 + f64::from(dt.timestamp_subsec_micros()) / 1e6)
        }
        _ => None,
    }
}

fn level(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.to_lowercase(),
        Value::Number(n) => match n.as_u64()? {
            0 => "debug".into(),
            1 => "info".into(),
            2 => "warning".into(),
            3 => "error".into(),
            4 => "fatal".into(),
            10 => "debug".into(),
            20 => "info".into(),
            30 => "warning".into(),
            40 => "error".into(),
            50 => "fatal".into(),
            _ => return None,
        },
        _ => return None,
    };
    Some(match s.as_str() {
        "debug" | "info" | "error" | "fatal" | "warning" => s,
        "warn" => "warning".into(),
        "log" => "info".into(),
        "critical" => "fatal".into(),
        _ => return None,
    })
}

/// Python `%`-style and `{}`-style formatting of `logentry.params` (Relay's `dynfmt`).
fn format_message(format: &str, params: &Value) -> Option<String> {
    let arg = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if format.contains('%') {
        let chars: Vec<char> = format.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut index = 0;
        while i < chars.len() {
            if chars[i] != '%' {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            i += 1;
            if chars.get(i) == Some(&'%') {
                out.push('%');
                i += 1;
                continue;
            }
            let mut key = None;
            if chars.get(i) == Some(&'(') {
                let end = chars[i..].iter().position(|c| *c == ')')? + i;
                key = Some(chars[i + 1..end].iter().collect::<String>());
                i = end + 1;
            }
            while i < chars.len() && "#0- +".contains(chars[i]) {
                i += 1;
            }
            while i < chars.len()
                && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == '*')
            {
                i += 1;
            }
            let conv = *chars.get(i)?;
            if !"diouxXeEfFgGcrsa".contains(conv) {
                return None;
            }
            i += 1;
            let value = match &key {
                Some(k) => params.as_object()?.get(k)?,
                None => {
                    let v = params.as_array()?.get(index)?;
                    index += 1;
                    v
                }
            };
            if matches!(
                conv,
                'd' | 'i' | 'o' | 'u' | 'x' | 'X' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G'
            ) && !value.is_number()
            {
                return None;
            }
            out.push_str(&arg(value));
        }
        Some(out)
    } else if format.contains('{') {
        let chars: Vec<char> = format.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut index = 0;
        while i < chars.len() {
            if chars[i] == '{' {
                let end = chars[i..].iter().position(|c| *c == '}')? + i;
                let inner: String = chars[i + 1..end].iter().collect();
                let value = if inner.is_empty() {
                    let v = params.as_array()?.get(index)?;
                    index += 1;
                    v
                } else if let Ok(n) = inner.parse::<usize>() {
                    params.as_array()?.get(n)?
                } else {
                    params.as_object()?.get(&inner)?
                };
                out.push_str(&arg(value));
                i = end + 1;
            } else {
                out.push(chars[i]);
                i += 1;
            }
        }
        Some(out)
    } else {
        None
    }
}

fn normalize_logentry(event: &mut Map<String, Value>) {
    let legacy = event.remove("message");
    let entry = match event.remove("logentry").filter(|v| !v.is_null()).or(legacy) {
        Some(Value::String(s)) => Some(json!({ "formatted": s })),
        Some(Value::Object(o)) => Some(Value::Object(o)),
        Some(other @ (Value::Number(_) | Value::Bool(_))) => {
            lenient_string(&other).map(|s| json!({ "formatted": s }))
        }
        _ => None,
    };
    let Some(Value::Object(mut entry)) = entry else {
        return;
    };
    for key in ["message", "formatted"] {
        match entry.get(key) {
            Some(Value::String(_)) | None => {}
            Some(other) => {
                let s = lenient_string(other).filter(|_| !other.is_object() && !other.is_array());
                match s {
                    Some(s) => entry.insert(key.into(), Value::String(s)),
                    None => entry.remove(key),
                };
            }
        }
    }
    let message = entry
        .get("message")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let mut formatted = entry
        .get("formatted")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let params = entry.get("params").filter(|p| !p.is_null()).cloned();
    if message.is_none() && formatted.is_none() {
        return; // empty (or message-less) log entries are dropped
    }
    if let (Some(params), None, Some(m)) = (&params, &formatted, &message) {
        formatted = format_message(m, params);
    }
    let mut message = message;
    if formatted.is_none() || message == formatted {
        formatted = message.take();
    }
    let mut out = Map::new();
    out.insert("formatted".into(), json!(formatted));
    out.insert("message".into(), json!(message));
    out.insert("params".into(), params.unwrap_or(Value::Null));
    event.insert("logentry".into(), Value::Object(out));
}

/// The path of a URL, as `url::Url::path()` gives it for simple URLs.
fn url_path(s: &str) -> Option<String> {
    let rest = s.split_once(':')?.1;
    let rest = rest
        .strip_prefix("//")
        .map(|r| r.find('/').map_or("", |i| &r[i..]))
        .unwrap_or(rest);
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let path = &rest[..end];
    Some(if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    })
}

/// Frame fields Relay keeps only as strings.
const FRAME_STRINGS: [&str; 14] = [
    "abs_path",
    "filename",
    "function",
    "raw_function",
    "module",
    "package",
    "platform",
    "context_line",
    "symbol",
    "instruction_addr",
    "symbol_addr",
    "image_addr",
    "addr_mode",
    "trust",
];

/// Drops frame fields of the wrong type, as Relay does, then nulls and empty strings: one
/// pass over the frame's few keys instead of a hash lookup per typed field.
fn keep_frame_fields(frame: &mut Map<String, Value>) {
    frame.retain(|key, value| {
        let typed = match key.as_str() {
            "in_app" => value.is_boolean(),
            "lineno" | "colno" => match &*value {
                Value::Number(n) => n.as_u64().is_some() || n.as_i64().is_some(),
                other => other.is_null(),
            },
            key if FRAME_STRINGS.contains(&key) => value.is_string(),
            _ => true,
        };
        typed
            && match &*value {
                Value::Null => false,
                Value::String(s) => !s.is_empty(),
                _ => true,
            }
    });
}

fn normalize_frame(frame: &mut Map<String, Value>) {
    keep_frame_fields(frame);
    if !frame.contains_key("abs_path") {
        if let Some(f) = frame.remove("filename") {
            frame.insert("abs_path".into(), f);
        }
    }
    if !frame.contains_key("filename") {
        if let Some(abs) = frame
            .get("abs_path")
            .and_then(Value::as_str)
            .map(str::to_string)
        {
            let is_url = ["file:", "http:", "https:", "applewebdata:"]
                .iter()
                .any(|p| abs.starts_with(p));
            let filename = match url_path(&abs) {
                Some(p) if is_url && p != "/" => p,
                _ => abs,
            };
            frame.insert("filename".into(), Value::String(filename));
        }
    }
    if frame.get("function").and_then(Value::as_str) == Some("?") {
        frame.remove("function");
    }
    if frame.get("symbol").and_then(Value::as_str) == Some("?") {
        frame.remove("symbol");
    }
}

fn normalize_stacktrace(st: &mut Value) {
    let Some(obj) = st.as_object_mut() else {
        *st = Value::Null;
        return;
    };
    match obj.get_mut("frames") {
        Some(Value::Array(frames)) => {
            if frames.len() > MAX_FRAMES {
                let cut = frames.len() - MAX_FRAMES;
                frames.drain(..cut);
            }
            for f in frames.iter_mut() {
                match f.as_object_mut() {
                    Some(frame) => normalize_frame(frame),
                    None => *f = Value::Null,
                }
            }
        }
        Some(_) => {
            obj.remove("frames");
        }
        None => {}
    }
}

fn normalize_mechanism(m: &mut Value) {
    let Some(obj) = m.as_object_mut() else {
        *m = Value::Null;
        return;
    };
    if obj.get("type").is_none_or(Value::is_null) {
        // Legacy cocoa mechanisms: everything moves to `data`, signal info to `meta`.
        let mut upgraded = Map::new();
        upgraded.insert("type".into(), json!("generic"));
        let mut data = std::mem::take(obj);
        let mut meta = Map::new();
        if let Some(Value::Object(sig)) = data.remove("posix_signal") {
            if sig.get("signal").is_some_and(|v| !v.is_null()) {
                let mut s = Map::new();
                for (to, from) in [
                    ("number", "signal"),
                    ("code", "code"),
                    ("name", "name"),
                    ("code_name", "code_name"),
                ] {
                    if let Some(v) = sig.get(from).filter(|v| !v.is_null()) {
                        s.insert(to.into(), v.clone());
                    }
                }
                meta.insert("signal".into(), Value::Object(s));
            }
        }
        if let Some(Value::Object(mach)) = data.remove("mach_exception") {
            let mut s = Map::new();
            for (to, from) in [
                ("exception", "exception"),
                ("code", "code"),
                ("subcode", "subcode"),
                ("name", "exception_name"),
            ] {
                if let Some(v) = mach.get(from).filter(|v| !v.is_null()) {
                    s.insert(to.into(), v.clone());
                }
            }
            meta.insert("mach_exception".into(), Value::Object(s));
        }
        if !meta.is_empty() {
            upgraded.insert("meta".into(), Value::Object(meta));
        }
        if !data.is_empty() {
            upgraded.insert("data".into(), Value::Object(data));
        }
        *obj = upgraded;
    }
    keep_string(obj, "type");
    keep_bool(obj, "synthetic");
    keep_bool(obj, "handled");
    keep_bool(obj, "is_exception_group");
    keep_int(obj, "exception_id");
    keep_int(obj, "parent_id");
}

fn normalize_exception(exc: &mut Value) {
    let Some(obj) = exc.as_object_mut() else {
        *exc = Value::Null;
        return;
    };
    keep_string(obj, "type");
    keep_string(obj, "module");
    if let Some(Value::String(ty)) = obj.get_mut("type") {
        trim_chars(ty, MAX_SYMBOL_CHARS);
    }
    match obj.get("value").and_then(lenient_string) {
        Some(v) => obj.insert("value".into(), Value::String(v)),
        None => obj.remove("value"),
    };
    drop_empty(obj);
    if !obj.contains_key("type") {
        if let Some(value) = obj.get("value").and_then(Value::as_str) {
            // "Type: message" without a type is split, like Relay does.
            if let Some((ty, rest)) = value.split_once(':') {
                if !ty.is_empty() && ty.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    let (ty, rest) = (ty.to_string(), rest.trim().to_string());
                    obj.insert("type".into(), Value::String(ty));
                    obj.insert("value".into(), Value::String(rest));
                }
            }
        }
    }
    if !obj.contains_key("type") && !obj.contains_key("value") {
        *exc = Value::Null;
        return;
    }
    if let Some(m) = obj.get_mut("mechanism") {
        normalize_mechanism(m);
    }
    for key in ["stacktrace", "raw_stacktrace"] {
        if let Some(st) = obj.get_mut(key) {
            normalize_stacktrace(st);
        }
    }
    obj.retain(|_, v| !v.is_null());
}

fn normalize_exceptions(event: &mut Map<String, Value>) {
    let Some(exc) = event.remove("exception") else {
        return;
    };
    let mut values = match exc {
        Value::Array(list) => list,
        Value::Object(mut o) if o.contains_key("values") => match o.remove("values") {
            Some(Value::Array(list)) => list,
            _ => return,
        },
        Value::Object(o) if o.contains_key("type") || o.contains_key("value") => {
            vec![Value::Object(o)]
        }
        _ => return,
    };
    if values.is_empty() {
        return;
    }
    for v in values.iter_mut() {
        normalize_exception(v);
    }
    event.insert("exception".into(), values_object(values));
}

fn normalize_threads(event: &mut Map<String, Value>) {
    let Some(threads) = event.remove("threads") else {
        return;
    };
    let mut values = match threads {
        Value::Array(list) => list,
        Value::Object(mut o) => match o.remove("values") {
            Some(Value::Array(list)) => list,
            _ => return,
        },
        _ => return,
    };
    if values.is_empty() {
        return;
    }
    for t in values.iter_mut() {
        let Some(obj) = t.as_object_mut() else {
            *t = Value::Null;
            continue;
        };
        keep_bool(obj, "crashed");
        keep_bool(obj, "current");
        for key in ["stacktrace", "raw_stacktrace"] {
            if let Some(st) = obj.get_mut(key) {
                normalize_stacktrace(st);
            }
        }
        obj.retain(|_, v| !v.is_null());
    }
    event.insert("threads".into(), values_object(values));
}

fn normalize_fingerprint(event: &mut Map<String, Value>) {
    let Some(fp) = event.remove("fingerprint") else {
        return;
    };
    let Value::Array(items) = fp else { return };
    let out: Vec<Value> = items
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s),
            Value::Bool(b) => Some(if b { "True".into() } else { "False".into() }),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Some(i.to_string()),
                (_, Some(u), _) => Some(u.to_string()),
                (_, _, Some(f)) if f.is_finite() && f.abs() < (1u64 << 53) as f64 => {
                    Some((f.trunc() as i64).to_string())
                }
                _ => None,
            },
            _ => None,
        })
        .map(Value::String)
        .collect();
    event.insert("fingerprint".into(), Value::Array(out));
}

fn tag_value(v: &Value) -> Option<String> {
    lenient_string(v).filter(|_| !v.is_object() && !v.is_array())
}

fn normalize_tags(event: &mut Map<String, Value>) {
    let mut pairs: Vec<(String, String)> = Vec::new();
    match event.remove("tags") {
        Some(Value::Object(o)) => {
            for (k, v) in o {
                if let Some(v) = tag_value(&v) {
                    pairs.push((k, v));
                }
            }
        }
        Some(Value::Array(list)) => {
            for item in list {
                if let Some([k, v]) = item.as_array().map(Vec::as_slice) {
                    if let (Some(k), Some(v)) = (k.as_str(), tag_value(v)) {
                        pairs.push((k.to_string(), v));
                    }
                }
            }
        }
        _ => {}
    }
    // Legacy top-level fields that Relay turns into tags.
    for key in ["server_name", "site"] {
        if let Some(v) = event.remove(key).as_ref().and_then(tag_value) {
            pairs.push((key.to_string(), v));
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (k, v) in pairs {
        let k = k.trim().to_string();
        if k.is_empty()
            || v.is_empty()
            || matches!(
                k.as_str(),
                "release" | "dist" | "user" | "filename" | "function"
            )
        {
            continue;
        }
        if k == "environment" {
            event.entry("environment").or_insert(Value::String(v));
            continue;
        }
        let v: String = v.chars().take(200).collect();
        if seen.insert(k.clone()) {
            out.push(json!([k, v]));
        }
    }
    if !out.is_empty() {
        event.insert("tags".into(), Value::Array(out));
    }
}

fn normalize_contexts(event: &mut Map<String, Value>) {
    let Some(Value::Object(ctx)) = event.get_mut("contexts") else {
        event.remove("contexts");
        return;
    };
    ctx.retain(|_, v| v.is_object());
    for (alias, v) in ctx.iter_mut() {
        if let Some(o) = v.as_object_mut() {
            if o.get("type").is_none_or(|t| !t.is_string()) {
                o.insert("type".into(), Value::String(alias.clone()));
            }
        }
    }
}

fn normalize_breadcrumbs(event: &mut Map<String, Value>) {
    let list = match event.remove("breadcrumbs") {
        Some(Value::Array(list)) => list,
        Some(Value::Object(mut o)) => match o.remove("values") {
            Some(Value::Array(list)) => list,
            _ => return,
        },
        _ => return,
    };
    let values: Vec<Value> = list
        .into_iter()
        .filter_map(|b| {
            let Value::Object(mut o) = b else {
                return None;
            };
            // `entry` and `insert` allocate their key: look first, there may be hundreds.
            if !o.contains_key("type") {
                o.insert("type".into(), json!("default"));
            }
            if !o.contains_key("level") {
                o.insert("level".into(), json!("info"));
            }
            if let Some(ts) = o.get("timestamp").and_then(parse_timestamp) {
                if let Some(slot) = o.get_mut("timestamp") {
                    *slot = json!(ts);
                }
            }
            Some(Value::Object(o))
        })
        .collect();
    event.insert("breadcrumbs".into(), values_object(values));
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> Vec<Value> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            json!([percent_decode(k), percent_decode(v)])
        })
        .collect()
}

/// `Content-Type` style header names, as Relay stores them.
fn header_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join("-")
}

fn normalize_request(event: &mut Map<String, Value>) {
    let Some(Value::Object(req)) = event.get_mut("request") else {
        event.remove("request");
        return;
    };
    let pairs = |v: Value| -> Vec<Value> {
        match v {
            Value::Object(o) => o
                .into_iter()
                .filter_map(|(k, v)| Some(json!([k, tag_value(&v)?])))
                .collect(),
            Value::Array(a) => a
                .into_iter()
                .filter_map(|p| match p.as_array().map(Vec::as_slice) {
                    Some([k, v]) => Some(json!([k.as_str()?, tag_value(v)?])),
                    _ => None,
                })
                .collect(),
            Value::String(q) => parse_query(q.trim_start_matches('?')),
            _ => Vec::new(),
        }
    };
    if let Some(h) = req.remove("headers") {
        let headers: Vec<Value> = pairs(h)
            .into_iter()
            .map(|p| json!([header_name(p[0].as_str().unwrap_or("")), p[1]]))
            .collect();
        req.insert("headers".into(), Value::Array(headers));
    }
    if let Some(q) = req.remove("query_string") {
        req.insert("query_string".into(), Value::Array(pairs(q)));
    }
    if let Some(url) = req.get("url").and_then(Value::as_str).map(str::to_string) {
        let (rest, fragment) = match url.split_once('#') {
            Some((r, f)) => (r.to_string(), Some(f.to_string())),
            None => (url.clone(), None),
        };
        let (base, query) = match rest.split_once('?') {
            Some((b, q)) => (b.to_string(), Some(q.to_string())),
            None => (rest, None),
        };
        req.insert("url".into(), Value::String(base));
        if let Some(q) = query {
            if !req.contains_key("query_string") {
                req.insert("query_string".into(), Value::Array(parse_query(&q)));
            }
        }
        if let Some(f) = fragment {
            req.entry("fragment").or_insert(Value::String(f));
        }
    }
    if let Some(Value::String(m)) = req.get_mut("method") {
        *m = m.to_uppercase();
    }
}

/// `{"values": values}`, moving the values (`json!` would copy them through serde).
fn values_object(values: Vec<Value>) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert("values".into(), Value::Array(values));
    Value::Object(map)
}

/// Runs the normalisation. Errors only on payloads that are not a JSON object.
pub fn normalize(
    raw: Value,
    options: &Options,
) -> Result<Map<String, Value>, crate::NormalizeError> {
    if depth(&raw) > MAX_DEPTH {
        return Err(crate::NormalizeError::TooDeep);
    }
    let Value::Object(mut event) = raw else {
        return Err(crate::NormalizeError::NotAnObject);
    };
    let id = event_id(event.get("event_id"), || {
        let payload = serde_json::to_string(&event).unwrap_or_default();
        format!("{}:{payload}", options.received)
    });
    event.insert("event_id".into(), Value::String(id));

    let is_transaction = event.get("type").and_then(Value::as_str) == Some("transaction");
    let platform = event
        .get("platform")
        .and_then(Value::as_str)
        .map(str::to_string);
    match platform {
        Some(p) if VALID_PLATFORMS.contains(&p.as_str()) => {}
        Some(p) => {
            event.insert("platform".into(), json!("other"));
            let meta = event.entry("_meta").or_insert_with(|| json!({}));
            if let Some(m) = meta.as_object_mut() {
                m.insert("platform".into(), json!({"": {"val": p}}));
            }
        }
        None => {
            event.insert("platform".into(), json!("other"));
        }
    }
    let lvl = level(event.get("level"))
        .unwrap_or_else(|| if is_transaction { "info" } else { "error" }.into());
    event.insert("level".into(), Value::String(lvl));
    for key in [
        "logger",
        "transaction",
        "culprit",
        "release",
        "dist",
        "environment",
        "server_name",
        "site",
        "checksum",
    ] {
        if let Some(v) = event.get(key) {
            match v {
                Value::String(_) => {}
                Value::Number(_) if matches!(key, "release" | "dist" | "server_name" | "site") => {
                    let s = v.to_string();
                    event.insert(key.into(), Value::String(s));
                }
                _ => {
                    event.remove(key);
                }
            }
        }
    }
    event.retain(|k, v| {
        !(matches!(
            k.as_str(),
            "release" | "dist" | "environment" | "transaction" | "culprit" | "checksum"
        ) && v.as_str() == Some(""))
    });
    let logger = event
        .get("logger")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(64)
        .collect::<String>();
    event.insert("logger".into(), Value::String(logger));

    // Clock: missing or out-of-range timestamps become the receive time.
    let received = options.received;
    let ts = event.get("timestamp").and_then(parse_timestamp);
    let ts = match ts {
        Some(t) if t > received + options.max_future_secs as f64 => received,
        Some(t) if t < received - options.max_past_secs as f64 => received,
        Some(t) => t,
        None => received,
    };
    event.insert("timestamp".into(), json!(ts));
    event.insert("received".into(), json!(received));
    if let Some(start) = event.get("start_timestamp").and_then(parse_timestamp) {
        event.insert("start_timestamp".into(), json!(start));
    }

    normalize_logentry(&mut event);
    normalize_exceptions(&mut event);
    if let Some(st) = event.get_mut("stacktrace") {
        normalize_stacktrace(st);
    }
    if event.get("stacktrace").is_some_and(Value::is_null) {
        event.remove("stacktrace");
    }
    normalize_threads(&mut event);
    normalize_fingerprint(&mut event);
    normalize_tags(&mut event);
    normalize_contexts(&mut event);
    normalize_breadcrumbs(&mut event);
    normalize_request(&mut event);
    if let Some(ip) = &options.client_ip {
        if let Some(user) = event.get_mut("user").and_then(Value::as_object_mut) {
            if user.get("ip_address").and_then(Value::as_str) == Some("{{auto}}") {
                user.insert("ip_address".into(), Value::String(ip.clone()));
            }
        }
    }
    event.retain(|_, v| !v.is_null());
    event.insert("version".into(), json!("5"));
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_frame_field_checks_match_the_per_field_helpers() {
        // The helpers each field went through before `keep_frame_fields`, on generated frames.
        let per_field = |frame: &mut Map<String, Value>| {
            for key in FRAME_STRINGS {
                keep_string(frame, key);
            }
            keep_bool(frame, "in_app");
            keep_int(frame, "lineno");
            keep_int(frame, "colno");
            drop_empty(frame);
        };
        let keys = [
            "function", "abs_path", "trust", "in_app", "lineno", "colno", "vars", "data",
        ];
        let values = [
            json!(null),
            json!(""),
            json!("s"),
            json!(3),
            json!(-1),
            json!(1.5),
            json!(true),
            json!([]),
            json!({}),
            json!(18446744073709551615u64),
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..5_000 {
            let mut frame = Map::new();
            for key in keys {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if !state.is_multiple_of(3) {
                    frame.insert(
                        key.into(),
                        values[(state >> 8) as usize % values.len()].clone(),
                    );
                }
            }
            let (mut old, mut new) = (frame.clone(), frame);
            per_field(&mut old);
            keep_frame_fields(&mut new);
            let sorted = |m: &Map<String, Value>| {
                let mut entries: Vec<_> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries
            };
            assert_eq!(sorted(&old), sorted(&new));
        }
    }

    #[test]
    fn frames_lose_wrongly_typed_nulls_and_empty_fields() {
        let mut frame = json!({
            "function": 42, "module": null, "abs_path": "", "filename": "app.py",
            "lineno": "3", "colno": 1.5, "in_app": "yes", "platform": "python",
            "vars": {"x": 1}, "pre_context": [], "context_line": "run()", "data": null,
            "instruction_addr": "0x1",
        });
        normalize_frame(frame.as_object_mut().unwrap());
        assert_eq!(
            frame,
            json!({
                "abs_path": "app.py", "filename": "app.py", "platform": "python",
                "vars": {"x": 1}, "pre_context": [], "context_line": "run()",
                "instruction_addr": "0x1",
            })
        );
        let mut frame = json!({"lineno": 7, "colno": -1, "in_app": false, "function": "f"});
        normalize_frame(frame.as_object_mut().unwrap());
        assert_eq!(
            frame,
            json!({"lineno": 7, "colno": -1, "in_app": false, "function": "f"})
        );
    }

    #[test]
    fn formats_params() {
        assert_eq!(
            format_message("a %s b %d", &json!(["x", 2])).as_deref(),
            Some("a x b 2")
        );
        assert_eq!(
            format_message("took %.2f s", &json!([2.5])).as_deref(),
            Some("took 2.5 s")
        );
        assert_eq!(
            format_message("%(n)s!", &json!({"n": "w"})).as_deref(),
            Some("w!")
        );
        assert_eq!(
            format_message("{} and {0}", &json!(["a"])).as_deref(),
            Some("a and a")
        );
        assert_eq!(
            format_message("Non-string %s", &json!([{"a": 1}])).as_deref(),
            Some("Non-string {\"a\":1}")
        );
        assert_eq!(format_message("plain", &json!([])), None);
    }

    #[test]
    fn url_paths() {
        assert_eq!(
            url_path("https://a.example/x/y.js?q=1#h").as_deref(),
            Some("/x/y.js")
        );
        assert_eq!(url_path("http://foo.com").as_deref(), Some("/"));
    }
}
