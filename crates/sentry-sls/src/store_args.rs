//! Choosing the log store: the guide's `SLS_*` variables (flags override
//! them) select real SLS; without `SLS_ENDPOINT` the embedded store under
//! `--data-dir` is used. Only the binary knows both backends.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use sentry_sls_client::{SlsClient, SlsClientConfig};
use sentry_sls_local::{LocalStore, LocalStoreConfig};
use sentry_sls_store::{IndexConfig, LogStore, LogstoreConfig, StoreErrorCode};

/// Project name of the embedded store when `SLS_PROJECT` is not set.
pub const DEFAULT_LOCAL_PROJECT: &str = "sentry-sls";

/// Where events live: flags and the guide's environment variables.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// SLS endpoint, e.g. `cn-hangzhou.log.aliyuncs.com`. Unset: the embedded store.
    #[arg(long, env = "SLS_ENDPOINT", hide_env_values = true)]
    pub sls_endpoint: Option<String>,

    /// AccessKey id for SLS.
    #[arg(long, env = "SLS_ACCESS_KEY_ID", hide_env_values = true)]
    pub sls_access_key_id: Option<String>,

    /// AccessKey secret for SLS (never logged).
    #[arg(long, env = "SLS_ACCESS_KEY_SECRET", hide_env_values = true)]
    pub sls_access_key_secret: Option<String>,

    /// STS security token, when the AccessKey is temporary.
    #[arg(long, env = "SLS_SECURITY_TOKEN", hide_env_values = true)]
    pub sls_security_token: Option<String>,

    /// SLS project (the embedded store uses it too; default `sentry-sls`).
    #[arg(long, env = "SLS_PROJECT")]
    pub sls_project: Option<String>,

    /// Logstore holding the events.
    #[arg(long, env = "SLS_LOGSTORE", default_value = "logstore-rum")]
    pub sls_logstore: String,

    /// Retention of the logstore, in days.
    #[arg(long, env = "SLS_TTL", default_value_t = 30)]
    pub sls_ttl: u32,

    /// Directory of the embedded store (created if missing).
    #[arg(long, env = "SENTRY_SLS_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

/// An opened store: the seam, plus the embedded store when that is the one.
pub struct OpenedStore {
    /// The project's logstores.
    pub store: Arc<dyn LogStore>,
    /// The embedded store, if used (for flush and shutdown).
    pub local: Option<Arc<LocalStore>>,
}

impl StoreArgs {
    /// The project name in use.
    pub fn project(&self) -> String {
        self.sls_project
            .clone()
            .unwrap_or_else(|| DEFAULT_LOCAL_PROJECT.to_string())
    }

    /// Opens SLS when `SLS_ENDPOINT` is set, else the embedded store.
    pub fn open(&self) -> anyhow::Result<OpenedStore> {
        match &self.sls_endpoint {
            Some(endpoint) if !endpoint.trim().is_empty() => {
                let (Some(id), Some(secret)) =
                    (&self.sls_access_key_id, &self.sls_access_key_secret)
                else {
                    bail!("SLS_ENDPOINT is set: SLS_ACCESS_KEY_ID and SLS_ACCESS_KEY_SECRET are required too");
                };
                let Some(project) = &self.sls_project else {
                    bail!("SLS_ENDPOINT is set: SLS_PROJECT is required too");
                };
                let mut config = SlsClientConfig::new(endpoint.trim(), project, id, secret);
                config.security_token = self.sls_security_token.clone();
                let client = SlsClient::new(config).map_err(|error| anyhow::anyhow!("{error}"))?;
                tracing::info!(endpoint = %endpoint, project = %project, logstore = %self.sls_logstore, "using SLS");
                Ok(OpenedStore {
                    store: Arc::new(client),
                    local: None,
                })
            }
            _ => {
                std::fs::create_dir_all(&self.data_dir).with_context(|| {
                    format!("creating the data directory {}", self.data_dir.display())
                })?;
                let local = Arc::new(
                    LocalStore::open(&self.data_dir, serve_store_config())
                        .map_err(|error| anyhow::anyhow!("opening the embedded store: {error}"))?,
                );
                let project = local
                    .project_or_create(&self.project())
                    .map_err(|error| anyhow::anyhow!("opening project: {error}"))?;
                tracing::info!(data_dir = %self.data_dir.display(), project = %self.project(), "using the embedded store");
                Ok(OpenedStore {
                    store: project,
                    local: Some(local),
                })
            }
        }
    }
}

/// The record schema document; its §4 holds the exact index body.
const SCHEMA_DOC: &str = include_str!("../../../docs/schema.md");

/// The index sentry-sls needs on its logstore: the JSON body of
/// docs/schema.md §4, read from the document itself so the two cannot
/// drift. SLS indexes only data written after a key exists, so `setup`
/// brings the index up to date before writes.
pub fn required_index() -> IndexConfig {
    let section = SCHEMA_DOC
        .split("## 4. The SLS index")
        .nth(1)
        .expect("docs/schema.md has a section 4");
    let body = section
        .split("```json")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/schema.md §4 has a json block");
    serde_json::from_str(body).expect("docs/schema.md §4 holds a valid index body")
}

/// Creates the logstore and index, or brings an existing index up to date
/// (adding missing keys; existing keys are left as they are).
pub async fn setup(store: &dyn LogStore, logstore: &str, ttl: u32) -> anyhow::Result<()> {
    let config = LogstoreConfig {
        name: logstore.to_string(),
        ttl,
        shard_count: 2,
        other: BTreeMap::new(),
    };
    match store.create_logstore(config).await {
        Ok(()) => tracing::info!(%logstore, ttl, "created logstore"),
        Err(error) if error.code == StoreErrorCode::LogStoreAlreadyExist => {
            tracing::info!(%logstore, "logstore exists")
        }
        Err(error) => bail!("creating logstore {logstore}: {error}"),
    }
    let wanted = required_index();
    match store.get_index(logstore).await {
        Ok(current) => {
            // Wanted keys and options win; keys someone else added stay.
            let mut merged = current.clone();
            for (name, config) in &wanted.keys {
                merged.keys.insert(name.clone(), config.clone());
            }
            for (option, value) in &wanted.other {
                merged.other.insert(option.clone(), value.clone());
            }
            if merged == current {
                tracing::info!(%logstore, "index is up to date");
            } else {
                let changed: Vec<&String> = wanted
                    .keys
                    .iter()
                    .filter(|(name, config)| current.keys.get(*name) != Some(config))
                    .map(|(name, _)| name)
                    .collect();
                store
                    .update_index(logstore, merged)
                    .await
                    .map_err(|error| anyhow::anyhow!("updating the index: {error}"))?;
                tracing::info!(%logstore, keys = ?changed, "updated the index");
            }
        }
        Err(error) if error.code == StoreErrorCode::IndexConfigNotExist => {
            store
                .create_index(logstore, wanted)
                .await
                .map_err(|error| anyhow::anyhow!("creating the index: {error}"))?;
            tracing::info!(%logstore, "created the index");
        }
        Err(error) => bail!("reading the index of {logstore}: {error}"),
    }
    Ok(())
}

/// The embedded store under `serve`: memtables are flushed at 6 MiB of
/// WAL payload (the Arrow form takes a few times that), so ingest's peak
/// memory stays under 300 MiB instead of the default's GiBs; the compactor
/// merges the many small segments this makes. With zstd bodies an event is
/// about 6.5 KB of WAL, so a memtable holds about a thousand events: 16 MiB
/// (the setting of plain bodies) took peak RSS under `bench ingest` from
/// 232 to 321 MiB without more events/s.
fn serve_store_config() -> LocalStoreConfig {
    LocalStoreConfig {
        flush_bytes: 6 * 1024 * 1024,
        flush_rows: 100_000,
        max_frozen: 1,
        ..LocalStoreConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry_sls_store::FieldType;

    #[test]
    fn the_index_is_the_one_docs_schema_md_documents() {
        let index = required_index();
        assert_eq!(index.keys.len(), 70);
        assert!(index.line.is_none());
        assert_eq!(
            index.other.get("max_text_len"),
            Some(&serde_json::json!(16384))
        );
        assert_eq!(index.keys["group_id"].field_type, FieldType::Long);
        assert_eq!(index.keys["sample_weight"].field_type, FieldType::Double);
        assert!(!index.keys["node_id"].doc_value);
        assert!(index.keys["tags"].doc_value);
        assert!(!index.keys.contains_key("body"), "bodies are not indexed");
    }
}
