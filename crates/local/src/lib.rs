//! The embedded log store: SLS's data model on one machine.
//!
//! A [`LocalStore`] holds projects; a [`LocalProject`] holds logstores and
//! implements [`sentry_sls_store::LogStore`], so the rest of sentry-sls
//! cannot tell it from real SLS. Each logstore keeps:
//!
//! - a write-ahead log (`wal/`, framed by `sentry-sls-wal`): an append is
//!   acknowledged only after it is fsynced, with group commit ([`logstore`]);
//! - a memtable of recent appends, frozen and flushed into day-partitioned,
//!   time-sorted Parquet segments (`segments/<day>/`) named by a manifest
//!   that is replaced atomically ([`manifest`], [`columnar`]);
//! - compaction that merges a day's segments into one, in the background
//!   ([`logstore`]), so queries open few files;
//! - retention that drops whole day partitions older than the TTL;
//! - its settings and index (`meta.json`).
//!
//! Queries are SLS query strings (`search | SQL`), executed with Apache
//! DataFusion: the search part becomes a filter with SLS's token semantics
//! ([`search`]), the SQL part is rewritten from Presto/SLS to DataFusion
//! ([`sql`], [`udf`]) and results are rendered as SLS renders them ([`query`]).
//! Id lookups (`node_id: x`) skip segments by per-segment token filters
//! ([`lookup`]).
//! This crate owns no network code: `sentry-sls sls-local` serves it over
//! the SLS REST API.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use sentry_sls_store::{
    IndexConfig, LogBatch, LogStore, LogstoreConfig, QueryRequest, QueryResult, ShardInfo,
    StoreError, StoreErrorCode, WriteKey,
};

pub mod columnar;
mod compact;
mod distinct;
mod facets;
pub mod logstore;
pub mod lookup;
pub mod manifest;
mod prune;
pub mod query;
pub mod rollup;
pub mod search;
pub mod sql;
pub mod udf;

pub use logstore::Logstore;

/// Tuning of the embedded store.
#[derive(Debug, Clone)]
pub struct LocalStoreConfig {
    /// Freeze and flush the memtable at this many rows.
    pub flush_rows: usize,
    /// … or at this many WAL bytes.
    pub flush_bytes: usize,
    /// … or when its oldest row is this old.
    pub flush_interval: Duration,
    /// Most bytes one group commit writes before its fsync.
    pub max_group_bytes: usize,
    /// Appends waiting for the WAL writer before callers block.
    pub queue_depth: usize,
    /// Frozen memtables held in memory before the writer waits for flushes.
    pub max_frozen: usize,
    /// Memory a query may use, in bytes.
    pub query_memory_bytes: usize,
    /// Threads a query may use (DataFusion target partitions).
    pub query_threads: usize,
    /// Run the background compactor, which merges a day partition's
    /// segments (see [`Logstore::compact_all`] for doing it on demand).
    pub background_compaction: bool,
    /// Segments of one compaction level in a day that are merged into one
    /// of the next level; also how many segments make a settled day worth
    /// merging whole.
    pub compact_min_segments: usize,
    /// How long after a UTC day ends its partition counts as settled
    /// (late events have stopped) and is merged into one segment.
    pub compact_settle: Duration,
    /// How often the compactor looks for work (it also looks after flushes).
    pub compact_interval: Duration,
}

impl Default for LocalStoreConfig {
    fn default() -> Self {
        LocalStoreConfig {
            flush_rows: 500_000,
            flush_bytes: 256 * 1024 * 1024,
            flush_interval: Duration::from_secs(60),
            max_group_bytes: 32 * 1024 * 1024,
            queue_depth: 256,
            max_frozen: 2,
            query_memory_bytes: 4 * 1024 * 1024 * 1024,
            query_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            background_compaction: true,
            compact_min_segments: 8,
            compact_settle: Duration::from_secs(3600),
            compact_interval: Duration::from_secs(30),
        }
    }
}

/// Whether `name` is a valid SLS logstore name (also keeps paths safe).
pub fn valid_logstore_name(name: &str) -> bool {
    (2..=63).contains(&name.len())
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_'
        })
        && name
            .bytes()
            .next()
            .is_some_and(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
}

/// Whether `name` is a valid SLS project name (also keeps paths safe).
pub fn valid_project_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn io_error(context: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::internal(format!("{context}: {error}"))
}

/// What every query's session is built from: one runtime (so the memory
/// limit holds across concurrent queries) and one configuration.
#[derive(Clone)]
pub struct QueryEnvironment {
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    config: SessionConfig,
    /// Per-segment token filters for id lookups ([`lookup`]).
    pub lookups: Arc<lookup::LookupIndex>,
    /// The segments' Parquet Bloom filters for id lookups in SQL ([`lookup`]).
    pub blooms: Arc<lookup::ParquetBlooms>,
    /// Group rollups of settled segments ([`rollup`]).
    pub rollups: Arc<rollup::Cache>,
}

impl QueryEnvironment {
    fn new(config: &LocalStoreConfig) -> Result<QueryEnvironment, StoreError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(config.query_memory_bytes, 1.0)
            .build_arc()
            .map_err(|error| io_error("building the query runtime", error))?;
        let session_config = SessionConfig::new()
            .with_target_partitions(config.query_threads.max(1))
            .with_information_schema(false)
            .set_bool("datafusion.execution.parquet.pushdown_filters", true)
            // Evaluate the cheapest, most selective pushed-down filters first.
            .set_bool("datafusion.execution.parquet.reorder_filters", true)
            // Sentry's `group_id IN (…)` lists hold up to 25+ ids: prune by
            // row-group and page statistics for lists that long too.
            .set_usize("datafusion.execution.parquet.max_in_list_size", 1000);
        Ok(QueryEnvironment {
            runtime,
            config: session_config,
            lookups: Arc::default(),
            blooms: Arc::default(),
            rollups: Arc::default(),
        })
    }

    /// A fresh session (its own catalog, so each query's `log` table is its
    /// own) with the Presto functions registered.
    pub fn session(&self) -> Result<SessionContext, StoreError> {
        self.session_reading_blooms(true)
    }

    /// [`Self::session`], reading Parquet Bloom filters or not. They only
    /// serve predicates on [`columnar::BLOOM_COLUMNS`] (`event_id`); for
    /// any other query, probing them costs time opening every row group
    /// (the daily sparkline over 10 M events: 126 → 110 ms).
    pub fn session_reading_blooms(&self, blooms: bool) -> Result<SessionContext, StoreError> {
        let mut config = self.config.clone();
        config.options_mut().execution.parquet.bloom_filter_on_read = blooms;
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(Arc::clone(&self.runtime))
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(prune::SplitLongInLists))
            .build();
        let context = SessionContext::new_with_state(state);
        udf::register(&context).map_err(|error| io_error("registering functions", error))?;
        Ok(context)
    }
}

/// One project: a directory of logstores.
pub struct LocalProject {
    name: String,
    directory: PathBuf,
    config: LocalStoreConfig,
    logstores: RwLock<BTreeMap<String, Arc<Logstore>>>,
    environment: QueryEnvironment,
}

impl LocalProject {
    fn open(
        name: &str,
        directory: &Path,
        config: LocalStoreConfig,
    ) -> Result<LocalProject, StoreError> {
        fs::create_dir_all(directory)
            .map_err(|error| io_error("creating project directory", error))?;
        let mut logstores = BTreeMap::new();
        for entry in fs::read_dir(directory)
            .map_err(|error| io_error("listing logstores", error))?
            .flatten()
        {
            let logstore_name = entry.file_name().to_string_lossy().to_string();
            if !valid_logstore_name(&logstore_name) || !entry.path().join("meta.json").exists() {
                continue;
            }
            let logstore = Logstore::open(&entry.path(), config.clone())?;
            logstores.insert(logstore_name, Arc::new(logstore));
        }
        Ok(LocalProject {
            name: name.to_string(),
            directory: directory.to_path_buf(),
            environment: QueryEnvironment::new(&config)?,
            config,
            logstores: RwLock::new(logstores),
        })
    }

    /// The project name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An open logstore, or `LogStoreNotExist`.
    pub fn logstore(&self, name: &str) -> Result<Arc<Logstore>, StoreError> {
        self.logstores
            .read()
            .expect("logstores lock")
            .get(name)
            .cloned()
            .ok_or_else(|| {
                StoreError::new(
                    StoreErrorCode::LogStoreNotExist,
                    format!("logstore {name} does not exist"),
                )
            })
    }

    /// Names of the logstores.
    pub fn logstore_names(&self) -> Vec<String> {
        self.logstores
            .read()
            .expect("logstores lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Deletes a logstore and its data.
    pub fn delete_logstore(&self, name: &str) -> Result<(), StoreError> {
        // Destroyed under the lock, so a create of the same name cannot open
        // the directory while it is being removed.
        let mut logstores = self.logstores.write().expect("logstores lock");
        match logstores.remove(name) {
            Some(logstore) => logstore.destroy(),
            None => Err(StoreError::new(
                StoreErrorCode::LogStoreNotExist,
                format!("logstore {name} does not exist"),
            )),
        }
    }

    /// The open logstores, taken out of the lock so each can be worked on without it.
    fn all_logstores(&self) -> Vec<Arc<Logstore>> {
        self.logstores
            .read()
            .expect("logstores lock")
            .values()
            .cloned()
            .collect()
    }

    /// Flushes every logstore's memtable into segments (blocking).
    pub fn flush_all(&self) -> Result<(), StoreError> {
        for logstore in self.all_logstores() {
            logstore.flush()?;
        }
        Ok(())
    }

    /// Merges every day partition of every logstore into one segment each
    /// ([`Logstore::compact_all`]; blocking). Returns the segments merged.
    pub fn compact_all(&self) -> Result<usize, StoreError> {
        let mut merged = 0;
        for logstore in self.all_logstores() {
            merged += logstore.compact_all()?;
        }
        Ok(merged)
    }

    /// Stops every logstore's threads.
    pub fn shutdown(&self) {
        for logstore in self.logstores.read().expect("logstores lock").values() {
            logstore.shutdown();
        }
    }
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

#[async_trait::async_trait]
impl LogStore for LocalProject {
    async fn create_logstore(&self, config: LogstoreConfig) -> Result<(), StoreError> {
        if !valid_logstore_name(&config.name) {
            return Err(StoreError::invalid(format!(
                "invalid logstore name: {}",
                config.name
            )));
        }
        if config.ttl == 0 || config.ttl > 3650 {
            return Err(StoreError::invalid("ttl must be between 1 and 3650 days"));
        }
        let mut logstores = self.logstores.write().expect("logstores lock");
        if logstores.contains_key(&config.name) {
            return Err(StoreError::new(
                StoreErrorCode::LogStoreAlreadyExist,
                format!("logstore {} already exists", config.name),
            ));
        }
        let name = config.name.clone();
        let meta = logstore::LogstoreMeta {
            config,
            index: None,
        };
        let logstore = Logstore::create(&self.directory.join(&name), meta, self.config.clone())?;
        logstores.insert(name, Arc::new(logstore));
        Ok(())
    }

    async fn get_logstore(&self, logstore: &str) -> Result<LogstoreConfig, StoreError> {
        Ok(self.logstore(logstore)?.meta().config)
    }

    async fn update_logstore(&self, config: LogstoreConfig) -> Result<(), StoreError> {
        let logstore = self.logstore(&config.name)?;
        let mut meta = logstore.meta();
        meta.config = config;
        logstore.set_meta(meta)
    }

    async fn create_index(&self, logstore: &str, index: IndexConfig) -> Result<(), StoreError> {
        let logstore = self.logstore(logstore)?;
        let mut meta = logstore.meta();
        if meta.index.is_some() {
            return Err(StoreError::new(
                StoreErrorCode::IndexAlreadyExist,
                "index already exists",
            ));
        }
        meta.index = Some(index);
        logstore.set_meta(meta)
    }

    async fn get_index(&self, logstore: &str) -> Result<IndexConfig, StoreError> {
        self.logstore(logstore)?.meta().index.ok_or_else(|| {
            StoreError::new(
                StoreErrorCode::IndexConfigNotExist,
                "index config does not exist",
            )
        })
    }

    async fn update_index(&self, logstore: &str, index: IndexConfig) -> Result<(), StoreError> {
        let logstore = self.logstore(logstore)?;
        let mut meta = logstore.meta();
        if meta.index.is_none() {
            return Err(StoreError::new(
                StoreErrorCode::IndexConfigNotExist,
                "index config does not exist",
            ));
        }
        meta.index = Some(index);
        logstore.set_meta(meta)
    }

    async fn put_logs(&self, logstore: &str, batch: LogBatch) -> Result<(), StoreError> {
        self.logstore(logstore)?.append(batch).await
    }

    async fn put_logs_once(
        &self,
        logstore: &str,
        batch: LogBatch,
        key: WriteKey,
    ) -> Result<bool, StoreError> {
        self.logstore(logstore)?
            .append_keyed(batch, Some(key))
            .await
    }

    async fn get_logs(
        &self,
        logstore: &str,
        request: QueryRequest,
    ) -> Result<QueryResult, StoreError> {
        let logstore = self.logstore(logstore)?;
        query::execute(&logstore, &self.environment, &request).await
    }

    async fn list_shards(&self, logstore: &str) -> Result<Vec<ShardInfo>, StoreError> {
        let logstore = self.logstore(logstore)?;
        let _ = logstore;
        Ok(vec![ShardInfo {
            id: 0,
            status: "readwrite".into(),
            begin_key: "00000000000000000000000000000000".into(),
            end_key: "ffffffffffffffffffffffffffffffff".into(),
            create_time: now_seconds(),
        }])
    }
}

/// Every project under a data directory (`<data>/projects/<name>/`).
pub struct LocalStore {
    directory: PathBuf,
    config: LocalStoreConfig,
    projects: RwLock<BTreeMap<String, Arc<LocalProject>>>,
    /// Held while the store is open: one process per data directory. The
    /// last field, so it is dropped last: dropping `projects` stops their
    /// threads first, and only then may another process open the directory.
    /// (A `LocalProject` handed out and kept past the store is not covered.)
    _lock: sentry_sls_wal::DirectoryLock,
}

impl LocalStore {
    /// Opens the store under `data_dir`, replaying every logstore's WAL.
    /// Fails when another process (or another open store) holds `data_dir`.
    pub fn open(data_dir: &Path, config: LocalStoreConfig) -> Result<LocalStore, StoreError> {
        let lock = sentry_sls_wal::lock_directory(data_dir)
            .map_err(|error| io_error("opening the data directory", error))?;
        let directory = data_dir.join("projects");
        fs::create_dir_all(&directory)
            .map_err(|error| io_error("creating the data directory", error))?;
        let mut projects = BTreeMap::new();
        for entry in fs::read_dir(&directory)
            .map_err(|error| io_error("listing projects", error))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            if valid_project_name(&name) && entry.path().is_dir() {
                let project = LocalProject::open(&name, &entry.path(), config.clone())?;
                projects.insert(name, Arc::new(project));
            }
        }
        Ok(LocalStore {
            directory,
            config,
            projects: RwLock::new(projects),
            _lock: lock,
        })
    }

    /// A project, or `ProjectNotExist`.
    pub fn project(&self, name: &str) -> Result<Arc<LocalProject>, StoreError> {
        self.projects
            .read()
            .expect("projects lock")
            .get(name)
            .cloned()
            .ok_or_else(|| {
                StoreError::new(
                    StoreErrorCode::ProjectNotExist,
                    format!("The Project does not exist : {name}"),
                )
            })
    }

    /// Creates a project (`ProjectAlreadyExist` if it exists).
    pub fn create_project(&self, name: &str) -> Result<Arc<LocalProject>, StoreError> {
        if !valid_project_name(name) {
            return Err(StoreError::invalid(format!("invalid project name: {name}")));
        }
        let mut projects = self.projects.write().expect("projects lock");
        if projects.contains_key(name) {
            return Err(StoreError::new(
                StoreErrorCode::Other("ProjectAlreadyExist".into()),
                format!("project {name} already exists"),
            ));
        }
        let project = Arc::new(LocalProject::open(
            name,
            &self.directory.join(name),
            self.config.clone(),
        )?);
        projects.insert(name.to_string(), Arc::clone(&project));
        Ok(project)
    }

    /// A project, created if missing.
    pub fn project_or_create(&self, name: &str) -> Result<Arc<LocalProject>, StoreError> {
        match self.project(name) {
            Ok(project) => Ok(project),
            Err(_) => match self.create_project(name) {
                Ok(project) => Ok(project),
                Err(error) if error.code.as_str() == "ProjectAlreadyExist" => self.project(name),
                Err(error) => Err(error),
            },
        }
    }

    /// Names of the projects.
    pub fn project_names(&self) -> Vec<String> {
        self.projects
            .read()
            .expect("projects lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Stops every logstore (their WALs hold everything acknowledged).
    pub fn shutdown(&self) {
        for project in self.projects.read().expect("projects lock").values() {
            project.shutdown();
        }
    }
}
