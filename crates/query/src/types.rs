//! Result types of SnQL expressions, as ClickHouse names them in `meta`
//! (snuba-api.md §7.1), and the default value of each type (what a `WITH
//! TOTALS` row holds in group-by columns and an aggregate over no rows gives).

use sentry_sls_snql::{Expr, ExprKind, Literal};

use crate::entities::EntitySpec;
use crate::response::Cell;

/// Where an expression is typed: the entity's columns and the granularity
/// that decides how the virtual `time` column is bucketed.
pub struct TypeContext<'a> {
    /// The queried entity (None for subqueries, whose columns come from `outer`).
    pub entity: Option<&'a EntitySpec>,
    /// Result columns of an inner query, for `MATCH { … }`.
    pub inner_columns: &'a [(String, String)],
    /// `GRANULARITY`, if any.
    pub granularity: Option<u64>,
}

/// The ClickHouse type of `expr`.
pub fn infer(expr: &Expr, context: &TypeContext<'_>) -> String {
    match &expr.kind {
        ExprKind::Literal(literal) => literal_type(literal).to_string(),
        ExprKind::Column(name) => column_type(name, context),
        ExprKind::Subscript { column, key } => subscript_type(column, key, context),
        ExprKind::Function { name, args } => function_type(name, args, context),
        ExprKind::Curried { name, args, .. } => match name.as_str() {
            "quantiles" | "quantilesExact" => "Array(Float64)".into(),
            "topK" | "top" | "groupArray" | "groupUniqArray" => {
                format!("Array({})", strip_nullable(&first_arg_type(args, context)))
            }
            _ => "Float64".into(),
        },
        ExprKind::Lambda { .. } | ExprKind::Argument(_) => "String".into(),
    }
}

fn literal_type(literal: &Literal) -> &'static str {
    match literal {
        Literal::Null => "Nullable(Nothing)",
        Literal::Bool(_) => "UInt8",
        Literal::Int(value) if *value < 0 => "Int64",
        Literal::Int(value) if *value <= u8::MAX as i128 => "UInt8",
        Literal::Int(value) if *value <= u16::MAX as i128 => "UInt16",
        Literal::Int(value) if *value <= u32::MAX as i128 => "UInt32",
        Literal::Int(_) => "UInt64",
        Literal::Float(_) => "Float64",
        Literal::String(_) => "String",
        Literal::DateTime(_) => "DateTime",
    }
}

fn column_type(name: &str, context: &TypeContext<'_>) -> String {
    if let Some((_, ty)) = context
        .inner_columns
        .iter()
        .find(|(column, _)| column == name)
    {
        return ty.clone();
    }
    let Some(entity) = context.entity else {
        return "String".into();
    };
    // Join queries qualify columns with the entity alias.
    let bare = entity.column_type(name).map(str::to_string).or_else(|| {
        name.split_once('.')
            .and_then(|(_, rest)| entity.column_type(rest))
            .map(str::to_string)
    });
    let ty = bare.unwrap_or_else(|| "String".into());
    if name == "time" || name == "rtime" || name.starts_with("bucketed_") {
        return match context.granularity {
            Some(86400) => "Date".into(),
            Some(3600) | None => ty,
            Some(_) => "DateTime('Universal')".into(),
        };
    }
    ty
}

/// Promoted tags read a physical column (and are Nullable); others are `String`.
fn subscript_type(column: &str, key: &str, context: &TypeContext<'_>) -> String {
    let promoted = match (column.rsplit('.').next().unwrap_or(column), key) {
        ("tags", "environment") => Some("environment"),
        ("tags", "sentry:release") => Some("release"),
        ("tags", "sentry:dist") => Some("dist"),
        ("tags", "sentry:user") => Some("user"),
        ("tags", "transaction") => Some("transaction_name"),
        ("tags", "level") => Some("level"),
        ("contexts", "trace.trace_id") => Some("trace_id"),
        ("contexts", "trace.span_id") => Some("span_id"),
        _ => None,
    };
    match (promoted, context.entity) {
        (Some(physical), Some(entity)) => {
            entity.column_type(physical).unwrap_or("String").to_string()
        }
        _ => "String".into(),
    }
}

fn first_arg_type(args: &[Expr], context: &TypeContext<'_>) -> String {
    args.first()
        .map(|arg| infer(arg, context))
        .unwrap_or_else(|| "String".into())
}

/// Removes `Nullable(…)` and `LowCardinality(…)` wrappers.
pub fn strip_nullable(ty: &str) -> String {
    let mut current = ty;
    loop {
        if let Some(inner) = current
            .strip_prefix("LowCardinality(")
            .or_else(|| current.strip_prefix("Nullable("))
            .and_then(|rest| rest.strip_suffix(')'))
        {
            current = inner;
        } else {
            return current.to_string();
        }
    }
}

fn is_float(ty: &str) -> bool {
    strip_nullable(ty).starts_with("Float")
}

fn is_signed(ty: &str) -> bool {
    strip_nullable(ty).starts_with("Int")
}

fn function_type(name: &str, args: &[Expr], context: &TypeContext<'_>) -> String {
    let arg_types: Vec<String> = args.iter().map(|arg| infer(arg, context)).collect();
    let first = arg_types
        .first()
        .cloned()
        .unwrap_or_else(|| "String".into());
    let numeric = |signed_when_minus: bool| {
        if arg_types.iter().any(|ty| is_float(ty)) {
            "Float64".to_string()
        } else if signed_when_minus || arg_types.iter().any(|ty| is_signed(ty)) {
            "Int64".to_string()
        } else {
            "UInt64".to_string()
        }
    };
    match name {
        "count"
        | "countIf"
        | "uniq"
        | "uniqIf"
        | "uniqExact"
        | "uniqExactIf"
        | "uniqHLL12"
        | "uniqCombined"
        | "cityHash64"
        | "length"
        | "indexOf"
        | "toUInt64"
        | "farmHash64"
        | "positionCaseInsensitive"
        | "position"
        | "countEqual"
        | "sipHash64" => "UInt64".into(),
        "toInt64" => "Int64".into(),
        "toInt32" => "Int32".into(),
        "toInt16" => "Int16".into(),
        "toInt8" => "Int8".into(),
        "toUInt16" => "UInt16".into(),
        "avg" | "avgIf" | "divide" | "log" | "ln" | "log2" | "log10" | "sqrt" | "pow" | "power"
        | "exp" | "toFloat64" | "quantile" | "median" | "stddevPop" | "stddevSamp" | "varPop"
        | "varSamp" | "stddevPopIf" | "stddevSampIf" | "varPopIf" | "varSampIf" | "apdex"
        | "failure_rate" => "Float64".into(),
        "sum" | "sumIf" => numeric(false),
        "plus" | "multiply" => numeric(false),
        "minus" => numeric(true),
        "intDiv" | "modulo" => numeric(false),
        "min" | "max" | "minIf" | "maxIf" | "any" | "anyIf" | "anyLast" | "argMax" | "argMin"
        | "ifNull" | "coalesce" | "assumeNotNull" | "greatest" | "least" | "abs" | "floor"
        | "ceil" | "round" => {
            let nullable = |ty: &String| ty.contains("Nullable(");
            if name == "assumeNotNull"
                || ((name == "coalesce" || name == "ifNull") && !arg_types.iter().all(nullable))
            {
                // ClickHouse: NULL only when every argument can be NULL.
                strip_nullable(&first)
            } else {
                first
            }
        }
        "if" => arg_types.get(1).cloned().unwrap_or(first),
        "multiIf" => arg_types.get(1).cloned().unwrap_or(first),
        "toString" | "lower" | "upper" | "replaceAll" | "concat" | "substring" | "trim"
        | "emptyIfNull" | "hex" | "lowerUTF8" | "upperUTF8" => "String".into(),
        "toDateTime"
        | "now"
        | "toStartOfMinute"
        | "toStartOfFiveMinute"
        | "toStartOfDay"
        | "toStartOfInterval" => "DateTime".into(),
        "toStartOfHour" => {
            if args.len() > 1 {
                "DateTime('Universal')".into()
            } else {
                "DateTime".into()
            }
        }
        "toDate" | "today" => "Date".into(),
        "toUnixTimestamp" | "toUInt32" => "UInt32".into(),
        "toUInt8" | "equals" | "notEquals" | "less" | "lessOrEquals" | "greater"
        | "greaterOrEquals" | "and" | "or" | "not" | "in" | "notIn" | "like" | "notLike"
        | "ilike" | "match" | "has" | "hasAny" | "hasAll" | "notEmpty" | "empty" | "isNull"
        | "isNotNull" | "arrayExists" | "arrayAll" | "isHandled" | "notHandled" | "startsWith"
        | "endsWith" => "UInt8".into(),
        "groupUniqArray" | "groupArray" | "array" | "topK" => {
            format!("Array({})", strip_nullable(&first))
        }
        "arrayJoin" | "arrayElement" => element_type(&first),
        "tuple" => format!("Tuple({})", arg_types.join(", ")),
        "arrayMap" | "arrayFilter" => "Array(String)".into(),
        _ => first,
    }
}

fn element_type(ty: &str) -> String {
    strip_nullable(ty)
        .strip_prefix("Array(")
        .and_then(|rest| rest.strip_suffix(')'))
        .map(str::to_string)
        .unwrap_or_else(|| ty.to_string())
}

/// The value ClickHouse uses for a type where it has none: in totals rows'
/// group-by columns, and for aggregates over no rows.
pub fn default_cell(ty: &str) -> Cell {
    if ty.starts_with("Nullable(") || ty.starts_with("LowCardinality(Nullable(") {
        return Cell::Null;
    }
    let base = strip_nullable(ty);
    if base.starts_with("UInt") {
        Cell::UInt(0)
    } else if base.starts_with("Int") {
        Cell::Int(0)
    } else if base.starts_with("Float") {
        Cell::Float(0.0)
    } else if base.starts_with("DateTime64") {
        Cell::DateTime64(chrono::DateTime::UNIX_EPOCH.naive_utc())
    } else if base.starts_with("DateTime") {
        Cell::DateTime(chrono::DateTime::UNIX_EPOCH.naive_utc())
    } else if base == "Date" {
        Cell::Date(chrono::DateTime::UNIX_EPOCH.date_naive())
    } else if base.starts_with("Array(") {
        Cell::Array(Vec::new())
    } else {
        Cell::String(String::new())
    }
}
