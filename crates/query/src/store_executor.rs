//! The executor that answers the errors entities from the log store: one
//! SLS query per request (two with `TOTALS`), rows decoded into typed cells,
//! then the service-side steps of the plan (LIMIT BY, de-duplication).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sentry_sls_snql::Source;
use sentry_sls_store::{
    LogStore, Progress, QueryRequest as StoreQuery, QueryResult, StoreError, StoreErrorCode,
};

use crate::engine::{empty_result, Executor};
use crate::error::SnubaError;
use crate::response::{Cell, ResultSet};
use crate::translate::{decode_cell, translate_with, Plan};
use crate::validate::ValidatedQuery;

/// Answers `events`/`discover` queries from a logstore; other entities
/// answer as empty tables.
pub struct StoreExecutor {
    store: Arc<dyn LogStore>,
    logstore: String,
    retention_days: u32,
    timeout: Duration,
    /// SLS runs at most 15 analytic statements per project at once (more
    /// fail); queries beyond this wait, and past the timeout are throttled.
    slots: Arc<tokio::sync::Semaphore>,
    /// Count distinct `event_id`s instead of logs (a store that may hold an
    /// event twice).
    distinct_counts: bool,
}

/// Store queries in flight at once, below SLS's 15 per project.
pub const MAX_CONCURRENT_STORE_QUERIES: usize = 12;

impl StoreExecutor {
    /// An executor over `logstore` of `store`; `retention_days` is the
    /// logstore TTL (Snuba's `retention_days` column), `timeout` bounds each
    /// store query.
    pub fn new(
        store: Arc<dyn LogStore>,
        logstore: impl Into<String>,
        retention_days: u32,
        timeout: Duration,
    ) -> Self {
        StoreExecutor {
            store,
            logstore: logstore.into(),
            retention_days,
            timeout,
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_STORE_QUERIES)),
            distinct_counts: false,
        }
    }

    /// Whether the store may hold an event more than once, so `count()`
    /// must count distinct `event_id`s. True for SLS (and `sls-local`
    /// behind the SLS API): a PutLogs whose answer was lost is sent again
    /// and stored twice. False for the embedded store in the same process,
    /// which commits each ingest batch exactly once (keyed writes).
    pub fn with_distinct_counts(mut self, distinct_counts: bool) -> Self {
        self.distinct_counts = distinct_counts;
        self
    }

    fn plan(&self, query: &ValidatedQuery) -> Option<Result<Plan, SnubaError>> {
        let stored = query.entity.is_some_and(|entity| entity.stored);
        let simple = match &query.query.source {
            Source::Entity(_) => true,
            Source::Subquery(inner) => matches!(inner.source, Source::Entity(_)),
            _ => false,
        };
        if !stored || !simple || crate::translate::joins_an_unstored_array(query) {
            return None;
        }
        Some(translate_with(
            query,
            now(),
            self.retention_days,
            self.distinct_counts,
        ))
    }

    async fn run(&self, text: &str, plan: &Plan) -> Result<QueryResult, SnubaError> {
        let request = StoreQuery {
            from: plan.from,
            to: plan.to,
            query: text.to_string(),
            ..StoreQuery::default()
        };
        let started = tokio::time::Instant::now();
        let _slot = tokio::time::timeout(self.timeout, self.slots.acquire())
            .await
            .map_err(|_| {
                SnubaError::RateLimited(format!(
                    "more than {MAX_CONCURRENT_STORE_QUERIES} store queries in flight for {} s",
                    self.timeout.as_secs()
                ))
            })?
            .map_err(|error| SnubaError::Internal(error.to_string()))?;
        let left = self.timeout.saturating_sub(started.elapsed());
        let result = tokio::time::timeout(left, self.store.get_logs(&self.logstore, request))
            .await
            .map_err(|_| SnubaError::ClickHouse {
                code: 160,
                message: format!(
                    "the log store did not answer within {} s",
                    self.timeout.as_secs()
                ),
            })?
            .map_err(store_error)?;
        if result.progress == Progress::Incomplete {
            return Err(SnubaError::ClickHouse {
                code: 160,
                message: "the log store could only give an incomplete result".into(),
            });
        }
        Ok(result)
    }

    async fn execute_plan(
        &self,
        query: &ValidatedQuery,
        plan: &Plan,
    ) -> Result<ResultSet, SnubaError> {
        let (rows, totals) = match &plan.totals_query {
            // The rows carry the totals; a page without rows has none to
            // carry, so then the totals query answers.
            Some(totals) if plan.totals_inline => {
                let rows = self.run(&plan.query, plan).await?;
                let totals = if rows.rows.is_empty() {
                    Some(self.run(totals, plan).await?)
                } else {
                    None
                };
                (rows, totals)
            }
            Some(totals) => {
                let (rows, totals) =
                    tokio::join!(self.run(&plan.query, plan), self.run(totals, plan));
                (rows?, Some(totals?))
            }
            None => (self.run(&plan.query, plan).await?, None),
        };
        let columns = &query.columns;
        let mut decoded: Vec<Vec<Cell>> = rows
            .rows
            .iter()
            .map(|row| {
                columns
                    .iter()
                    .enumerate()
                    .map(|(index, column)| {
                        let text = value(row, &rows.keys, index);
                        decode_cell(text, &column.ty, plan.shapes[index])
                    })
                    .collect()
            })
            .collect();
        decoded = post_process(decoded, plan);
        let totals = if query.query.wants_totals() {
            // The totals query names its columns `c_<result index>` too; rows
            // carrying the totals name them `t_<result index>`.
            let (row, prefix) = match &totals {
                Some(totals) => (totals.rows.first(), "c"),
                None => (rows.rows.first(), "t"),
            };
            Some(
                columns
                    .iter()
                    .enumerate()
                    .map(|(index, column)| match (plan.totals_columns[index], row) {
                        (Some(_), Some(row)) => decode_cell(
                            named(row, &format!("{prefix}_{index}")),
                            &column.ty,
                            plan.shapes[index],
                        ),
                        _ => crate::types::default_cell(&column.ty),
                    })
                    .collect(),
            )
        } else {
            None
        };
        Ok(ResultSet {
            columns: columns.clone(),
            rows: decoded,
            totals,
        })
    }
}

/// The value of the column aliased `alias` (`null` when absent).
fn named<'r>(row: &'r [(String, String)], alias: &str) -> &'r str {
    row.iter()
        .find(|(key, _)| key == alias)
        .map_or("null", |(_, value)| value.as_str())
}

/// The value of result column `index` (SQL alias `c_index`, or position).
fn value<'r>(row: &'r [(String, String)], keys: &[String], index: usize) -> &'r str {
    let alias = format!("c_{index}");
    row.iter()
        .find(|(key, _)| *key == alias)
        .or_else(|| {
            keys.get(index)
                .and_then(|name| row.iter().find(|(key, _)| key == name))
        })
        .map_or("null", |(_, value)| value.as_str())
}

/// LIMIT BY, de-duplication of repeated events, then OFFSET/LIMIT.
fn post_process(rows: Vec<Vec<Cell>>, plan: &Plan) -> Vec<Vec<Cell>> {
    let post = &plan.post;
    let mut rows = rows;
    if let Some(index) = post.dedup {
        let mut seen = HashSet::new();
        rows.retain(|row| match row.get(index) {
            Some(Cell::String(event_id)) => seen.insert(event_id.clone()),
            _ => true,
        });
    }
    if let Some((limit, indexes)) = &post.limit_by {
        let mut counts: std::collections::HashMap<Vec<String>, u64> = Default::default();
        rows.retain(|row| {
            let key: Vec<String> = indexes
                .iter()
                .map(|index| format!("{:?}", row.get(*index)))
                .collect();
            let count = counts.entry(key).or_insert(0);
            *count += 1;
            *count <= *limit
        });
    }
    let offset = usize::try_from(post.offset).unwrap_or(usize::MAX);
    let rows = rows.into_iter().skip(offset);
    match post.limit {
        Some(limit) => rows
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect(),
        None => rows.collect(),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

/// Store failures as the Snuba errors Sentry understands (snuba-api.md §1.5):
/// throttling is `rate-limited` (429); an unreachable or failing store is
/// ClickHouse's ALL_CONNECTION_TRIES_FAILED (279, QueryConnectionFailed),
/// a timeout 160, memory 241, and a query the store refused 47/1002.
pub fn store_error(error: StoreError) -> SnubaError {
    let message = format!("log store: {error}");
    match &error.code {
        StoreErrorCode::ReadQuotaExceed | StoreErrorCode::WriteQuotaExceed => {
            SnubaError::RateLimited(message)
        }
        StoreErrorCode::Other(code)
            if code.contains("Quota") || code.contains("QPS") || code.contains("Concurren") =>
        {
            SnubaError::RateLimited(message)
        }
        StoreErrorCode::RequestTimeout => SnubaError::ClickHouse { code: 160, message },
        StoreErrorCode::Other(code) if code == "QueryExceedMemory" => {
            SnubaError::ClickHouse { code: 241, message }
        }
        StoreErrorCode::ParameterInvalid if error.message.contains("cannot be resolved") => {
            SnubaError::ClickHouse { code: 47, message }
        }
        StoreErrorCode::ParameterInvalid | StoreErrorCode::InvalidTimeRange => {
            SnubaError::ClickHouse {
                code: 1002,
                message,
            }
        }
        _ => SnubaError::ClickHouse { code: 279, message },
    }
}

impl Executor for StoreExecutor {
    fn execute(&self, query: &ValidatedQuery) -> Result<ResultSet, SnubaError> {
        let Some(plan) = self.plan(query) else {
            return Ok(empty_result(query));
        };
        let plan = plan?;
        // The engine runs on a blocking thread of the server's runtime.
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|error| SnubaError::Internal(format!("no async runtime: {error}")))?;
        handle.block_on(self.execute_plan(query, &plan))
    }

    fn explain(&self, query: &ValidatedQuery) -> String {
        match self.plan(query) {
            None => crate::engine::NoRowsExecutor.explain(query),
            Some(Err(error)) => format!("-- not translatable: {error}"),
            Some(Ok(plan)) => match plan.totals_query {
                Some(totals) => format!("{}\n-- totals:\n{totals}", plan.query),
                None => plan.query,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{parse_and_validate, Checks};
    use sentry_sls_store::{
        IndexConfig, LogBatch, LogstoreConfig, QueryRequest as StoreQuery, ShardInfo,
    };
    use std::sync::Mutex;

    /// Answers every query with canned rows (keys `c_0`, `c_1`, …) and
    /// records the queries it saw.
    struct Canned {
        rows: Vec<Vec<&'static str>>,
        /// Column names of `rows` (empty: `c_<position>`).
        names: Vec<&'static str>,
        failure: Option<StoreError>,
        seen: Mutex<Vec<StoreQuery>>,
    }

    #[async_trait::async_trait]
    impl LogStore for Canned {
        async fn create_logstore(&self, _: LogstoreConfig) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn get_logstore(&self, _: &str) -> Result<LogstoreConfig, StoreError> {
            unimplemented!()
        }
        async fn update_logstore(&self, _: LogstoreConfig) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn create_index(&self, _: &str, _: IndexConfig) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn get_index(&self, _: &str) -> Result<IndexConfig, StoreError> {
            unimplemented!()
        }
        async fn update_index(&self, _: &str, _: IndexConfig) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn put_logs(&self, _: &str, _: LogBatch) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn get_logs(&self, _: &str, request: StoreQuery) -> Result<QueryResult, StoreError> {
            self.seen.lock().unwrap().push(request);
            if let Some(error) = &self.failure {
                return Err(error.clone());
            }
            Ok(QueryResult {
                progress: Progress::Complete,
                keys: Vec::new(),
                rows: self
                    .rows
                    .iter()
                    .map(|row| {
                        row.iter()
                            .enumerate()
                            .map(|(index, value)| {
                                let name = match self.names.get(index) {
                                    Some(name) => name.to_string(),
                                    None => format!("c_{index}"),
                                };
                                (name, value.to_string())
                            })
                            .collect()
                    })
                    .collect(),
                processed_rows: 0,
                has_sql: true,
            })
        }
        async fn list_shards(&self, _: &str) -> Result<Vec<ShardInfo>, StoreError> {
            unimplemented!()
        }
    }

    fn run(rows: Vec<Vec<&'static str>>, snql: &str) -> Result<ResultSet, SnubaError> {
        run_named(rows, Vec::new(), snql).0
    }

    /// [`run`] with the store's column names, and the queries it was sent.
    fn run_named(
        rows: Vec<Vec<&'static str>>,
        names: Vec<&'static str>,
        snql: &str,
    ) -> (Result<ResultSet, SnubaError>, Vec<String>) {
        let store = Arc::new(Canned {
            rows,
            names,
            failure: None,
            seen: Mutex::new(Vec::new()),
        });
        let executor = StoreExecutor::new(
            Arc::clone(&store) as Arc<dyn LogStore>,
            "logstore-rum",
            30,
            Duration::from_secs(5),
        );
        let query = match parse_and_validate(snql, Checks::QUERY) {
            Ok(query) => query,
            Err(error) => return (Err(error), Vec::new()),
        };
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let result = runtime.block_on(async {
            tokio::task::spawn_blocking(move || executor.execute(&query))
                .await
                .unwrap()
        });
        let seen = store.seen.lock().unwrap();
        (
            result,
            seen.iter().map(|query| query.query.clone()).collect(),
        )
    }

    const ISSUE_LIST: &str = "MATCH (events) SELECT max(timestamp) AS last_seen, uniq(group_id) AS total BY group_id \
        WHERE project_id = 1 AND timestamp >= toDateTime('2025-12-01T00:00:00') AND timestamp < toDateTime('2025-12-02T00:00:00') \
        ORDER BY last_seen DESC LIMIT 1 TOTALS True";

    #[test]
    fn totals_come_with_the_rows_from_one_query() {
        let (result, seen) = run_named(
            vec![vec!["7", "1764590400", "1", "1764590401", "12"]],
            vec!["c_0", "c_1", "c_2", "t_1", "t_2"],
            ISSUE_LIST,
        );
        let result = result.unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].contains("OVER ()"), "{seen:?}");
        assert_eq!(result.rows[0][0], Cell::UInt(7));
        let totals = result.totals.expect("totals");
        assert_eq!(totals[0], Cell::UInt(0));
        assert_eq!(
            totals[1].to_json(),
            serde_json::json!("2025-12-01T12:00:01+00:00")
        );
        assert_eq!(totals[2], Cell::UInt(12));
    }

    #[test]
    fn a_page_without_rows_gets_its_totals_from_the_totals_query() {
        let (result, seen) = run_named(Vec::new(), Vec::new(), ISSUE_LIST);
        let result = result.unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(!seen[1].contains("GROUP BY"), "{seen:?}");
        assert!(result.rows.is_empty());
        assert_eq!(result.totals.expect("totals")[2], Cell::UInt(0));
    }

    const WHERE: &str = "WHERE project_id = 1 AND timestamp >= toDateTime('2025-12-01T00:00:00') AND timestamp < toDateTime('2025-12-02T00:00:00')";

    #[test]
    fn rows_are_typed_and_repeated_events_dropped() {
        let result = run(
            vec![
                vec!["aa", "1764590400", "1764590400123", "null", "[\"ValueError\",null]"],
                vec!["aa", "1764590400", "1764590400123", "null", "[\"ValueError\",null]"],
                vec!["bb", "1764590399", "null", "x", "null"],
            ],
            &format!("MATCH (events) SELECT event_id, timestamp, timestamp_ms, replay_id, exception_stacks.type {WHERE} ORDER BY timestamp DESC LIMIT 2"),
        )
        .unwrap();
        assert_eq!(result.rows.len(), 2);
        assert_eq!(result.rows[0][0], Cell::String("aa".into()));
        assert_eq!(
            result.rows[0][1].to_json(),
            serde_json::json!("2025-12-01T12:00:00+00:00")
        );
        assert_eq!(
            result.rows[0][2].to_json(),
            serde_json::json!("2025-12-01 12:00:00.123000")
        );
        assert_eq!(result.rows[0][3], Cell::Null);
        assert_eq!(
            result.rows[0][4].to_json(),
            serde_json::json!(["ValueError", null])
        );
        assert_eq!(result.rows[1][0], Cell::String("bb".into()));
        assert_eq!(result.rows[1][4], Cell::Array(Vec::new()));
    }

    #[test]
    fn aggregates_over_no_rows_give_clickhouse_defaults() {
        let result = run(
            vec![vec!["0", "null", "true"]],
            &format!("MATCH (events) SELECT count() AS c, max(timestamp) AS m, notHandled() AS u {WHERE}"),
        )
        .unwrap();
        assert_eq!(
            result.rows,
            vec![vec![
                Cell::UInt(0),
                Cell::DateTime(chrono::DateTime::UNIX_EPOCH.naive_utc()),
                Cell::UInt(1)
            ]]
        );
    }

    #[test]
    fn other_entities_answer_empty_without_the_store() {
        let result = run(
            vec![vec!["1"]],
            "MATCH (search_issues) SELECT count() AS c WHERE project_id = 1 AND timestamp >= toDateTime('2025-12-01T00:00:00') AND timestamp < toDateTime('2025-12-02T00:00:00')",
        )
        .unwrap();
        assert_eq!(result.rows, vec![vec![Cell::UInt(0)]]);
    }

    #[test]
    fn store_failures_map_to_snuba_errors() {
        let cases = [
            (StoreErrorCode::ReadQuotaExceed, 429, "rate-limited"),
            (StoreErrorCode::InternalServerError, 500, "clickhouse"),
            (StoreErrorCode::ServerBusy, 500, "clickhouse"),
            (StoreErrorCode::RequestTimeout, 500, "clickhouse"),
            (StoreErrorCode::ParameterInvalid, 500, "clickhouse"),
        ];
        for (code, status, error_type) in cases {
            let error = store_error(StoreError::new(code.clone(), "boom"));
            assert_eq!(
                (error.status(), error.error_type()),
                (status, error_type),
                "{code:?}"
            );
        }
        let store = Arc::new(Canned {
            rows: Vec::new(),
            names: Vec::new(),
            failure: Some(StoreError::new(StoreErrorCode::ServerBusy, "busy")),
            seen: Mutex::new(Vec::new()),
        });
        let executor =
            StoreExecutor::new(store.clone(), "logstore-rum", 30, Duration::from_secs(5));
        let query = parse_and_validate(
            &format!("MATCH (events) SELECT count() AS c {WHERE}"),
            Checks::QUERY,
        )
        .unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let error = runtime
            .block_on(async {
                tokio::task::spawn_blocking(move || executor.execute(&query))
                    .await
                    .unwrap()
            })
            .unwrap_err();
        assert!(
            matches!(error, SnubaError::ClickHouse { code: 279, .. }),
            "{error:?}"
        );
        let seen = store.seen.lock().unwrap();
        assert_eq!((seen[0].from, seen[0].to), (1_764_547_200, 1_764_633_600));
    }
}
