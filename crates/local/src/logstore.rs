//! One logstore of the embedded store: its settings, the write path (group
//! commit into the WAL, then the memtable), flushes into Parquet segments,
//! retention, and the snapshot a query reads.
//!
//! Threads: one writer thread owns the WAL. It takes every pending append,
//! writes them, fsyncs once, adds them to the memtable and only then
//! acknowledges them, so an acknowledged append is both durable and visible.
//! When the memtable is big or old enough the writer rotates the WAL and
//! freezes the memtable; one flusher thread turns frozen memtables into
//! Parquet segments, publishes them in the manifest and deletes the WAL
//! segments they came from. Queries see the segments plus the frozen and
//! active memtables under one read lock, so a row is never seen twice or
//! missed while it moves.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::array::AsArray;
use arrow::record_batch::RecordBatch;
use sentry_sls_store::{
    IndexConfig, LogBatch, LogstoreConfig, StoreError, StoreErrorCode, WriteKey,
};
use serde::{Deserialize, Serialize};

use crate::columnar;
use crate::compact;
use crate::manifest::{Manifest, SegmentMeta, MANIFEST_VERSION};
use crate::LocalStoreConfig;
use sentry_sls_wal::codec;
use sentry_sls_wal::segments::{self as wal, Wal};

const SECONDS_PER_DAY: i64 = 86_400;

/// Settings and index of a logstore, persisted in `meta.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogstoreMeta {
    /// Logstore settings.
    pub config: LogstoreConfig,
    /// Index, if one was created.
    pub index: Option<IndexConfig>,
}

impl LogstoreMeta {
    fn load(directory: &Path) -> Result<LogstoreMeta, StoreError> {
        let path = directory.join("meta.json");
        let bytes = fs::read(&path).map_err(|error| {
            StoreError::internal(format!("reading {}: {error}", path.display()))
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|error| StoreError::internal(format!("corrupt {}: {error}", path.display())))
    }

    fn store(&self, directory: &Path) -> Result<(), StoreError> {
        let temporary = directory.join("meta.json.tmp");
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|error| StoreError::internal(error.to_string()))?;
        let write = || -> std::io::Result<()> {
            fs::write(&temporary, &bytes)?;
            fs::File::open(&temporary)?.sync_all()?;
            fs::rename(&temporary, directory.join("meta.json"))?;
            wal::sync_directory(directory)
        };
        write().map_err(|error| StoreError::internal(format!("writing logstore settings: {error}")))
    }
}

/// Rows appended since the last freeze, as Arrow batches (each with its own
/// columns), converted on the blocking pool at append time.
#[derive(Default)]
struct Memtable {
    batches: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
    since: Option<Instant>,
}

/// A memtable waiting to be flushed; its rows are in WAL segments up to
/// `through` (inclusive).
struct Frozen {
    through: u64,
    batches: Arc<Vec<RecordBatch>>,
    /// Write marks as of `through`.
    marks: BTreeMap<String, (u64, u64)>,
}

struct State {
    active: Memtable,
    frozen: VecDeque<Frozen>,
    segments: Vec<SegmentMeta>,
    flushed_through: u64,
    /// Every content and tag column name ever written.
    columns: BTreeSet<String>,
    /// Set when the WAL failed: appends are refused from then on.
    failure: Option<String>,
    /// Last applied write position per stream (idempotent commit).
    marks: BTreeMap<String, (u64, u64)>,
    /// `marks` as of `flushed_through` (what the manifest records).
    flushed_marks: BTreeMap<String, (u64, u64)>,
    /// The file of each live segment, by relative path; snapshots hold
    /// clones, so a segment leaving the manifest is deleted only once no
    /// query can still read it.
    files: BTreeMap<String, Arc<SegmentFile>>,
}

/// A segment file that a query may be reading. When the segment leaves the
/// manifest (compaction, retention) it is marked obsolete, and the file is
/// deleted when the last holder (the state or a query's snapshot) lets go.
pub(crate) struct SegmentFile {
    path: PathBuf,
    obsolete: AtomicBool,
}

impl SegmentFile {
    fn new(path: PathBuf) -> Arc<SegmentFile> {
        Arc::new(SegmentFile {
            path,
            obsolete: AtomicBool::new(false),
        })
    }
}

impl Drop for SegmentFile {
    fn drop(&mut self) {
        if !self.obsolete.load(Ordering::Acquire) {
            return;
        }
        // In steps: a merge retires hundreds of MiB at once (see
        // `remove_file_gradually`).
        let path = std::mem::take(&mut self.path);
        let remove = move || {
            if let Err(error) = wal::remove_file_gradually(&path) {
                // A crash would leave it too: the next open removes files the
                // manifest does not name.
                tracing::warn!(path = %path.display(), %error, "removing a retired segment failed");
            }
        };
        // The last holder may be a query's snapshot, dropped on an async
        // worker that also answers ingest requests: not the place to wait on
        // the disk.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

/// Removes `retired` segments from `state.files`, marking their files for
/// deletion once no snapshot holds them. Returns the state's holds on them:
/// the caller drops these after releasing the state lock, so that deleting
/// the files (when no query holds them either) does not hold up appends and
/// queries.
#[must_use = "drop the retired files after releasing the state lock"]
fn retire_files(state: &mut State, retired: &[SegmentMeta]) -> Vec<Arc<SegmentFile>> {
    let mut files = Vec::with_capacity(retired.len());
    for segment in retired {
        if let Some(file) = state.files.remove(&segment.path) {
            file.obsolete.store(true, Ordering::Release);
            files.push(file);
        }
    }
    files
}

/// What a query reads: segments overlapping its range, plus memtable rows.
pub struct Snapshot {
    /// Absolute paths of the segments that may hold rows in the range.
    pub segment_paths: Vec<PathBuf>,
    /// Each segment's oldest and newest `__time__`, and its rows.
    pub segment_spans: std::collections::HashMap<PathBuf, (i64, i64, u64)>,
    /// Memtable batches (active and frozen), each with its own columns.
    pub memtable: Vec<RecordBatch>,
    /// Every content and tag column name of the logstore.
    pub columns: BTreeSet<String>,
    /// Columns that every input of the snapshot holding them stores as
    /// Int64 (canonical `long` keys); the others are read as text.
    pub int_columns: BTreeSet<String>,
    /// Rows in the segments and memtable considered (an upper bound of the
    /// rows in range: SLS's `processedRows`).
    pub rows: u64,
    /// Keeps the segment files alive while the query reads them, even if
    /// compaction or retention replaces them meanwhile.
    _pins: Vec<Arc<SegmentFile>>,
}

impl Snapshot {
    /// Rows in the snapshot's memtable batches.
    pub fn memtable_rows(&self) -> u64 {
        self.memtable
            .iter()
            .map(|batch| batch.num_rows() as u64)
            .sum()
    }
}

struct Append {
    /// The rows as Arrow; `None` for the flush marker.
    rows: Option<RecordBatch>,
    payload: Vec<u8>,
    columns: BTreeSet<String>,
    /// Idempotency key: skipped when its stream already reached its position.
    key: Option<WriteKey>,
    /// Resolves with whether the rows were applied.
    acknowledge: tokio::sync::oneshot::Sender<Result<bool, StoreError>>,
}

struct Shared {
    directory: PathBuf,
    config: LocalStoreConfig,
    state: RwLock<State>,
    /// Wakes the flusher (new frozen memtable or shutdown) and the writer
    /// (a flush finished, when it waits for room).
    changed: Condvar,
    changed_lock: Mutex<bool>,
    meta: RwLock<LogstoreMeta>,
    /// Held by whoever compacts (the compactor thread or `compact_all`).
    compaction: Mutex<()>,
}

/// An open logstore.
pub struct Logstore {
    shared: Arc<Shared>,
    sender: Mutex<Option<SyncSender<Append>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Index keys of type `long`: stored as Int64 columns when canonical.
fn long_keys(meta: &LogstoreMeta) -> BTreeSet<String> {
    meta.index
        .as_ref()
        .map(|index| {
            index
                .keys
                .iter()
                .filter(|(_, field)| field.field_type == sentry_sls_store::FieldType::Long)
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Rows within a segment are ordered by these keys, then by time: a
/// project's rows, and within it a group's, are contiguous, so Parquet
/// statistics prune the row groups and pages of other projects and groups
/// (ClickHouse's errors table orders by project, day, primary hash).
pub const SORT_KEYS: [&str; 2] = ["project_id", "group_id"];

fn io_error(context: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::internal(format!("{context}: {error}"))
}

impl Logstore {
    /// Creates a new logstore directory with `meta`.
    pub fn create(
        directory: &Path,
        meta: LogstoreMeta,
        config: LocalStoreConfig,
    ) -> Result<Logstore, StoreError> {
        fs::create_dir_all(directory)
            .map_err(|error| io_error("creating logstore directory", error))?;
        meta.store(directory)?;
        Logstore::open(directory, config)
    }

    /// Opens an existing logstore, replaying its WAL.
    pub fn open(directory: &Path, config: LocalStoreConfig) -> Result<Logstore, StoreError> {
        let meta = LogstoreMeta::load(directory)?;
        let manifest =
            Manifest::load(directory).map_err(|error| io_error("reading manifest", error))?;
        remove_stray_segments(directory, &manifest)?;
        let wal_directory = directory.join("wal");
        fs::create_dir_all(&wal_directory)
            .map_err(|error| io_error("creating wal directory", error))?;
        let mut active = Memtable::default();
        let mut columns: BTreeSet<String> = manifest
            .segments
            .iter()
            .flat_map(|segment| segment.columns.iter().cloned())
            .collect();
        let sequences =
            wal::list_segments(&wal_directory).map_err(|error| io_error("listing wal", error))?;
        let mut replayed = 0usize;
        let mut marks = manifest.marks.clone();
        for &sequence in &sequences {
            if sequence <= manifest.flushed_through {
                continue;
            }
            let frames = wal::read_segment(&wal_directory, sequence)
                .map_err(|error| io_error("reading wal", error))?;
            for frame in frames {
                let Some((key, batch)) = codec::decode_keyed(&frame) else {
                    tracing::warn!(sequence, "undecodable wal frame skipped");
                    continue;
                };
                if let Some(key) = key {
                    let mark = marks.entry(key.stream).or_insert(key.position);
                    *mark = (*mark).max(key.position);
                }
                columns.extend(columnar::column_names([&batch]));
                let rows = columnar::log_batch_to_arrow(&batch)
                    .map_err(|error| io_error("replaying wal", error))?;
                let rows = columnar::type_long_columns(rows, &long_keys(&meta));
                active.rows += rows.num_rows();
                active.bytes += frame.len();
                replayed += rows.num_rows();
                active.batches.push(rows);
            }
        }
        if replayed > 0 {
            active.since = Some(Instant::now());
            tracing::info!(logstore = %meta.config.name, rows = replayed, "replayed write-ahead log");
        }
        let last_sequence = sequences
            .last()
            .copied()
            .unwrap_or(0)
            .max(manifest.flushed_through);
        let wal_handle = Wal::open(&wal_directory, last_sequence)
            .map_err(|error| io_error("opening wal", error))?;
        let files = manifest
            .segments
            .iter()
            .map(|segment| {
                (
                    segment.path.clone(),
                    SegmentFile::new(directory.join(&segment.path)),
                )
            })
            .collect();
        let shared = Arc::new(Shared {
            directory: directory.to_path_buf(),
            config: config.clone(),
            state: RwLock::new(State {
                active,
                frozen: VecDeque::new(),
                segments: manifest.segments,
                flushed_through: manifest.flushed_through,
                columns,
                failure: None,
                marks,
                flushed_marks: manifest.marks,
                files,
            }),
            changed: Condvar::new(),
            changed_lock: Mutex::new(false),
            meta: RwLock::new(meta),
            compaction: Mutex::new(()),
        });
        let (sender, receiver) = std::sync::mpsc::sync_channel(config.queue_depth);
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("sls-local-wal".into())
            .spawn(move || writer_loop(&writer_shared, wal_handle, &receiver))
            .map_err(|error| io_error("starting the wal writer", error))?;
        let flusher_shared = Arc::clone(&shared);
        let flusher = std::thread::Builder::new()
            .name("sls-local-flush".into())
            .spawn(move || flusher_loop(&flusher_shared))
            .map_err(|error| io_error("starting the flusher", error))?;
        let mut threads = vec![writer, flusher];
        if config.background_compaction {
            let compactor_shared = Arc::clone(&shared);
            threads.push(
                std::thread::Builder::new()
                    .name("sls-local-compact".into())
                    .spawn(move || compactor_loop(&compactor_shared))
                    .map_err(|error| io_error("starting the compactor", error))?,
            );
        }
        Ok(Logstore {
            shared,
            sender: Mutex::new(Some(sender)),
            threads: Mutex::new(threads),
        })
    }

    /// Settings and index.
    pub fn meta(&self) -> LogstoreMeta {
        self.shared.meta.read().expect("meta lock").clone()
    }

    /// Replaces settings and index durably.
    pub fn set_meta(&self, meta: LogstoreMeta) -> Result<(), StoreError> {
        let mut current = self.shared.meta.write().expect("meta lock");
        meta.store(&self.shared.directory)?;
        *current = meta;
        Ok(())
    }

    /// Appends a batch; resolves once it is durable and visible.
    pub async fn append(&self, batch: LogBatch) -> Result<(), StoreError> {
        self.append_keyed(batch, None).await.map(|_| ())
    }

    /// Appends a batch unless `key`'s stream already reached its position
    /// (then nothing is written and the answer is `false`). The key is
    /// written with the rows, so the check survives crashes and restarts.
    pub async fn append_keyed(
        &self,
        batch: LogBatch,
        key: Option<WriteKey>,
    ) -> Result<bool, StoreError> {
        if batch.logs.is_empty() {
            return Ok(true);
        }
        let sender = self
            .sender
            .lock()
            .expect("sender lock")
            .clone()
            .ok_or_else(|| {
                StoreError::new(StoreErrorCode::ServerBusy, "the logstore is shutting down")
            })?;
        let (acknowledge, acknowledged) = tokio::sync::oneshot::channel();
        // Encoding is CPU work and `send` may block on a full queue (back-pressure):
        // both belong on the blocking pool, not on an async worker.
        let long_keys = long_keys(&self.meta());
        tokio::task::spawn_blocking(move || {
            let payload = match &key {
                Some(key) => codec::encode_keyed(&batch, key),
                None => codec::encode(&batch),
            };
            let columns = columnar::column_names([&batch]);
            let rows = columnar::log_batch_to_arrow(&batch)
                .map_err(|error| StoreError::invalid(format!("unusable log batch: {error}")))?;
            let rows = columnar::type_long_columns(rows, &long_keys);
            let append = Append {
                rows: Some(rows),
                payload,
                columns,
                key,
                acknowledge,
            };
            match sender.try_send(append) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(append)) => sender.send(append).map_err(|_| {
                    StoreError::new(StoreErrorCode::ServerBusy, "the logstore is shutting down")
                }),
                Err(TrySendError::Disconnected(_)) => Err(StoreError::new(
                    StoreErrorCode::ServerBusy,
                    "the logstore is shutting down",
                )),
            }
        })
        .await
        .map_err(|error| StoreError::internal(format!("append task failed: {error}")))??;
        acknowledged
            .await
            .map_err(|_| StoreError::internal("the wal writer stopped before acknowledging"))?
    }

    /// The rows a query over `[from, to)` must read.
    pub fn snapshot(&self, from: i64, to: i64) -> Snapshot {
        let state = self.shared.state.read().expect("state lock");
        let overlapping: Vec<&SegmentMeta> = state
            .segments
            .iter()
            .filter(|segment| segment.max_time >= from && segment.min_time < to)
            .collect();
        let mut rows: u64 = overlapping.iter().map(|segment| segment.rows).sum();
        let mut pins: Vec<Arc<SegmentFile>> = Vec::with_capacity(overlapping.len());
        let mut segment_spans = std::collections::HashMap::with_capacity(overlapping.len());
        for segment in &overlapping {
            if let Some(file) = state.files.get(&segment.path) {
                segment_spans.insert(
                    file.path.clone(),
                    (segment.min_time, segment.max_time, segment.rows),
                );
                pins.push(Arc::clone(file));
            }
        }
        let segment_paths = pins.iter().map(|file| file.path.clone()).collect();
        let mut memtable: Vec<RecordBatch> = Vec::new();
        for frozen in &state.frozen {
            memtable.extend(frozen.batches.iter().cloned());
        }
        memtable.extend(state.active.batches.iter().cloned());
        rows += memtable
            .iter()
            .map(|batch| batch.num_rows() as u64)
            .sum::<u64>();
        // Int64 only where every input holding the column has it as Int64.
        let memtable_ints = columnar::int_columns(&memtable);
        let memtable_columns = columnar::arrow_column_names(&memtable);
        let mut int_columns: BTreeSet<String> = overlapping
            .iter()
            .flat_map(|segment| segment.int_columns.iter().cloned())
            .chain(memtable_ints.iter().cloned())
            .collect();
        int_columns.retain(|name| {
            (memtable_ints.contains(name) || !memtable_columns.contains(name))
                && overlapping.iter().all(|segment| {
                    segment.int_columns.contains(name) || !segment.columns.contains(name)
                })
        });
        Snapshot {
            segment_paths,
            segment_spans,
            memtable,
            columns: state.columns.clone(),
            int_columns,
            rows,
            _pins: pins,
        }
    }

    /// Writes every memtable row into segments and waits for it (used by
    /// tests, benchmarks and graceful shutdown). Blocking: call it from a
    /// blocking thread, not an async task.
    pub fn flush(&self) -> Result<(), StoreError> {
        // Ask the writer to freeze whatever is active by sending an empty marker.
        let sender = self.sender.lock().expect("sender lock").clone();
        let Some(sender) = sender else {
            return Err(StoreError::new(
                StoreErrorCode::ServerBusy,
                "the logstore is shut down",
            ));
        };
        {
            let (acknowledge, acknowledged) = tokio::sync::oneshot::channel();
            let marker = Append {
                rows: None,
                payload: Vec::new(),
                columns: BTreeSet::new(),
                key: None,
                acknowledge,
            };
            sender
                .send(marker)
                .map_err(|_| StoreError::internal("the wal writer stopped"))?;
            // Polled rather than `blocking_recv`, which panics on a runtime thread.
            let mut acknowledged = acknowledged;
            loop {
                match acknowledged.try_recv() {
                    Ok(result) => break result.map(|_| ())?,
                    Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {
                        std::thread::sleep(Duration::from_millis(2))
                    }
                    Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                        return Err(StoreError::internal("the wal writer stopped"));
                    }
                }
            }
        }
        let mut guard = self.shared.changed_lock.lock().expect("changed lock");
        loop {
            {
                let state = self.shared.state.read().expect("state lock");
                if let Some(failure) = &state.failure {
                    return Err(StoreError::internal(failure.clone()));
                }
                if state.frozen.is_empty() && state.active.rows == 0 {
                    return Ok(());
                }
            }
            self.shared.changed.notify_all();
            guard = self
                .shared
                .changed
                .wait_timeout(guard, Duration::from_millis(50))
                .expect("changed lock")
                .0;
        }
    }

    /// Row counts: (memtable rows, segment rows, segments).
    pub fn stats(&self) -> (usize, u64, usize) {
        let state = self.shared.state.read().expect("state lock");
        let memtable = state.active.rows
            + state
                .frozen
                .iter()
                .map(|f| f.batches.iter().map(RecordBatch::num_rows).sum::<usize>())
                .sum::<usize>();
        let segment_rows = state.segments.iter().map(|segment| segment.rows).sum();
        (memtable, segment_rows, state.segments.len())
    }

    /// The live segments, as the manifest names them.
    pub fn segments(&self) -> Vec<SegmentMeta> {
        self.shared
            .state
            .read()
            .expect("state lock")
            .segments
            .clone()
    }

    /// Absolute path of a segment (relative path as in [`SegmentMeta`]).
    pub fn segment_path(&self, segment: &SegmentMeta) -> PathBuf {
        self.shared.directory.join(&segment.path)
    }

    /// Merges every day partition that has more than one segment into one
    /// segment, as the background compactor does for settled days (used by
    /// benchmarks and tests to measure or check the settled layout).
    /// Blocking: call it from a blocking thread. Returns the segments merged.
    pub fn compact_all(&self) -> Result<usize, StoreError> {
        let mut merged = 0;
        while let Some(inputs) = compact_once(&self.shared, true)? {
            merged += inputs;
        }
        Ok(merged)
    }

    /// Stops the threads; acknowledged rows stay in the WAL or segments.
    pub fn shutdown(&self) {
        self.sender.lock().expect("sender lock").take();
        *self.shared.changed_lock.lock().expect("changed lock") = true;
        self.shared.changed.notify_all();
        let threads: Vec<JoinHandle<()>> = self
            .threads
            .lock()
            .expect("threads lock")
            .drain(..)
            .collect();
        for thread in threads {
            let _ = thread.join();
        }
    }

    /// Deletes everything of this logstore from disk (after shutdown).
    pub fn destroy(&self) -> Result<(), StoreError> {
        self.shutdown();
        fs::remove_dir_all(&self.shared.directory)
            .map_err(|error| io_error("deleting logstore", error))
    }
}

impl Drop for Logstore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Deletes segment files that no manifest names (left by a crashed flush).
fn remove_stray_segments(directory: &Path, manifest: &Manifest) -> Result<(), StoreError> {
    let segments_directory = directory.join("segments");
    let Ok(days) = fs::read_dir(&segments_directory) else {
        return Ok(());
    };
    let live: BTreeSet<PathBuf> = manifest
        .segments
        .iter()
        .map(|segment| directory.join(&segment.path))
        .collect();
    for day in days.flatten() {
        let Ok(files) = fs::read_dir(day.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if !live.contains(&path) {
                tracing::info!(path = %path.display(), "removing segment not in the manifest");
                wal::remove_file_gradually(&path)
                    .map_err(|error| io_error("removing stray segment", error))?;
            }
        }
    }
    Ok(())
}

fn writer_loop(shared: &Shared, mut wal_handle: Wal, receiver: &Receiver<Append>) {
    loop {
        let first = match receiver.recv_timeout(Duration::from_millis(200)) {
            Ok(append) => append,
            Err(RecvTimeoutError::Timeout) => {
                maybe_freeze(shared, &mut wal_handle, false);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut group = vec![first];
        let mut group_bytes = group[0].payload.len();
        while group_bytes < shared.config.max_group_bytes {
            match receiver.try_recv() {
                Ok(append) => {
                    group_bytes += append.payload.len();
                    group.push(append);
                }
                Err(_) => break,
            }
        }
        let force_freeze = group.iter().any(|append| append.rows.is_none());
        let (failure, mut marks) = {
            let state = shared.state.read().expect("state lock");
            (state.failure.clone(), state.marks.clone())
        };
        // Keyed appends at or behind their stream's mark were applied before
        // (a re-send after a crash): acknowledge them without writing.
        let applied: Vec<bool> = group
            .iter()
            .map(|append| match &append.key {
                None => true,
                Some(key) => match marks.get(&key.stream) {
                    Some(mark) if *mark >= key.position => false,
                    _ => {
                        marks.insert(key.stream.clone(), key.position);
                        true
                    }
                },
            })
            .collect();
        let result = match failure {
            Some(failure) => Err(StoreError::internal(failure)),
            None => {
                let payloads: Vec<&[u8]> = group
                    .iter()
                    .zip(&applied)
                    .filter(|(append, applied)| **applied && !append.payload.is_empty())
                    .map(|(append, _)| append.payload.as_slice())
                    .collect();
                let written = if payloads.is_empty() {
                    Ok(())
                } else {
                    wal_handle
                        .append(&payloads)
                        .and_then(|()| wal_handle.sync())
                };
                written.map_err(|error| {
                    let message = format!("write-ahead log failed: {error}");
                    tracing::error!(%message, "refusing further appends");
                    shared.state.write().expect("state lock").failure = Some(message.clone());
                    StoreError::internal(message)
                })
            }
        };
        if result.is_ok() {
            let mut state = shared.state.write().expect("state lock");
            state.marks = marks;
            for (append, _) in group.iter().zip(&applied).filter(|(_, applied)| **applied) {
                let Some(rows) = &append.rows else {
                    continue;
                };
                state.active.rows += rows.num_rows();
                state.active.bytes += append.payload.len();
                state.active.since.get_or_insert_with(Instant::now);
                state.active.batches.push(rows.clone());
                for column in &append.columns {
                    if !state.columns.contains(column) {
                        state.columns.insert(column.clone());
                    }
                }
            }
        }
        // Acknowledge first: the appends are durable and visible, and a flush
        // that is slow (or failing) must not hold their answers.
        for (append, applied) in group.into_iter().zip(applied) {
            let _ = append.acknowledge.send(result.clone().map(|()| applied));
        }
        if result.is_ok() {
            maybe_freeze(shared, &mut wal_handle, force_freeze);
        }
    }
}

/// Freezes the active memtable when it is big or old enough (or `force`),
/// waiting for the flusher when too many frozen memtables are pending.
fn maybe_freeze(shared: &Shared, wal_handle: &mut Wal, force: bool) {
    let due = {
        let state = shared.state.read().expect("state lock");
        let active = &state.active;
        active.rows > 0
            && (force
                || active.rows >= shared.config.flush_rows
                || active.bytes >= shared.config.flush_bytes
                || active
                    .since
                    .is_some_and(|since| since.elapsed() >= shared.config.flush_interval))
    };
    if !due {
        return;
    }
    // Back-pressure: never hold more than `max_frozen` memtables in memory.
    let mut guard = shared.changed_lock.lock().expect("changed lock");
    while shared.state.read().expect("state lock").frozen.len() >= shared.config.max_frozen
        && !*guard
    {
        guard = shared
            .changed
            .wait_timeout(guard, Duration::from_millis(100))
            .expect("changed lock")
            .0;
    }
    drop(guard);
    let through = match wal_handle.rotate() {
        Ok(closed) => closed,
        Err(error) => {
            tracing::error!(%error, "rotating the wal failed; will retry");
            return;
        }
    };
    {
        let mut state = shared.state.write().expect("state lock");
        let active = std::mem::take(&mut state.active);
        let marks = state.marks.clone();
        state.frozen.push_back(Frozen {
            through,
            batches: Arc::new(active.batches),
            marks,
        });
    }
    shared.changed.notify_all();
}

fn flusher_loop(shared: &Shared) {
    let mut last_retention = Instant::now() - Duration::from_secs(3600);
    loop {
        let next = shared
            .state
            .read()
            .expect("state lock")
            .frozen
            .front()
            .map(|frozen| {
                (
                    frozen.through,
                    Arc::clone(&frozen.batches),
                    frozen.marks.clone(),
                )
            });
        match next {
            Some((through, batches, marks)) => {
                if let Err(error) = flush_frozen(shared, through, &batches, marks) {
                    if *shared.changed_lock.lock().expect("changed lock") {
                        // Shutting down: the rows stay in the WAL for the next start.
                        tracing::error!(%error, "flush failed during shutdown; the rows stay in the wal");
                        return;
                    }
                    tracing::error!(%error, "flush failed; the rows stay in the wal, retrying");
                    std::thread::sleep(Duration::from_secs(1));
                }
                shared.changed.notify_all();
                continue;
            }
            None => {
                if last_retention.elapsed() >= Duration::from_secs(60) {
                    last_retention = Instant::now();
                    if let Err(error) = apply_retention(shared) {
                        tracing::error!(%error, "retention failed");
                    }
                }
                let guard = shared.changed_lock.lock().expect("changed lock");
                if *guard && shared.state.read().expect("state lock").frozen.is_empty() {
                    return;
                }
                let _ = shared
                    .changed
                    .wait_timeout(guard, Duration::from_millis(500));
                if *shared.changed_lock.lock().expect("changed lock")
                    && shared.state.read().expect("state lock").frozen.is_empty()
                {
                    return;
                }
            }
        }
    }
}

/// Writes one frozen memtable as day-partitioned, time-sorted segments, then
/// publishes them and drops the WAL segments they came from.
fn flush_frozen(
    shared: &Shared,
    through: u64,
    batches: &[RecordBatch],
    marks: BTreeMap<String, (u64, u64)>,
) -> Result<(), StoreError> {
    let names = columnar::arrow_column_names(batches);
    let schema = columnar::storage_schema_typed(&names, &columnar::int_columns(batches));
    let unified: Vec<RecordBatch> = batches
        .iter()
        .filter(|batch| batch.num_rows() > 0)
        .map(|batch| columnar::unify(batch, &schema))
        .collect::<Result<_, _>>()
        .map_err(|error| io_error("building segment", error))?;
    // Only the sort keys and times are concatenated to find the order; the wide columns
    // (bodies) are gathered from the memtable batches a chunk at a time as they are
    // written, so a flush holds one chunk beyond the memtable, not two copies of it.
    let (order, times) = flush_order(&schema, &unified)?;
    let mut starts = Vec::with_capacity(unified.len());
    let mut total = 0usize;
    for batch in &unified {
        starts.push(total);
        total += batch.num_rows();
    }
    let locate = |global: usize| {
        let batch = starts.partition_point(|&start| start <= global) - 1;
        (batch, global - starts[batch])
    };
    let mut days: BTreeMap<i64, Vec<(usize, usize)>> = BTreeMap::new();
    for &global in order.values() {
        let global = global as usize;
        days.entry(times.value(global).div_euclid(SECONDS_PER_DAY))
            .or_default()
            .push(locate(global));
    }
    let sources: Vec<&RecordBatch> = unified.iter().collect();
    let mut new_segments = Vec::new();
    for (ordinal, (day, rows)) in days.iter().enumerate() {
        // Columns with a value in this day's rows (meta columns always).
        let keep: Vec<usize> = (0..schema.fields().len())
            .filter(|&index| {
                index < columnar::META_COLUMNS.len()
                    || rows
                        .iter()
                        .any(|&(batch, row)| unified[batch].column(index).is_valid(row))
            })
            .collect();
        let day_schema = Arc::new(
            schema
                .project(&keep)
                .map_err(|error| io_error("building segment", error))?,
        );
        let relative = format!("segments/{day}/{through:020}-{ordinal}.parquet");
        let path = shared.directory.join(&relative);
        let partition = path.parent().expect("segment parent");
        if !partition.exists() {
            fs::create_dir_all(partition).map_err(|error| io_error("creating partition", error))?;
            // New directory entries must be durable before the manifest names them.
            let segments_directory = shared.directory.join("segments");
            wal::sync_directory(&segments_directory)
                .and_then(|()| wal::sync_directory(&shared.directory))
                .map_err(|error| io_error("syncing partition directories", error))?;
        }
        let mut writer = columnar::SegmentWriter::create(&path, Arc::clone(&day_schema))
            .map_err(|error| io_error("writing segment", error))?;
        for chunk in rows.chunks(FLUSH_CHUNK_ROWS) {
            let gathered = arrow::compute::interleave_record_batch(&sources, chunk)
                .and_then(|batch| batch.project(&keep))
                .map_err(|error| io_error("building segment", error))?;
            writer
                .write(&gathered)
                .map_err(|error| io_error("writing segment", error))?;
        }
        writer
            .finish()
            .map_err(|error| io_error("writing segment", error))?;
        let (min_time, max_time) =
            rows.iter()
                .fold((i64::MAX, i64::MIN), |(low, high), &(b, r)| {
                    let time = unified[b]
                        .column(0)
                        .as_primitive::<arrow::datatypes::Int64Type>()
                        .value(r);
                    (low.min(time), high.max(time))
                });
        new_segments.push(segment_meta(
            relative,
            *day,
            min_time,
            max_time,
            rows.len() as u64,
            &day_schema,
            0,
        ));
    }
    let mut state = shared.state.write().expect("state lock");
    let mut segments = state.segments.clone();
    for segment in &new_segments {
        state.files.insert(
            segment.path.clone(),
            SegmentFile::new(shared.directory.join(&segment.path)),
        );
    }
    segments.extend(new_segments);
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        flushed_through: through,
        segments,
        marks,
    };
    manifest
        .store(&shared.directory)
        .map_err(|error| io_error("writing manifest", error))?;
    state.segments = manifest.segments;
    state.flushed_through = through;
    state.flushed_marks = manifest.marks;
    state.frozen.pop_front();
    drop(state);
    wal::Wal::delete_through(&shared.directory.join("wal"), through)
        .map_err(|error| io_error("deleting flushed wal", error))?;
    Ok(())
}

/// The manifest entry of a segment file with `schema`.
fn segment_meta(
    path: String,
    day: i64,
    min_time: i64,
    max_time: i64,
    rows: u64,
    schema: &arrow::datatypes::Schema,
    level: u32,
) -> SegmentMeta {
    let content = || {
        schema
            .fields()
            .iter()
            .filter(|field| !columnar::META_COLUMNS.contains(&field.name().as_str()))
    };
    SegmentMeta {
        path,
        day,
        min_time,
        max_time,
        rows,
        columns: content().map(|field| field.name().clone()).collect(),
        int_columns: content()
            .filter(|field| field.data_type() == &arrow::datatypes::DataType::Int64)
            .map(|field| field.name().clone())
            .collect(),
        level,
    }
}

/// Rows per chunk gathered from the memtable while a flush writes a segment.
const FLUSH_CHUNK_ROWS: usize = 8192;

/// The flush order of the memtable rows of `batches` (concatenated numbering): by
/// [`SORT_KEYS`] (those in `schema`), then time; with every row's `__time__`.
fn flush_order(
    schema: &arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<(arrow::array::UInt32Array, arrow::array::Int64Array), StoreError> {
    let concat = |index: usize| {
        let columns: Vec<&dyn arrow::array::Array> = batches
            .iter()
            .map(|batch| batch.column(index).as_ref())
            .collect();
        if columns.is_empty() {
            return Ok(arrow::array::new_empty_array(
                schema.field(index).data_type(),
            ));
        }
        arrow::compute::concat(&columns).map_err(|error| io_error("sorting segment", error))
    };
    let mut keys: Vec<arrow::compute::SortColumn> = Vec::new();
    for name in SORT_KEYS {
        if let Some((index, _)) = schema.column_with_name(name) {
            keys.push(arrow::compute::SortColumn {
                values: concat(index)?,
                options: None,
            });
        }
    }
    let time = concat(0)?;
    keys.push(arrow::compute::SortColumn {
        values: Arc::clone(&time),
        options: None,
    });
    let order = arrow::compute::lexsort_to_indices(&keys, None)
        .map_err(|error| io_error("sorting segment", error))?;
    Ok((
        order,
        time.as_primitive::<arrow::datatypes::Int64Type>().clone(),
    ))
}

/// Drops whole day partitions older than the TTL.
fn apply_retention(shared: &Shared) -> Result<(), StoreError> {
    let ttl_days = i64::from(shared.meta.read().expect("meta lock").config.ttl.max(1));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0);
    let oldest_kept_day = now.div_euclid(SECONDS_PER_DAY) - ttl_days;
    let mut state = shared.state.write().expect("state lock");
    let (expired, kept): (Vec<SegmentMeta>, Vec<SegmentMeta>) = state
        .segments
        .iter()
        .cloned()
        .partition(|segment| segment.day < oldest_kept_day);
    if expired.is_empty() {
        return Ok(());
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        flushed_through: state.flushed_through,
        segments: kept,
        marks: state.flushed_marks.clone(),
    };
    manifest
        .store(&shared.directory)
        .map_err(|error| io_error("writing manifest", error))?;
    state.segments = manifest.segments;
    // Deleted now, outside the lock, or when the last query reading them finishes.
    let retired = retire_files(&mut state, &expired);
    drop(state);
    let days: BTreeSet<i64> = expired.iter().map(|segment| segment.day).collect();
    let directory = shared.directory.clone();
    let remove = move || {
        drop(retired);
        for day in days {
            let _ = fs::remove_dir(directory.join(format!("segments/{day}")));
        }
    };
    // Off the flusher thread: expired days can be GiB, deleted in steps
    // (`remove_file_gradually`), and flushes should not wait for that. If
    // no thread can start, the closure is dropped here, deleting inline.
    let _ = std::thread::Builder::new()
        .name("retention-remover".into())
        .spawn(remove);
    tracing::info!(
        segments = expired.len(),
        "retention dropped expired partitions"
    );
    Ok(())
}

/// Picks the segments of one day partition to merge, or `None`.
///
/// - `force`: any day with two or more segments, merged whole.
/// - At most `2 × compact_min_segments` inputs per merge (the smallest),
///   so a merge's memory stays bounded; the next round takes the rest.
/// - A settled day (ended `compact_settle` ago; no flush of live traffic
///   lands in it any more) is merged whole once its smaller segments add up
///   to an eighth of its largest or there are `compact_min_segments` of
///   them, so a trickle of late events does not rewrite the day each time.
/// - Otherwise (the current day) size tiers: `compact_min_segments`
///   segments of one level merge into one of the next level, so each row is
///   rewritten about log_N(flushes per day) times, not once per flush.
///
/// Returns the day, the inputs and the output's level.
fn plan_compaction(
    segments: &[SegmentMeta],
    now: i64,
    config: &LocalStoreConfig,
    force: bool,
) -> Option<(i64, Vec<SegmentMeta>, u32)> {
    let mut days: BTreeMap<i64, Vec<&SegmentMeta>> = BTreeMap::new();
    for segment in segments {
        days.entry(segment.day).or_default().push(segment);
    }
    let min_segments = config.compact_min_segments.max(2);
    // Bounded memory: a merge reads one batch per input at a time.
    let max_inputs = min_segments * 2;
    // The smallest segments first when there are more than `max_inputs`;
    // the next round merges the rest.
    let capped = |mut inputs: Vec<SegmentMeta>| {
        if inputs.len() > max_inputs {
            inputs.sort_by_key(|segment| segment.rows);
            inputs.truncate(max_inputs);
        }
        inputs
    };
    for (day, in_day) in days {
        if in_day.len() < 2 {
            continue;
        }
        let top = in_day
            .iter()
            .map(|segment| segment.level)
            .max()
            .unwrap_or(0);
        let settled = (day + 1) * SECONDS_PER_DAY + config.compact_settle.as_secs() as i64 <= now;
        let largest = in_day.iter().map(|segment| segment.rows).max().unwrap_or(0);
        let rest: u64 = in_day.iter().map(|segment| segment.rows).sum::<u64>() - largest;
        if force || (settled && (rest * 8 >= largest || in_day.len() >= min_segments)) {
            let inputs = capped(in_day.into_iter().cloned().collect());
            let level = inputs
                .iter()
                .map(|segment| segment.level)
                .max()
                .unwrap_or(0);
            return Some((day, inputs, level + 1));
        }
        for level in 0..=top {
            let tier: Vec<SegmentMeta> = in_day
                .iter()
                .filter(|segment| segment.level == level)
                .map(|segment| (*segment).clone())
                .collect();
            if tier.len() >= min_segments {
                return Some((day, capped(tier), level + 1));
            }
        }
    }
    None
}

/// Runs one compaction if one is due (any day with 2+ segments when
/// `force`). Returns the number of segments merged, `None` when nothing was
/// due.
///
/// Crash safety: the merged segment is written under a new name (a
/// temporary file renamed into place), then the manifest is replaced
/// naming it instead of its inputs; only then are the inputs retired
/// (deleted once no running query holds them). A crash before the manifest
/// leaves a file no manifest names, one after it leaves the inputs unnamed:
/// [`remove_stray_segments`] deletes either at the next open.
fn compact_once(shared: &Shared, force: bool) -> Result<Option<usize>, StoreError> {
    let _compacting = shared.compaction.lock().expect("compaction lock");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0);
    // The inputs' files are held for the merge: retention (on the flusher
    // thread) may retire the day meanwhile, and a retired file is truncated
    // as it is deleted, which a reader must not see.
    let (planned, _held) = {
        let state = shared.state.read().expect("state lock");
        let planned = plan_compaction(&state.segments, now, &shared.config, force);
        let held: Vec<Arc<SegmentFile>> = planned
            .iter()
            .flat_map(|(_, inputs, _)| inputs)
            .filter_map(|segment| state.files.get(&segment.path).cloned())
            .collect();
        (planned, held)
    };
    let Some((day, inputs, level)) = planned else {
        return Ok(None);
    };
    let started = Instant::now();
    let names: BTreeSet<String> = inputs
        .iter()
        .flat_map(|segment| segment.columns.iter().cloned())
        .collect();
    // Int64 only where every input holding the column has it as Int64.
    let int_columns: BTreeSet<String> = names
        .iter()
        .filter(|name| {
            inputs.iter().all(|segment| {
                segment.int_columns.contains(name) || !segment.columns.contains(name)
            })
        })
        .cloned()
        .collect();
    let schema = columnar::storage_schema_typed(&names, &int_columns);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or(0);
    let relative = format!("segments/{day}/compacted-{nanos:024}.parquet");
    let output = shared.directory.join(&relative);
    let paths: Vec<PathBuf> = inputs
        .iter()
        .map(|segment| shared.directory.join(&segment.path))
        .collect();
    let cancelled = || *shared.changed_lock.lock().expect("changed lock");
    let merged = compact::merge(&paths, &schema, &output, &cancelled)
        .map_err(|error| io_error("compacting segments", error))?;
    let expected: u64 = inputs.iter().map(|segment| segment.rows).sum();
    if merged.rows != expected {
        let _ = fs::remove_file(&output);
        return Err(StoreError::internal(format!(
            "compaction of day {day} read {} rows, the manifest says {expected}",
            merged.rows
        )));
    }
    let segment = segment_meta(
        relative,
        day,
        merged.min_time,
        merged.max_time,
        merged.rows,
        &schema,
        level,
    );
    let mut state = shared.state.write().expect("state lock");
    let input_paths: BTreeSet<&str> = inputs.iter().map(|segment| segment.path.as_str()).collect();
    let still_live = state
        .segments
        .iter()
        .filter(|segment| input_paths.contains(segment.path.as_str()))
        .count();
    if still_live != inputs.len() {
        // Retention dropped the day meanwhile.
        drop(state);
        let _ = fs::remove_file(&output);
        return Ok(Some(0));
    }
    let mut segments: Vec<SegmentMeta> = state
        .segments
        .iter()
        .filter(|segment| !input_paths.contains(segment.path.as_str()))
        .cloned()
        .collect();
    segments.push(segment.clone());
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        flushed_through: state.flushed_through,
        segments,
        marks: state.flushed_marks.clone(),
    };
    if let Err(error) = manifest.store(&shared.directory) {
        drop(state);
        let _ = fs::remove_file(&output);
        return Err(io_error("writing manifest", error));
    }
    state.segments = manifest.segments;
    state.files.insert(
        segment.path.clone(),
        SegmentFile::new(shared.directory.join(&segment.path)),
    );
    let retired = retire_files(&mut state, &inputs);
    drop(state);
    drop(retired);
    tracing::info!(
        day,
        inputs = inputs.len(),
        rows = merged.rows,
        level,
        seconds = started.elapsed().as_secs_f64(),
        "compacted segments"
    );
    Ok(Some(inputs.len()))
}

/// Background compaction: looks for due compactions every
/// `compact_interval`, runs them one at a time, stops at shutdown.
fn compactor_loop(shared: &Shared) {
    loop {
        {
            let guard = shared.changed_lock.lock().expect("changed lock");
            if *guard {
                return;
            }
            let (guard, _) = shared
                .changed
                .wait_timeout(guard, shared.config.compact_interval)
                .expect("changed lock");
            if *guard {
                return;
            }
        }
        loop {
            match compact_once(shared, false) {
                Ok(Some(_)) => {
                    if *shared.changed_lock.lock().expect("changed lock") {
                        return;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    if !*shared.changed_lock.lock().expect("changed lock") {
                        tracing::error!(%error, "compaction failed; will retry");
                    }
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(day: i64, rows: u64, level: u32, name: &str) -> SegmentMeta {
        SegmentMeta {
            path: format!("segments/{day}/{name}.parquet"),
            day,
            min_time: day * SECONDS_PER_DAY,
            max_time: day * SECONDS_PER_DAY + 1,
            rows,
            columns: Vec::new(),
            int_columns: Vec::new(),
            level,
        }
    }

    #[test]
    fn compaction_plans_tiers_today_and_whole_settled_days() {
        let config = LocalStoreConfig {
            compact_min_segments: 4,
            compact_settle: Duration::from_secs(3600),
            ..LocalStoreConfig::default()
        };
        let today = 20_000;
        let now = today * SECONDS_PER_DAY + 7200;
        let names = ["a", "b", "c", "d", "e"];
        // Today: three flushes are not enough, four of a level are.
        let mut current: Vec<SegmentMeta> = names[..3]
            .iter()
            .map(|name| segment(today, 100, 0, name))
            .collect();
        current.push(segment(today, 5_000, 1, "big"));
        assert_eq!(plan_compaction(&current, now, &config, false), None);
        current.push(segment(today, 100, 0, "d"));
        let (day, inputs, level) = plan_compaction(&current, now, &config, false).unwrap();
        assert_eq!((day, inputs.len(), level), (today, 4, 1));
        assert!(inputs.iter().all(|segment| segment.level == 0));
        // Forced: the whole day.
        let (_, inputs, level) = plan_compaction(&current, now, &config, true).unwrap();
        assert_eq!((inputs.len(), level), (5, 2));

        // Yesterday ended two hours ago: settled. A big segment plus one late
        // trickle waits; enough late rows merge the whole day.
        let yesterday = today - 1;
        let mut settled = vec![
            segment(yesterday, 8_000, 2, "big"),
            segment(yesterday, 10, 0, "late"),
        ];
        assert_eq!(plan_compaction(&settled, now, &config, false), None);
        settled.push(segment(yesterday, 990, 0, "later"));
        let (day, inputs, level) = plan_compaction(&settled, now, &config, false).unwrap();
        assert_eq!((day, inputs.len(), level), (yesterday, 3, 3));
        // Not settled yet within the grace period after midnight.
        let early = today * SECONDS_PER_DAY + 60;
        assert_eq!(plan_compaction(&settled, early, &config, false), None);
        // At most twice `compact_min_segments` inputs per merge, the
        // smallest first.
        let many: Vec<SegmentMeta> = (0..10)
            .map(|index| segment(yesterday, 100 + index, 0, &format!("s{index}")))
            .collect();
        let (_, inputs, level) = plan_compaction(&many, now, &config, true).unwrap();
        assert_eq!((inputs.len(), level), (8, 1));
        assert!(inputs.iter().all(|segment| segment.rows < 108));
        // One segment per day: nothing to do, even forced.
        let single = vec![segment(yesterday, 5, 0, "a"), segment(today, 5, 0, "b")];
        assert_eq!(plan_compaction(&single, now, &config, true), None);
    }
}
