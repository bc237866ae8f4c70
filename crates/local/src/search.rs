//! The search part of an SLS query as a DataFusion filter on the raw table.
//!
//! SLS matches text by tokens (split at the index's delimiters, compared
//! case-insensitively unless `caseSensitive`), compares numbers only on
//! `long`/`double` fields, and refuses field searches on keys without an
//! index ("key (x) is not config as key value config"). The same rules here
//! make a query that works locally work on SLS.

use std::collections::BTreeSet;

use arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{lit, Expr, ScalarUDF, TryCast};
use sentry_sls_slsql::{CompareOp, Pattern, SearchExpr};
use sentry_sls_store::{FieldType, IndexConfig};

use crate::columnar;
use crate::udf::sls_match;

/// SLS's default token delimiters (the console's default index).
pub const DEFAULT_TOKENS: &str = ", '\";=()[]{}?@&<>/:\n\t\r";

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

fn tokens_of(list: &[String]) -> String {
    if list.is_empty() {
        DEFAULT_TOKENS.to_string()
    } else {
        list.concat()
    }
}

fn match_expr(value: Expr, pattern: &Pattern, delimiters: &str, case_sensitive: bool) -> Expr {
    let function: std::sync::Arc<ScalarUDF> = sls_match();
    function.call(vec![
        value,
        lit(pattern.text().to_string()),
        lit(delimiters.to_string()),
        lit(case_sensitive),
        lit(!pattern.is_wildcard()),
    ])
}

fn number(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .map_err(|_| format!("invalid number '{value}' in search"))
}

/// How a field name of the search resolves.
enum Field<'a> {
    /// A meta or tag column, always text-indexed with default tokens.
    Meta(String),
    /// An index key.
    Key(&'a str, &'a sentry_sls_store::FieldIndex),
    /// A declared sub-key of a json key: (json column, path, sub-key type).
    JsonKey(&'a str, String, FieldType, &'a sentry_sls_store::FieldIndex),
}

fn resolve<'a>(name: &str, index: &'a IndexConfig) -> Result<Field<'a>, String> {
    let name = if name == "source" {
        columnar::SOURCE
    } else {
        name
    };
    if matches!(name, columnar::TOPIC | columnar::SOURCE) || name.starts_with(columnar::TAG_PREFIX)
    {
        return Ok(Field::Meta(name.to_string()));
    }
    if let Some((key, config)) = index.keys.get_key_value(name) {
        return Ok(Field::Key(key, config));
    }
    // `ctx.a.b`: a declared sub-key of the json key `ctx`.
    for (key, config) in &index.keys {
        if config.field_type != FieldType::Json {
            continue;
        }
        let Some(sub_key) = name
            .strip_prefix(key.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
        else {
            continue;
        };
        if let Some(serde_json::Value::Object(json_keys)) = config.other.get("json_keys") {
            if let Some(sub_config) = json_keys.get(sub_key) {
                let sub_type = match sub_config.get("type").and_then(serde_json::Value::as_str) {
                    Some("long") => FieldType::Long,
                    Some("double") => FieldType::Double,
                    _ => FieldType::Text,
                };
                return Ok(Field::JsonKey(
                    key,
                    format!("$.{sub_key}"),
                    sub_type,
                    config,
                ));
            }
        }
    }
    Err(format!("key ({name}) is not config as key value config"))
}

fn raw_or_null(name: &str, raw_columns: &BTreeSet<String>) -> Expr {
    if raw_columns.contains(name) || columnar::META_COLUMNS.contains(&name) {
        column(name)
    } else {
        lit(ScalarValue::Utf8(None))
    }
}

/// A field's value expression on the raw table, and whether it is numeric.
fn field_value(
    field: &Field<'_>,
    raw_columns: &BTreeSet<String>,
) -> (Expr, Option<FieldType>, String, bool) {
    match field {
        Field::Meta(name) => (
            raw_or_null(name, raw_columns),
            None,
            DEFAULT_TOKENS.to_string(),
            false,
        ),
        Field::Key(name, config) => (
            raw_or_null(name, raw_columns),
            matches!(config.field_type, FieldType::Long | FieldType::Double)
                .then_some(config.field_type),
            tokens_of(&config.token),
            config.case_sensitive,
        ),
        Field::JsonKey(name, path, sub_type, config) => (
            crate::udf::json_extract_scalar()
                .call(vec![raw_or_null(name, raw_columns), lit(path.clone())]),
            matches!(sub_type, FieldType::Long | FieldType::Double).then_some(*sub_type),
            tokens_of(&config.token),
            config.case_sensitive,
        ),
    }
}

fn as_number(value: Expr) -> Expr {
    Expr::TryCast(TryCast::new(Box::new(value), DataType::Float64))
}

/// Translates a search statement into a filter. `raw_columns` are the
/// content and tag columns that exist in the data.
pub fn filter(
    search: &SearchExpr,
    index: &IndexConfig,
    raw_columns: &BTreeSet<String>,
    int_columns: &BTreeSet<String>,
) -> Result<Expr, String> {
    let recurse = |inner: &SearchExpr| filter(inner, index, raw_columns, int_columns);
    // A `long` key stored as Int64: integral targets compare as integers, so
    // the filter is a plain column predicate Parquet statistics can prune by.
    let int_column = |field: &Field<'_>| match field {
        Field::Key(name, config)
            if config.field_type == FieldType::Long && int_columns.contains(*name) =>
        {
            Some(column(name))
        }
        _ => None,
    };
    let integral =
        |target: f64| (target.fract() == 0.0 && target.abs() < 9.0e18).then_some(target as i64);
    Ok(match search {
        SearchExpr::All => lit(true),
        SearchExpr::Term { field: None, value } => full_text(value, index, raw_columns),
        SearchExpr::Term {
            field: Some(name),
            value,
        } => {
            let field = resolve(name, index)?;
            let (expr, numeric_type, delimiters, case_sensitive) = field_value(&field, raw_columns);
            match numeric_type {
                Some(_) => match value.text().parse::<f64>() {
                    Ok(target) if !value.is_wildcard() => {
                        match (int_column(&field), integral(target)) {
                            (Some(column), Some(target)) => column.eq(lit(target)),
                            _ => as_number(expr).eq(lit(target)),
                        }
                    }
                    _ => lit(false),
                },
                None => match_expr(expr, value, &delimiters, case_sensitive),
            }
        }
        SearchExpr::Compare {
            field: name,
            op,
            value,
        } => {
            let field = resolve(name, index)?;
            let (expr, numeric_type, delimiters, case_sensitive) = field_value(&field, raw_columns);
            if numeric_type.is_none() {
                // SLS: without a numeric index the comparison is a text search.
                return Ok(match op {
                    CompareOp::Eq => match_expr(
                        expr,
                        &Pattern::literal(value.clone()),
                        &delimiters,
                        case_sensitive,
                    ),
                    _ => full_text(&Pattern::literal(value.clone()), index, raw_columns),
                });
            }
            let target = number(value)?;
            let (value, target) = match (int_column(&field), integral(target)) {
                (Some(column), Some(target)) => (column, lit(target)),
                _ => (as_number(expr), lit(target)),
            };
            match op {
                CompareOp::Eq => value.eq(target),
                CompareOp::Gt => value.gt(target),
                CompareOp::Ge => value.gt_eq(target),
                CompareOp::Lt => value.lt(target),
                CompareOp::Le => value.lt_eq(target),
            }
        }
        SearchExpr::Range {
            field: name,
            low,
            high,
            low_inclusive,
            high_inclusive,
        } => {
            let field = resolve(name, index)?;
            let (expr, numeric_type, _, _) = field_value(&field, raw_columns);
            if numeric_type.is_none() {
                return Ok(lit(false));
            }
            let (low, high) = (number(low)?, number(high)?);
            let (value, low, high) = match (int_column(&field), integral(low), integral(high)) {
                (Some(column), Some(low), Some(high)) => (column, lit(low), lit(high)),
                _ => (as_number(expr), lit(low), lit(high)),
            };
            let lower = if *low_inclusive {
                value.clone().gt_eq(low)
            } else {
                value.clone().gt(low)
            };
            let upper = if *high_inclusive {
                value.lt_eq(high)
            } else {
                value.lt(high)
            };
            lower.and(upper)
        }
        SearchExpr::And(items) => {
            let mut combined = lit(true);
            for item in items {
                combined = combined.and(recurse(item)?);
            }
            combined
        }
        SearchExpr::Or(items) => {
            let mut combined = lit(false);
            for item in items {
                combined = combined.or(recurse(item)?);
            }
            combined
        }
        // A NULL (absent) operand counts as "no match", so `not` matches it.
        SearchExpr::Not(inner) => Expr::IsNotTrue(Box::new(recurse(inner)?)),
    })
}

/// A full-text term: any text column (honouring the `line` index's
/// `include_keys`/`exclude_keys`, tokens and case sensitivity) matches.
fn full_text(pattern: &Pattern, index: &IndexConfig, raw_columns: &BTreeSet<String>) -> Expr {
    let line = index.line.as_ref();
    let list = |key: &str| -> Vec<String> {
        line.and_then(|line| line.get(key))
            .and_then(serde_json::Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let tokens = tokens_of(&list("token"));
    let case_sensitive = line
        .and_then(|line| line.get("caseSensitive"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let include = list("include_keys");
    let exclude = list("exclude_keys");
    let mut combined = lit(false);
    for name in raw_columns
        .iter()
        .chain([columnar::TOPIC.to_string(), columnar::SOURCE.to_string()].iter())
    {
        if name.starts_with(columnar::TAG_PREFIX) && !include.contains(name) {
            continue;
        }
        if (!include.is_empty() && !include.contains(name)) || exclude.contains(name) {
            continue;
        }
        combined = combined.or(match_expr(column(name), pattern, &tokens, case_sensitive));
    }
    combined
}
