//! The entity, dataset and storage catalog: data only, no logic.
//!
//! Sources: `getsentry/snuba` 25.x entity YAMLs
//! (`snuba/datasets/configuration/*/entities/*.yaml`), the migrations that
//! give the physical ClickHouse types, and §3 / §7.1 of
//! `shared/reference/snuba-api.md`.
//!
//! Conventions:
//! - `columns` are the entity-schema columns, with the ClickHouse type Snuba
//!   reports in `meta` *after* its storage rewrites (UUID columns rewritten to
//!   32-hex strings, hex-int span ids, `LowCardinality` wrappers of the
//!   physical table). Nested columns appear as their sub-columns with `Array`
//!   types (`tags.key`, `exception_stacks.type`, ...).
//! - `virtual_columns` are names the entity maps onto other columns,
//!   expressions or literals (`release`, `user`, `tags_key`, `time`, ...),
//!   with the type of the expression they become. Columns mapped to a `NULL`
//!   literal (discover's cross-type columns) report `Nullable(Nothing)`.
//! - `time`, `rtime`, `bucketed_time` and `bucketed_started` list the type of
//!   the default hourly bucket `toStartOfHour(col, 'Universal')`; with
//!   `GRANULARITY 86400` Snuba uses `toDate(...)` and reports `Date`.
//! - Only the errors and transactions data is kept by sentry-sls (`stored: true`); every other
//!   entity validates like Snuba and answers with no rows.

use super::{col, ColumnDef, DatasetSpec, EntitySpec};

// ---------------------------------------------------------------------------
// events (errors storage)
// ---------------------------------------------------------------------------

/// `events`: the errors storage (`errors` / `errors_ro`), 25.9 entity schema.
const EVENTS_COLUMNS: &[ColumnDef] = &[
    col("project_id", "UInt64"),
    col("timestamp", "DateTime"),
    // UUIDColumnProcessor: replaceAll(toString(event_id), '-', '').
    col("event_id", "String"),
    col("platform", "LowCardinality(String)"),
    col("environment", "LowCardinality(Nullable(String))"),
    col("ip_address_v4", "Nullable(IPv4)"),
    col("ip_address_v6", "Nullable(IPv6)"),
    col("user_hash", "UInt64"),
    col("user_id", "Nullable(String)"),
    col("user_name", "Nullable(String)"),
    col("user_email", "Nullable(String)"),
    col("sdk_name", "LowCardinality(Nullable(String))"),
    col("sdk_version", "LowCardinality(Nullable(String))"),
    col("http_method", "LowCardinality(Nullable(String))"),
    col("http_referer", "Nullable(String)"),
    col("tags.key", "Array(String)"),
    col("tags.value", "Array(String)"),
    col("_tags_hash_map", "Array(UInt64)"),
    col("flags.key", "Array(String)"),
    col("flags.value", "Array(String)"),
    col("_flags_hash_map", "Array(UInt64)"),
    col("contexts.key", "Array(String)"),
    col("contexts.value", "Array(String)"),
    col("transaction_name", "LowCardinality(String)"),
    col("transaction_hash", "UInt64"),
    // HexIntColumnProcessor over Nullable(UInt64): lower(leftPad(hex(..))).
    col("span_id", "Nullable(String)"),
    // UUIDColumnProcessor over Nullable(UUID) keeps the Nullable wrapper.
    col("trace_id", "Nullable(String)"),
    col("partition", "UInt16"),
    col("offset", "UInt64"),
    col("message_timestamp", "DateTime"),
    col("retention_days", "UInt16"),
    col("deleted", "UInt8"),
    col("group_id", "UInt64"),
    col("primary_hash", "String"),
    col("received", "DateTime"),
    col("message", "String"),
    col("title", "String"),
    col("culprit", "String"),
    col("level", "LowCardinality(Nullable(String))"),
    col("location", "Nullable(String)"),
    col("version", "LowCardinality(Nullable(String))"),
    col("type", "LowCardinality(String)"),
    col("exception_stacks.type", "Array(Nullable(String))"),
    col("exception_stacks.value", "Array(Nullable(String))"),
    col("exception_stacks.mechanism_type", "Array(Nullable(String))"),
    col(
        "exception_stacks.mechanism_handled",
        "Array(Nullable(UInt8))",
    ),
    col("exception_frames.abs_path", "Array(Nullable(String))"),
    col("exception_frames.colno", "Array(Nullable(UInt32))"),
    col("exception_frames.filename", "Array(Nullable(String))"),
    col("exception_frames.function", "Array(Nullable(String))"),
    col("exception_frames.lineno", "Array(Nullable(UInt32))"),
    col("exception_frames.in_app", "Array(Nullable(UInt8))"),
    col("exception_frames.package", "Array(Nullable(String))"),
    col("exception_frames.module", "Array(Nullable(String))"),
    col("exception_frames.stack_level", "Array(Nullable(UInt16))"),
    col("exception_main_thread", "Nullable(UInt8)"),
    col("sdk_integrations", "Array(String)"),
    col("modules.name", "Array(String)"),
    col("modules.version", "Array(String)"),
    col("trace_sampled", "Nullable(UInt8)"),
    col("num_processing_errors", "Nullable(UInt64)"),
    col("replay_id", "Nullable(String)"),
    // Sentry's recommended-event query selects it (eventstore backend); the
    // errors table carries the profile of the event's transaction.
    col("profile_id", "Nullable(String)"),
    col("symbolicated_in_app", "Nullable(UInt8)"),
    col("timestamp_ms", "Nullable(DateTime64(3))"),
    col("sample_weight", "Nullable(Float64)"),
    col("group_first_seen", "Nullable(DateTime)"),
];

/// `events` mapped names (translation mappers and `TimeSeriesProcessor`).
const EVENTS_VIRTUAL_COLUMNS: &[ColumnDef] = &[
    // tags[sentry:release|sentry:dist|sentry:user], promoted back to the
    // physical columns by MappingColumnPromoter; `user` is nullIf(user, '').
    col("release", "LowCardinality(Nullable(String))"),
    col("dist", "LowCardinality(Nullable(String))"),
    col("user", "Nullable(String)"),
    // coalesce(IPv4NumToString(ip_address_v4), IPv6NumToString(ip_address_v6)).
    col("ip_address", "Nullable(String)"),
    col("transaction", "LowCardinality(String)"),
    col("username", "Nullable(String)"),
    col("email", "Nullable(String)"),
    // contexts[geo.*] with nullable: true.
    col("geo_country_code", "Nullable(String)"),
    col("geo_region", "Nullable(String)"),
    col("geo_city", "Nullable(String)"),
    col("geo_subdivision", "Nullable(String)"),
    // arrayJoin(tags.key) / arrayJoin(tags.value), same for flags.
    col("tags_key", "String"),
    col("tags_value", "String"),
    col("flags_key", "String"),
    col("flags_value", "String"),
    // toStartOfHour(timestamp|received, 'Universal') by default.
    col("time", "DateTime('Universal')"),
    col("rtime", "DateTime('Universal')"),
];

/// Join relationships of `events`.
const EVENTS_JOINS: &[(&str, &str)] = &[
    // events.yaml: grouped/assigned are inner joins, attributes is a left join.
    ("grouped", "groupedmessage"),
    ("assigned", "groupassignee"),
    ("attributes", "group_attributes"),
    ("attributes_inner", "group_attributes"),
    // Not in events.yaml: Snuba's tests/query/snql/test_query.py patches
    // `get_join_relationship` with these three, and the corpus keeps those
    // parse cases as `valid`. Drop them to match production Snuba exactly.
    ("contains", "transactions"),
    ("bookmark", "groupedmessage"),
    ("activity", "metrics_sets"),
];

// ---------------------------------------------------------------------------
// discover, discover_events, discover_transactions
// ---------------------------------------------------------------------------

/// `discover`: the union schema, re-targeted per query to `discover_events`
/// or `discover_transactions` before execution. Types are those of the side
/// that owns the column (errors first), as the re-targeted query reports them.
const DISCOVER_COLUMNS: &[ColumnDef] = &[
    col("event_id", "String"),
    col("project_id", "UInt64"),
    col("type", "LowCardinality(String)"),
    col("timestamp", "DateTime"),
    col("platform", "LowCardinality(String)"),
    col("environment", "LowCardinality(Nullable(String))"),
    col("release", "LowCardinality(Nullable(String))"),
    col("dist", "LowCardinality(Nullable(String))"),
    col("user", "Nullable(String)"),
    col("transaction", "LowCardinality(String)"),
    col("message", "String"),
    col("title", "String"),
    col("user_id", "Nullable(String)"),
    col("username", "Nullable(String)"),
    col("email", "Nullable(String)"),
    col("ip_address", "Nullable(String)"),
    col("sdk_name", "LowCardinality(Nullable(String))"),
    col("sdk_version", "LowCardinality(Nullable(String))"),
    col("geo_country_code", "Nullable(String)"),
    col("geo_region", "Nullable(String)"),
    col("geo_city", "Nullable(String)"),
    col("http_method", "LowCardinality(Nullable(String))"),
    col("http_referer", "Nullable(String)"),
    col("tags.key", "Array(String)"),
    col("tags.value", "Array(String)"),
    col("contexts.key", "Array(String)"),
    col("contexts.value", "Array(String)"),
    col("trace_id", "Nullable(String)"),
    col("span_id", "Nullable(String)"),
    col("group_id", "UInt64"),
    col("primary_hash", "String"),
    col("level", "LowCardinality(Nullable(String))"),
    col("location", "Nullable(String)"),
    col("culprit", "String"),
    col("received", "DateTime"),
    col("sdk_integrations", "Array(String)"),
    col("version", "LowCardinality(Nullable(String))"),
    col("exception_stacks.type", "Array(Nullable(String))"),
    col("exception_stacks.value", "Array(Nullable(String))"),
    col("exception_stacks.mechanism_type", "Array(Nullable(String))"),
    col(
        "exception_stacks.mechanism_handled",
        "Array(Nullable(UInt8))",
    ),
    col("exception_frames.abs_path", "Array(Nullable(String))"),
    col("exception_frames.filename", "Array(Nullable(String))"),
    col("exception_frames.package", "Array(Nullable(String))"),
    col("exception_frames.module", "Array(Nullable(String))"),
    col("exception_frames.function", "Array(Nullable(String))"),
    col("exception_frames.in_app", "Array(Nullable(UInt8))"),
    col("exception_frames.colno", "Array(Nullable(UInt32))"),
    col("exception_frames.lineno", "Array(Nullable(UInt32))"),
    col("exception_frames.stack_level", "Array(Nullable(UInt16))"),
    col("modules.name", "Array(String)"),
    col("modules.version", "Array(String)"),
    col("transaction_hash", "UInt64"),
    col("transaction_op", "LowCardinality(String)"),
    col("transaction_status", "UInt8"),
    col("transaction_source", "LowCardinality(String)"),
    col("duration", "UInt32"),
    col("measurements.key", "Array(LowCardinality(String))"),
    col("measurements.value", "Array(Float64)"),
    col("span_op_breakdowns.key", "Array(LowCardinality(String))"),
    col("span_op_breakdowns.value", "Array(Float64)"),
    col("spans.op", "Array(LowCardinality(String))"),
    col("spans.group", "Array(UInt64)"),
    col("spans.exclusive_time", "Array(Float32)"),
    col("spans.exclusive_time_32", "Array(Float32)"),
    col("group_ids", "Array(UInt64)"),
    col("app_start_type", "LowCardinality(String)"),
    col("profile_id", "Nullable(String)"),
];

/// `discover` mapped names: columns neither side has are NULL literals;
/// `tags_key` / `tags_value` resolve on either concrete entity (the corpus
/// queries `MATCH (discover) ... BY tags_key`).
const DISCOVER_VIRTUAL_COLUMNS: &[ColumnDef] = &[
    col("logger", "Nullable(Nothing)"),
    col("server_name", "Nullable(Nothing)"),
    col("site", "Nullable(Nothing)"),
    col("url", "Nullable(Nothing)"),
    col("tags_key", "String"),
    col("tags_value", "String"),
    col("time", "DateTime('Universal')"),
];

/// `discover_events`: the `events` schema minus flags and `group_first_seen`,
/// read from the errors storage.
const DISCOVER_EVENTS_COLUMNS: &[ColumnDef] = &[
    col("project_id", "UInt64"),
    col("timestamp", "DateTime"),
    col("event_id", "String"),
    col("platform", "LowCardinality(String)"),
    col("environment", "LowCardinality(Nullable(String))"),
    col("ip_address_v4", "Nullable(IPv4)"),
    col("ip_address_v6", "Nullable(IPv6)"),
    col("user_hash", "UInt64"),
    col("user_id", "Nullable(String)"),
    col("user_name", "Nullable(String)"),
    col("user_email", "Nullable(String)"),
    col("sdk_name", "LowCardinality(Nullable(String))"),
    col("sdk_version", "LowCardinality(Nullable(String))"),
    col("http_method", "LowCardinality(Nullable(String))"),
    col("http_referer", "Nullable(String)"),
    col("tags.key", "Array(String)"),
    col("tags.value", "Array(String)"),
    col("_tags_hash_map", "Array(UInt64)"),
    col("contexts.key", "Array(String)"),
    col("contexts.value", "Array(String)"),
    col("transaction_name", "LowCardinality(String)"),
    col("span_id", "Nullable(String)"),
    col("trace_id", "Nullable(String)"),
    col("partition", "UInt16"),
    col("offset", "UInt64"),
    col("message_timestamp", "DateTime"),
    col("retention_days", "UInt16"),
    col("deleted", "UInt8"),
    col("group_id", "UInt64"),
    col("primary_hash", "String"),
    col("received", "DateTime"),
    col("message", "String"),
    col("title", "String"),
    col("culprit", "String"),
    col("level", "LowCardinality(Nullable(String))"),
    col("location", "Nullable(String)"),
    col("version", "LowCardinality(Nullable(String))"),
    col("type", "LowCardinality(String)"),
    col("exception_stacks.type", "Array(Nullable(String))"),
    col("exception_stacks.value", "Array(Nullable(String))"),
    col("exception_stacks.mechanism_type", "Array(Nullable(String))"),
    col(
        "exception_stacks.mechanism_handled",
        "Array(Nullable(UInt8))",
    ),
    col("exception_frames.abs_path", "Array(Nullable(String))"),
    col("exception_frames.colno", "Array(Nullable(UInt32))"),
    col("exception_frames.filename", "Array(Nullable(String))"),
    col("exception_frames.function", "Array(Nullable(String))"),
    col("exception_frames.lineno", "Array(Nullable(UInt32))"),
    col("exception_frames.in_app", "Array(Nullable(UInt8))"),
    col("exception_frames.package", "Array(Nullable(String))"),
    col("exception_frames.module", "Array(Nullable(String))"),
    col("exception_frames.stack_level", "Array(Nullable(UInt16))"),
    col("exception_main_thread", "Nullable(UInt8)"),
    col("sdk_integrations", "Array(String)"),
    col("modules.name", "Array(String)"),
    col("modules.version", "Array(String)"),
    col("trace_sampled", "Nullable(UInt8)"),
    col("num_processing_errors", "Nullable(UInt64)"),
    col("replay_id", "Nullable(String)"),
    col("symbolicated_in_app", "Nullable(UInt8)"),
    col("timestamp_ms", "Nullable(DateTime64(3))"),
    col("sample_weight", "Nullable(Float64)"),
];

/// `discover_events` mapped names: the `events` mappers plus the
/// transaction-only columns, which `DefaultNoneColumnMapper` turns into NULL.
const DISCOVER_EVENTS_VIRTUAL_COLUMNS: &[ColumnDef] = &[
    col("release", "LowCardinality(Nullable(String))"),
    col("dist", "LowCardinality(Nullable(String))"),
    col("user", "Nullable(String)"),
    col("ip_address", "Nullable(String)"),
    col("transaction", "LowCardinality(String)"),
    col("username", "Nullable(String)"),
    col("email", "Nullable(String)"),
    col("geo_country_code", "Nullable(String)"),
    col("geo_region", "Nullable(String)"),
    col("geo_city", "Nullable(String)"),
    col("geo_subdivision", "Nullable(String)"),
    col("tags_key", "String"),
    col("tags_value", "String"),
    col("time", "DateTime('Universal')"),
    col("rtime", "DateTime('Universal')"),
    col("transaction_hash", "Nullable(Nothing)"),
    col("transaction_op", "Nullable(Nothing)"),
    col("transaction_status", "Nullable(Nothing)"),
    col("transaction_source", "Nullable(Nothing)"),
    col("duration", "Nullable(Nothing)"),
    col("measurements.key", "Nullable(Nothing)"),
    col("measurements.value", "Nullable(Nothing)"),
    col("span_op_breakdowns.key", "Nullable(Nothing)"),
    col("span_op_breakdowns.value", "Nullable(Nothing)"),
    col("spans.op", "Nullable(Nothing)"),
    col("spans.group", "Nullable(Nothing)"),
    col("spans.exclusive_time", "Nullable(Nothing)"),
    col("spans.exclusive_time_32", "Nullable(Nothing)"),
    col("group_ids", "Nullable(Nothing)"),
    col("app_start_type", "Nullable(Nothing)"),
    col("profile_id", "Nullable(Nothing)"),
];

// ---------------------------------------------------------------------------
// transactions, discover_transactions (transactions storage)
// ---------------------------------------------------------------------------

/// `transactions` / `discover_transactions`: the transactions storage.
const TRANSACTIONS_COLUMNS: &[ColumnDef] = &[
    col("project_id", "UInt64"),
    col("event_id", "String"),
    col("trace_id", "Nullable(String)"),
    col("span_id", "String"),
    col("transaction_name", "LowCardinality(String)"),
    col("transaction_hash", "UInt64"),
    col("transaction_op", "LowCardinality(String)"),
    col("transaction_status", "UInt8"),
    col("start_ts", "DateTime"),
    col("start_ms", "UInt16"),
    col("finish_ts", "DateTime"),
    col("finish_ms", "UInt16"),
    col("duration", "UInt32"),
    col("platform", "LowCardinality(String)"),
    col("environment", "LowCardinality(Nullable(String))"),
    col("release", "LowCardinality(Nullable(String))"),
    col("dist", "LowCardinality(Nullable(String))"),
    col("ip_address_v4", "Nullable(IPv4)"),
    col("ip_address_v6", "Nullable(IPv6)"),
    col("user_hash", "UInt64"),
    col("user_id", "Nullable(String)"),
    col("user_name", "Nullable(String)"),
    col("user_email", "Nullable(String)"),
    col("sdk_name", "LowCardinality(String)"),
    col("sdk_version", "LowCardinality(String)"),
    col("http_method", "LowCardinality(Nullable(String))"),
    col("http_referer", "Nullable(String)"),
    col("tags.key", "Array(String)"),
    col("tags.value", "Array(String)"),
    col("_tags_hash_map", "Array(UInt64)"),
    col("contexts.key", "Array(String)"),
    col("contexts.value", "Array(String)"),
    col("measurements.key", "Array(LowCardinality(String))"),
    col("measurements.value", "Array(Float64)"),
    col("span_op_breakdowns.key", "Array(LowCardinality(String))"),
    col("span_op_breakdowns.value", "Array(Float64)"),
    col("spans.op", "Array(LowCardinality(String))"),
    col("spans.group", "Array(UInt64)"),
    col("spans.exclusive_time_32", "Array(Float32)"),
    col("partition", "UInt16"),
    col("offset", "UInt64"),
    col("message_timestamp", "DateTime"),
    col("retention_days", "UInt16"),
    col("deleted", "UInt8"),
    col("transaction_source", "LowCardinality(String)"),
    col("group_ids", "Array(UInt64)"),
    col("app_start_type", "LowCardinality(String)"),
    col("profile_id", "Nullable(String)"),
    // snuba-api.md §3.5 and Snuba's test_snql_api.py `test_profiler_id`;
    // missing from the older YAML that was read. Type by analogy with
    // profile_id (Nullable(UUID) rewritten to hex).
    col("profiler_id", "Nullable(String)"),
    col("replay_id", "Nullable(String)"),
];

/// `transactions` mapped names.
const TRANSACTIONS_VIRTUAL_COLUMNS: &[ColumnDef] = &[
    col("timestamp", "DateTime"),
    // ColumnToLiteral: type -> 'transaction'.
    col("type", "String"),
    col("message", "LowCardinality(String)"),
    col("title", "LowCardinality(String)"),
    col("transaction", "LowCardinality(String)"),
    col("user", "Nullable(String)"),
    col("ip_address", "Nullable(String)"),
    col("username", "Nullable(String)"),
    col("email", "Nullable(String)"),
    col("geo_country_code", "Nullable(String)"),
    col("geo_region", "Nullable(String)"),
    col("geo_city", "Nullable(String)"),
    col("geo_subdivision", "Nullable(String)"),
    col("tags_key", "String"),
    col("tags_value", "String"),
    // ColumnToColumn: spans.exclusive_time -> spans.exclusive_time_32.
    col("spans.exclusive_time", "Array(Float32)"),
    col("time", "DateTime('Universal')"),
];

/// `discover_transactions` mapped names: the `transactions` mappers,
/// `group_id` as the literal 0 and the error-only columns as NULL.
const DISCOVER_TRANSACTIONS_VIRTUAL_COLUMNS: &[ColumnDef] = &[
    col("timestamp", "DateTime"),
    col("type", "String"),
    col("message", "LowCardinality(String)"),
    col("title", "LowCardinality(String)"),
    col("transaction", "LowCardinality(String)"),
    col("user", "Nullable(String)"),
    col("ip_address", "Nullable(String)"),
    col("username", "Nullable(String)"),
    col("email", "Nullable(String)"),
    col("geo_country_code", "Nullable(String)"),
    col("geo_region", "Nullable(String)"),
    col("geo_city", "Nullable(String)"),
    col("geo_subdivision", "Nullable(String)"),
    col("tags_key", "String"),
    col("tags_value", "String"),
    col("spans.exclusive_time", "Array(Float32)"),
    col("time", "DateTime('Universal')"),
    col("group_id", "UInt8"),
    col("primary_hash", "Nullable(Nothing)"),
    col("level", "Nullable(Nothing)"),
    col("logger", "Nullable(Nothing)"),
    col("server_name", "Nullable(Nothing)"),
    col("site", "Nullable(Nothing)"),
    col("url", "Nullable(Nothing)"),
    col("location", "Nullable(Nothing)"),
    col("culprit", "Nullable(Nothing)"),
    col("received", "Nullable(Nothing)"),
    col("sdk_integrations", "Nullable(Nothing)"),
    col("version", "Nullable(Nothing)"),
    col("exception_stacks.type", "Nullable(Nothing)"),
    col("exception_stacks.value", "Nullable(Nothing)"),
    col("exception_stacks.mechanism_type", "Nullable(Nothing)"),
    col("exception_stacks.mechanism_handled", "Nullable(Nothing)"),
    col("exception_frames.abs_path", "Nullable(Nothing)"),
    col("exception_frames.filename", "Nullable(Nothing)"),
    col("exception_frames.package", "Nullable(Nothing)"),
    col("exception_frames.module", "Nullable(Nothing)"),
    col("exception_frames.function", "Nullable(Nothing)"),
    col("exception_frames.in_app", "Nullable(Nothing)"),
    col("exception_frames.colno", "Nullable(Nothing)"),
    col("exception_frames.lineno", "Nullable(Nothing)"),
    col("exception_frames.stack_level", "Nullable(Nothing)"),
    col("exception_main_thread", "Nullable(Nothing)"),
    col("modules.name", "Nullable(Nothing)"),
    col("modules.version", "Nullable(Nothing)"),
    col("trace_sampled", "Nullable(Nothing)"),
    col("num_processing_errors", "Nullable(Nothing)"),
];

// ---------------------------------------------------------------------------
// search_issues
// ---------------------------------------------------------------------------

/// `search_issues`: issue-platform occurrences (`search_issues_local_v2`).
const SEARCH_ISSUES_COLUMNS: &[ColumnDef] = &[
    col("organization_id", "UInt64"),
    col("project_id", "UInt64"),
    col("group_id", "UInt64"),
    col("search_title", "String"),
    col("resource_id", "Nullable(String)"),
    col("message", "String"),
    col("subtitle", "Nullable(String)"),
    col("culprit", "Nullable(String)"),
    col("level", "LowCardinality(Nullable(String))"),
    // Not in the storage's UUIDColumnProcessor list: comes back dashed.
    col("primary_hash", "UUID"),
    col("fingerprint", "Array(String)"),
    col("occurrence_id", "String"),
    // The entity says UInt8; the table column is UInt16 since migration 0003.
    col("occurrence_type_id", "UInt16"),
    col("detection_timestamp", "DateTime"),
    col("event_id", "Nullable(String)"),
    col("trace_id", "Nullable(String)"),
    col("platform", "LowCardinality(String)"),
    col("environment", "LowCardinality(Nullable(String))"),
    col("release", "LowCardinality(Nullable(String))"),
    col("dist", "LowCardinality(Nullable(String))"),
    col("receive_timestamp", "DateTime"),
    col("client_timestamp", "DateTime"),
    col("tags.key", "Array(String)"),
    col("tags.value", "Array(String)"),
    col("_tags_hash_map", "Array(UInt64)"),
    col("user_hash", "Nullable(UInt64)"),
    col("user_id", "Nullable(String)"),
    col("user_name", "Nullable(String)"),
    col("user_email", "Nullable(String)"),
    col("ip_address_v4", "Nullable(IPv4)"),
    col("ip_address_v6", "Nullable(IPv6)"),
    col("sdk_name", "LowCardinality(Nullable(String))"),
    col("sdk_version", "LowCardinality(Nullable(String))"),
    col("contexts.key", "Array(String)"),
    col("contexts.value", "Array(String)"),
    col("http_method", "LowCardinality(Nullable(String))"),
    col("http_referer", "Nullable(String)"),
    col("transaction_duration", "UInt32"),
    col("profile_id", "Nullable(String)"),
    col("replay_id", "Nullable(String)"),
    col("message_timestamp", "DateTime"),
    col("partition", "UInt16"),
    col("offset", "UInt64"),
    col("retention_days", "UInt16"),
    col("group_first_seen", "Nullable(DateTime)"),
    col("timestamp_ms", "Nullable(DateTime64(3))"),
];

/// `search_issues` mapped names (no `time` column on this entity).
const SEARCH_ISSUES_VIRTUAL_COLUMNS: &[ColumnDef] = &[
    // ColumnToColumn: timestamp -> client_timestamp, title -> search_title.
    col("timestamp", "DateTime"),
    col("title", "String"),
    // ColumnToNullIf over Nullable(String).
    col("user", "Nullable(String)"),
    col("ip_address", "Nullable(String)"),
    col("username", "Nullable(String)"),
    col("email", "Nullable(String)"),
    col("geo_country_code", "Nullable(String)"),
    col("geo_region", "Nullable(String)"),
    col("geo_city", "Nullable(String)"),
    col("geo_subdivision", "Nullable(String)"),
    // tags[transaction] with nullable: true.
    col("transaction", "Nullable(String)"),
    col("transaction_name", "Nullable(String)"),
    col("tags_key", "String"),
    col("tags_value", "String"),
];

/// Join relationships of `search_issues` (left and inner).
const SEARCH_ISSUES_JOINS: &[(&str, &str)] = &[
    ("attributes", "group_attributes"),
    ("attributes_inner", "group_attributes"),
];

// ---------------------------------------------------------------------------
// group_attributes, groupedmessage, groupassignee
// ---------------------------------------------------------------------------

/// `group_attributes`: snapshot of Postgres group state.
const GROUP_ATTRIBUTES_COLUMNS: &[ColumnDef] = &[
    col("project_id", "UInt64"),
    col("group_id", "UInt64"),
    col("group_status", "UInt8"),
    col("group_substatus", "Nullable(UInt8)"),
    col("group_priority", "Nullable(UInt8)"),
    col("group_first_release", "Nullable(UInt64)"),
    col("group_first_seen", "DateTime"),
    col("group_num_comments", "UInt64"),
    col("assignee_user_id", "Nullable(UInt64)"),
    col("assignee_team_id", "Nullable(UInt64)"),
    col("owner_suspect_commit_user_id", "Nullable(UInt64)"),
    col("owner_ownership_rule_user_id", "Nullable(UInt64)"),
    col("owner_ownership_rule_team_id", "Nullable(UInt64)"),
    col("owner_codeowners_user_id", "Nullable(UInt64)"),
    col("owner_codeowners_team_id", "Nullable(UInt64)"),
    col("deleted", "UInt8"),
    col("message_timestamp", "DateTime"),
    col("partition", "UInt16"),
    col("offset", "UInt64"),
];

/// `groupedmessage`: CDC copy of `sentry_groupedmessage`.
const GROUPEDMESSAGE_COLUMNS: &[ColumnDef] = &[
    col("offset", "UInt64"),
    col("record_deleted", "UInt8"),
    col("project_id", "UInt64"),
    col("id", "UInt64"),
    col("status", "Nullable(UInt8)"),
    col("last_seen", "Nullable(DateTime)"),
    col("first_seen", "Nullable(DateTime)"),
    col("active_at", "Nullable(DateTime)"),
    col("first_release_id", "Nullable(UInt64)"),
];

/// `groupassignee`: CDC copy of `sentry_groupasignee`.
const GROUPASSIGNEE_COLUMNS: &[ColumnDef] = &[
    col("offset", "UInt64"),
    col("record_deleted", "UInt8"),
    col("project_id", "UInt64"),
    col("group_id", "UInt64"),
    col("date_added", "Nullable(DateTime)"),
    col("user_id", "Nullable(UInt64)"),
    col("team_id", "Nullable(UInt64)"),
];

// ---------------------------------------------------------------------------
// outcomes, outcomes_raw
// ---------------------------------------------------------------------------

/// `outcomes`: hourly/daily materialized outcomes.
const OUTCOMES_COLUMNS: &[ColumnDef] = &[
    col("org_id", "UInt64"),
    col("project_id", "UInt64"),
    col("key_id", "UInt64"),
    col("timestamp", "DateTime"),
    col("outcome", "UInt8"),
    col("reason", "LowCardinality(String)"),
    col("quantity", "UInt64"),
    col("category", "UInt8"),
    col("times_seen", "UInt64"),
];

/// `outcomes_raw`: one row per outcome message.
const OUTCOMES_RAW_COLUMNS: &[ColumnDef] = &[
    col("org_id", "UInt64"),
    col("project_id", "UInt64"),
    col("key_id", "Nullable(UInt64)"),
    col("timestamp", "DateTime"),
    col("outcome", "UInt8"),
    col("reason", "LowCardinality(Nullable(String))"),
    col("event_id", "Nullable(UUID)"),
    col("quantity", "UInt32"),
    col("category", "UInt8"),
];

/// Mapped names of the entities whose only mapped name is `time`.
const TIME_ONLY_VIRTUAL_COLUMNS: &[ColumnDef] = &[col("time", "DateTime('Universal')")];

// ---------------------------------------------------------------------------
// replays, spans, functions, profiles
// ---------------------------------------------------------------------------

/// `replays`: column list of the 25.x entity (as selected in full by Sentry's
/// `replays/usecases/...` compliance export); types from the replays
/// migrations (0001-0023), where `LowCardinality` is known.
const REPLAYS_COLUMNS: &[ColumnDef] = &[
    col("replay_id", "UUID"),
    col("debug_id", "UUID"),
    col("info_id", "UUID"),
    col("warning_id", "UUID"),
    col("error_id", "UUID"),
    col("fatal_id", "UUID"),
    col("count_info_events", "UInt8"),
    col("count_warning_events", "UInt8"),
    col("count_error_events", "UInt8"),
    col("replay_type", "LowCardinality(Nullable(String))"),
    col("error_sample_rate", "Nullable(Float64)"),
    col("session_sample_rate", "Nullable(Float64)"),
    col("event_hash", "UUID"),
    col("segment_id", "Nullable(UInt16)"),
    col("trace_ids", "Array(UUID)"),
    col("title", "Nullable(String)"),
    col("url", "Nullable(String)"),
    col("urls", "Array(String)"),
    col("is_archived", "Nullable(UInt8)"),
    col("error_ids", "Array(UUID)"),
    col("project_id", "UInt64"),
    col("timestamp", "DateTime"),
    col("replay_start_timestamp", "Nullable(DateTime)"),
    col("platform", "LowCardinality(String)"),
    col("environment", "LowCardinality(Nullable(String))"),
    col("release", "Nullable(String)"),
    col("dist", "Nullable(String)"),
    col("ip_address_v4", "Nullable(IPv4)"),
    col("ip_address_v6", "Nullable(IPv6)"),
    col("user", "Nullable(String)"),
    col("user_id", "Nullable(String)"),
    col("user_name", "Nullable(String)"),
    col("user_email", "Nullable(String)"),
    col("user_geo_city", "String"),
    col("user_geo_country_code", "String"),
    col("user_geo_region", "String"),
    col("user_geo_subdivision", "String"),
    col("viewed_by_id", "UInt64"),
    col("os_name", "LowCardinality(Nullable(String))"),
    col("os_version", "Nullable(String)"),
    col("browser_name", "LowCardinality(Nullable(String))"),
    col("browser_version", "Nullable(String)"),
    col("device_name", "LowCardinality(Nullable(String))"),
    col("device_brand", "LowCardinality(Nullable(String))"),
    col("device_family", "LowCardinality(Nullable(String))"),
    col("device_model", "LowCardinality(Nullable(String))"),
    col("ota_updates_channel", "String"),
    col("ota_updates_runtime_version", "String"),
    col("ota_updates_update_id", "String"),
    col("sdk_name", "LowCardinality(Nullable(String))"),
    col("sdk_version", "LowCardinality(Nullable(String))"),
    col("tags.key", "Array(String)"),
    col("tags.value", "Array(String)"),
    col("click_node_id", "UInt32"),
    col("click_tag", "LowCardinality(String)"),
    col("click_id", "String"),
    col("click_class", "Array(String)"),
    col("click_text", "String"),
    col("click_role", "LowCardinality(String)"),
    col("click_alt", "String"),
    col("click_testid", "String"),
    col("click_aria_label", "String"),
    col("click_title", "String"),
    col("click_component_name", "String"),
    col("click_is_dead", "UInt8"),
    col("click_is_rage", "UInt8"),
    col("count_errors", "UInt16"),
    col("count_urls", "UInt16"),
    col("retention_days", "UInt16"),
    col("partition", "UInt16"),
    col("offset", "UInt64"),
];

/// `spans` (legacy spans storage; EAP spans go through the RPC endpoints).
/// Entity types; UUID and hex-int rewrites applied where the corpus shows them
/// (`span_id IN array('844e2e5c081e6199')`). `LowCardinality` not verified.
const SPANS_COLUMNS: &[ColumnDef] = &[
    col("project_id", "UInt64"),
    col("transaction_id", "Nullable(String)"),
    col("transaction_op", "Nullable(String)"),
    col("trace_id", "String"),
    col("span_id", "String"),
    col("profile_id", "Nullable(String)"),
    col("parent_span_id", "Nullable(String)"),
    col("segment_id", "String"),
    col("is_segment", "UInt8"),
    col("segment_name", "String"),
    col("start_timestamp", "DateTime"),
    col("start_ms", "UInt16"),
    col("end_timestamp", "DateTime"),
    col("end_ms", "UInt16"),
    col("duration", "UInt32"),
    col("exclusive_time", "Float64"),
    col("op", "String"),
    col("group", "String"),
    col("group_raw", "String"),
    col("span_status", "UInt8"),
    col("span_kind", "String"),
    col("description", "String"),
    col("status", "Nullable(UInt32)"),
    col("module", "String"),
    col("action", "Nullable(String)"),
    col("domain", "Nullable(String)"),
    col("platform", "Nullable(String)"),
    col("user", "Nullable(String)"),
    col("tags.key", "Array(String)"),
    col("tags.value", "Array(String)"),
    col("sentry_tags.key", "Array(String)"),
    col("sentry_tags.value", "Array(String)"),
    col("measurements.key", "Array(String)"),
    col("measurements.value", "Array(Float64)"),
    col("_tags_hash_map", "Array(UInt64)"),
    col("_sentry_tags_hash_map", "Array(UInt64)"),
    col("partition", "UInt16"),
    col("offset", "UInt64"),
    col("retention_days", "UInt16"),
    col("deleted", "UInt8"),
];

/// `spans` mapped names: `timestamp` is `end_timestamp`.
const SPANS_VIRTUAL_COLUMNS: &[ColumnDef] = &[
    col("timestamp", "DateTime"),
    col("time", "DateTime('Universal')"),
];

/// `functions`: aggregated profiling functions (entity types).
const FUNCTIONS_COLUMNS: &[ColumnDef] = &[
    col("project_id", "UInt64"),
    col("transaction_name", "String"),
    col("timestamp", "DateTime"),
    col("depth", "UInt32"),
    col("parent_fingerprint", "UInt64"),
    col("fingerprint", "UInt64"),
    col("name", "String"),
    col("package", "String"),
    col("path", "String"),
    col("is_application", "UInt8"),
    col("platform", "String"),
    col("environment", "Nullable(String)"),
    col("release", "Nullable(String)"),
    col("os_name", "String"),
    col("os_version", "String"),
    col("retention_days", "UInt16"),
    col("count", "AggregateFunction(count, Float64)"),
    col(
        "percentiles",
        "AggregateFunction(quantiles(0.5, 0.75, 0.9, 0.95, 0.99), Float64)",
    ),
    col("min", "AggregateFunction(min, Float64)"),
    col("max", "AggregateFunction(max, Float64)"),
    col("avg", "AggregateFunction(avg, Float64)"),
    col("sum", "AggregateFunction(sum, Float64)"),
    col("worst", "AggregateFunction(argMax, UUID, Float64)"),
    col("examples", "AggregateFunction(groupUniqArray(5), UUID)"),
];

/// `profiles`: one row per transaction profile (entity types).
const PROFILES_COLUMNS: &[ColumnDef] = &[
    col("organization_id", "UInt64"),
    col("project_id", "UInt64"),
    col("transaction_id", "UUID"),
    col("profile_id", "UUID"),
    col("received", "DateTime"),
    col("android_api_level", "Nullable(UInt32)"),
    col("device_classification", "String"),
    col("device_locale", "String"),
    col("device_manufacturer", "String"),
    col("device_model", "String"),
    col("device_os_build_number", "Nullable(String)"),
    col("device_os_name", "String"),
    col("device_os_version", "String"),
    col("architecture", "String"),
    col("duration_ns", "UInt64"),
    col("environment", "Nullable(String)"),
    col("platform", "String"),
    col("trace_id", "UUID"),
    col("transaction_name", "String"),
    col("version_name", "String"),
    col("version_code", "String"),
];

// ---------------------------------------------------------------------------
// metrics (legacy release-health metrics)
// ---------------------------------------------------------------------------

/// `metrics_counters`.
const METRICS_COUNTERS_COLUMNS: &[ColumnDef] = &[
    col("org_id", "UInt64"),
    col("project_id", "UInt64"),
    col("metric_id", "UInt64"),
    col("timestamp", "DateTime"),
    col("granularity", "UInt32"),
    col("use_case_id", "LowCardinality(String)"),
    col("tags.key", "Array(UInt64)"),
    col("tags.value", "Array(UInt64)"),
    col("value", "AggregateFunction(sum, Float64)"),
];

/// `metrics_sets`.
const METRICS_SETS_COLUMNS: &[ColumnDef] = &[
    col("org_id", "UInt64"),
    col("project_id", "UInt64"),
    col("metric_id", "UInt64"),
    col("timestamp", "DateTime"),
    col("granularity", "UInt32"),
    col("use_case_id", "LowCardinality(String)"),
    col("tags.key", "Array(UInt64)"),
    col("tags.value", "Array(UInt64)"),
    col("value", "AggregateFunction(uniqCombined64, UInt64)"),
];

/// `metrics_distributions`: `value` is mapped onto the aggregate columns.
const METRICS_DISTRIBUTIONS_COLUMNS: &[ColumnDef] = &[
    col("org_id", "UInt64"),
    col("project_id", "UInt64"),
    col("metric_id", "UInt64"),
    col("timestamp", "DateTime"),
    col("granularity", "UInt32"),
    col("use_case_id", "LowCardinality(String)"),
    col("tags.key", "Array(UInt64)"),
    col("tags.value", "Array(UInt64)"),
    col(
        "percentiles",
        "AggregateFunction(quantiles(0.5, 0.75, 0.9, 0.95, 0.99), Float64)",
    ),
    col("min", "AggregateFunction(min, Float64)"),
    col("max", "AggregateFunction(max, Float64)"),
    col("avg", "AggregateFunction(avg, Float64)"),
    col("sum", "AggregateFunction(sum, Float64)"),
    col("count", "AggregateFunction(count, Float64)"),
    col(
        "histogram_buckets",
        "AggregateFunction(histogram(250), Float64)",
    ),
];

/// `org_metrics_counters`: no tags, no value, no required id columns.
const ORG_METRICS_COUNTERS_COLUMNS: &[ColumnDef] = &[
    col("org_id", "UInt64"),
    col("project_id", "UInt64"),
    col("metric_id", "UInt64"),
    col("timestamp", "DateTime"),
    col("granularity", "UInt32"),
    col("use_case_id", "LowCardinality(String)"),
];

/// Mapped names of the metrics entities whose `value` is a real column.
const METRICS_VIRTUAL_COLUMNS: &[ColumnDef] = &[col("bucketed_time", "DateTime('Universal')")];

/// Mapped names of the metrics entities whose `value` is mapped by
/// `AggregateFunctionMapper` (`min(value)` -> `minMerge(min)`, ...).
const METRICS_VALUE_VIRTUAL_COLUMNS: &[ColumnDef] = &[
    col("bucketed_time", "DateTime('Universal')"),
    col("value", "Float64"),
];

// ---------------------------------------------------------------------------
// generic_metrics
// ---------------------------------------------------------------------------

/// `generic_metrics_counters`.
const GENERIC_METRICS_COUNTERS_COLUMNS: &[ColumnDef] = &[
    col("org_id", "UInt64"),
    col("project_id", "UInt64"),
    col("metric_id", "UInt64"),
    col("timestamp", "DateTime"),
    col("granularity", "UInt8"),
    col("use_case_id", "LowCardinality(String)"),
    col("tags.key", "Array(UInt64)"),
    col("tags.value", "Array(UInt64)"),
    col("tags.raw_value", "Array(String)"),
    col("value", "AggregateFunction(sum, Float64)"),
];

/// `generic_metrics_sets`.
const GENERIC_METRICS_SETS_COLUMNS: &[ColumnDef] = &[
    col("org_id", "UInt64"),
    col("project_id", "UInt64"),
    col("metric_id", "UInt64"),
    col("timestamp", "DateTime"),
    col("granularity", "UInt8"),
    col("use_case_id", "LowCardinality(String)"),
    col("tags.key", "Array(UInt64)"),
    col("tags.value", "Array(UInt64)"),
    col("tags.raw_value", "Array(String)"),
    col("value", "AggregateFunction(uniqCombined64, UInt64)"),
];

/// `generic_metrics_distributions`: `value` is mapped onto the aggregates.
const GENERIC_METRICS_DISTRIBUTIONS_COLUMNS: &[ColumnDef] = &[
    col("org_id", "UInt64"),
    col("project_id", "UInt64"),
    col("metric_id", "UInt64"),
    col("timestamp", "DateTime"),
    col("granularity", "UInt8"),
    col("use_case_id", "LowCardinality(String)"),
    col("tags.key", "Array(UInt64)"),
    col("tags.value", "Array(UInt64)"),
    col("tags.raw_value", "Array(String)"),
    col(
        "percentiles",
        "AggregateFunction(quantiles(0.5, 0.75, 0.9, 0.95, 0.99), Float64)",
    ),
    col("min", "AggregateFunction(min, Float64)"),
    col("max", "AggregateFunction(max, Float64)"),
    col("avg", "AggregateFunction(avg, Float64)"),
    col("sum", "AggregateFunction(sum, Float64)"),
    col("count", "AggregateFunction(count, Float64)"),
    col(
        "histogram_buckets",
        "AggregateFunction(histogram(250), Float64)",
    ),
];

/// `generic_metrics_gauges`: `value` is mapped onto the aggregates.
const GENERIC_METRICS_GAUGES_COLUMNS: &[ColumnDef] = &[
    col("org_id", "UInt64"),
    col("project_id", "UInt64"),
    col("metric_id", "UInt64"),
    col("timestamp", "DateTime"),
    col("granularity", "UInt8"),
    col("use_case_id", "LowCardinality(String)"),
    col("tags.key", "Array(UInt64)"),
    col("tags.value", "Array(UInt64)"),
    col("tags.raw_value", "Array(String)"),
    col("min", "AggregateFunction(min, Float64)"),
    col("max", "AggregateFunction(max, Float64)"),
    col("sum", "AggregateFunction(sum, Float64)"),
    // count() is mapped to sumMerge(count).
    col("count", "AggregateFunction(sum, UInt64)"),
    col("last", "AggregateFunction(argMax, Float64, DateTime)"),
];

/// `generic_metrics_*_meta`: metric ids and tag keys seen per use case
/// (schema of `counters_meta.yaml`; the sets/distributions/gauges variants
/// are assumed to share it).
const GENERIC_METRICS_META_COLUMNS: &[ColumnDef] = &[
    col("org_id", "UInt64"),
    col("project_id", "UInt64"),
    col("use_case_id", "LowCardinality(String)"),
    col("metric_id", "UInt64"),
    col("tag_key", "UInt64"),
    col("timestamp", "DateTime"),
    col("retention_days", "UInt16"),
    col("count", "AggregateFunction(sum, Float64)"),
];

// ---------------------------------------------------------------------------
// sessions (removed from Snuba)
// ---------------------------------------------------------------------------

/// `sessions`: removed from Snuba (no dataset in 25.9) but still emitted by
/// snuba-sdk's tests. Columns recalled from the old `sessions` entity; the
/// types are best guesses, nothing here was checked against a 25.x source.
const SESSIONS_COLUMNS: &[ColumnDef] = &[
    col("org_id", "UInt64"),
    col("project_id", "UInt64"),
    col("started", "DateTime"),
    col("release", "LowCardinality(String)"),
    col("environment", "LowCardinality(String)"),
    col("user_agent", "LowCardinality(String)"),
    col("os", "LowCardinality(String)"),
];

/// `sessions` computed columns (aggregate expressions over the hourly table).
const SESSIONS_VIRTUAL_COLUMNS: &[ColumnDef] = &[
    col("bucketed_started", "DateTime('Universal')"),
    col("duration_quantiles", "Array(Float64)"),
    col("duration_avg", "Float64"),
    col("sessions", "UInt64"),
    col("sessions_preaggr", "UInt64"),
    col("sessions_crashed", "UInt64"),
    col("sessions_crashed_preaggr", "UInt64"),
    col("sessions_abnormal", "UInt64"),
    col("sessions_abnormal_preaggr", "UInt64"),
    col("sessions_errored", "UInt64"),
    col("sessions_errored_preaggr", "UInt64"),
    col("users", "UInt64"),
    col("users_crashed", "UInt64"),
    col("users_abnormal", "UInt64"),
    col("users_errored", "UInt64"),
];

// ---------------------------------------------------------------------------
// The catalog
// ---------------------------------------------------------------------------

/// Every entity a `MATCH (entity)` may name, with its columns, required
/// conditions and join relationships.
///
/// Not listed: `events_meta` from the corpus, which is an artifact of
/// rendering `f"{test_entity}_meta"` in Snuba's `tests/test_metrics_meta_api.py`
/// with a guessed placeholder; the real entities are the
/// `generic_metrics_*_meta` ones below. Also not listed: the EAP entities
/// (`eap_items`, ...), which Sentry reaches through `/rpc`, not SnQL.
pub static ENTITIES: &[EntitySpec] = &[
    EntitySpec {
        name: "events",
        columns: EVENTS_COLUMNS,
        virtual_columns: EVENTS_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["project_id"],
        subscriptables: &["tags", "contexts", "flags"],
        joins: EVENTS_JOINS,
        stored: true,
    },
    EntitySpec {
        name: "discover",
        columns: DISCOVER_COLUMNS,
        virtual_columns: DISCOVER_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["project_id"],
        // measurements / span_op_breakdowns are NULL on the events side.
        subscriptables: &["tags", "contexts", "measurements", "span_op_breakdowns"],
        joins: &[],
        stored: true,
    },
    EntitySpec {
        name: "discover_events",
        columns: DISCOVER_EVENTS_COLUMNS,
        virtual_columns: DISCOVER_EVENTS_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["project_id"],
        // measurements / span_op_breakdowns: DefaultNoneSubscriptMapper (NULL).
        subscriptables: &["tags", "contexts", "measurements", "span_op_breakdowns"],
        joins: &[],
        stored: true,
    },
    EntitySpec {
        name: "discover_transactions",
        columns: TRANSACTIONS_COLUMNS,
        virtual_columns: DISCOVER_TRANSACTIONS_VIRTUAL_COLUMNS,
        required_time_column: Some("finish_ts"),
        required_columns: &["project_id"],
        subscriptables: &["tags", "contexts", "measurements", "span_op_breakdowns"],
        joins: &[],
        stored: true,
    },
    EntitySpec {
        name: "transactions",
        columns: TRANSACTIONS_COLUMNS,
        virtual_columns: TRANSACTIONS_VIRTUAL_COLUMNS,
        required_time_column: Some("finish_ts"),
        required_columns: &["project_id"],
        subscriptables: &["tags", "contexts", "measurements", "span_op_breakdowns"],
        joins: &[],
        stored: true,
    },
    EntitySpec {
        name: "search_issues",
        columns: SEARCH_ISSUES_COLUMNS,
        virtual_columns: SEARCH_ISSUES_VIRTUAL_COLUMNS,
        // `timestamp` is mapped to client_timestamp.
        required_time_column: Some("timestamp"),
        required_columns: &["project_id"],
        subscriptables: &["tags", "contexts"],
        joins: SEARCH_ISSUES_JOINS,
        stored: false,
    },
    EntitySpec {
        name: "group_attributes",
        columns: GROUP_ATTRIBUTES_COLUMNS,
        virtual_columns: &[],
        required_time_column: None,
        required_columns: &["project_id"],
        subscriptables: &[],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "groupedmessage",
        columns: GROUPEDMESSAGE_COLUMNS,
        virtual_columns: &[],
        required_time_column: None,
        required_columns: &[],
        subscriptables: &[],
        joins: &[("groups", "events")],
        stored: false,
    },
    EntitySpec {
        name: "groupassignee",
        columns: GROUPASSIGNEE_COLUMNS,
        virtual_columns: &[],
        required_time_column: None,
        required_columns: &[],
        subscriptables: &[],
        joins: &[("owns", "events")],
        stored: false,
    },
    EntitySpec {
        name: "outcomes",
        columns: OUTCOMES_COLUMNS,
        virtual_columns: TIME_ONLY_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["org_id"],
        subscriptables: &[],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "outcomes_raw",
        columns: OUTCOMES_RAW_COLUMNS,
        virtual_columns: TIME_ONLY_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["org_id"],
        subscriptables: &[],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "replays",
        columns: REPLAYS_COLUMNS,
        virtual_columns: TIME_ONLY_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["project_id"],
        subscriptables: &["tags"],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "spans",
        columns: SPANS_COLUMNS,
        virtual_columns: SPANS_VIRTUAL_COLUMNS,
        // `timestamp` is mapped to end_timestamp.
        required_time_column: Some("timestamp"),
        required_columns: &["project_id"],
        subscriptables: &["tags", "sentry_tags", "measurements"],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "functions",
        columns: FUNCTIONS_COLUMNS,
        virtual_columns: &[],
        required_time_column: Some("timestamp"),
        required_columns: &["project_id"],
        subscriptables: &[],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "profiles",
        columns: PROFILES_COLUMNS,
        virtual_columns: TIME_ONLY_VIRTUAL_COLUMNS,
        required_time_column: Some("received"),
        required_columns: &["organization_id", "project_id"],
        subscriptables: &[],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "sessions",
        columns: SESSIONS_COLUMNS,
        virtual_columns: SESSIONS_VIRTUAL_COLUMNS,
        required_time_column: Some("started"),
        required_columns: &["org_id", "project_id"],
        subscriptables: &[],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "metrics_counters",
        columns: METRICS_COUNTERS_COLUMNS,
        virtual_columns: METRICS_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["org_id", "project_id"],
        subscriptables: &["tags"],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "metrics_sets",
        columns: METRICS_SETS_COLUMNS,
        virtual_columns: METRICS_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["org_id", "project_id"],
        subscriptables: &["tags"],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "metrics_distributions",
        columns: METRICS_DISTRIBUTIONS_COLUMNS,
        virtual_columns: METRICS_VALUE_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["org_id", "project_id"],
        subscriptables: &["tags"],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "org_metrics_counters",
        columns: ORG_METRICS_COUNTERS_COLUMNS,
        virtual_columns: METRICS_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        // Only a GranularityValidator (minimum 3600); no required id columns.
        required_columns: &[],
        subscriptables: &[],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "generic_metrics_counters",
        columns: GENERIC_METRICS_COUNTERS_COLUMNS,
        virtual_columns: METRICS_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["org_id", "project_id"],
        // tags[k] is the indexed value (UInt64), tags_raw[k] the raw string.
        subscriptables: &["tags", "tags_raw"],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "generic_metrics_sets",
        columns: GENERIC_METRICS_SETS_COLUMNS,
        virtual_columns: METRICS_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["org_id", "project_id"],
        subscriptables: &["tags", "tags_raw"],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "generic_metrics_distributions",
        columns: GENERIC_METRICS_DISTRIBUTIONS_COLUMNS,
        virtual_columns: METRICS_VALUE_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["org_id", "project_id"],
        subscriptables: &["tags", "tags_raw"],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "generic_metrics_gauges",
        columns: GENERIC_METRICS_GAUGES_COLUMNS,
        virtual_columns: METRICS_VALUE_VIRTUAL_COLUMNS,
        required_time_column: Some("timestamp"),
        required_columns: &["org_id", "project_id"],
        subscriptables: &["tags", "tags_raw"],
        joins: &[],
        stored: false,
    },
    // The *_meta entities also require a string condition on use_case_id
    // (`required_str_columns`), which `required_columns` cannot express.
    EntitySpec {
        name: "generic_metrics_counters_meta",
        columns: GENERIC_METRICS_META_COLUMNS,
        virtual_columns: &[],
        required_time_column: Some("timestamp"),
        required_columns: &["org_id", "project_id"],
        subscriptables: &[],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "generic_metrics_sets_meta",
        columns: GENERIC_METRICS_META_COLUMNS,
        virtual_columns: &[],
        required_time_column: Some("timestamp"),
        required_columns: &["org_id", "project_id"],
        subscriptables: &[],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "generic_metrics_distributions_meta",
        columns: GENERIC_METRICS_META_COLUMNS,
        virtual_columns: &[],
        required_time_column: Some("timestamp"),
        required_columns: &["org_id", "project_id"],
        subscriptables: &[],
        joins: &[],
        stored: false,
    },
    EntitySpec {
        name: "generic_metrics_gauges_meta",
        columns: GENERIC_METRICS_META_COLUMNS,
        virtual_columns: &[],
        required_time_column: Some("timestamp"),
        required_columns: &["org_id", "project_id"],
        subscriptables: &[],
        joins: &[],
        stored: false,
    },
];

/// The datasets of Snuba 25.9 (`snuba/datasets/configuration/*/dataset.yaml`)
/// and the entities each one lists, and `sessions`: Snuba 25.9 has no such
/// dataset any more, but Sentry 23.7.1's release pages ask it (sentry-sls
/// stores no sessions, so it answers as an empty table).
pub static DATASETS: &[DatasetSpec] = &[
    DatasetSpec {
        name: "events",
        entities: &["events"],
    },
    DatasetSpec {
        name: "search_issues",
        entities: &["search_issues"],
    },
    DatasetSpec {
        name: "group_attributes",
        entities: &["group_attributes"],
    },
    DatasetSpec {
        name: "discover",
        entities: &["discover", "discover_events", "discover_transactions"],
    },
    DatasetSpec {
        name: "transactions",
        entities: &["transactions"],
    },
    DatasetSpec {
        name: "sessions",
        entities: &["sessions"],
    },
    DatasetSpec {
        name: "outcomes",
        entities: &["outcomes"],
    },
    DatasetSpec {
        name: "outcomes_raw",
        entities: &["outcomes_raw"],
    },
    DatasetSpec {
        name: "groupedmessage",
        entities: &["groupedmessage"],
    },
    DatasetSpec {
        name: "groupassignee",
        entities: &["groupassignee"],
    },
    DatasetSpec {
        name: "replays",
        entities: &["replays"],
    },
    DatasetSpec {
        name: "profiles",
        entities: &["profiles"],
    },
    DatasetSpec {
        name: "functions",
        entities: &["functions"],
    },
    DatasetSpec {
        name: "spans",
        entities: &["spans"],
    },
    DatasetSpec {
        name: "metrics",
        entities: &[
            "metrics_counters",
            "metrics_distributions",
            "metrics_sets",
            "org_metrics_counters",
        ],
    },
    DatasetSpec {
        name: "generic_metrics",
        entities: &[
            "generic_metrics_sets",
            "generic_metrics_distributions",
            "generic_metrics_counters",
            "generic_metrics_gauges",
            "generic_metrics_counters_meta",
            "generic_metrics_sets_meta",
            "generic_metrics_distributions_meta",
            "generic_metrics_gauges_meta",
        ],
    },
    // EAP is served by the /rpc endpoints; SnQL reaches it only through
    // `MATCH STORAGE(eap_items...)`.
    DatasetSpec {
        name: "events_analytics_platform",
        entities: &[],
    },
];

/// Storage names accepted by `MATCH STORAGE(name)`: the storages of the
/// Snuba 25.x configuration (`snuba/datasets/configuration/*/storages`).
///
/// The corpus also has `STORAGE(events)` (snuba-sdk output, syntax only: no
/// such storage exists in Snuba) and `STORAGE(placeholder)` (a test
/// placeholder); neither is listed.
pub static STORAGES: &[&str] = &[
    // events / discover / transactions
    "errors",
    "errors_ro",
    "discover",
    "transactions",
    // issues
    "search_issues",
    "group_attributes",
    "groupedmessages",
    "groupassignees",
    // outcomes
    "outcomes_raw",
    "outcomes_hourly",
    "outcomes_daily",
    // replays, profiling, spans
    "replays",
    "profiles",
    "profile_chunks",
    "functions",
    "functions_raw",
    "spans",
    // metrics
    "metrics_raw",
    "metrics_counters",
    "metrics_distributions",
    "metrics_sets",
    "org_metrics_counters",
    // generic metrics
    "generic_metrics_counters",
    "generic_metrics_counters_raw",
    "generic_metrics_sets",
    "generic_metrics_sets_raw",
    "generic_metrics_distributions",
    "generic_metrics_distributions_raw",
    "generic_metrics_gauges",
    "generic_metrics_gauges_raw",
    "generic_metrics_counters_meta",
    "generic_metrics_counters_meta_tag_values",
    "generic_metrics_sets_meta",
    "generic_metrics_sets_meta_tag_values",
    "generic_metrics_distributions_meta",
    "generic_metrics_distributions_meta_tag_values",
    "generic_metrics_gauges_meta",
    "generic_metrics_gauges_meta_tag_values",
    // events analytics platform
    "eap_items",
    "eap_items_ro",
    "eap_items_downsample_8",
    "eap_items_downsample_8_ro",
    "eap_items_downsample_64",
    "eap_items_downsample_64_ro",
    "eap_items_downsample_512",
    "eap_items_downsample_512_ro",
    "eap_item_co_occurring_attrs",
    "uptime_monitor_checks",
];
