//! Group rollups: for each settled day segment, one row per (topic, project,
//! group) with its count and first and last `__time__`, the store's
//! equivalent of a ClickHouse projection.
//!
//! Sentry's issue list (last seen or times seen per group, with totals) and
//! its daily sparklines read nothing else; over 14 days that is 5 million
//! rows of one project, or some 100 thousand rollup rows plus the two days
//! the window cuts. A query qualifies when, after [`rewrite`], it reads only
//! `project_id`, `group_id`, `count(*)`, `min`/`max(__time__)` and the day
//! bucket `__time__ - __time__ % 86400`, filters only on those keys and a
//! time range, and its search part only on the topic and those keys. Then
//! `log` becomes the union of the rollups of the segments inside the range
//! and the raw rows of the others (and of the memtable), each row carrying
//! `__n`, `__tmin`, `__tmax` and `__day`, and the statement reads them:
//! `count(*)` is `sum("__n")`, `max(__time__)` is `max("__tmax")`.
//!
//! A query that reads the hour bucket `__time__ - __time__ % 3600` (the 24 h
//! sparkline) uses hourly rollups instead, one row per (topic, project,
//! group, hour) of each one-day segment, cut to the range, which must then
//! be whole hours.
//!
//! Segments never change, so a segment's rollup is computed once, by the
//! first qualifying query that reads it, and kept in memory (bounded; an
//! entry goes once its file is gone and the cache is full).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arrow::array::RecordBatch;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    Ident, ObjectName, SelectItem, SetExpr, Statement, TableFactor, Value, VisitMut, VisitorMut,
};
use sentry_sls_slsql::SearchExpr;

use crate::columnar::{TIME, TOPIC};

/// The columns of a rollup row besides the keys.
pub const COUNT: &str = "__n";
/// First `__time__` of the rollup row's rows.
pub const FIRST: &str = "__tmin";
/// Last `__time__` of the rollup row's rows.
pub const LAST: &str = "__tmax";
/// The UTC day of the rollup row (`__time__ - __time__ % 86400`).
pub const DAY: &str = "__day";
/// The hour of an hourly rollup row (`__time__ - __time__ % 3600`).
pub const HOUR: &str = "__hour";
/// Seconds per hour: hourly rollups serve hourly buckets.
pub const SECONDS_PER_HOUR: i64 = 3_600;
/// The grouping keys besides the topic.
pub const KEYS: [&str; 2] = ["project_id", "group_id"];

const SECONDS_PER_DAY: i64 = 86_400;

/// Most bytes of rollups kept; past it the cache starts over.
const CACHE_BYTES: usize = 256 << 20;

/// Computed rollups by segment path.
#[derive(Default)]
pub struct Cache {
    /// Rollups by (segment, hourly), and their bytes.
    entries: Mutex<(Rollups, usize)>,
}

type Rollups = HashMap<(PathBuf, bool), RecordBatch>;

impl Cache {
    /// The (daily or hourly) rollup of `path`, if computed.
    pub fn get(&self, path: &Path, hourly: bool) -> Option<RecordBatch> {
        self.entries
            .lock()
            .expect("rollup cache lock")
            .0
            .get(&(path.to_path_buf(), hourly))
            .cloned()
    }

    /// Keeps the rollup of `path`; forgets every rollup of a file that no
    /// longer exists, and everything when over [`CACHE_BYTES`].
    pub fn insert(&self, path: PathBuf, hourly: bool, rollup: RecordBatch) {
        let mut entries = self.entries.lock().expect("rollup cache lock");
        let (map, bytes) = &mut *entries;
        let size = rollup.get_array_memory_size();
        if *bytes + size > CACHE_BYTES {
            map.retain(|(path, _), _| path.exists());
            *bytes = map.values().map(RecordBatch::get_array_memory_size).sum();
            if *bytes + size > CACHE_BYTES {
                map.clear();
                *bytes = 0;
            }
        }
        *bytes += size;
        if let Some(old) = map.insert((path, hourly), rollup) {
            *bytes -= old.get_array_memory_size();
        }
    }
}

/// A qualifying statement rewritten to read rollup rows, with the time
/// range its conditions allow (`[first, end)`).
pub struct Rewrite {
    /// The statement over the rollup view.
    pub statement: Statement,
    /// Earliest `__time__` the conditions allow.
    pub first: i64,
    /// One past the latest.
    pub end: i64,
    /// It reads the hour bucket: hourly rollups (one row per group and
    /// hour), for whole hours of the range.
    pub hourly: bool,
}

/// Whether the search part reads only the topic and the rollup keys.
pub fn search_qualifies(search: &SearchExpr) -> bool {
    match search {
        SearchExpr::All => true,
        SearchExpr::Term { field, .. } => {
            matches!(field.as_deref(), Some(name) if name == TOPIC || KEYS.contains(&name))
        }
        SearchExpr::Compare { field, .. } | SearchExpr::Range { field, .. } => {
            KEYS.contains(&field.as_str())
        }
        SearchExpr::And(parts) | SearchExpr::Or(parts) => parts.iter().all(search_qualifies),
        SearchExpr::Not(inner) => search_qualifies(inner),
    }
}

fn identifier(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Identifier(ident) => Some(ident.value.as_str()),
        Expr::Nested(inner) => identifier(inner),
        _ => None,
    }
}

fn integer(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(text, _) => text.parse().ok(),
            _ => None,
        },
        Expr::Nested(inner) => integer(inner),
        Expr::UnaryOp {
            op: datafusion::sql::sqlparser::ast::UnaryOperator::Minus,
            expr,
        } => integer(expr).map(|value| -value),
        _ => None,
    }
}

/// `g` of `__time__ % g`.
fn time_modulo(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Nested(inner) => time_modulo(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Modulo,
            right,
        } if identifier(left) == Some(TIME) => integer(right),
        _ => None,
    }
}

/// The rollup column of `__time__ - __time__ % 86400` (or `% 3600`).
fn bucket(expr: &Expr) -> Option<&'static str> {
    match expr {
        Expr::Nested(inner) => bucket(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Minus,
            right,
        } if identifier(left) == Some(TIME) => match time_modulo(right) {
            Some(SECONDS_PER_DAY) => Some(DAY),
            Some(SECONDS_PER_HOUR) => Some(HOUR),
            _ => None,
        },
        _ => None,
    }
}

fn conjuncts(expr: Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::Nested(inner) => conjuncts(*inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(*left, out);
            conjuncts(*right, out);
        }
        other => out.push(other),
    }
}

/// Narrows `[first, end)` by a `__time__` comparison; `false` if `expr` is
/// not one.
fn time_bound(expr: &Expr, first: &mut i64, end: &mut i64) -> bool {
    let Expr::BinaryOp { left, op, right } = expr else {
        return false;
    };
    let (Some(TIME), Some(value)) = (identifier(left), integer(right)) else {
        return false;
    };
    match op {
        BinaryOperator::GtEq => *first = (*first).max(value),
        BinaryOperator::Gt => *first = (*first).max(value.saturating_add(1)),
        BinaryOperator::Lt => *end = (*end).min(value),
        BinaryOperator::LtEq => *end = (*end).min(value.saturating_add(1)),
        _ => return false,
    }
    true
}

/// A condition on a rollup key with integer literals (`=` or `IN`).
fn key_condition(expr: &Expr) -> bool {
    match expr {
        Expr::Nested(inner) => key_condition(inner),
        Expr::InList {
            expr,
            list,
            negated,
            ..
        } => {
            !negated
                && identifier(expr).is_some_and(|name| KEYS.contains(&name))
                && list.iter().all(|item| integer(item).is_some())
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => identifier(left).is_some_and(|name| KEYS.contains(&name)) && integer(right).is_some(),
        _ => false,
    }
}

/// `name(arguments…)`.
fn function(name: &str, arguments: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(datafusion::sql::sqlparser::ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: arguments
                .into_iter()
                .map(|argument| FunctionArg::Unnamed(FunctionArgExpr::Expr(argument)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// `name("column")`.
fn call(name: &str, column: &str) -> Expr {
    function(name, vec![Expr::Identifier(Ident::with_quote('"', column))])
}

/// `coalesce(expr, 0)`.
fn coalesce_zero(expr: Expr) -> Expr {
    let zero = Expr::value(Value::Number("0".into(), false));
    function("coalesce", vec![expr, zero])
}

/// The single plain argument of `function`: `*` as `None`.
fn only_argument(function: &Function) -> Option<Option<&Expr>> {
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() || list.args.len() != 1 {
        return None;
    }
    match &list.args[0] {
        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => Some(None),
        FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(Some(expr)),
        _ => None,
    }
}

/// Rewrites aggregates and the day bucket to rollup columns; any other use
/// of a column than the keys disqualifies.
struct Rewriter {
    qualifies: bool,
    /// Aggregates replaced (outside windows): the statement aggregates.
    aggregates: usize,
    /// Whether the hour bucket was read.
    hourly: bool,
    /// The result columns' aliases (ORDER BY and HAVING may name them).
    aliases: Vec<String>,
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(column) = bucket(expr) {
            self.hourly |= column == HOUR;
            *expr = Expr::Identifier(Ident::with_quote('"', column));
            return ControlFlow::Continue(());
        }
        match expr {
            Expr::Function(function) if function.over.is_some() => {
                // A window over the grouped rows: its arguments are rewritten.
            }
            Expr::Function(function) => {
                let name = function.name.to_string().to_ascii_lowercase();
                let rewritten = matches!(only_argument(function), Some(Some(argument))
                    if identifier(argument).is_some_and(|name| [COUNT, FIRST, LAST].contains(&name)));
                if rewritten && ["sum", "min", "max"].contains(&name.as_str()) {
                    // Inside a replacement already made (`coalesce(sum("__n"), 0)`).
                    return ControlFlow::Continue(());
                }
                let replacement = match (name.as_str(), only_argument(function)) {
                    // `count(*)` over no rows is 0, where a sum is NULL.
                    ("count", Some(None)) if function.filter.is_none() => {
                        Some(coalesce_zero(call("sum", COUNT)))
                    }
                    ("max", Some(Some(argument))) if identifier(argument) == Some(TIME) => {
                        Some(call("max", LAST))
                    }
                    ("min", Some(Some(argument))) if identifier(argument) == Some(TIME) => {
                        Some(call("min", FIRST))
                    }
                    _ => None,
                };
                match replacement {
                    Some(replacement) => {
                        self.aggregates += 1;
                        *expr = replacement;
                    }
                    None => {
                        self.qualifies = false;
                        return ControlFlow::Break(());
                    }
                }
            }
            Expr::Identifier(ident) => {
                let known = KEYS.contains(&ident.value.as_str())
                    || [COUNT, FIRST, LAST, DAY, HOUR].contains(&ident.value.as_str())
                    || self.aliases.contains(&ident.value);
                if !known {
                    self.qualifies = false;
                    return ControlFlow::Break(());
                }
            }
            Expr::Cast { .. }
            | Expr::Case { .. }
            | Expr::BinaryOp { .. }
            | Expr::UnaryOp { .. }
            | Expr::Nested(_)
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::Value(_)
            | Expr::InList { .. } => {}
            _ => {
                self.qualifies = false;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

/// The statement rewritten to read rollups, if it qualifies (see the
/// module documentation); `[from, to)` is the request's time range.
/// `columns` are the logstore's column names: an alias that is also one is
/// not taken for the alias.
pub fn rewrite(
    statement: &Statement,
    from: i64,
    to: i64,
    columns: &std::collections::BTreeSet<String>,
) -> Option<Rewrite> {
    // The rollup columns' names must be ours alone.
    let text = statement.to_string();
    if [COUNT, FIRST, LAST, DAY, HOUR]
        .iter()
        .any(|name| text.contains(name) || columns.contains(*name))
    {
        return None;
    }
    let mut statement = statement.clone();
    let Statement::Query(query) = &mut statement else {
        return None;
    };
    if query.with.is_some() || query.fetch.is_some() || !query.locks.is_empty() {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let from_log = matches!(select.from.as_slice(), [table]
        if table.joins.is_empty()
            && matches!(&table.relation, TableFactor::Table { name, alias: None, args: None, .. }
                if name.to_string() == "log"));
    let GroupByExpr::Expressions(group_by, modifiers) = &select.group_by else {
        return None;
    };
    let grouped = !group_by.is_empty();
    if !from_log
        || select.distinct.is_some()
        || !modifiers.is_empty()
        || select.qualify.is_some()
        || !select.named_window.is_empty()
        || select.prewhere.is_some()
        || !select.lateral_views.is_empty()
        || !select.cluster_by.is_empty()
        || !select.distribute_by.is_empty()
        || !select.sort_by.is_empty()
    {
        return None;
    }
    // Result columns keep their names: aliased, or plain keys.
    let named = select.projection.iter().all(|item| match item {
        SelectItem::ExprWithAlias { .. } => true,
        SelectItem::UnnamedExpr(expr) => identifier(expr).is_some(),
        _ => false,
    });
    if !named {
        return None;
    }
    // Time bounds leave the statement (the view applies them); the other
    // conditions must be on the keys.
    let (mut first, mut end) = (from, to);
    let mut kept = Vec::new();
    if let Some(selection) = select.selection.take() {
        let mut parts = Vec::new();
        conjuncts(selection, &mut parts);
        for part in parts {
            let always = matches!(&part, Expr::Value(value) if value.value == Value::Boolean(true));
            if always || time_bound(&part, &mut first, &mut end) {
                continue;
            }
            if !key_condition(&part) {
                return None;
            }
            kept.push(part);
        }
    }
    select.selection = kept.into_iter().reduce(|left, right| Expr::BinaryOp {
        left: Box::new(left),
        op: BinaryOperator::And,
        right: Box::new(right),
    });
    let aliases = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } if !columns.contains(&alias.value) => {
                Some(alias.value.clone())
            }
            _ => None,
        })
        .collect();
    let mut rewriter = Rewriter {
        qualifies: true,
        aggregates: 0,
        hourly: false,
        aliases,
    };
    let _ = statement.visit(&mut rewriter);
    let hourly = rewriter.hourly;
    // A rollup row stands for rows only inside an aggregate or a group.
    let aggregating = grouped || rewriter.aggregates > 0;
    (rewriter.qualifies && aggregating && first < end).then_some(Rewrite {
        statement,
        first,
        end,
        hourly,
    })
}

/// Whether a segment spanning `[min_time, max_time]` lies in one UTC day
/// inside `[first, end)`: its rollup stands for its rows.
pub fn covers(min_time: i64, max_time: i64, first: i64, end: i64) -> bool {
    min_time >= first
        && max_time < end
        && min_time.div_euclid(SECONDS_PER_DAY) == max_time.div_euclid(SECONDS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql;

    fn rewritten(text: &str) -> Option<String> {
        let prepared = sql::prepare(text).unwrap();
        let columns = ["level".to_string()].into_iter().collect();
        rewrite(&prepared.statement, 0, 1_000_000, &columns)
            .map(|rewrite| rewrite.statement.to_string())
    }

    #[test]
    fn the_issue_list_and_sparklines_read_rollups() {
        assert_eq!(
            rewritten(
                "SELECT \"group_id\" AS \"c_0\", (cast(max(__time__) AS bigint) * 1000) AS \"c_1\", \
                 count(\"group_id\") OVER () AS \"t_2\" FROM log WHERE ((__time__ >= 100) AND \
                 (__time__ < 900) AND (\"project_id\" IN (1))) GROUP BY \"group_id\" \
                 ORDER BY (cast(max(__time__) AS bigint) * 1000) DESC LIMIT 150"
            )
            .unwrap(),
            "SELECT \"group_id\" AS \"c_0\", (CAST(max(\"__tmax\") AS BIGINT) * 1000) AS \"c_1\", \
             count(\"group_id\") OVER () AS \"t_2\" FROM log WHERE \"project_id\" IN (1) \
             GROUP BY \"group_id\" ORDER BY (CAST(max(\"__tmax\") AS BIGINT) * 1000) DESC LIMIT 150"
        );
        assert_eq!(
            rewritten(
                "SELECT \"group_id\", (__time__ - __time__ % 86400) AS d, count(*) AS n FROM log \
                 WHERE \"group_id\" IN (4, 5) AND __time__ >= 100 GROUP BY \"group_id\", \
                 (__time__ - __time__ % 86400) ORDER BY (__time__ - __time__ % 86400) DESC LIMIT 10"
            )
            .unwrap(),
            "SELECT \"group_id\", \"__day\" AS d, coalesce(sum(\"__n\"), 0) AS n FROM log WHERE \"group_id\" IN (4, 5) \
             GROUP BY \"group_id\", \"__day\" ORDER BY \"__day\" DESC LIMIT 10"
        );
    }

    #[test]
    fn hourly_buckets_read_hourly_rollups() {
        let prepared = sql::prepare(
            "SELECT \"group_id\", (__time__ - __time__ % 3600) AS h, count(*) AS n FROM log \
             GROUP BY \"group_id\", (__time__ - __time__ % 3600) LIMIT 10",
        )
        .unwrap();
        let rewrite = rewrite(&prepared.statement, 0, 7_200, &Default::default()).unwrap();
        assert!(rewrite.hourly);
        assert_eq!(
            rewrite.statement.to_string(),
            "SELECT \"group_id\", \"__hour\" AS h, coalesce(sum(\"__n\"), 0) AS n FROM log GROUP BY \"group_id\", \"__hour\" LIMIT 10"
        );
    }

    #[test]
    fn anything_else_reads_rows() {
        for text in [
            "SELECT \"group_id\", count(DISTINCT \"user\") FROM log GROUP BY \"group_id\"",
            "SELECT \"group_id\", count(*) FROM log WHERE level = 'error' GROUP BY \"group_id\"",
            "SELECT \"group_id\", max(__time__) FROM log WHERE \"group_id\" IN (SELECT 1) GROUP BY \"group_id\"",
            "SELECT __time__ - __time__ % 600 AS h, count(*) AS n FROM log GROUP BY __time__ - __time__ % 600",
            "SELECT \"group_id\", sum(\"project_id\") FROM log GROUP BY \"group_id\"",
            "SELECT event_id FROM log ORDER BY __time__ DESC LIMIT 1",
            "SELECT \"group_id\", count(*) FROM log CROSS JOIN UNNEST(x) AS t(a) GROUP BY \"group_id\"",
            "SELECT DISTINCT \"group_id\" FROM log",
            "SELECT \"group_id\" AS level, count(*) AS n FROM log GROUP BY level",
            // Rows, not groups: one per log, not per rollup row.
            "SELECT \"group_id\" AS g FROM log LIMIT 5",
            "SELECT count(*) OVER () AS n FROM log LIMIT 5",
            "SELECT \"group_id\", count(*) FROM log GROUP BY \"group_id\"",
        ] {
            assert_eq!(rewritten(text), None, "{text}");
        }
    }

    #[test]
    fn only_segments_inside_the_range_and_one_day_stand_for_their_rows() {
        assert!(covers(86_400, 86_400 * 2 - 1, 0, 86_400 * 3));
        assert!(!covers(86_400, 86_400 * 2, 0, 86_400 * 3));
        assert!(!covers(86_400, 86_400 + 10, 86_401, 86_400 * 3));
        assert!(!covers(86_400, 86_400 + 10, 0, 86_400 + 10));
    }
}
