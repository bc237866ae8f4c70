//! The typed SnQL AST.
//!
//! Operators are represented the way Snuba represents them: as function
//! calls (`a = 1` is `equals(a, 1)`, `a + b` is `plus(a, b)`, `x AND y` is
//! `and(x, y)`). Source positions are kept in [`Span`]s, which never take part
//! in equality, so an AST printed and parsed again compares equal.

use chrono::NaiveDateTime;

/// A byte range in the query text. Equality ignores spans (they are metadata).
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset one past the last character.
    pub end: usize,
}

impl PartialEq for Span {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
}

/// A whole SnQL query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// What the query reads: an entity, a storage, a subquery or a join.
    pub source: Source,
    /// The result columns: `BY` expressions first, then `SELECT` ones
    /// (Snuba prepends the group-by list to the selected columns).
    pub select: Vec<SelectedExpr>,
    /// The `BY` expressions, in order.
    pub group_by: Vec<SelectedExpr>,
    /// Columns of an `ARRAY JOIN` clause.
    pub array_join: Vec<Expr>,
    /// `WHERE` condition.
    pub condition: Option<Expr>,
    /// `HAVING` condition.
    pub having: Option<Expr>,
    /// `ORDER BY` items.
    pub order_by: Vec<OrderBy>,
    /// `LIMIT n BY cols`.
    pub limit_by: Option<LimitBy>,
    /// `LIMIT n` as written (Snuba's default of 1000 applies when absent).
    pub limit: Option<u64>,
    /// `OFFSET n` as written.
    pub offset: Option<u64>,
    /// `GRANULARITY n` in seconds.
    pub granularity: Option<u64>,
    /// `TOTALS True|False`.
    pub totals: Option<bool>,
}

impl Query {
    /// The `SELECT` items only (without the `BY` items Snuba prepends).
    pub fn selected_only(&self) -> &[SelectedExpr] {
        &self.select[self.group_by.len()..]
    }

    /// The effective limit: as written, or Snuba's default of 1000.
    pub fn effective_limit(&self) -> u64 {
        self.limit.unwrap_or(1000)
    }

    /// Whether the query asks for a totals row (only meaningful with `BY`).
    pub fn wants_totals(&self) -> bool {
        self.totals == Some(true) && !self.group_by.is_empty()
    }
}

/// The data source after `MATCH`.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `MATCH (entity [SAMPLE n])`.
    Entity(EntityMatch),
    /// `MATCH STORAGE(storage [SAMPLE n])`.
    Storage(EntityMatch),
    /// `MATCH { query }`.
    Subquery(Box<Query>),
    /// `MATCH (a: e1) -[rel]-> (b: e2), …`.
    Join(Vec<Relationship>),
}

/// An entity or storage reference, optionally aliased (in joins) and sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityMatch {
    /// Alias used by joins to qualify columns (`e` in `(e: events)`).
    pub alias: Option<String>,
    /// Entity or storage name.
    pub name: String,
    /// `SAMPLE` rate or row count.
    pub sample: Option<f64>,
    /// Where the name appears in the text.
    pub span: Span,
}

/// One edge of a join: `(lhs) -[name]-> (rhs)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Relationship {
    /// Left entity.
    pub lhs: EntityMatch,
    /// Relationship name declared on the left entity.
    pub name: String,
    /// Right entity.
    pub rhs: EntityMatch,
}

/// A result column: the expression and the name it gets in the response.
#[derive(Debug, Clone)]
pub struct SelectedExpr {
    /// Result name: the alias if given, else the exact source text.
    pub name: String,
    /// The expression.
    pub expr: Expr,
}

/// The result name is derived from the source text, which printing does not
/// preserve byte for byte; structural equality compares the expressions.
impl PartialEq for SelectedExpr {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

/// Sort direction (mandatory in SnQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `ASC`.
    Asc,
    /// `DESC`.
    Desc,
}

/// One `ORDER BY` item.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    /// Sort key.
    pub expr: Expr,
    /// Direction.
    pub direction: Direction,
}

/// `LIMIT n BY col, …`.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitBy {
    /// Rows kept per distinct key.
    pub limit: u64,
    /// Key expressions (columns or subscripts).
    pub columns: Vec<Expr>,
}

/// An expression with its optional alias and position.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// `AS alias`, if written.
    pub alias: Option<String>,
    /// Where it is in the text.
    pub span: Span,
}

/// The kinds of SnQL expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal value.
    Literal(Literal),
    /// A column, possibly dotted (`exception_stacks.type`, `e.project_id`).
    Column(String),
    /// `col[key]`: `tags[k]`, `contexts[trace.trace_id]`, `e.tags[k]`.
    Subscript {
        /// The map column (`tags`, `contexts`, `flags`, `e.tags`, …).
        column: String,
        /// The key between the brackets.
        key: String,
    },
    /// `name(args…)`; operators are functions too.
    Function {
        /// Function name.
        name: String,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `name(params…)(args…)`, e.g. `quantile(0.5)(duration)`.
    Curried {
        /// Function name.
        name: String,
        /// First (parameter) list.
        params: Vec<Expr>,
        /// Second (argument) list.
        args: Vec<Expr>,
    },
    /// ``(`x`, `y`) -> f(…)``.
    Lambda {
        /// Bound identifiers.
        params: Vec<String>,
        /// Body (always a function call).
        body: Box<Expr>,
    },
    /// A back-ticked lambda identifier used in a lambda body: `` `x` ``.
    Argument(String),
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `NULL`.
    Null,
    /// `TRUE` / `FALSE`.
    Bool(bool),
    /// An integer (wide enough for UInt64 ids and negative Int64).
    Int(i128),
    /// A float.
    Float(f64),
    /// A string.
    String(String),
    /// A datetime: `toDateTime('…')` after post-processing (naive UTC, whole seconds).
    DateTime(NaiveDateTime),
}

impl Expr {
    /// An expression without alias or position.
    pub fn new(kind: ExprKind) -> Self {
        Expr {
            kind,
            alias: None,
            span: Span::default(),
        }
    }

    /// A column reference.
    pub fn column(name: impl Into<String>) -> Self {
        Expr::new(ExprKind::Column(name.into()))
    }

    /// A literal.
    pub fn literal(literal: Literal) -> Self {
        Expr::new(ExprKind::Literal(literal))
    }

    /// A function call.
    pub fn function(name: impl Into<String>, args: Vec<Expr>) -> Self {
        Expr::new(ExprKind::Function {
            name: name.into(),
            args,
        })
    }

    /// The function name and arguments, if this is a plain function call.
    pub fn as_function(&self) -> Option<(&str, &[Expr])> {
        match &self.kind {
            ExprKind::Function { name, args } => Some((name.as_str(), args.as_slice())),
            _ => None,
        }
    }

    /// The column name, if this is a column reference.
    pub fn as_column(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Column(name) => Some(name.as_str()),
            _ => None,
        }
    }

    /// Splits a top-level `and(…)` tree into its conjuncts.
    pub fn conjuncts(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        collect_conjuncts(self, &mut out);
        out
    }

    /// Visits this expression and every sub-expression, parents first.
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(&'a Expr)) {
        visit(self);
        match &self.kind {
            ExprKind::Function { args, .. } => args.iter().for_each(|arg| arg.walk(visit)),
            ExprKind::Curried { params, args, .. } => {
                params.iter().for_each(|param| param.walk(visit));
                args.iter().for_each(|arg| arg.walk(visit));
            }
            ExprKind::Lambda { body, .. } => body.walk(visit),
            ExprKind::Literal(_)
            | ExprKind::Column(_)
            | ExprKind::Subscript { .. }
            | ExprKind::Argument(_) => {}
        }
    }

    /// Rewrites this expression bottom-up: children first, then `rewrite` on the node.
    pub fn transform(self, rewrite: &mut dyn FnMut(Expr) -> Expr) -> Expr {
        let Expr { kind, alias, span } = self;
        let kind = match kind {
            ExprKind::Function { name, args } => ExprKind::Function {
                name,
                args: args.into_iter().map(|arg| arg.transform(rewrite)).collect(),
            },
            ExprKind::Curried { name, params, args } => ExprKind::Curried {
                name,
                params: params.into_iter().map(|p| p.transform(rewrite)).collect(),
                args: args.into_iter().map(|arg| arg.transform(rewrite)).collect(),
            },
            ExprKind::Lambda { params, body } => ExprKind::Lambda {
                params,
                body: Box::new(body.transform(rewrite)),
            },
            leaf => leaf,
        };
        rewrite(Expr { kind, alias, span })
    }
}

fn collect_conjuncts<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    match expr.as_function() {
        Some(("and", args)) if args.len() == 2 => {
            collect_conjuncts(&args[0], out);
            collect_conjuncts(&args[1], out);
        }
        _ => out.push(expr),
    }
}

impl Query {
    /// Every expression of the query (select, where, having, order by, limit by),
    /// not descending into subqueries.
    pub fn expressions(&self) -> Vec<&Expr> {
        let mut out: Vec<&Expr> = self.select.iter().map(|item| &item.expr).collect();
        out.extend(self.condition.iter());
        out.extend(self.having.iter());
        out.extend(self.order_by.iter().map(|item| &item.expr));
        if let Some(limit_by) = &self.limit_by {
            out.extend(limit_by.columns.iter());
        }
        out
    }

    /// Applies `rewrite` to every top-level expression of the query.
    pub fn map_expressions(&mut self, rewrite: &mut dyn FnMut(Expr) -> Expr) {
        let take = |expr: &mut Expr, rewrite: &mut dyn FnMut(Expr) -> Expr| {
            let owned = std::mem::replace(expr, Expr::literal(Literal::Null));
            *expr = rewrite(owned);
        };
        for item in self.select.iter_mut().chain(self.group_by.iter_mut()) {
            take(&mut item.expr, rewrite);
        }
        for expr in self.condition.iter_mut().chain(self.having.iter_mut()) {
            take(expr, rewrite);
        }
        for item in &mut self.order_by {
            take(&mut item.expr, rewrite);
        }
        if let Some(limit_by) = &mut self.limit_by {
            for expr in &mut limit_by.columns {
                take(expr, rewrite);
            }
        }
    }
}

/// Names of the comparison functions and the SnQL operator each is written as.
pub(crate) const COMPARISON_OPERATORS: &[(&str, &str)] = &[
    ("equals", "="),
    ("notEquals", "!="),
    ("less", "<"),
    ("lessOrEquals", "<="),
    ("greater", ">"),
    ("greaterOrEquals", ">="),
    ("in", "IN"),
    ("notIn", "NOT IN"),
    ("like", "LIKE"),
    ("notLike", "NOT LIKE"),
];
