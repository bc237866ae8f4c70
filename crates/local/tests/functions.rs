//! Every SLS/Presto function the query translator relies on, plus CTEs,
//! subqueries, HAVING and CROSS JOIN UNNEST, each checked against the same
//! computation done here over the rows written.

use std::collections::{BTreeMap, BTreeSet};

use sentry_sls_local::{LocalStore, LocalStoreConfig};
use sentry_sls_store::{
    FieldIndex, FieldType, IndexConfig, LogBatch, LogRecord, LogStore, LogstoreConfig, QueryRequest,
};

const BASE: u32 = 1_700_000_000;
const ROWS: u32 = 500;

struct Row {
    time: u32,
    level: String,
    user: String,
    latency: i64,
    tags: String,
    payload: String,
}

fn row(i: u32) -> Row {
    Row {
        time: BASE + i * 97,
        level: ["error", "warning", "info", "fatal"][(i % 4) as usize].into(),
        user: if i.is_multiple_of(10) {
            String::new()
        } else {
            format!("User{}", i % 23)
        },
        latency: i64::from((i * 7919) % 3000),
        tags: format!(
            "env:{},os:{}",
            ["prod", "dev"][(i % 2) as usize],
            ["linux", "mac", "win"][(i % 3) as usize]
        ),
        payload: format!(r#"{{"a":{{"b":{}}},"list":["x{}","y"]}}"#, i % 5, i % 3),
    }
}

async fn store(directory: &std::path::Path) -> LocalStore {
    let store = LocalStore::open(directory, LocalStoreConfig::default()).unwrap();
    let project = store.create_project("functions").unwrap();
    project
        .create_logstore(LogstoreConfig {
            name: "events".into(),
            ttl: 3650,
            shard_count: 1,
            other: BTreeMap::new(),
        })
        .await
        .unwrap();
    let mut keys = BTreeMap::new();
    for name in ["level", "user", "tags", "payload"] {
        keys.insert(name.to_string(), FieldIndex::analytic(FieldType::Text));
    }
    keys.insert("latency".to_string(), FieldIndex::analytic(FieldType::Long));
    project
        .create_index(
            "events",
            IndexConfig {
                line: None,
                keys,
                other: BTreeMap::new(),
            },
        )
        .await
        .unwrap();
    let logs = (0..ROWS)
        .map(|i| {
            let r = row(i);
            let mut contents = vec![
                ("level".to_string(), r.level),
                ("latency".to_string(), r.latency.to_string()),
                ("tags".to_string(), r.tags),
                ("payload".to_string(), r.payload),
            ];
            if !r.user.is_empty() {
                contents.push(("user".to_string(), r.user));
            }
            LogRecord {
                time: r.time,
                time_ns: 0,
                contents,
            }
        })
        .collect();
    project
        .put_logs(
            "events",
            LogBatch {
                logs,
                ..LogBatch::default()
            },
        )
        .await
        .unwrap();
    store
}

async fn query(store: &LocalStore, text: &str) -> Vec<BTreeMap<String, String>> {
    let result = store
        .project("functions")
        .unwrap()
        .get_logs(
            "events",
            QueryRequest {
                from: i64::from(BASE),
                to: i64::from(BASE + ROWS * 97),
                query: text.into(),
                ..QueryRequest::default()
            },
        )
        .await
        .unwrap_or_else(|error| panic!("{text}: {error}"));
    result
        .rows
        .into_iter()
        .map(|row| row.into_iter().collect())
        .collect()
}

async fn scalar(store: &LocalStore, text: &str) -> String {
    let rows = query(store, text).await;
    assert_eq!(rows.len(), 1, "{text}");
    rows[0]["v"].clone()
}

fn all() -> Vec<Row> {
    (0..ROWS).map(row).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_functions() {
    let directory = tempfile::tempdir().unwrap();
    let store = store(directory.path()).await;
    let rows = all();
    let sum: i64 = rows.iter().map(|r| r.latency).sum();
    assert_eq!(
        scalar(&store, "* | select count(*) as v").await,
        ROWS.to_string()
    );
    assert_eq!(
        scalar(&store, "* | select count(user) as v").await,
        rows.iter()
            .filter(|r| !r.user.is_empty())
            .count()
            .to_string()
    );
    assert_eq!(
        scalar(&store, "* | select count_if(level = 'error') as v").await,
        rows.iter()
            .filter(|r| r.level == "error")
            .count()
            .to_string()
    );
    assert_eq!(
        scalar(&store, "* | select sum(latency) as v").await,
        sum.to_string()
    );
    let average = sum as f64 / f64::from(ROWS);
    let got: f64 = scalar(&store, "* | select avg(latency) as v")
        .await
        .parse()
        .unwrap();
    assert!((got - average).abs() < 1e-9);
    assert_eq!(
        scalar(&store, "* | select min(latency) as v").await,
        rows.iter().map(|r| r.latency).min().unwrap().to_string()
    );
    assert_eq!(
        scalar(&store, "* | select max(latency) as v").await,
        rows.iter().map(|r| r.latency).max().unwrap().to_string()
    );
    let users: BTreeSet<&str> = rows
        .iter()
        .filter(|r| !r.user.is_empty())
        .map(|r| r.user.as_str())
        .collect();
    assert_eq!(
        scalar(&store, "* | select approx_distinct(user) as v").await,
        users.len().to_string()
    );
    let arbitrary = scalar(&store, "* | select arbitrary(level) as v").await;
    assert!(rows.iter().any(|r| r.level == arbitrary));
    let newest = rows.iter().max_by_key(|r| r.time).unwrap();
    let oldest = rows.iter().min_by_key(|r| r.time).unwrap();
    assert_eq!(
        scalar(&store, "* | select max_by(latency, __time__) as v").await,
        newest.latency.to_string()
    );
    assert_eq!(
        scalar(&store, "* | select min_by(latency, __time__) as v").await,
        oldest.latency.to_string()
    );
    // GROUP BY with HAVING and ORDER BY, in a CTE and a subquery.
    let mut by_level: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &rows {
        *by_level.entry(r.level.as_str()).or_default() += 1;
    }
    let result = query(
        &store,
        "* | with counts as (select level, count(*) as c from log group by level having count(*) > 100) \
         select level, c from (select * from counts) order by level",
    )
    .await;
    let expected: Vec<(String, String)> = by_level
        .iter()
        .filter(|(_, c)| **c > 100)
        .map(|(l, c)| (l.to_string(), c.to_string()))
        .collect();
    let got: Vec<(String, String)> = result
        .iter()
        .map(|r| (r["level"].clone(), r["c"].clone()))
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scalar_functions() {
    let directory = tempfile::tempdir().unwrap();
    let store = store(directory.path()).await;
    let rows = all();
    let first = &rows[1];
    let at = |sql: &str| {
        format!(
            "* | select {sql} as v from log where __time__ = {}",
            first.time
        )
    };
    // Time.
    assert_eq!(
        scalar(&store, &at("to_unixtime(from_unixtime(__time__))"))
            .await
            .parse::<f64>()
            .unwrap(),
        f64::from(first.time)
    );
    assert_eq!(
        scalar(&store, &at("date_trunc('day', __time__)")).await,
        "2023-11-14 00:00:00.000"
    );
    assert_eq!(
        scalar(&store, &at("date_trunc('minute', from_unixtime(__time__))")).await,
        "2023-11-14 22:14:00.000"
    );
    // JSON.
    assert_eq!(
        scalar(&store, &at("json_extract_scalar(payload, '$.a.b')")).await,
        "1"
    );
    assert_eq!(
        scalar(&store, &at("json_extract(payload, '$.list')")).await,
        r#"["x1","y"]"#
    );
    assert_eq!(
        scalar(
            &store,
            &at("json_extract_scalar(json_parse(payload), '$.list[1]')")
        )
        .await,
        "y"
    );
    // Casts and conditionals.
    assert_eq!(
        scalar(&store, &at("cast(latency as varchar)")).await,
        first.latency.to_string()
    );
    assert_eq!(
        scalar(&store, &at("try_cast(level as bigint)")).await,
        "null"
    );
    assert_eq!(scalar(&store, &at("cast('12' as bigint) + 1")).await, "13");
    assert_eq!(
        scalar(&store, &at("coalesce(user, 'none')")).await,
        first.user
    );
    assert_eq!(
        scalar(&store, &at("if(latency > 100, 'slow', 'fast')")).await,
        if first.latency > 100 { "slow" } else { "fast" }
    );
    assert_eq!(
        scalar(&store, &at("case when level = 'warning' then 1 else 2 end")).await,
        "1"
    );
    // Strings.
    assert_eq!(
        scalar(&store, &at("regexp_like(user, '^User[0-9]+$')")).await,
        "true"
    );
    assert_eq!(
        scalar(&store, &at("strpos(tags, 'os:')")).await,
        (first.tags.find("os:").unwrap() + 1).to_string()
    );
    assert_eq!(
        scalar(&store, &at("lower(user)")).await,
        first.user.to_lowercase()
    );
    assert_eq!(
        scalar(&store, &at("upper(level)")).await,
        first.level.to_uppercase()
    );
    assert_eq!(
        scalar(&store, &at("length(tags)")).await,
        first.tags.chars().count().to_string()
    );
    // Arrays.
    assert_eq!(
        scalar(&store, &at("cardinality(split(tags, ','))")).await,
        "2"
    );
    assert_eq!(
        scalar(&store, &at("element_at(split(tags, ','), 2)")).await,
        first.tags.split(',').nth(1).unwrap()
    );
    assert_eq!(
        scalar(&store, &at("contains(split(tags, ','), 'env:dev')")).await,
        "true"
    );
    assert_eq!(
        scalar(&store, &at("split(tags, ',')")).await,
        serde_json::to_string(&first.tags.split(',').collect::<Vec<_>>()).unwrap()
    );
    // NULL renders as "null"; a missing user is NULL.
    assert_eq!(
        scalar(
            &store,
            &format!("* | select user as v from log where __time__ = {}", BASE)
        )
        .await,
        "null"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_join_unnest() {
    let directory = tempfile::tempdir().unwrap();
    let store = store(directory.path()).await;
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for r in all() {
        for tag in r.tags.split(',') {
            *expected.entry(tag.to_string()).or_default() += 1;
        }
    }
    let result = query(
        &store,
        "* | select tag, count(*) as c from log cross join unnest(split(tags, ',')) as t(tag) group by tag order by tag",
    )
    .await;
    let got: BTreeMap<String, u64> = result
        .iter()
        .map(|r| (r["tag"].clone(), r["c"].parse().unwrap()))
        .collect();
    assert_eq!(got, expected);
}

/// Presto's two-column UNNEST of a JSON object cast to a map, grouped by key
/// and value (the tag-facet query, which the store runs as one aggregate,
/// or groups by one pair column when it reads more than the facet
/// aggregates) and not grouped, against the same pairs read here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_join_unnest_of_a_map_grouped_by_key_and_value() {
    let directory = tempfile::tempdir().unwrap();
    let store = store(directory.path()).await;
    type Groups = BTreeMap<(String, String), [i64; 4]>;
    // (key, value) → count, least latency, first and last time; NULL renders
    // as "null".
    let (mut payload, mut flat) = (Groups::new(), Groups::new());
    let add = |groups: &mut Groups, key: &str, value: String, r: &Row| {
        let entry =
            groups
                .entry((key.to_string(), value))
                .or_insert([0, i64::MAX, i64::MAX, i64::MIN]);
        entry[0] += 1;
        entry[1] = entry[1].min(r.latency);
        entry[2] = entry[2].min(i64::from(r.time));
        entry[3] = entry[3].max(i64::from(r.time));
    };
    for r in all() {
        let serde_json::Value::Object(members) = serde_json::from_str(&r.payload).unwrap() else {
            panic!("object");
        };
        for (key, value) in members {
            add(&mut payload, &key, value.to_string(), &r);
        }
        add(&mut flat, "lvl", r.level.clone(), &r);
        add(&mut flat, "n", "null".into(), &r);
    }
    let read = |rows: &[BTreeMap<String, String>], columns: [&str; 2], at: [usize; 2]| {
        rows.iter()
            .map(|r| {
                let mut values = [0; 4];
                values[0] = r["c"].parse().unwrap();
                for (column, index) in columns.iter().zip(at) {
                    values[index] = r[*column].parse().unwrap();
                }
                ((r["k"].clone(), r["v"].clone()), values)
            })
            .collect::<Vec<_>>()
    };
    let only = |groups: &Groups, at: [usize; 2]| -> BTreeMap<(String, String), [i64; 4]> {
        groups
            .iter()
            .map(|(key, values)| {
                let mut kept = [values[0], 0, 0, 0];
                for index in at {
                    kept[index] = values[index];
                }
                (key.clone(), kept)
            })
            .collect()
    };
    for (object, expected) in [
        ("payload", &payload),
        (r#"concat('{"lvl":"', level, '", "n": null}')"#, &flat),
    ] {
        let unnest = format!(
            "log cross join unnest(cast(json_parse({object}) as map(varchar, varchar))) as t(k, v)"
        );
        // Grouped by the pair: another aggregate and function.
        let grouped = query(
            &store,
            &format!(
                "* | select k, upper(v) as upper_v, v, count(*) as c, min(latency) as lo from {unnest} \
                 group by v, k having count(*) > 0 order by k, v limit 1000"
            ),
        )
        .await;
        for row in grouped.iter().filter(|row| row["v"] != "null") {
            assert_eq!(row["upper_v"], row["v"].to_uppercase());
        }
        let got: BTreeMap<_, _> = read(&grouped, ["lo", "lo"], [1, 1]).into_iter().collect();
        assert_eq!(got, only(expected, [1, 1]), "{object}");
        // The facet aggregate, ordered by count then key and value.
        let facets = query(
            &store,
            &format!(
                "* | select \"k\", v, count(*) as c, min(__time__) as first, max(__time__) as last \
                 from {unnest} where latency >= 0 group by k, v \
                 order by count(*) desc, k, \"v\" limit 1000"
            ),
        )
        .await;
        let got = read(&facets, ["first", "last"], [2, 3]);
        let mut ordered: Vec<_> = only(expected, [2, 3]).into_iter().collect();
        ordered.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then(a.0.cmp(&b.0)));
        assert_eq!(got, ordered, "{object}");
        let mut ungrouped = Groups::new();
        for r in query(
            &store,
            &format!("* | select k, v, latency from {unnest} limit 10000"),
        )
        .await
        {
            let entry = ungrouped
                .entry((r["k"].clone(), r["v"].clone()))
                .or_insert([0, i64::MAX, 0, 0]);
            entry[0] += 1;
            entry[1] = entry[1].min(r["latency"].parse().unwrap());
        }
        assert_eq!(ungrouped, only(expected, [1, 1]), "{object}");
    }
}
