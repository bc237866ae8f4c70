//! The search-statement parser: a hand-written recursive-descent parser over
//! characters.
//!
//! Grammar (keywords `and`/`or`/`not` are case-insensitive; `in` must be
//! lowercase):
//!
//! ```text
//! statement := ws* ( or_expr ws* )?                 -- empty means `*`
//! or_expr   := not_expr ( OR not_expr )*
//! not_expr  := unary ( (AND)? NOT unary )*           -- `a not b` = a and not b
//! unary     := NOT unary | and_expr                  -- `not a b` = not (a and b)
//! and_expr  := primary ( (AND)? primary )*           -- adjacency is `and`
//! primary   := '(' or_expr ')' | '*' | condition
//! condition := field ':' value | field op number | field '=' value
//!            | field ws+ 'in' ws* ('['|'(') number ws+ number ws* (']'|')')
//!            | value
//! field     := '"' quoted '"' | name | '__tag__:' name
//! name      := ( alphanumeric | '_' | '.' | '-' | '@' )+
//! value     := '"' quoted '"' | bare word (up to whitespace, '(', ')', '"', '|')
//! ```
//!
//! This follows the documented precedence `:` > `""` > `()` > `and` > `not` >
//! `or`: `not` groups looser than `and` whether it is prefix or infix, and
//! `and not` is the same operator as infix `not`. So `a and not b and c` is
//! `a and not (b and c)`; the printer always parenthesizes a compound operand
//! of `not`, so its output means the same under any reading.
//!
//! A word is a field name only when `:` follows it directly, or a comparison
//! operator or ` in [n` follows after optional whitespace. A keyword is always
//! an operator unless quoted (`"not" > 5`); `not:x` is one word, a field term.
//! Whitespace may follow `:`; a term may not start with `:`, `=`, `<` or `>`.
//! Nesting (of parentheses and prefix `not`) is bounded by [`MAX_DEPTH`] and
//! the number of conditions by [`MAX_CONDITIONS`], both reported as errors.

use crate::ast::{CompareOp, Pattern, SearchExpr};
use crate::error::ParseError;

/// The most conditions (terms, comparisons, ranges) SLS allows in one search
/// statement.
pub const MAX_CONDITIONS: usize = 30;

/// The deepest nesting of parentheses and prefix `not` the parser accepts;
/// deeper input is an error rather than a stack overflow.
pub const MAX_DEPTH: usize = 64;

/// Parses a search statement. Empty or blank text is `*`. Error positions are
/// byte offsets into `text`.
pub fn parse_search(text: &str) -> Result<SearchExpr, ParseError> {
    parse_search_in(text, 0, text.len())
}

/// Parses `full[start..end]` as a search statement, with error positions in
/// `full`.
pub(crate) fn parse_search_in(
    full: &str,
    start: usize,
    end: usize,
) -> Result<SearchExpr, ParseError> {
    let mut parser = Parser {
        full,
        text: &full[..end],
        pos: start,
        depth: 0,
        conditions: 0,
    };
    parser.skip_ws();
    if parser.at_end() {
        return Ok(SearchExpr::All);
    }
    let expr = parser.or_expr()?;
    parser.skip_ws();
    if !parser.at_end() {
        return Err(parser.unexpected());
    }
    Ok(expr)
}

/// Whether `text` is a number as search comparisons and ranges accept it:
/// optional sign, digits with an optional fraction (or a fraction alone),
/// optional exponent.
pub(crate) fn is_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut index = 0;
    let digits = |index: &mut usize| {
        let start = *index;
        while bytes.get(*index).is_some_and(u8::is_ascii_digit) {
            *index += 1;
        }
        *index - start
    };
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        index += 1;
    }
    let mut mantissa = digits(&mut index);
    if bytes.get(index) == Some(&b'.') {
        index += 1;
        mantissa += digits(&mut index);
    }
    if mantissa == 0 {
        return false;
    }
    if matches!(bytes.get(index), Some(b'e' | b'E')) {
        index += 1;
        if matches!(bytes.get(index), Some(b'+' | b'-')) {
            index += 1;
        }
        if digits(&mut index) == 0 {
            return false;
        }
    }
    index == bytes.len()
}

/// Characters that end a bare word.
pub(crate) fn ends_word(ch: char) -> bool {
    ch.is_whitespace() || matches!(ch, '(' | ')' | '"' | '|')
}

/// Characters of a bare field name.
pub(crate) fn is_field_char(ch: char) -> bool {
    ch.is_alphanumeric() || matches!(ch, '_' | '.' | '-' | '@')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    And,
    Or,
    Not,
}

/// What follows a field name.
#[derive(Debug, Clone, Copy)]
enum Follow {
    /// `:`; the offset is just after it.
    Colon(usize),
    /// A comparison operator; the offset is just after it.
    Op(CompareOp, usize),
    /// ` in `; the offset is that of the opening bracket.
    In(usize),
}

struct FieldHead {
    name: String,
    start: usize,
    follow: Follow,
}

struct Parser<'a> {
    /// The whole text, for error line/column.
    full: &'a str,
    /// The text up to the end of the search statement.
    text: &'a str,
    pos: usize,
    depth: usize,
    conditions: usize,
}

type PResult<T> = Result<T, ParseError>;

fn collapse(mut items: Vec<SearchExpr>) -> SearchExpr {
    if items.len() == 1 {
        items.pop().unwrap_or(SearchExpr::All)
    } else {
        SearchExpr::And(items)
    }
}

impl<'a> Parser<'a> {
    // ----- primitives -----

    fn error_at(&self, position: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.full, position, message)
    }

    fn char_at(&self, position: usize) -> Option<char> {
        self.text.get(position..)?.chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn skip_ws_from(&self, mut position: usize) -> usize {
        while let Some(ch) = self.char_at(position) {
            if !ch.is_whitespace() {
                break;
            }
            position += ch.len_utf8();
        }
        position
    }

    fn skip_ws(&mut self) {
        self.pos = self.skip_ws_from(self.pos);
    }

    fn run_end(&self, mut position: usize, keep: impl Fn(char) -> bool) -> usize {
        while let Some(ch) = self.char_at(position) {
            if !keep(ch) {
                break;
            }
            position += ch.len_utf8();
        }
        position
    }

    fn word_end(&self, position: usize) -> usize {
        self.run_end(position, |ch| !ends_word(ch))
    }

    fn unexpected(&self) -> ParseError {
        match self.char_at(self.pos) {
            None => self.error_at(self.pos, "unexpected end of search statement"),
            Some(ch) => self.error_at(self.pos, format!("unexpected '{ch}'")),
        }
    }

    fn enter(&mut self, position: usize) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(
                position,
                format!("search statement nested too deeply (at most {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    fn count_condition(&mut self, position: usize) -> PResult<()> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(self.error_at(
                position,
                format!("too many conditions: a search statement allows at most {MAX_CONDITIONS}"),
            ));
        }
        Ok(())
    }

    /// A quoted string starting at `start` (a `"`): its unescaped text and the
    /// offset after the closing quote. `\"` and `\\` are escapes; a backslash
    /// before any other character is kept.
    fn quoted(&self, start: usize) -> PResult<(String, usize)> {
        let body = start + 1;
        let mut out = String::new();
        let mut chars = self.text[body..].char_indices();
        while let Some((index, ch)) = chars.next() {
            match ch {
                '"' => return Ok((out, body + index + 1)),
                '\\' => match chars.next() {
                    Some((_, escaped @ ('"' | '\\'))) => out.push(escaped),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                other => out.push(other),
            }
        }
        Err(self.error_at(start, "unterminated quoted string"))
    }

    // ----- lookahead -----

    /// What follows a field name ending at `end`, if it makes it a field name.
    fn follow(&self, end: usize) -> Option<Follow> {
        if self.char_at(end) == Some(':') {
            return Some(Follow::Colon(end + 1));
        }
        let after_ws = self.skip_ws_from(end);
        let rest = &self.text[after_ws..];
        const OPERATORS: [(&str, CompareOp); 5] = [
            (">=", CompareOp::Ge),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            ("<", CompareOp::Lt),
            ("=", CompareOp::Eq),
        ];
        for (token, op) in OPERATORS {
            if rest.starts_with(token) {
                return Some(Follow::Op(op, after_ws + token.len()));
            }
        }
        if after_ws > end && rest.starts_with("in") {
            let bracket = self.skip_ws_from(after_ws + 2);
            if matches!(self.char_at(bracket), Some('[' | '(')) {
                let number = self.skip_ws_from(bracket + 1);
                if self
                    .char_at(number)
                    .is_some_and(|ch| ch.is_ascii_digit() || matches!(ch, '+' | '-' | '.'))
                {
                    return Some(Follow::In(bracket));
                }
            }
        }
        None
    }

    /// The field name starting at `start`, when the text there is one.
    fn field_at(&self, start: usize) -> PResult<Option<FieldHead>> {
        if self.char_at(start) == Some('"') {
            let (name, end) = self.quoted(start)?;
            let Some(follow) = self.follow(end) else {
                return Ok(None);
            };
            if name.is_empty() {
                return Err(self.error_at(start, "empty field name"));
            }
            return Ok(Some(FieldHead {
                name,
                start,
                follow,
            }));
        }
        let end = self.run_end(start, is_field_char);
        if end == start {
            return Ok(None);
        }
        if &self.text[start..end] == "__tag__" && self.char_at(end) == Some(':') {
            let tag_end = self.run_end(end + 1, is_field_char);
            if tag_end > end + 1 {
                if let Some(follow) = self.follow(tag_end) {
                    let name = self.text[start..tag_end].to_string();
                    return Ok(Some(FieldHead {
                        name,
                        start,
                        follow,
                    }));
                }
            }
        }
        let name = self.text[start..end].to_string();
        Ok(self.follow(end).map(|follow| FieldHead {
            name,
            start,
            follow,
        }))
    }

    /// The operator keyword at `position`, with the offset after it: a whole
    /// bare word (so `not:x` and `android` are not keywords).
    fn keyword_at(&self, position: usize) -> Option<(Keyword, usize)> {
        let end = self.word_end(position);
        let word = &self.text[position..end];
        let keyword = if word.eq_ignore_ascii_case("and") {
            Keyword::And
        } else if word.eq_ignore_ascii_case("or") {
            Keyword::Or
        } else if word.eq_ignore_ascii_case("not") {
            Keyword::Not
        } else {
            return None;
        };
        Some((keyword, end))
    }

    /// Fails unless an operand can start after the operator `operator`.
    fn expect_operand(&self, operator: &str) -> PResult<()> {
        let at = self.skip_ws_from(self.pos);
        let missing = match self.char_at(at) {
            None | Some(')' | '|') => true,
            Some(_) => matches!(self.keyword_at(at), Some((Keyword::And | Keyword::Or, _))),
        };
        if missing {
            return Err(self.error_at(at, format!("expected a term after '{operator}'")));
        }
        Ok(())
    }

    // ----- grammar -----

    fn or_expr(&mut self) -> PResult<SearchExpr> {
        let mut items = vec![self.not_expr()?];
        loop {
            self.skip_ws();
            match self.keyword_at(self.pos) {
                Some((Keyword::Or, end)) => {
                    self.pos = end;
                    self.expect_operand("or")?;
                    items.push(self.not_expr()?);
                }
                _ => break,
            }
        }
        Ok(if items.len() == 1 {
            collapse(items)
        } else {
            SearchExpr::Or(items)
        })
    }

    fn not_expr(&mut self) -> PResult<SearchExpr> {
        let mut items = self.unary()?;
        let mut negated = Vec::new();
        loop {
            self.skip_ws();
            match self.keyword_at(self.pos) {
                Some((Keyword::Not, end)) => self.pos = end,
                Some((Keyword::And, end)) => match self.keyword_at(self.skip_ws_from(end)) {
                    Some((Keyword::Not, not_end)) => self.pos = not_end,
                    _ => break,
                },
                _ => break,
            }
            self.expect_operand("not")?;
            let operand = self.unary()?;
            negated.push(SearchExpr::Not(Box::new(collapse(operand))));
        }
        if negated.is_empty() {
            return Ok(collapse(items));
        }
        items.extend(negated);
        Ok(SearchExpr::And(items))
    }

    /// Prefix `not`s and the `and` chain they apply to. Returns the chain's
    /// operands (one `Not` when negated) so infix `not` can extend it.
    fn unary(&mut self) -> PResult<Vec<SearchExpr>> {
        self.skip_ws();
        if let Some((Keyword::Not, end)) = self.keyword_at(self.pos) {
            self.enter(self.pos)?;
            self.pos = end;
            self.expect_operand("not")?;
            let operand = self.unary()?;
            self.depth -= 1;
            return Ok(vec![SearchExpr::Not(Box::new(collapse(operand)))]);
        }
        self.and_expr()
    }

    fn and_expr(&mut self) -> PResult<Vec<SearchExpr>> {
        let mut items = vec![self.primary()?];
        loop {
            self.skip_ws();
            match self.char_at(self.pos) {
                None | Some(')' | '|') => break,
                Some(_) => {}
            }
            match self.keyword_at(self.pos) {
                Some((Keyword::Or | Keyword::Not, _)) => break,
                Some((Keyword::And, end)) => {
                    let next = self.skip_ws_from(end);
                    if matches!(self.keyword_at(next), Some((Keyword::Not, _))) {
                        break;
                    }
                    self.pos = end;
                    self.expect_operand("and")?;
                    items.push(self.primary()?);
                }
                None => items.push(self.primary()?),
            }
        }
        Ok(items)
    }

    fn primary(&mut self) -> PResult<SearchExpr> {
        self.skip_ws();
        let start = self.pos;
        let Some(first) = self.char_at(start) else {
            return Err(self.unexpected());
        };
        match first {
            '(' => {
                self.enter(start)?;
                self.pos += 1;
                self.skip_ws();
                if self.char_at(self.pos) == Some(')') {
                    return Err(self.error_at(start, "empty parentheses"));
                }
                let inner = self.or_expr()?;
                self.skip_ws();
                match self.char_at(self.pos) {
                    Some(')') => self.pos += 1,
                    None => {
                        return Err(
                            self.error_at(start, "unbalanced parentheses: '(' is never closed")
                        )
                    }
                    Some(_) => return Err(self.unexpected()),
                }
                self.depth -= 1;
                Ok(inner)
            }
            ')' | '|' => Err(self.unexpected()),
            ':' | '=' | '<' | '>' => {
                Err(self.error_at(start, format!("expected a field name before '{first}'")))
            }
            _ => {
                if let Some((keyword, _)) = self.keyword_at(start) {
                    let word = match keyword {
                        Keyword::And => "and",
                        Keyword::Or => "or",
                        Keyword::Not => "not",
                    };
                    return Err(self.error_at(start, format!("unexpected '{word}'")));
                }
                if let Some(head) = self.field_at(start)? {
                    return self.field_condition(head);
                }
                if first == '"' {
                    let (text, end) = self.quoted(start)?;
                    self.count_condition(start)?;
                    self.pos = end;
                    return Ok(SearchExpr::Term {
                        field: None,
                        value: Pattern::Literal(text),
                    });
                }
                let end = self.word_end(start);
                if &self.text[start..end] == "*" {
                    self.pos = end;
                    return Ok(SearchExpr::All);
                }
                let value = self.bare_pattern(start, end)?;
                self.count_condition(start)?;
                self.pos = end;
                Ok(SearchExpr::Term { field: None, value })
            }
        }
    }

    /// The bare word `text[start..end]` as a pattern.
    fn bare_pattern(&self, start: usize, end: usize) -> PResult<Pattern> {
        let word = &self.text[start..end];
        if let Some(wildcard) = word.chars().next().filter(|ch| matches!(ch, '*' | '?')) {
            return Err(self.error_at(
                start,
                format!(
                    "wildcard '{wildcard}' cannot start a term (suffix search is not supported)"
                ),
            ));
        }
        Ok(if word.contains(['*', '?']) {
            Pattern::Wildcard(word.to_string())
        } else {
            Pattern::Literal(word.to_string())
        })
    }

    /// A quoted or bare value at `start`, or `None` when there is none.
    fn value_at(&self, start: usize) -> PResult<Option<(Pattern, usize)>> {
        match self.char_at(start) {
            Some('"') => {
                let (text, end) = self.quoted(start)?;
                Ok(Some((Pattern::Literal(text), end)))
            }
            Some(ch) if !ends_word(ch) => {
                let end = self.word_end(start);
                Ok(Some((self.bare_pattern(start, end)?, end)))
            }
            _ => Ok(None),
        }
    }

    fn field_condition(&mut self, head: FieldHead) -> PResult<SearchExpr> {
        let field = head.name;
        match head.follow {
            Follow::Colon(after) => {
                let start = self.skip_ws_from(after);
                let Some((value, end)) = self.value_at(start)? else {
                    return Err(self.error_at(start, "expected a value after ':'"));
                };
                self.count_condition(head.start)?;
                self.pos = end;
                Ok(SearchExpr::Term {
                    field: Some(field),
                    value,
                })
            }
            Follow::Op(op, after) => {
                let start = self.skip_ws_from(after);
                let end = self.word_end(start);
                let word = &self.text[start..end];
                if is_number(word) {
                    self.count_condition(head.start)?;
                    self.pos = end;
                    return Ok(SearchExpr::Compare {
                        field,
                        op,
                        value: word.to_string(),
                    });
                }
                if op != CompareOp::Eq {
                    return Err(self.error_at(start, format!("expected a number after '{op}'")));
                }
                let Some((value, end)) = self.value_at(start)? else {
                    return Err(self.error_at(start, "expected a value after '='"));
                };
                self.count_condition(head.start)?;
                self.pos = end;
                Ok(SearchExpr::Term {
                    field: Some(field),
                    value,
                })
            }
            Follow::In(bracket) => self.range(field, head.start, bracket),
        }
    }

    fn range(&mut self, field: String, start: usize, bracket: usize) -> PResult<SearchExpr> {
        let low_inclusive = self.char_at(bracket) == Some('[');
        let bound = |parser: &Self, at: usize| -> PResult<(String, usize)> {
            let end = parser.run_end(at, |ch| {
                !ch.is_whitespace() && !matches!(ch, '[' | ']' | '(' | ')')
            });
            let text = &parser.text[at..end];
            if !is_number(text) {
                return Err(parser.error_at(at, "invalid range bound: expected a number"));
            }
            Ok((text.to_string(), end))
        };
        let (low, low_end) = bound(self, self.skip_ws_from(bracket + 1))?;
        let high_start = self.skip_ws_from(low_end);
        if high_start == low_end {
            let message = match self.char_at(high_start) {
                Some(']' | ')') | None => "invalid range: expected two bounds",
                Some(_) => "expected whitespace between range bounds",
            };
            return Err(self.error_at(high_start, message));
        }
        let (high, high_end) = bound(self, high_start)?;
        let close = self.skip_ws_from(high_end);
        let high_inclusive = match self.char_at(close) {
            Some(']') => true,
            Some(')') => false,
            _ => return Err(self.error_at(close, "expected ']' or ')' to close the range")),
        };
        self.count_condition(start)?;
        self.pos = close + 1;
        Ok(SearchExpr::Range {
            field,
            low,
            high,
            low_inclusive,
            high_inclusive,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{is_number, parse_search};
    use crate::ast::{CompareOp, Pattern, SearchExpr};

    fn term(value: &str) -> SearchExpr {
        SearchExpr::term(value)
    }

    #[test]
    fn numbers() {
        for good in [
            "0", "-1", "+2", "1.5", ".5", "5.", "1e3", "1E-3", "-2.5e+10",
        ] {
            assert!(is_number(good), "{good}");
        }
        for bad in [
            "", "-", ".", "e3", "1e", "1.2.3", "abc", "1a", "inf", "NaN", "1 ",
        ] {
            assert!(!is_number(bad), "{bad}");
        }
    }

    #[test]
    fn empty_is_all() {
        assert_eq!(parse_search("").unwrap(), SearchExpr::All);
        assert_eq!(parse_search("  \n").unwrap(), SearchExpr::All);
        assert_eq!(parse_search("*").unwrap(), SearchExpr::All);
    }

    #[test]
    fn adjacency_is_and() {
        assert_eq!(
            parse_search("a b").unwrap(),
            SearchExpr::And(vec![term("a"), term("b")])
        );
    }

    #[test]
    fn keyword_as_field_name() {
        assert_eq!(
            parse_search("not:x").unwrap(),
            SearchExpr::field_term("not", "x")
        );
        assert_eq!(
            parse_search(r#""AND" > 5"#).unwrap(),
            SearchExpr::Compare {
                field: "AND".into(),
                op: CompareOp::Gt,
                value: "5".into()
            }
        );
        assert!(parse_search("AND > 5").is_err());
        assert_eq!(
            parse_search("x and in[1*").unwrap(),
            SearchExpr::And(vec![
                term("x"),
                SearchExpr::Term {
                    field: None,
                    value: Pattern::Wildcard("in[1*".into())
                }
            ])
        );
    }

    #[test]
    fn backslash_in_quotes() {
        assert_eq!(parse_search(r#""a\"b\\c\d""#).unwrap(), term(r#"a"b\c\d"#));
        assert_eq!(
            parse_search(r"path:C:\dir*").unwrap(),
            SearchExpr::Term {
                field: Some("path".into()),
                value: Pattern::Wildcard(r"C:\dir*".into())
            }
        );
    }

    #[test]
    fn depth_counts_prefix_not() {
        let deep = "not ".repeat(65) + "a";
        assert!(parse_search(&deep)
            .unwrap_err()
            .message
            .contains("nested too deeply"));
        let ok = "not ".repeat(64) + "a";
        assert!(parse_search(&ok).is_ok());
    }
}
