//! Snuba's error kinds, mapped once to HTTP status and `error.type`.

use serde_json::{json, Map, Value};

/// An error the Snuba API answers with `{"error": {"type", "message"}, …}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnubaError {
    /// 400 `json`: the body is not valid JSON.
    #[error("{0}")]
    Json(String),
    /// 400 `schema`: the body violates the request schema.
    #[error("{message}")]
    Schema {
        /// What is wrong.
        message: String,
        /// JSON path of the offending value.
        path: Vec<String>,
        /// The sub-schema that failed.
        schema: Value,
    },
    /// 400 `request`: another problem with the request.
    #[error("{0}")]
    Request(String),
    /// 404 `dataset`: the URL names no known dataset.
    #[error("dataset '{0}' does not exist")]
    Dataset(String),
    /// 400 `invalid_query`: parse, post-parse or validation failure.
    #[error("{0}")]
    InvalidQuery(String),
    /// 429 `rate-limited`: the store throttled us or a quota was hit.
    #[error("{0}")]
    RateLimited(String),
    /// 400/500 `clickhouse`: an execution error, with the ClickHouse code
    /// Sentry maps to a friendly message (160 timeout, 202 overload, …).
    #[error("{message}")]
    ClickHouse {
        /// ClickHouse error code.
        code: u32,
        /// Description.
        message: String,
    },
    /// 500 `internal_server_error`.
    #[error("{0}")]
    Internal(String),
}

impl SnubaError {
    /// The HTTP status Snuba answers with.
    pub fn status(&self) -> u16 {
        match self {
            SnubaError::Json(_)
            | SnubaError::Schema { .. }
            | SnubaError::Request(_)
            | SnubaError::InvalidQuery(_) => 400,
            SnubaError::Dataset(_) => 404,
            SnubaError::RateLimited(_) => 429,
            // ILLEGAL_TYPE_OF_ARGUMENT, TYPE_MISMATCH, MEMORY_LIMIT_EXCEEDED are 400.
            SnubaError::ClickHouse { code, .. } if [43, 53, 241].contains(code) => 400,
            SnubaError::ClickHouse { .. } | SnubaError::Internal(_) => 500,
        }
    }

    /// The `error.type` string.
    pub fn error_type(&self) -> &'static str {
        match self {
            SnubaError::Json(_) => "json",
            SnubaError::Schema { .. } => "schema",
            SnubaError::Request(_) => "request",
            SnubaError::Dataset(_) => "dataset",
            SnubaError::InvalidQuery(_) => "invalid_query",
            SnubaError::RateLimited(_) => "rate-limited",
            SnubaError::ClickHouse { .. } => "clickhouse",
            SnubaError::Internal(_) => "internal_server_error",
        }
    }

    /// Whether the error happened while running the query (then the body
    /// also carries `timing`, `quota_allowance` and `stats`, like Snuba's
    /// `QueryException`).
    fn is_query_time(&self) -> bool {
        matches!(
            self,
            SnubaError::RateLimited(_) | SnubaError::ClickHouse { .. }
        )
    }

    /// The response body.
    pub fn to_body(&self) -> Value {
        let mut error = Map::new();
        error.insert("type".into(), json!(self.error_type()));
        error.insert("message".into(), json!(self.to_string()));
        match self {
            SnubaError::Schema { path, schema, .. } => {
                error.insert("path".into(), json!(path));
                error.insert("schema".into(), schema.clone());
            }
            SnubaError::ClickHouse { code, .. } => {
                error.insert("code".into(), json!(code));
            }
            _ => {}
        }
        let mut body = Map::new();
        body.insert("error".into(), Value::Object(error));
        if self.is_query_time() {
            body.insert("timing".into(), crate::response::timing_json(0));
            body.insert(
                "quota_allowance".into(),
                crate::response::quota_allowance_json(),
            );
            body.insert("stats".into(), json!({}));
            body.insert("sql".into(), json!(""));
            body.insert("experiments".into(), json!({}));
        }
        Value::Object(body)
    }
}

impl From<sentry_sls_snql::ParseError> for SnubaError {
    fn from(error: sentry_sls_snql::ParseError) -> Self {
        SnubaError::InvalidQuery(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_types_follow_snuba() {
        let cases = [
            (SnubaError::Json("x".into()), 400, "json"),
            (SnubaError::Dataset("nope".into()), 404, "dataset"),
            (SnubaError::InvalidQuery("x".into()), 400, "invalid_query"),
            (SnubaError::RateLimited("x".into()), 429, "rate-limited"),
            (
                SnubaError::ClickHouse {
                    code: 160,
                    message: "timeout".into(),
                },
                500,
                "clickhouse",
            ),
            (
                SnubaError::ClickHouse {
                    code: 43,
                    message: "type".into(),
                },
                400,
                "clickhouse",
            ),
            (
                SnubaError::Internal("x".into()),
                500,
                "internal_server_error",
            ),
        ];
        for (error, status, error_type) in cases {
            assert_eq!(error.status(), status, "{error:?}");
            assert_eq!(error.to_body()["error"]["type"], error_type);
        }
        assert_eq!(
            SnubaError::Dataset("nope".into()).to_body()["error"]["message"],
            "dataset 'nope' does not exist"
        );
        let clickhouse = SnubaError::ClickHouse {
            code: 202,
            message: "busy".into(),
        }
        .to_body();
        assert_eq!(clickhouse["error"]["code"], 202);
        assert!(clickhouse["quota_allowance"].is_object());
    }
}
