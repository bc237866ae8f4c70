//! The typed AST of SLS search statements and of whole `search | SQL` queries.

use std::fmt;

/// A parsed search statement (the part of an SLS query before `|`).
///
/// The parser builds `And`/`Or` nodes with at least two operands, one node per
/// chain of the same operator written without parentheses: `a and b and c` is
/// one `And` of three, `(a and b) and c` is an `And` whose first operand is an
/// `And`. The printer keeps that structure, so printing and parsing again gives
/// the same tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchExpr {
    /// `*`: every log.
    All,
    /// A full-text term (`field` is `None`) or a field term (`key:value`,
    /// or `key = value` when the value is not a number).
    Term {
        /// The field, or `None` for a full-text search.
        field: Option<String>,
        /// The word, phrase or wildcard pattern to match.
        value: Pattern,
    },
    /// A numeric comparison: `k > 100`, `k >= 1.5`, `k = 100`. `k = v` is a
    /// `Compare` only when `v` is a number; otherwise it is a [`SearchExpr::Term`]
    /// (SLS treats `k = 100` like `k:100` on fields without a numeric index,
    /// so an executor should treat `Eq` on a text field as a term match).
    Compare {
        /// The field compared.
        field: String,
        /// The operator.
        op: CompareOp,
        /// The number as written: optional sign, digits with an optional
        /// fraction, optional exponent (`-1`, `2.5`, `.5`, `1e3`). The printer
        /// writes it unchanged, so it must be such a number.
        value: String,
    },
    /// A numeric range: `k in [100 200)`. `[`/`]` are inclusive, `(`/`)`
    /// exclusive. Bounds are numbers as written, like [`SearchExpr::Compare`]'s.
    Range {
        /// The field tested.
        field: String,
        /// Lower bound.
        low: String,
        /// Upper bound.
        high: String,
        /// `[` (true) or `(` (false).
        low_inclusive: bool,
        /// `]` (true) or `)` (false).
        high_inclusive: bool,
    },
    /// All operands match (explicit `and`, adjacency, or `a not b`, which is
    /// `a and not b`). An empty `And` means every log and prints as `*`.
    And(Vec<SearchExpr>),
    /// Any operand matches. An empty `Or` matches nothing and prints as `not *`.
    Or(Vec<SearchExpr>),
    /// Logs the operand does not match (`not a`).
    Not(Box<SearchExpr>),
}

impl SearchExpr {
    /// A full-text literal term (no wildcards).
    pub fn term(value: impl Into<String>) -> Self {
        SearchExpr::Term {
            field: None,
            value: Pattern::Literal(value.into()),
        }
    }

    /// A field literal term `field:value` (no wildcards).
    pub fn field_term(field: impl Into<String>, value: impl Into<String>) -> Self {
        SearchExpr::Term {
            field: Some(field.into()),
            value: Pattern::Literal(value.into()),
        }
    }

    /// The number of conditions (terms, comparisons and ranges; `*` is not
    /// one), which SLS limits to [`crate::MAX_CONDITIONS`] per statement.
    pub fn condition_count(&self) -> usize {
        match self {
            SearchExpr::All => 0,
            SearchExpr::Term { .. } | SearchExpr::Compare { .. } | SearchExpr::Range { .. } => 1,
            SearchExpr::And(items) | SearchExpr::Or(items) => {
                items.iter().map(SearchExpr::condition_count).sum()
            }
            SearchExpr::Not(inner) => inner.condition_count(),
        }
    }

    /// Whether this is a single condition or `*` (never printed in parentheses).
    pub fn is_leaf(&self) -> bool {
        !matches!(
            self,
            SearchExpr::And(_) | SearchExpr::Or(_) | SearchExpr::Not(_)
        )
    }
}

/// The value of a [`SearchExpr::Term`].
///
/// Quoting decides the kind: a quoted value (`"a b*"`) is always a
/// [`Pattern::Literal`], so `*` and `?` inside quotes are plain characters;
/// a bare word is a [`Pattern::Wildcard`] when it contains `*` or `?`, and a
/// literal otherwise. A wildcard may not start a term (`*abc` is an error).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// Text matched as written (a word, or a phrase of several tokens).
    Literal(String),
    /// A bare word where `*` matches any run of characters and `?` exactly
    /// one. It never starts with a wildcard. Only patterns that can be written
    /// as a bare word (see [`Pattern::is_expressible`]) print as wildcards;
    /// others print quoted and read back as a [`Pattern::Literal`].
    Wildcard(String),
}

impl Pattern {
    /// A literal pattern.
    pub fn literal(text: impl Into<String>) -> Self {
        Pattern::Literal(text.into())
    }

    /// A wildcard pattern (`*` any run, `?` one character).
    pub fn wildcard(text: impl Into<String>) -> Self {
        Pattern::Wildcard(text.into())
    }

    /// The text of the pattern (with its `*`/`?` for a wildcard).
    pub fn text(&self) -> &str {
        match self {
            Pattern::Literal(text) | Pattern::Wildcard(text) => text,
        }
    }

    /// Whether `*` and `?` in [`Pattern::text`] are wildcards.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, Pattern::Wildcard(_))
    }

    /// Whether the pattern prints as itself: always for literals; for a
    /// wildcard, when it is a bare word: non-empty, containing `*` or `?` but
    /// not starting with one, without whitespace, `"`, `(`, `)` or `|`, and,
    /// for a full-text term (`fielded` false), not read as a field condition
    /// (it neither starts with `:`, `=`, `<` or `>`, nor has one of them right
    /// after a leading run of field-name characters, as in `a:b*`).
    pub fn is_expressible(&self, fielded: bool) -> bool {
        let Pattern::Wildcard(text) = self else {
            return true;
        };
        let operator = |ch: Option<char>| matches!(ch, Some(':' | '=' | '<' | '>'));
        let after_name = text.trim_start_matches(crate::parser::is_field_char);
        !text.starts_with(['*', '?'])
            && text.contains(['*', '?'])
            && !text
                .chars()
                .any(|ch| ch.is_whitespace() || matches!(ch, '"' | '(' | ')' | '|'))
            && (fielded || !operator(after_name.chars().next()))
    }
}

/// A comparison operator of [`SearchExpr::Compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CompareOp {
    /// The operator as written in a search statement.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A whole SLS query: `search [| [set session k=v; …] sql]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The search statement (`*` when the query has none).
    pub search: SearchExpr,
    /// `set session name=value;` settings before the SQL, in order. Names and
    /// values are trimmed and otherwise as written.
    pub settings: Vec<(String, String)>,
    /// The SQL statement (after the settings), trimmed and otherwise as
    /// written; `None` when the query has no `|`. Settings are only printed
    /// when there is SQL.
    pub sql: Option<String>,
}
