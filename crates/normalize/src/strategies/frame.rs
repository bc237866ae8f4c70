//! `frame:v1`: module, filename, function and context line of one frame.

use super::{s, s_truthy, Context};
use crate::component::Component;
use crate::functions::{behavior_family, trim_function_name};
use regex::Regex;
use serde_json::{json, Map, Value};
use std::sync::LazyLock;

fn re(p: &str) -> Regex {
    // Constant patterns, exercised by the golden tests.
    Regex::new(p).unwrap_or_else(|e| panic!("frame regex {p}: {e}"))
}

static RUBY_ERB_FUNC: LazyLock<Regex> = LazyLock::new(|| re(r"__\d{4,}_\d{4,}$"));
static JAVA_REFLECT: LazyLock<Regex> =
    LazyLock::new(|| re(r"(sun\.reflect\.Generated(?:Serialization)?ConstructorAccessor)\d+"));
static JAVA_CGLIB: LazyLock<Regex> =
    LazyLock::new(|| re(r"(\$\$[\w_]+?CGLIB\$\$)[a-fA-F0-9]+(_[0-9]+)?"));
static JAVA_ASSIST: LazyLock<Regex> =
    LazyLock::new(|| re(r"(\$\$_javassist)(?:_seam)?(?:_[0-9]+)?"));
static CLOJURE: LazyLock<Regex> = LazyLock::new(|| re(r"(\$fn__)\d+"));
static JAVA_ENHANCER_BY: LazyLock<Regex> =
    LazyLock::new(|| re(r"(\$\$?EnhancerBy[\w_]+?\$?\$)[a-fA-F0-9]+(_[0-9]+)?"));
static JAVA_FAST_CLASS_BY: LazyLock<Regex> =
    LazyLock::new(|| re(r"(\$\$?FastClassBy[\w_]+?\$?\$)[a-fA-F0-9]+(_[0-9]+)?"));
static JAVA_HIBERNATE_PROXY: LazyLock<Regex> =
    LazyLock::new(|| re(r"(\$\$?HibernateProxy\$?\$)\w+(_[0-9]+)?"));

const CONTEXT_LINE_PLATFORMS: [&str; 5] = ["javascript", "node", "python", "php", "ruby"];

fn basename(s: &str) -> &str {
    // What `re.split(r"[/\\]", s)[-1]` gives, without running a regex per frame.
    s.rsplit(['/', '\\']).next().unwrap_or(s)
}

/// `has_url_origin`.
pub fn has_url_origin(path: Option<&str>, allow_file_origin: bool) -> bool {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return false;
    };
    if ["http:", "https:", "applewebdata:", "blob:"]
        .iter()
        .any(|p| path.starts_with(p))
    {
        return true;
    }
    path.starts_with("file:") && !allow_file_origin
}

/// `Frame.is_url()`.
pub fn frame_is_url(frame: &Map<String, Value>) -> bool {
    let Some(p) = s_truthy(frame, "abs_path") else {
        return false;
    };
    ["blob:", "file:", "http:", "https:", "applewebdata:"]
        .iter()
        .any(|x| p.starts_with(x))
}

fn filename_component(
    abs_path: Option<&str>,
    filename: Option<&str>,
    platform: Option<&str>,
) -> Component {
    let Some(filename) = filename else {
        return Component::new("filename");
    };
    let filename = basename(filename).to_lowercase();
    let mut c = Component::with_leaves("filename", vec![json!(filename)]);
    if has_url_origin(abs_path, true) {
        c.set_contributes(false, Some("ignored because frame points to a URL".into()));
    } else if filename == "<anonymous>" {
        c.set_contributes(false, Some("anonymous filename discarded".into()));
    } else if filename == "[native code]" {
        c.set_contributes(false, Some("native code indicated by filename".into()));
    } else if platform == Some("java") {
        let new = JAVA_ASSIST.replace_all(&filename, "${1}<auto>");
        if new != filename {
            c.set_leaves(vec![json!(new)], Some("cleaned javassist parts".into()));
        }
    }
    c
}

fn module_component(
    abs_path: Option<&str>,
    module: Option<&str>,
    platform: Option<&str>,
) -> Component {
    let Some(module) = module else {
        return Component::new("module");
    };
    let mut c = Component::with_leaves("module", vec![json!(module)]);
    if platform == Some("javascript")
        && module.contains('/')
        && abs_path.is_some_and(|p| !p.is_empty() && p.ends_with(module))
    {
        c.set_contributes(false, Some("ignored bad javascript module".into()));
    } else if platform == Some("java") {
        if module.contains("$$Lambda$") {
            c.set_contributes(false, Some("ignored java lambda".into()));
        }
        let prefix = |n: usize| module.chars().take(n).collect::<String>();
        if prefix(35) == "sun.reflect.GeneratedMethodAccessor" {
            c.set_leaves(
                vec![json!("sun.reflect.GeneratedMethodAccessor")],
                Some("removed reflection marker".into()),
            );
        } else if prefix(44) == "jdk.internal.reflect.GeneratedMethodAccessor" {
            c.set_leaves(
                vec![json!("jdk.internal.reflect.GeneratedMethodAccessor")],
                Some("removed reflection marker".into()),
            );
        } else {
            // Each pattern needs its literal marker; most modules have none, so the
            // regexes (and their copies of the module) are skipped.
            let mut m = std::borrow::Cow::Borrowed(module);
            for (marker, r) in [
                ("sun.reflect.Generated", &*JAVA_REFLECT),
                ("CGLIB$$", &*JAVA_CGLIB),
                ("$$_javassist", &*JAVA_ASSIST),
                ("$fn__", &*CLOJURE),
                ("EnhancerBy", &*JAVA_ENHANCER_BY),
                ("FastClassBy", &*JAVA_FAST_CLASS_BY),
                ("HibernateProxy", &*JAVA_HIBERNATE_PROXY),
            ] {
                if m.contains(marker) {
                    if let std::borrow::Cow::Owned(replaced) = r.replace_all(&m, "${1}<auto>") {
                        m = std::borrow::Cow::Owned(replaced);
                    }
                }
            }
            if m != module {
                c.set_leaves(vec![json!(m)], Some("removed codegen marker".into()));
            }
        }
    }
    c
}

fn function_component(
    function: Option<&str>,
    raw_function: Option<&str>,
    platform: Option<&str>,
    sourcemap_used: bool,
    context_line_available: bool,
) -> Component {
    let func: String = if platform == Some("csharp") {
        match raw_function.or(function) {
            Some(f) => f.to_string(),
            None => return Component::new("function"),
        }
    } else {
        match (function, raw_function) {
            (Some(f), None) => trim_function_name(f, platform),
            (Some(f), Some(_)) => f.to_string(),
            (None, Some(r)) => r.to_string(),
            (None, None) => return Component::new("function"),
        }
    };
    if func.is_empty() {
        return Component::new("function");
    }
    let mut c = Component::with_leaves("function", vec![json!(func)]);
    let family = behavior_family(platform);
    match platform {
        Some("ruby") => {
            if func.starts_with("block ") {
                c.set_leaves(vec![json!("block")], Some("ruby block".into()));
            } else {
                let new = RUBY_ERB_FUNC.replace(&func, "");
                if new != func {
                    c.set_leaves(
                        vec![json!(new)],
                        Some("removed generated erb template suffix".into()),
                    );
                }
            }
        }
        Some("php") => {
            if func.starts_with("[Anonymous") || func.starts_with("class@anonymous\0") {
                c.set_contributes(false, Some("ignored anonymous function".into()));
            }
            if func.starts_with("class@anonymous") {
                let new = func.rsplit("::").next().unwrap_or(&func);
                if new != func {
                    c.set_leaves(vec![json!(new)], Some("anonymous class method".into()));
                }
            }
        }
        Some("java") if func.starts_with("lambda$") => {
            c.set_contributes(false, Some("ignored lambda function".into()));
        }
        Some("java") => {}
        _ if family == "native" && (func == "<redacted>" || func == "<unknown>") => {
            c.set_contributes(false, Some("ignored unknown function".into()));
        }
        _ if family == "native" => {}
        _ if family == "javascript" => {
            let new = func.rsplit('.').next().unwrap_or(&func);
            if new != func {
                c.set_leaves(vec![json!(new)], Some("trimmed javascript function".into()));
            }
            if sourcemap_used && context_line_available {
                c.set_contributes(
                    false,
                    Some("ignored because sourcemap used and context line available".into()),
                );
            }
        }
        _ => {}
    }
    c
}

fn context_line_component(frame: &Map<String, Value>, platform: Option<&str>) -> Component {
    let raw = s(frame, "context_line").unwrap_or("");
    let line = raw
        .split(crate::parameterize::is_py_whitespace)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if line.is_empty() {
        return Component::new("context-line");
    }
    let mut c = Component::with_leaves("context-line", vec![json!(line)]);
    if raw.chars().count() > 120 {
        c.set_contributes(false, Some("discarded because line too long".into()));
    } else if behavior_family(platform) == "javascript"
        && s_truthy(frame, "function").is_none()
        && has_url_origin(s(frame, "abs_path"), false)
    {
        c.set_contributes(
            false,
            Some("discarded because from URL origin and no function".into()),
        );
    }
    c
}

/// The `frame` component of one frame for one variant.
pub fn frame_component(
    frame: &Map<String, Value>,
    ctx: &Context<'_>,
    is_recursion: bool,
) -> Component {
    let platform = s_truthy(frame, "platform").or(ctx.platform);
    let abs_path = s(frame, "abs_path");
    let mut filename = filename_component(abs_path, s(frame, "filename"), platform);
    let module = module_component(abs_path, s(frame, "module"), platform);
    if module.contributes() && filename.contributes() {
        filename.set_contributes(false, Some("module takes precedence".into()));
    }
    let context_line = platform
        .filter(|p| CONTEXT_LINE_PLATFORMS.contains(p))
        .map(|_| context_line_component(frame, platform));
    let context_line_available = context_line.as_ref().is_some_and(Component::contributes);
    let sourcemap_used = frame
        .get("data")
        .and_then(Value::as_object)
        .is_some_and(|d| d.get("sourcemap").is_some_and(|v| !v.is_null()));
    let function = function_component(
        s_truthy(frame, "function"),
        s_truthy(frame, "raw_function"),
        platform,
        sourcemap_used,
        context_line_available,
    );
    let mut values = vec![module, filename, function];
    if let Some(cl) = context_line {
        values.push(cl);
    }
    // The frame's `contributes` is fixed here; the JavaScript checks below only change the
    // function child afterwards, exactly as in Sentry.
    let mut rv = Component::with_children("frame", values);

    if behavior_family(platform) == "javascript" {
        let func = s_truthy(frame, "raw_function").or(s_truthy(frame, "function"));
        let func = func.map(|f| f.rsplit('.').next().unwrap_or(f));
        if let Some(function) = rv.children_mut().nth(2) {
            match func {
                None | Some("") => function.set_contributes(false, None),
                Some(f) => {
                    if matches!(
                        f,
                        "?" | "<anonymous function>" | "<anonymous>" | "Anonymous function"
                    ) || f.ends_with("/<")
                    {
                        function
                            .set_contributes(false, Some("ignored unknown function name".into()));
                    }
                }
            }
        }
        if func == Some("eval")
            || matches!(
                abs_path,
                Some("[native code]" | "native code" | "eval code" | "<anonymous>")
            )
        {
            rv.set_contributes(false, Some("ignored low quality javascript frame".into()));
        }
    }
    if is_recursion {
        rv.set_contributes(false, Some("ignored due to recursion".into()));
    }
    rv
}
