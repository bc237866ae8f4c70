//! Runs a Snuba request end to end, minus HTTP: dataset lookup, SnQL
//! validation, execution through an [`Executor`], and the response body.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::entities::dataset;
use crate::error::SnubaError;
use crate::functions::is_aggregate_function;
use crate::request::QueryRequest;
use crate::response::{success_body, ResponseExtras, ResultSet};
use crate::types::default_cell;
use crate::validate::{parse_and_validate, Checks, ValidatedQuery};

/// Where validated queries are answered: the log store (issue 7), or nothing.
pub trait Executor: Send + Sync {
    /// Runs the query. The result's columns must be `query.columns`.
    fn execute(&self, query: &ValidatedQuery) -> Result<ResultSet, SnubaError>;

    /// The store query this executor would run, shown as `sql` under `debug`.
    fn explain(&self, query: &ValidatedQuery) -> String;
}

/// An executor with no stored rows: every entity answers as an empty table
/// would in ClickHouse. Used for entities sentry-sls does not store.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRowsExecutor;

impl Executor for NoRowsExecutor {
    fn execute(&self, query: &ValidatedQuery) -> Result<ResultSet, SnubaError> {
        Ok(empty_result(query))
    }

    fn explain(&self, query: &ValidatedQuery) -> String {
        let name = query.entity.map_or("storage", |entity| entity.name);
        format!("-- no stored rows for entity {name}")
    }
}

/// What ClickHouse returns over an empty table: no rows, except that an
/// aggregation without `BY` yields one row of the aggregates' defaults
/// (`count()` = 0). With `TOTALS` and `BY`, the totals row holds defaults.
pub fn empty_result(query: &ValidatedQuery) -> ResultSet {
    let defaults: Vec<_> = query
        .columns
        .iter()
        .map(|column| default_cell(&column.ty))
        .collect();
    let aggregates = query.query.select.iter().any(|item| {
        let mut found = false;
        item.expr.walk(&mut |expr| {
            if let sentry_sls_snql::ExprKind::Function { name, .. }
            | sentry_sls_snql::ExprKind::Curried { name, .. } = &expr.kind
            {
                found |= is_aggregate_function(name);
            }
        });
        found
    });
    let rows = if query.query.group_by.is_empty() && aggregates {
        vec![defaults.clone()]
    } else {
        Vec::new()
    };
    ResultSet {
        columns: query.columns.clone(),
        rows,
        totals: query.query.wants_totals().then_some(defaults),
    }
}

/// The request-level part of the Snuba API.
#[derive(Clone)]
pub struct Engine {
    executor: Arc<dyn Executor>,
}

impl Engine {
    /// An engine answering through `executor`.
    pub fn new(executor: Arc<dyn Executor>) -> Self {
        Engine { executor }
    }

    /// Answers `POST /{dataset}/snql`.
    pub fn snql(&self, dataset_name: &str, request: &QueryRequest) -> Result<Value, SnubaError> {
        let started = Instant::now();
        if dataset(dataset_name).is_none() {
            return Err(SnubaError::Dataset(dataset_name.to_string()));
        }
        let validated = parse_and_validate(&request.query, Checks::QUERY)?;
        let sql = self.executor.explain(&validated);
        let mut stats = Map::new();
        stats.insert(
            "clickhouse_table".into(),
            json!(validated.entity.map(|entity| entity.name)),
        );
        stats.insert("referrer".into(), json!(request.effective_referrer(None)));
        stats.insert("consistent".into(), json!(request.flags.consistent));
        stats.insert("final".into(), json!(false));
        if request.flags.dry_run {
            let mut body = success_body(&ResultSet::default(), &ResponseExtras::default());
            let object = body.as_object_mut().expect("success body is an object");
            object.insert("stats".into(), json!({"cluster_name": "sentry-sls"}));
            if request.flags.debug {
                object.insert("sql".into(), json!(sql));
            }
            return Ok(body);
        }
        let mut result = self.executor.execute(&validated)?;
        result.dedup_columns();
        let extras = ResponseExtras {
            duration_ms: started.elapsed().as_millis() as u64,
            debug: request.flags.debug,
            sql,
            stats,
        };
        Ok(success_body(&result, &extras))
    }

    /// Answers `POST /{dataset}/mql`: MQL serves metrics pages, which
    /// sentry-sls does not store, so a valid request gets an empty result.
    pub fn mql(&self, dataset_name: &str, request: &QueryRequest) -> Result<Value, SnubaError> {
        if dataset(dataset_name).is_none() {
            return Err(SnubaError::Dataset(dataset_name.to_string()));
        }
        if request.mql_context.is_none() {
            return Err(SnubaError::InvalidQuery(
                "MQL requests need an mql_context".into(),
            ));
        }
        if request.query.trim().is_empty() {
            return Err(SnubaError::InvalidQuery("the MQL query is empty".into()));
        }
        Ok(success_body(
            &ResultSet::default(),
            &ResponseExtras::default(),
        ))
    }
}
