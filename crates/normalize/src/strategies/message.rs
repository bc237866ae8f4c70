//! `message:v1` (log messages) and `template:v1` (template errors).

use super::{s, Variants};
use crate::component::Component;
use crate::parameterize::normalize_message_for_grouping;
use serde_json::{json, Map, Value};

/// `message:v1` over `logentry`: the template wins over the formatted text.
pub fn message(logentry: &Map<String, Value>) -> Variants {
    let raw = s(logentry, "message")
        .filter(|m| !m.is_empty())
        .or_else(|| s(logentry, "formatted").filter(|m| !m.is_empty()))
        .unwrap_or("");
    let normalized = normalize_message_for_grouping(raw);
    let hint = (raw != normalized).then(|| "stripped event-specific values".to_string());
    let mut c = Component::with_leaves("message", vec![json!(normalized)]);
    if let Some(h) = hint {
        c.set_hint(h);
    }
    vec![("default".into(), c)]
}

/// `template:v1`: file name and context line of the template.
pub fn template(template: &Map<String, Value>) -> Variants {
    let mut filename = Component::new("filename");
    if let Some(f) = template.get("filename").filter(|v| !v.is_null()) {
        filename.set_leaves(vec![f.clone()], None);
    }
    let mut context_line = Component::new("context-line");
    if let Some(l) = template.get("context_line").filter(|v| !v.is_null()) {
        context_line.set_leaves(vec![l.clone()], None);
    }
    vec![(
        "default".into(),
        Component::with_children("template", vec![filename, context_line]),
    )]
}
