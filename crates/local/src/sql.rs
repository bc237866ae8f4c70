//! The SQL part of an SLS query, made runnable on DataFusion.
//!
//! SLS SQL is Presto SQL over an implied table: `FROM log` may be left out,
//! `LIMIT offset, count` is MySQL-style, a query without LIMIT returns 100
//! rows, and some Presto functions have other names or no counterpart in
//! DataFusion. This module parses the SQL with DataFusion's own parser,
//! rewrites the syntax tree to DataFusion's dialect, and enforces SLS's
//! limits. Function rewrites print the already-rewritten arguments and parse
//! the replacement text, so they never depend on AST constructor details.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    JoinConstraint, JoinOperator, LimitClause, Query, Select, SetExpr, Statement, TableFactor,
    TableWithJoins, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Rows returned by an SQL query without LIMIT (SLS's default).
pub const DEFAULT_LIMIT: u64 = 100;
/// Largest `LIMIT count` (and `offset + count`) SLS accepts.
pub const MAX_LIMIT: u64 = 1_000_000;
/// Longest SQL text accepted.
pub const MAX_SQL_BYTES: usize = 64 * 1024;

/// A rewritten statement ready for DataFusion's planner.
#[derive(Debug)]
pub struct PreparedSql {
    /// The statement.
    pub statement: Statement,
    /// The effective top-level row limit.
    pub limit: u64,
}

fn parse_expression(text: &str) -> Result<Expr, String> {
    Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|error| format!("internal rewrite of `{text}` failed: {error}"))
}

struct Rewriter {
    error: Option<String>,
}

fn plain_arguments(function: &Function) -> Option<Vec<String>> {
    let FunctionArguments::List(list) = &function.args else {
        return if matches!(function.args, FunctionArguments::None) {
            Some(Vec::new())
        } else {
            None
        };
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    list.args
        .iter()
        .map(|argument| match argument {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(expr.to_string()),
            _ => None,
        })
        .collect()
}

/// `x` of `f(DISTINCT x)` (one plain argument, no other clauses).
fn distinct_argument(function: &Function) -> Option<String> {
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    match (
        &list.duplicate_treatment,
        list.clauses.as_slice(),
        list.args.as_slice(),
    ) {
        (
            Some(DuplicateTreatment::Distinct),
            [],
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(expr))],
        ) => Some(expr.to_string()),
        _ => None,
    }
}

/// The replacement text of a Presto function call, if it needs one.
fn rewrite_function(function: &Function) -> Result<Option<String>, String> {
    if function.over.is_some() || function.filter.is_some() {
        return Ok(None);
    }
    let name = function.name.to_string().to_ascii_lowercase();
    if let Some(value) = distinct_argument(function).filter(|_| name == "count") {
        // One set of value hashes per group (`distinct.rs`) instead of
        // DataFusion's second grouping by (group, value).
        return Ok(Some(format!("{}({value})", crate::distinct::NAME)));
    }
    let Some(arguments) = plain_arguments(function) else {
        return Ok(None);
    };
    let arity_error = |expected: &str| {
        Err(format!(
            "function {name} expects {expected} argument(s), got {}",
            arguments.len()
        ))
    };
    let text = match name.as_str() {
        "count_if" => match arguments.as_slice() {
            [condition] => format!("count(CASE WHEN {condition} THEN 1 END)"),
            _ => return arity_error("1"),
        },
        "if" => match arguments.as_slice() {
            [condition, then] => format!("CASE WHEN {condition} THEN {then} END"),
            [condition, then, otherwise] => {
                format!("CASE WHEN {condition} THEN {then} ELSE {otherwise} END")
            }
            _ => return arity_error("2 or 3"),
        },
        // Any value of the group is a correct answer; max is deterministic.
        "arbitrary" | "any_value" => match arguments.as_slice() {
            [value] => format!("max({value})"),
            _ => return arity_error("1"),
        },
        "max_by" => match arguments.as_slice() {
            [value, key] => format!("first_value({value} ORDER BY {key} DESC NULLS LAST)"),
            _ => return arity_error("2"),
        },
        "min_by" => match arguments.as_slice() {
            [value, key] => format!("first_value({value} ORDER BY {key} ASC NULLS LAST)"),
            _ => return arity_error("2"),
        },
        "date_trunc" => match arguments.as_slice() {
            [unit, value] => format!("date_trunc({unit}, sls_to_timestamp({value}))"),
            _ => return arity_error("2"),
        },
        "approx_percentile" => match arguments.as_slice() {
            [value, level] => format!("approx_percentile_cont({value}, {level})"),
            _ => return arity_error("2"),
        },
        "split" => match arguments.as_slice() {
            [text, delimiter] => format!("string_to_array({text}, {delimiter})"),
            _ => return arity_error("2"),
        },
        _ => return Ok(None),
    };
    Ok(Some(text))
}

/// `x` of `cast(json_parse(x) AS map(…))`, the JSON-object map cast.
fn json_map_source(expr: &Expr) -> Option<String> {
    let Expr::Cast {
        expr, data_type, ..
    } = expr
    else {
        return None;
    };
    if !matches!(
        data_type,
        datafusion::sql::sqlparser::ast::DataType::Map(_, _)
    ) {
        return None;
    }
    let Expr::Function(function) = expr.as_ref() else {
        return None;
    };
    if !function.name.to_string().eq_ignore_ascii_case("json_parse") {
        return None;
    }
    match plain_arguments(function)?.as_slice() {
        [object] => Some(object.clone()),
        _ => None,
    }
}

/// Presto's `FROM t CROSS JOIN UNNEST(e) AS x(c)` (and `FROM t, UNNEST(…)`)
/// references `t`'s columns from inside UNNEST, which DataFusion's planner
/// does not support. The same rows come from a derived table that unnests in
/// its projection: `FROM (SELECT *, unnest(e) AS c FROM t) AS t`.
fn rewrite_unnest(tables: &mut Vec<TableWithJoins>) -> Result<(), String> {
    // `FROM t, UNNEST(…)`: fold the comma join into a cross join first.
    if tables.len() == 2
        && matches!(tables[1].relation, TableFactor::UNNEST { .. })
        && tables[1].joins.is_empty()
    {
        let unnest = tables.pop().expect("two tables").relation;
        tables[0].joins.insert(
            0,
            datafusion::sql::sqlparser::ast::Join {
                relation: unnest,
                global: false,
                join_operator: JoinOperator::CrossJoin(JoinConstraint::None),
            },
        );
    }
    for table in tables.iter_mut() {
        while let Some(first) = table.joins.first() {
            let TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset: false,
                with_ordinality: false,
                ..
            } = &first.relation
            else {
                break;
            };
            if !matches!(
                first.join_operator,
                JoinOperator::CrossJoin(JoinConstraint::None)
            ) {
                break;
            }
            let columns: Vec<String> = alias
                .as_ref()
                .map(|alias| {
                    alias
                        .columns
                        .iter()
                        .map(|column| column.name.to_string())
                        .collect()
                })
                .unwrap_or_default();
            let projections: Vec<String> = match (array_exprs.as_slice(), columns.as_slice()) {
                // A map unnests into key and value columns.
                ([map], [key, value]) => {
                    let object = json_map_source(map).ok_or(
                        "UNNEST of a map supports cast(json_parse(x) AS map(varchar, varchar))",
                    )?;
                    vec![
                        format!("unnest(sls_json_map_keys({object})) AS {key}"),
                        format!("unnest(sls_json_map_values({object})) AS {value}"),
                    ]
                }
                _ if columns.len() != array_exprs.len() => {
                    return Err(
                        "UNNEST needs a column name for each array: UNNEST(a) AS t(x)".into(),
                    );
                }
                _ => array_exprs
                    .iter()
                    .zip(&columns)
                    .map(|(array, column)| format!("unnest({array}) AS {column}"))
                    .collect(),
            };
            let base_alias = match &table.relation {
                TableFactor::Table {
                    alias: Some(alias), ..
                }
                | TableFactor::Derived {
                    alias: Some(alias), ..
                } => alias.name.to_string(),
                TableFactor::Table { name, .. } => name.to_string(),
                _ => "log".to_string(),
            };
            let text = format!(
                "SELECT 1 FROM (SELECT *, {} FROM {}) AS {base_alias}",
                projections.join(", "),
                table.relation
            );
            let query = Parser::new(&GenericDialect {})
                .try_with_sql(&text)
                .and_then(|mut parser| parser.parse_query())
                .map_err(|error| format!("internal rewrite of UNNEST failed: {error}"))?;
            let SetExpr::Select(select) = *query.body else {
                return Err("internal rewrite of UNNEST failed".into());
            };
            let derived = select
                .from
                .into_iter()
                .next()
                .ok_or("internal rewrite of UNNEST failed")?;
            table.relation = derived.relation;
            table.joins.remove(0);
        }
    }
    Ok(())
}

/// The column a map UNNEST's key and value are grouped by together.
const MAP_PAIR: &str = "__map_pair__";
/// The column of [`facets_by_aggregate`]'s unnested groups.
const MAP_FACET: &str = "__map_facet__";

/// A select's `CROSS JOIN UNNEST(cast(json_parse(x) AS map(…))) AS t(k, v)`
/// grouped by both `k` and `v`.
struct MapGrouping {
    /// `x`, as SQL text.
    object: String,
    key: String,
    value: String,
    /// The joined table, as SQL text, and the name its columns go by.
    relation: String,
    alias: String,
}

/// Whether `node` holds a subquery expression (scalar, EXISTS or IN).
pub(crate) fn has_subquery(node: &impl datafusion::sql::sqlparser::ast::Visit) -> bool {
    datafusion::sql::sqlparser::ast::visit_expressions(node, |expr| {
        if matches!(
            expr,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        ) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// An identifier as DataFusion resolves it: unquoted ones in lower case.
fn normalized(ident: &datafusion::sql::sqlparser::ast::Ident) -> String {
    match ident.quote_style {
        None => ident.value.to_lowercase(),
        Some(_) => ident.value.clone(),
    }
}

fn is_name(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Identifier(ident) if normalized(ident) == name)
}

/// Whether a rewrite of `query`'s own select may treat every `k` and `v`
/// as the UNNEST's: no WITH or subquery (where they could be other
/// columns), and no select-list alias named `k` or `v` but for `k AS k`
/// (ORDER BY and HAVING would then mean the alias).
fn members_unambiguous(query: &Query, key: &str, value: &str) -> bool {
    use datafusion::sql::sqlparser::ast::SelectItem;
    if query.with.is_some() {
        return false;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    !has_subquery(query)
        && select.projection.iter().all(|item| match item {
            SelectItem::ExprWithAlias { expr, alias } => {
                let alias = normalized(alias);
                (alias != key && alias != value) || is_name(expr, &alias)
            }
            _ => true,
        })
}

fn map_grouping(select: &Select) -> Option<MapGrouping> {
    use datafusion::sql::sqlparser::ast::GroupByExpr;
    let [table] = select.from.as_slice() else {
        return None;
    };
    let [join] = table.joins.as_slice() else {
        return None;
    };
    let TableFactor::UNNEST {
        alias: Some(alias),
        array_exprs,
        with_offset: false,
        with_ordinality: false,
        ..
    } = &join.relation
    else {
        return None;
    };
    if !matches!(
        join.join_operator,
        JoinOperator::CrossJoin(JoinConstraint::None)
    ) {
        return None;
    }
    let ([map], [key, value]) = (array_exprs.as_slice(), alias.columns.as_slice()) else {
        return None;
    };
    let object = json_map_source(map)?;
    let (key, value) = (normalized(&key.name), normalized(&value.name));
    let GroupByExpr::Expressions(groups, modifiers) = &select.group_by else {
        return None;
    };
    let reserved = [MAP_PAIR, MAP_FACET];
    if !modifiers.is_empty()
        || !groups.iter().any(|group| is_name(group, &key))
        || !groups.iter().any(|group| is_name(group, &value))
        || reserved.contains(&key.as_str())
        || reserved.contains(&value.as_str())
    {
        return None;
    }
    let alias = match &table.relation {
        TableFactor::Table {
            alias: Some(alias), ..
        } => alias.name.to_string(),
        TableFactor::Table { name, .. } => name.to_string(),
        _ => return None,
    };
    Some(MapGrouping {
        object,
        key,
        value,
        relation: table.relation.to_string(),
        alias,
    })
}

/// The FROM of `SELECT 1 FROM {text}`.
fn parse_from(text: &str) -> Result<Vec<TableWithJoins>, String> {
    let query = Parser::new(&GenericDialect {})
        .try_with_sql(&format!("SELECT 1 FROM {text}"))
        .and_then(|mut parser| parser.parse_query())
        .map_err(|error| format!("internal rewrite of UNNEST failed: {error}"))?;
    match *query.body {
        SetExpr::Select(select) => Ok(select.from),
        _ => Err("internal rewrite of UNNEST failed".into()),
    }
}

/// The tag-facet query (`SELECT k, v, count(*), min(__time__),
/// max(__time__) … GROUP BY k, v` over a map UNNEST, the WHERE not naming
/// `k` or `v`) as one aggregate that reads each object once
/// ([`crate::facets`]): `SELECT get_field(__map_facet__, 'k'), … FROM
/// (SELECT unnest(sls_map_facets(x, __time__)) AS __map_facet__ FROM log
/// WHERE …) AS log`, the query's ORDER BY and LIMIT kept. `false` (and
/// nothing changed) for any other shape.
fn facets_by_aggregate(query: &mut Query) -> Result<bool, String> {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Ok(false);
    };
    let Some(grouping) = map_grouping(select) else {
        return Ok(false);
    };
    let datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(groups, _) = &select.group_by
    else {
        return Ok(false);
    };
    let (key, value) = (grouping.key.clone(), grouping.value.clone());
    let plain = groups.len() == 2
        && select.having.is_none()
        && select.distinct.is_none()
        && select.top.is_none()
        && select.into.is_none()
        && select.qualify.is_none()
        && select.prewhere.is_none()
        && select.named_window.is_empty()
        && select.lateral_views.is_empty()
        && select.cluster_by.is_empty()
        && select.distribute_by.is_empty()
        && select.sort_by.is_empty();
    if !plain || !members_unambiguous(query, &key, &value) {
        return Ok(false);
    }
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Ok(false);
    };
    // The WHERE runs before grouping, on the table's columns only.
    let mut names_member = false;
    if let Some(selection) = &select.selection {
        let _ = datafusion::sql::sqlparser::ast::visit_expressions(selection, |expr| {
            names_member |= is_name(expr, &grouping.key)
                || is_name(expr, &grouping.value)
                || matches!(expr, Expr::CompoundIdentifier(_));
            ControlFlow::<()>::Continue(())
        });
    }
    if names_member {
        return Ok(false);
    }
    let field = |name: &str| parse_expression(&format!("get_field(\"{MAP_FACET}\", '{name}')"));
    let mut substitution = FacetSubstitution {
        key: (grouping.key.clone(), field("k")?),
        value: (grouping.value.clone(), field("v")?),
        count: field("n")?,
        low: field("lo")?,
        high: field("hi")?,
        aliases: Vec::new(),
        supported: true,
    };
    // Substitute on copies: the query changes only if all of it is supported.
    let mut projection = select.projection.clone();
    let mut aliases = Vec::new();
    for item in &mut projection {
        use datafusion::sql::sqlparser::ast::SelectItem;
        match item {
            // A bare `k` keeps its name.
            SelectItem::UnnamedExpr(Expr::Identifier(ident))
                if [&grouping.key, &grouping.value].contains(&&normalized(ident)) =>
            {
                *item = SelectItem::ExprWithAlias {
                    expr: Expr::Identifier(ident.clone()),
                    alias: ident.clone(),
                };
            }
            SelectItem::UnnamedExpr(_) => substitution.supported = false,
            _ => {}
        }
        match item {
            SelectItem::ExprWithAlias { expr, alias } => {
                let _ = expr.visit(&mut substitution);
                aliases.push(normalized(alias));
            }
            _ => substitution.supported = false,
        }
    }
    // In ORDER BY a name is first the select list's.
    substitution.aliases = aliases;
    let mut order_by = query.order_by.clone();
    if let Some(order_by) = &mut order_by {
        let _ = order_by.visit(&mut substitution);
    }
    if !substitution.supported {
        return Ok(false);
    }
    let filter = select
        .selection
        .as_ref()
        .map(|selection| format!(" WHERE {selection}"))
        .unwrap_or_default();
    select.from = parse_from(&format!(
        "(SELECT unnest({}({}, __time__)) AS \"{MAP_FACET}\" FROM {}{filter}) AS {}",
        crate::facets::NAME,
        grouping.object,
        grouping.relation,
        grouping.alias
    ))?;
    select.projection = projection;
    select.selection = None;
    select.group_by =
        datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(Vec::new(), Vec::new());
    query.order_by = order_by;
    Ok(true)
}

/// Replaces, top-down, `k`, `v`, `count(*)`, `min(__time__)` and
/// `max(__time__)` by fields of [`MAP_FACET`]; anything else that reads
/// rows (another column, another function, a subquery) is unsupported.
struct FacetSubstitution {
    key: (String, Expr),
    value: (String, Expr),
    count: Expr,
    low: Expr,
    high: Expr,
    /// Select-list aliases (ORDER BY may name them).
    aliases: Vec<String>,
    supported: bool,
}

impl VisitorMut for FacetSubstitution {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(ident)
                if ident.value == MAP_FACET || self.aliases.contains(&normalized(ident)) => {}
            Expr::Identifier(ident) if normalized(ident) == self.key.0 => {
                *expr = self.key.1.clone()
            }
            Expr::Identifier(ident) if normalized(ident) == self.value.0 => {
                *expr = self.value.1.clone()
            }
            Expr::Function(function) => {
                let name = function.name.to_string().to_ascii_lowercase();
                let plain = function.over.is_none()
                    && function.filter.is_none()
                    && function.within_group.is_empty()
                    && function.null_treatment.is_none();
                let star = matches!(&function.args, FunctionArguments::List(list)
                    if list.duplicate_treatment.is_none()
                        && list.clauses.is_empty()
                        && matches!(list.args.as_slice(), [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]));
                let time = plain_arguments(function).is_some_and(|arguments| {
                    arguments == ["__time__"] || arguments == ["\"__time__\""]
                });
                match name.as_str() {
                    "count" if plain && star => *expr = self.count.clone(),
                    "min" if plain && time => *expr = self.low.clone(),
                    "max" if plain && time => *expr = self.high.clone(),
                    "get_field" => {}
                    _ => self.supported = false,
                }
            }
            Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::InSubquery { .. }
            | Expr::Wildcard(_)
            | Expr::QualifiedWildcard(..) => self.supported = false,
            _ => {}
        }
        if self.supported {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }
}

/// `… CROSS JOIN UNNEST(cast(json_parse(x) AS map(…))) AS t(k, v) … GROUP BY
/// k, v` (the tag-facet query) groups by one binary column of pairs
/// instead of two string columns, about twice as fast: the join becomes
/// `(SELECT *, unnest(sls_json_map_pairs(x)) AS __map_pair__ FROM log)`,
/// the GROUP BY names `__map_pair__` in place of `k` and `v`, and every
/// other `k` or `v` of the query becomes `sls_pair_key(__map_pair__)` or
/// `sls_pair_value(__map_pair__)`. Same groups, same answers. Any other
/// shape is left to [`rewrite_unnest`].
fn group_by_map_pairs(query: &mut Query) -> Result<(), String> {
    use datafusion::sql::sqlparser::ast::{GroupByExpr, Ident};
    if facets_by_aggregate(query)? {
        return Ok(());
    }
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Ok(());
    };
    let Some(grouping) = map_grouping(select) else {
        return Ok(());
    };
    let (key, value) = (grouping.key.clone(), grouping.value.clone());
    // Unnamed items naming `k` or `v` would change their names.
    let mut renamed = false;
    for item in &mut select.projection {
        if let datafusion::sql::sqlparser::ast::SelectItem::UnnamedExpr(expr) = item {
            if !is_name(expr, &key) && !is_name(expr, &value) {
                let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(expr, |inner| {
                    renamed |= is_name(inner, &key) || is_name(inner, &value);
                    ControlFlow::<()>::Continue(())
                });
            }
        }
    }
    if renamed || !members_unambiguous(query, &key, &value) {
        return Ok(());
    }
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Ok(());
    };
    if let GroupByExpr::Expressions(groups, _) = &mut select.group_by {
        groups.retain(|group| !is_name(group, &key) && !is_name(group, &value));
        groups.push(Expr::Identifier(Ident::with_quote('"', MAP_PAIR)));
    }
    let derived = parse_from(&format!(
        "(SELECT *, unnest(sls_json_map_pairs({})) AS \"{MAP_PAIR}\" FROM {}) AS {}",
        grouping.object, grouping.relation, grouping.alias
    ))?;
    // The other references, replaced while the FROM is out of the way (the
    // object column it names could be `k`).
    select.from.clear();
    let parts = [
        (
            key,
            parse_expression(&format!("sls_pair_key(\"{MAP_PAIR}\")"))?,
        ),
        (
            value,
            parse_expression(&format!("sls_pair_value(\"{MAP_PAIR}\")"))?,
        ),
    ];
    // A bare `k` in the select list keeps its name.
    for item in &mut select.projection {
        if let datafusion::sql::sqlparser::ast::SelectItem::UnnamedExpr(Expr::Identifier(ident)) =
            item
        {
            if let Some((_, part)) = parts.iter().find(|(name, _)| *name == normalized(ident)) {
                *item = datafusion::sql::sqlparser::ast::SelectItem::ExprWithAlias {
                    expr: part.clone(),
                    alias: ident.clone(),
                };
            }
        }
    }
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(query, |expr| {
        if let Some((_, part)) = parts.iter().find(|(name, _)| is_name(expr, name)) {
            *expr = part.clone();
        }
        ControlFlow::<()>::Continue(())
    });
    if let SetExpr::Select(select) = query.body.as_mut() {
        select.from = derived;
    }
    Ok(())
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Err(error) = group_by_map_pairs(query) {
            self.error = Some(error);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        if let Err(error) = rewrite_unnest(&mut select.from) {
            self.error = Some(error);
            return ControlFlow::Break(());
        }
        if select.from.is_empty() {
            // SLS implies the logstore: `select count(*)` reads `log`.
            match Parser::new(&GenericDialect {})
                .try_with_sql("SELECT 1 FROM log")
                .and_then(|mut parser| parser.parse_query())
            {
                Ok(query) => {
                    if let SetExpr::Select(implied) = *query.body {
                        select.from = implied.from;
                    }
                }
                Err(error) => {
                    self.error = Some(error.to_string());
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(function) = expr else {
            return ControlFlow::Continue(());
        };
        match rewrite_function(function) {
            Ok(None) => ControlFlow::Continue(()),
            Ok(Some(text)) => match parse_expression(&text) {
                Ok(replacement) => {
                    *expr = replacement;
                    ControlFlow::Continue(())
                }
                Err(error) => {
                    self.error = Some(error);
                    ControlFlow::Break(())
                }
            },
            Err(error) => {
                self.error = Some(error);
                ControlFlow::Break(())
            }
        }
    }
}

fn literal_u64(expr: &Expr) -> Option<u64> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(number, _) => number.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// Applies SLS's top-level LIMIT rules: default 100, at most 1,000,000 rows
/// reachable (`offset + count`). Returns the effective count.
fn apply_limits(query: &mut Query) -> Result<u64, String> {
    match query.limit_clause.clone().as_ref() {
        None => {
            let implied = Parser::new(&GenericDialect {})
                .try_with_sql(&format!("SELECT 1 LIMIT {DEFAULT_LIMIT}"))
                .and_then(|mut parser| parser.parse_query())
                .map_err(|error| error.to_string())?;
            query.limit_clause = implied.limit_clause;
            Ok(DEFAULT_LIMIT)
        }
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
            let (Some(offset), Some(count)) = (literal_u64(offset), literal_u64(limit)) else {
                return Err("LIMIT offset, count takes integer literals".into());
            };
            if offset.saturating_add(count) > MAX_LIMIT {
                return Err(format!(
                    "limit offset + count must be at most {MAX_LIMIT}, got {offset} + {count}"
                ));
            }
            Ok(count)
        }
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if !limit_by.is_empty() {
                return Err("LIMIT BY is not supported".into());
            }
            let count = match limit {
                Some(expr) => literal_u64(expr).ok_or("LIMIT takes an integer literal")?,
                None => DEFAULT_LIMIT,
            };
            let skip = match offset {
                Some(offset) => {
                    literal_u64(&offset.value).ok_or("OFFSET takes an integer literal")?
                }
                None => 0,
            };
            if count.saturating_add(skip) > MAX_LIMIT {
                return Err(format!("limit must be at most {MAX_LIMIT}, got {count}"));
            }
            if limit.is_none() {
                // `OFFSET n` alone (or `LIMIT ALL`) still returns at most 100 rows.
                let implied = parse_expression(&DEFAULT_LIMIT.to_string())?;
                if let Some(LimitClause::LimitOffset { limit, .. }) = &mut query.limit_clause {
                    *limit = Some(implied);
                }
            }
            Ok(count)
        }
    }
}

/// Parses and rewrites the SQL part of an SLS query. Errors are messages for
/// SLS's `ParameterInvalid`.
pub fn prepare(sql: &str) -> Result<PreparedSql, String> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(format!("sql is longer than {MAX_SQL_BYTES} bytes"));
    }
    let trimmed = sql.trim();
    if trimmed.ends_with(';') {
        return Err("sql must not end with ';'".into());
    }
    let mut statements = Parser::new(&GenericDialect {})
        .try_with_sql(trimmed)
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|error| format!("sql parse error: {error}"))?;
    if statements.len() != 1 {
        return Err("expected exactly one SELECT statement".into());
    }
    let mut statement = statements.pop().expect("one statement");
    let Statement::Query(query) = &mut statement else {
        return Err("only SELECT queries are allowed".into());
    };
    let limit = apply_limits(query)?;
    let mut rewriter = Rewriter { error: None };
    let _ = statement.visit(&mut rewriter);
    if let Some(error) = rewriter.error {
        return Err(error);
    }
    Ok(PreparedSql { statement, limit })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        prepare(sql).unwrap().statement.to_string()
    }

    #[test]
    fn map_unnest_grouped_by_key_and_value_groups_by_the_pair() {
        assert_eq!(
            rewritten(
                "select \"k\" as a, upper(v) as u, count(*) as c from log cross join \
                 unnest(cast(json_parse(\"tags\") as map(varchar, varchar))) as t(k, v) \
                 where v <> '' group by \"k\", v, x order by k limit 5"
            ),
            "SELECT sls_pair_key(\"__map_pair__\") AS a, upper(sls_pair_value(\"__map_pair__\")) AS u, count(*) AS c \
             FROM (SELECT *, unnest(sls_json_map_pairs(\"tags\")) AS \"__map_pair__\" FROM log) AS log \
             WHERE sls_pair_value(\"__map_pair__\") <> '' GROUP BY x, \"__map_pair__\" \
             ORDER BY sls_pair_key(\"__map_pair__\") LIMIT 5"
        );
        // The facet aggregates alone: one aggregate over the objects.
        assert_eq!(
            rewritten(
                "select k as a, \"v\", count(*) as n, min(__time__) as lo, max(\"__time__\") as hi \
                 from log cross join unnest(cast(json_parse(tags) as map(varchar, varchar))) as t(k, v) \
                 where x = 1 group by v, k order by count(*) desc, a limit 9"
            ),
            "SELECT get_field(\"__map_facet__\", 'k') AS a, get_field(\"__map_facet__\", 'v') AS \"v\", \
             get_field(\"__map_facet__\", 'n') AS n, get_field(\"__map_facet__\", 'lo') AS lo, \
             get_field(\"__map_facet__\", 'hi') AS hi \
             FROM (SELECT unnest(sls_map_facets(tags, __time__)) AS \"__map_facet__\" FROM log WHERE x = 1) AS log \
             ORDER BY get_field(\"__map_facet__\", 'n') DESC, a LIMIT 9"
        );
        // Unquoted names resolve in lower case.
        assert!(rewritten(
            "select K, V, count(*) as n from log cross join \
             unnest(cast(json_parse(tags) as map(varchar, varchar))) as t(k, v) group by k, V"
        )
        .contains("sls_map_facets"));
        // Neither rewrite where `k`/`v` could mean something else, or an
        // unnamed item's name would change.
        for kept in [
            "select k as v, v as k, count(*) as n from log cross join unnest(cast(json_parse(tags) as map(varchar, varchar))) as t(k, v) group by k, v order by k limit 1",
            "select k, v, count(*) as n, (select max(k) from log) as m from log cross join unnest(cast(json_parse(tags) as map(varchar, varchar))) as t(k, v) group by k, v",
            "with x as (select 1 as k) select k, v, count(*) as n from log cross join unnest(cast(json_parse(tags) as map(varchar, varchar))) as t(k, v) group by k, v",
            "select upper(v), count(*) as n from log cross join unnest(cast(json_parse(tags) as map(varchar, varchar))) as t(k, v) group by k, v",
        ] {
            let text = rewritten(kept);
            assert!(
                !text.contains("__map_pair__") && !text.contains("__map_facet__"),
                "{kept}"
            );
        }
        for other in [
            "select k, v, count(*) as n from log cross join unnest(cast(json_parse(tags) as map(varchar, varchar))) as t(k, v) where k = 'a' group by k, v",
            "select k, v, count(*) from log cross join unnest(cast(json_parse(tags) as map(varchar, varchar))) as t(k, v) group by k, v",
            "select k, v, count(x) as n from log cross join unnest(cast(json_parse(tags) as map(varchar, varchar))) as t(k, v) group by k, v",
            "select k, v, min(y) as n from log cross join unnest(cast(json_parse(tags) as map(varchar, varchar))) as t(k, v) group by k, v",
            "select k, v, count(*) as n from log cross join unnest(cast(json_parse(tags) as map(varchar, varchar))) as t(k, v) group by k, v having count(*) > 1",
        ] {
            assert!(rewritten(other).contains("__map_pair__"), "{other}");
        }
        // Grouped by the key alone: two list columns, as before.
        assert!(rewritten(
            "select k, count(*) from log cross join \
             unnest(cast(json_parse(tags) as map(varchar, varchar))) as t(k, v) group by k"
        )
        .contains("unnest(sls_json_map_keys(tags)) AS k"));
    }

    #[test]
    fn implies_log_and_default_limit() {
        assert_eq!(
            rewritten("select count(*) as c"),
            "SELECT count(*) AS c FROM log LIMIT 100"
        );
        assert_eq!(
            rewritten("select a from (select a) group by a limit 5"),
            "SELECT a FROM (SELECT a FROM log) GROUP BY a LIMIT 5"
        );
        assert_eq!(
            rewritten("select a from log limit 10, 20"),
            "SELECT a FROM log LIMIT 10, 20"
        );
    }

    #[test]
    fn cross_join_unnest_becomes_a_projection() {
        assert_eq!(
            rewritten("select tag, count(*) from log cross join unnest(split(tags, ',')) as t(tag) group by tag"),
            "SELECT tag, count(*) FROM (SELECT *, unnest(string_to_array(tags, ',')) AS tag FROM log) AS log \
             GROUP BY tag LIMIT 100"
        );
        assert_eq!(
            rewritten("select x from log, unnest(a) as t(x) limit 1"),
            "SELECT x FROM (SELECT *, unnest(a) AS x FROM log) AS log LIMIT 1"
        );
        assert!(prepare("select x from log cross join unnest(a) limit 1").is_err());
        // Presto's two-column UNNEST of a JSON object cast to a map.
        assert_eq!(
            rewritten("select k, count(*) from log cross join unnest(cast(json_parse(\"tags\") as map(varchar, varchar))) as t(k, v) group by k"),
            "SELECT k, count(*) FROM (SELECT *, unnest(sls_json_map_keys(\"tags\")) AS k, \
             unnest(sls_json_map_values(\"tags\")) AS v FROM log) AS log GROUP BY k LIMIT 100"
        );
        assert!(prepare("select k from log cross join unnest(m) as t(k, v) limit 1").is_err());
    }

    #[test]
    fn presto_functions_are_rewritten() {
        assert_eq!(
            rewritten("select count_if(level = 'error'), if(a > 1, 'x', 'y'), max_by(a, b), arbitrary(c) limit 1"),
            "SELECT count(CASE WHEN level = 'error' THEN 1 END), CASE WHEN a > 1 THEN 'x' ELSE 'y' END, \
             first_value(a ORDER BY b DESC NULLS LAST), max(c) FROM log LIMIT 1"
        );
        assert_eq!(
            rewritten("select date_trunc('hour', __time__) as t group by t"),
            "SELECT date_trunc('hour', sls_to_timestamp(__time__)) AS t FROM log GROUP BY t LIMIT 100"
        );
        // Nested: the inner call is rewritten first.
        assert_eq!(
            rewritten("select count_if(if(a, true, false)) limit 1"),
            "SELECT count(CASE WHEN CASE WHEN a THEN true ELSE false END THEN 1 END) FROM log LIMIT 1"
        );
        // Distinct counts keep one set of hashes per group (distinct.rs).
        assert_eq!(
            rewritten("select g, count(DISTINCT \"user\") as u group by g order by count(DISTINCT \"user\") desc limit 5"),
            "SELECT g, sls_count_distinct(\"user\") AS u FROM log GROUP BY g ORDER BY sls_count_distinct(\"user\") DESC LIMIT 5"
        );
        assert_eq!(
            rewritten("select count(*), sum(DISTINCT a) limit 1"),
            "SELECT count(*), sum(DISTINCT a) FROM log LIMIT 1"
        );
    }

    #[test]
    fn rejects_what_sls_rejects() {
        assert!(prepare("select 1;").is_err());
        assert!(prepare("drop table log").is_err());
        assert!(prepare("select 1; select 2").is_err());
        assert!(prepare("select a limit 2000000").is_err());
        assert!(prepare("select a limit 999999, 2").is_err());
        assert!(prepare("select count_if(a, b)").is_err());
        assert!(prepare("select (").is_err());
        assert_eq!(
            rewritten("select a offset 5"),
            "SELECT a FROM log LIMIT 100 OFFSET 5"
        );
    }
}
