//! From HTTP answers and transport failures to [`StoreError`]s, keeping the SLS code the
//! retry policy needs.
//!
//! Choices (documented on the crate):
//! * an SLS error body `{"errorCode","errorMessage"}` gives its code and message verbatim;
//! * any other non-2xx body is reported with the HTTP status in the message, code
//!   `ServerBusy` for 503, `InternalServerError` for other 5xx and `BadResponse` otherwise;
//! * a timeout is `RequestTimeout`; any other transport failure (refused, reset, body cut
//!   off) is `InternalServerError` with a message starting `network error`;
//! * a success body that cannot be decoded is `BadResponse`.

use sentry_sls_protocol::error::NO_HTTP_STATUS;
use sentry_sls_protocol::{ErrorBody, ErrorCode};
use sentry_sls_store::{StoreError, StoreErrorCode};

/// Code of a response this client could not make sense of.
pub(crate) const BAD_RESPONSE: &str = "BadResponse";

/// How much of an unparseable error body goes into the message.
const BODY_EXCERPT_CHARS: usize = 200;

/// A failed attempt: the store error plus what the retry policy looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// HTTP status, or [`NO_HTTP_STATUS`] when no response arrived.
    pub(crate) status: u16,
    /// The SLS code, as the retry policy classifies it.
    pub(crate) code: ErrorCode,
    /// What the caller eventually sees.
    pub(crate) error: StoreError,
}

impl Failure {
    /// Whether §5.3 says to try again.
    pub(crate) fn is_retryable(&self) -> bool {
        sentry_sls_protocol::is_retryable(self.status, &self.code)
    }
}

/// Maps a protocol code onto the store's vocabulary, keeping unknown codes verbatim.
pub(crate) fn store_code(code: &ErrorCode) -> StoreErrorCode {
    match code {
        ErrorCode::ProjectNotExist => StoreErrorCode::ProjectNotExist,
        ErrorCode::LogStoreNotExist => StoreErrorCode::LogStoreNotExist,
        ErrorCode::IndexConfigNotExist => StoreErrorCode::IndexConfigNotExist,
        ErrorCode::ParameterInvalid => StoreErrorCode::ParameterInvalid,
        ErrorCode::InvalidTimeRange => StoreErrorCode::InvalidTimeRange,
        ErrorCode::PostBodyInvalid => StoreErrorCode::PostBodyInvalid,
        ErrorCode::WriteQuotaExceed => StoreErrorCode::WriteQuotaExceed,
        ErrorCode::ReadQuotaExceed => StoreErrorCode::ReadQuotaExceed,
        ErrorCode::SignatureNotMatch => StoreErrorCode::SignatureNotMatch,
        ErrorCode::Unauthorized => StoreErrorCode::Unauthorized,
        ErrorCode::InternalServerError => StoreErrorCode::InternalServerError,
        ErrorCode::ServerBusy => StoreErrorCode::ServerBusy,
        ErrorCode::RequestTimeout => StoreErrorCode::RequestTimeout,
        ErrorCode::Other(other) => match other.as_str() {
            "LogStoreAlreadyExist" => StoreErrorCode::LogStoreAlreadyExist,
            "IndexAlreadyExist" => StoreErrorCode::IndexAlreadyExist,
            _ => StoreErrorCode::Other(other.clone()),
        },
        known => StoreErrorCode::Other(known.as_str().to_owned()),
    }
}

/// The failure a non-2xx response stands for.
pub(crate) fn failure_from_response(
    status: u16,
    request_id: Option<String>,
    body: &[u8],
) -> Failure {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => (parsed.error_code, parsed.error_message),
        Err(_) => {
            let code = match status {
                503 => ErrorCode::ServerBusy,
                500..=599 => ErrorCode::InternalServerError,
                _ => ErrorCode::Other(BAD_RESPONSE.to_owned()),
            };
            let excerpt: String = String::from_utf8_lossy(body)
                .chars()
                .take(BODY_EXCERPT_CHARS)
                .collect();
            let message = format!("http status {status} without an sls error body: {excerpt:?}");
            (code, message)
        }
    };
    Failure {
        status,
        error: StoreError {
            code: store_code(&code),
            message,
            request_id,
        },
        code,
    }
}

/// The failure a transport error stands for: no response, so always retryable unless the
/// request could not even be built (a bad header value, an https URL without TLS).
pub(crate) fn failure_from_transport(error: &reqwest::Error) -> Failure {
    if error.is_builder() {
        let hint = if error.to_string().contains("scheme") {
            " (an https endpoint needs a TLS backend enabled in reqwest)"
        } else {
            ""
        };
        return Failure {
            status: 400,
            code: ErrorCode::ParameterInvalid,
            error: StoreError::invalid(format!("request could not be built: {error}{hint}")),
        };
    }
    let (code, message) = if error.is_timeout() {
        (
            ErrorCode::RequestTimeout,
            format!("request timed out: {error}"),
        )
    } else {
        (
            ErrorCode::InternalServerError,
            format!("network error: {}", error_chain(error)),
        )
    };
    Failure {
        status: NO_HTTP_STATUS,
        error: StoreError::new(store_code(&code), message),
        code,
    }
}

/// `error` and its sources, so "connection refused" is visible behind reqwest's summary.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A `BadResponse` error for a success answer that could not be decoded.
pub(crate) fn bad_response(message: impl Into<String>, request_id: Option<String>) -> StoreError {
    StoreError {
        code: StoreErrorCode::Other(BAD_RESPONSE.to_owned()),
        message: message.into(),
        request_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sls_error_bodies_keep_code_message_and_request_id() {
        let body = br#"{"errorCode":"SignatureNotMatch","errorMessage":"signature abc not match"}"#;
        let failure = failure_from_response(401, Some("req-1".to_owned()), body);
        assert_eq!(failure.code, ErrorCode::SignatureNotMatch);
        assert!(!failure.is_retryable());
        assert_eq!(failure.error.code, StoreErrorCode::SignatureNotMatch);
        assert_eq!(failure.error.message, "signature abc not match");
        assert_eq!(failure.error.request_id.as_deref(), Some("req-1"));
        assert_eq!(
            failure.error.to_string(),
            "SignatureNotMatch: signature abc not match (request id req-1)"
        );
    }

    #[test]
    fn retry_classification_follows_the_policy() {
        let error = |status: u16, code: &str| {
            let body = format!(r#"{{"errorCode":"{code}","errorMessage":"m"}}"#);
            failure_from_response(status, None, body.as_bytes())
        };
        assert!(error(500, "InternalServerError").is_retryable());
        assert!(error(503, "ServerBusy").is_retryable());
        assert!(error(403, "WriteQuotaExceed").is_retryable());
        assert!(error(403, "ShardWriteQuotaExceed").is_retryable());
        assert!(!error(400, "ParameterInvalid").is_retryable());
        assert!(!error(401, "Unauthorized").is_retryable());
        assert!(!error(404, "LogStoreNotExist").is_retryable());
        assert!(!error(403, "Unauthorized").is_retryable());
    }

    #[test]
    fn non_json_bodies_name_the_status() {
        let gateway = failure_from_response(502, None, b"<html>Bad Gateway</html>");
        assert_eq!(gateway.error.code, StoreErrorCode::InternalServerError);
        assert!(
            gateway.error.message.contains("502"),
            "{}",
            gateway.error.message
        );
        assert!(gateway.error.message.contains("Bad Gateway"));
        assert!(gateway.is_retryable());

        let busy = failure_from_response(503, None, b"");
        assert_eq!(busy.error.code, StoreErrorCode::ServerBusy);

        let not_found = failure_from_response(404, Some("r".to_owned()), b"not found");
        assert_eq!(
            not_found.error.code,
            StoreErrorCode::Other("BadResponse".to_owned())
        );
        assert!(not_found.error.message.contains("404"));
        assert!(!not_found.is_retryable());

        let partial = failure_from_response(400, None, br#"{"errorCode":"X"}"#);
        assert_eq!(
            partial.error.code,
            StoreErrorCode::Other("BadResponse".into())
        );

        let long_body = "x".repeat(10_000);
        let long = failure_from_response(500, None, long_body.as_bytes());
        assert!(long.error.message.len() < 300);
    }

    #[test]
    fn codes_map_onto_the_store_vocabulary() {
        let cases = [
            ("ProjectNotExists", StoreErrorCode::ProjectNotExist),
            ("LogStoreNotExist", StoreErrorCode::LogStoreNotExist),
            ("LogStoreAlreadyExist", StoreErrorCode::LogStoreAlreadyExist),
            ("IndexAlreadyExist", StoreErrorCode::IndexAlreadyExist),
            ("IndexConfigNotExist", StoreErrorCode::IndexConfigNotExist),
            ("ParameterInvalid", StoreErrorCode::ParameterInvalid),
            ("InvalidTimeRange", StoreErrorCode::InvalidTimeRange),
            ("PostBodyInvalid", StoreErrorCode::PostBodyInvalid),
            ("WriteQuotaExceed", StoreErrorCode::WriteQuotaExceed),
            ("ReadQuotaExceed", StoreErrorCode::ReadQuotaExceed),
            ("SignatureNotMatch", StoreErrorCode::SignatureNotMatch),
            ("Unauthorized", StoreErrorCode::Unauthorized),
            ("InternalServerError", StoreErrorCode::InternalServerError),
            ("ServerBusy", StoreErrorCode::ServerBusy),
            ("RequestTimeout", StoreErrorCode::RequestTimeout),
            (
                "ShardWriteQuotaExceed",
                StoreErrorCode::Other("ShardWriteQuotaExceed".to_owned()),
            ),
            (
                "InvalidTimestamp",
                StoreErrorCode::Other("InvalidTimestamp".to_owned()),
            ),
            ("Brand", StoreErrorCode::Other("Brand".to_owned())),
        ];
        for (wire, expected) in cases {
            assert_eq!(store_code(&ErrorCode::parse(wire)), expected, "{wire}");
        }
    }

    #[test]
    fn bad_response_carries_the_request_id() {
        let error = bad_response("not json", Some("req-9".to_owned()));
        assert_eq!(error.code.as_str(), "BadResponse");
        assert_eq!(error.request_id.as_deref(), Some("req-9"));
    }
}
