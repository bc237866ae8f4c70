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
use crate::translate::{decode_cell, translate, Plan};
use crate::validate::ValidatedQuery;

/// Answers `events`/`discover` queries from a logstore; other entities
/// answer as empty tables.
pub struct StoreExecutor {
    store: Arc<dyn LogStore>,
    logstore: String,
    retention_days: u32,
    timeout: Duration,
}

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
        }
    }

    fn plan(&self, query: &ValidatedQuery) -> Option<Result<Plan, SnubaError>> {
        let stored = query.entity.is_some_and(|entity| entity.stored);
        let simple = match &query.query.source {
            Source::Entity(_) => true,
            Source::Subquery(inner) => matches!(inner.source, Source::Entity(_)),
            _ => false,
        };
        if !stored || !simple {
            return None;
        }
        Some(translate(query, now(), self.retention_days))
    }

    async fn run(&self, text: &str, plan: &Plan) -> Result<QueryResult, SnubaError> {
        let request = StoreQuery {
            from: plan.from,
            to: plan.to,
            query: text.to_string(),
            ..StoreQuery::default()
        };
        let result =
            tokio::time::timeout(self.timeout, self.store.get_logs(&self.logstore, request))
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
            let row = totals.as_ref().and_then(|totals| totals.rows.first());
            Some(
                columns
                    .iter()
                    .enumerate()
                    .map(|(index, column)| match (plan.totals_columns[index], row) {
                        // The totals query names its columns `c_<result index>` too.
                        (Some(_), Some(row)) => {
                            decode_cell(value(row, &[], index), &column.ty, plan.shapes[index])
                        }
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
