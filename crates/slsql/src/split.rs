//! Splits an SLS query into its search statement, `set session` settings and
//! SQL statement.

use crate::ast::Query;
use crate::error::ParseError;
use crate::parser::parse_search_in;

/// An SLS query split at its first top-level `|`, borrowing from the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitQuery<'a> {
    /// The search statement, trimmed; `"*"` when the query has no search text.
    pub search: &'a str,
    /// Byte offset of `search` in the query (where the search part starts when
    /// `search` is the default `"*"`).
    pub search_offset: usize,
    /// `set session name=value;` settings that start the SQL part, in order,
    /// names and values trimmed.
    pub settings: Vec<(String, String)>,
    /// The SQL statement after the settings, trimmed and otherwise unchanged
    /// (SLS allows no trailing `;`, and none is removed). `None` without `|`.
    pub sql: Option<&'a str>,
    /// Byte offset of `sql` in the query (0 when there is no SQL).
    pub sql_offset: usize,
}

/// Splits `query` at the first `|` outside a double-quoted string of the
/// search part (`"a|b" | select 1` splits at the second `|`; `\"` and `\\`
/// escape inside quotes). Text without `|` is all search, even when it starts
/// with `select`. Leading `set session name=value;` statements of the SQL part
/// are parsed into [`SplitQuery::settings`].
///
/// Errors: a `|` with no SQL after it (or only settings), and a malformed
/// `set session` statement (no `=`, empty name or value, no closing `;`).
pub fn split_query(query: &str) -> Result<SplitQuery<'_>, ParseError> {
    let spans = split_spans(query)?;
    let search = if spans.search.0 == spans.search.1 {
        "*"
    } else {
        &query[spans.search.0..spans.search.1]
    };
    Ok(SplitQuery {
        search,
        search_offset: spans.search.0,
        settings: spans.settings,
        sql: spans.sql.map(|(start, end)| &query[start..end]),
        sql_offset: spans.sql.map_or(0, |(start, _)| start),
    })
}

/// Splits `query` (see [`split_query`]) and parses its search statement.
/// Error positions are byte offsets into `query`.
pub fn parse_query(query: &str) -> Result<Query, ParseError> {
    let spans = split_spans(query)?;
    let search = parse_search_in(query, spans.search.0, spans.search.1)?;
    Ok(Query {
        search,
        settings: spans.settings,
        sql: spans.sql.map(|(start, end)| query[start..end].to_string()),
    })
}

struct Spans {
    search: (usize, usize),
    settings: Vec<(String, String)>,
    sql: Option<(usize, usize)>,
}

/// The offset of the first `|` outside double quotes.
fn find_pipe(text: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut chars = text.char_indices();
    while let Some((index, ch)) = chars.next() {
        match ch {
            '"' => in_quotes = !in_quotes,
            '\\' if in_quotes => {
                chars.next();
            }
            '|' if !in_quotes => return Some(index),
            _ => {}
        }
    }
    None
}

/// `(start, end)` of `text[start..end]` with whitespace trimmed on both sides.
fn trimmed(text: &str, start: usize, end: usize) -> (usize, usize) {
    let part = &text[start..end];
    let lead = part.len() - part.trim_start().len();
    let trail = part.len() - part.trim_end().len();
    if lead == part.len() {
        return (start, start);
    }
    (start + lead, end - trail)
}

/// The length of a `set session ` prefix at the start of `text`, if any.
fn set_session_prefix(text: &str) -> Option<usize> {
    let ws_len = |s: &str| s.len() - s.trim_start().len();
    if !text.get(..3)?.eq_ignore_ascii_case("set") {
        return None;
    }
    let first_gap = ws_len(&text[3..]);
    if first_gap == 0 {
        return None;
    }
    let session = 3 + first_gap;
    if !text
        .get(session..session + 7)?
        .eq_ignore_ascii_case("session")
    {
        return None;
    }
    let second_gap = ws_len(&text[session + 7..]);
    (second_gap > 0).then_some(session + 7 + second_gap)
}

fn split_spans(query: &str) -> Result<Spans, ParseError> {
    let Some(pipe) = find_pipe(query) else {
        return Ok(Spans {
            search: trimmed(query, 0, query.len()),
            settings: Vec::new(),
            sql: None,
        });
    };
    let search = trimmed(query, 0, pipe);
    let (mut start, end) = trimmed(query, pipe + 1, query.len());
    let mut settings = Vec::new();
    while let Some(prefix) = set_session_prefix(&query[start..end]) {
        let body = start + prefix;
        let Some(semicolon) = query[body..end].find(';').map(|index| body + index) else {
            return Err(ParseError::new(
                query,
                start,
                "expected ';' after the set session statement",
            ));
        };
        let statement = &query[body..semicolon];
        let Some((name, value)) = statement.split_once('=') else {
            return Err(ParseError::new(
                query,
                body,
                "expected 'name=value' after 'set session'",
            ));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(ParseError::new(query, body, "invalid set session name"));
        }
        if value.is_empty() {
            return Err(ParseError::new(query, body, "missing set session value"));
        }
        settings.push((name.to_string(), value.to_string()));
        start = trimmed(query, semicolon + 1, end).0;
    }
    if start >= end {
        let message = if settings.is_empty() {
            "missing sql statement after '|'"
        } else {
            "missing sql statement after 'set session'"
        };
        return Err(ParseError::new(query, end, message));
    }
    Ok(Spans {
        search,
        settings,
        sql: Some((start, end)),
    })
}

#[cfg(test)]
mod tests {
    use super::{find_pipe, set_session_prefix, split_query};

    #[test]
    fn pipe_outside_quotes() {
        assert_eq!(find_pipe("a | b"), Some(2));
        assert_eq!(find_pipe(r#""a|b" | c"#), Some(6));
        assert_eq!(find_pipe(r#""a\"|b" | c"#), Some(8));
        assert_eq!(find_pipe(r#""a\\" | c"#), Some(6));
        assert_eq!(find_pipe(r#""a | b"#), None);
    }

    #[test]
    fn set_session_prefixes() {
        assert_eq!(set_session_prefix("set session a=b;"), Some(12));
        assert_eq!(set_session_prefix("SET  Session\ta=b;"), Some(13));
        assert_eq!(set_session_prefix("settings"), None);
        assert_eq!(set_session_prefix("set sessions"), None);
        assert_eq!(set_session_prefix("se"), None);
        assert_eq!(set_session_prefix("set é"), None);
    }

    #[test]
    fn offsets() {
        let split = split_query("  a:b  |  select 1 ").unwrap();
        assert_eq!((split.search, split.search_offset), ("a:b", 2));
        assert_eq!((split.sql, split.sql_offset), (Some("select 1"), 10));
        let split = split_query("   ").unwrap();
        assert_eq!((split.search, split.sql), ("*", None));
    }
}
