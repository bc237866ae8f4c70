//! Lets the Parquet page index prune by long IN lists.
//!
//! DataFusion prunes pages with single-column predicates, but builds them
//! with its default IN-list limit (20 values), ignoring
//! `datafusion.execution.parquet.max_in_list_size`: Sentry's seen-stats and
//! sparkline queries send `group_id IN (…25 ids…)`, so every page of the
//! project was decoded although rows are sorted by group. Splitting the list
//! in the scan's predicate into an OR of lists of at most 20 keeps the
//! predicate single-column and exact, and within the limit. It is done on
//! the physical plan, after filter pushdown, because the logical simplifier
//! merges `x IN (a) OR x IN (b)` back into one list.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Result;
use datafusion::datasource::physical_plan::ParquetSource;
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, InListExpr};
use datafusion::physical_expr::utils::{conjunction, split_conjunction};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

/// The longest IN list DataFusion's page pruning uses
/// (`datafusion_pruning::MAX_IN_LIST_SIZE`).
const PAGE_IN_LIST_LIMIT: usize = 20;

/// The physical optimizer rule; see the module documentation.
#[derive(Debug, Default)]
pub struct SplitLongInLists;

/// `expr IN (list)` as an OR of IN lists of at most [`PAGE_IN_LIST_LIMIT`]
/// values, or `None` if it is not a long, non-negated IN list.
fn split(
    conjunct: &Arc<dyn PhysicalExpr>,
    schema: &arrow::datatypes::Schema,
) -> Result<Option<Arc<dyn PhysicalExpr>>> {
    let Some(in_list) = conjunct.downcast_ref::<InListExpr>() else {
        return Ok(None);
    };
    if in_list.negated() || in_list.list().len() <= PAGE_IN_LIST_LIMIT {
        return Ok(None);
    }
    let mut parts = Vec::new();
    for chunk in in_list.list().chunks(PAGE_IN_LIST_LIMIT) {
        parts.push(Arc::new(InListExpr::try_new(
            Arc::clone(in_list.expr()),
            chunk.to_vec(),
            false,
            schema,
        )?) as Arc<dyn PhysicalExpr>);
    }
    Ok(parts.into_iter().reduce(|left, right| {
        Arc::new(BinaryExpr::new(left, Operator::Or, right)) as Arc<dyn PhysicalExpr>
    }))
}

impl PhysicalOptimizerRule for SplitLongInLists {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some((config, source)) = exec.downcast_to_file_source::<ParquetSource>() else {
                return Ok(Transformed::no(node));
            };
            let Some(predicate) = datafusion::datasource::physical_plan::FileSource::filter(source)
            else {
                return Ok(Transformed::no(node));
            };
            let schema = config.file_schema();
            let mut changed = false;
            let mut conjuncts = Vec::new();
            // Top-level conjuncts only: dynamic filters (top-k) stay the
            // same objects, so their updates still reach the scan.
            for conjunct in split_conjunction(&predicate) {
                match split(conjunct, schema)? {
                    Some(split) => {
                        changed = true;
                        conjuncts.push(split);
                    }
                    None => conjuncts.push(Arc::clone(conjunct)),
                }
            }
            if !changed {
                return Ok(Transformed::no(node));
            }
            let source = source.with_predicate(conjunction(conjuncts));
            let mut config = config.clone();
            config.file_source = Arc::new(source);
            Ok(Transformed::yes(Arc::new(
                exec.clone().with_data_source(Arc::new(config)),
            )))
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "split_long_in_lists"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, Int64Array, RecordBatch};
    use datafusion::physical_plan::{collect, ExecutionPlan};
    use datafusion::prelude::ParquetReadOptions;

    use super::*;

    /// Rows the scan's row filter evaluated: what page pruning left.
    fn filtered_rows(plan: &Arc<dyn ExecutionPlan>) -> usize {
        let own = plan.metrics().map_or(0, |metrics| {
            ["pushdown_rows_pruned", "pushdown_rows_matched"]
                .iter()
                .filter_map(|name| metrics.sum_by_name(name))
                .map(|value| value.as_usize())
                .sum()
        });
        own + plan
            .children()
            .into_iter()
            .map(filtered_rows)
            .sum::<usize>()
    }

    #[tokio::test]
    async fn a_25_value_in_list_prunes_pages() {
        const PAGE: i64 = 4096;
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("segment.parquet");
        // 100 groups of one page each, sorted as segments are.
        let groups: Int64Array = (0..100 * PAGE).map(|row| row / PAGE).collect();
        let batch = RecordBatch::try_from_iter([("g", Arc::new(groups) as ArrayRef)]).unwrap();
        crate::columnar::write_parquet(&path, &batch).unwrap();
        let environment =
            crate::QueryEnvironment::new(&crate::LocalStoreConfig::default()).unwrap();
        let context = environment.session().unwrap();
        context
            .register_parquet("t", path.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();
        let ids: Vec<String> = (0..25).map(|i| (i * 4).to_string()).collect();
        let frame = context
            .sql(&format!(
                "SELECT count(*) AS c FROM t WHERE g IN ({})",
                ids.join(", ")
            ))
            .await
            .unwrap();
        let plan = frame.create_physical_plan().await.unwrap();
        let batches = collect(Arc::clone(&plan), context.task_ctx())
            .await
            .unwrap();
        let count = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0);
        assert_eq!(count, 25 * PAGE);
        // Without the split, every one of the 100 pages is decoded and
        // filtered row by row.
        let filtered = filtered_rows(&plan);
        assert!(
            filtered <= 25 * PAGE as usize,
            "the row filter saw {filtered} rows"
        );
    }
}
