//! `stacktrace:v1`: frame components for the `system` and `app` variants, then the
//! enhancement rules' grouping flags.

use super::frame::{frame_component, frame_is_url};
use super::{s_truthy, Context, Variants};
use crate::component::Component;
use crate::enhancements::ExceptionData;
use crate::functions::behavior_family;
use serde_json::{Map, Value};

/// Fields that must be equal for two consecutive frames to count as recursion.
const RECURSION_FIELDS: [&str; 7] = [
    "abs_path", "package", "module", "filename", "function", "lineno", "colno",
];

fn is_recursion(a: &Map<String, Value>, b: Option<&Map<String, Value>>) -> bool {
    let Some(b) = b else { return false };
    RECURSION_FIELDS.iter().all(|f| {
        let x = a.get(*f).filter(|v| !v.is_null());
        let y = b.get(*f).filter(|v| !v.is_null());
        x == y
    })
}

/// The frames of a stack trace as Sentry's `Stacktrace` interface sees them (`null` frames
/// become empty frames).
pub fn frames_of(stacktrace: &Map<String, Value>) -> Vec<&Map<String, Value>> {
    match stacktrace.get("frames") {
        Some(Value::Array(frames)) => frames
            .iter()
            .map(|f| f.as_object().unwrap_or(super::empty_map()))
            .collect(),
        _ => Vec::new(),
    }
}

/// The `frame` components of a stack trace: the same in both variants.
fn frame_components(frames: &[&Map<String, Value>], ctx: &Context<'_>) -> Vec<Component> {
    let mut values = Vec::with_capacity(frames.len());
    let mut prev: Option<&Map<String, Value>> = None;
    for &frame in frames {
        values.push(frame_component(frame, ctx, is_recursion(frame, prev)));
        prev = Some(frame);
    }
    values
}

fn single_variant(
    mut values: Vec<Component>,
    frames: &[&Map<String, Value>],
    ctx: &Context<'_>,
    variant: &str,
    matches: &[(usize, Vec<usize>)],
) -> Component {
    if variant == "app" {
        for (c, frame) in values.iter_mut().zip(frames) {
            let in_app = frame
                .get("in_app")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !in_app {
                c.set_contributes(false, Some("non app frame".into()));
            }
        }
    }
    if frames.len() == 1 && values[0].contributes() {
        let f = frames[0];
        let platform = s_truthy(f, "platform").or(ctx.platform);
        if behavior_family(platform) == "javascript"
            && s_truthy(f, "function").is_none()
            && frame_is_url(f)
        {
            values[0].set_contributes(
                false,
                Some("ignored single non-URL JavaScript frame".into()),
            );
        }
    }
    ctx.enhancements
        .assemble_with_matches(values, frames, matches)
}

/// Both variants of one stack trace: `!system` (mandatory) and `app`.
pub fn stacktrace_variants(
    stacktrace: &Map<String, Value>,
    ctx: &Context<'_>,
    exc: Option<&ExceptionData>,
) -> Variants {
    let frames = frames_of(stacktrace);
    let matches = ctx.enhancements.updater_matches(&frames, ctx.platform, exc);
    // A frame's component does not depend on the variant: build it once, copy it for `app`.
    let system = frame_components(&frames, ctx);
    let app = system.clone();
    vec![
        (
            "!system".to_string(),
            single_variant(system, &frames, ctx, "system", &matches),
        ),
        (
            "app".to_string(),
            single_variant(app, &frames, ctx, "app", &matches),
        ),
    ]
}
