//! The Alibaba Cloud SLS wire protocol, as spoken by both sides of sentry-sls: the HTTP
//! client for real SLS and the local fake (`sls-local`) that verifies what official SDKs send.
//!
//! Owns (spec: `reference/sls-protocol.md`):
//! * [`proto`]: the proto2 `LogGroup` family and the SLS content rules for PutLogs bodies;
//! * [`compress`](mod@compress): `x-log-compresstype` codecs (raw LZ4 block, zstd, zlib)
//!   with bounded decompression;
//! * [`sign`]: request signature v1 (string-to-sign, HMAC-SHA1, verification), query
//!   decoding and `Date` handling;
//! * [`error`]: SLS error codes, their HTTP statuses, the retry policy and the JSON error body;
//! * [`model`]: GetLogsV2 / histogram / shard JSON models, hash-key shard routing;
//! * [`header`]: header names and fixed values.
//!
//! Does not own: HTTP, I/O, clocks or async. Every function is pure; callers pass in the
//! current time, the raw header values and the body bytes. Signature v4, URL routing and
//! size/time-window policies belong to the client and server crates.

pub mod compress;
pub mod error;
pub mod header;
pub mod model;
pub mod proto;
pub mod sign;

pub use compress::{compress, decompress, CompressType};
pub use error::{is_retryable, ErrorBody, ErrorCode, ProtocolError};
pub use model::{
    GetLogsV2Meta, GetLogsV2Request, GetLogsV2Response, HistogramEntry, LogRow, ShardEntry,
};
pub use proto::{
    decode_log_group, decode_log_group_list, validate_log_group, Log, LogContent, LogGroup,
    LogGroupList, LogTag,
};
pub use sign::SignatureInput;
