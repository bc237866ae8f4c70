//! Function name trimming (`sentry.stacktraces.functions`): strips native signatures down to
//! the bare function, so argument lists, return types and template arguments do not split
//! groups.

use regex::Regex;
use std::sync::LazyLock;

fn re(pattern: &str) -> Regex {
    // All patterns here are constants covered by tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("functions regex {pattern}: {e}"))
}

static WINDECL_HASH: LazyLock<Regex> = LazyLock::new(|| re(r"^@?(.*?)@[0-9]+$"));
static RUST_HASH: LazyLock<Regex> = LazyLock::new(|| re(r"::h[a-z0-9]{16}$"));
static GNU_VERSION: LazyLock<Regex> = LazyLock::new(|| re(r"@@?GLIBC_([0-9.]+)$"));
static CPP_TRAILER: LazyLock<Regex> = LazyLock::new(|| re(r"(\bconst\b|&)$"));
static RUST_BLANKET: LazyLock<Regex> = LazyLock::new(|| re(r"^([A-Z] as )"));
static LAMBDA: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:\{lambda\(.*?\)#\d+\})|(?:\blambda_[a-f0-9]{32}\b)|(?:\$_\d+\b)"));
static LAMBDA_AT_START: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:(?:\{lambda\(.*?\)#\d+\})|(?:\blambda_[a-f0-9]{32}\b)|(?:\$_\d+\b))")
});
static ANON_NAMESPACE: LazyLock<Regex> = LazyLock::new(|| re(r"\?A0x[a-f0-9]{8}::"));

/// The behaviour family of a platform: `native`, `javascript` or `other`.
pub fn behavior_family(platform: Option<&str>) -> &'static str {
    match platform {
        Some("objc" | "cocoa" | "swift" | "native" | "c") => "native",
        Some("javascript" | "node") => "javascript",
        _ => "other",
    }
}

/// `trim_function_name`: trims C# and native function names, leaves others alone.
pub fn trim_function_name(function: &str, platform: Option<&str>) -> String {
    if platform == Some("csharp") {
        return function.split(" (").next().unwrap_or(function).to_string();
    }
    if behavior_family(platform) == "native" {
        return trim_native_function_name(function, platform);
    }
    function.to_string()
}

/// Removes every top-level `start ... end` enclosed part, replacing it by what `replacement`
/// returns for the inner text and its start offset (in characters).
fn replace_enclosed_string(
    s: &str,
    start: char,
    end: char,
    mut replacement: impl FnMut(&str, usize) -> String,
) -> String {
    if !s.contains(start) {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut depth: i64 = 0;
    let mut out = String::new();
    let mut pair_start = 0usize;
    for (idx, &c) in chars.iter().enumerate() {
        if c == start {
            if depth == 0 {
                pair_start = idx;
            }
            depth += 1;
        } else if c == end {
            depth -= 1;
            if depth == 0 {
                let inner: String = chars[pair_start + 1..idx].iter().collect();
                out.push_str(&replacement(&inner, pair_start));
            }
        } else if depth == 0 {
            out.push(c);
        }
    }
    out
}

fn closing(c: char) -> Option<char> {
    match c {
        '(' => Some(')'),
        '{' => Some('}'),
        '[' => Some(']'),
        '<' => Some('>'),
        _ => None,
    }
}

/// Splits on top-level whitespace, keeping bracketed groups together.
fn split_func_tokens(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut buf: Vec<String> = Vec::new();
    let mut rv: Vec<Vec<String>> = Vec::new();
    let mut stack: Vec<char> = Vec::new();
    let mut end = 0usize;
    for (idx, &c) in chars.iter().enumerate() {
        if let Some(close) = closing(c) {
            stack.push(close);
        } else if !stack.is_empty() && Some(&c) == stack.last() {
            stack.pop();
            if stack.is_empty() {
                buf.push(chars[end..=idx].iter().collect());
                end = idx + 1;
            }
        } else if stack.is_empty() {
            if c.is_whitespace() {
                if !buf.is_empty() {
                    rv.push(std::mem::take(&mut buf));
                }
                buf.clear();
            } else {
                buf.push(chars[end..=idx].iter().collect());
            }
            end = idx + 1;
        }
    }
    if !buf.is_empty() {
        rv.push(buf);
    }
    rv.into_iter().map(|parts| parts.concat()).collect()
}

fn process_generics(value: &str, start: usize) -> String {
    if value == "lambda" || LAMBDA_AT_START.is_match(value) {
        return format!("<{value}>");
    }
    if start > 0 {
        return "<T>".to_string();
    }
    let value = RUST_BLANKET.replace(value, "").into_owned();
    let value = replace_enclosed_string(&value, '<', '>', process_generics);
    value.split(" as ").next().unwrap_or("").to_string()
}

/// `trim_native_function_name` with lambda normalisation on.
pub fn trim_native_function_name(function: &str, platform: Option<&str>) -> String {
    if function == "<redacted>" || function == "<unknown>" {
        return function.to_string();
    }
    let original = function;
    let mut function = function.trim().to_string();
    if function.starts_with('[') || function.starts_with("+[") || function.starts_with("-[") {
        return function;
    }
    while let Some(m) = CPP_TRAILER.find(&function) {
        function = function[..m.start()].trim_end().to_string();
    }
    function = function
        .replace("operator<<", "operator⟨⟨")
        .replace("operator<", "operator⟨")
        .replace("operator()", "operator◯")
        .replace("operator->", "operator⟿")
        .replace(" -> ", " ⟿ ")
        .replace("`anonymous namespace'", "〔anonymousnamespace〕");
    function = LAMBDA.replace_all(&function, "lambda").into_owned();
    function = ANON_NAMESPACE
        .replace_all(&function, "〔anonymousnamespace〕::")
        .into_owned();

    function = replace_enclosed_string(&function, '(', ')', |value, _| {
        let value = value.trim();
        if value == "anonymous namespace" || value == "operator" {
            format!("({value})")
        } else {
            String::new()
        }
    });
    function = replace_enclosed_string(&function, '<', '>', process_generics);
    function = replace_enclosed_string(&function, '[', ']', |value, _| {
        if value.starts_with("clone .") {
            String::new()
        } else {
            format!("[{value}]")
        }
    });

    let is_thunk = function.contains("thunk for ");
    let mut tokens = split_func_tokens(&function);
    if tokens.len() > 1 && tokens.last().map(String::as_str) == Some("<T>") {
        tokens.pop();
        if let Some(last) = tokens.last_mut() {
            last.push_str(" <T>");
        }
    }
    let func_token = match tokens.iter().position(|t| t == "⟿") {
        // Python's `tokens[idx - 1]` wraps around to the last token for idx 0.
        Some(0) => tokens.last().cloned(),
        Some(idx) => tokens.get(idx - 1).cloned(),
        None => tokens.last().cloned(),
    };
    let mut function = match func_token.filter(|t| !t.is_empty()) {
        Some(mut token) => {
            if token.starts_with('@') && matches!(platform, Some("cocoa" | "swift")) {
                token = format!("{}closure", if is_thunk { "thunk for " } else { "" });
            }
            token
                .replace('⟨', "<")
                .replace('◯', "()")
                .replace('⟿', "->")
                .replace("〔anonymousnamespace〕", "`anonymous namespace'")
        }
        None => original.to_string(),
    };
    function = RUST_HASH.replace(&function, "").into_owned();
    function = GNU_VERSION.replace(&function, "").into_owned();
    WINDECL_HASH.replace(&function, "$1").into_owned()
}

#[cfg(test)]
mod tests {
    use super::trim_function_name as t;

    #[test]
    fn native() {
        let n = Some("native");
        assert_eq!(
            t("MyApp::Cache<std::string>::get(int) const", n),
            "MyApp::Cache<T>::get"
        );
        assert_eq!(t("void foo::bar(char const*, int)", n), "foo::bar");
        assert_eq!(
            t("std::vector<int>::push_back(int&&)", n),
            "std::vector<T>::push_back"
        );
        assert_eq!(
            t("main::{lambda()#1}::operator()() const", n),
            "main::lambda::operator()"
        );
        assert_eq!(t("foo::h0123456789abcdef", n), "foo");
        assert_eq!(t("memcpy@GLIBC_2.14", n), "memcpy");
        assert_eq!(t("_foo@12", n), "_foo");
        assert_eq!(t("-[NSObject foo:]", n), "-[NSObject foo:]");
        assert_eq!(t("<unknown>", n), "<unknown>");
        assert_eq!(t("operator<<(std::ostream&)", n), "operator<<");
        assert_eq!(t("<Foo as Bar>::baz", n), "Foo::baz");
    }

    #[test]
    fn others() {
        assert_eq!(t("Foo.Bar (System.String)", Some("csharp")), "Foo.Bar");
        assert_eq!(t("a.b(c)", Some("python")), "a.b(c)");
        assert_eq!(t("closure #1 @Sendable () -> ()", Some("cocoa")), "closure");
    }
}
