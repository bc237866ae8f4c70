//! Snuba `events` columns as SLS SQL over the record keys (docs/schema.md §3).

use super::Topic;
use crate::entities::EntitySpec;
use crate::error::SnubaError;

/// What a column reads, and how its SQL value is shaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSql {
    /// A scalar SQL expression.
    Scalar(String),
    /// A record key holding a JSON array (`exception_stacks_type`, …).
    JsonArray(&'static str),
    /// The sorted keys of a record key holding a JSON object (`tags.key`).
    MapKeys(&'static str),
    /// The values, in key order, of a JSON object key (`tags.value`).
    MapValues(&'static str),
}

/// `"key"`: record keys are always double-quoted (some are SQL keywords).
pub fn key(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal: single quotes, a quote doubled. Presto (and the
/// embedded store's dialect) treat backslashes literally, so nothing else
/// needs escaping and no value can end the literal early.
pub fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn coalesced(name: &str) -> String {
    format!("coalesce({}, '')", key(name))
}

/// `json_extract_scalar("k", '$["p"]')`: the bracket path handles `.` and `:`.
pub fn json_member(column: &str, member: &str) -> Result<String, SnubaError> {
    if member.contains(['"', '\\', '\'']) || member.chars().any(char::is_control) {
        return Err(SnubaError::InvalidQuery(format!(
            "invalid key {member:?} for {column}"
        )));
    }
    Ok(format!(
        "json_extract_scalar({}, {})",
        key(column),
        string_literal(&format!("$[\"{member}\"]"))
    ))
}

/// `t - t % g`: the bucket start of epoch seconds `t`.
pub fn bucket(time: &str, granularity: u64) -> String {
    format!("({time} - {time} % {granularity})")
}

/// The SQL of `tags[k]` (and `contexts[k]`, `flags[k]`): the promoted key
/// (Nullable, as Snuba's promoted columns) or the object member, `''` when
/// absent (Snuba's `arrayElement(…, indexOf(…))`).
pub(crate) fn subscript(column: &str, member: &str, topic: Topic) -> Result<String, SnubaError> {
    let base = column.rsplit('.').next().unwrap_or(column);
    if base == "measurements" && topic == Topic::Transaction {
        // A JSON object of numbers (schema §3); NULL when absent, as Snuba's
        // Nullable(Float64) subscript.
        return Ok(format!(
            "cast({} AS double)",
            json_member("measurements", member)?
        ));
    }
    let promoted = match (base, member) {
        ("tags", "environment") => Some("\"environment\"".to_string()),
        ("tags", "sentry:release") => Some("\"release\"".to_string()),
        ("tags", "sentry:dist") => Some("\"dist\"".to_string()),
        ("tags", "sentry:user") => Some("\"user\"".to_string()),
        ("tags", "transaction") => Some("\"transaction_name\"".to_string()),
        ("tags", "level") => Some("\"level\"".to_string()),
        ("tags", "logger") => Some(coalesced("logger")),
        ("tags", "browser") => Some(coalesced("browser")),
        ("tags", "browser.name") => Some(coalesced("browser_name")),
        ("tags", "os.name") => Some(coalesced("os_name")),
        ("tags", "device") => Some(coalesced("device")),
        ("contexts", "trace.trace_id") => Some("\"trace_id\"".to_string()),
        ("contexts", "trace.span_id") => Some("\"span_id\"".to_string()),
        _ => None,
    };
    if let Some(sql) = promoted {
        return Ok(sql);
    }
    let object = match base {
        "tags" => "tags",
        "contexts" => "contexts",
        "flags" => "flags",
        // measurements on errors, span_op_breakdowns everywhere: not
        // stored, a NULL double (Nullable(Float64), so `quantile` takes it).
        _ => return Ok("cast(NULL AS double)".into()),
    };
    Ok(format!("coalesce({}, '')", json_member(object, member)?))
}

/// The SQL of an entity column at `granularity`.
pub(crate) fn column(
    name: &str,
    entity: &EntitySpec,
    topic: Topic,
    granularity: u64,
    retention_days: u32,
) -> Result<ColumnSql, SnubaError> {
    let scalar = |sql: String| Ok(ColumnSql::Scalar(sql));
    if topic == Topic::Transaction {
        if let Some(sql) = transaction_column(name) {
            return scalar(sql);
        }
    }
    match name {
        "project_id" | "group_id" | "primary_hash" | "event_id" | "trace_id" | "span_id"
        | "replay_id" | "profile_id" | "environment" | "level" | "release" | "location"
        | "dist" | "version" | "user" | "user_id" | "user_name" | "user_email" | "sdk_name"
        | "sdk_version" | "http_method" | "http_referer" | "ip_address"
        | "exception_main_thread" | "trace_sampled" | "num_processing_errors"
        | "symbolicated_in_app" | "timestamp_ms" | "sample_weight" | "group_first_seen"
        | "received" => scalar(key(name)),
        "username" => scalar(key("user_name")),
        "email" => scalar(key("user_email")),
        "message_timestamp" => scalar(key("received")),
        "timestamp" => scalar("__time__".into()),
        "time" => scalar(bucket("__time__", granularity)),
        "rtime" => scalar(bucket("\"received\"", granularity)),
        "message" | "title" | "platform" | "culprit" | "type" => scalar(coalesced(name)),
        "transaction_name" | "transaction" => scalar(coalesced("transaction_name")),
        "ip_address_v4" => scalar(
            "CASE WHEN strpos(\"ip_address\", ':') = 0 THEN \"ip_address\" END".into(),
        ),
        "ip_address_v6" => scalar(
            "CASE WHEN strpos(\"ip_address\", ':') > 0 THEN \"ip_address\" END".into(),
        ),
        "geo_country_code" | "geo_region" | "geo_city" | "geo_subdivision" => {
            let member = format!("geo.{}", &name["geo_".len()..]);
            scalar(json_member("contexts", &member)?)
        }
        "partition" | "offset" | "deleted" => scalar("0".into()),
        "retention_days" => scalar(retention_days.to_string()),
        "exception_stacks.type" => Ok(ColumnSql::JsonArray("exception_stacks_type")),
        "exception_stacks.value" => Ok(ColumnSql::JsonArray("exception_stacks_value")),
        "exception_stacks.mechanism_type" => {
            Ok(ColumnSql::JsonArray("exception_stacks_mechanism_type"))
        }
        "exception_stacks.mechanism_handled" => {
            Ok(ColumnSql::JsonArray("exception_stacks_mechanism_handled"))
        }
        "exception_frames.abs_path" => Ok(ColumnSql::JsonArray("exception_frames_abs_path")),
        "exception_frames.filename" => Ok(ColumnSql::JsonArray("exception_frames_filename")),
        "exception_frames.function" => Ok(ColumnSql::JsonArray("exception_frames_function")),
        "exception_frames.module" => Ok(ColumnSql::JsonArray("exception_frames_module")),
        "exception_frames.package" => Ok(ColumnSql::JsonArray("exception_frames_package")),
        "exception_frames.lineno" => Ok(ColumnSql::JsonArray("exception_frames_lineno")),
        "exception_frames.colno" => Ok(ColumnSql::JsonArray("exception_frames_colno")),
        "exception_frames.in_app" => Ok(ColumnSql::JsonArray("exception_frames_in_app")),
        "exception_frames.stack_level" => {
            Ok(ColumnSql::JsonArray("exception_frames_stack_level"))
        }
        "sdk_integrations" => Ok(ColumnSql::JsonArray("sdk_integrations")),
        "modules.name" => Ok(ColumnSql::JsonArray("modules_name")),
        "modules.version" => Ok(ColumnSql::JsonArray("modules_version")),
        "tags.key" => Ok(ColumnSql::MapKeys("tags")),
        "tags.value" => Ok(ColumnSql::MapValues("tags")),
        "contexts.key" => Ok(ColumnSql::MapKeys("contexts")),
        "contexts.value" => Ok(ColumnSql::MapValues("contexts")),
        "flags.key" => Ok(ColumnSql::MapKeys("flags")),
        "flags.value" => Ok(ColumnSql::MapValues("flags")),
        "tags_key" | "tags_value" | "flags_key" | "flags_value" => scalar(key(name)),
        "user_hash" | "transaction_hash" | "_tags_hash_map" | "_flags_hash_map" => {
            Err(SnubaError::InvalidQuery(format!(
                "column {name} is a ClickHouse-materialised hash that sentry-sls does not store"
            )))
        }
        _ => match entity.column_type(name) {
            // discover's transaction-only columns are NULL on the errors topic.
            Some(_) => scalar("NULL".into()),
            None => Err(SnubaError::InvalidQuery(format!(
                "validation failed for entity {0}: Entity {0}: Query column '{name}' does not exist",
                entity.name
            ))),
        },
    }
}

/// Columns of Snuba's transactions storage that differ from the errors
/// storage's (schema §3: `duration_ms`, start = `timestamp_ms − duration_ms`).
fn transaction_column(name: &str) -> Option<String> {
    let start_ms = "(\"timestamp_ms\" - \"duration_ms\")";
    Some(match name {
        "duration" => key("duration_ms"),
        "transaction_op" => coalesced("transaction_op"),
        "transaction_status" => key("transaction_status"),
        "finish_ts" => "__time__".into(),
        "finish_ms" => "(\"timestamp_ms\" % 1000)".into(),
        "start_ts" => format!("({start_ms} / 1000)"),
        "start_ms" => format!("({start_ms} % 1000)"),
        // ColumnToLiteral in Snuba's transactions entities.
        "type" => "'transaction'".into(),
        "group_id" => "0".into(),
        // A transaction's title and message are its name.
        "title" | "message" => coalesced("transaction_name"),
        _ => return None,
    })
}
