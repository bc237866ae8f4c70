//! Translator unit tests: SnQL in, SLS query out.

use super::*;
use crate::validate::{parse_and_validate, Checks};

const NOW: i64 = 1_764_590_400;

fn plan(snql: &str) -> Plan {
    let validated = parse_and_validate(snql, Checks::QUERY).expect("valid SnQL");
    translate(&validated, NOW, 30).expect("translatable")
}

const RANGE: &str = "timestamp >= toDateTime('2025-12-01T00:00:00') AND timestamp < toDateTime('2025-12-01T12:00:00.123456')";

#[test]
fn issue_list_sort_date_with_totals() {
    let plan = plan(&format!(
        "MATCH (events SAMPLE 1.0) SELECT multiply(toUInt64(max(timestamp)), 1000) AS `last_seen`, uniq(group_id) AS `total` BY group_id WHERE {RANGE} AND project_id IN tuple(1, 2) AND type != 'transaction' AND environment IN tuple('production') HAVING last_seen <= 1764590400000 ORDER BY last_seen DESC, group_id ASC LIMIT 26 OFFSET 0 TOTALS True"
    ));
    assert_eq!((plan.from, plan.to), (1_764_547_200, 1_764_590_400));
    assert_eq!(
        plan.query,
        "__topic__: sentry_error and (project_id: 1 or project_id: 2) and environment: production | \
         SELECT \"group_id\" AS \"c_0\", (cast(max(__time__) AS bigint) * 1000) AS \"c_1\", count(DISTINCT \"group_id\") AS \"c_2\" \
         FROM log WHERE ((__time__ >= 1764547200) AND (__time__ < 1764590400) AND (\"project_id\" IN (1, 2)) AND (coalesce(\"type\", '') <> 'transaction') AND (\"environment\" IN ('production'))) \
         GROUP BY \"group_id\" HAVING ((cast(max(__time__) AS bigint) * 1000) <= 1764590400000) \
         ORDER BY (cast(max(__time__) AS bigint) * 1000) DESC NULLS LAST, \"group_id\" ASC NULLS LAST LIMIT 26"
    );
    let totals = plan.totals_query.expect("totals");
    assert!(
        totals.contains("\"group_id\" IN (SELECT \"group_id\" FROM log WHERE"),
        "{totals}"
    );
    assert_eq!(plan.totals_columns, vec![None, Some(0), Some(1)]);
}
