//! Logstore, index and shard management (§3.6, §4.4): small JSON calls whose bodies are the
//! serde forms of the store crate's [`LogstoreConfig`] and [`IndexConfig`]. They are reached
//! through the [`LogStore`](sentry_sls_store::LogStore) implementation.
//!
//! These calls are retried like any other. A `POST` that timed out may have been applied, so
//! its retry can answer `LogStoreAlreadyExist`/`IndexAlreadyExist`; callers that create
//! idempotently treat those codes as success.

use reqwest::Method;
use sentry_sls_protocol::ShardEntry;
use sentry_sls_store::{IndexConfig, LogstoreConfig, ShardInfo, StoreError};

use crate::endpoint::validate_logstore;
use crate::transport::{Call, OutgoingBody};
use crate::SlsClient;

impl SlsClient {
    /// `POST /logstores` with the logstore's settings.
    pub(crate) async fn post_logstore(&self, config: &LogstoreConfig) -> Result<(), StoreError> {
        validate_logstore(&config.name)?;
        let call = Call::new(Method::POST, "/logstores").body(OutgoingBody::json(config)?);
        self.inner.execute(&call).await.map(drop)
    }

    /// `GET /logstores/{logstore}`; fields the store type does not name are kept in `other`.
    pub(crate) async fn fetch_logstore(
        &self,
        logstore: &str,
    ) -> Result<LogstoreConfig, StoreError> {
        validate_logstore(logstore)?;
        let call = Call::new(Method::GET, format!("/logstores/{logstore}"));
        self.inner.execute(&call).await?.json().await
    }

    /// `PUT /logstores/{name}` with the full settings.
    pub(crate) async fn put_logstore(&self, config: &LogstoreConfig) -> Result<(), StoreError> {
        validate_logstore(&config.name)?;
        let call = Call::new(Method::PUT, format!("/logstores/{}", config.name))
            .body(OutgoingBody::json(config)?);
        self.inner.execute(&call).await.map(drop)
    }

    /// `POST /logstores/{logstore}/index`.
    pub(crate) async fn post_index(
        &self,
        logstore: &str,
        index: &IndexConfig,
    ) -> Result<(), StoreError> {
        self.send_index(Method::POST, logstore, index).await
    }

    /// `GET /logstores/{logstore}/index`.
    pub(crate) async fn fetch_index(&self, logstore: &str) -> Result<IndexConfig, StoreError> {
        validate_logstore(logstore)?;
        let call = Call::new(Method::GET, format!("/logstores/{logstore}/index"));
        self.inner.execute(&call).await?.json().await
    }

    /// `PUT /logstores/{logstore}/index`.
    pub(crate) async fn put_index(
        &self,
        logstore: &str,
        index: &IndexConfig,
    ) -> Result<(), StoreError> {
        self.send_index(Method::PUT, logstore, index).await
    }

    /// `GET /logstores/{logstore}/shards`.
    pub(crate) async fn fetch_shards(&self, logstore: &str) -> Result<Vec<ShardInfo>, StoreError> {
        validate_logstore(logstore)?;
        let call = Call::new(Method::GET, format!("/logstores/{logstore}/shards"));
        let entries: Vec<ShardEntry> = self.inner.execute(&call).await?.json().await?;
        Ok(entries
            .into_iter()
            .map(|entry| ShardInfo {
                id: entry.shard_id,
                status: entry.status,
                begin_key: entry.inclusive_begin_key,
                end_key: entry.exclusive_end_key,
                create_time: entry.create_time,
            })
            .collect())
    }

    async fn send_index(
        &self,
        method: Method,
        logstore: &str,
        index: &IndexConfig,
    ) -> Result<(), StoreError> {
        validate_logstore(logstore)?;
        let call = Call::new(method, format!("/logstores/{logstore}/index"))
            .body(OutgoingBody::json(index)?);
        self.inner.execute(&call).await.map(drop)
    }
}
