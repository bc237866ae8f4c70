//! `normalize_message_for_grouping` of Sentry 23.7.1: keep the first two non-empty lines and
//! replace event-specific values (emails, URLs, IPs, UUIDs, hashes, dates, numbers, ...) by
//! `<kind>` placeholders, using one leftmost-first alternation in Sentry's order.

use regex::Regex;
use std::sync::LazyLock;

/// Names of the alternation's groups, in priority order.
const KINDS: [&str; 11] = [
    "email",
    "url",
    "ip",
    "uuid",
    "sha1",
    "md5",
    "date",
    "hex",
    "float",
    "int",
    "quoted_str",
];

static PARAMETERIZATION: LazyLock<Regex> = LazyLock::new(|| {
    // Written without `(?x)` so that `#` inside classes needs no care.
    let ipv4 = r"((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])";
    let ipv6 = [
        r"([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}",
        r"([0-9a-fA-F]{1,4}:){1,7}:",
        r"([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}",
        r"([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}",
        r"([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}",
        r"([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}",
        r"([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}",
        r"[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})",
        r":((:[0-9a-fA-F]{1,4}){1,7}|:)",
        r"fe80:(:[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]{1,}",
        &format!(r"::(ffff(:0{{1,4}}){{0,1}}:){{0,1}}{ipv4}"),
        &format!(r"([0-9a-fA-F]{{1,4}}:){{1,4}}:{ipv4}\b"),
    ]
    .join("|");
    let date = [
        r"(\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d\.\d+([+-][0-2]\d:[0-5]\d|Z))",
        r"(\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d([+-][0-2]\d:[0-5]\d|Z))",
        r"(\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d([+-][0-2]\d:[0-5]\d|Z))",
    ]
    .join("|");
    let date = format!(
        "({date})|({})|({})|({})",
        r"\b(?:(Sun|Mon|Tue|Wed|Thu|Fri|Sat)\s+)?(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+([\d]{1,2})\s+([\d]{2}:[\d]{2}:[\d]{2})\s+[\d]{4}",
        r"\b(?:(Sun|Mon|Tue|Wed|Thu|Fri|Sat),\s+)?(0[1-9]|[1-2]?[\d]|3[01])\s+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+(19[\d]{2}|[2-9][\d]{3})\s+(2[0-3]|[0-1][\d]):([0-5][\d])(?::(60|[0-5][\d]))?\s+([-\+][\d]{2}[0-5][\d]|(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z]))",
        r"datetime\.datetime\(.*?\)",
    );
    let pattern = [
        r"(?P<email>[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*)".to_string(),
        r"(?P<url>\b(wss?|https?|ftp)://[^\s/$.?#].[^\s]*)".to_string(),
        format!(r"(?P<ip>({ipv6})|(\b{ipv4}\b))"),
        r"(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)"
            .to_string(),
        r"(?P<sha1>\b[0-9a-fA-F]{40}\b)".to_string(),
        r"(?P<md5>\b[0-9a-fA-F]{32}\b)".to_string(),
        format!(r"(?P<date>{date})"),
        r"(?P<hex>\b0[xX][0-9a-fA-F]+\b)".to_string(),
        r"(?P<float>-\d+\.\d+\b|\b\d+\.\d+\b)".to_string(),
        r"(?P<int>-\d+\b|\b\d+\b)".to_string(),
        r"(?P<quoted_str>='([\w\s]+)')".to_string(),
    ]
    .join("|");
    // The pattern is a constant; failing to compile it is a programming error caught by tests.
    Regex::new(&pattern).unwrap_or_else(|e| panic!("parameterization regex: {e}"))
});

/// Python's `str.splitlines()` line boundaries.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\u{0b}'
            | '\u{0c}'
            | '\u{1c}'
            | '\u{1d}'
            | '\u{1e}'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Python's `str.splitlines()` (without keepends).
pub fn splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if is_line_break(c) {
            out.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(j, '\n')) = iter.peek() {
                    iter.next();
                    end = j + 1;
                }
            }
            start = end;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Python's `str.strip()` with no arguments (Unicode whitespace).
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_whitespace)
}

/// Python's `str.isspace()` for one character.
pub fn is_py_whitespace(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{1c}'..='\u{1f}')
}

/// Replaces event-specific values of a message by placeholders and trims it to two lines.
pub fn normalize_message_for_grouping(message: &str) -> String {
    let lines: Vec<&str> = splitlines(message)
        .into_iter()
        .filter(|l| !py_strip(l).is_empty())
        .take(2)
        .collect();
    let mut trimmed = lines.join("\n");
    if trimmed != message {
        trimmed.push_str("...");
    }
    PARAMETERIZATION
        .replace_all(&trimmed, |caps: &regex::Captures<'_>| {
            for kind in KINDS {
                if caps.name(kind).is_some() {
                    return if kind == "quoted_str" {
                        "=<quoted_str>".to_string()
                    } else {
                        format!("<{kind}>")
                    };
                }
            }
            String::new()
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::normalize_message_for_grouping as n;

    #[test]
    fn kinds() {
        assert_eq!(n("Order 12345 failed"), "Order <int> failed");
        assert_eq!(n("User alice@example.com x"), "User <email> x");
        assert_eq!(
            n("GET https://a.example/v1?x=1 returned 503"),
            "GET <url> returned <int>"
        );
        assert_eq!(
            n("Failed to connect to 192.168.1.15:5432 after 3 retries"),
            "Failed to connect to <ip>:<int> after <int> retries"
        );
        assert_eq!(
            n("Job 3f2b6c1e-9d4a-4e7b-8a51-2c0d9e6f7a10 crashed"),
            "Job <uuid> crashed"
        );
        assert_eq!(
            n("Memory address 0xdeadbeef is not mapped"),
            "Memory address <hex> is not mapped"
        );
        assert_eq!(
            n("Temperature is -3.75 degrees"),
            "Temperature is <float> degrees"
        );
        assert_eq!(
            n("Backup started at 2023-07-14T12:00:00Z"),
            "Backup started at <date>"
        );
        assert_eq!(n("Connection (errno=104)"), "Connection (errno=<int>)");
        assert_eq!(n("k='abc def'"), "k=<quoted_str>");
    }

    #[test]
    fn python_quirks() {
        assert_eq!(
            n("Processed batch in 12.5ms"),
            "Processed batch in <int>.5ms"
        );
        assert_eq!(
            n("Backup started at 2023-07-14 12:00:00"),
            "Backup started at <int><int><int> <int>:<int>:<int>"
        );
        assert_eq!(
            n("Job 3F2B6C1E9D4A4E7B8A512C0D9E6F7A10 crashed"),
            "Job <md5> crashed"
        );
        assert_eq!(
            n("Failed to connect to 2001:db8::ff00:42:8329 port 443"),
            "Failed to connect to <ip>ff00:<int>:<int> port <int>"
        );
        assert_eq!(n("Retrying {attempt}/{max}"), "Retrying {attempt}/{max}");
    }

    #[test]
    fn lines() {
        assert_eq!(n("a\nb\nc"), "a\nb...");
        assert_eq!(n("\n\n  x\n\ny\nz"), "  x\ny...");
        assert_eq!(n("   \n\t  "), "...");
        assert_eq!(n("one\n"), "one...");
        assert_eq!(n(""), "");
    }
}
