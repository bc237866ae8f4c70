//! JSON models of the read and admin APIs (§3), with the exact wire names, plus the small
//! parsing rules around them: case-insensitive booleans and hash-key shard routing.
//!
//! Serialization is strict (what we send is what SLS documents); deserialization of optional
//! response metadata is lenient, because a newer or older server sending an unexpected type in
//! a field we merely display must not make a whole query fail.

use md5::{Digest, Md5};
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ErrorCode, ProtocolError};

/// Hard limit on the raw (uncompressed) PutLogs body in current SLS docs (§1.4).
pub const MAX_RAW_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Raw body size our writer aims for: valid in every documented limit era (§1.4).
pub const RECOMMENDED_RAW_BODY_BYTES: usize = 5 * 1024 * 1024;
/// Logs per PutLogs our writer aims for (the old documented cap).
pub const RECOMMENDED_LOGS_PER_PUT: usize = 4096;
/// Largest `line` of a search (non-SQL) query page.
pub const MAX_SEARCH_LINE: u32 = 100;
/// Largest `count` of one PullLogs call.
pub const MAX_PULL_COUNT: u32 = 1000;

/// GetLogsV2 request body (`POST /logstores/{ls}/logs`, §3.2). Unset fields are omitted on
/// the wire, as the Rust SDK does; unknown fields are ignored on receipt.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GetLogsV2Request {
    /// Start of the half-open range, unix seconds of log time.
    pub from: i64,
    /// End of the half-open range, unix seconds of log time.
    pub to: i64,
    /// Rows per page for search queries (≤ 100); 0 or absent for SQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Row offset for search queries; 0 or absent for SQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    /// Newest first when true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse: Option<bool>,
    /// `search [| sql]` statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Only logs of this topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Run on Dedicated SQL.
    #[serde(default, rename = "powerSql", skip_serializing_if = "Option::is_none")]
    pub power_sql: Option<bool>,
    /// Nanosecond part of `from`.
    #[serde(default, rename = "fromNs", skip_serializing_if = "Option::is_none")]
    pub from_ns: Option<u32>,
    /// Nanosecond part of `to`.
    #[serde(default, rename = "toNs", skip_serializing_if = "Option::is_none")]
    pub to_ns: Option<u32>,
    /// "Complete accuracy" mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accurate: Option<bool>,
    /// Ask for highlight metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highlight: Option<bool>,
    /// Session settings such as `mode=scan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Scan direction in scan mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<bool>,
}

/// One result row: column name → string value, in column order.
///
/// SLS sends every value as a JSON string (SQL NULL is `"null"`), and Go/Rust SDKs decode
/// rows as string maps, so the server side is typed as strings. On receipt, non-string
/// values are tolerated and kept as their JSON text (`null` → `"null"`), so one odd cell
/// cannot fail a query. Order matters because a search result has no `meta.keys`; a duplicate
/// key keeps its first position and the last value, like a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogRow(pub Vec<(String, String)>);

impl LogRow {
    /// An empty row.
    pub fn new() -> Self {
        LogRow(Vec::new())
    }

    /// The value of `column`, if present.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, value)| value.as_str())
    }

    /// Sets `column`, replacing an existing value in place or appending a new column.
    pub fn insert(&mut self, column: impl Into<String>, value: impl Into<String>) {
        let column = column.into();
        let value = value.into();
        match self.0.iter_mut().find(|(name, _)| *name == column) {
            Some(slot) => slot.1 = value,
            None => self.0.push((column, value)),
        }
    }

    /// Columns and values in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for LogRow {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut row = LogRow::new();
        for (column, value) in iter {
            row.insert(column, value);
        }
        row
    }
}

impl Serialize for LogRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (column, value) in &self.0 {
            map.serialize_entry(column, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for LogRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;

        impl<'de> Visitor<'de> for RowVisitor {
            type Value = LogRow;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a JSON object of column values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<LogRow, A::Error> {
                let mut row = LogRow(Vec::with_capacity(access.size_hint().unwrap_or(0)));
                while let Some((column, value)) =
                    access.next_entry::<String, serde_json::Value>()?
                {
                    let text = match value {
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    };
                    row.insert(column, text);
                }
                Ok(row)
            }
        }

        deserializer.deserialize_map(RowVisitor)
    }
}

/// Deserializes an optional field, turning a value of the wrong type into `None` instead of
/// failing the whole response.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(T::deserialize(value).ok())
}

/// Like [`lenient`] for fields that have a natural default.
fn lenient_or_default<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    Ok(lenient(deserializer)?.unwrap_or_default())
}

/// A search term the query matched on (`meta.terms`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MetaTerm {
    /// Field the term applies to (empty for full-text).
    #[serde(default)]
    pub key: String,
    /// The term.
    #[serde(default)]
    pub term: String,
}

/// Phrase-query scan details (`meta.phraseQueryInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhraseQueryInfo {
    /// Whether the whole range was scanned.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub scan_all: Option<bool>,
    /// Scan start offset.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub begin_offset: Option<i64>,
    /// Scan end offset.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_offset: Option<i64>,
    /// Log time where the scan stopped.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<i64>,
}

/// GetLogsV2 `meta` (§3.2). Only `progress` is required; everything else is optional and
/// lenient on receipt. Names are camelCase on the wire, with SLS's own spellings kept
/// (`hasSQL`, `insertedSQL`, and the `telementryType` typo).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLogsV2Meta {
    /// `Complete` or `Incomplete` (see [`crate::header::PROGRESS_COMPLETE`]).
    pub progress: String,
    /// Rows returned.
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub count: u64,
    /// Rows scanned.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub processed_rows: Option<i64>,
    /// Query time.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub elapsed_millisecond: Option<i64>,
    /// Whether the query had an SQL part.
    #[serde(
        default,
        rename = "hasSQL",
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub has_sql: Option<bool>,
    /// The search part.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub where_query: Option<String>,
    /// The SQL part.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub agg_query: Option<String>,
    /// Result column names in order (SQL results); rows follow this order.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub keys: Option<Vec<String>>,
    /// CPU seconds used.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_sec: Option<f64>,
    /// CPU cores used.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_cores: Option<f64>,
    /// Non-zero when the result was limited.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub limited: Option<i64>,
    /// Bytes scanned.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub processed_bytes: Option<i64>,
    /// Store kind; the misspelling is SLS's own wire name.
    #[serde(
        default,
        rename = "telementryType",
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub telementry_type: Option<String>,
    /// Whether Dedicated SQL ran the query.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub power_sql: Option<bool>,
    /// SQL the server rewrote the query into.
    #[serde(
        default,
        rename = "insertedSQL",
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub inserted_sql: Option<String>,
    /// Whether the result is exact.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub is_accurate: Option<bool>,
    /// SQL column types, parallel to `keys`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub column_types: Option<Vec<String>>,
    /// Matched search terms.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub terms: Option<Vec<MetaTerm>>,
    /// Scan-mode continuation marker.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub marker: Option<String>,
    /// 0 normal, 1 phrase, 2 scan, 3 scan-sql.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub mode: Option<i64>,
    /// Phrase-query scan details.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub phrase_query_info: Option<PhraseQueryInfo>,
    /// Bytes scanned in scan mode.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub scan_bytes: Option<i64>,
    /// Shard the scan is on.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub shard: Option<i64>,
    /// Highlight fragments, kept as raw JSON.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub highlights: Option<serde_json::Value>,
}

impl GetLogsV2Meta {
    /// Whether the result is final. Exact comparison, like the Python SDK: anything but
    /// `Complete` means re-issue the request.
    pub fn is_complete(&self) -> bool {
        self.progress == crate::header::PROGRESS_COMPLETE
    }
}

/// GetLogsV2 response body: `{"meta": {...}, "data": [{...}, ...]}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetLogsV2Response {
    /// Query metadata.
    pub meta: GetLogsV2Meta,
    /// Result rows; every value a string.
    #[serde(default)]
    pub data: Vec<LogRow>,
}

/// One GetHistograms bucket (§3.4); unlike GetLogs, these are JSON numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramEntry {
    /// Bucket start, unix seconds.
    pub from: i64,
    /// Bucket end (exclusive), unix seconds.
    pub to: i64,
    /// Matching logs in the bucket.
    pub count: u64,
    /// `Complete` or `Incomplete` for this bucket.
    pub progress: String,
}

/// One ListShards entry (§3.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// Shard id.
    #[serde(rename = "shardID")]
    pub shard_id: u32,
    /// `readwrite` or `readonly`.
    pub status: String,
    /// First hash key owned, 32 lowercase hex.
    #[serde(rename = "inclusiveBeginKey")]
    pub inclusive_begin_key: String,
    /// First hash key not owned, 32 lowercase hex.
    #[serde(rename = "exclusiveEndKey")]
    pub exclusive_end_key: String,
    /// Creation time, unix seconds.
    #[serde(rename = "createTime", default)]
    pub create_time: i64,
}

/// GetCursor response body (§3.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorResponse {
    /// Base64 of a decimal sequence number.
    pub cursor: String,
}

/// Parses a boolean query parameter case-insensitively: Python sends `True`/`False`, Go sends
/// `true`/`false`. Anything else is `None`, so the caller picks the error code.
pub fn parse_bool_param(value: &str) -> Option<bool> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Number of hex digits in a shard hash key (128 bits).
pub const HASH_KEY_HEX_LEN: usize = 32;

/// Parses a 32-hex-digit hash key (any case) into its 128-bit value; anything else is
/// `ParameterInvalid`.
pub fn parse_hash_key(key_hex: &str) -> Result<u128, ProtocolError> {
    let well_formed =
        key_hex.len() == HASH_KEY_HEX_LEN && key_hex.bytes().all(|byte| byte.is_ascii_hexdigit());
    if !well_formed {
        return Err(ProtocolError::new(
            ErrorCode::ParameterInvalid,
            format!("hash key {key_hex:?} is not 32 hex digits"),
        ));
    }
    u128::from_str_radix(key_hex, 16).map_err(|error| {
        ProtocolError::new(
            ErrorCode::ParameterInvalid,
            format!("hash key {key_hex:?}: {error}"),
        )
    })
}

/// Formats a 128-bit hash key as SLS writes it: 32 lowercase hex digits.
pub fn format_hash_key(key: u128) -> String {
    format!("{key:032x}")
}

/// The routing key producers derive from a string: lowercase hex MD5 (§1.1).
pub fn hash_key_for(routing: &str) -> String {
    let digest = Md5::digest(routing.as_bytes());
    format_hash_key(u128::from_be_bytes(digest.into()))
}

/// Whether `key_hex` falls in a shard's `[begin, end)` range (§1.1, §3.6).
///
/// One exception to half-openness: the last shard ends at `ffff…ffff` (the largest key, not
/// 2^128), so that key would otherwise belong to no shard; an `end` of all `f`s includes it.
pub fn hash_key_in_range(
    key_hex: &str,
    begin_hex: &str,
    end_hex: &str,
) -> Result<bool, ProtocolError> {
    let key = parse_hash_key(key_hex)?;
    let begin = parse_hash_key(begin_hex)?;
    let end = parse_hash_key(end_hex)?;
    Ok(begin <= key && (key < end || (end == u128::MAX && key == u128::MAX)))
}

/// `[begin, end)` hash-key ranges for `shard_count` shards splitting the key space evenly,
/// as SLS creates them; the last range ends at `ffff…ffff`. `shard_count` 0 gives none.
pub fn even_shard_ranges(shard_count: u32) -> Vec<(String, String)> {
    let count = u128::from(shard_count);
    // floor(2^128 / count) without overflowing: 2^128 = u128::MAX + 1.
    let step = match count {
        0 | 1 => u128::MAX,
        _ => u128::MAX / count + u128::from(u128::MAX % count == count - 1),
    };
    (0..count)
        .map(|index| {
            let begin = step * index;
            let end = if index + 1 == count {
                u128::MAX
            } else {
                step * (index + 1)
            };
            (format_hash_key(begin), format_hash_key(end))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_logs_request_omits_unset_fields() {
        let request = GetLogsV2Request {
            from: 1_700_000_000,
            to: 1_700_000_600,
            query: Some("* | select 1".to_owned()),
            ..GetLogsV2Request::default()
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"from":1700000000,"to":1700000600,"query":"* | select 1"}"#
        );
    }

    #[test]
    fn get_logs_request_parses_the_python_body() {
        let python = r#"{"from":1700000000,"to":1700000600,"line":100,"offset":0,"powerSql":false,
            "accurate":true,"fromNs":0,"toNs":0,"query":"level:error","reverse":false,
            "forward":true,"somethingNew":[1,2]}"#;
        let request: GetLogsV2Request = serde_json::from_str(python).unwrap();
        assert_eq!(request.line, Some(100));
        assert_eq!(request.power_sql, Some(false));
        assert_eq!(request.from_ns, Some(0));
        assert_eq!(request.accurate, Some(true));
        assert_eq!(request.forward, Some(true));
        assert_eq!(request.query.as_deref(), Some("level:error"));
        assert_eq!(request.topic, None);
        let reencoded: GetLogsV2Request =
            serde_json::from_str(&serde_json::to_string(&request).unwrap()).unwrap();
        assert_eq!(reencoded, request);
        assert!(serde_json::from_str::<GetLogsV2Request>(r#"{"from":1}"#).is_err());
    }

    #[test]
    fn response_rows_keep_column_order_and_string_values() {
        let mut row = LogRow::new();
        row.insert("zeta", "1");
        row.insert("alpha", "null");
        row.insert("__time__", "1700000000");
        let response = GetLogsV2Response {
            meta: GetLogsV2Meta {
                progress: "Complete".to_owned(),
                count: 1,
                has_sql: Some(true),
                keys: Some(vec!["zeta".into(), "alpha".into(), "__time__".into()]),
                processed_rows: Some(10),
                elapsed_millisecond: Some(3),
                telementry_type: Some("logging".to_owned()),
                ..GetLogsV2Meta::default()
            },
            data: vec![row],
        };
        let json = serde_json::to_string(&response).unwrap();
        assert_eq!(
            json,
            r#"{"meta":{"progress":"Complete","count":1,"processedRows":10,"elapsedMillisecond":3,"hasSQL":true,"keys":["zeta","alpha","__time__"],"telementryType":"logging"},"data":[{"zeta":"1","alpha":"null","__time__":"1700000000"}]}"#
        );
        let parsed: GetLogsV2Response = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed, response);
        assert!(parsed.meta.is_complete());
    }

    #[test]
    fn minimal_go_mock_body_parses() {
        let body = r#"{"meta":{"progress":"Complete","count":2,"hasSQL":false,"keys":[]},"data":[{"k":"v1"},{"k":"v2"}]}"#;
        let parsed: GetLogsV2Response = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.meta.count, 2);
        assert_eq!(parsed.meta.has_sql, Some(false));
        assert_eq!(parsed.data[1].get("k"), Some("v2"));
    }

    #[test]
    fn meta_is_lenient_about_types_and_unknown_fields() {
        let body = r#"{"meta":{"progress":"Incomplete","count":"7","processedRows":12345678901,
            "cpuSec":0.25,"cpuCores":2,"isAccurate":1,"mode":2,"terms":[{"key":"level","term":"error"}],
            "phraseQueryInfo":{"scanAll":true,"endTime":1700000000},"brandNew":{"x":1}},
            "data":[{"n":12,"missing":null,"s":"x","o":{"a":1}}]}"#;
        let parsed: GetLogsV2Response = serde_json::from_str(body).unwrap();
        let meta = &parsed.meta;
        assert!(!meta.is_complete());
        assert_eq!(meta.count, 0, "a string count is dropped, not fatal");
        assert_eq!(meta.processed_rows, Some(12_345_678_901));
        assert_eq!(meta.cpu_sec, Some(0.25));
        assert_eq!(meta.cpu_cores, Some(2.0));
        assert_eq!(meta.is_accurate, None);
        assert_eq!(meta.mode, Some(2));
        assert_eq!(meta.terms.as_ref().unwrap()[0].term, "error");
        assert_eq!(
            meta.phrase_query_info.as_ref().unwrap().end_time,
            Some(1_700_000_000)
        );
        let row = &parsed.data[0];
        assert_eq!(
            row.iter().collect::<Vec<_>>(),
            vec![
                ("n", "12"),
                ("missing", "null"),
                ("s", "x"),
                ("o", r#"{"a":1}"#)
            ]
        );
    }

    #[test]
    fn duplicate_row_keys_keep_first_position_and_last_value() {
        let row: LogRow = serde_json::from_str(r#"{"a":"1","b":"2","a":"3"}"#).unwrap();
        assert_eq!(row.iter().collect::<Vec<_>>(), vec![("a", "3"), ("b", "2")]);
        assert_eq!(row.len(), 2);
    }

    #[test]
    fn histogram_shard_and_cursor_wire_names() {
        let histogram: Vec<HistogramEntry> = serde_json::from_str(
            r#"[{"from":1700000000,"to":1700000060,"count":3,"progress":"Complete"}]"#,
        )
        .unwrap();
        assert_eq!(histogram[0].count, 3);

        let shard = ShardEntry {
            shard_id: 0,
            status: "readwrite".to_owned(),
            inclusive_begin_key: format_hash_key(0),
            exclusive_end_key: format_hash_key(u128::MAX),
            create_time: 1_453_949_705,
        };
        let json = serde_json::to_string(&shard).unwrap();
        assert_eq!(
            json,
            r#"{"shardID":0,"status":"readwrite","inclusiveBeginKey":"00000000000000000000000000000000","exclusiveEndKey":"ffffffffffffffffffffffffffffffff","createTime":1453949705}"#
        );
        assert_eq!(serde_json::from_str::<ShardEntry>(&json).unwrap(), shard);

        let cursor: CursorResponse =
            serde_json::from_str(r#"{"cursor":"MTQ0NzI5OTYwNjg5NjYzMjM1Ng=="}"#).unwrap();
        assert_eq!(cursor.cursor, "MTQ0NzI5OTYwNjg5NjYzMjM1Ng==");
    }

    #[test]
    fn bool_params_are_case_insensitive() {
        assert_eq!(parse_bool_param("True"), Some(true));
        assert_eq!(parse_bool_param("true"), Some(true));
        assert_eq!(parse_bool_param("FALSE"), Some(false));
        assert_eq!(parse_bool_param("False"), Some(false));
        assert_eq!(parse_bool_param("1"), None);
        assert_eq!(parse_bool_param(""), None);
    }

    #[test]
    fn hash_keys_route_to_half_open_ranges() {
        let ranges = even_shard_ranges(2);
        assert_eq!(
            ranges,
            vec![
                (
                    "00000000000000000000000000000000".to_owned(),
                    "80000000000000000000000000000000".to_owned()
                ),
                (
                    "80000000000000000000000000000000".to_owned(),
                    "ffffffffffffffffffffffffffffffff".to_owned()
                ),
            ]
        );
        let (first_begin, first_end) = &ranges[0];
        let (second_begin, second_end) = &ranges[1];
        let boundary = "80000000000000000000000000000000";
        assert!(!hash_key_in_range(boundary, first_begin, first_end).unwrap());
        assert!(hash_key_in_range(boundary, second_begin, second_end).unwrap());
        assert!(
            hash_key_in_range("14D2F850AD6EA48E46E4547EDBBB27E0", first_begin, first_end).unwrap()
        );
        let max = "ffffffffffffffffffffffffffffffff";
        assert!(hash_key_in_range(max, second_begin, second_end).unwrap());
        assert!(!hash_key_in_range(max, first_begin, first_end).unwrap());

        assert_eq!(
            hash_key_in_range("abc", first_begin, first_end)
                .unwrap_err()
                .code,
            ErrorCode::ParameterInvalid
        );
        assert!(parse_hash_key("+4d2f850ad6ea48e46e4547edbbb27e0").is_err());
        assert!(even_shard_ranges(0).is_empty());
    }

    #[test]
    fn every_key_lands_in_exactly_one_even_range() {
        for shard_count in [1u32, 3, 7] {
            let ranges = even_shard_ranges(shard_count);
            for routing in ["a", "b", "project-1", "event-42", ""] {
                let key = hash_key_for(routing);
                let owners = ranges
                    .iter()
                    .filter(|(begin, end)| hash_key_in_range(&key, begin, end).unwrap())
                    .count();
                assert_eq!(owners, 1, "{routing:?} with {shard_count} shards");
            }
        }
        assert_eq!(hash_key_for(""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    proptest::proptest! {
        #[test]
        fn rows_round_trip_in_order(columns in proptest::collection::vec(("\\PC{1,8}", "\\PC{0,16}"), 0..10)) {
            let row: LogRow = columns.into_iter().collect();
            let json = serde_json::to_string(&row).unwrap();
            proptest::prop_assert_eq!(serde_json::from_str::<LogRow>(&json).unwrap(), row);
        }
    }
}
