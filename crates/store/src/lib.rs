//! The `LogStore` seam.
//!
//! Everything in sentry-sls reads and writes one thing: an SLS logstore. This
//! crate defines what a store offers (logstore and index management, appends,
//! SLS queries) and the types that cross the seam, in SLS's own terms. The
//! embedded store (`sentry-sls-local`) and the SLS client (`sentry-sls-client`)
//! implement it; the binary picks one. It owns no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod error;

pub use error::{StoreError, StoreErrorCode};

/// One log: SLS's `Log` message (time plus string key/value contents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Log time, unix seconds (`__time__`).
    pub time: u32,
    /// Nanosecond part of the log time (`__time_ns_part__`), 0 when unset.
    pub time_ns: u32,
    /// Key/value contents, in order.
    pub contents: Vec<(String, String)>,
}

/// A batch of logs sharing topic, source and tags: SLS's `LogGroup`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogBatch {
    /// `__topic__`.
    pub topic: String,
    /// `__source__`.
    pub source: String,
    /// `__tag__:<key>` values.
    pub tags: Vec<(String, String)>,
    /// The logs.
    pub logs: Vec<LogRecord>,
}

/// Names a write for idempotent commit. The batches of one `stream` carry
/// strictly increasing positions; a store that supports it applies a batch
/// whose position is not beyond the last one it applied for the stream as a
/// no-op, so a writer that re-sends after a crash commits each batch once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WriteKey {
    /// The writer (e.g. one ingest spool).
    pub stream: String,
    /// Where the batch ends in the writer's own order.
    pub position: (u64, u64),
}

/// Type of an indexed field, as SLS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Tokenised text; `varchar` in SQL.
    Text,
    /// 64-bit integer; `bigint` in SQL.
    Long,
    /// Float; `double` in SQL.
    Double,
    /// JSON text; sub-keys reachable with `json_extract*`.
    Json,
}

/// Index configuration of one field (`keys.<name>` in SLS's index body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldIndex {
    /// Field type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether SQL may use the field ("enable analytics").
    #[serde(default)]
    pub doc_value: bool,
    /// Case-sensitive search matching.
    #[serde(default, rename = "caseSensitive")]
    pub case_sensitive: bool,
    /// Token delimiters for text search.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token: Vec<String>,
    /// SQL alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Unknown options, kept verbatim.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl FieldIndex {
    /// A field index usable by SQL (`doc_value`), case-insensitive, with
    /// the default tokens and no alias.
    pub fn analytic(field_type: FieldType) -> Self {
        FieldIndex {
            field_type,
            doc_value: true,
            case_sensitive: false,
            token: Vec::new(),
            alias: None,
            other: BTreeMap::new(),
        }
    }
}

/// A logstore's index: full-text settings and per-field indexes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IndexConfig {
    /// Full-text index (`line`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<serde_json::Value>,
    /// Field indexes.
    #[serde(default)]
    pub keys: BTreeMap<String, FieldIndex>,
    /// Unknown options (`max_text_len`, `ttl`, …), kept verbatim.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A logstore's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogstoreConfig {
    /// Logstore name.
    #[serde(rename = "logstoreName")]
    pub name: String,
    /// Retention in days.
    pub ttl: u32,
    /// Shard count.
    #[serde(rename = "shardCount", default = "one")]
    pub shard_count: u32,
    /// Unknown options, kept verbatim.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

fn one() -> u32 {
    1
}

/// A query over `[from, to)`: SLS's `search [| SQL]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryRequest {
    /// Start, unix seconds, inclusive.
    pub from: i64,
    /// End, unix seconds, exclusive.
    pub to: i64,
    /// `search [| sql]`; empty means `*`.
    pub query: String,
    /// Rows per page for search-only queries (max 100).
    pub line: u32,
    /// Offset for search-only queries.
    pub offset: u32,
    /// Newest first.
    pub reverse: bool,
}

/// Whether a query saw all the data it should have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Progress {
    /// All data was considered.
    Complete,
    /// Partial: re-issue the same query.
    Incomplete,
}

/// A query result in SLS's terms: every value a string (NULL is `"null"`).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// Whether the answer is complete.
    pub progress: Progress,
    /// Column names in order (SQL queries) or the union of keys (searches).
    pub keys: Vec<String>,
    /// Rows as ordered key/value lists.
    pub rows: Vec<Vec<(String, String)>>,
    /// Rows the query scanned.
    pub processed_rows: u64,
    /// Whether the query had an SQL part.
    pub has_sql: bool,
}

/// A shard of a logstore (SLS's ListShards entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// Shard id.
    #[serde(rename = "shardID")]
    pub id: u32,
    /// `readwrite` or `readonly`.
    pub status: String,
    /// First hash key of the range (32 hex chars).
    #[serde(rename = "inclusiveBeginKey")]
    pub begin_key: String,
    /// End of the range, exclusive.
    #[serde(rename = "exclusiveEndKey")]
    pub end_key: String,
    /// Creation time, unix seconds.
    #[serde(rename = "createTime")]
    pub create_time: i64,
}

/// What every log store offers. All methods name the logstore explicitly;
/// the project is fixed when the store is built.
#[async_trait::async_trait]
pub trait LogStore: Send + Sync {
    /// Creates a logstore; `LogStoreAlreadyExist` if it exists.
    async fn create_logstore(&self, config: LogstoreConfig) -> Result<(), StoreError>;
    /// Reads a logstore's settings.
    async fn get_logstore(&self, logstore: &str) -> Result<LogstoreConfig, StoreError>;
    /// Replaces a logstore's settings.
    async fn update_logstore(&self, config: LogstoreConfig) -> Result<(), StoreError>;
    /// Creates the index; `IndexAlreadyExist` if it exists.
    async fn create_index(&self, logstore: &str, index: IndexConfig) -> Result<(), StoreError>;
    /// Reads the index; `IndexConfigNotExist` if none.
    async fn get_index(&self, logstore: &str) -> Result<IndexConfig, StoreError>;
    /// Replaces the index (affects data written afterwards, as in SLS).
    async fn update_index(&self, logstore: &str, index: IndexConfig) -> Result<(), StoreError>;
    /// Appends logs; returns once they are durable.
    async fn put_logs(&self, logstore: &str, batch: LogBatch) -> Result<(), StoreError>;
    /// Appends logs at most once per `key` (see [`WriteKey`]); returns
    /// whether they were applied (`false`: an earlier write with this key
    /// already was). Stores without idempotent commit (SLS itself) append
    /// every time: at-least-once.
    async fn put_logs_once(
        &self,
        logstore: &str,
        batch: LogBatch,
        key: WriteKey,
    ) -> Result<bool, StoreError> {
        let _ = key;
        self.put_logs(logstore, batch).await.map(|()| true)
    }
    /// Runs an SLS query.
    async fn get_logs(
        &self,
        logstore: &str,
        request: QueryRequest,
    ) -> Result<QueryResult, StoreError>;
    /// Lists shards.
    async fn list_shards(&self, logstore: &str) -> Result<Vec<ShardInfo>, StoreError>;
}
