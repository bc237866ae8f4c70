//! Header names and fixed values of the SLS REST API, all lowercase.
//!
//! Lowercase because HTTP names are case-insensitive on the way in but the Python SDK looks up
//! response headers case-sensitively as `x-log-count` or `X-Log-Count` only (§6.3), so a server
//! must emit exactly these spellings.

/// `Authorization`: `LOG <AccessKeyId>:<Signature>`.
pub const AUTHORIZATION: &str = "authorization";
/// `Content-MD5`: uppercase hex MD5 of the sent body.
pub const CONTENT_MD5: &str = "content-md5";
/// `Content-Type`.
pub const CONTENT_TYPE: &str = "content-type";
/// `Content-Length`: length of the sent (compressed) body.
pub const CONTENT_LENGTH: &str = "content-length";
/// `Date`: RFC 1123 GMT, always required.
pub const DATE: &str = "date";
/// `Host`: `{project}.{endpoint}`; the project is its first label.
pub const HOST: &str = "host";
/// `Accept-Encoding`: which codec a GetLogsV2/PullLogs response may use.
pub const ACCEPT_ENCODING: &str = "accept-encoding";

/// Uncompressed body length; `0` for bodiless requests.
pub const BODY_RAW_SIZE: &str = "x-log-bodyrawsize";
/// Body codec: `lz4`, `zstd` or `deflate`; absent means uncompressed.
pub const COMPRESS_TYPE: &str = "x-log-compresstype";
/// API version header.
pub const API_VERSION: &str = "x-log-apiversion";
/// The only API version in use.
pub const API_VERSION_VALUE: &str = "0.6.0";
/// Signature method header.
pub const SIGNATURE_METHOD: &str = "x-log-signaturemethod";
/// Signature v1 method name.
pub const SIGNATURE_METHOD_VALUE: &str = "hmac-sha1";
/// Optional date that replaces `Date` in the string-to-sign and is itself never signed.
pub const LOG_DATE: &str = "x-log-date";
/// STS token; an `x-acs-*` header, so it is signed.
pub const SECURITY_TOKEN: &str = "x-acs-security-token";
/// Java's batch PutLogs marker header.
pub const MODE: &str = "x-log-mode";
/// Value of [`MODE`] meaning the body is a `LogGroupList`.
pub const MODE_BATCH_GROUP: &str = "batch_group";

/// Response: request id, on every response including errors.
pub const REQUEST_ID: &str = "x-log-requestid";
/// Response: `Complete` or `Incomplete` (GetLogs v1, GetHistograms).
pub const PROGRESS: &str = "x-log-progress";
/// Response: rows (GetLogs), or LogGroups (PullLogs).
pub const COUNT: &str = "x-log-count";
/// Response: rows scanned.
pub const PROCESSED_ROWS: &str = "x-log-processed-rows";
/// Response: query time in milliseconds.
pub const ELAPSED_MILLISECOND: &str = "x-log-elapsed-millisecond";
/// Response: `true` if the query had an SQL part.
pub const HAS_SQL: &str = "x-log-has-sql";
/// Response: the search part of the query.
pub const WHERE_QUERY: &str = "x-log-where-query";
/// Response: the SQL part of the query.
pub const AGG_QUERY: &str = "x-log-agg-query";
/// Response: CPU seconds used.
pub const CPU_SEC: &str = "x-log-cpu-sec";
/// Response: CPU cores used.
pub const CPU_CORES: &str = "x-log-cpu-cores";
/// Response: JSON query details (keys, terms, mode, ...).
pub const QUERY_INFO: &str = "x-log-query-info";
/// Response (PullLogs): the next cursor.
pub const CURSOR: &str = "x-log-cursor";
/// Response (PullLogs): cursor of the last group read.
pub const READ_LAST_CURSOR: &str = "x-log-read-last-cursor";

/// `Content-Type` of PutLogs bodies and PullLogs responses.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";
/// `Content-Type` of JSON bodies.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// `progress` value of a finished query; compared case-sensitively by the Python SDK.
pub const PROGRESS_COMPLETE: &str = "Complete";
/// `progress` value of a partial result: re-issue the identical request.
pub const PROGRESS_INCOMPLETE: &str = "Incomplete";
