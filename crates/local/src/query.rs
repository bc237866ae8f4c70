//! Executes an SLS query (`search [| SQL]`) over one logstore's snapshot
//! with DataFusion, and renders the answer as SLS does: every value a
//! string, SQL NULL as `"null"`, column order kept.
//!
//! The plan: Parquet segments overlapping `[from, to)` plus the memtable
//! rows form the raw table (every field a string). The search part becomes a
//! filter on it. A search-only query returns raw rows by time, paged by
//! `offset`/`line`. With SQL, the filtered rows are exposed as the table
//! `log` with the columns the index allows (typed: `long` → BIGINT, `double`
//! → DOUBLE), and the rewritten SQL (see `sql.rs`) runs over it.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{col, ident, lit, Expr};
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};
use sentry_sls_slsql::SearchExpr;
use sentry_sls_store::{
    FieldType, IndexConfig, Progress, QueryRequest, QueryResult, StoreError, StoreErrorCode,
};

use crate::columnar::{self, TIME};
use crate::logstore::Logstore;
use crate::{search, sql};

/// Rows per page for search-only queries, at most (SLS's `line` cap).
pub const MAX_LINES: u32 = 100;

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::new(StoreErrorCode::ParameterInvalid, message)
}

/// DataFusion errors of planning or execution are the query's fault: SLS
/// reports them as `ParameterInvalid` with the engine's message.
fn query_error(error: datafusion::error::DataFusionError) -> StoreError {
    match error {
        datafusion::error::DataFusionError::ResourcesExhausted(message) => {
            StoreError::new(StoreErrorCode::Other("QueryExceedMemory".into()), message)
        }
        datafusion::error::DataFusionError::IoError(error) => {
            StoreError::internal(error.to_string())
        }
        other => invalid(other.strip_backtrace()),
    }
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// The SQL type of an indexed field.
fn sql_type(field_type: FieldType) -> DataType {
    match field_type {
        FieldType::Long => DataType::Int64,
        FieldType::Double => DataType::Float64,
        FieldType::Text | FieldType::Json => DataType::Utf8,
    }
}

/// Columns SQL may read, with their expressions over the raw table:
/// meta columns, tags, and index keys with `doc_value` (plus aliases and
/// declared JSON sub-keys).
fn sql_projection(
    index: &IndexConfig,
    raw_columns: &BTreeSet<String>,
    int_columns: &BTreeSet<String>,
) -> Vec<Expr> {
    let mut projection = vec![
        column(TIME),
        column(columnar::TIME_NS),
        column(columnar::TOPIC),
        column(columnar::SOURCE),
    ];
    let mut seen: BTreeSet<String> = columnar::META_COLUMNS
        .iter()
        .map(|name| name.to_string())
        .collect();
    for name in raw_columns
        .iter()
        .filter(|name| name.starts_with(columnar::TAG_PREFIX))
    {
        projection.push(column(name));
        seen.insert(name.clone());
    }
    let raw = |name: &str| -> Expr {
        if raw_columns.contains(name) {
            column(name)
        } else {
            lit(ScalarValue::Utf8(None))
        }
    };
    for (name, field) in &index.keys {
        if !field.doc_value || seen.contains(name) {
            continue;
        }
        let typed = match field.field_type {
            FieldType::Text | FieldType::Json => raw(name),
            // Stored as Int64 already (every value canonical): no parsing,
            // and filters on it reach the Parquet statistics.
            FieldType::Long if int_columns.contains(name) => column(name),
            other => Expr::TryCast(datafusion::logical_expr::TryCast::new(
                Box::new(raw(name)),
                sql_type(other),
            )),
        };
        projection.push(typed.clone().alias(name));
        seen.insert(name.clone());
        if let Some(alias) = field
            .alias
            .as_ref()
            .filter(|alias| !alias.is_empty() && !seen.contains(*alias))
        {
            projection.push(typed.alias(alias));
            seen.insert(alias.clone());
        }
        if field.field_type == FieldType::Json {
            if let Some(serde_json::Value::Object(json_keys)) = field.other.get("json_keys") {
                for (sub_key, sub_config) in json_keys {
                    let full = format!("{name}.{sub_key}");
                    if seen.contains(&full)
                        || sub_config
                            .get("doc_value")
                            .and_then(serde_json::Value::as_bool)
                            == Some(false)
                    {
                        continue;
                    }
                    let path = lit(format!("$.{sub_key}"));
                    let extracted = Expr::ScalarFunction(
                        datafusion::logical_expr::expr::ScalarFunction::new_udf(
                            crate::udf::json_extract_scalar(),
                            vec![raw(name), path],
                        ),
                    );
                    let sub_type = match sub_config.get("type").and_then(serde_json::Value::as_str)
                    {
                        Some("long") => DataType::Int64,
                        Some("double") => DataType::Float64,
                        _ => DataType::Utf8,
                    };
                    let typed_sub = if sub_type == DataType::Utf8 {
                        extracted
                    } else {
                        Expr::TryCast(datafusion::logical_expr::TryCast::new(
                            Box::new(extracted),
                            sub_type,
                        ))
                    };
                    projection.push(typed_sub.alias(&full));
                    seen.insert(full);
                }
            }
        }
    }
    projection
}

/// Runs `request` on `logstore` in a fresh session of `environment`.
pub async fn execute(
    logstore: &Logstore,
    environment: &crate::QueryEnvironment,
    request: &QueryRequest,
) -> Result<QueryResult, StoreError> {
    if request.from >= request.to {
        return Err(StoreError::new(
            StoreErrorCode::InvalidTimeRange,
            format!(
                "from ({}) must be less than to ({})",
                request.from, request.to
            ),
        ));
    }
    let meta = logstore.meta();
    let index = meta.index.clone().ok_or_else(|| {
        StoreError::new(
            StoreErrorCode::IndexConfigNotExist,
            "logstore without index config",
        )
    })?;
    let parsed = sentry_sls_slsql::parse_query(&request.query)
        .map_err(|error| invalid(error.to_string()))?;
    let search_expr: SearchExpr = parsed.search;
    let prepared = match &parsed.sql {
        Some(text) => {
            if request.offset > 0 {
                return Err(invalid("offset is not available for pagination in sql query, please use limit x,y syntax"));
            }
            Some(sql::prepare(text).map_err(invalid)?)
        }
        None => None,
    };

    let mut snapshot = logstore.snapshot(request.from, request.to);
    let mut processed_rows = snapshot.rows;
    // Id lookups (`node_id: x`) read only the inputs that may hold the id.
    if environment.lookups.applies(&search_expr, &index) {
        let lookups = Arc::clone(&environment.lookups);
        let (search_copy, index_copy) = (search_expr.clone(), index.clone());
        let (mut paths, mut memtable) = (
            std::mem::take(&mut snapshot.segment_paths),
            std::mem::take(&mut snapshot.memtable),
        );
        let (paths, memtable, pruned) = tokio::task::spawn_blocking(move || {
            let pruned = lookups.prune(&search_copy, &index_copy, &mut paths, &mut memtable);
            (paths, memtable, pruned)
        })
        .await
        .map_err(|error| StoreError::internal(format!("lookup pruning failed: {error}")))?;
        (snapshot.segment_paths, snapshot.memtable) = (paths, memtable);
        processed_rows = pruned.unwrap_or(processed_rows);
    }
    let schema = columnar::storage_schema_typed(&snapshot.columns, &snapshot.int_columns);
    let context = environment.session()?;
    let raw = raw_table(&context, &schema, &snapshot).await?;
    let filter = col(TIME)
        .gt_eq(lit(request.from))
        .and(col(TIME).lt(lit(request.to)))
        .and(
            search::filter(
                &search_expr,
                &index,
                &snapshot.columns,
                &snapshot.int_columns,
            )
            .map_err(invalid)?,
        );
    let filtered = raw.filter(filter).map_err(query_error)?;

    let Some(prepared) = prepared else {
        return search_rows(filtered, request, processed_rows).await;
    };
    let view = filtered
        .select(sql_projection(
            &index,
            &snapshot.columns,
            &snapshot.int_columns,
        ))
        .map_err(query_error)?;
    context
        .register_table("log", view.into_view())
        .map_err(query_error)?;
    let plan = context
        .state()
        .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
            prepared.statement,
        )))
        .await
        .map_err(query_error)?;
    let frame = context
        .execute_logical_plan(plan)
        .await
        .map_err(query_error)?;
    let keys: Vec<String> = frame
        .schema()
        .fields()
        .iter()
        .map(|field| field.name().clone())
        .collect();
    if std::env::var_os("SENTRY_SLS_EXPLAIN").is_some() {
        let explained = frame
            .clone()
            .explain(false, true)
            .map_err(query_error)?
            .collect()
            .await
            .map_err(query_error)?;
        eprintln!(
            "EXPLAIN ANALYZE {}\n{}",
            request.query,
            arrow::util::pretty::pretty_format_batches(&explained)
                .map_err(|e| invalid(e.to_string()))?
        );
    }
    let batches = frame.collect().await.map_err(query_error)?;
    let mut rows = Vec::new();
    for batch in &batches {
        render_rows(batch, &keys, false, &mut rows)?;
    }
    Ok(QueryResult {
        progress: Progress::Complete,
        keys,
        rows,
        processed_rows,
        has_sql: true,
    })
}

/// The raw table: segments (missing columns read as NULL) and memtable rows.
async fn raw_table(
    context: &SessionContext,
    schema: &Arc<Schema>,
    snapshot: &crate::logstore::Snapshot,
) -> Result<DataFrame, StoreError> {
    // Memtable batches carry only their own columns: give them the query's
    // schema (absent columns NULL, no copying). Rows outside [from, to) are
    // removed by the query's time filter.
    let mut memtable: Vec<RecordBatch> = snapshot
        .memtable
        .iter()
        .map(|batch| columnar::unify(batch, schema))
        .collect::<Result<_, _>>()
        .map_err(|error| StoreError::internal(format!("reading memtable: {error}")))?;
    if memtable.is_empty() {
        memtable.push(RecordBatch::new_empty(Arc::clone(schema)));
    }
    let mut frame = context.read_batches(memtable).map_err(query_error)?;
    if !snapshot.segment_paths.is_empty() {
        let paths: Vec<String> = snapshot
            .segment_paths
            .iter()
            .map(|path| path.display().to_string())
            .collect();
        let options = ParquetReadOptions {
            schema: Some(schema.as_ref()),
            ..ParquetReadOptions::default()
        };
        let segments = context
            .read_parquet(paths, options)
            .await
            .map_err(query_error)?;
        frame = segments.union(frame).map_err(query_error)?;
    }
    Ok(frame)
}

async fn search_rows(
    filtered: DataFrame,
    request: &QueryRequest,
    processed_rows: u64,
) -> Result<QueryResult, StoreError> {
    let line = if request.line == 0 {
        MAX_LINES
    } else {
        request.line.min(MAX_LINES)
    };
    let ordered = filtered
        .sort(vec![
            ident(TIME).sort(!request.reverse, false),
            ident(columnar::TIME_NS).sort(!request.reverse, false),
        ])
        .map_err(query_error)?
        .limit(request.offset as usize, Some(line as usize))
        .map_err(query_error)?;
    let batches = ordered.collect().await.map_err(query_error)?;
    let mut rows = Vec::new();
    let mut keys = BTreeSet::new();
    for batch in &batches {
        let names: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|field| field.name().clone())
            .collect();
        render_rows(batch, &names, true, &mut rows)?;
    }
    for row in &rows {
        for (key, _) in row {
            keys.insert(key.clone());
        }
    }
    Ok(QueryResult {
        progress: Progress::Complete,
        keys: keys.into_iter().collect(),
        rows,
        processed_rows,
        has_sql: false,
    })
}

/// Appends `batch` as string rows. `skip_nulls` drops absent fields (raw
/// search results: a log has only its own keys); SQL rows keep every column
/// with NULL rendered `"null"`. `__time_ns_part__` is shown only when set.
fn render_rows(
    batch: &RecordBatch,
    names: &[String],
    skip_nulls: bool,
    rows: &mut Vec<Vec<(String, String)>>,
) -> Result<(), StoreError> {
    let options = FormatOptions::new()
        .with_null("null")
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.3f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.3f %Z"))
        .with_datetime_format(Some("%Y-%m-%d %H:%M:%S%.3f"));
    let columns: Vec<&ArrayRef> = batch.columns().iter().collect();
    let formatters: Vec<Option<ArrayFormatter>> = columns
        .iter()
        .map(|array| {
            if is_nested(array.data_type()) {
                Ok(None)
            } else {
                ArrayFormatter::try_new(array.as_ref(), &options).map(Some)
            }
        })
        .collect::<Result<_, _>>()
        .map_err(|error| StoreError::internal(format!("formatting results: {error}")))?;
    for row in 0..batch.num_rows() {
        let mut values = Vec::with_capacity(names.len());
        for (index, name) in names.iter().enumerate() {
            let array = columns[index];
            if skip_nulls && array.is_null(row) {
                continue;
            }
            if skip_nulls
                && name == columnar::TIME_NS
                && array
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .value(row)
                    == 0
            {
                continue;
            }
            let text = match &formatters[index] {
                Some(formatter) => formatter.value(row).to_string(),
                None => nested_json(array.as_ref(), row),
            };
            values.push((name.clone(), text));
        }
        rows.push(values);
    }
    Ok(())
}

fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Map(_, _)
            | DataType::Struct(_)
    )
}

/// Arrays and maps render as JSON text, as SLS shows them.
fn nested_json(array: &dyn Array, row: usize) -> String {
    if array.is_null(row) {
        return "null".into();
    }
    let value = arrow_value_json(array, row);
    value.to_string()
}

fn arrow_value_json(array: &dyn Array, row: usize) -> serde_json::Value {
    use serde_json::Value;
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(row);
            Value::Array(
                (0..list.len())
                    .map(|i| arrow_value_json(list.as_ref(), i))
                    .collect(),
            )
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>().value(row);
            Value::Array(
                (0..list.len())
                    .map(|i| arrow_value_json(list.as_ref(), i))
                    .collect(),
            )
        }
        DataType::Map(_, _) => {
            let entries = array.as_map().value(row);
            let keys = entries.column(0);
            let values = entries.column(1);
            let mut object = serde_json::Map::new();
            for i in 0..entries.len() {
                let key = match arrow_value_json(keys.as_ref(), i) {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                object.insert(key, arrow_value_json(values.as_ref(), i));
            }
            Value::Object(object)
        }
        DataType::Struct(_) => {
            let structure = array.as_struct();
            let mut object = serde_json::Map::new();
            for (field, child) in structure.fields().iter().zip(structure.columns()) {
                object.insert(field.name().clone(), arrow_value_json(child.as_ref(), row));
            }
            Value::Object(object)
        }
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        data_type if data_type.is_numeric() => {
            let text = ArrayFormatter::try_new(array, &FormatOptions::new())
                .map(|formatter| formatter.value(row).to_string())
                .unwrap_or_default();
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        _ => {
            let text = ArrayFormatter::try_new(array, &FormatOptions::new())
                .map(|formatter| formatter.value(row).to_string())
                .unwrap_or_default();
            Value::String(text)
        }
    }
}
