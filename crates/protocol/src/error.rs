//! SLS error codes, their HTTP statuses, the retry policy, and the JSON error body (§5).
//!
//! Every failure in this crate is a [`ProtocolError`] carrying the SLS `errorCode` a real
//! server would answer with, so the fake server can put it on the wire unchanged and the
//! client can decide about retries from the same type.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Defines [`ErrorCode`] once from a `Variant => "wire name"` list, so that `as_str` and
/// `parse` can never drift apart.
macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident => $wire:literal, )*) => {
        /// An SLS `errorCode` (§5.2). Unknown codes are kept verbatim in [`ErrorCode::Other`]
        /// so that a newer server never makes the client fail to parse an error body.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// Any code this crate does not know, spelled exactly as received.
            Other(String),
        }

        impl ErrorCode {
            /// The wire spelling, e.g. `"PostBodyInvalid"`.
            pub fn as_str(&self) -> &str {
                match self {
                    $( ErrorCode::$variant => $wire, )*
                    ErrorCode::Other(code) => code,
                }
            }

            /// Parses a wire code; never fails because unknown codes become [`ErrorCode::Other`].
            pub fn parse(code: &str) -> ErrorCode {
                match code {
                    $( $wire => ErrorCode::$variant, )*
                    // The common-codes table spells it with an `s`; every SDK and API page does not.
                    "ProjectNotExists" => ErrorCode::ProjectNotExist,
                    other => ErrorCode::Other(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    /// `Content-Type` header missing.
    MissingContentType => "MissingContentType",
    /// `x-log-bodyrawsize` header missing.
    MissingBodyRawSize => "MissingBodyRawSize",
    /// `x-log-bodyrawsize` is not a number or does not match the body.
    InvalidBodyRawSize => "InvalidBodyRawSize",
    /// `x-log-compresstype` is not one of `lz4`, `zstd`, `deflate`.
    InvalidCompressType => "InvalidCompressType",
    /// `Host` header missing.
    MissingHost => "MissingHost",
    /// `Date` header missing.
    MissingDate => "MissingDate",
    /// `Date` is not RFC 1123.
    InvalidDateFormat => "InvalidDateFormat",
    /// `x-log-apiversion` missing.
    MissingAPIVersion => "MissingAPIVersion",
    /// `x-log-apiversion` is not `0.6.0`.
    InvalidAPIVersion => "InvalidAPIVersion",
    /// No AccessKeyId in `Authorization` (the real spelling drops the `ing`).
    MissAccessKeyId => "MissAccessKeyId",
    /// `x-log-signaturemethod` missing.
    MissingSignatureMethod => "MissingSignatureMethod",
    /// `x-log-signaturemethod` is not `hmac-sha1`.
    InvalidSignatureMethod => "InvalidSignatureMethod",
    /// `Date` differs from the server clock by more than 15 minutes.
    RequestTimeTooSkewed => "RequestTimeTooSkewed",
    /// The PutLogs body is not a valid LogGroup or breaks a content rule.
    PostBodyInvalid => "PostBodyInvalid",
    /// A log time is outside the accepted window.
    InvalidTimestamp => "InvalidTimestamp",
    /// A string in the body is not UTF-8.
    InvalidEncoding => "InvalidEncoding",
    /// A log key is empty or reserved.
    InvalidKey => "InvalidKey",
    /// The raw (uncompressed) body is larger than allowed.
    PostBodyTooLarge => "PostBodyTooLarge",
    /// The body does not decompress to `x-log-bodyrawsize` bytes.
    PostBodyUncompressError => "PostBodyUncompressError",
    /// `from`/`to` are not a valid half-open range.
    InvalidTimeRange => "InvalidTimeRange",
    /// The query string does not parse.
    InvalidQueryString => "InvalidQueryString",
    /// `offset` is invalid.
    InvalidOffset => "InvalidOffset",
    /// `line` is invalid.
    InvalidLine => "InvalidLine",
    /// `reverse` is invalid.
    InvalidReverse => "InvalidReverse",
    /// The logstore has no index, so it cannot be queried.
    IndexConfigNotExist => "IndexConfigNotExist",
    /// Generic parameter error; also SQL parse/semantic errors and bad cursors.
    ParameterInvalid => "ParameterInvalid",
    /// The shard id does not exist.
    ShardNotExist => "ShardNotExist",
    /// The cursor is malformed or out of range.
    InvalidCursor => "InvalidCursor",
    /// The logstore has no shard.
    LogStoreWithoutShard => "LogStoreWithoutShard",
    /// The request signature does not match.
    SignatureNotMatch => "SignatureNotMatch",
    /// The AccessKey or STS token is not allowed, invalid or expired.
    Unauthorized => "Unauthorized",
    /// The AccessKeyId is unknown.
    InvalidAccessKeyId => "InvalidAccessKeyId",
    /// Project write quota exceeded (throttling).
    WriteQuotaExceed => "WriteQuotaExceed",
    /// Shard write quota exceeded (throttling).
    ShardWriteQuotaExceed => "ShardWriteQuotaExceed",
    /// Project read quota exceeded (throttling).
    ReadQuotaExceed => "ReadQuotaExceed",
    /// Shard read quota exceeded (throttling).
    ShardReadQuotaExceed => "ShardReadQuotaExceed",
    /// Project-level quota exceeded (throttling).
    ProjectQuotaExceed => "ProjectQuotaExceed",
    /// The project (first label of `Host`) does not exist.
    ProjectNotExist => "ProjectNotExist",
    /// The logstore does not exist.
    LogStoreNotExist => "LogStoreNotExist",
    /// `Content-Length` missing.
    MissingContentLength => "MissingContentLength",
    /// `Content-Type` is not acceptable for this API.
    InvalidContentType => "InvalidContentType",
    /// Server-side failure.
    InternalServerError => "InternalServerError",
    /// Server overloaded.
    ServerBusy => "ServerBusy",
    /// Client-synthesised: no response arrived in time (network or timeout).
    RequestTimeout => "RequestTimeout",
}

impl ErrorCode {
    /// The HTTP status a server answers with for this code (§5.2); unknown codes get 400.
    pub fn http_status(&self) -> u16 {
        match self {
            ErrorCode::ProjectNotExist | ErrorCode::LogStoreNotExist => 404,
            ErrorCode::SignatureNotMatch
            | ErrorCode::Unauthorized
            | ErrorCode::InvalidAccessKeyId => 401,
            code if code.is_quota_exceeded() => 403,
            ErrorCode::MissingContentLength => 411,
            ErrorCode::InvalidContentType => 415,
            ErrorCode::InternalServerError => 500,
            ErrorCode::ServerBusy => 503,
            // Client-synthesised; a server should never send it, but if one did it would be
            // the gateway-timeout status.
            ErrorCode::RequestTimeout => 504,
            _ => 400,
        }
    }

    /// True for the 403 throttling codes, including unknown `*QuotaExceed` ones, because
    /// those are the only 4xx errors worth retrying (§5.3).
    pub fn is_quota_exceeded(&self) -> bool {
        match self {
            ErrorCode::WriteQuotaExceed
            | ErrorCode::ShardWriteQuotaExceed
            | ErrorCode::ReadQuotaExceed
            | ErrorCode::ShardReadQuotaExceed
            | ErrorCode::ProjectQuotaExceed => true,
            ErrorCode::Other(code) => code.ends_with("QuotaExceed"),
            _ => false,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorCode {
    type Err = Infallible;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Ok(ErrorCode::parse(code))
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Ok(ErrorCode::parse(&code))
    }
}

/// The HTTP status to pass to [`is_retryable`] when no response arrived at all.
pub const NO_HTTP_STATUS: u16 = 0;

/// Whether a failed request should be retried, per the "Ours" policy of §5.3.
///
/// Retried: no response ([`NO_HTTP_STATUS`] or [`ErrorCode::RequestTimeout`]), any 5xx,
/// `InternalServerError`/`ServerBusy`, and 403 quota codes. Never retried: 400, 401, 404,
/// whatever the code says, because re-sending the same request cannot fix them (401 needs
/// a credential refresh first, which is the caller's business).
pub fn is_retryable(http_status: u16, code: &ErrorCode) -> bool {
    if matches!(http_status, 400 | 401 | 404) {
        return false;
    }
    if http_status == NO_HTTP_STATUS || http_status >= 500 {
        return true;
    }
    match code {
        ErrorCode::RequestTimeout | ErrorCode::InternalServerError | ErrorCode::ServerBusy => true,
        quota if quota.is_quota_exceeded() => http_status == 403,
        _ => false,
    }
}

/// A protocol failure: the SLS code to answer with and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProtocolError {
    /// The SLS `errorCode`.
    pub code: ErrorCode,
    /// The `errorMessage`, lowercase prose.
    pub message: String,
}

impl ProtocolError {
    /// Builds an error from a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status a server answers with for this error.
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// The JSON body a server sends for this error.
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            error_code: self.code.clone(),
            error_message: self.message.clone(),
        }
    }
}

impl From<ErrorBody> for ProtocolError {
    fn from(body: ErrorBody) -> Self {
        ProtocolError {
            code: body.error_code,
            message: body.error_message,
        }
    }
}

/// The JSON error body `{"errorCode": "...", "errorMessage": "..."}` (§5.1).
///
/// Both fields are required on deserialize, like the official SDKs: a body missing one is
/// not an SLS error body and the caller should treat it as an opaque failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The SLS code, e.g. `SignatureNotMatch`.
    #[serde(rename = "errorCode")]
    pub error_code: ErrorCode,
    /// Free-form text.
    #[serde(rename = "errorMessage")]
    pub error_message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_wire_spelling() {
        let codes = [
            ErrorCode::PostBodyInvalid,
            ErrorCode::MissAccessKeyId,
            ErrorCode::MissingAPIVersion,
            ErrorCode::ShardWriteQuotaExceed,
            ErrorCode::RequestTimeout,
            ErrorCode::Other("SomethingNew".to_owned()),
        ];
        for code in codes {
            assert_eq!(ErrorCode::parse(code.as_str()), code);
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code.clone()));
        }
    }

    #[test]
    fn legacy_project_not_exists_spelling_is_accepted() {
        assert_eq!(
            ErrorCode::parse("ProjectNotExists"),
            ErrorCode::ProjectNotExist
        );
    }

    #[test]
    fn http_statuses_follow_the_code_table() {
        let expected = [
            (ErrorCode::ProjectNotExist, 404),
            (ErrorCode::LogStoreNotExist, 404),
            (ErrorCode::SignatureNotMatch, 401),
            (ErrorCode::Unauthorized, 401),
            (ErrorCode::InvalidAccessKeyId, 401),
            (ErrorCode::WriteQuotaExceed, 403),
            (ErrorCode::ShardReadQuotaExceed, 403),
            (ErrorCode::ProjectQuotaExceed, 403),
            (ErrorCode::MissingContentLength, 411),
            (ErrorCode::InvalidContentType, 415),
            (ErrorCode::InternalServerError, 500),
            (ErrorCode::ServerBusy, 503),
            (ErrorCode::PostBodyInvalid, 400),
            (ErrorCode::RequestTimeTooSkewed, 400),
            (ErrorCode::ParameterInvalid, 400),
            (ErrorCode::Other("Whatever".to_owned()), 400),
        ];
        for (code, status) in expected {
            assert_eq!(code.http_status(), status, "{code}");
        }
    }

    #[test]
    fn retry_policy_matches_our_column() {
        assert!(is_retryable(NO_HTTP_STATUS, &ErrorCode::RequestTimeout));
        assert!(is_retryable(500, &ErrorCode::InternalServerError));
        assert!(is_retryable(503, &ErrorCode::ServerBusy));
        assert!(is_retryable(
            502,
            &ErrorCode::Other("BadGateway".to_owned())
        ));
        assert!(is_retryable(403, &ErrorCode::WriteQuotaExceed));
        assert!(is_retryable(403, &ErrorCode::ShardWriteQuotaExceed));
        assert!(is_retryable(
            403,
            &ErrorCode::Other("ConcurrencyQuotaExceed".to_owned())
        ));

        assert!(!is_retryable(400, &ErrorCode::PostBodyInvalid));
        assert!(!is_retryable(400, &ErrorCode::ParameterInvalid));
        assert!(!is_retryable(400, &ErrorCode::InternalServerError));
        assert!(!is_retryable(401, &ErrorCode::SignatureNotMatch));
        assert!(!is_retryable(401, &ErrorCode::Unauthorized));
        assert!(!is_retryable(404, &ErrorCode::ProjectNotExist));
        assert!(!is_retryable(403, &ErrorCode::Unauthorized));
    }

    #[test]
    fn error_body_uses_exact_json_names_and_requires_both() {
        let error = ProtocolError::new(ErrorCode::SignatureNotMatch, "signature mismatch");
        let json = serde_json::to_string(&error.to_body()).unwrap();
        assert_eq!(
            json,
            r#"{"errorCode":"SignatureNotMatch","errorMessage":"signature mismatch"}"#
        );
        let parsed: ErrorBody = serde_json::from_str(&json).unwrap();
        assert_eq!(ProtocolError::from(parsed), error);
        assert_eq!(error.http_status(), 401);

        assert!(serde_json::from_str::<ErrorBody>(r#"{"errorCode":"X"}"#).is_err());
        let unknown: ErrorBody =
            serde_json::from_str(r#"{"errorCode":"NewCode","errorMessage":"m","extra":1}"#)
                .unwrap();
        assert_eq!(unknown.error_code, ErrorCode::Other("NewCode".to_owned()));
    }

    #[test]
    fn display_shows_code_then_message() {
        let error = ProtocolError::new(ErrorCode::InvalidKey, "empty key");
        assert_eq!(error.to_string(), "InvalidKey: empty key");
    }
}
