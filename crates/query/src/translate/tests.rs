//! Translator unit tests: SnQL in, SLS query out.

use super::*;
use crate::validate::{parse_and_validate, Checks};
use sentry_sls_snql::{ExprKind, Literal};

const NOW: i64 = 1_764_590_400;

fn plan(snql: &str) -> Plan {
    let validated = parse_and_validate(snql, Checks::QUERY).expect("valid SnQL");
    translate(&validated, NOW, 30).expect("translatable")
}

const RANGE_WHERE: &str = "WHERE project_id = 1 AND timestamp >= toDateTime('2025-12-01T00:00:00') AND timestamp < toDateTime('2025-12-01T12:00:00')";

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
         SELECT \"group_id\" AS \"c_0\", (cast(max(__time__) AS bigint) * 1000) AS \"c_1\", CASE WHEN \"group_id\" IS NULL THEN 0 ELSE 1 END AS \"c_2\" \
         FROM log WHERE ((__time__ >= 1764547200) AND (__time__ < 1764590400) AND (\"project_id\" IN (1, 2)) AND (\"environment\" IN ('production'))) \
         GROUP BY \"group_id\" HAVING ((cast(max(__time__) AS bigint) * 1000) <= 1764590400000) \
         ORDER BY (cast(max(__time__) AS bigint) * 1000) DESC NULLS LAST, \"group_id\" ASC NULLS LAST LIMIT 26"
    );
    let totals = plan.totals_query.expect("totals");
    assert!(
        totals.contains("\"group_id\" IN (SELECT \"group_id\" FROM log WHERE"),
        "{totals}"
    );
    assert_eq!(plan.totals_columns, vec![None, Some(0), Some(1)]);
    // Snuba's TypeConditionOptimizer: the topic already excludes transactions.
    assert!(!plan.query.contains("transaction"), "{}", plan.query);
    // The totals row has no GROUP BY: `uniq(group_id)` counts the groups.
    assert!(totals.contains("count(DISTINCT \"group_id\")"), "{totals}");
}

#[test]
fn totals_of_combinable_aggregates_are_windows_over_the_groups() {
    let list = plan(&format!(
        "MATCH (events SAMPLE 1.0) SELECT multiply(toUInt64(max(timestamp)), 1000) AS `last_seen`, count() AS `n`, uniq(group_id) AS `total` BY group_id WHERE {RANGE} AND project_id IN tuple(1) ORDER BY last_seen DESC, group_id ASC LIMIT 26 OFFSET 0 TOTALS True"
    ));
    assert!(list.totals_inline);
    assert!(
        list.query.contains(
            "(cast(max(max(__time__)) OVER () AS bigint) * 1000) AS \"t_1\", \
             sum(count(*)) OVER () AS \"t_2\", count(\"group_id\") OVER () AS \"t_3\" FROM log"
        ),
        "{}",
        list.query
    );
    // Still built: it answers a page without rows.
    assert!(list.totals_query.is_some());

    // A distinct count over all groups cannot be combined from per-group ones.
    let users = plan(&format!(
        "MATCH (events) SELECT uniq(tags[sentry:user]) AS `u`, uniq(group_id) AS `total` BY group_id WHERE {RANGE} AND project_id IN tuple(1) ORDER BY u DESC LIMIT 26 TOTALS True"
    ));
    assert!(
        !users.totals_inline && !users.query.contains("OVER"),
        "{}",
        users.query
    );
    // HAVING: totals cover only the passing groups, which a window cannot see.
    let having = plan(&format!(
        "MATCH (events) SELECT count() AS `n` BY group_id WHERE {RANGE} AND project_id IN tuple(1) HAVING n > 1 ORDER BY n DESC LIMIT 26 TOTALS True"
    ));
    assert!(
        !having.totals_inline && !having.query.contains("OVER"),
        "{}",
        having.query
    );
}

#[test]
fn distinct_counts_count_each_event_once() {
    let validated = parse_and_validate(&format!(
        "MATCH (events) SELECT count() AS `n`, countIf(equals(level, 'error')) AS `e`, uniq(user) AS `u` \
         BY group_id {RANGE_WHERE}"
    ), Checks::QUERY)
    .expect("valid SnQL");
    let plain = translate(&validated, NOW, 30).unwrap().query;
    assert!(
        plain.contains("count(*)") && plain.contains("count_if("),
        "{plain}"
    );
    let exact = translate_with(&validated, NOW, 30, true).unwrap().query;
    assert!(
        exact.contains("count(DISTINCT \"event_id\") AS \"c_1\""),
        "{exact}"
    );
    assert!(
        exact.contains(
            "count(DISTINCT CASE WHEN (coalesce(\"level\", '') = 'error') THEN \"event_id\" END)"
        ) || exact
            .contains("count(DISTINCT CASE WHEN (\"level\" = 'error') THEN \"event_id\" END)"),
        "{exact}"
    );
    assert!(exact.contains("count(DISTINCT \"user\")"), "{exact}");
    assert!(!exact.contains("count(*)"), "{exact}");
}

fn sql_of(snql: &str) -> String {
    plan(snql).query
}

#[test]
fn columns_follow_the_schema() {
    let sql = sql_of(&format!(
        "MATCH (events) SELECT tags[sentry:user], tags[browser], tags[feature], contexts[trace.trace_id], \
         message, release, user, username, ip_address_v4, geo_city, time, exception_stacks.type \
         WHERE {RANGE} AND project_id = 1 LIMIT 5 GRANULARITY 86400"
    ));
    for fragment in [
        "\"user\" AS \"c_0\"",
        "coalesce(\"browser\", '') AS \"c_1\"",
        "coalesce(json_extract_scalar(\"tags\", '$[\"feature\"]'), '') AS \"c_2\"",
        "\"trace_id\" AS \"c_3\"",
        "coalesce(\"message\", '') AS \"c_4\"",
        "\"release\" AS \"c_5\"",
        "\"user\" AS \"c_6\"",
        "\"user_name\" AS \"c_7\"",
        "CASE WHEN strpos(\"ip_address\", ':') = 0 THEN \"ip_address\" END AS \"c_8\"",
        "json_extract_scalar(\"contexts\", '$[\"geo.city\"]') AS \"c_9\"",
        "(__time__ - __time__ % 86400) AS \"c_10\"",
        "\"exception_stacks_type\" AS \"c_11\"",
        "LIMIT 5",
    ] {
        assert!(sql.contains(fragment), "{fragment} not in {sql}");
    }
}

#[test]
fn array_conditions_and_handled_flags() {
    let sql = sql_of(&format!(
        "MATCH (events) SELECT count() AS c WHERE {RANGE} AND project_id = 1 \
         AND exception_stacks.type = 'ValueError' AND exception_stacks.type != 'KeyError' \
         AND notEmpty(exception_stacks.type) = 1 AND has(tags.key, 'browser') = 1 \
         AND notHandled() = 1"
    ));
    for fragment in [
        "coalesce(json_array_contains(\"exception_stacks_type\", 'ValueError'), false)",
        "(NOT (coalesce(json_array_contains(\"exception_stacks_type\", 'KeyError'), false)))",
        "(coalesce(json_array_length(\"exception_stacks_type\"), 0) > 0)",
        "(json_extract(\"tags\", '$[\"browser\"]') IS NOT NULL)",
        "(coalesce(\"unhandled\", 0) = 1)",
    ] {
        assert!(sql.contains(fragment), "{fragment} not in {sql}");
    }
}

#[test]
fn tag_facets_unnest_the_tags_object_and_limit_by_in_the_service() {
    let plan = plan(&format!(
        "MATCH (events) SELECT count() AS `count` BY tags_key, tags_value WHERE {RANGE} \
         AND project_id IN array(1) AND tags_key IN array('browser') ORDER BY count DESC LIMIT 9 BY tags_key LIMIT 100"
    ));
    assert!(plan.query.contains(
        "FROM log CROSS JOIN UNNEST(cast(json_parse(\"tags\") AS map(varchar, varchar))) AS t(tags_key, tags_value)"
    ), "{}", plan.query);
    assert!(plan.query.ends_with(&format!("LIMIT {LIMIT_BY_FETCH_CAP}")));
    assert_eq!(plan.post.limit_by, Some((9, vec![0])));
    assert_eq!(plan.post.limit, Some(100));
}

#[test]
fn recommended_event_reads_the_inner_query_as_a_derived_table() {
    let plan = plan(&format!(
        "MATCH {{ MATCH (events) SELECT event_id, group_id, timestamp, replay_id WHERE {RANGE} \
         AND project_id IN tuple(1) AND group_id IN tuple(5) ORDER BY timestamp DESC, event_id DESC LIMIT 1000 }} \
         SELECT event_id, timestamp ORDER BY if(isNull(replay_id), 0, 1) DESC, toStartOfDay(timestamp) DESC LIMIT 1 OFFSET 0"
    ));
    assert_eq!(
        plan.query,
        "__topic__: sentry_error and project_id: 1 and group_id: 5 | SELECT \"c_0\" AS \"c_0\", \"c_2\" AS \"c_1\" \
         FROM (SELECT \"event_id\" AS \"c_0\", \"group_id\" AS \"c_1\", __time__ AS \"c_2\", \"replay_id\" AS \"c_3\" \
         FROM log WHERE ((__time__ >= 1764547200) AND (__time__ < 1764590400) AND (\"project_id\" IN (1)) AND (\"group_id\" IN (5))) \
         ORDER BY __time__ DESC NULLS LAST, \"event_id\" DESC NULLS LAST LIMIT 1000) AS sub \
         ORDER BY CASE WHEN (\"c_3\" IS NULL) THEN 0 ELSE 1 END DESC NULLS LAST, (\"c_2\" - \"c_2\" % 86400) DESC NULLS LAST \
         LIMIT 17"
    );
    assert_eq!(plan.post.dedup, Some(0));
}

#[test]
fn event_ids_are_normalised_and_datetimes_are_epochs() {
    let sql = sql_of(&format!(
        "MATCH (events) SELECT event_id WHERE {RANGE} AND project_id = 1 \
         AND event_id IN tuple('A3F1C2D4-E5B6-0718-293A-4B5C6D7E8F90') AND timestamp > '2001-09-09 01:46:40'"
    ));
    assert!(
        sql.contains("(\"event_id\" IN ('a3f1c2d4e5b60718293a4b5c6d7e8f90'))"),
        "{sql}"
    );
    assert!(sql.contains("(__time__ > 1000000000)"), "{sql}");
}

#[test]
fn like_on_arrays_is_a_regex_over_the_json_elements() {
    assert_eq!(
        functions::like_element_regex("Zero%r_"),
        r#"(?:\[|,)"Zero(?:[^"\\]|\\u[0-9a-fA-F]{4}|\\.)*r(?:[^"\\]|\\u[0-9a-fA-F]{4}|\\.)"(?:,|\])"#
    );
    // Quotes are compared in their JSON-escaped form; `\%` is a literal `%`.
    assert_eq!(
        functions::like_element_regex("a\"b.\\%"),
        r#"(?:\[|,)"a\\["]b[.][%]"(?:,|\])"#
    );
}

#[test]
fn spelled_out_subscripts_are_subscripts() {
    let sql = sql_of(&format!(
        "MATCH (events) SELECT arrayElement(tags.value, indexOf(tags.key, 'feature')) AS f {RANGE_WHERE}"
    ));
    assert!(
        sql.contains("coalesce(json_extract_scalar(\"tags\", '$[\"feature\"]'), '') AS \"c_0\""),
        "{sql}"
    );
}

#[test]
fn trends_score_translates() {
    let sql = sql_of(&format!(
        "MATCH (events) SELECT multiply(greatest(0.01, divide(1, pow(2, least(16, divide(divide(now() - min(timestamp), 3600), 12))))), \
         greatest(0.01, log(plus(1, sum(divide(multiIf(equals(level, 'fatal'), 1.0, equals(level, 'error'), 0.66, 0.0), \
         pow(2, divide(divide(now() - timestamp, 3600), 4)))))))) AS `trends`, \
         countIf(lessOrEquals(minus(now(), timestamp), 3600)) AS `recent` BY group_id WHERE {RANGE} AND project_id = 1"
    ));
    assert!(sql.contains(&format!("({NOW} - min(__time__))")), "{sql}");
    assert!(sql.contains("count_if((("), "{sql}");
    assert!(
        sql.contains("CASE WHEN (\"level\" = 'fatal') THEN cast(1.0 AS double)"),
        "{sql}"
    );
}

#[test]
fn unsupported_shapes_are_clickhouse_errors_not_panics() {
    let validated = parse_and_validate(
        &format!("MATCH (events) SELECT count() AS c WHERE {RANGE} AND project_id = 1 AND exception_stacks.type > 'K'"),
        Checks::QUERY,
    )
    .unwrap();
    match translate(&validated, NOW, 30) {
        Err(SnubaError::ClickHouse { code: 48, .. }) => {}
        other => panic!("{other:?}"),
    }
}

proptest::proptest! {
    /// Arbitrary strings in SnQL literals never change the SLS query's
    /// structure: the search part stays the same, and the SQL is the SQL of
    /// a placeholder with only the literal replaced by its quoted form.
    #[test]
    fn literals_cannot_change_the_query_structure(value in "\\PC*|[ -~]*|.*['\"|\\\\;\\-]+.*") {
        let encoded = sentry_sls_snql::encode_string(&value);
        let snql = |literal: &str| format!(
            "MATCH (events) SELECT count() AS c BY tags[browser] WHERE {RANGE} AND project_id = 1 \
             AND message = '{literal}' AND environment IN tuple('{literal}') AND tags[x] != '{literal}'"
        );
        let Ok(validated) = parse_and_validate(&snql(&encoded), Checks::QUERY) else {
            // SnQL itself refuses some escapes; nothing reaches SLS then.
            return Ok(());
        };
        let decoded = match validated.query.condition.as_ref().and_then(|c| {
            c.conjuncts().iter().find_map(|conjunct| match conjunct.as_function() {
                Some(("equals", [_, rhs])) => match &rhs.kind {
                    ExprKind::Literal(Literal::String(text)) => Some(text.clone()),
                    _ => None,
                },
                _ => None,
            })
        }) {
            Some(text) => text,
            None => return Ok(()),
        };
        let actual = translate(&validated, NOW, 30).unwrap().query;
        let placeholder = translate(
            &parse_and_validate(&snql("PLACE HOLDER"), Checks::QUERY).unwrap(),
            NOW,
            30,
        )
        .unwrap()
        .query;
        let split = sentry_sls_slsql::split_query(&actual).unwrap();
        let expected_split = sentry_sls_slsql::split_query(&placeholder).unwrap();
        let safe = !decoded.is_empty()
            && decoded.len() <= 64
            && decoded.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !safe {
            proptest::prop_assert_eq!(split.search, expected_split.search);
        }
        let expected = placeholder.replace("'PLACE HOLDER'", &string_literal(&decoded));
        let expected = if safe {
            expected.replacen(
                "project_id: 1 |",
                &format!("project_id: 1 and environment: {} |", decoded.to_ascii_lowercase()),
                1,
            )
        } else {
            expected
        };
        proptest::prop_assert_eq!(&actual, &expected);
        // The quoted literal is one SQL token: a lexer reading from its
        // opening quote stops exactly at its end.
        let literal = string_literal(&decoded);
        let mut chars = literal.chars().skip(1).peekable();
        let mut consumed = 1;
        while let Some(c) = chars.next() {
            consumed += c.len_utf8();
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    consumed += 1;
                } else {
                    break;
                }
            }
        }
        proptest::prop_assert_eq!(consumed, literal.len());
    }
}

/// The search part of `plan`, parsed as SLS parses it (the embedded store's
/// parser counts conditions exactly as SLS does, at most 30).
fn search_conditions_ok(plan: &Plan) -> Result<(), String> {
    let split = sentry_sls_slsql::split_query(&plan.query).map_err(|e| e.to_string())?;
    sentry_sls_slsql::parse_search(split.search)
        .map(|_| ())
        .map_err(|e| format!("{e}: {}", split.search))
}

#[test]
fn unhandled_flag_of_a_full_page_stays_within_the_search_limit() {
    // The 15-issue 500: Sentry 23.7.1's `group.unhandled-flag` query of an
    // Issues page (`GroupSerializerSnuba._get_group_unhandled`) lists the
    // project once per group, in both of `raw_query`'s project conditions,
    // then the page's groups: 46 search conditions at 15 groups before.
    for groups in [1, 10, 15, 25, 100, 1000] {
        let ids: Vec<String> = (1..=groups).map(|id| id.to_string()).collect();
        let projects = vec!["1"; groups].join(", ");
        let plan = plan(&format!(
            "MATCH (events) SELECT group_id, argMax(has(exception_stacks.mechanism_handled, 0), timestamp) AS `unhandled` BY group_id WHERE {RANGE} AND project_id IN tuple({projects}) AND project_id IN tuple({projects}) AND group_id IN tuple({}) ORDER BY group_id ASC",
            ids.join(", ")
        ));
        search_conditions_ok(&plan).unwrap_or_else(|e| panic!("{groups} groups: {e}"));
        // Every group is still a condition of the SQL.
        assert!(plan.query.contains(&format!("{groups})")), "{}", plan.query);
    }
}

/// One generated condition on a column the search part may lift: its SnQL
/// and the values it lists.
fn liftable_condition() -> impl proptest::strategy::Strategy<Value = (String, usize)> {
    use proptest::prelude::*;
    let size = prop_oneof![1usize..=40, 1usize..=5_000];
    let column = prop::sample::select(vec![
        "project_id",
        "group_id",
        "event_id",
        "environment",
        "level",
        "primary_hash",
    ]);
    (column, size, any::<bool>(), any::<u32>()).prop_map(|(column, size, tuple, seed)| {
        let value = |index: usize| -> String {
            let n = u64::from(seed) + index as u64;
            match column {
                "project_id" | "group_id" => n.to_string(),
                "event_id" | "primary_hash" => format!("'{n:032x}'"),
                _ => format!("'v{n}'"),
            }
        };
        let values: Vec<String> = (0..size).map(value).collect();
        let snql = if size == 1 && !tuple {
            format!("{column} = {}", values[0])
        } else {
            let wrapper = if tuple { "tuple" } else { "array" };
            format!("{column} IN {wrapper}({})", values.join(", "))
        };
        (snql, size)
    })
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 96, ..Default::default() })]

    /// However many `IN` lists of however many values (1 to 5,000) the
    /// liftable columns get, the search part stays within SLS's 30
    /// conditions, and every listed value is still a condition of the SQL.
    #[test]
    fn search_part_never_exceeds_the_condition_limit(
        conditions in proptest::collection::vec(liftable_condition(), 1..6),
        totals in proptest::bool::ANY,
    ) {
        let list: Vec<&str> = conditions.iter().map(|(snql, _)| snql.as_str()).collect();
        let snql = format!(
            "MATCH (events) SELECT count() AS `times_seen` BY group_id WHERE {RANGE} AND project_id IN tuple(1) AND {} ORDER BY times_seen DESC LIMIT 100{}",
            list.join(" AND "),
            if totals { " TOTALS True" } else { "" },
        );
        let plan = plan(&snql);
        proptest::prop_assert!(search_conditions_ok(&plan).is_ok(), "{:?}", search_conditions_ok(&plan));
        let split = sentry_sls_slsql::split_query(&plan.query).unwrap();
        let search = sentry_sls_slsql::parse_search(split.search).unwrap();
        let terms = split.search.matches(": ").count();
        proptest::prop_assert!(terms <= MAX_SEARCH_CONDITIONS, "{terms} terms: {search:?}");
        let sql = split.sql.unwrap_or_default();
        for (condition, size) in &conditions {
            let column = condition.split([' ']).next().unwrap();
            let listed = sql.matches(&format!("\"{column}\" IN (")).count()
                + sql.matches(&format!("\"{column}\" = ")).count();
            proptest::prop_assert!(listed >= 1, "{column} ({size} values) lost from the SQL: {sql}");
        }
        if let Some(totals) = &plan.totals_query {
            let split = sentry_sls_slsql::split_query(totals).unwrap();
            proptest::prop_assert!(sentry_sls_slsql::parse_search(split.search).is_ok());
        }
    }
}

/// Sentry 23.7.1's Performance landing table (recorded from its
/// `/organizations/{org}/events/` on `event.type:transaction`): the
/// transactions topic, `duration` as the stored number, constant tuples.
const PERFORMANCE_TABLE: &str = "MATCH (discover) SELECT quantile(0.95)(duration) AS `p95`, uniqIf(user, greater(multiIf(equals(tupleElement(tuple('duration', 300) AS `project_threshold_config`, 1), 'lcp'), measurements[lcp], duration), multiply(tupleElement(tuple('duration', 300) AS `project_threshold_config`, 2), 4))) AS `count_miserable_user`, if(greater(countIf(greaterOrEquals(multiIf(equals(tupleElement(tuple('duration', 300) AS `project_threshold_config`, 1), 'lcp'), measurements[lcp], duration), 0)), 0), divide(plus(countIf(lessOrEquals(multiIf(equals(tupleElement(tuple('duration', 300) AS `project_threshold_config`, 1), 'lcp'), measurements[lcp], duration), tupleElement(tuple('duration', 300) AS `project_threshold_config`, 2))), divide(countIf(and(greater(multiIf(equals(tupleElement(tuple('duration', 300) AS `project_threshold_config`, 1), 'lcp'), measurements[lcp], duration), tupleElement(tuple('duration', 300) AS `project_threshold_config`, 2)), lessOrEquals(multiIf(equals(tupleElement(tuple('duration', 300) AS `project_threshold_config`, 1), 'lcp'), measurements[lcp], duration), multiply(tupleElement(tuple('duration', 300) AS `project_threshold_config`, 2), 4)))), 2)), countIf(greaterOrEquals(multiIf(equals(tupleElement(tuple('duration', 300) AS `project_threshold_config`, 1), 'lcp'), measurements[lcp], duration), 0))), 0) AS `apdex`, uniq(user) AS `count_unique_user`, quantile(0.5)(duration) AS `p50`, divide(count(), divide(1209600.0, 60)) AS `tpm`, ifNull(divide(plus(uniqIf(user, greater(multiIf(equals(tupleElement(tuple('duration', 300) AS `project_threshold_config`, 1), 'lcp'), measurements[lcp], duration), multiply(tupleElement(tuple('duration', 300) AS `project_threshold_config`, 2), 4))) AS `count_miserable_user`, 5.8875), plus(nullIf(uniqIf(user, greater(multiIf(equals(tupleElement(tuple('duration', 300) AS `project_threshold_config`, 1), 'lcp'), measurements[lcp], duration), 0)), 0), 117.75)), 0) AS `user_misery`, project_id AS `project`, transaction, failure_rate() AS `failure_rate`, tuple('duration', 300) AS `project_threshold_config` BY project_id AS `project`, transaction, tuple('duration', 300) AS `project_threshold_config` WHERE type = 'transaction' AND {RANGE} AND project_id IN array(1) ORDER BY divide(count(), divide(1209600.0, 60)) AS `tpm` DESC LIMIT 51 OFFSET 0";

#[test]
fn performance_table_reads_the_transactions_topic() {
    let validated = parse_and_validate(&PERFORMANCE_TABLE.replace("{RANGE}", RANGE), Checks::QUERY)
        .expect("valid SnQL");
    assert_eq!(
        validated.entity.map(|e| e.name),
        Some("discover_transactions")
    );
    let types: Vec<(&str, &str)> = validated
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.ty.as_str()))
        .collect();
    assert!(
        types.contains(&("project_threshold_config", "Tuple(String, UInt16)")),
        "{types:?}"
    );
    let plan = translate(&validated, NOW, 30).expect("translatable");
    let split = sentry_sls_slsql::split_query(&plan.query).unwrap();
    assert_eq!(
        split.search,
        "__topic__: sentry_transaction and project_id: 1"
    );
    let sql = split.sql.unwrap();
    assert!(
        sql.contains("approx_percentile(\"duration_ms\", cast(0.95 AS double))"),
        "{sql}"
    );
    // `type = 'transaction'` is the topic; the constant tuple groups nothing.
    assert!(!sql.contains("'transaction'"), "{sql}");
    assert!(
        sql.contains("GROUP BY \"project_id\", coalesce(\"transaction_name\", '') ORDER"),
        "{sql}"
    );
    assert!(sql.contains("'[\"duration\",300]' AS"), "{sql}");
    // failure_rate(): statuses other than ok, cancelled and unknown.
    assert!(
        sql.contains("\"transaction_status\" NOT IN (0, 1, 2)"),
        "{sql}"
    );
    assert_eq!(
        decode_cell("[\"duration\",300]", "Tuple(String, UInt16)", Shape::Scalar).to_json(),
        serde_json::json!(["duration", 300])
    );
}
