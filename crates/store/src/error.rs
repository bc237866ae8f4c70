//! Store errors in SLS's vocabulary, so every backend reports the same codes.

/// SLS error codes a store can report (the protocol crate has the full list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreErrorCode {
    /// 404.
    ProjectNotExist,
    /// 404.
    LogStoreNotExist,
    /// 400.
    LogStoreAlreadyExist,
    /// 400.
    IndexAlreadyExist,
    /// 400.
    IndexConfigNotExist,
    /// 400: bad query, bad SQL, bad parameters.
    ParameterInvalid,
    /// 400: bad time range.
    InvalidTimeRange,
    /// 400: bad request body.
    PostBodyInvalid,
    /// 403: write throttled.
    WriteQuotaExceed,
    /// 403: read throttled.
    ReadQuotaExceed,
    /// 401.
    SignatureNotMatch,
    /// 401.
    Unauthorized,
    /// 500.
    InternalServerError,
    /// 503.
    ServerBusy,
    /// Client side: the request timed out.
    RequestTimeout,
    /// Any other code, verbatim.
    Other(String),
}

impl StoreErrorCode {
    /// The code as SLS spells it.
    pub fn as_str(&self) -> &str {
        match self {
            StoreErrorCode::ProjectNotExist => "ProjectNotExist",
            StoreErrorCode::LogStoreNotExist => "LogStoreNotExist",
            StoreErrorCode::LogStoreAlreadyExist => "LogStoreAlreadyExist",
            StoreErrorCode::IndexAlreadyExist => "IndexAlreadyExist",
            StoreErrorCode::IndexConfigNotExist => "IndexConfigNotExist",
            StoreErrorCode::ParameterInvalid => "ParameterInvalid",
            StoreErrorCode::InvalidTimeRange => "InvalidTimeRange",
            StoreErrorCode::PostBodyInvalid => "PostBodyInvalid",
            StoreErrorCode::WriteQuotaExceed => "WriteQuotaExceed",
            StoreErrorCode::ReadQuotaExceed => "ReadQuotaExceed",
            StoreErrorCode::SignatureNotMatch => "SignatureNotMatch",
            StoreErrorCode::Unauthorized => "Unauthorized",
            StoreErrorCode::InternalServerError => "InternalServerError",
            StoreErrorCode::ServerBusy => "ServerBusy",
            StoreErrorCode::RequestTimeout => "RequestTimeout",
            StoreErrorCode::Other(code) => code,
        }
    }

    /// The HTTP status SLS answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            StoreErrorCode::ProjectNotExist | StoreErrorCode::LogStoreNotExist => 404,
            StoreErrorCode::WriteQuotaExceed | StoreErrorCode::ReadQuotaExceed => 403,
            StoreErrorCode::SignatureNotMatch | StoreErrorCode::Unauthorized => 401,
            StoreErrorCode::InternalServerError | StoreErrorCode::Other(_) => 500,
            StoreErrorCode::ServerBusy => 503,
            StoreErrorCode::RequestTimeout => 408,
            _ => 400,
        }
    }
}

/// A store failure: SLS code, message, and the request id when one exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}{}", code.as_str(), request_id.as_deref().map(|id| format!(" (request id {id})")).unwrap_or_default())]
pub struct StoreError {
    /// Error code.
    pub code: StoreErrorCode,
    /// Human-readable message.
    pub message: String,
    /// `x-log-requestid` of the failed request.
    pub request_id: Option<String>,
}

impl StoreError {
    /// An error with a code and message.
    pub fn new(code: StoreErrorCode, message: impl Into<String>) -> Self {
        StoreError {
            code,
            message: message.into(),
            request_id: None,
        }
    }

    /// `ParameterInvalid` with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        StoreError::new(StoreErrorCode::ParameterInvalid, message)
    }

    /// `InternalServerError` with a message.
    pub fn internal(message: impl Into<String>) -> Self {
        StoreError::new(StoreErrorCode::InternalServerError, message)
    }
}
