//! The groups API (`GET /v1/groups?project_id=&since=&limit=` on the Snuba
//! listener): the issue groups of a project that changed since a point in
//! time, computed from the log store, for Sentry Web's
//! `SLSGroupSearchBackend` to keep Postgres `Group` rows (and GroupHash,
//! Environment, Release rows) in step.
//!
//! Two SLS queries over `[now − ttl, now + 15 min)` on topic `sentry_error`:
//!
//! 1. which groups changed: `… and received >= since | SELECT "group_id",
//!    max("received") … GROUP BY "group_id" ORDER BY … LIMIT limit + 1`;
//! 2. for those groups (at most [`GROUPS_PER_STATEMENT`] per statement), one
//!    row per (group, environment, release) with `count(*)`, first and last
//!    seen and the latest event's fields (`max_by(x, "timestamp_ms")`), folded
//!    here into one object per group.
//!
//! Both are plain Presto that SLS runs as written and the embedded store
//! executes the same. The group's `metadata` is not a record key: it is read
//! from the latest event's body (the nodestore path, by node id). SLS renders
//! SQL NULL as the string `"null"`; text fields equal to it are `null` here.
//!
//! Each group also carries `release_seen`: per (release, environment) its
//! first/last seen and count, for Sentry's `GroupRelease` rows (an issue's
//! first and last release).
//!
//! Answer: `{"groups": [...], "truncated": bool, "next_since": s, "until": s}`.
//! When `truncated`, ask again with `since = next_since` (groups at that
//! second may come twice; upserts are idempotent). Times are epoch
//! milliseconds (`first_seen`, `last_seen`) or seconds (`since`, `until`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sentry_sls_event::{node_id, EventId, ProjectId};
use sentry_sls_store::{LogStore, QueryRequest, QueryResult};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tower_http::timeout::TimeoutLayer;

use crate::nodestore_api::{ApiError, NodeState, NodestoreConfig};

/// Group ids in one aggregation statement.
pub const GROUPS_PER_STATEMENT: usize = 200;
/// Default and largest `limit`.
const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 10_000;
const FUTURE_SECONDS: i64 = 15 * 60;

/// The groups route, to merge into the Snuba listener's router. Shares the
/// nodestore's settings (logstore, TTL window, timeouts).
pub fn router(store: Arc<dyn LogStore>, config: NodestoreConfig) -> Router {
    let timeout = config.request_timeout;
    let state = NodeState::new(store, config);
    Router::new()
        .route("/v1/groups", get(groups))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            // Several queries and body reads: twice a single request's time.
            timeout * 2,
        ))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct GroupsQuery {
    project_id: Option<String>,
    since: Option<String>,
    limit: Option<String>,
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

/// The statement listing the groups changed since `since` (seconds).
pub fn changed_groups_query(project_id: u64, since: i64, limit: usize) -> String {
    format!(
        "__topic__: sentry_error and project_id: {project_id} and received >= {since} | \
         SELECT \"group_id\", max(\"received\") AS \"changed\" FROM log \
         WHERE \"group_id\" IS NOT NULL GROUP BY \"group_id\" \
         ORDER BY \"changed\" ASC, \"group_id\" ASC LIMIT {limit}"
    )
}

/// The aggregation statement for `group_ids` of `project_id`.
pub fn aggregation_query(project_id: u64, group_ids: &[u64]) -> String {
    let ids: Vec<String> = group_ids.iter().map(u64::to_string).collect();
    let latest = [
        "event_id",
        "primary_hash",
        "hashes",
        "title",
        "culprit",
        "location",
        "message",
        "level",
        "platform",
        "type",
        "logger",
    ]
    .iter()
    .map(|key| format!("max_by(\"{key}\", \"timestamp_ms\") AS \"latest_{key}\""))
    .collect::<Vec<_>>()
    .join(", ");
    format!(
        "__topic__: sentry_error and project_id: {project_id} | \
         SELECT \"group_id\", \"environment\", \"release\", count(*) AS \"times_seen\", \
         min(coalesce(\"group_first_seen\" * 1000, \"timestamp_ms\")) AS \"first_seen\", \
         max(\"timestamp_ms\") AS \"last_seen\", {latest} FROM log \
         WHERE \"group_id\" IN ({}) \
         GROUP BY \"group_id\", \"environment\", \"release\" LIMIT 1000000",
        ids.join(", ")
    )
}

impl NodeState {
    async fn query(&self, query: String) -> Result<QueryResult, ApiError> {
        let now = now_seconds();
        let request = QueryRequest {
            from: now - i64::from(self.config.ttl_days.max(1)) * 86_400,
            to: now + FUTURE_SECONDS,
            query,
            line: 0,
            offset: 0,
            reverse: false,
        };
        match tokio::time::timeout(
            self.config.store_timeout,
            self.store.get_logs(&self.config.logstore, request),
        )
        .await
        {
            Ok(result) => result.map_err(ApiError::store),
            Err(_) => Err(ApiError::timeout("groups query")),
        }
    }
}

fn cell<'a>(row: &'a [(String, String)], key: &str) -> Option<&'a str> {
    row.iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
        .filter(|value| *value != "null" && !value.is_empty())
}

fn number(row: &[(String, String)], key: &str) -> Option<i64> {
    cell(row, key).and_then(|value| value.parse::<f64>().ok().map(|value| value as i64))
}

/// One group being folded from its (environment, release) rows.
#[derive(Default)]
struct Group {
    times_seen: i64,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
    latest: Vec<(String, String)>,
    environments: BTreeSet<String>,
    releases: BTreeSet<String>,
    /// Per (release, environment or "") (Sentry's `GroupRelease` rows).
    release_seen: BTreeMap<(String, String), ReleaseSeen>,
}

/// When a group was seen in one release and environment.
#[derive(Debug, Default, PartialEq)]
struct ReleaseSeen {
    first_seen: Option<i64>,
    last_seen: Option<i64>,
    times_seen: i64,
}

fn fold(rows: &[Vec<(String, String)>], groups: &mut BTreeMap<u64, Group>) {
    for row in rows {
        let Some(group_id) = cell(row, "group_id").and_then(|id| id.parse::<u64>().ok()) else {
            continue;
        };
        let group = groups.entry(group_id).or_default();
        group.times_seen += number(row, "times_seen").unwrap_or(0);
        if let Some(first) = number(row, "first_seen") {
            group.first_seen = Some(group.first_seen.map_or(first, |seen| seen.min(first)));
        }
        if let Some(last) = number(row, "last_seen") {
            if group.last_seen.is_none_or(|seen| last > seen) {
                group.last_seen = Some(last);
                group.latest = row.clone();
            }
        }
        if let Some(environment) = cell(row, "environment") {
            group.environments.insert(environment.to_string());
        }
        if let Some(release) = cell(row, "release") {
            group.releases.insert(release.to_string());
            let environment = cell(row, "environment").unwrap_or("").to_string();
            let seen = group
                .release_seen
                .entry((release.to_string(), environment))
                .or_default();
            if let Some(first) = number(row, "first_seen") {
                seen.first_seen = Some(seen.first_seen.map_or(first, |known| known.min(first)));
            }
            if let Some(last) = number(row, "last_seen") {
                seen.last_seen = Some(seen.last_seen.map_or(last, |known| known.max(last)));
            }
            seen.times_seen += number(row, "times_seen").unwrap_or(0);
        }
    }
}

fn parse_number<T: std::str::FromStr>(
    value: Option<&str>,
    name: &str,
) -> Result<Option<T>, ApiError> {
    match value.filter(|value| !value.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("{name} must be a non-negative integer"))),
    }
}

async fn groups(State(state): State<Arc<NodeState>>, Query(query): Query<GroupsQuery>) -> Response {
    match compute(&state, query).await {
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn compute(state: &Arc<NodeState>, query: GroupsQuery) -> Result<Value, ApiError> {
    let project_id: u64 = parse_number(query.project_id.as_deref(), "project_id")?
        .ok_or_else(|| ApiError::invalid("project_id is required"))?;
    let since: i64 = parse_number::<u64>(query.since.as_deref(), "since")?.unwrap_or(0) as i64;
    let limit = parse_number::<usize>(query.limit.as_deref(), "limit")?
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, MAX_LIMIT);
    let until = now_seconds();

    let changed = state
        .query(changed_groups_query(project_id, since, limit + 1))
        .await?;
    let mut changed_ids: Vec<(u64, i64)> = changed
        .rows
        .iter()
        .filter_map(|row| {
            let id = cell(row, "group_id")?.parse::<u64>().ok()?;
            Some((id, number(row, "changed").unwrap_or(since)))
        })
        .collect();
    let truncated = changed_ids.len() > limit;
    changed_ids.truncate(limit);
    let next_since = changed_ids
        .last()
        .map(|(_, changed)| *changed)
        .filter(|_| truncated)
        .unwrap_or(until);

    let ids: Vec<u64> = changed_ids.iter().map(|(id, _)| *id).collect();
    let mut folded: BTreeMap<u64, Group> = BTreeMap::new();
    for chunk in ids.chunks(GROUPS_PER_STATEMENT) {
        let result = state.query(aggregation_query(project_id, chunk)).await?;
        fold(&result.rows, &mut folded);
    }

    // Metadata lives in the bodies: read the latest event of every group.
    let mut node_of_group: HashMap<String, u64> = HashMap::new();
    for (group_id, group) in &folded {
        if let Some(event_id) = cell(&group.latest, "latest_event_id")
            .and_then(|event_id| EventId::parse(event_id).ok())
        {
            node_of_group.insert(node_id(ProjectId(project_id), &event_id), *group_id);
        }
    }
    let mut metadata: HashMap<u64, Value> = HashMap::new();
    if !node_of_group.is_empty() {
        let bodies = state
            .lookup(node_of_group.keys().cloned().collect())
            .await?;
        for (node, data) in bodies {
            let Some(data) = data else { continue };
            let Some(group_id) = node_of_group.get(&node) else {
                continue;
            };
            let first_line = data.split(|byte| *byte == b'\n').next().unwrap_or(&[]);
            if let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(first_line) {
                if let Some(value) = body.get("metadata") {
                    metadata.insert(*group_id, value.clone());
                }
            }
        }
    }

    let mut out = Vec::with_capacity(folded.len());
    for group_id in ids {
        let Some(group) = folded.remove(&group_id) else {
            continue;
        };
        let latest = |key: &str| {
            cell(&group.latest, &format!("latest_{key}"))
                .map(|value| Value::String(value.to_string()))
                .unwrap_or(Value::Null)
        };
        let hashes: Vec<Value> = cell(&group.latest, "latest_hashes")
            .and_then(|text| serde_json::from_str::<Vec<Value>>(text).ok())
            .unwrap_or_default();
        let mut object = Map::new();
        object.insert("group_id".into(), json!(group_id));
        object.insert("project_id".into(), json!(project_id));
        for key in [
            "primary_hash",
            "title",
            "culprit",
            "location",
            "message",
            "level",
            "platform",
            "type",
            "logger",
        ] {
            object.insert(key.into(), latest(key));
        }
        object.insert("latest_event_id".into(), latest("event_id"));
        object.insert("hashes".into(), Value::Array(hashes));
        object.insert("first_seen".into(), json!(group.first_seen));
        object.insert("last_seen".into(), json!(group.last_seen));
        object.insert("times_seen".into(), json!(group.times_seen));
        object.insert(
            "metadata".into(),
            metadata.remove(&group_id).unwrap_or_else(|| json!({})),
        );
        object.insert("environments".into(), json!(group.environments));
        object.insert("releases".into(), json!(group.releases));
        let release_seen: Vec<Value> = group
            .release_seen
            .iter()
            .map(|((release, environment), seen)| {
                json!({
                    "release": release,
                    "environment": environment,
                    "first_seen": seen.first_seen,
                    "last_seen": seen.last_seen,
                    "times_seen": seen.times_seen,
                })
            })
            .collect();
        object.insert("release_seen".into(), Value::Array(release_seen));
        out.push(Value::Object(object));
    }
    Ok(json!({
        "groups": out,
        "truncated": truncated,
        "next_since": next_since,
        "until": until,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_only_indexed_keys_and_quote_them() {
        let text = aggregation_query(3, &[1 << 52, (1 << 52) + 1]);
        assert!(text.starts_with("__topic__: sentry_error and project_id: 3 | SELECT"));
        assert!(text.contains("IN (4503599627370496, 4503599627370497)"));
        assert!(text.contains("max_by(\"title\", \"timestamp_ms\") AS \"latest_title\""));
        let changed = changed_groups_query(3, 100, 11);
        assert!(changed.contains("received >= 100 |"));
        assert!(changed.ends_with("LIMIT 11"));
    }

    #[test]
    fn rows_fold_into_groups() {
        let row = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect()
        };
        let rows = vec![
            row(&[
                ("group_id", "7"),
                ("environment", "prod"),
                ("release", "null"),
                ("times_seen", "2"),
                ("first_seen", "1000"),
                ("last_seen", "5000"),
                ("latest_title", "old"),
            ]),
            row(&[
                ("group_id", "7"),
                ("environment", "null"),
                ("release", "r1"),
                ("times_seen", "3"),
                ("first_seen", "500"),
                ("last_seen", "9000"),
                ("latest_title", "new"),
            ]),
        ];
        let mut groups = BTreeMap::new();
        fold(&rows, &mut groups);
        let group = &groups[&7];
        assert_eq!(group.times_seen, 5);
        assert_eq!(group.first_seen, Some(500));
        assert_eq!(group.last_seen, Some(9000));
        assert_eq!(cell(&group.latest, "latest_title"), Some("new"));
        assert_eq!(group.environments.iter().collect::<Vec<_>>(), ["prod"]);
        assert_eq!(group.releases.iter().collect::<Vec<_>>(), ["r1"]);
        assert_eq!(
            group.release_seen.get(&("r1".to_string(), String::new())),
            Some(&ReleaseSeen {
                first_seen: Some(500),
                last_seen: Some(9000),
                times_seen: 3
            })
        );
        assert_eq!(group.release_seen.len(), 1);
    }
}
