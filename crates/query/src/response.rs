//! Snuba-shaped success responses (snuba-api.md §1.4, §2.3, §7): result
//! column order and names, `meta` type strings, value encoding, `totals`,
//! `timing`, `quota_allowance`, and the debug-only `stats`/`sql`.

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{json, Map, Number, Value};

/// One value of a result row, typed as ClickHouse would return it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// NULL.
    Null,
    /// Unsigned integer.
    UInt(u64),
    /// Signed integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// String.
    String(String),
    /// `DateTime` (rendered ISO-8601 with `+00:00`).
    DateTime(NaiveDateTime),
    /// `DateTime64(3)` (rendered `YYYY-MM-DD HH:MM:SS[.ffffff]`, no offset).
    DateTime64(NaiveDateTime),
    /// `Date` (rendered as midnight UTC with `+00:00`).
    Date(NaiveDate),
    /// `Array(T)` or a tuple.
    Array(Vec<Cell>),
}

impl Cell {
    /// The JSON encoding Snuba uses for this value (§7.2).
    pub fn to_json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::UInt(value) => json!(value),
            Cell::Int(value) => json!(value),
            // Snuba emits bare NaN/Infinity (not JSON); Sentry turns them into
            // 0/None. We emit null, which every JSON parser accepts.
            Cell::Float(value) => Number::from_f64(*value).map_or(Value::Null, Value::Number),
            Cell::String(value) => Value::String(value.clone()),
            Cell::DateTime(value) => Value::String(format_datetime(value)),
            Cell::DateTime64(value) => Value::String(format_datetime64(value)),
            Cell::Date(value) => Value::String(format_datetime(
                &value.and_hms_opt(0, 0, 0).unwrap_or_default(),
            )),
            Cell::Array(values) => Value::Array(values.iter().map(Cell::to_json).collect()),
        }
    }
}

/// `DateTime` text: Python's `isoformat()` of an aware UTC datetime.
pub fn format_datetime(value: &NaiveDateTime) -> String {
    value.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// `DateTime64(3)` text: Python's `str()` of a naive datetime.
pub fn format_datetime64(value: &NaiveDateTime) -> String {
    if value.and_utc().timestamp_subsec_micros() == 0 {
        value.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        value.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    }
}

/// A result column: its response name and ClickHouse type string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultColumn {
    /// Name in `meta` and row objects.
    pub name: String,
    /// Type string in `meta`.
    pub ty: String,
}

/// What a query produced, before it is shaped as JSON.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultSet {
    /// Columns in result order (BY items first).
    pub columns: Vec<ResultColumn>,
    /// Rows, one cell per column.
    pub rows: Vec<Vec<Cell>>,
    /// The `WITH TOTALS` row, when asked for.
    pub totals: Option<Vec<Cell>>,
}

impl ResultSet {
    /// Removes later columns whose name repeats an earlier one: Snuba's
    /// response is keyed by name, so duplicates collapse to one key.
    pub fn dedup_columns(&mut self) {
        let mut keep = Vec::with_capacity(self.columns.len());
        let mut seen = std::collections::HashSet::new();
        for column in &self.columns {
            keep.push(seen.insert(column.name.clone()));
        }
        if keep.iter().all(|kept| *kept) {
            return;
        }
        let filter = |cells: &mut Vec<Cell>| {
            let mut index = 0;
            cells.retain(|_| {
                index += 1;
                keep[index - 1]
            });
        };
        let mut index = 0;
        self.columns.retain(|_| {
            index += 1;
            keep[index - 1]
        });
        self.rows.iter_mut().for_each(filter);
        if let Some(totals) = &mut self.totals {
            filter(totals);
        }
    }

    fn row_object(&self, cells: &[Cell]) -> Value {
        let mut object = Map::new();
        for (column, cell) in self.columns.iter().zip(cells) {
            object.insert(column.name.clone(), cell.to_json());
        }
        Value::Object(object)
    }
}

/// Extra response parts that depend on the request.
#[derive(Debug, Clone, Default)]
pub struct ResponseExtras {
    /// Wall time of the request in milliseconds.
    pub duration_ms: u64,
    /// Include `stats`, `sql`, `experiments`.
    pub debug: bool,
    /// The store query that ran (or would run), shown as `sql` under debug.
    pub sql: String,
    /// `stats` content for debug responses.
    pub stats: Map<String, Value>,
}

/// Builds the success body.
pub fn success_body(result: &ResultSet, extras: &ResponseExtras) -> Value {
    let mut body = Map::new();
    body.insert(
        "data".into(),
        Value::Array(
            result
                .rows
                .iter()
                .map(|row| result.row_object(row))
                .collect(),
        ),
    );
    body.insert(
        "meta".into(),
        Value::Array(
            result
                .columns
                .iter()
                .map(|column| json!({"name": column.name, "type": column.ty}))
                .collect(),
        ),
    );
    if let Some(totals) = &result.totals {
        body.insert("totals".into(), result.row_object(totals));
    }
    body.insert(
        "profile".into(),
        json!({"blocks": 0, "bytes": 0, "elapsed": extras.duration_ms as f64 / 1000.0,
               "progress_bytes": 0, "rows": result.rows.len()}),
    );
    body.insert("trace_output".into(), json!(""));
    body.insert("timing".into(), timing_json(extras.duration_ms));
    body.insert("quota_allowance".into(), quota_allowance_json());
    if extras.debug {
        let mut stats = extras.stats.clone();
        stats.insert("result_rows".into(), json!(result.rows.len()));
        stats.insert("result_cols".into(), json!(result.columns.len()));
        body.insert("stats".into(), Value::Object(stats));
        body.insert("sql".into(), json!(extras.sql));
        body.insert("experiments".into(), json!({}));
    }
    Value::Object(body)
}

/// A success body as Snuba writes it: every `data` row and the `totals` with their keys in
/// `meta` order, the query's column order. The body is a `serde_json::Map`, whose keys are
/// sorted, so the order is put back as it is written.
pub struct Ordered<'a>(pub &'a Value);

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Value::Object(body) = self.0 else {
            return self.0.serialize(serializer);
        };
        let mut names: Vec<&str> = Vec::new();
        for column in body
            .get("meta")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = column.get("name").and_then(Value::as_str);
            // A name twice would write its key twice (`dedup_columns` leaves none).
            if let Some(name) = name.filter(|name| !names.contains(name)) {
                names.push(name);
            }
        }
        let mut out = serializer.serialize_map(Some(body.len()))?;
        for (key, value) in body {
            match (key.as_str(), value) {
                ("data", Value::Array(rows)) => out.serialize_entry(key, &Rows(&names, rows))?,
                ("totals", totals) => out.serialize_entry(key, &Row(&names, totals))?,
                _ => out.serialize_entry(key, value)?,
            }
        }
        out.end()
    }
}

/// The `data` rows, each written as a [`Row`].
struct Rows<'a>(&'a [&'a str], &'a [Value]);

impl serde::Serialize for Rows<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.1.iter().map(|row| Row(self.0, row)))
    }
}

/// One row written with the `meta` names first, in order, then any other keys.
struct Row<'a>(&'a [&'a str], &'a Value);

impl serde::Serialize for Row<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Row(names, value) = *self;
        let Value::Object(row) = value else {
            return value.serialize(serializer);
        };
        let mut out = serializer.serialize_map(Some(row.len()))?;
        let mut written = 0;
        for name in names {
            if let Some((key, value)) = row.get_key_value(*name) {
                out.serialize_entry(key, value)?;
                written += 1;
            }
        }
        if written < row.len() {
            for (key, value) in row {
                if !names.contains(&key.as_str()) {
                    out.serialize_entry(key, value)?;
                }
            }
        }
        out.end()
    }
}

/// The `timing` object.
pub fn timing_json(duration_ms: u64) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    json!({"timestamp": now, "duration_ms": duration_ms, "marks_ms": {}, "tags": {}})
}

/// `quota_allowance`: sentry-sls enforces no allocation policies (as
/// self-hosted Snuba, where they are disabled), so every query may run.
pub fn quota_allowance_json() -> Value {
    json!({
        "details": {},
        "summary": {
            "threads_used": 0,
            "is_successful": true,
            "is_rejected": false,
            "is_throttled": false,
            "rejection_storage_key": null,
            "throttle_storage_key": null,
            "rejected_by": {},
            "throttled_by": {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn values_encode_like_snuba() {
        assert_eq!(
            Cell::DateTime(at("2024-01-01 00:00:00")).to_json(),
            json!("2024-01-01T00:00:00+00:00")
        );
        assert_eq!(
            Cell::DateTime64(at("2024-01-01 00:00:00.123")).to_json(),
            json!("2024-01-01 00:00:00.123000")
        );
        assert_eq!(
            Cell::DateTime64(at("2024-01-01 00:00:00")).to_json(),
            json!("2024-01-01 00:00:00")
        );
        assert_eq!(
            Cell::Date(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()).to_json(),
            json!("2024-01-01T00:00:00+00:00")
        );
        assert_eq!(Cell::UInt(u64::MAX).to_json(), json!(u64::MAX));
        assert_eq!(Cell::Float(f64::NAN).to_json(), Value::Null);
        assert_eq!(
            Cell::Array(vec![Cell::String("a".into()), Cell::Null]).to_json(),
            json!(["a", null])
        );
    }

    #[test]
    fn duplicate_names_collapse_and_order_is_kept() {
        let mut result = ResultSet {
            columns: vec![
                ResultColumn {
                    name: "group_id".into(),
                    ty: "UInt64".into(),
                },
                ResultColumn {
                    name: "count".into(),
                    ty: "UInt64".into(),
                },
                ResultColumn {
                    name: "group_id".into(),
                    ty: "UInt64".into(),
                },
            ],
            rows: vec![vec![Cell::UInt(7), Cell::UInt(3), Cell::UInt(7)]],
            totals: Some(vec![Cell::UInt(0), Cell::UInt(3), Cell::UInt(0)]),
        };
        result.dedup_columns();
        let body = success_body(&result, &ResponseExtras::default());
        assert_eq!(
            body["meta"],
            json!([{"name": "group_id", "type": "UInt64"}, {"name": "count", "type": "UInt64"}])
        );
        assert_eq!(body["totals"], json!({"group_id": 0, "count": 3}));
        // Written in the query's column order, not the map's (sorted) one.
        let text = serde_json::to_string(&Ordered(&body)).unwrap();
        assert!(
            text.contains(r#""data":[{"group_id":7,"count":3}]"#),
            "{text}"
        );
        assert!(
            text.contains(r#""totals":{"group_id":0,"count":3}"#),
            "{text}"
        );
        assert!(body.get("sql").is_none());
    }

    #[test]
    fn debug_adds_stats_and_sql() {
        let extras = ResponseExtras {
            debug: true,
            sql: "* | SELECT 1".into(),
            ..Default::default()
        };
        let body = success_body(&ResultSet::default(), &extras);
        assert_eq!(body["sql"], "* | SELECT 1");
        assert_eq!(body["stats"]["result_rows"], 0);
        assert!(body["timing"]["timestamp"].as_u64().unwrap() > 1_600_000_000);
    }
}
