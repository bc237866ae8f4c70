//! Entity-aware validation of a parsed SnQL query, in Snuba's order
//! (snuba-api.md §2.2 steps 8–10 and §4): entity and relationship names,
//! array-column condition rewriting, required time range, required id
//! conditions, unknown columns, aggregates in WHERE, tag conditions, unknown
//! functions, and the result columns with their types.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use sentry_sls_snql::{Expr, ExprKind, Literal, Query, Source};

use crate::entities::{entity, EntitySpec, STORAGES};
use crate::error::SnubaError;
use crate::functions::{is_aggregate_function, is_known_function};
use crate::response::ResultColumn;
use crate::types::{infer, strip_nullable, TypeContext};

/// How strictly required conditions are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A `/snql` query: time range and id conditions are required.
    Query,
    /// A subscription query: Snuba injects project and time conditions, and
    /// allows exactly one aggregate and no HAVING/ORDER BY/LIMIT BY.
    Subscription,
}

/// Which stages run: Snuba's tests check some stages alone, and the HTTP
/// API runs all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// Query or subscription rules.
    pub mode: Mode,
    /// Run the entity validators (columns, required ids, tag conditions,
    /// functions, literal types) after the post-parse rules.
    pub entity_validators: bool,
}

impl Checks {
    /// Everything the HTTP API checks for a `/snql` query.
    pub const QUERY: Checks = Checks {
        mode: Mode::Query,
        entity_validators: true,
    };
    /// Everything checked for a subscription query.
    pub const SUBSCRIPTION: Checks = Checks {
        mode: Mode::Subscription,
        entity_validators: true,
    };
    /// Parser and post-processors only (Snuba's `parse_snql_query`).
    pub const POST_PARSE: Checks = Checks {
        mode: Mode::Query,
        entity_validators: false,
    };
}

/// A query that passed validation.
#[derive(Debug, Clone)]
pub struct ValidatedQuery {
    /// The query after every rewrite.
    pub query: Query,
    /// The entity of a simple query (the innermost entity for subqueries,
    /// the first entity of a join); None for a storage query.
    pub entity: Option<&'static EntitySpec>,
    /// `[from, to)` of the required time range, when the entity has one.
    pub time_range: Option<(NaiveDateTime, NaiveDateTime)>,
    /// Project ids of the required `project_id` condition.
    pub project_ids: Vec<u64>,
    /// Result columns (BY first), typed.
    pub columns: Vec<ResultColumn>,
}

fn invalid(message: impl Into<String>) -> SnubaError {
    SnubaError::InvalidQuery(message.into())
}

/// Parses and validates a SnQL text.
pub fn parse_and_validate(text: &str, checks: Checks) -> Result<ValidatedQuery, SnubaError> {
    let query = sentry_sls_snql::parse(text)?;
    validate(query, checks)
}

/// Validates a post-processed query against the entity catalog.
pub fn validate(mut query: Query, checks: Checks) -> Result<ValidatedQuery, SnubaError> {
    let mode = checks.mode;
    match &query.source {
        Source::Storage(storage) => {
            if !STORAGES.contains(&storage.name.as_str()) {
                return Err(invalid(format!(
                    "{} is not a valid storage name",
                    storage.name
                )));
            }
            if !checks.entity_validators {
                // Parser and post-processors accept storage queries; only
                // running them needs a storage, which sentry-sls does not have.
                let columns = result_columns(&query, None, &[]);
                return Ok(ValidatedQuery {
                    query,
                    entity: None,
                    time_range: None,
                    project_ids: Vec::new(),
                    columns,
                });
            }
            Err(invalid(format!(
                "storage queries (MATCH STORAGE({})) are not served by sentry-sls",
                storage.name
            )))
        }
        Source::Entity(matched) => {
            let spec = lookup_entity(&matched.name)?;
            if mode == Mode::Subscription {
                check_subscription(&query, spec)?;
            }
            validate_entity_query(&mut query, spec, None, checks)?;
            let time_range = time_range(&query, spec, None, mode)?;
            let project_ids = required_ids(&query, spec, None, checks)?;
            let spec = discover_storage(spec, &query);
            let columns = result_columns(&query, Some(spec), &[]);
            Ok(ValidatedQuery {
                query,
                entity: Some(spec),
                time_range,
                project_ids,
                columns,
            })
        }
        Source::Subquery(_) => {
            let Source::Subquery(inner) =
                std::mem::replace(&mut query.source, Source::Join(Vec::new()))
            else {
                unreachable!("matched a subquery above");
            };
            let inner = validate(*inner, checks)?;
            let inner_columns: Vec<(String, String)> = inner
                .columns
                .iter()
                .map(|column| (column.name.clone(), column.ty.clone()))
                .collect();
            if checks.entity_validators {
                check_outer_columns(&query, &inner_columns)?;
                check_functions(&query)?;
            }
            let columns = result_columns(&query, None, &inner_columns);
            let (entity, time_range, project_ids) =
                (inner.entity, inner.time_range, inner.project_ids.clone());
            query.source = Source::Subquery(Box::new(inner.query));
            Ok(ValidatedQuery {
                query,
                entity,
                time_range,
                project_ids,
                columns,
            })
        }
        Source::Join(relationships) => {
            let relationships = relationships.clone();
            let mut first = None;
            let mut time = None;
            let mut ids = Vec::new();
            let mut seen_aliases = BTreeSet::new();
            for relationship in &relationships {
                let lhs = lookup_entity(&relationship.lhs.name)?;
                lookup_entity(&relationship.rhs.name)?;
                if lhs.join_target(&relationship.name).is_none() {
                    return Err(invalid(format!(
                        "{} does not have a join relationship -[{}]->",
                        lhs.name, relationship.name
                    )));
                }
                for side in [&relationship.lhs, &relationship.rhs] {
                    let alias = side.alias.clone().unwrap_or_default();
                    if !seen_aliases.insert(alias.clone()) {
                        continue;
                    }
                    let spec = lookup_entity(&side.name)?;
                    first.get_or_insert(spec);
                    validate_entity_query(&mut query, spec, Some(&alias), checks)?;
                    let range = time_range(&query, spec, Some(&alias), mode)?;
                    time = time.or(range);
                    let side_ids = required_ids(&query, spec, Some(&alias), checks)?;
                    if ids.is_empty() {
                        ids = side_ids;
                    }
                }
            }
            let entity = first.ok_or_else(|| invalid("a join needs at least one relationship"))?;
            let columns = result_columns(&query, Some(entity), &[]);
            Ok(ValidatedQuery {
                query,
                entity: Some(entity),
                time_range: time,
                project_ids: ids,
                columns,
            })
        }
    }
}

/// Snuba's discover entity reads the transactions storage when the query
/// asks for `type = 'transaction'` (its storage selector), so the columns
/// and their types are `discover_transactions`' (`duration` a UInt32, …).
fn discover_storage(spec: &'static EntitySpec, query: &Query) -> &'static EntitySpec {
    let transactions = spec.name == "discover"
        && query.condition.as_ref().is_some_and(|condition| {
            condition
                .conjuncts()
                .iter()
                .any(|conjunct| compares_type_with_transaction(conjunct, "equals"))
        });
    match transactions {
        true => entity("discover_transactions").unwrap_or(spec),
        false => spec,
    }
}

/// `function(type, 'transaction')`: `equals` (`type = 'transaction'`) or
/// `notEquals`.
pub(crate) fn compares_type_with_transaction(expr: &Expr, function: &str) -> bool {
    matches!(
        expr.as_function(),
        Some((name, [column, value]))
            if name == function
                && column.as_column() == Some("type")
                && matches!(&value.kind, ExprKind::Literal(Literal::String(text)) if text == "transaction")
    )
}

fn lookup_entity(name: &str) -> Result<&'static EntitySpec, SnubaError> {
    entity(name).ok_or_else(|| invalid(format!("{name} is not a valid entity name")))
}

/// Column references of a query, with their qualifier stripped when they
/// belong to `alias` (joins), or all of them for a simple query.
fn columns_of<'q>(query: &'q Query, alias: Option<&str>) -> Vec<(&'q Expr, String)> {
    let mut out = Vec::new();
    for root in query.expressions() {
        root.walk(&mut |expr| {
            let name = match &expr.kind {
                ExprKind::Column(name) => name.clone(),
                ExprKind::Subscript { column, key } => format!("{column}[{key}]"),
                _ => return,
            };
            match alias {
                None => out.push((expr, name)),
                Some(alias) => {
                    if let Some(rest) = name.strip_prefix(&format!("{alias}.")) {
                        out.push((expr, rest.to_string()));
                    }
                }
            }
        });
    }
    out
}

fn validate_entity_query(
    query: &mut Query,
    spec: &EntitySpec,
    alias: Option<&str>,
    checks: Checks,
) -> Result<(), SnubaError> {
    if checks.entity_validators {
        check_columns(query, spec, alias)?;
        check_functions(query)?;
        check_where_aggregates(query)?;
        check_tag_conditions(query, spec)?;
        check_literal_types(query, spec, alias)?;
        check_aggregate_arguments(query, spec, alias)?;
    }
    rewrite_array_conditions(query, spec, alias);
    Ok(())
}

/// Every column must exist on the entity (physical, nested, virtual) or be a
/// subscript of one of its map columns.
fn check_columns(query: &Query, spec: &EntitySpec, alias: Option<&str>) -> Result<(), SnubaError> {
    let mut missing = BTreeSet::new();
    for (expr, name) in columns_of(query, alias) {
        let known = match &expr.kind {
            ExprKind::Subscript { column, .. } => {
                let base = match alias {
                    Some(alias) => column.strip_prefix(&format!("{alias}.")).unwrap_or(column),
                    None => column.as_str(),
                };
                spec.subscriptables.contains(&base)
            }
            _ => spec.column_type(&name).is_some(),
        };
        // A column named like an alias of the query refers to the alias.
        let is_alias = query
            .expressions()
            .iter()
            .any(|root| alias_defined(root, &name));
        if !known && !is_alias {
            missing.insert(name);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing
        .into_iter()
        .map(|name| format!("'{name}'"))
        .collect();
    let detail = if names.len() == 1 {
        format!("Query column {} does not exist", names[0])
    } else {
        format!("Query columns ({}) do not exist", names.join(", "))
    };
    Err(invalid(format!(
        "validation failed for entity {0}: Entity {0}: {detail}",
        spec.name
    )))
}

fn alias_defined(root: &Expr, name: &str) -> bool {
    let mut found = false;
    root.walk(&mut |expr| found |= expr.alias.as_deref() == Some(name));
    found
}

/// Snuba passes unknown functions to ClickHouse, which rejects them; we know
/// the functions we can evaluate and reject the rest up front.
fn check_functions(query: &Query) -> Result<(), SnubaError> {
    let mut unknown = None;
    for root in query.expressions() {
        root.walk(&mut |expr| {
            let name = match &expr.kind {
                ExprKind::Function { name, .. } | ExprKind::Curried { name, .. } => name,
                _ => return,
            };
            if !is_known_function(name) {
                unknown.get_or_insert_with(|| name.clone());
            }
        });
    }
    match unknown {
        Some(name) => Err(invalid(format!("Invalid function name: {name}"))),
        None => Ok(()),
    }
}

fn is_aggregate(name: &str) -> bool {
    is_aggregate_function(name)
}

fn check_where_aggregates(query: &Query) -> Result<(), SnubaError> {
    let Some(condition) = &query.condition else {
        return Ok(());
    };
    let mut found = false;
    condition.walk(&mut |expr| {
        if let ExprKind::Function { name, .. } | ExprKind::Curried { name, .. } = &expr.kind {
            found |= is_aggregate(name);
        }
    });
    if found {
        return Err(invalid("Aggregate function found in WHERE clause of query"));
    }
    Ok(())
}

/// `tags[x] = 1`: tag values are strings (metrics entities index tag values
/// as integers and are exempt).
fn check_tag_conditions(query: &Query, spec: &EntitySpec) -> Result<(), SnubaError> {
    let Some(condition) = &query.condition else {
        return Ok(());
    };
    if spec.name.contains("metrics") {
        return Ok(());
    }
    let mut error = None;
    condition.walk(&mut |expr| {
        let Some((name, [lhs, rhs])) = expr.as_function() else {
            return;
        };
        let ExprKind::Subscript { column, key } = &lhs.kind else {
            return;
        };
        if !(column == "tags" || column.ends_with(".tags")) || !is_comparison(name) {
            return;
        }
        let (values, prefix): (Vec<&Expr>, &str) = match rhs.as_function() {
            Some(("tuple" | "array", items)) => (items.iter().collect(), "array literal "),
            _ => (vec![rhs], ""),
        };
        for value in values {
            if let ExprKind::Literal(literal) = &value.kind {
                if !matches!(literal, Literal::String(_)) {
                    error.get_or_insert_with(|| {
                        invalid(format!(
                            "validation failed for entity {}: invalid tag condition on '{column}[{key}]': {prefix}{value} must be a string",
                            spec.name
                        ))
                    });
                }
            }
        }
    });
    error.map_or(Ok(()), Err)
}

fn is_comparison(name: &str) -> bool {
    matches!(
        name,
        "equals"
            | "notEquals"
            | "less"
            | "lessOrEquals"
            | "greater"
            | "greaterOrEquals"
            | "in"
            | "notIn"
            | "like"
            | "notLike"
    )
}

/// §2.2 step 9: `arr_col OP v` means "some element OP v" for positive
/// operators and "every element NOT-OP v" for negative ones.
fn rewrite_array_conditions(query: &mut Query, spec: &EntitySpec, alias: Option<&str>) {
    let array_joined: Vec<String> = query
        .array_join
        .iter()
        .filter_map(|expr| expr.as_column().map(str::to_string))
        .collect();
    let rewrite = |condition: Expr| -> Expr {
        condition.transform(&mut |node| {
            let Some((name, [lhs, rhs])) = node.as_function() else {
                return node;
            };
            let Some(column) = lhs.as_column() else {
                return node;
            };
            let bare = match alias {
                Some(alias) => match column.strip_prefix(&format!("{alias}.")) {
                    Some(rest) => rest,
                    None => return node,
                },
                None => column,
            };
            if !is_comparison(name)
                || !spec.is_array_column(bare)
                || array_joined.iter().any(|c| c == column)
            {
                return node;
            }
            let negative = matches!(name, "notEquals" | "notIn" | "notLike");
            let element = Expr::new(ExprKind::Argument("x".into()));
            let body = Expr::function(
                "assumeNotNull",
                vec![Expr::function(name.to_string(), vec![element, rhs.clone()])],
            );
            let lambda = Expr::new(ExprKind::Lambda {
                params: vec!["x".into()],
                body: Box::new(body),
            });
            let wrapper = if negative { "arrayAll" } else { "arrayExists" };
            let mut rewritten = Expr::function(wrapper, vec![lambda, lhs.clone()]);
            rewritten.span = node.span;
            rewritten
        })
    };
    if let Some(condition) = query.condition.take() {
        query.condition = Some(rewrite(condition));
    }
    if let Some(having) = query.having.take() {
        query.having = Some(rewrite(having));
    }
}

fn qualified(name: &str, alias: Option<&str>) -> String {
    match alias {
        Some(alias) => format!("{alias}.{name}"),
        None => name.to_string(),
    }
}

fn datetime_of(expr: &Expr) -> Option<NaiveDateTime> {
    match &expr.kind {
        ExprKind::Literal(Literal::DateTime(value)) => Some(*value),
        // Snuba parses string literals compared with time columns as datetimes.
        ExprKind::Literal(Literal::String(text)) => sentry_sls_snql::parse_datetime(text),
        _ => None,
    }
}

/// §2.2 step 10: `col >= <datetime>` and `col < <datetime>` among the
/// top-level conjuncts (or `col = <datetime>`).
fn time_range(
    query: &Query,
    spec: &EntitySpec,
    alias: Option<&str>,
    mode: Mode,
) -> Result<Option<(NaiveDateTime, NaiveDateTime)>, SnubaError> {
    let Some(time_column) = spec.required_time_column else {
        return Ok(None);
    };
    let column = qualified(time_column, alias);
    let (mut lower, mut upper, mut exact) = (None, None, None);
    if let Some(condition) = &query.condition {
        for conjunct in condition.conjuncts() {
            let Some((name, [lhs, rhs])) = conjunct.as_function() else {
                continue;
            };
            if lhs.as_column() != Some(column.as_str()) {
                continue;
            }
            let Some(value) = datetime_of(rhs) else {
                continue;
            };
            match name {
                "greaterOrEquals" => {
                    lower = Some(lower.map_or(value, |old: NaiveDateTime| old.max(value)))
                }
                "less" => upper = Some(upper.map_or(value, |old: NaiveDateTime| old.min(value))),
                "equals" => exact = Some(value),
                _ => {}
            }
        }
        // `col IN tuple(<datetime>, …)` pins the range too.
        for conjunct in condition.conjuncts() {
            let Some(("in", [lhs, rhs])) = conjunct.as_function() else {
                continue;
            };
            let Some(("tuple" | "array", items)) = rhs.as_function() else {
                continue;
            };
            if lhs.as_column() != Some(column.as_str()) || items.is_empty() {
                continue;
            }
            let values: Option<Vec<NaiveDateTime>> = items.iter().map(datetime_of).collect();
            if let (Some(min), Some(max)) = (
                values.as_ref().and_then(|v| v.iter().min().copied()),
                values.as_ref().and_then(|v| v.iter().max().copied()),
            ) {
                return Ok(Some((min, max + chrono::Duration::seconds(1))));
            }
        }
    }
    if let Some(value) = exact {
        return Ok(Some((value, value + chrono::Duration::seconds(1))));
    }
    if mode == Mode::Subscription {
        return Ok(lower.zip(upper));
    }
    let example = |operator: &str| {
        format!(
            "Missing {operator} condition with a datetime literal on column {column} for entity {}. Example: {column} {operator} toDateTime('2023-05-16 00:00')",
            spec.name
        )
    };
    let lower = lower.ok_or_else(|| invalid(example(">=")))?;
    let upper = upper.ok_or_else(|| invalid(example("<")))?;
    if lower > upper {
        return Err(invalid(format!(
            "invalid time conditions on entity {}",
            spec.name
        )));
    }
    Ok(Some((lower, upper)))
}

fn integer_of(expr: &Expr) -> Option<u64> {
    match &expr.kind {
        ExprKind::Literal(Literal::Int(value)) => u64::try_from(*value).ok(),
        _ => None,
    }
}

/// `EntityRequiredColumnValidator`: `col = int` or `col IN tuple/array(int…)`.
fn required_ids(
    query: &Query,
    spec: &EntitySpec,
    alias: Option<&str>,
    checks: Checks,
) -> Result<Vec<u64>, SnubaError> {
    let mut project_ids = Vec::new();
    for required in spec.required_columns {
        let column = qualified(required, alias);
        let mut values: Option<Vec<u64>> = None;
        if let Some(condition) = &query.condition {
            for conjunct in condition.conjuncts() {
                let Some((name, [lhs, rhs])) = conjunct.as_function() else {
                    continue;
                };
                if lhs.as_column() != Some(column.as_str()) {
                    continue;
                }
                let found = match (name, rhs.as_function()) {
                    ("equals", _) => integer_of(rhs).map(|value| vec![value]),
                    ("in", Some(("tuple" | "array", items))) => {
                        items.iter().map(integer_of).collect::<Option<Vec<u64>>>()
                    }
                    _ => None,
                };
                if let Some(found) = found {
                    // Repeated conditions intersect (`project_id IN (1) AND project_id IN (1)`).
                    values = Some(match values {
                        None => found,
                        Some(previous) => {
                            previous.into_iter().filter(|v| found.contains(v)).collect()
                        }
                    });
                }
            }
        }
        match values {
            Some(values) if *required == "project_id" => project_ids = values,
            Some(_) => {}
            None if checks.mode == Mode::Subscription || !checks.entity_validators => {}
            None => {
                return Err(invalid(format!(
                    "Validation failed for entity {}: missing required conditions for {}",
                    spec.name, required
                )))
            }
        }
    }
    Ok(project_ids)
}

/// In `MATCH { inner } SELECT …`, the outer query reads the inner result.
fn check_outer_columns(query: &Query, inner: &[(String, String)]) -> Result<(), SnubaError> {
    let mut missing = BTreeSet::new();
    for (_, name) in columns_of(query, None) {
        let known = inner.iter().any(|(column, _)| *column == name);
        let is_alias = query
            .expressions()
            .iter()
            .any(|root| alias_defined(root, &name));
        if !known && !is_alias {
            missing.insert(name);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing.into_iter().collect();
    Err(invalid(format!(
        "outer query references columns the subquery does not select: {}",
        names.join(", ")
    )))
}

/// Snuba's subscription rules, checked before it injects the project and
/// time conditions. Events-like entities: one selected expression (BY items
/// count), no HAVING or ORDER BY. Metrics entities: up to three, and every BY
/// field needs its own `=`/`IN` condition.
fn check_subscription(query: &Query, spec: &EntitySpec) -> Result<(), SnubaError> {
    let is_metrics = spec.name.contains("metrics");
    let allowed = if is_metrics { 3 } else { 1 };
    if query.select.len() > allowed {
        return Err(invalid(format!(
            "A maximum of {allowed} aggregation is allowed in the select"
        )));
    }
    if query.having.is_some() {
        return Err(invalid("invalid clause having in subscription query"));
    }
    if !query.order_by.is_empty() {
        return Err(invalid("invalid clause orderby in subscription query"));
    }
    if !is_metrics && !query.group_by.is_empty() {
        return Err(invalid("invalid clause groupby in subscription query"));
    }
    for item in &query.group_by {
        let conditioned = query.condition.as_ref().is_some_and(|condition| {
            condition.conjuncts().iter().any(|conjunct| {
                matches!(conjunct.as_function(), Some(("equals" | "in", [lhs, _])) if lhs.kind == item.expr.kind)
            })
        });
        if !conditioned {
            return Err(invalid(format!(
                "Every field in groupby must have a corresponding condition in where clause. missing condition for field {}",
                item.name
            )));
        }
    }
    Ok(())
}

/// Comparisons ClickHouse would refuse: an integer column against string
/// literals (TYPE_MISMATCH), a DateTime column against strings it cannot
/// read as `YYYY-MM-DD[ hh:mm:ss]`.
fn check_literal_types(
    query: &Query,
    spec: &EntitySpec,
    alias: Option<&str>,
) -> Result<(), SnubaError> {
    let Some(condition) = &query.condition else {
        return Ok(());
    };
    let mut error = None;
    condition.walk(&mut |expr| {
        let Some((name, [lhs, rhs])) = expr.as_function() else {
            return;
        };
        let Some(column) = lhs.as_column() else {
            return;
        };
        let bare = match alias {
            Some(alias) => column.strip_prefix(&format!("{alias}.")).unwrap_or(column),
            None => column,
        };
        let Some(ty) = spec.column_type(bare) else {
            return;
        };
        if !is_comparison(name) {
            return;
        }
        let base = strip_nullable(ty);
        let values: Vec<&Expr> = match rhs.as_function() {
            Some(("tuple" | "array", items)) => items.iter().collect(),
            _ => vec![rhs],
        };
        for value in values {
            let ExprKind::Literal(Literal::String(text)) = &value.kind else {
                continue;
            };
            let is_integer = base.starts_with("UInt") || base.starts_with("Int");
            let is_datetime_list = base.starts_with("DateTime") && matches!(name, "in" | "notIn");
            if is_integer {
                error.get_or_insert_with(|| {
                    invalid(format!("Type mismatch in IN or VALUES section: cannot compare {column} ({ty}) with string '{text}'"))
                });
            } else if is_datetime_list && !is_clickhouse_datetime_text(text) {
                error.get_or_insert_with(|| invalid(format!("Cannot parse string '{text}' as DateTime")));
            }
        }
    });
    error.map_or(Ok(()), Err)
}

fn is_clickhouse_datetime_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        range
            .clone()
            .all(|index| bytes.get(index).is_some_and(u8::is_ascii_digit))
    };
    let date = bytes.len() >= 10
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10);
    match bytes.len() {
        10 => date,
        19 => {
            date && bytes[10] == b' '
                && digits(11..13)
                && bytes[13] == b':'
                && digits(14..16)
                && bytes[16] == b':'
                && digits(17..19)
        }
        _ => false,
    }
}

/// Numeric aggregates over String columns (`quantile(0.95)(type)`): ClickHouse's
/// ILLEGAL_TYPE_OF_ARGUMENT.
fn check_aggregate_arguments(
    query: &Query,
    spec: &EntitySpec,
    alias: Option<&str>,
) -> Result<(), SnubaError> {
    let context = TypeContext {
        entity: Some(spec),
        inner_columns: &[],
        granularity: query.granularity,
    };
    let mut error = None;
    for root in query.expressions() {
        root.walk(&mut |expr| {
            let (name, args) = match &expr.kind {
                ExprKind::Curried { name, args, .. } => (name, args),
                ExprKind::Function { name, args } if matches!(name.as_str(), "sum" | "avg") => {
                    (name, args)
                }
                _ => return,
            };
            let numeric = matches!(
                name.as_str(),
                "quantile" | "quantiles" | "quantileExact" | "quantilesExact" | "sum" | "avg"
            );
            let Some(arg) = args.first() else {
                return;
            };
            let Some(column) = arg.as_column() else {
                return;
            };
            if alias.is_some_and(|alias| !column.starts_with(&format!("{alias}."))) {
                return;
            }
            let ty = infer(arg, &context);
            if numeric && strip_nullable(&ty) == "String" {
                error.get_or_insert_with(|| {
                    invalid(format!(
                        "Illegal type {ty} of argument for aggregate function {name}"
                    ))
                });
            }
        });
    }
    error.map_or(Ok(()), Err)
}

/// Typed result columns, BY first (the query's `select` already is).
fn result_columns(
    query: &Query,
    spec: Option<&EntitySpec>,
    inner: &[(String, String)],
) -> Vec<ResultColumn> {
    let context = TypeContext {
        entity: spec,
        inner_columns: inner,
        granularity: query.granularity,
    };
    query
        .select
        .iter()
        .map(|item| ResultColumn {
            name: item.name.clone(),
            ty: infer(&item.expr, &context),
        })
        .collect()
}
