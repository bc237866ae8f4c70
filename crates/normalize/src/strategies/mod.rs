//! The grouping strategies of `newstyle:2023-01-11`, each turning one interface of the event
//! into per-variant grouping components.

pub mod exception;
pub mod frame;
pub mod message;
pub mod stacktrace;
pub mod threads;

use crate::component::Component;
use crate::enhancements::Enhancements;
use serde_json::{Map, Value};

/// Variants a strategy produced, in order; a `!` prefix marks a mandatory variant (`!system`).
pub type Variants = Vec<(String, Component)>;

/// What strategies share: the enhancement rules and the event's platform.
pub struct Context<'a> {
    /// The rules deciding in_app and grouping contributions.
    pub enhancements: &'a Enhancements,
    /// The event's `platform`.
    pub platform: Option<&'a str>,
}

/// An empty object, for absent or `null` interfaces (borrowed instead of a fresh copy).
pub fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    &EMPTY
}

/// A string field of a JSON object, if it is a string.
pub fn s<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

/// Like [`s`], but treats `""` as missing (Python truthiness).
pub fn s_truthy<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    s(m, key).filter(|v| !v.is_empty())
}

/// Python truthiness of a JSON value.
pub fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// `remove_non_stacktrace_variants`: when a variant has a contributing stack trace, variants
/// without one stop contributing.
pub fn remove_non_stacktrace_variants(variants: &mut Variants) {
    if variants.len() <= 1 {
        return;
    }
    let with_stack: Vec<String> = variants
        .iter()
        .filter(|(_, c)| c.has_contributing("stacktrace"))
        .map(|(k, _)| k.clone())
        .collect();
    if with_stack.is_empty() {
        return;
    }
    let suffix = if with_stack.len() == 1 {
        format!("the {} variant does", with_stack[0])
    } else {
        "others do".to_string()
    };
    for (key, c) in variants.iter_mut() {
        if !with_stack.contains(key) {
            c.set_contributes(
                false,
                Some(format!(
                    "ignored because this variant does not have a contributing stacktrace, but {suffix}"
                )
                .into()),
            );
        }
    }
}
