//! Snuba's post-parse rules that need no entity knowledge, each a separate
//! pass, applied in Snuba's order by [`apply`]:
//!
//! 1. `toDateTime('…')` with one string argument becomes a datetime literal;
//! 2. the same alias on two different expressions is rejected ("shadowing");
//! 3. subscripts whose key Snuba cannot resolve become plain (unknown) columns;
//! 4. aliases referenced elsewhere are expanded, cycles rejected;
//! 5. `arrayExists(col, 'op', value)` sugar becomes the lambda form;
//! 6. in joins, every column must be qualified with an entity alias;
//! 7. lambda bodies may only use identifiers their lambdas bind.
//!
//! AND/OR binary nesting happens in the parser already; the `LIMIT` bound is
//! checked first.

use std::collections::{HashMap, HashSet};

use crate::ast::{Expr, ExprKind, Literal, Query, Source};
use crate::error::ParseError;
use crate::literal::parse_datetime;

/// Applies every pass, recursing into subqueries first.
pub fn apply(mut query: Query) -> Result<Query, ParseError> {
    if let Source::Subquery(inner) = query.source {
        query.source = Source::Subquery(Box::new(apply(*inner)?));
    }
    validate_limit(&query)?;
    datetime_literals(&mut query)?;
    validate_aliases(&query)?;
    resolve_subscripts(&mut query);
    expand_aliases(&mut query)?;
    array_function_sugar(&mut query)?;
    validate_join_columns(&query)?;
    validate_lambda_identifiers(&query)?;
    Ok(query)
}

/// `LIMIT` may not exceed [`MAX_LIMIT`](crate::MAX_LIMIT).
pub fn validate_limit(query: &Query) -> Result<(), ParseError> {
    match query.limit {
        Some(limit) if limit > crate::MAX_LIMIT => Err(ParseError::invalid(format!(
            "queries cannot have a limit higher than {}",
            crate::MAX_LIMIT
        ))),
        _ => Ok(()),
    }
}

/// Pass 1: `toDateTime('2024-01-01T00:00:00')` → a datetime literal
/// (timezone ignored, microseconds dropped).
pub fn datetime_literals(query: &mut Query) -> Result<(), ParseError> {
    let mut failure = None;
    query.map_expressions(&mut |expr| {
        expr.transform(&mut |node| {
            let text = match &node.kind {
                ExprKind::Function { name, args } if name == "toDateTime" && args.len() == 1 => {
                    match &args[0].kind {
                        ExprKind::Literal(Literal::String(text)) => text.clone(),
                        _ => return node,
                    }
                }
                _ => return node,
            };
            match parse_datetime(&text) {
                Some(datetime) => Expr {
                    kind: ExprKind::Literal(Literal::DateTime(datetime)),
                    alias: node.alias,
                    span: node.span,
                },
                None => {
                    failure.get_or_insert_with(|| {
                        ParseError::invalid_at(
                            format!("invalid datetime literal {text:?}"),
                            node.span.start,
                        )
                    });
                    node
                }
            }
        })
    });
    failure.map_or(Ok(()), Err)
}

/// Pass 2: one alias may name only one expression.
pub fn validate_aliases(query: &Query) -> Result<(), ParseError> {
    let mut seen: HashMap<&str, &Expr> = HashMap::new();
    let mut error = None;
    for root in query.expressions() {
        root.walk(&mut |expr| {
            let Some(alias) = expr.alias.as_deref() else {
                return;
            };
            match seen.get(alias) {
                Some(previous) if !same_ignoring_alias(previous, expr) => {
                    error.get_or_insert_with(|| {
                        ParseError::invalid_at(
                            format!("Shadowing aliases detected for alias: {alias}. Expressions: {previous}, {expr}"),
                            expr.span.start,
                        )
                    });
                }
                Some(_) => {}
                None => {
                    seen.insert(alias, expr);
                }
            }
        });
    }
    error.map_or(Ok(()), Err)
}

fn same_ignoring_alias(left: &Expr, right: &Expr) -> bool {
    left.kind == right.kind
}

/// Whether `text` matches Snuba's subscript key pattern `[a-zA-Z0-9_.:-]+`.
fn is_resolvable_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_.:-".contains(&byte))
}

/// Pass 3: Snuba resolves `col[key]` only when the whole reference matches
/// `^([a-zA-Z0-9_.]+)\[([a-zA-Z0-9_.:-]+)\]$`; anything else stays a column
/// with that literal name, which entity validation then reports as unknown.
pub fn resolve_subscripts(query: &mut Query) {
    query.map_expressions(&mut |expr| {
        expr.transform(&mut |node| match &node.kind {
            ExprKind::Subscript { column, key }
                if !is_resolvable_key(key)
                    || !column
                        .bytes()
                        .all(|byte| byte.is_ascii_alphanumeric() || b"_.".contains(&byte)) =>
            {
                Expr {
                    kind: ExprKind::Column(format!("{column}[{key}]")),
                    alias: node.alias,
                    span: node.span,
                }
            }
            _ => node,
        })
    });
}

/// Pass 4: a column whose name is an alias stands for the aliased expression
/// (ClickHouse semantics). References are inlined, keeping the alias; cycles
/// are rejected.
pub fn expand_aliases(query: &mut Query) -> Result<(), ParseError> {
    let mut definitions: HashMap<String, Expr> = HashMap::new();
    for root in query.expressions() {
        root.walk(&mut |expr| {
            if let Some(alias) = &expr.alias {
                definitions
                    .entry(alias.clone())
                    .or_insert_with(|| expr.clone());
            }
        });
    }
    if definitions.is_empty() {
        return Ok(());
    }
    let mut failure = None;
    query.map_expressions(&mut |expr| {
        let mut defining = Vec::new();
        match expand(expr.clone(), &definitions, &mut defining) {
            Ok(expanded) => expanded,
            Err(error) => {
                failure.get_or_insert(error);
                expr
            }
        }
    });
    failure.map_or(Ok(()), Err)
}

/// Expands alias references in `expr`. `defining` holds the aliases whose
/// definitions enclose the current node: a reference to the innermost one is
/// the underlying column (`sum(value) AS value`), to an outer one a cycle.
fn expand(
    expr: Expr,
    definitions: &HashMap<String, Expr>,
    defining: &mut Vec<String>,
) -> Result<Expr, ParseError> {
    if let ExprKind::Column(name) = &expr.kind {
        let Some(definition) = definitions.get(name) else {
            return Ok(expr);
        };
        // `project_id AS project_id` and self-references are the column.
        let is_same_column = definition.as_column() == Some(name.as_str());
        let is_self_reference =
            defining.last() == Some(name) || expr.alias.as_deref() == Some(name.as_str());
        if is_same_column || is_self_reference {
            return Ok(expr);
        }
        if defining.contains(name) {
            return Err(ParseError::invalid_at(
                format!("Cyclic aliases {name} resolves to {definition}"),
                expr.span.start,
            ));
        }
        return expand(definition.clone(), definitions, defining);
    }
    let Expr { kind, alias, span } = expr;
    let pushed = alias.is_some();
    if let Some(alias) = &alias {
        defining.push(alias.clone());
    }
    let kind = match kind {
        ExprKind::Function { name, args } => ExprKind::Function {
            name,
            args: expand_all(args, definitions, defining)?,
        },
        ExprKind::Curried { name, params, args } => ExprKind::Curried {
            name,
            params: expand_all(params, definitions, defining)?,
            args: expand_all(args, definitions, defining)?,
        },
        ExprKind::Lambda { params, body } => ExprKind::Lambda {
            params,
            body: Box::new(expand(*body, definitions, defining)?),
        },
        leaf => leaf,
    };
    if pushed {
        defining.pop();
    }
    Ok(Expr { kind, alias, span })
}

fn expand_all(
    exprs: Vec<Expr>,
    definitions: &HashMap<String, Expr>,
    defining: &mut Vec<String>,
) -> Result<Vec<Expr>, ParseError> {
    exprs
        .into_iter()
        .map(|expr| expand(expr, definitions, defining))
        .collect()
}

/// Pass 5: `arrayExists(col, '=', 'v')` → ``arrayExists((`x`) -> equals(`x`, 'v'), col)``
/// (and `arrayAll`), the sugar Sentry's legacy paths use.
pub fn array_function_sugar(query: &mut Query) -> Result<(), ParseError> {
    let mut failure = None;
    query.map_expressions(&mut |expr| {
        expr.transform(&mut |node| {
            let ExprKind::Function { name, args } = &node.kind else {
                return node;
            };
            if !(name == "arrayExists" || name == "arrayAll") || args.len() != 3 {
                return node;
            }
            let ExprKind::Literal(Literal::String(operator)) = &args[1].kind else {
                return node;
            };
            let Some(function) = operator_function(operator) else {
                failure.get_or_insert_with(|| {
                    ParseError::invalid_at(
                        format!("invalid operator {operator:?} for {name}"),
                        node.span.start,
                    )
                });
                return node;
            };
            let body = Expr::function(
                function,
                vec![Expr::new(ExprKind::Argument("x".into())), args[2].clone()],
            );
            let lambda = Expr::new(ExprKind::Lambda {
                params: vec!["x".into()],
                body: Box::new(Expr::function("assumeNotNull", vec![body])),
            });
            Expr {
                kind: ExprKind::Function {
                    name: name.clone(),
                    args: vec![lambda, args[0].clone()],
                },
                alias: node.alias.clone(),
                span: node.span,
            }
        })
    });
    failure.map_or(Ok(()), Err)
}

/// The function a SnQL comparison operator stands for.
pub fn operator_function(operator: &str) -> Option<&'static str> {
    Some(match operator {
        "=" => "equals",
        "!=" => "notEquals",
        "<" => "less",
        "<=" => "lessOrEquals",
        ">" => "greater",
        ">=" => "greaterOrEquals",
        "IN" => "in",
        "NOT IN" => "notIn",
        "LIKE" => "like",
        "NOT LIKE" => "notLike",
        _ => return None,
    })
}

/// Pass 6: in a join every column must be `alias.column` for a joined alias.
pub fn validate_join_columns(query: &Query) -> Result<(), ParseError> {
    let Source::Join(relationships) = &query.source else {
        return Ok(());
    };
    let aliases: HashSet<&str> = relationships
        .iter()
        .flat_map(|relationship| [&relationship.lhs, &relationship.rhs])
        .filter_map(|entity| entity.alias.as_deref())
        .collect();
    let mut error = None;
    for root in query.expressions() {
        root.walk(&mut |expr| {
            let name = match &expr.kind {
                ExprKind::Column(name) => name.as_str(),
                ExprKind::Subscript { column, .. } => column.as_str(),
                _ => return,
            };
            // Aliases of selected expressions may be referenced unqualified.
            if expr.alias.as_deref() == Some(name) {
                return;
            }
            let qualified = name
                .split_once('.')
                .is_some_and(|(alias, _)| aliases.contains(alias));
            if !qualified {
                error.get_or_insert_with(|| {
                    ParseError::invalid_at(
                        format!("column {name} must be qualified with an entity alias in a join"),
                        expr.span.start,
                    )
                });
            }
        });
    }
    error.map_or(Ok(()), Err)
}

/// Pass 7: every back-ticked identifier must be bound by an enclosing lambda.
pub fn validate_lambda_identifiers(query: &Query) -> Result<(), ParseError> {
    for root in query.expressions() {
        check_identifiers(root, &mut Vec::new())?;
    }
    Ok(())
}

fn check_identifiers(expr: &Expr, bound: &mut Vec<String>) -> Result<(), ParseError> {
    match &expr.kind {
        ExprKind::Argument(name) if !bound.contains(name) => Err(ParseError::invalid_at(
            format!("identifier(s) `{name}` not defined"),
            expr.span.start,
        )),
        ExprKind::Lambda { params, body } => {
            let before = bound.len();
            bound.extend(params.iter().cloned());
            let result = check_identifiers(body, bound);
            bound.truncate(before);
            result
        }
        ExprKind::Function { args, .. } => args
            .iter()
            .try_for_each(|arg| check_identifiers(arg, bound)),
        ExprKind::Curried { params, args, .. } => params
            .iter()
            .chain(args.iter())
            .try_for_each(|arg| check_identifiers(arg, bound)),
        _ => Ok(()),
    }
}
