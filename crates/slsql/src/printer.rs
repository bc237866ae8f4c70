//! Prints search statements and queries back to SLS syntax, and quotes
//! untrusted strings for use in search statements.
//!
//! The output is canonical: explicit `and`/`or`, `field:value` without
//! spaces, `field op number` with spaces, values and fields bare when that is
//! unambiguous and quoted otherwise. It parses back to the same AST (checked
//! by the round-trip property tests). A compound operand of `not` is always
//! parenthesized, and a `not` that is not trailing in an `and` chain is too, so
//! the output does not depend on how tightly a reader binds `not`.

use std::fmt::{self, Display, Formatter};

use crate::ast::{Pattern, Query, SearchExpr};
use crate::parser::is_field_char;

/// Words printed quoted even where the grammar would not require it: the
/// operators, and the words SLS asks to be quoted (`sort asc desc group by avg
/// sum min max limit`). Compared case-insensitively.
const RESERVED: [&str; 14] = [
    "and", "or", "not", "in", "sort", "asc", "desc", "group", "by", "avg", "sum", "min", "max",
    "limit",
];

/// Characters that never appear in a bare value.
const VALUE_SPECIAL: [char; 13] = [
    '"', '(', ')', '|', '\\', ':', '=', '<', '>', '*', '?', '[', ']',
];

fn is_reserved(word: &str) -> bool {
    RESERVED
        .iter()
        .any(|reserved| word.eq_ignore_ascii_case(reserved))
}

fn write_quoted(f: &mut impl fmt::Write, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for ch in text.chars() {
        if matches!(ch, '"' | '\\') {
            f.write_char('\\')?;
        }
        f.write_char(ch)?;
    }
    f.write_char('"')
}

fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    // Writing to a String cannot fail.
    let _ = write_quoted(&mut out, text);
    out
}

fn is_bare_value(text: &str) -> bool {
    !text.is_empty()
        && !is_reserved(text)
        && !text
            .chars()
            .any(|ch| ch.is_whitespace() || ch.is_control() || VALUE_SPECIAL.contains(&ch))
}

fn is_bare_field(name: &str) -> bool {
    if name == "__tag__" {
        return false;
    }
    let rest = name.strip_prefix("__tag__:").unwrap_or(name);
    !rest.is_empty() && rest.chars().all(is_field_char) && !is_reserved(rest) && !is_reserved(name)
}

/// Writes `text` as a search value that reads back as a literal term with
/// exactly this text: bare when it is a plain word (no whitespace, control
/// characters, `"()|\:=<>*?[]`, and not a reserved word such as `and`), quoted
/// otherwise, with `"` and `\` escaped.
///
/// Quoted values are literal (`*` and `?` inside quotes are not wildcards), so
/// `quote_value(s)` alone, or after `field:`, always matches `s` itself.
pub fn quote_value(text: &str) -> String {
    if is_bare_value(text) {
        text.to_string()
    } else {
        quoted(text)
    }
}

/// Writes `name` as a search field name: bare when it is a plain name
/// (letters, digits, `_ . - @`, optionally after `__tag__:`, and not a reserved
/// word), quoted otherwise, with `"` and `\` escaped. Use it as
/// `{quote_field(name)}:{quote_value(value)}`.
pub fn quote_field(name: &str) -> String {
    if is_bare_field(name) {
        name.to_string()
    } else {
        quoted(name)
    }
}

/// Writes a pattern: a literal as [`quote_value`] does, a wildcard bare when
/// [`Pattern::is_expressible`] (otherwise quoted, which reads back literal).
fn write_pattern(f: &mut Formatter<'_>, pattern: &Pattern, fielded: bool) -> fmt::Result {
    match pattern {
        Pattern::Wildcard(text) if pattern.is_expressible(fielded) => f.write_str(text),
        Pattern::Literal(text) | Pattern::Wildcard(text) => f.write_str(&quote_value(text)),
    }
}

impl Display for Pattern {
    /// Prints the pattern as a full-text value (the strictest context).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_pattern(f, self, false)
    }
}

/// Writes `expr`, in parentheses unless it is a leaf.
fn write_atomic(f: &mut Formatter<'_>, expr: &SearchExpr) -> fmt::Result {
    if expr.is_leaf() {
        write!(f, "{expr}")
    } else {
        write!(f, "({expr})")
    }
}

fn write_and(f: &mut Formatter<'_>, items: &[SearchExpr]) -> fmt::Result {
    match items {
        [] => return f.write_str("*"),
        [only] => return write!(f, "{only}"),
        _ => {}
    }
    // Trailing `not` operands print as infix `and not x`, which parses back
    // into this chain; any other `not` operand is parenthesized.
    let trailing_nots = items
        .iter()
        .rev()
        .take_while(|item| matches!(item, SearchExpr::Not(_)))
        .count();
    let first_trailing = (items.len() - trailing_nots).max(1);
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(" and ")?;
        }
        match item {
            SearchExpr::Not(inner) if index >= first_trailing => {
                f.write_str("not ")?;
                write_atomic(f, inner)?;
            }
            SearchExpr::Not(inner) => {
                f.write_str("(not ")?;
                write_atomic(f, inner)?;
                f.write_str(")")?;
            }
            SearchExpr::And(_) | SearchExpr::Or(_) => write!(f, "({item})")?,
            leaf => write!(f, "{leaf}")?,
        }
    }
    Ok(())
}

fn write_or(f: &mut Formatter<'_>, items: &[SearchExpr]) -> fmt::Result {
    match items {
        [] => return f.write_str("not *"),
        [only] => return write!(f, "{only}"),
        _ => {}
    }
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(" or ")?;
        }
        match item {
            SearchExpr::Or(_) => write!(f, "({item})")?,
            other => write!(f, "{other}")?,
        }
    }
    Ok(())
}

impl Display for SearchExpr {
    /// Prints the statement in canonical SLS syntax; the output parses back to
    /// the same AST. Degenerate nodes print by meaning: an empty `And` as `*`,
    /// an empty `Or` as `not *`, a one-operand `And`/`Or` as its operand.
    /// Printing recurses, so the AST depth should be bounded (parsed ASTs are).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SearchExpr::All => f.write_str("*"),
            SearchExpr::Term { field: None, value } => write_pattern(f, value, false),
            SearchExpr::Term {
                field: Some(field),
                value,
            } => {
                write!(f, "{}:", quote_field(field))?;
                write_pattern(f, value, true)
            }
            SearchExpr::Compare { field, op, value } => {
                write!(f, "{} {op} {value}", quote_field(field))
            }
            SearchExpr::Range {
                field,
                low,
                high,
                low_inclusive,
                high_inclusive,
            } => write!(
                f,
                "{} in {}{low} {high}{}",
                quote_field(field),
                if *low_inclusive { '[' } else { '(' },
                if *high_inclusive { ']' } else { ')' },
            ),
            SearchExpr::And(items) => write_and(f, items),
            SearchExpr::Or(items) => write_or(f, items),
            SearchExpr::Not(inner) => {
                f.write_str("not ")?;
                write_atomic(f, inner)
            }
        }
    }
}

impl Display for Query {
    /// Prints `search`, or `search | set session k=v; … sql` when there is SQL.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.search)?;
        if let Some(sql) = &self.sql {
            f.write_str(" | ")?;
            for (name, value) in &self.settings {
                write!(f, "set session {name}={value}; ")?;
            }
            f.write_str(sql)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{quote_field, quote_value};
    use crate::ast::{Pattern, SearchExpr};

    #[test]
    fn quoting() {
        assert_eq!(quote_value("error"), "error");
        assert_eq!(quote_value("500"), "500");
        assert_eq!(quote_value(""), r#""""#);
        assert_eq!(quote_value("a b"), r#""a b""#);
        assert_eq!(quote_value("AND"), r#""AND""#);
        assert_eq!(quote_value("ab*"), r#""ab*""#);
        assert_eq!(quote_value(r#"say "hi" \o/"#), r#""say \"hi\" \\o/""#);
        assert_eq!(quote_field("level"), "level");
        assert_eq!(
            quote_field("__tag__:__receive_time__"),
            "__tag__:__receive_time__"
        );
        assert_eq!(quote_field("__tag__"), r#""__tag__""#);
        assert_eq!(quote_field("file info"), r#""file info""#);
        assert_eq!(quote_field("a:b"), r#""a:b""#);
        assert_eq!(quote_field("in"), r#""in""#);
    }

    #[test]
    fn wildcard_that_cannot_be_bare_prints_quoted() {
        let term = SearchExpr::Term {
            field: None,
            value: Pattern::Wildcard("a b*".into()),
        };
        assert_eq!(term.to_string(), r#""a b*""#);
        let fielded = SearchExpr::Term {
            field: Some("url".into()),
            value: Pattern::Wildcard("http://x/*".into()),
        };
        assert_eq!(fielded.to_string(), "url:http://x/*");
    }

    #[test]
    fn degenerate_nodes() {
        assert_eq!(SearchExpr::And(vec![]).to_string(), "*");
        assert_eq!(SearchExpr::Or(vec![]).to_string(), "not *");
        assert_eq!(SearchExpr::Or(vec![SearchExpr::term("a")]).to_string(), "a");
    }
}
