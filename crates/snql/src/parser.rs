//! A scannerless PEG parser for SnQL.
//!
//! Snuba parses SnQL with a parsimonious (PEG) grammar; whitespace is part of
//! the grammar (`WHERE` needs a space on both sides, `ORDER BY` is one token,
//! `ASC`/`DESC` must be separated from the expression). Parsing characters
//! directly, with ordered choice and backtracking, reproduces those rules
//! without a tokenizer that would blur them. Failures record the furthest
//! position reached, which is what the error message points at.

use crate::ast::{
    Direction, EntityMatch, Expr, ExprKind, LimitBy, Literal, OrderBy, Query, Relationship,
    SelectedExpr, Source, Span, COMPARISON_OPERATORS,
};
use crate::error::ParseError;
use crate::literal::decode_string;
use crate::passes;

/// The largest `LIMIT` Snuba accepts.
pub const MAX_LIMIT: u64 = 10_000;

/// Deepest nesting of parentheses, braces and calls the parser follows; deeper
/// input is rejected instead of exhausting the stack.
const MAX_DEPTH: usize = 128;

/// Parses SnQL and applies Snuba's entity-agnostic post-parse rules
/// (see [`passes::apply`]).
pub fn parse(text: &str) -> Result<Query, ParseError> {
    let query = parse_initial(text)?;
    passes::apply(query)
}

/// Parses SnQL with the grammar only (the grammar stage of Snuba's
/// `parse_snql_query_initial`): AND/OR are nested in binary form, nothing else
/// is rewritten or checked.
pub fn parse_initial(text: &str) -> Result<Query, ParseError> {
    let mut parser = Parser::new(text);
    let parsed = parser.query_at_top();
    match parsed {
        Ok(query) => Ok(query),
        Err(Fail) => Err(parser.syntax_error()),
    }
}

/// Marker for a failed alternative; the details live in the parser.
#[derive(Debug)]
struct Fail;

type PResult<T> = Result<T, Fail>;

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    furthest: usize,
    expected: Vec<&'static str>,
    /// A semantic error found while parsing (bad escape, bad number); it wins
    /// over the generic syntax error.
    semantic: Option<ParseError>,
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | b'\t' | b'\r' | b'\x0b' | b'\x0c')
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
            furthest: 0,
            expected: Vec::new(),
            semantic: None,
        }
    }

    // ----- error reporting -----

    fn fail<T>(&mut self, expected: &'static str) -> PResult<T> {
        if self.pos > self.furthest {
            self.furthest = self.pos;
            self.expected.clear();
        }
        if self.pos == self.furthest && !self.expected.contains(&expected) {
            self.expected.push(expected);
        }
        Err(Fail)
    }

    fn semantic_error<T>(&mut self, error: ParseError) -> PResult<T> {
        if self.semantic.is_none() {
            self.semantic = Some(error);
        }
        Err(Fail)
    }

    fn syntax_error(&mut self) -> ParseError {
        if let Some(error) = self.semantic.take() {
            return error;
        }
        let position = self.furthest.min(self.text.len());
        let line = self.text[..position].matches('\n').count() + 1;
        let before = floor_char_boundary(self.text, position.saturating_sub(3));
        let after = floor_char_boundary(self.text, (position + 10).min(self.text.len()));
        ParseError::Syntax {
            line,
            position,
            snippet: self.text[before..after].to_string(),
            expected: self.expected.join(" or "),
        }
    }

    // ----- primitives -----

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Runs `rule`; on failure, restores the position.
    fn attempt<T>(&mut self, rule: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        let start = self.pos;
        let depth = self.depth;
        let result = rule(self);
        if result.is_err() {
            self.pos = start;
            self.depth = depth;
        }
        result
    }

    fn optional<T>(&mut self, rule: impl FnOnce(&mut Self) -> PResult<T>) -> Option<T> {
        self.attempt(rule).ok()
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.semantic_error(ParseError::invalid_at(
                format!("query is nested more than {MAX_DEPTH} levels deep"),
                self.pos,
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn ws0(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    fn ws1(&mut self) -> PResult<()> {
        if !self.peek().is_some_and(is_space) {
            return self.fail("whitespace");
        }
        self.ws0();
        Ok(())
    }

    fn symbol(&mut self, symbol: &'static str) -> PResult<()> {
        if self.bytes[self.pos..].starts_with(symbol.as_bytes()) {
            self.pos += symbol.len();
            Ok(())
        } else {
            self.fail(symbol)
        }
    }

    /// A keyword: exact (case-sensitive) text not followed by a word character.
    fn keyword(&mut self, keyword: &'static str) -> PResult<()> {
        let end = self.pos + keyword.len();
        let matches = self.bytes[self.pos..].starts_with(keyword.as_bytes())
            && !self.bytes.get(end).copied().is_some_and(is_word_byte);
        if matches {
            self.pos = end;
            Ok(())
        } else {
            self.fail(keyword)
        }
    }

    /// A case-insensitive keyword (`NULL`, `TRUE`, `FALSE`).
    fn keyword_ci(&mut self, keyword: &'static str) -> PResult<()> {
        let end = self.pos + keyword.len();
        let matches = self
            .bytes
            .get(self.pos..end)
            .is_some_and(|slice| slice.eq_ignore_ascii_case(keyword.as_bytes()))
            && !self.bytes.get(end).copied().is_some_and(is_word_byte);
        if matches {
            self.pos = end;
            Ok(())
        } else {
            self.fail(keyword)
        }
    }

    /// `[a-zA-Z_]` followed by bytes accepted by `rest`.
    fn name(&mut self, rest: fn(u8) -> bool, what: &'static str) -> PResult<&'a str> {
        let start = self.pos;
        match self.peek() {
            Some(byte) if byte.is_ascii_alphabetic() || byte == b'_' => self.pos += 1,
            _ => return self.fail(what),
        }
        while self.peek().is_some_and(rest) {
            self.pos += 1;
        }
        Ok(&self.text[start..self.pos])
    }

    fn identifier_name(&mut self, what: &'static str) -> PResult<&'a str> {
        self.name(is_word_byte, what)
    }

    fn column_name(&mut self) -> PResult<&'a str> {
        self.name(
            |byte| is_word_byte(byte) || matches!(byte, b'.' | b':' | b'@' | b'/'),
            "column name",
        )
    }

    fn unsigned(&mut self) -> PResult<u64> {
        let start = self.pos;
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == start {
            return self.fail("integer");
        }
        match self.text[start..self.pos].parse::<u64>() {
            Ok(value) => Ok(value),
            Err(_) => self.semantic_error(ParseError::invalid_at("integer out of range", start)),
        }
    }

    // ----- query structure -----

    fn query_at_top(&mut self) -> PResult<Query> {
        self.ws0();
        let query = self.query()?;
        self.ws0();
        if !self.at_end() {
            return self.fail("end of query");
        }
        Ok(query)
    }

    fn query(&mut self) -> PResult<Query> {
        self.keyword("MATCH")?;
        self.ws1()?;
        let source = self.source()?;
        self.ws0();
        self.keyword("SELECT")?;
        self.ws1()?;
        let selected = self.selected_list()?;

        let group_by = self
            .optional(|p| {
                p.ws1()?;
                p.keyword("BY")?;
                p.ws1()?;
                p.selected_list()
            })
            .unwrap_or_default();
        let array_join = self
            .optional(|p| {
                p.ws1()?;
                p.keyword("ARRAY JOIN")?;
                p.ws1()?;
                p.comma_list(Self::subscript_or_column)
            })
            .unwrap_or_default();
        let condition = self.optional(|p| {
            p.ws1()?;
            p.keyword("WHERE")?;
            p.ws1()?;
            p.or_condition()
        });
        let having = self.optional(|p| {
            p.ws1()?;
            p.keyword("HAVING")?;
            p.ws1()?;
            p.or_condition()
        });
        let order_by = self
            .optional(|p| {
                p.ws1()?;
                p.keyword("ORDER BY")?;
                p.ws1()?;
                p.comma_list(Self::order_item)
            })
            .unwrap_or_default();
        let limit_by = self.optional(|p| {
            p.ws1()?;
            p.keyword("LIMIT")?;
            p.ws1()?;
            let limit = p.unsigned()?;
            p.ws1()?;
            p.keyword("BY")?;
            p.ws1()?;
            let columns = p.comma_list(Self::limit_by_column)?;
            Ok(LimitBy { limit, columns })
        });
        let limit = self.optional(|p| p.number_clause("LIMIT"));
        let offset = self.optional(|p| p.number_clause("OFFSET"));
        let granularity = self.optional(|p| p.number_clause("GRANULARITY"));
        let totals = self.optional(|p| {
            p.ws1()?;
            p.keyword("TOTALS")?;
            p.ws1()?;
            p.boolean()
        });

        let mut select = group_by.clone();
        select.extend(selected);
        Ok(Query {
            source,
            select,
            group_by,
            array_join,
            condition,
            having,
            order_by,
            limit_by,
            limit,
            offset,
            granularity,
            totals,
        })
    }

    fn number_clause(&mut self, keyword: &'static str) -> PResult<u64> {
        self.ws1()?;
        self.keyword(keyword)?;
        self.ws1()?;
        self.unsigned()
    }

    fn boolean(&mut self) -> PResult<bool> {
        if self.attempt(|p| p.keyword_ci("TRUE")).is_ok() {
            return Ok(true);
        }
        self.keyword_ci("FALSE").map(|_| false)
    }

    fn comma_list<T>(&mut self, mut item: impl FnMut(&mut Self) -> PResult<T>) -> PResult<Vec<T>> {
        let mut items = vec![item(self)?];
        loop {
            let next = self.attempt(|p| {
                p.ws0();
                p.symbol(",")?;
                p.ws0();
                item(p)
            });
            match next {
                Ok(value) => items.push(value),
                Err(Fail) => return Ok(items),
            }
        }
    }

    fn source(&mut self) -> PResult<Source> {
        if let Ok(relationships) = self.attempt(|p| p.comma_list(Self::relationship)) {
            return Ok(Source::Join(relationships));
        }
        if let Ok(subquery) = self.attempt(Self::subquery) {
            return Ok(Source::Subquery(Box::new(subquery)));
        }
        if let Ok(storage) = self.attempt(|p| {
            p.symbol("STORAGE(")?;
            p.ws0();
            let entity = p.entity_body(false, true)?;
            p.ws0();
            p.symbol(")")?;
            Ok(entity)
        }) {
            return Ok(Source::Storage(storage));
        }
        self.symbol("(")?;
        self.ws0();
        let entity = self.entity_body(false, false)?;
        self.ws0();
        self.symbol(")")?;
        Ok(Source::Entity(entity))
    }

    fn subquery(&mut self) -> PResult<Query> {
        self.symbol("{")?;
        self.enter()?;
        self.ws0();
        let query = self.query()?;
        self.ws0();
        self.symbol("}")?;
        self.leave();
        Ok(query)
    }

    /// `[alias ":"] name [SAMPLE n]` inside parentheses.
    fn entity_body(&mut self, with_alias: bool, storage: bool) -> PResult<EntityMatch> {
        let alias = if with_alias {
            let alias = self.identifier_name("entity alias")?.to_string();
            self.ws0();
            self.symbol(":")?;
            self.ws0();
            Some(alias)
        } else {
            None
        };
        let start = self.pos;
        let name = if storage {
            self.identifier_name("storage name")?
        } else {
            self.name(
                |byte| byte.is_ascii_alphabetic() || byte == b'_',
                "entity name",
            )?
        };
        let span = Span::new(start, self.pos);
        let sample = self.optional(|p| {
            p.ws1()?;
            p.keyword("SAMPLE")?;
            p.ws1()?;
            match p.number()? {
                Literal::Int(value) => Ok(value as f64),
                Literal::Float(value) => Ok(value),
                _ => p.fail("sample rate"),
            }
        });
        Ok(EntityMatch {
            alias,
            name: name.to_string(),
            sample,
            span,
        })
    }

    fn relationship(&mut self) -> PResult<Relationship> {
        self.ws0();
        let lhs = self.aliased_entity()?;
        self.ws0();
        self.symbol("-[")?;
        let name = self.identifier_name("relationship name")?.to_string();
        self.symbol("]->")?;
        self.ws0();
        let rhs = self.aliased_entity()?;
        Ok(Relationship { lhs, name, rhs })
    }

    fn aliased_entity(&mut self) -> PResult<EntityMatch> {
        self.symbol("(")?;
        self.ws0();
        let entity = self.entity_body(true, false)?;
        self.ws0();
        self.symbol(")")?;
        Ok(entity)
    }

    // ----- selected expressions -----

    fn selected_list(&mut self) -> PResult<Vec<SelectedExpr>> {
        self.comma_list(Self::selected)
    }

    fn selected(&mut self) -> PResult<SelectedExpr> {
        let start = self.pos;
        // A bare column, tag or subscript may carry an alias only here, at the
        // top of SELECT and BY.
        let expr = match self.attempt(|p| {
            let mut expr = p.subscript_or_column()?;
            p.ws1()?;
            p.keyword("AS")?;
            p.ws1()?;
            expr.alias = Some(p.alias()?);
            expr.span.end = p.pos;
            Ok(expr)
        }) {
            Ok(expr) => expr,
            Err(Fail) => self.expression()?,
        };
        let name = match &expr.alias {
            Some(alias) => alias.clone(),
            None => self.text[start..self.pos].trim().to_string(),
        };
        Ok(SelectedExpr { name, expr })
    }

    fn alias(&mut self) -> PResult<String> {
        if self.peek() == Some(b'`') {
            self.pos += 1;
            let start = self.pos;
            while self
                .peek()
                .is_some_and(|byte| byte.is_ascii_alphanumeric() || b"_.+*/:-[]()@".contains(&byte))
            {
                self.pos += 1;
            }
            let alias = self.text[start..self.pos].to_string();
            self.symbol("`")?;
            return Ok(alias);
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|byte| byte.is_ascii_alphanumeric() || b"_.+*/:-[]".contains(&byte))
        {
            self.pos += 1;
        }
        if self.pos == start {
            return self.fail("alias");
        }
        Ok(self.text[start..self.pos].to_string())
    }

    fn order_item(&mut self) -> PResult<OrderBy> {
        let expr = self.expression()?;
        self.ws1()?;
        let direction = if self.attempt(|p| p.keyword("ASC")).is_ok() {
            Direction::Asc
        } else {
            self.keyword("DESC")?;
            Direction::Desc
        };
        Ok(OrderBy { expr, direction })
    }

    fn limit_by_column(&mut self) -> PResult<Expr> {
        self.subscript_or_column()
    }

    // ----- conditions -----

    fn or_condition(&mut self) -> PResult<Expr> {
        self.enter()?;
        let parts = self.keyword_separated(b"OR", Self::and_condition)?;
        self.leave();
        Ok(nest_binary("or", parts))
    }

    fn and_condition(&mut self) -> PResult<Expr> {
        let parts = self.keyword_separated(b"AND", Self::condition)?;
        Ok(nest_binary("and", parts))
    }

    /// `item (ws+ KEYWORD ws* item)*`. As in Snuba's grammar, nothing needs
    /// to separate `AND`/`OR` from the condition after it (`ANDtimestamp >= …`
    /// parses).
    fn keyword_separated(
        &mut self,
        keyword: &'static [u8],
        item: fn(&mut Self) -> PResult<Expr>,
    ) -> PResult<Vec<Expr>> {
        let mut items = vec![item(self)?];
        while let Ok(next) = self.attempt(|p| {
            p.ws1()?;
            if !p.bytes[p.pos..].starts_with(keyword) {
                return p.fail("AND or OR");
            }
            p.pos += keyword.len();
            p.ws0();
            item(p)
        }) {
            items.push(next);
        }
        Ok(items)
    }

    fn condition(&mut self) -> PResult<Expr> {
        let start = self.pos;
        if let Ok(expr) = self.attempt(|p| {
            let operand = p.expression()?;
            p.ws1()?;
            p.keyword("IS")?;
            p.ws1()?;
            let name = if p
                .attempt(|p| p.keyword("NOT").and_then(|_| p.ws1()))
                .is_ok()
            {
                "isNotNull"
            } else {
                "isNull"
            };
            p.keyword_ci("NULL")?;
            Ok(spanned(Expr::function(name, vec![operand]), start, p.pos))
        }) {
            return Ok(expr);
        }
        if let Ok(expr) = self.attempt(|p| {
            let lhs = p.expression()?;
            p.ws0();
            let function = p.condition_operator()?;
            p.ws0();
            let rhs = match p.attempt(Self::function_call) {
                Ok(call) => call,
                Err(Fail) => p.simple_term()?,
            };
            Ok(spanned(
                Expr::function(function, vec![lhs, rhs]),
                start,
                p.pos,
            ))
        }) {
            return Ok(expr);
        }
        self.symbol("(")?;
        self.ws0();
        let inner = self.or_condition()?;
        self.ws0();
        self.symbol(")")?;
        Ok(inner)
    }

    fn condition_operator(&mut self) -> PResult<&'static str> {
        const SYMBOLS: &[(&str, &str)] = &[
            ("!=", "notEquals"),
            (">=", "greaterOrEquals"),
            (">", "greater"),
            ("<=", "lessOrEquals"),
            ("<", "less"),
            ("=", "equals"),
        ];
        for (symbol, function) in SYMBOLS {
            if self.attempt(|p| p.symbol(symbol)).is_ok() {
                return Ok(function);
            }
        }
        if self
            .attempt(|p| {
                p.keyword("NOT")?;
                p.ws1()?;
                p.keyword("IN")
            })
            .is_ok()
        {
            return Ok("notIn");
        }
        if self
            .attempt(|p| {
                p.keyword("NOT")?;
                p.ws1()?;
                p.keyword("LIKE")
            })
            .is_ok()
        {
            return Ok("notLike");
        }
        if self.attempt(|p| p.keyword("IN")).is_ok() {
            return Ok("in");
        }
        self.keyword("LIKE").map(|_| "like")
    }

    // ----- expressions -----

    /// `term (("+"|"-") term)*`, left-associative like Snuba.
    fn expression(&mut self) -> PResult<Expr> {
        self.enter()?;
        let start = self.pos;
        let mut left = self.product()?;
        while let Ok((name, right)) = self.attempt(|p| {
            p.ws0();
            let name = if p.attempt(|p| p.symbol("+")).is_ok() {
                "plus"
            } else {
                p.symbol("-")?;
                "minus"
            };
            p.ws0();
            Ok((name, p.product()?))
        }) {
            left = spanned(Expr::function(name, vec![left, right]), start, self.pos);
        }
        self.leave();
        Ok(left)
    }

    fn product(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let mut left = self.atom()?;
        while let Ok((name, right)) = self.attempt(|p| {
            p.ws0();
            let name = if p.attempt(|p| p.symbol("*")).is_ok() {
                "multiply"
            } else {
                p.symbol("/")?;
                "divide"
            };
            p.ws0();
            Ok((name, p.atom()?))
        }) {
            left = spanned(Expr::function(name, vec![left, right]), start, self.pos);
        }
        Ok(left)
    }

    fn atom(&mut self) -> PResult<Expr> {
        if let Ok(call) = self.attempt(Self::function_call) {
            return Ok(call);
        }
        if let Ok(subscript) = self.attempt(Self::subscript) {
            return Ok(subscript);
        }
        if let Ok(term) = self.attempt(Self::simple_term) {
            return Ok(term);
        }
        self.symbol("(")?;
        self.ws0();
        let inner = self.expression()?;
        self.ws0();
        self.symbol(")")?;
        Ok(inner)
    }

    fn subscript_or_column(&mut self) -> PResult<Expr> {
        if let Ok(subscript) = self.attempt(Self::subscript) {
            return Ok(subscript);
        }
        let start = self.pos;
        let name = self.column_name()?;
        Ok(spanned(Expr::column(name), start, self.pos))
    }

    fn subscript(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let column = self.column_name()?;
        self.symbol("[")?;
        let key_start = self.pos;
        while self.peek().is_some_and(|byte| byte != b'[' && byte != b']') {
            self.pos += 1;
        }
        let key = &self.text[key_start..self.pos];
        self.symbol("]")?;
        let kind = ExprKind::Subscript {
            column: column.to_string(),
            key: key.to_string(),
        };
        Ok(spanned(Expr::new(kind), start, self.pos))
    }

    fn simple_term(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let literal = match self.peek() {
            Some(b'\'') => self.string()?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            _ => {
                if self.attempt(|p| p.keyword_ci("NULL")).is_ok() {
                    Literal::Null
                } else if self.attempt(|p| p.keyword_ci("TRUE")).is_ok() {
                    Literal::Bool(true)
                } else if self.attempt(|p| p.keyword_ci("FALSE")).is_ok() {
                    Literal::Bool(false)
                } else {
                    let name = self.column_name()?;
                    return Ok(spanned(Expr::column(name), start, self.pos));
                }
            }
        };
        Ok(spanned(Expr::literal(literal), start, self.pos))
    }

    /// `'…'` where a quote preceded by an odd number of backslashes is escaped.
    fn string(&mut self) -> PResult<Literal> {
        let start = self.pos;
        self.symbol("'")?;
        let body_start = self.pos;
        loop {
            match self.peek() {
                None => {
                    self.pos = start;
                    return self.fail("closing quote");
                }
                Some(b'\\') => self.pos = (self.pos + 2).min(self.bytes.len()),
                Some(b'\'') => break,
                Some(_) => self.pos += 1,
            }
        }
        let body = &self.text[body_start..self.pos];
        self.pos += 1;
        match decode_string(body) {
            Ok(value) => Ok(Literal::String(value)),
            Err(message) => self.semantic_error(ParseError::invalid_at(message, start)),
        }
    }

    /// `-?[0-9]+(\.[0-9]+)?(e[+-][0-9]+)?`: an integer when there is no
    /// fraction or exponent.
    fn number(&mut self) -> PResult<Literal> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.peek().is_some_and(|byte| byte.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos > from
        };
        if !digits(self) {
            self.pos = start;
            return self.fail("number");
        }
        let mut is_float = false;
        let _ = self.attempt(|p| {
            p.symbol(".")?;
            if digits(p) {
                is_float = true;
                Ok(())
            } else {
                p.fail("digits")
            }
        });
        let _ = self.attempt(|p| {
            p.symbol("e")?;
            if p.attempt(|p| p.symbol("+")).is_err() {
                p.symbol("-")?;
            }
            if digits(p) {
                is_float = true;
                Ok(())
            } else {
                p.fail("digits")
            }
        });
        let text = &self.text[start..self.pos];
        if is_float {
            match text.parse::<f64>() {
                Ok(value) => Ok(Literal::Float(value)),
                Err(_) => self.semantic_error(ParseError::invalid_at("invalid number", start)),
            }
        } else {
            match text.parse::<i128>() {
                Ok(value) => Ok(Literal::Int(value)),
                Err(_) => {
                    self.semantic_error(ParseError::invalid_at("integer out of range", start))
                }
            }
        }
    }

    /// `name(args)[(args)] [AS alias]`.
    fn function_call(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let name = self.identifier_name("function name")?;
        self.symbol("(")?;
        self.enter()?;
        let first = self.arguments()?;
        self.symbol(")")?;
        let second = self.optional(|p| {
            p.symbol("(")?;
            let args = p.arguments()?;
            p.symbol(")")?;
            Ok(args)
        });
        self.leave();
        let kind = match second {
            Some(args) => ExprKind::Curried {
                name: name.to_string(),
                params: first,
                args,
            },
            None => ExprKind::Function {
                name: name.to_string(),
                args: first,
            },
        };
        let mut expr = spanned(Expr::new(kind), start, self.pos);
        if let Ok(alias) = self.attempt(|p| {
            p.ws1()?;
            p.keyword("AS")?;
            p.ws1()?;
            p.alias()
        }) {
            expr.alias = Some(alias);
            expr.span.end = self.pos;
        }
        Ok(expr)
    }

    /// A possibly empty argument list; a lambda may not be the last argument.
    fn arguments(&mut self) -> PResult<Vec<Expr>> {
        self.ws0();
        if self.peek() == Some(b')') {
            return Ok(Vec::new());
        }
        let mut args = Vec::new();
        loop {
            if let Ok(lambda) = self.attempt(|p| {
                let lambda = p.lambda()?;
                p.ws0();
                p.symbol(",")?;
                p.ws0();
                Ok(lambda)
            }) {
                args.push(lambda);
                continue;
            }
            args.push(self.argument()?);
            let more = self.attempt(|p| {
                p.ws0();
                p.symbol(",")?;
                p.ws0();
                Ok(())
            });
            if more.is_err() {
                self.ws0();
                return Ok(args);
            }
        }
    }

    fn argument(&mut self) -> PResult<Expr> {
        if self.peek() == Some(b'`') {
            let start = self.pos;
            let name = self.backticked_identifier()?;
            return Ok(spanned(
                Expr::new(ExprKind::Argument(name)),
                start,
                self.pos,
            ));
        }
        self.expression()
    }

    fn backticked_identifier(&mut self) -> PResult<String> {
        self.symbol("`")?;
        let start = self.pos;
        while self.peek().is_some_and(is_word_byte) {
            self.pos += 1;
        }
        if self.pos == start {
            return self.fail("identifier");
        }
        let name = self.text[start..self.pos].to_string();
        self.symbol("`")?;
        Ok(name)
    }

    /// ``(`x`, `y`) -> f(…)``.
    fn lambda(&mut self) -> PResult<Expr> {
        let start = self.pos;
        self.symbol("(")?;
        self.ws0();
        let params = self.comma_list(Self::backticked_identifier)?;
        self.ws0();
        self.symbol(")")?;
        self.ws0();
        self.symbol("->")?;
        self.ws0();
        let body = self.function_call()?;
        let kind = ExprKind::Lambda {
            params,
            body: Box::new(body),
        };
        Ok(spanned(Expr::new(kind), start, self.pos))
    }
}

fn spanned(mut expr: Expr, start: usize, end: usize) -> Expr {
    expr.span = Span::new(start, end);
    expr
}

/// Nests `a OP b OP c` as `OP(a, OP(b, c))`, as Snuba's `combine_*_conditions` do.
fn nest_binary(function: &str, mut parts: Vec<Expr>) -> Expr {
    let mut nested = parts.pop().expect("at least one operand");
    while let Some(previous) = parts.pop() {
        let (start, end) = (previous.span.start, nested.span.end);
        nested = spanned(Expr::function(function, vec![previous, nested]), start, end);
    }
    nested
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The SnQL operator a comparison function is written as, if it is one.
pub(crate) fn comparison_operator(function: &str) -> Option<&'static str> {
    COMPARISON_OPERATORS
        .iter()
        .find(|(name, _)| *name == function)
        .map(|(_, operator)| *operator)
}
