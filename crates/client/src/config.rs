//! Client settings: where SLS is, whose credentials, and how patient to be.
//!
//! The secret and the STS token never leave this struct except as HMAC keys and the signed
//! `x-acs-security-token` header: `Debug` redacts both, and nothing in this crate logs them.

use std::fmt;
use std::time::Duration;

use sentry_sls_protocol::CompressType;

/// Settings of an [`SlsClient`](crate::SlsClient).
///
/// Build with [`SlsClientConfig::new`] and adjust the public fields; the defaults follow the
/// retry policy of the protocol notes (§5.3) and the official SDKs' choice of LZ4 bodies.
#[derive(Clone, PartialEq, Eq)]
pub struct SlsClientConfig {
    /// SLS endpoint: `cn-hangzhou.log.aliyuncs.com`, `https://cn-hangzhou.log.aliyuncs.com`,
    /// or a loopback address such as `http://127.0.0.1:9100`. The scheme defaults to `http`.
    ///
    /// A domain endpoint is addressed as `{scheme}://{project}.{endpoint}`. An IP address or
    /// `localhost` is connected to directly and the project travels only in the
    /// `Host: {project}.{host}` header (the Python SDK's raw-IP mode), which is how the local
    /// fake `sls-local` reads it.
    ///
    /// `https` needs a TLS backend in reqwest: the `sentry-sls` binary enables reqwest's
    /// `rustls-tls`; a build without one fails every https request with a non-retried
    /// `ParameterInvalid`.
    pub endpoint: String,
    /// AccessKey id; sent in clear inside `Authorization`.
    pub access_key_id: String,
    /// AccessKey secret: the HMAC key. Never sent, printed or logged.
    pub access_key_secret: String,
    /// STS token for temporary credentials, sent (and signed) as `x-acs-security-token`.
    pub security_token: Option<String>,
    /// Project name: the first label of `Host`.
    pub project: String,
    /// Whole-request timeout, connect to last body byte.
    pub timeout: Duration,
    /// Retries after the first attempt, for retryable failures only (network, timeout, 5xx,
    /// 403 `*QuotaExceed`).
    pub max_retries: u32,
    /// First backoff step; step `n` is `min(max_backoff, base_backoff * 2^n)`, fully jittered.
    pub base_backoff: Duration,
    /// Largest backoff step.
    pub max_backoff: Duration,
    /// PutLogs body codec.
    pub compress: CompressType,
    /// How often a GetLogs answer with progress `Incomplete` is re-issued before the last
    /// (incomplete) answer is returned as is.
    pub max_incomplete_retries: u32,
}

impl SlsClientConfig {
    /// Default [`timeout`](Self::timeout).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default [`max_retries`](Self::max_retries).
    pub const DEFAULT_MAX_RETRIES: u32 = 5;
    /// Default [`base_backoff`](Self::base_backoff).
    pub const DEFAULT_BASE_BACKOFF: Duration = Duration::from_millis(200);
    /// Default [`max_backoff`](Self::max_backoff).
    pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
    /// Default [`max_incomplete_retries`](Self::max_incomplete_retries).
    pub const DEFAULT_MAX_INCOMPLETE_RETRIES: u32 = 10;

    /// A configuration with the given endpoint, project and AccessKey, no STS token, and
    /// every other setting at its default.
    pub fn new(
        endpoint: impl Into<String>,
        project: impl Into<String>,
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
    ) -> Self {
        SlsClientConfig {
            endpoint: endpoint.into(),
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: None,
            project: project.into(),
            timeout: Self::DEFAULT_TIMEOUT,
            max_retries: Self::DEFAULT_MAX_RETRIES,
            base_backoff: Self::DEFAULT_BASE_BACKOFF,
            max_backoff: Self::DEFAULT_MAX_BACKOFF,
            compress: CompressType::Lz4,
            max_incomplete_retries: Self::DEFAULT_MAX_INCOMPLETE_RETRIES,
        }
    }
}

/// Shown instead of a secret value.
const REDACTED: &str = "<redacted>";

impl fmt::Debug for SlsClientConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self.security_token.as_ref().map(|_| REDACTED);
        formatter
            .debug_struct("SlsClientConfig")
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &REDACTED)
            .field("security_token", &token)
            .field("project", &self.project)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("base_backoff", &self.base_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("compress", &self.compress)
            .field("max_incomplete_retries", &self.max_incomplete_retries)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_policy() {
        let config = SlsClientConfig::new("cn-hangzhou.log.aliyuncs.com", "proj", "ak", "sk");
        assert_eq!(config.timeout, Duration::from_secs(60));
        assert_eq!(config.max_retries, 5);
        assert_eq!(config.base_backoff, Duration::from_millis(200));
        assert_eq!(config.max_backoff, Duration::from_secs(10));
        assert_eq!(config.compress, CompressType::Lz4);
        assert_eq!(config.max_incomplete_retries, 10);
        assert_eq!(config.security_token, None);
    }

    #[test]
    fn debug_redacts_secret_and_token() {
        let mut config = SlsClientConfig::new(
            "127.0.0.1:9100",
            "proj",
            "LTAI-visible-id",
            "very-secret-value",
        );
        config.security_token = Some("sts-token-value".to_owned());
        let printed = format!("{config:?}");
        assert!(!printed.contains("very-secret-value"), "{printed}");
        assert!(!printed.contains("sts-token-value"), "{printed}");
        assert!(printed.contains("LTAI-visible-id"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
        let pretty = format!("{config:#?}");
        assert!(!pretty.contains("very-secret-value"));
        assert!(!pretty.contains("sts-token-value"));

        config.security_token = None;
        assert!(format!("{config:?}").contains("security_token: None"));
    }
}
