//! `single-exception:v1` and `chained-exception:v1`, including Sentry's exception group
//! filtering (RFC 79).

use super::stacktrace::stacktrace_variants;
use super::{s, truthy, Context, Variants};
use crate::component::{Component, Node};
use crate::enhancements::ExceptionData;
use crate::parameterize::normalize_message_for_grouping;
use serde_json::{json, Map, Value};

fn mechanism(exc: &Map<String, Value>) -> Option<&Map<String, Value>> {
    exc.get("mechanism")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
}

/// Whether the exception has a stack trace Sentry would use (some non-null frame).
pub fn has_frames(container: &Map<String, Value>, key: &str) -> bool {
    container
        .get(key)
        .and_then(Value::as_object)
        .and_then(|st| st.get("frames"))
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| !x.is_null()))
}

/// The exception fields the enhancement rules' `error.*` matchers read.
pub fn exception_data(exc: &Map<String, Value>) -> ExceptionData {
    ExceptionData {
        ty: s(exc, "type").map(str::to_string),
        value: s(exc, "value").map(str::to_string),
        mechanism: mechanism(exc)
            .and_then(|m| s(m, "type"))
            .map(str::to_string),
    }
}

/// `single-exception:v1`.
pub fn single_exception(exc: &Map<String, Value>, ctx: &Context<'_>) -> Variants {
    let ty = s(exc, "type").filter(|t| !t.is_empty());
    let mut type_component =
        Component::with_leaves("type", ty.map(|t| vec![json!(t)]).unwrap_or_default());
    let mut ns_error = None;
    if let Some(m) = mechanism(exc) {
        if truthy(m.get("synthetic")) {
            type_component
                .set_contributes(false, Some("ignored because exception is synthetic".into()));
        }
        if let Some(ns) = m
            .get("meta")
            .and_then(Value::as_object)
            .and_then(|meta| meta.get("ns_error"))
        {
            let get = |k: &str| {
                ns.as_object()
                    .and_then(|o| o.get(k))
                    .cloned()
                    .unwrap_or(Value::Null)
            };
            ns_error = Some(Component::with_leaves(
                "ns-error",
                vec![get("domain"), get("code")],
            ));
        }
    }
    let stack_variants: Variants = if has_frames(exc, "stacktrace") {
        let data = exception_data(exc);
        let st = exc
            .get("stacktrace")
            .and_then(Value::as_object)
            .unwrap_or(super::empty_map());
        stacktrace_variants(st, ctx, Some(&data))
    } else {
        vec![("app".to_string(), Component::new("stacktrace"))]
    };
    // The parameterised value is the same for every variant: compute it once.
    let value_leaves = exc.get("value").filter(|v| !v.is_null()).map(|raw| {
        let raw = match raw {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let normalized = normalize_message_for_grouping(&raw);
        let hint = (raw != normalized).then(|| "stripped event-specific values".to_string());
        (normalized, hint)
    });
    stack_variants
        .into_iter()
        .map(|(name, stack)| {
            let stack_contributes = stack.contributes();
            // Sentry compares the unstripped name ("!system") with "system" here, so the
            // system variant uses the (possibly synthetic-disabled) type component too.
            let mut values = vec![
                Node::Component(stack),
                Node::Component(type_component.clone()),
            ];
            if let Some(ns) = &ns_error {
                values.push(Node::Component(ns.clone()));
            }
            let mut value = Component::new("value");
            if let Some((normalized, hint)) = &value_leaves {
                if !normalized.is_empty() {
                    value.set_leaves(vec![json!(normalized)], hint.clone().map(Into::into));
                }
            }
            if stack_contributes && value.contributes() {
                value.set_contributes(
                    false,
                    Some("ignored because stacktrace takes precedence".into()),
                );
            }
            if ns_error.as_ref().is_some_and(Component::contributes) && value.contributes() {
                value.set_contributes(
                    false,
                    Some("ignored because ns-error info takes precedence".into()),
                );
            }
            values.push(Node::Component(value));
            let mut c = Component::new("exception");
            c.set_values(values);
            (name, c)
        })
        .collect()
}

/// A structural key of a variant set, standing in for Sentry's hash of component reprs.
fn variants_key(v: &Variants) -> String {
    v.iter()
        .map(|(_, c)| c.as_dict().to_string())
        .collect::<Vec<_>>()
        .join("|")
}

fn mech_field<'a>(exc: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    mechanism(exc)
        .and_then(|m| m.get(key))
        .filter(|v| !v.is_null())
}

/// `filter_exceptions_for_exception_groups`: indices of the exceptions to group by, plus
/// the `main_exception_id` Sentry writes into the event when one exception wins.
fn filter_exception_groups(
    exceptions: &[&Map<String, Value>],
    keys: &[String],
) -> (Vec<usize>, Option<Value>) {
    let all: Vec<usize> = (0..exceptions.len()).collect();
    if exceptions.len() <= 1 {
        return (all, None);
    }
    // exception_id -> (exception index, child indices in Sentry's (reversed) order)
    let mut tree: Vec<(String, Option<usize>, Vec<usize>)> = Vec::new();
    fn node<'t>(
        tree: &'t mut Vec<(String, Option<usize>, Vec<usize>)>,
        id: &str,
    ) -> &'t mut (String, Option<usize>, Vec<usize>) {
        let pos = match tree.iter().position(|(k, _, _)| k == id) {
            Some(p) => p,
            None => {
                tree.push((id.to_string(), None, Vec::new()));
                tree.len() - 1
            }
        };
        &mut tree[pos]
    }
    for i in (0..exceptions.len()).rev() {
        let Some(id) = mech_field(exceptions[i], "exception_id") else {
            return (all, None);
        };
        node(&mut tree, &id.to_string()).1 = Some(i);
        if let Some(parent) = mech_field(exceptions[i], "parent_id") {
            node(&mut tree, &parent.to_string()).2.push(i);
        }
    }
    let children_of = |i: usize| -> Vec<usize> {
        mech_field(exceptions[i], "exception_id")
            .and_then(|id| {
                let id = id.to_string();
                tree.iter().find(|(k, _, _)| *k == id)
            })
            .map(|(_, _, c)| c.clone())
            .unwrap_or_default()
    };
    let Some(root) = tree
        .iter()
        .find(|(k, _, _)| k == "0")
        .and_then(|(_, e, _)| *e)
    else {
        return (all, None);
    };
    fn top_level(
        i: usize,
        ex: &[&Map<String, Value>],
        children_of: &dyn Fn(usize) -> Vec<usize>,
        out: &mut Vec<usize>,
        depth: usize,
    ) {
        if depth > 64 {
            return;
        }
        if truthy(mech_field(ex[i], "is_exception_group")) {
            for c in children_of(i) {
                top_level(c, ex, children_of, out, depth + 1);
            }
        } else {
            out.push(i);
        }
    }
    let mut tops = Vec::new();
    top_level(root, exceptions, &children_of, &mut tops, 0);
    let type_str = |i: usize| match exceptions[i].get("type") {
        Some(Value::String(s)) => s.clone(),
        _ => "None".to_string(),
    };
    // Python's stable sort with reverse=True keeps equal elements in order.
    tops.sort_by_key(|&i| std::cmp::Reverse(type_str(i)));
    let mut distinct: Vec<usize> = Vec::new();
    for &t in &tops {
        if distinct.last().is_none_or(|&d| keys[d] != keys[t]) {
            distinct.push(t);
        }
    }
    if distinct.len() == 1 {
        let main = distinct[0];
        let main_id = mech_field(exceptions[main], "exception_id").cloned();
        let mut path = vec![main];
        let mut cur = main;
        while let Some(&child) = children_of(cur).first() {
            if path.contains(&child) {
                break;
            }
            path.push(child);
            cur = child;
        }
        return (path, main_id);
    }
    distinct.push(root);
    (distinct, None)
}

/// `chained-exception:v1` over the event's `exception.values`. Returns the variants and the
/// `main_exception_id` to store, if any.
pub fn chained_exception(values: &[Value], ctx: &Context<'_>) -> (Variants, Option<Value>) {
    let exceptions: Vec<&Map<String, Value>> = values.iter().filter_map(Value::as_object).collect();
    let components: Vec<Variants> = exceptions
        .iter()
        .map(|e| single_exception(e, ctx))
        .collect();
    // The structural keys only tell several exceptions apart: skip them for a single one.
    let keys: Vec<String> = if components.len() > 1 {
        components.iter().map(variants_key).collect()
    } else {
        vec![String::new(); components.len()]
    };
    let (chosen, main_id) = filter_exception_groups(&exceptions, &keys);
    if chosen.len() == 1 {
        let mut components = components;
        return (components.swap_remove(chosen[0]), main_id);
    }
    let mut by_name: Vec<(String, Vec<Component>)> = Vec::new();
    for &i in &chosen {
        for (name, c) in &components[i] {
            match by_name.iter_mut().find(|(n, _)| n == name) {
                Some((_, list)) => list.push(c.clone()),
                None => by_name.push((name.clone(), vec![c.clone()])),
            }
        }
    }
    let rv = by_name
        .into_iter()
        .map(|(name, list)| (name, Component::with_children("chained-exception", list)))
        .collect();
    (rv, main_id)
}
