//! SnQL on the errors entities (`events`, `discover`, `discover_events`) to
//! one SLS query, `search | SQL`, over the record keys of docs/schema.md.
//!
//! The search part is only a prefilter (topic, and exact `=`/`IN` on
//! indexed keys with safe values); every condition is also in the SQL part,
//! so token matching can never change an answer. DateTime values stay epoch
//! seconds (`__time__`) inside SQL and become `DateTime` cells when decoded,
//! so bucketing and arithmetic compose. What SQL cannot express the same way
//! on SLS and the embedded store (`LIMIT BY`, de-duplicating repeated events
//! in row queries) is done on the rows afterwards; see [`Post`].

mod columns;
mod decode;
mod functions;

use chrono::NaiveDateTime;
use sentry_sls_snql::{Direction, Expr, ExprKind, Literal, Query, Source};

use crate::entities::EntitySpec;
use crate::error::SnubaError;
use crate::functions::is_aggregate_function;
use crate::types::{infer, strip_nullable, TypeContext};
use crate::validate::{compares_type_with_transaction, ValidatedQuery};

pub use columns::{key, string_literal};
pub use decode::{decode_cell, Shape};

/// Rows a query with `LIMIT BY` may fetch before the service applies it.
pub const LIMIT_BY_FETCH_CAP: u64 = 100_000;
/// Extra rows fetched by row queries so that dropping repeated events
/// (docs/schema.md §5) still fills the page.
pub const DEDUP_EXTRA_ROWS: u64 = 16;
/// At most this many search conditions in the search part, every
/// alternative of a lifted `IN` list counted (SLS allows 30 per statement,
/// `sentry_sls_slsql::MAX_CONDITIONS`; the margin is for the store's own).
const MAX_SEARCH_CONDITIONS: usize = 24;

/// The topic a query reads (docs/schema.md §1.1): Snuba's errors storage or
/// its transactions storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    Error,
    Transaction,
}

impl Topic {
    /// The topic of an entity (validation already chose `discover_transactions`
    /// for a discover query on `type = 'transaction'`).
    fn of(entity: &EntitySpec) -> Topic {
        match entity.name {
            "transactions" | "discover_transactions" => Topic::Transaction,
            _ => Topic::Error,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Topic::Error => "sentry_error",
            Topic::Transaction => "sentry_transaction",
        }
    }

    /// A condition the topic already decides (Snuba's TypeConditionOptimizer
    /// on the errors storage; the storage choice on discover).
    fn implies(self, conjunct: &Expr) -> bool {
        match self {
            Topic::Error => compares_type_with_transaction(conjunct, "notEquals"),
            Topic::Transaction => compares_type_with_transaction(conjunct, "equals"),
        }
    }
}

/// What to do with the rows after SQL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Post {
    /// `LIMIT n BY` result-column indexes.
    pub limit_by: Option<(u64, Vec<usize>)>,
    /// Drop rows repeating the `event_id` of this result column.
    pub dedup: Option<usize>,
    /// Rows skipped in the service (0 when SQL applied the offset).
    pub offset: u64,
    /// Rows kept in the service, when it slices.
    pub limit: Option<u64>,
}

/// An executable translation of one SnQL query.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// GetLogs `from` (unix seconds, inclusive).
    pub from: i64,
    /// GetLogs `to` (unix seconds, exclusive).
    pub to: i64,
    /// The SLS query of the rows.
    pub query: String,
    /// The SLS query of the `TOTALS` row, when one is needed.
    pub totals_query: Option<String>,
    /// How each result column's value is shaped in SQL.
    pub shapes: Vec<Shape>,
    /// For each result column, its index in the totals query (None: default).
    pub totals_columns: Vec<Option<usize>>,
    /// The rows carry the totals (columns `t_<result index>`, the same in
    /// every row; see `Translator::window_total`): `totals_query` is only
    /// needed when the page has no rows.
    pub totals_inline: bool,
    /// Service-side steps.
    pub post: Post,
}

fn unsupported(message: impl Into<String>) -> SnubaError {
    // ClickHouse's NOT_IMPLEMENTED: a valid query we cannot run on SLS.
    SnubaError::ClickHouse {
        code: 48,
        message: message.into(),
    }
}

fn epoch(value: &NaiveDateTime) -> i64 {
    value.and_utc().timestamp()
}

/// A translated expression: SQL text and whether it is an SQL boolean
/// (ClickHouse's UInt8 conditions).
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) boolean: bool,
}

impl Sql {
    fn value(text: String) -> Self {
        Sql {
            text,
            boolean: false,
        }
    }

    fn condition(text: String) -> Self {
        Sql {
            text,
            boolean: true,
        }
    }

    /// As an SQL boolean (a number is true when non-zero, as in ClickHouse).
    pub(crate) fn as_bool(&self) -> String {
        if self.boolean {
            self.text.clone()
        } else {
            format!("({} <> 0)", self.text)
        }
    }

    /// As a number (a boolean is 1 or 0).
    pub(crate) fn as_number(&self) -> String {
        if self.boolean {
            format!("CASE WHEN {} THEN 1 ELSE 0 END", self.text)
        } else {
            self.text.clone()
        }
    }
}

/// Translation state of one (sub)query level.
pub(crate) struct Translator<'a> {
    pub(crate) entity: Option<&'static EntitySpec>,
    /// Result columns of the inner query (`MATCH { … }`), read as `"c_i"`.
    pub(crate) inner: &'a [(String, String)],
    pub(crate) granularity: u64,
    pub(crate) now: i64,
    pub(crate) retention_days: u32,
    /// The JSON object key `tags_key`/`tags_value` (or `flags_…`) unnest.
    pub(crate) unnest: Option<&'static str>,
    /// Count events, not stored logs: `count()` → `count(DISTINCT
    /// "event_id")` (see [`translate_with`]).
    pub(crate) distinct_counts: bool,
    /// Columns of the GROUP BY being translated (empty without one).
    pub(crate) group_keys: Vec<String>,
    /// Translate aggregates as the `TOTALS` value over all groups, a window
    /// over the grouped rows (`sum(count(*)) OVER ()`); see
    /// [`Translator::window_total`].
    pub(crate) window_totals: bool,
    /// The topic read.
    pub(crate) topic: Topic,
}

impl Translator<'_> {
    /// Whether `count()` counts distinct events here: asked for, and this
    /// level reads the log rows (not an inner query's result).
    pub(crate) fn counts_events(&self) -> bool {
        self.distinct_counts && self.entity.is_some()
    }

    pub(crate) fn type_of(&self, expr: &Expr) -> String {
        let context = TypeContext {
            entity: self.entity,
            inner_columns: self.inner,
            granularity: Some(self.granularity),
        };
        infer(expr, &context)
    }

    /// The shape of a column reference (arrays and maps are JSON keys).
    pub(crate) fn column(&mut self, name: &str) -> Result<columns::ColumnSql, SnubaError> {
        if !self.inner.is_empty() {
            return match self.inner.iter().position(|(column, _)| column == name) {
                Some(index) => Ok(columns::ColumnSql::Scalar(format!("\"c_{index}\""))),
                None => Err(SnubaError::InvalidQuery(format!(
                    "the subquery does not select {name}"
                ))),
            };
        }
        let Some(entity) = self.entity else {
            return Err(SnubaError::InvalidQuery(format!("unknown column {name}")));
        };
        let object = match name {
            "tags_key" | "tags_value" => Some("tags"),
            "flags_key" | "flags_value" => Some("flags"),
            _ => None,
        };
        if let Some(object) = object {
            if self.unnest.is_some_and(|current| current != object) {
                return Err(unsupported("tags_* and flags_* in one query"));
            }
            self.unnest = Some(object);
        }
        columns::column(
            name,
            entity,
            self.topic,
            self.granularity,
            self.retention_days,
        )
    }

    /// A scalar expression.
    pub(crate) fn expr(&mut self, expr: &Expr) -> Result<Sql, SnubaError> {
        match &expr.kind {
            ExprKind::Literal(literal) => Ok(literal_sql(literal)),
            ExprKind::Column(name) => match self.column(name)? {
                columns::ColumnSql::Scalar(text) => Ok(Sql::value(text)),
                _ => Err(unsupported(format!(
                    "array column {name} is only supported selected as is or in has, notEmpty, \
                     arrayExists, arrayAll, length and arrayElement"
                ))),
            },
            ExprKind::Subscript { column, key } => {
                if !self.inner.is_empty() {
                    return self.expr(&Expr::column(format!("{column}[{key}]")));
                }
                Ok(Sql::value(columns::subscript(column, key, self.topic)?))
            }
            ExprKind::Function { name, args } => self.function(name, args),
            ExprKind::Curried { .. } if self.window_totals => {
                Err(unsupported("no window total for a parametric aggregate"))
            }
            ExprKind::Curried { name, params, args } => self.curried(name, params, args),
            ExprKind::Lambda { .. } | ExprKind::Argument(_) => Err(unsupported(
                "lambdas are only supported in arrayExists/arrayAll over array columns",
            )),
        }
    }

    /// `rhs` compared with `lhs`: string literals become epoch seconds
    /// against DateTime expressions and normalised hex against UUID columns.
    pub(crate) fn operand(&mut self, lhs: &Expr, rhs: &Expr) -> Result<Sql, SnubaError> {
        if let ExprKind::Literal(Literal::String(text)) = &rhs.kind {
            let lhs_type = strip_nullable(&self.type_of(lhs));
            if lhs_type.starts_with("DateTime") && !lhs_type.starts_with("DateTime64") {
                if let Some(value) = sentry_sls_snql::parse_datetime(text) {
                    return Ok(Sql::value(epoch(&value).to_string()));
                }
            }
            if lhs_type == "Date" {
                if let Some(value) = sentry_sls_snql::parse_datetime(text) {
                    return Ok(Sql::value(epoch(&value).to_string()));
                }
            }
            if let Some(column) = lhs.as_column() {
                if matches!(
                    column,
                    "event_id" | "primary_hash" | "trace_id" | "replay_id" | "profile_id"
                ) {
                    let normal: String = text
                        .chars()
                        .filter(|c| *c != '-')
                        .collect::<String>()
                        .to_ascii_lowercase();
                    return Ok(Sql::value(string_literal(&normal)));
                }
            }
        }
        self.expr(rhs)
    }
}

fn literal_sql(literal: &Literal) -> Sql {
    match literal {
        Literal::Null => Sql::value("NULL".into()),
        Literal::Bool(value) => Sql::condition(value.to_string()),
        Literal::Int(value) => Sql::value(value.to_string()),
        // `1.5` is a DECIMAL literal in Presto: say double explicitly.
        Literal::Float(value) if value.is_finite() => {
            Sql::value(format!("cast({value:?} AS double)"))
        }
        Literal::Float(_) => Sql::value("NULL".into()),
        Literal::String(text) => Sql::value(string_literal(text)),
        Literal::DateTime(value) => Sql::value(epoch(value).to_string()),
    }
}

/// Whether `expr` contains an aggregate function call.
pub fn contains_aggregate(expr: &Expr) -> bool {
    let mut found = false;
    expr.walk(&mut |node| {
        if let ExprKind::Function { name, .. } | ExprKind::Curried { name, .. } = &node.kind {
            found |= is_aggregate_function(name);
        }
    });
    found
}

/// The SQL of an inner query.
struct Built {
    sql: String,
}

#[derive(Clone)]
struct Clauses {
    select: Vec<String>,
    shapes: Vec<Shape>,
    condition: Option<String>,
    group_by: Vec<String>,
    having: Option<String>,
    order_by: Vec<String>,
}

fn clauses(translator: &mut Translator<'_>, query: &Query) -> Result<Clauses, SnubaError> {
    translator.group_keys = query
        .group_by
        .iter()
        .filter_map(|item| item.expr.as_column().map(str::to_string))
        .collect();
    let mut select = Vec::new();
    let mut shapes = Vec::new();
    for (index, item) in query.select.iter().enumerate() {
        let (text, shape) = selected(translator, &item.expr)?;
        select.push(format!("{text} AS \"c_{index}\""));
        shapes.push(shape);
    }
    let condition = match &query.condition {
        Some(condition) if translator.entity.is_some() => {
            // Snuba's TypeConditionOptimizer: on the errors storage
            // `type != 'transaction'` always holds (here: the topic is
            // `sentry_error`), so it is dropped instead of read per row;
            // likewise `type = 'transaction'` on the transactions topic.
            let conjuncts = condition.conjuncts();
            let topic = translator.topic;
            let kept: Vec<&Expr> = conjuncts
                .iter()
                .copied()
                .filter(|conjunct| !topic.implies(conjunct))
                .collect();
            if kept.len() == conjuncts.len() {
                Some(translator.expr(condition)?.as_bool())
            } else if kept.is_empty() {
                None
            } else {
                let mut parts = Vec::new();
                for conjunct in kept {
                    parts.push(translator.expr(conjunct)?.as_bool());
                }
                Some(format!("({})", parts.join(" AND ")))
            }
        }
        Some(condition) => Some(translator.expr(condition)?.as_bool()),
        None => None,
    };
    let mut group_by = Vec::new();
    for item in &query.group_by {
        // A constant (`tuple('duration', 300)`) does not split groups.
        if is_constant(&item.expr) {
            continue;
        }
        let (text, _) = selected(translator, &item.expr)?;
        group_by.push(text);
    }
    let having = match &query.having {
        Some(having) => Some(translator.expr(having)?.as_bool()),
        None => None,
    };
    let mut order_by = Vec::new();
    for item in &query.order_by {
        let text = translator.expr(&item.expr)?.text;
        let direction = match item.direction {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        };
        // ClickHouse puts NULLs last in both directions.
        order_by.push(format!("{text} {direction} NULLS LAST"));
    }
    Ok(Clauses {
        select,
        shapes,
        condition,
        group_by,
        having,
        order_by,
    })
}

/// Whether `expr` reads no column.
fn is_constant(expr: &Expr) -> bool {
    let mut constant = true;
    expr.walk(&mut |node| {
        constant &= !matches!(
            node.kind,
            ExprKind::Column(_) | ExprKind::Subscript { .. } | ExprKind::Argument(_)
        ) && !matches!(&node.kind, ExprKind::Function { name, .. } if is_aggregate_function(name) || name == "now");
    });
    constant
}

/// A selected expression: array and map columns selected as they are keep
/// their JSON text, decoded later.
fn selected(translator: &mut Translator<'_>, expr: &Expr) -> Result<(String, Shape), SnubaError> {
    if let Some(name) = expr.as_column() {
        match translator.column(name)? {
            columns::ColumnSql::Scalar(text) => return Ok((text, Shape::Scalar)),
            columns::ColumnSql::JsonArray(name) => return Ok((key(name), Shape::JsonArray)),
            columns::ColumnSql::MapKeys(name) => return Ok((key(name), Shape::MapKeys)),
            columns::ColumnSql::MapValues(name) => return Ok((key(name), Shape::MapValues)),
        }
    }
    let sql = translator.expr(expr)?;
    Ok((sql.text, Shape::Scalar))
}

fn from_clause(translator: &Translator<'_>, base: &str) -> String {
    match translator.unnest {
        Some(object) => format!(
            "{base} CROSS JOIN UNNEST(cast(json_parse({}) AS map(varchar, varchar))) AS t({object}_key, {object}_value)",
            key(object)
        ),
        None => base.to_string(),
    }
}

fn assemble(
    clauses: &Clauses,
    from: &str,
    limit: Option<&str>,
    select: Option<&[String]>,
) -> String {
    let mut sql = format!(
        "SELECT {} FROM {from}",
        select.unwrap_or(&clauses.select).join(", ")
    );
    if let Some(condition) = &clauses.condition {
        sql.push_str(&format!(" WHERE {condition}"));
    }
    if !clauses.group_by.is_empty() {
        sql.push_str(&format!(" GROUP BY {}", clauses.group_by.join(", ")));
    }
    if let Some(having) = &clauses.having {
        sql.push_str(&format!(" HAVING {having}"));
    }
    if select.is_none() && !clauses.order_by.is_empty() {
        sql.push_str(&format!(" ORDER BY {}", clauses.order_by.join(", ")));
    }
    if let Some(limit) = limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    sql
}

/// The inner query of `MATCH { … }`, as a derived table.
fn inner_sql(
    query: &Query,
    entity: &'static EntitySpec,
    now: i64,
    retention_days: u32,
    distinct_counts: bool,
) -> Result<Built, SnubaError> {
    let mut translator = Translator {
        entity: Some(entity),
        inner: &[],
        granularity: query.granularity.unwrap_or(3600),
        now,
        retention_days,
        unnest: None,
        distinct_counts,
        group_keys: Vec::new(),
        window_totals: false,
        topic: Topic::of(entity),
    };
    let built = clauses(&mut translator, query)?;
    let from = from_clause(&translator, "log");
    // `LIMIT y, x` is not allowed in SLS subqueries: only a count.
    let limit = (query.effective_limit() + query.offset.unwrap_or(0)).to_string();
    Ok(Built {
        sql: assemble(&built, &from, Some(&limit), None),
    })
}

/// The search part: the topic, then exact prefilters from top-level
/// `=`/`IN` conditions on indexed keys with values that are one token.
fn search_part(condition: Option<&Expr>, topic: Topic) -> String {
    let mut terms = vec![format!("__topic__: {}", topic.name())];
    // Conditions as SLS counts them: each `key: value`, so each alternative.
    let mut conditions = 1;
    let Some(condition) = condition else {
        return terms.join(" and ");
    };
    for conjunct in condition.conjuncts() {
        if conditions >= MAX_SEARCH_CONDITIONS {
            break;
        }
        let Some((name, [lhs, rhs])) = conjunct.as_function() else {
            continue;
        };
        let Some(column) = lhs.as_column() else {
            continue;
        };
        let values: Vec<&Expr> = match (name, rhs.as_function()) {
            ("equals", _) => vec![rhs],
            ("in", Some(("tuple" | "array", items))) => items.iter().collect(),
            _ => continue,
        };
        if values.is_empty() {
            continue;
        }
        let texts: Option<Vec<String>> = values
            .iter()
            .map(|value| match (&value.kind, column) {
                (ExprKind::Literal(Literal::Int(number)), "project_id" | "group_id")
                    if *number >= 0 =>
                {
                    Some(number.to_string())
                }
                (
                    ExprKind::Literal(Literal::String(text)),
                    "event_id" | "environment" | "level" | "primary_hash",
                ) if !text.is_empty()
                    && text.len() <= 64
                    && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    Some(text.to_ascii_lowercase())
                }
                _ => None,
            })
            .collect();
        let Some(mut texts) = texts else {
            continue;
        };
        // Sentry lists a project once per group (`filter_keys`): one term each.
        let mut seen = std::collections::HashSet::new();
        texts.retain(|text| seen.insert(text.clone()));
        // A list that does not fit stays in the SQL `WHERE` only.
        if conditions + texts.len() > MAX_SEARCH_CONDITIONS {
            continue;
        }
        let alternatives: Vec<String> = texts
            .iter()
            .map(|text| format!("{column}: {text}"))
            .collect();
        let term = if alternatives.len() == 1 {
            alternatives[0].clone()
        } else {
            format!("({})", alternatives.join(" or "))
        };
        // `raw_query` repeats the project condition: lift it once.
        if !terms.contains(&term) {
            conditions += alternatives.len();
            terms.push(term);
        }
    }
    terms.join(" and ")
}

/// Whether no row can survive the query because it array-joins an array
/// sentry-sls does not store (a transaction's `spans.*` and
/// `span_op_breakdowns.*`, always empty here): then it answers as an empty
/// table would.
pub fn joins_an_unstored_array(validated: &ValidatedQuery) -> bool {
    let mut found = false;
    let mut visit = |expr: &Expr| {
        expr.walk(&mut |node| {
            if let Some(("arrayJoin", [array])) = node.as_function() {
                found |= array.as_column().is_some_and(|column| {
                    column.starts_with("spans.") || column.starts_with("span_op_breakdowns.")
                });
            }
        });
    };
    let query = &validated.query;
    query.select.iter().for_each(|item| visit(&item.expr));
    query.group_by.iter().for_each(|item| visit(&item.expr));
    query.condition.iter().for_each(&mut visit);
    found
}

/// Translates a validated query on a stored errors entity (for a store
/// that keeps each event once: `count()` counts logs).
pub fn translate(
    validated: &ValidatedQuery,
    now: i64,
    retention_days: u32,
) -> Result<Plan, SnubaError> {
    translate_with(validated, now, retention_days, false)
}

/// [`translate`], choosing how events are counted. With `distinct_counts`
/// (a store that may hold an event more than once: SLS, where a PutLogs
/// retried after a lost answer is stored twice), `count()` becomes
/// `count(DISTINCT "event_id")` and `countIf(c)` counts the distinct
/// `event_id`s of the rows where `c` holds, so a repeated event is
/// counted once (docs/queries.md, "Repeated events").
pub fn translate_with(
    validated: &ValidatedQuery,
    now: i64,
    retention_days: u32,
    distinct_counts: bool,
) -> Result<Plan, SnubaError> {
    let entity = validated
        .entity
        .ok_or_else(|| SnubaError::InvalidQuery("no entity to query".into()))?;
    let (from, to) = match validated.time_range {
        Some((lower, upper)) => (epoch(&lower), epoch(&upper).max(epoch(&lower) + 1)),
        None => return Err(SnubaError::InvalidQuery("missing time range".into())),
    };
    let query = &validated.query;
    let topic = Topic::of(entity);
    let inner_columns: Vec<(String, String)>;
    let (search, base, mut translator) = match &query.source {
        Source::Entity(_) => (
            search_part(query.condition.as_ref(), topic),
            "log".to_string(),
            Translator {
                entity: Some(entity),
                inner: &[],
                granularity: query.granularity.unwrap_or(3600),
                now,
                retention_days,
                unnest: None,
                distinct_counts,
                group_keys: Vec::new(),
                window_totals: false,
                topic,
            },
        ),
        Source::Subquery(inner) => {
            if !matches!(inner.source, Source::Entity(_)) {
                return Err(unsupported("nested subqueries"));
            }
            let built = inner_sql(inner, entity, now, retention_days, distinct_counts)?;
            inner_columns = inner
                .select
                .iter()
                .zip(&validated_inner_types(inner, entity))
                .map(|(item, ty)| (item.name.clone(), ty.clone()))
                .collect();
            (
                search_part(inner.condition.as_ref(), topic),
                format!("({}) AS sub", built.sql),
                Translator {
                    entity: None,
                    inner: &inner_columns,
                    granularity: query.granularity.unwrap_or(3600),
                    now,
                    retention_days,
                    unnest: None,
                    // The outer level counts the inner query's rows.
                    distinct_counts: false,
                    group_keys: Vec::new(),
                    window_totals: false,
                    topic,
                },
            )
        }
        Source::Storage(_) | Source::Join(_) => {
            return Err(unsupported("storage and join queries"))
        }
    };
    let built = clauses(&mut translator, query)?;
    let from_sql = from_clause(&translator, &base);

    let aggregated = !query.group_by.is_empty()
        || query
            .select
            .iter()
            .any(|item| contains_aggregate(&item.expr));
    let limit = query.effective_limit();
    let offset = query.offset.unwrap_or(0);
    let mut post = Post::default();
    let sql_limit = if let Some(limit_by) = &query.limit_by {
        let mut indexes = Vec::new();
        for column in &limit_by.columns {
            let index = query
                .select
                .iter()
                .position(|item| item.expr == *column || item.name == column.to_string())
                .ok_or_else(|| unsupported("LIMIT BY a column that is not selected"))?;
            indexes.push(index);
        }
        post.limit_by = Some((limit_by.limit, indexes));
        post.offset = offset;
        post.limit = Some(limit);
        LIMIT_BY_FETCH_CAP.to_string()
    } else if !aggregated {
        // With an arrayJoin an event legitimately gives several rows.
        let event_id = query
            .select
            .iter()
            .position(|item| item.expr.as_column() == Some("event_id"))
            .filter(|_| translator.unnest.is_none());
        match event_id {
            Some(index) => {
                post.dedup = Some(index);
                post.offset = offset;
                post.limit = Some(limit);
                (offset + limit + DEDUP_EXTRA_ROWS).to_string()
            }
            None if offset > 0 => format!("{offset}, {limit}"),
            None => limit.to_string(),
        }
    } else if offset > 0 {
        format!("{offset}, {limit}")
    } else {
        limit.to_string()
    };
    let mut sql = assemble(&built, &from_sql, Some(&sql_limit), None);

    let mut totals_columns = vec![None; query.select.len()];
    let mut totals_query = None;
    let mut totals_inline = false;
    if query.wants_totals()
        && matches!(query.source, Source::Entity(_))
        && built.having.is_none()
        && translator.unnest.is_none()
        && post.limit_by.is_none()
    {
        // Every row in exactly one group and every group in the totals: when
        // each aggregate combines from per-group values, the totals are a
        // window over the grouped rows of the same scan.
        translator.window_totals = true;
        let windows: Result<Vec<String>, SnubaError> = query
            .select
            .iter()
            .enumerate()
            .filter(|(index, item)| {
                *index >= query.group_by.len() && contains_aggregate(&item.expr)
            })
            .map(|(index, item)| {
                Ok(format!(
                    "{} AS \"t_{index}\"",
                    translator.expr(&item.expr)?.text
                ))
            })
            .collect();
        translator.window_totals = false;
        if let Some(windows) = windows.ok().filter(|windows| !windows.is_empty()) {
            let mut inline = built.clone();
            inline.select.extend(windows);
            sql = assemble(&inline, &from_sql, Some(&sql_limit), None);
            totals_inline = true;
        }
    }
    if query.wants_totals() && matches!(query.source, Source::Entity(_)) {
        // Totals aggregate over all rows: no GROUP BY.
        translator.group_keys.clear();
        let mut select = Vec::new();
        for (index, item) in query.select.iter().enumerate() {
            if index >= query.group_by.len() && contains_aggregate(&item.expr) {
                totals_columns[index] = Some(select.len());
                let text = translator.expr(&item.expr)?.text;
                select.push(format!("{text} AS \"c_{index}\""));
            }
        }
        if !select.is_empty() {
            let mut totals = Clauses {
                select: Vec::new(),
                shapes: Vec::new(),
                condition: built.condition.clone(),
                group_by: Vec::new(),
                having: None,
                order_by: Vec::new(),
            };
            if let Some(having) = &built.having {
                // ClickHouse's `after_having_exclusive`: totals over the rows
                // of the groups that pass HAVING.
                let group_key = match built.group_by.as_slice() {
                    [single] => single.clone(),
                    many => format!(
                        "concat({})",
                        many.iter()
                            .map(|text| format!("coalesce(cast({text} AS varchar), '~'), '|'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                let inner = Clauses {
                    select: vec![group_key.clone()],
                    shapes: Vec::new(),
                    condition: built.condition.clone(),
                    group_by: built.group_by.clone(),
                    having: Some(having.clone()),
                    order_by: Vec::new(),
                };
                let subquery = assemble(&inner, &from_sql, Some("1000000"), None);
                let membership = format!("{group_key} IN ({subquery})");
                totals.condition = Some(match &totals.condition {
                    Some(condition) => format!("({condition}) AND {membership}"),
                    None => membership,
                });
            }
            let text = assemble(&totals, &from_sql, Some("1"), Some(&select));
            totals_query = Some(format!("{search} | {text}"));
        }
    }

    Ok(Plan {
        from,
        to,
        query: format!("{search} | {sql}"),
        totals_query,
        shapes: built.shapes,
        totals_columns,
        totals_inline,
        post,
    })
}

/// Types of the inner query's result columns.
fn validated_inner_types(inner: &Query, entity: &'static EntitySpec) -> Vec<String> {
    let context = TypeContext {
        entity: Some(entity),
        inner_columns: &[],
        granularity: inner.granularity,
    };
    inner
        .select
        .iter()
        .map(|item| infer(&item.expr, &context))
        .collect()
}

#[cfg(test)]
mod tests;
