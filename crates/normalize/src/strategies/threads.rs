//! `threads:v1`: group by the one crashed, current or only thread.

use super::stacktrace::stacktrace_variants;
use super::{truthy, Context, Variants};
use crate::component::Component;
use serde_json::{Map, Value};

fn filtered(threads: &[&Map<String, Value>], ctx: &Context<'_>) -> Option<Variants> {
    if threads.len() != 1 {
        return None;
    }
    let thread = threads[0];
    // Sentry keeps a thread's stack trace only when its `frames` list is non-empty.
    let has_stack = thread
        .get("stacktrace")
        .and_then(Value::as_object)
        .and_then(|st| st.get("frames"))
        .is_some_and(|f| truthy(Some(f)));
    if !has_stack {
        let mut c = Component::new("threads");
        c.set_contributes(false, Some("thread has no stacktrace".into()));
        return Some(vec![("app".into(), c)]);
    }
    let st = thread
        .get("stacktrace")
        .and_then(Value::as_object)
        .unwrap_or(super::empty_map());
    Some(
        stacktrace_variants(st, ctx, None)
            .into_iter()
            .map(|(name, c)| (name, Component::with_children("threads", vec![c])))
            .collect(),
    )
}

/// `threads:v1` over `threads.values`.
pub fn threads(values: &[Value], ctx: &Context<'_>) -> Variants {
    let all: Vec<&Map<String, Value>> = values.iter().filter_map(Value::as_object).collect();
    let crashed: Vec<_> = all
        .iter()
        .copied()
        .filter(|t| truthy(t.get("crashed")))
        .collect();
    if let Some(v) = filtered(&crashed, ctx) {
        return v;
    }
    let current: Vec<_> = all
        .iter()
        .copied()
        .filter(|t| truthy(t.get("current")))
        .collect();
    if let Some(v) = filtered(&current, ctx) {
        return v;
    }
    if let Some(v) = filtered(&all, ctx) {
        return v;
    }
    let mut c = Component::new("threads");
    c.set_contributes(
        false,
        Some(format!(
            "ignored because does not contain exactly one crashing, one current or just one thread, instead contains {} threads",
            all.len()
        )
        .into()),
    );
    vec![("app".into(), c)]
}
