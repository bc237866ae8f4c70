//! The grouping driver (`sentry.grouping.api` and `variants`): runs the strategies in score
//! order, applies checksum and fingerprint rules and turns variants into hashes.

use crate::component::{hash_from_values, Component};
use crate::enhancements::Enhancements;
use crate::fingerprint;
use crate::strategies::{self, Context, Variants};
use serde_json::{json, Map, Value};

/// One grouping variant of an event.
#[derive(Debug, Clone)]
pub enum Variant {
    /// Hash of a component tree (`app`, `system`, `default`).
    Component(Component),
    /// A component salted with a hybrid fingerprint.
    Salted {
        /// The resolved fingerprint, `{{ default }}` entries still in place.
        values: Vec<String>,
        /// The component the defaults expand to.
        component: Component,
    },
    /// A fingerprint without `{{ default }}`.
    CustomFingerprint(Vec<String>),
    /// A legacy checksum (`hashed` when it was not 32 hex chars).
    Checksum {
        /// The hash used.
        hash: String,
        /// Whether the checksum was md5-hashed first.
        hashed: bool,
    },
    /// Nothing else contributed: `md5("")`.
    Fallback,
}

impl Variant {
    /// The variant's hash, if it contributes one.
    pub fn hash(&self) -> Option<String> {
        match self {
            Variant::Component(c) => c.hash(),
            Variant::Salted { values, component } => {
                if !component.contributes() {
                    return None;
                }
                let mut all = Vec::new();
                for v in values {
                    if fingerprint::is_default(v) {
                        all.extend(component.iter_values());
                    } else {
                        all.push(v.clone());
                    }
                }
                Some(hash_from_values(all))
            }
            Variant::CustomFingerprint(values) => Some(hash_from_values(values)),
            Variant::Checksum { hash, .. } => Some(hash.clone()),
            Variant::Fallback => Some(hash_from_values(Vec::<String>::new())),
        }
    }

    /// Whether the variant contributes.
    pub fn contributes(&self) -> bool {
        match self {
            Variant::Component(c) | Variant::Salted { component: c, .. } => c.contributes(),
            _ => true,
        }
    }

    /// The variant as Sentry's grouping info shows it (without `config`).
    pub fn as_dict(&self) -> Value {
        let mut m = Map::new();
        let (ty, desc): (Value, Value) = match self {
            Variant::Component(c) => (json!("component"), json!(c.description())),
            Variant::Salted { component, .. } => (
                json!("salted-component"),
                json!(format!("modified {}", component.description())),
            ),
            Variant::CustomFingerprint(_) => {
                (json!("custom-fingerprint"), json!("custom fingerprint"))
            }
            Variant::Checksum { hashed, .. } => (
                json!("checksum"),
                json!(if *hashed {
                    "hashed legacy checksum"
                } else {
                    "legacy checksum"
                }),
            ),
            Variant::Fallback => (Value::Null, Value::Null),
        };
        m.insert("contributes".into(), json!(self.contributes()));
        m.insert("description".into(), desc);
        m.insert("hash".into(), json!(self.hash()));
        m.insert("type".into(), ty);
        match self {
            Variant::Component(c) => {
                m.insert("component".into(), c.as_dict());
            }
            Variant::Salted { values, component } => {
                m.insert("component".into(), component.as_dict());
                m.insert("values".into(), json!(values));
            }
            Variant::CustomFingerprint(values) => {
                m.insert("values".into(), json!(values));
            }
            _ => {}
        }
        Value::Object(m)
    }
}

/// The result of grouping one event.
#[derive(Debug, Clone)]
pub struct Grouping {
    /// Variants by name, in Sentry's order.
    pub variants: Vec<(String, Variant)>,
    /// Distinct hashes, `system` last; the first is the primary hash.
    pub hashes: Vec<String>,
    /// The variant that produced `hashes[0]` (empty when there is none).
    pub primary_variant: String,
    /// `main_exception_id` chosen by exception-group filtering, to store in the event.
    pub main_exception_id: Option<Value>,
}

/// `Strategy.get_grouping_component_variants`: strips `!`, disables optional variants that
/// duplicate a mandatory one, and runs the strategy's variant processor.
fn finish_strategy(raw: Variants, remove_non_stacktrace: bool) -> Variants {
    let has_mandatory = raw.iter().any(|(k, _)| k.starts_with('!'));
    let mut mandatory_hashes: Vec<(String, String)> = Vec::new();
    let mut optional = Vec::new();
    let mut rv: Variants = Vec::new();
    for (key, c) in raw {
        let name = key.trim_start_matches('!').to_string();
        if c.contributes() {
            if key.starts_with('!') {
                if let Some(h) = c.hash() {
                    mandatory_hashes.retain(|(hh, _)| *hh != h);
                    mandatory_hashes.push((h, name.clone()));
                }
            } else {
                optional.push(name.clone());
            }
        }
        rv.push((name, c));
    }
    let prevent = has_mandatory && mandatory_hashes.is_empty();
    for (name, c) in rv.iter_mut() {
        if !optional.contains(name) {
            continue;
        }
        if prevent {
            c.set_contributes(
                false,
                Some("ignored because other mandatory variant is not used".into()),
            );
        } else if let Some(h) = c.hash() {
            if let Some((_, dup)) = mandatory_hashes.iter().find(|(hh, _)| *hh == h) {
                c.set_contributes(
                    false,
                    Some(format!("ignored because hash matches {dup} variant").into()),
                );
            }
        }
    }
    if remove_non_stacktrace {
        strategies::remove_non_stacktrace_variants(&mut rv);
    }
    rv
}

fn nonnull<'a>(data: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    data.get(key).filter(|v| !v.is_null())
}

/// `_get_calculated_grouping_variants_for_event`.
fn calculated_variants(
    data: &Map<String, Value>,
    ctx: &Context<'_>,
) -> (Vec<(String, Component)>, Option<Value>) {
    // (interface name for hints, variants) in strategy score order.
    let mut per_strategy: Vec<(&str, Variants)> = Vec::new();
    let mut main_exception_id = None;
    if let Some(values) = nonnull(data, "exception")
        .and_then(|e| e.get("values"))
        .and_then(Value::as_array)
    {
        if values.iter().any(|v| !v.is_null()) {
            let (v, main) = strategies::exception::chained_exception(values, ctx);
            main_exception_id = main;
            per_strategy.push(("exception", finish_strategy(v, true)));
        }
    }
    if let Some(threads) = nonnull(data, "threads") {
        let values = threads
            .get("values")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        per_strategy.push((
            "threads",
            finish_strategy(strategies::threads::threads(values, ctx), true),
        ));
    }
    if let Some(st) = nonnull(data, "stacktrace").and_then(Value::as_object) {
        per_strategy.push((
            "stacktrace",
            finish_strategy(
                strategies::stacktrace::stacktrace_variants(st, ctx, None),
                true,
            ),
        ));
    }
    if let Some(t) = nonnull(data, "template").and_then(Value::as_object) {
        per_strategy.push((
            "template",
            finish_strategy(strategies::message::template(t), false),
        ));
    }
    if let Some(l) = nonnull(data, "logentry").and_then(Value::as_object) {
        per_strategy.push((
            "logentry",
            finish_strategy(strategies::message::message(l), false),
        ));
    }

    let mut winning: Option<&str> = None;
    let mut precedence_hint: Option<String> = None;
    let mut per_variant: Vec<(String, Vec<Component>)> = Vec::new();
    for (name, variants) in per_strategy {
        let mut contributing: Vec<String> = variants
            .iter()
            .filter(|(_, c)| c.contributes())
            .map(|(k, _)| k.clone())
            .collect();
        contributing.sort();
        for (variant, mut component) in variants {
            if winning.is_none() {
                if component.contributes() {
                    winning = Some(name);
                    let subject = if variant != "default" {
                        format!("{name} of {}", contributing.join("/"))
                    } else {
                        name.to_string()
                    };
                    let s = if name.ends_with('s') { "" } else { "s" };
                    precedence_hint = Some(format!("{subject} take{s} precedence"));
                }
            } else if component.contributes() && winning != Some(name) {
                component.set_contributes(false, precedence_hint.clone().map(Into::into));
            }
            match per_variant.iter_mut().find(|(k, _)| *k == variant) {
                Some((_, list)) => list.push(component),
                None => per_variant.push((variant, vec![component])),
            }
        }
    }
    let rv = per_variant
        .into_iter()
        .map(|(variant, components)| {
            let mut c = Component::with_children(variant.clone(), components);
            if !c.contributes() {
                if let Some(h) = &precedence_hint {
                    c.set_hint(h.clone());
                }
            }
            (variant, c)
        })
        .collect();
    (rv, main_exception_id)
}

/// Python's `re.match(r"^[0-9a-f]{32}$")` (where `$` also matches before a final newline).
fn is_hash(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `get_grouping_variants_for_event` followed by `get_hashes`.
pub fn group(data: &Map<String, Value>, enhancements: &Enhancements) -> Grouping {
    let platform = data.get("platform").and_then(Value::as_str);
    let ctx = Context {
        enhancements,
        platform,
    };
    let mut main_exception_id = None;
    let mut variants: Vec<(String, Variant)> = Vec::new();
    let checksum = data
        .get("checksum")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty());
    if let Some(checksum) = checksum {
        if is_hash(checksum) {
            variants.push((
                "checksum".into(),
                Variant::Checksum {
                    hash: checksum.into(),
                    hashed: false,
                },
            ));
        } else {
            variants.push((
                "hashed-checksum".into(),
                Variant::Checksum {
                    hash: hash_from_values([checksum]),
                    hashed: true,
                },
            ));
            if checksum.chars().count() <= 32 {
                variants.push((
                    "checksum".into(),
                    Variant::Checksum {
                        hash: checksum.into(),
                        hashed: false,
                    },
                ));
            }
        }
    } else {
        let fp: Vec<String> = data
            .get("fingerprint")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .filter(|v: &Vec<String>| !v.is_empty())
            .unwrap_or_else(|| vec!["{{ default }}".to_string()]);
        let defaults = fp.iter().filter(|v| fingerprint::is_default(v)).count();
        let (components, main) = calculated_variants(data, &ctx);
        main_exception_id = main;
        if defaults == 0 {
            for (key, mut c) in components {
                c.set_contributes(false, Some("custom fingerprint takes precedence".into()));
                variants.push((key, Variant::Component(c)));
            }
            variants.push((
                "custom-fingerprint".into(),
                Variant::CustomFingerprint(fingerprint::resolve(&fp, data)),
            ));
        } else if defaults == 1 && fp.len() == 1 {
            variants.extend(
                components
                    .into_iter()
                    .map(|(k, c)| (k, Variant::Component(c))),
            );
        } else {
            let values = fingerprint::resolve(&fp, data);
            for (key, c) in components {
                variants.push((
                    key,
                    Variant::Salted {
                        values: values.clone(),
                        component: c,
                    },
                ));
            }
        }
        if !variants.iter().any(|(_, v)| v.contributes()) {
            variants.push(("fallback".into(), Variant::Fallback));
        }
    }

    // sort_grouping_variants: system last (stable), then distinct non-null hashes.
    let mut order: Vec<&(String, Variant)> = variants.iter().collect();
    order.sort_by_key(|(name, _)| name == "system");
    let mut hashes = Vec::new();
    let mut primary_variant = String::new();
    for (name, v) in order {
        if let Some(h) = v.hash() {
            if !hashes.contains(&h) {
                if hashes.is_empty() {
                    primary_variant = name.clone();
                }
                hashes.push(h);
            }
        }
    }
    Grouping {
        variants,
        hashes,
        primary_variant,
        main_exception_id,
    }
}
