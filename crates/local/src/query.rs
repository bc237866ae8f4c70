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
use crate::{rollup, search, sql};

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
    // Id lookups in SQL (`event_id IN ('…')`) read only the segments whose
    // Bloom filters may hold the id.
    if let Some(prepared) = &prepared {
        for column in columnar::BLOOM_COLUMNS {
            // The view's column must be the stored one, as a string.
            let text = index
                .keys
                .get(column)
                .is_some_and(|key| key.field_type == FieldType::Text && key.doc_value)
                && !index
                    .keys
                    .iter()
                    .any(|(name, key)| name != column && key.alias.as_deref() == Some(column));
            let Some(values) = text
                .then(|| crate::lookup::required_values(&prepared.statement, column))
                .flatten()
            else {
                continue;
            };
            let blooms = Arc::clone(&environment.blooms);
            let mut paths = std::mem::take(&mut snapshot.segment_paths);
            snapshot.segment_paths = tokio::task::spawn_blocking(move || {
                blooms.retain(&mut paths, column, &values);
                paths
            })
            .await
            .map_err(|error| StoreError::internal(format!("Bloom pruning failed: {error}")))?;
            let kept: u64 = snapshot
                .segment_paths
                .iter()
                .map(|path| {
                    snapshot
                        .segment_spans
                        .get(path)
                        .map_or(snapshot.rows, |span| span.2)
                })
                .sum();
            processed_rows = processed_rows.min(snapshot.memtable_rows() + kept);
        }
    }
    let inputs = Inputs {
        index: &index,
        search: &search_expr,
        request,
        snapshot: &snapshot,
    };
    let Some(prepared) = prepared else {
        let context = environment.session()?;
        let filtered = inputs.filtered(&context, &snapshot.segment_paths).await?;
        return search_rows(filtered, request, processed_rows).await;
    };
    if let Some((keys, rows, read)) =
        with_rollups(&inputs, environment, &prepared.statement).await?
    {
        return Ok(QueryResult {
            progress: Progress::Complete,
            keys,
            rows,
            processed_rows: processed_rows.min(read),
            has_sql: true,
        });
    }
    let frame = inputs
        .plan(environment, &snapshot.segment_paths, &prepared.statement)
        .await?;
    let keys = column_names(&frame);
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
    let rows = match time_top_k(frame.logical_plan()) {
        Some(top) if snapshot.segment_paths.len() > 1 => {
            drop(frame);
            let (rows, read) =
                newest_first(&inputs, environment, &prepared.statement, &top, &keys).await?;
            processed_rows = processed_rows.min(read);
            rows
        }
        _ => collect_rows(frame, &keys).await?,
    };
    Ok(QueryResult {
        progress: Progress::Complete,
        keys,
        rows,
        processed_rows,
        has_sql: true,
    })
}

/// What one query reads: the snapshot's inputs through the search filter.
struct Inputs<'a> {
    index: &'a IndexConfig,
    search: &'a SearchExpr,
    request: &'a QueryRequest,
    snapshot: &'a crate::logstore::Snapshot,
}

impl Inputs<'_> {
    /// Whether the query text names a column with Bloom filters (a cheap
    /// over-approximation of "a predicate may use them").
    fn names_bloom_column(&self) -> bool {
        columnar::BLOOM_COLUMNS
            .iter()
            .any(|name| self.request.query.contains(name))
    }

    /// The memtable and `segments` rows in `[from, to)` that match the search.
    async fn filtered(
        &self,
        context: &SessionContext,
        segments: &[std::path::PathBuf],
    ) -> Result<DataFrame, StoreError> {
        let snapshot = self.snapshot;
        let schema = columnar::storage_schema_typed(&snapshot.columns, &snapshot.int_columns);
        let raw = raw_table(context, &schema, segments, &snapshot.memtable).await?;
        let filter = col(TIME)
            .gt_eq(lit(self.request.from))
            .and(col(TIME).lt(lit(self.request.to)))
            .and(
                search::filter(
                    self.search,
                    self.index,
                    &snapshot.columns,
                    &snapshot.int_columns,
                )
                .map_err(invalid)?,
            );
        raw.filter(filter).map_err(query_error)
    }

    /// `statement` over those rows as the table `log`, in a fresh session.
    async fn plan(
        &self,
        environment: &crate::QueryEnvironment,
        segments: &[std::path::PathBuf],
        statement: &datafusion::sql::sqlparser::ast::Statement,
    ) -> Result<DataFrame, StoreError> {
        let context = environment.session_reading_blooms(self.names_bloom_column())?;
        let view = self
            .filtered(&context, segments)
            .await?
            .select(sql_projection(
                self.index,
                &self.snapshot.columns,
                &self.snapshot.int_columns,
            ))
            .map_err(query_error)?;
        plan_over(&context, view, statement.clone()).await
    }
}

/// `statement` planned in `context` with `view` as its table `log`.
async fn plan_over(
    context: &SessionContext,
    view: DataFrame,
    statement: datafusion::sql::sqlparser::ast::Statement,
) -> Result<DataFrame, StoreError> {
    context
        .register_table("log", view.into_view())
        .map_err(query_error)?;
    let plan = context
        .state()
        .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
            statement,
        )))
        .await
        .map_err(query_error)?;
    context
        .execute_logical_plan(plan)
        .await
        .map_err(query_error)
}

/// The result column names of `frame`.
fn column_names(frame: &DataFrame) -> Vec<String> {
    frame
        .schema()
        .fields()
        .iter()
        .map(|field| field.name().clone())
        .collect()
}

/// `segments` as one table of `schema` (absent columns NULL).
async fn read_segments(
    context: &SessionContext,
    schema: &Schema,
    segments: Vec<String>,
) -> Result<DataFrame, StoreError> {
    let options = ParquetReadOptions {
        schema: Some(schema),
        ..ParquetReadOptions::default()
    };
    context
        .read_parquet(segments, options)
        .await
        .map_err(query_error)
}

async fn collect_rows(
    frame: DataFrame,
    keys: &[String],
) -> Result<Vec<Vec<(String, String)>>, StoreError> {
    let batches = frame.collect().await.map_err(query_error)?;
    let mut rows = Vec::new();
    for batch in &batches {
        render_rows(batch, keys, false, &mut rows)?;
    }
    Ok(rows)
}

/// Runs `statement` over the rollups of the segments inside its time range
/// and the raw rows of the rest, when it qualifies (see [`rollup`]): the
/// result keys, rows, and how many rollup and raw rows were read.
#[allow(clippy::type_complexity)]
async fn with_rollups(
    inputs: &Inputs<'_>,
    environment: &crate::QueryEnvironment,
    statement: &datafusion::sql::sqlparser::ast::Statement,
) -> Result<Option<(Vec<String>, Vec<Vec<(String, String)>>, u64)>, StoreError> {
    use datafusion::functions_aggregate::expr_fn::{count, max, min};
    let snapshot = inputs.snapshot;
    let typed_keys = rollup::KEYS
        .iter()
        .all(|key| snapshot.int_columns.contains(*key));
    if !typed_keys || !rollup::search_qualifies(inputs.search) {
        return Ok(None);
    }
    let mut columns = snapshot.columns.clone();
    columns.extend(inputs.index.keys.keys().cloned());
    let Some(rewrite) =
        rollup::rewrite(statement, inputs.request.from, inputs.request.to, &columns)
    else {
        return Ok(None);
    };
    // Hourly rollups hold whole hours: the range must be made of them.
    let hourly = rewrite.hourly;
    let hour = rollup::SECONDS_PER_HOUR;
    if hourly && (rewrite.first % hour != 0 || rewrite.end % hour != 0) {
        return Ok(None);
    }
    let (mut covered, mut raw) = (Vec::new(), Vec::new());
    let mut raw_rows = snapshot.memtable_rows();
    for path in &snapshot.segment_paths {
        let usable = |&(low, high, _): &(i64, i64, u64)| {
            if hourly {
                // Its hours inside the range are whole: a one-day segment
                // whose hourly rows are cut to the range.
                rollup::covers(low, high, i64::MIN, i64::MAX)
            } else {
                rollup::covers(low, high, rewrite.first, rewrite.end)
            }
        };
        match snapshot.segment_spans.get(path) {
            Some(span) if usable(span) => covered.push(path.clone()),
            span => {
                raw_rows += span.map_or(snapshot.rows, |&(_, _, rows)| rows);
                raw.push(path.clone());
            }
        }
    }
    if covered.is_empty() {
        return Ok(None);
    }
    let context = environment.session_reading_blooms(false)?;
    let schema = columnar::storage_schema_typed(&snapshot.columns, &snapshot.int_columns);
    let mut rollups = Vec::with_capacity(covered.len());
    for path in &covered {
        if let Some(rollup) = environment.rollups.get(path, hourly) {
            rollups.push(rollup);
            continue;
        }
        let mut keys = vec![
            col(columnar::TOPIC),
            col(rollup::KEYS[0]),
            col(rollup::KEYS[1]),
        ];
        if hourly {
            keys.push((col(TIME) - col(TIME) % lit(hour)).alias(rollup::HOUR));
        }
        let grouped = read_segments(&context, &schema, vec![path.display().to_string()])
            .await?
            .aggregate(
                keys,
                vec![
                    count(lit(1)).alias(rollup::COUNT),
                    min(col(TIME)).alias(rollup::FIRST),
                    max(col(TIME)).alias(rollup::LAST),
                ],
            )
            .map_err(query_error)?;
        let rollup_schema = Arc::new(grouped.schema().as_arrow().clone());
        let batches = grouped.collect().await.map_err(query_error)?;
        let rollup = arrow::compute::concat_batches(&rollup_schema, &batches)
            .map_err(|error| StoreError::internal(format!("building a rollup: {error}")))?;
        environment
            .rollups
            .insert(path.clone(), hourly, rollup.clone());
        rollups.push(rollup);
    }
    let rollup_rows: u64 = rollups.iter().map(|batch| batch.num_rows() as u64).sum();
    let day = |time: Expr| time.clone() - time % lit(86_400i64);
    let keys_of = |names: &[&str]| -> BTreeSet<String> {
        names.iter().map(|name| name.to_string()).collect()
    };
    let search = search::filter(
        inputs.search,
        inputs.index,
        &keys_of(&[columnar::TOPIC, rollup::KEYS[0], rollup::KEYS[1]]),
        &keys_of(&rollup::KEYS),
    )
    .map_err(invalid)?;
    let mut rollup_columns = vec![
        col(rollup::KEYS[0]),
        col(rollup::KEYS[1]),
        day(col(rollup::FIRST)).alias(rollup::DAY),
        col(rollup::COUNT),
        col(rollup::FIRST),
        col(rollup::LAST),
    ];
    let mut rollup_filter = search;
    if hourly {
        rollup_columns.push(col(rollup::HOUR));
        rollup_filter = rollup_filter.and(
            col(rollup::HOUR)
                .gt_eq(lit(rewrite.first))
                .and(col(rollup::HOUR).lt(lit(rewrite.end))),
        );
    }
    let from_rollups = context
        .read_batches(rollups)
        .and_then(|frame| frame.filter(rollup_filter))
        .and_then(|frame| frame.select(rollup_columns))
        .map_err(query_error)?;
    let mut row_columns = vec![
        col(rollup::KEYS[0]),
        col(rollup::KEYS[1]),
        day(col(TIME)).alias(rollup::DAY),
        lit(1i64).alias(rollup::COUNT),
        col(TIME).alias(rollup::FIRST),
        col(TIME).alias(rollup::LAST),
    ];
    if hourly {
        row_columns.push((col(TIME) - col(TIME) % lit(hour)).alias(rollup::HOUR));
    }
    let from_rows = inputs
        .filtered(&context, &raw)
        .await?
        .filter(
            col(TIME)
                .gt_eq(lit(rewrite.first))
                .and(col(TIME).lt(lit(rewrite.end))),
        )
        .and_then(|frame| frame.select(row_columns))
        .map_err(query_error)?;
    let view = from_rollups.union(from_rows).map_err(query_error)?;
    let frame = plan_over(&context, view, rewrite.statement).await?;
    let keys = column_names(&frame);
    let rows = collect_rows(frame, &keys).await?;
    Ok(Some((keys, rows, raw_rows + rollup_rows)))
}

/// A query whose answer is its first `fetch` rows by `__time__`, selected
/// as the result column `key`.
#[derive(Debug, PartialEq)]
struct TimeTopK {
    fetch: usize,
    descending: bool,
    key: String,
}

/// `SELECT … __time__ AS key … FROM log WHERE … ORDER BY key [DESC], … LIMIT
/// n`: rows of `log`, no aggregation, join or subquery, ordered by time first.
fn time_top_k(plan: &datafusion::logical_expr::LogicalPlan) -> Option<TimeTopK> {
    use datafusion::common::tree_node::TreeNode;
    use datafusion::logical_expr::{FetchType, LogicalPlan, SkipType};
    let LogicalPlan::Limit(limit) = plan else {
        return None;
    };
    let (Ok(SkipType::Literal(0)), Ok(FetchType::Literal(Some(fetch)))) =
        (limit.get_skip_type(), limit.get_fetch_type())
    else {
        return None;
    };
    let LogicalPlan::Sort(sort) = limit.input.as_ref() else {
        return None;
    };
    let Expr::Column(first) = &sort.expr.first()?.expr else {
        return None;
    };
    let LogicalPlan::Projection(projection) = sort.input.as_ref() else {
        return None;
    };
    let is_time = |expr: &Expr| matches!(expr, Expr::Column(column) if column.name == TIME);
    let selected = projection.expr.iter().any(|expr| match expr {
        Expr::Alias(alias) => alias.name == first.name && is_time(&alias.expr),
        other => first.name == TIME && is_time(other),
    });
    // Only filters, projections and unions of the inputs below (the `log`
    // view is those): every row of the answer is a row of one input, and no
    // subquery reads `log` on its own.
    let mut plain = true;
    projection
        .input
        .apply(|node| {
            let allowed = matches!(
                node,
                LogicalPlan::Projection(_)
                    | LogicalPlan::Filter(_)
                    | LogicalPlan::TableScan(_)
                    | LogicalPlan::SubqueryAlias(_)
                    | LogicalPlan::Union(_)
            ) && node
                .expressions()
                .iter()
                .all(|expr| !expr.exists(|inner| Ok(is_subquery(inner))).unwrap_or(true));
            plain &= allowed;
            Ok(if allowed {
                datafusion::common::tree_node::TreeNodeRecursion::Continue
            } else {
                datafusion::common::tree_node::TreeNodeRecursion::Stop
            })
        })
        .ok()?;
    let projected_plain = projection.expr.iter().all(|expr| {
        !expr
            .exists(|inner| Ok(is_subquery(inner) || is_window_or_aggregate(inner)))
            .unwrap_or(true)
    });
    (selected && plain && projected_plain).then(|| TimeTopK {
        fetch,
        descending: !sort.expr[0].asc,
        key: first.name.clone(),
    })
}

fn is_subquery(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::ScalarSubquery(_)
            | Expr::InSubquery(_)
            | Expr::Exists(_)
            | Expr::OuterReferenceColumn(..)
    )
}

fn is_window_or_aggregate(expr: &Expr) -> bool {
    matches!(expr, Expr::AggregateFunction(_) | Expr::WindowFunction(_))
}

/// Runs a [`TimeTopK`] query on the newest segments (oldest, for an
/// ascending order) and the memtable first, adding older segments only
/// while they may hold rows that rank among the answer: a segment whose
/// newest row is older than the answer's oldest cannot. Sentry's latest
/// event of a group then reads one day's segment instead of fourteen.
/// Returns the rows and how many input rows were read.
async fn newest_first(
    inputs: &Inputs<'_>,
    environment: &crate::QueryEnvironment,
    statement: &datafusion::sql::sqlparser::ast::Statement,
    top: &TimeTopK,
    keys: &[String],
) -> Result<(Vec<Vec<(String, String)>>, u64), StoreError> {
    let snapshot = inputs.snapshot;
    let mut order: Vec<(&std::path::PathBuf, (i64, i64, u64))> = snapshot
        .segment_paths
        .iter()
        .map(|path| {
            let span = snapshot.segment_spans.get(path).copied();
            (path, span.unwrap_or((i64::MIN, i64::MAX, snapshot.rows)))
        })
        .collect();
    if top.descending {
        order.sort_by_key(|(_, (_, max, _))| std::cmp::Reverse(*max));
    } else {
        order.sort_by_key(|(_, (min, _, _))| *min);
    }
    let memtable_rows = snapshot.memtable_rows();
    let mut take = 1;
    loop {
        let segments: Vec<std::path::PathBuf> = order[..take]
            .iter()
            .map(|(path, _)| (*path).clone())
            .collect();
        let frame = inputs.plan(environment, &segments, statement).await?;
        let rows = collect_rows(frame, keys).await?;
        let read = memtable_rows
            + order[..take]
                .iter()
                .map(|(_, (_, _, rows))| rows)
                .sum::<u64>();
        if take == order.len() {
            return Ok((rows, read));
        }
        if rows.len() < top.fetch {
            take = (take * 2).min(order.len());
            continue;
        }
        let times: Option<Vec<i64>> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .find(|(name, _)| *name == top.key)
                    .and_then(|(_, value)| value.parse::<i64>().ok())
            })
            .collect();
        let Some(times) = times else {
            take = order.len();
            continue;
        };
        // The segments that may hold a row ranking with the answer's last.
        let needed = if top.descending {
            let oldest = times.iter().copied().min().unwrap_or(i64::MIN);
            order
                .iter()
                .take_while(|(_, (_, max, _))| *max >= oldest)
                .count()
        } else {
            let newest = times.iter().copied().max().unwrap_or(i64::MAX);
            order
                .iter()
                .take_while(|(_, (min, _, _))| *min <= newest)
                .count()
        };
        if needed <= take {
            return Ok((rows, read));
        }
        take = needed;
    }
}

/// The raw table: segments (missing columns read as NULL) and memtable rows.
async fn raw_table(
    context: &SessionContext,
    schema: &Arc<Schema>,
    segments: &[std::path::PathBuf],
    memtable: &[RecordBatch],
) -> Result<DataFrame, StoreError> {
    // Memtable batches carry only their own columns: give them the query's
    // schema (absent columns NULL, no copying). Rows outside [from, to) are
    // removed by the query's time filter.
    let mut memtable: Vec<RecordBatch> = memtable
        .iter()
        .map(|batch| columnar::unify(batch, schema))
        .collect::<Result<_, _>>()
        .map_err(|error| StoreError::internal(format!("reading memtable: {error}")))?;
    if memtable.is_empty() {
        memtable.push(RecordBatch::new_empty(Arc::clone(schema)));
    }
    let mut frame = context.read_batches(memtable).map_err(query_error)?;
    if !segments.is_empty() {
        let paths: Vec<String> = segments
            .iter()
            .map(|path| path.display().to_string())
            .collect();
        let segments = read_segments(context, schema, paths).await?;
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
