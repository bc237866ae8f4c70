//! SLS result strings back to typed cells (SLS returns every value as a
//! string and SQL NULL as `"null"`).

use chrono::{DateTime, NaiveDateTime};
use serde_json::Value;

use crate::response::Cell;
use crate::types::{default_cell, strip_nullable};

/// How a result column's SQL value is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A scalar of the column's type.
    Scalar,
    /// A JSON array text (an array key selected as is).
    JsonArray,
    /// A JSON object text whose sorted keys are the value.
    MapKeys,
    /// A JSON object text whose values, in key order, are the value.
    MapValues,
}

fn is_nullable(ty: &str) -> bool {
    ty.starts_with("Nullable(") || ty.starts_with("LowCardinality(Nullable(")
}

fn epoch_seconds(text: &str) -> Option<i64> {
    if let Ok(value) = text.parse::<i64>() {
        return Some(value);
    }
    if let Ok(value) = text.parse::<f64>() {
        return value.is_finite().then_some(value.floor() as i64);
    }
    // A timestamp SLS rendered as text.
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|value| value.and_utc().timestamp())
}

fn datetime(seconds: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp(seconds, 0).map(|value| value.naive_utc())
}

fn integer(text: &str) -> Option<i128> {
    match text {
        "true" => Some(1),
        "false" => Some(0),
        _ => text.parse::<i128>().ok().or_else(|| {
            text.parse::<f64>()
                .ok()
                .filter(|value| value.is_finite())
                .map(|value| value.trunc() as i128)
        }),
    }
}

fn json_cell(value: &Value, element_type: &str) -> Cell {
    match value {
        Value::Null => Cell::Null,
        Value::String(text) => scalar(text, element_type).unwrap_or(Cell::String(text.clone())),
        Value::Bool(flag) => Cell::UInt(u64::from(*flag)),
        Value::Number(number) => scalar(&number.to_string(), element_type)
            .unwrap_or_else(|| Cell::String(number.to_string())),
        other => Cell::String(other.to_string()),
    }
}

fn element_type(ty: &str) -> String {
    strip_nullable(ty)
        .strip_prefix("Array(")
        .and_then(|rest| rest.strip_suffix(')'))
        .map(str::to_string)
        .unwrap_or_else(|| "String".into())
}

/// The element types of `A, B(C, D), E`: split at top-level commas.
fn split_types(list: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0usize, 0usize, Vec::new());
    for (index, ch) in list.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(list[start..index].trim());
                start = index + 1;
            }
            _ => {}
        }
    }
    out.push(list[start..].trim());
    out
}

/// A non-NULL scalar of type `ty`, or None when the text does not fit it.
fn scalar(text: &str, ty: &str) -> Option<Cell> {
    let base = strip_nullable(ty);
    if base.starts_with("UInt") {
        integer(text).map(|value| Cell::UInt(value.clamp(0, u64::MAX as i128) as u64))
    } else if base.starts_with("Int") {
        integer(text).map(|value| Cell::Int(value.clamp(i64::MIN as i128, i64::MAX as i128) as i64))
    } else if base.starts_with("Float") {
        match text {
            "Infinity" => Some(Cell::Float(f64::INFINITY)),
            "-Infinity" => Some(Cell::Float(f64::NEG_INFINITY)),
            "NaN" => Some(Cell::Float(f64::NAN)),
            "true" => Some(Cell::Float(1.0)),
            "false" => Some(Cell::Float(0.0)),
            _ => text.parse::<f64>().ok().map(Cell::Float),
        }
    } else if base.starts_with("DateTime64") {
        let millis = integer(text)?;
        let value = DateTime::from_timestamp_millis(i64::try_from(millis).ok()?)?;
        Some(Cell::DateTime64(value.naive_utc()))
    } else if base.starts_with("DateTime") {
        datetime(epoch_seconds(text)?).map(Cell::DateTime)
    } else if base == "Date" {
        datetime(epoch_seconds(text)?).map(|value| Cell::Date(value.date()))
    } else if base.starts_with("Array(") {
        let parsed: Value = serde_json::from_str(text).ok()?;
        let items = parsed.as_array()?;
        let element = element_type(ty);
        Some(Cell::Array(
            items.iter().map(|item| json_cell(item, &element)).collect(),
        ))
    } else if let Some(inner) = base
        .strip_prefix("Tuple(")
        .and_then(|r| r.strip_suffix(')'))
    {
        // A constant tuple, selected as its JSON text (`tuple(…)` of literals).
        let parsed: Value = serde_json::from_str(text).ok()?;
        let items = parsed.as_array()?;
        let types = split_types(inner);
        Some(Cell::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| json_cell(item, types.get(index).map_or("String", |t| t)))
                .collect(),
        ))
    } else if base == "Nothing" {
        Some(Cell::Null)
    } else {
        Some(Cell::String(text.to_string()))
    }
}

/// Decodes one SLS value of a result column of ClickHouse type `ty`.
/// `"null"` is NULL for Nullable types and the type's default otherwise
/// (what ClickHouse gives for an aggregate over no rows).
pub fn decode_cell(text: &str, ty: &str, shape: Shape) -> Cell {
    if text == "null" {
        return if is_nullable(ty) {
            Cell::Null
        } else {
            default_cell(ty)
        };
    }
    match shape {
        Shape::Scalar | Shape::JsonArray => scalar(text, ty).unwrap_or_else(|| default_cell(ty)),
        Shape::MapKeys | Shape::MapValues => {
            let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
                return default_cell(ty);
            };
            let mut pairs: Vec<(&String, &Value)> = object.iter().collect();
            pairs.sort_by(|left, right| left.0.cmp(right.0));
            Cell::Array(
                pairs
                    .into_iter()
                    .map(|(key, value)| match shape {
                        Shape::MapKeys => Cell::String(key.clone()),
                        _ => match value {
                            Value::String(text) => Cell::String(text.clone()),
                            other => Cell::String(other.to_string()),
                        },
                    })
                    .collect(),
            )
        }
    }
}
