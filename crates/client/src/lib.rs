//! The [`LogStore`] over a real Alibaba Cloud SLS endpoint (or the local fake `sls-local`).
//!
//! Owns the HTTP side of talking to SLS (spec: `reference/sls-protocol.md`):
//! * addressing: `{project}.{endpoint}` for domains; for IP/`localhost` endpoints a direct
//!   connection with an explicit `Host: {project}.{host}` header;
//! * signing every request with signature v1 and the full header set (`Date`,
//!   `x-log-apiversion`, `x-log-signaturemethod`, `x-log-bodyrawsize`, `Content-MD5`,
//!   `x-acs-security-token`, `Authorization`);
//! * retries with exponential backoff and full jitter, exactly for what
//!   [`sentry_sls_protocol::is_retryable`] calls retryable (§5.3);
//! * PutLogs: splitting a [`LogBatch`] into requests of at most 4096 logs and 5 MiB of raw
//!   protobuf, compressed with the configured codec; optional hash-key routing;
//! * GetLogsV2 (and GetLogs v1) with `Incomplete` re-issue, LZ4 responses, SQL and search
//!   paging helpers;
//! * logstore, index and shard management;
//! * turning every failure into a [`StoreError`] with SLS's `errorCode`, `errorMessage` and
//!   `x-log-requestid`.
//!
//! Does not own: wire formats, signing and codecs (`sentry-sls-protocol`), the query language
//! (queries are passed through as strings), or choosing between this and the embedded store.
//!
//! # Errors
//! * An SLS error body gives its code and message verbatim; a non-JSON error body is reported
//!   with its HTTP status: `ServerBusy` (503), `InternalServerError` (other 5xx) or
//!   `BadResponse` (anything else).
//! * No response: `RequestTimeout` for timeouts, `InternalServerError` with a message starting
//!   `network error` for everything else (refused, reset, cut-off body). Both are retried.
//! * A 2xx answer whose body cannot be decoded is `BadResponse`, not retried.
//! * Client-side validation failures (bad endpoint, logstore name, oversized log) are
//!   `ParameterInvalid` and never reach the network.
//!
//! # Retries and duplicates
//! A PutLogs that failed with a 5xx or a timeout is retried, but real SLS may already have
//! stored it, so a retry can duplicate logs (SLS has no idempotency key for PutLogs). Our
//! local fake injects faults before applying a request, so retries against it never
//! duplicate. A batch split into several requests is sent request by request; when one fails
//! for good, the earlier ones stay written and the error message says how many were.

mod admin;
mod backoff;
pub mod batch;
mod config;
mod endpoint;
mod errors;
mod query;
mod transport;

use std::fmt;
use std::sync::Arc;

use reqwest::Method;
use sentry_sls_store::{
    IndexConfig, LogBatch, LogStore, LogstoreConfig, QueryRequest, QueryResult, ShardInfo,
    StoreError,
};

pub use batch::{split_batch, SplitLimits};
pub use config::SlsClientConfig;
pub use query::{MAX_SQL_ROWS, SEARCH_PAGE_LINES, SQL_PAGE_ROWS};
pub use sentry_sls_protocol::CompressType;

use crate::backoff::Jitter;
use crate::endpoint::{validate_logstore, Endpoint};
use crate::transport::{Call, OutgoingBody};

/// A [`LogStore`] backed by one SLS project. Cheap to clone; clones share the connection
/// pool.
#[derive(Clone)]
pub struct SlsClient {
    inner: Arc<Inner>,
}

/// What every clone shares.
struct Inner {
    config: SlsClientConfig,
    endpoint: Endpoint,
    http: reqwest::Client,
    jitter: Jitter,
}

impl SlsClient {
    /// Builds a client. Nothing is sent until the first call.
    ///
    /// Errors: `ParameterInvalid` for a malformed endpoint, a project that is not a DNS label,
    /// or an empty AccessKey id; `InternalServerError` if the HTTP client cannot be built.
    pub fn new(config: SlsClientConfig) -> Result<SlsClient, StoreError> {
        let endpoint = Endpoint::parse(&config.endpoint, &config.project)?;
        if config.access_key_id.trim().is_empty() {
            return Err(StoreError::invalid("access key id must not be empty"));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout);
        if endpoint.loopback {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|error| StoreError::internal(format!("cannot build http client: {error}")))?;
        tracing::debug!(
            base_url = %endpoint.base_url,
            explicit_host = endpoint.host_header.is_some(),
            "sls client ready"
        );
        Ok(SlsClient {
            inner: Arc::new(Inner {
                config,
                endpoint,
                http,
                jitter: Jitter::new(),
            }),
        })
    }

    /// The settings this client was built with (the secret stays redacted in `Debug`).
    pub fn config(&self) -> &SlsClientConfig {
        &self.inner.config
    }

    /// PutLogs routed by hash key (`POST /logstores/{logstore}/shards/route?key=`): every
    /// request of the batch goes to the shard whose `[begin, end)` range holds `hash_key`
    /// (32 hex digits; see `sentry_sls_protocol::model::hash_key_for`). Splitting, retries and
    /// errors are as for [`LogStore::put_logs`].
    pub async fn put_logs_with_hash_key(
        &self,
        logstore: &str,
        batch: LogBatch,
        hash_key: &str,
    ) -> Result<(), StoreError> {
        sentry_sls_protocol::model::parse_hash_key(hash_key)
            .map_err(|error| StoreError::invalid(error.message))?;
        self.send_batch(logstore, batch, Some(hash_key.to_ascii_lowercase()))
            .await
    }

    /// Splits, encodes and sends a batch, one request after the other.
    async fn send_batch(
        &self,
        logstore: &str,
        batch: LogBatch,
        hash_key: Option<String>,
    ) -> Result<(), StoreError> {
        validate_logstore(logstore)?;
        if batch.logs.is_empty() {
            return Ok(());
        }
        let path = match hash_key {
            Some(_) => format!("/logstores/{logstore}/shards/route"),
            None => format!("/logstores/{logstore}/shards/lb"),
        };
        let codec = self.inner.config.compress;
        let encoded = tokio::task::spawn_blocking(move || {
            split_batch(batch, SplitLimits::default())
                .map(|groups| batch::encode_groups(groups, codec))
        })
        .await
        .map_err(|error| StoreError::internal(format!("log encoding panicked: {error}")))??;
        let total = encoded.len();
        for (index, group) in encoded.into_iter().enumerate() {
            let body = OutgoingBody {
                bytes: group.body,
                raw_size: group.raw_size,
                content_type: sentry_sls_protocol::header::CONTENT_TYPE_PROTOBUF,
                compress: codec,
            };
            let mut call = Call::new(Method::POST, path.clone()).body(body);
            if let Some(key) = &hash_key {
                call = call.query("key", key.clone());
            }
            if let Err(mut error) = self.inner.execute(&call).await {
                if index > 0 {
                    error.message = format!(
                        "{} ({index} of the {total} requests of this batch were already written)",
                        error.message
                    );
                }
                return Err(error);
            }
            tracing::debug!(
                logstore,
                logs = group.log_count,
                raw_bytes = group.raw_size,
                request = index + 1,
                requests = total,
                "sls put logs"
            );
        }
        Ok(())
    }
}

impl fmt::Debug for SlsClient {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SlsClient")
            .field("config", &self.inner.config)
            .field("base_url", &self.inner.endpoint.base_url)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl LogStore for SlsClient {
    async fn create_logstore(&self, config: LogstoreConfig) -> Result<(), StoreError> {
        self.post_logstore(&config).await
    }

    async fn get_logstore(&self, logstore: &str) -> Result<LogstoreConfig, StoreError> {
        self.fetch_logstore(logstore).await
    }

    async fn update_logstore(&self, config: LogstoreConfig) -> Result<(), StoreError> {
        self.put_logstore(&config).await
    }

    async fn create_index(&self, logstore: &str, index: IndexConfig) -> Result<(), StoreError> {
        self.post_index(logstore, &index).await
    }

    async fn get_index(&self, logstore: &str) -> Result<IndexConfig, StoreError> {
        self.fetch_index(logstore).await
    }

    async fn update_index(&self, logstore: &str, index: IndexConfig) -> Result<(), StoreError> {
        self.put_index(logstore, &index).await
    }

    /// PutLogs over `/shards/lb`, split into requests of ≤ 4096 logs and ≤ 5 MiB raw.
    async fn put_logs(&self, logstore: &str, batch: LogBatch) -> Result<(), StoreError> {
        self.send_batch(logstore, batch, None).await
    }

    /// [`SlsClient::get_logs_v2`].
    async fn get_logs(
        &self,
        logstore: &str,
        request: QueryRequest,
    ) -> Result<QueryResult, StoreError> {
        self.get_logs_v2(logstore, &request).await
    }

    async fn list_shards(&self, logstore: &str) -> Result<Vec<ShardInfo>, StoreError> {
        self.fetch_shards(logstore).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_debug_never_shows_secrets() {
        let mut config = SlsClientConfig::new("http://127.0.0.1:9100", "proj", "ak", "s3cr3t");
        config.security_token = Some("t0k3n".to_owned());
        let client = SlsClient::new(config).unwrap();
        let printed = format!("{client:?}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(!printed.contains("t0k3n"), "{printed}");
        assert!(printed.contains("http://127.0.0.1:9100"));
    }

    #[test]
    fn construction_validates_endpoint_project_and_key() {
        let build = |endpoint: &str, project: &str, key: &str| {
            SlsClient::new(SlsClientConfig::new(endpoint, project, key, "secret"))
        };
        assert!(build("cn-hangzhou.log.aliyuncs.com", "proj", "ak").is_ok());
        assert!(build("ftp://x", "proj", "ak").is_err());
        assert!(build("127.0.0.1", "bad.project", "ak").is_err());
        assert!(build("127.0.0.1", "proj", " ").is_err());
    }
}
