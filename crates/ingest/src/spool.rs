//! The durable spool between the ingest endpoint and the log store.
//!
//! An endpoint answers 200 only after its records are in the spool: written
//! and fsynced (group commit, one writer thread). A shipper task reads the
//! spool in order, sends batches to the store with retries that never give
//! up, and only then advances a persisted cursor; segments wholly behind the
//! cursor are deleted. When the store is slow or down the spool grows on disk
//! up to `max_bytes`; past that, appends fail with [`SpoolError::Full`] and the
//! endpoint answers 503 with `Retry-After`. Nothing acknowledged is lost
//! across a crash: the cursor only moves after the store acknowledged, so a
//! crash between the two re-sends a batch (at-least-once; the store decides
//! whether a re-sent batch counts twice).

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use md5::Digest;
use sentry_sls_store::WriteKey;
use sentry_sls_store::{LogBatch, LogStore};
use sentry_sls_wal::segments::{self, Wal};
use sentry_sls_wal::{codec, MAX_FRAME_BYTES};
use serde::{Deserialize, Serialize};

/// Spool settings.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// Directory of the spool's segments and cursor.
    pub directory: PathBuf,
    /// Most bytes the spool may hold on disk before appends are refused.
    pub max_bytes: u64,
    /// Segment size at which the writer starts a new segment.
    pub segment_bytes: u64,
    /// Appends waiting for the writer thread.
    pub queue_depth: usize,
    /// Most logs per store write.
    pub batch_logs: usize,
    /// Longest wait between retries of a failed store write.
    pub max_backoff: Duration,
    /// How long the shipper keeps shipping after it was told to stop.
    pub drain_timeout: Duration,
    /// Group commit: when fewer appends wait than the last fsync covered (appends arrive
    /// concurrently), the writer waits this long before it writes and fsyncs, so one fsync
    /// covers more appends. A lone client never waits; zero turns the wait off.
    pub commit_linger: Duration,
}

impl SpoolConfig {
    /// Defaults for `directory`: 1 GiB on disk, 64 MiB segments, 4096 logs per write.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        SpoolConfig {
            directory: directory.into(),
            max_bytes: 1024 * 1024 * 1024,
            segment_bytes: 64 * 1024 * 1024,
            queue_depth: 1024,
            batch_logs: 4096,
            max_backoff: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(5),
            commit_linger: Duration::from_millis(1),
        }
    }
}

/// Why an append failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpoolError {
    /// The spool holds `max_bytes`: the store is behind. Retry later.
    #[error("the spool is full ({bytes} bytes): the log store is not keeping up")]
    Full {
        /// Bytes on disk.
        bytes: u64,
    },
    /// The spool cannot write (disk error) or is shutting down.
    #[error("the spool cannot accept writes: {0}")]
    Unavailable(String),
}

/// How long the shipper lets frames gather before a round: after new frames when caught
/// up, and after a round that was not full.
const SHIP_LINGER: Duration = Duration::from_millis(25);

/// First wait after a failure; it doubles with each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The shipper's stop signal, its drain deadline and its retry backoff.
struct Stopper<F> {
    stop: std::pin::Pin<Box<F>>,
    drain_until: Option<tokio::time::Instant>,
    drain: Duration,
    backoff: Duration,
    max_backoff: Duration,
}

impl<F: std::future::Future<Output = ()>> Stopper<F> {
    /// Sleeps up to `duration`; `false` once the drain deadline has passed.
    async fn wait(&mut self, duration: Duration) -> bool {
        match self.drain_until {
            Some(until) => {
                let now = tokio::time::Instant::now();
                if now >= until {
                    return false;
                }
                tokio::time::sleep(duration.min(until - now)).await;
                true
            }
            None => {
                tokio::select! {
                    () = self.stop.as_mut() => self.start_drain(),
                    () = tokio::time::sleep(duration) => {}
                }
                true
            }
        }
    }

    /// Waits for new frames while caught up; `false` when stopping (the
    /// spool is drained).
    async fn idle(&mut self, written: &tokio::sync::Notify) -> bool {
        if self.drain_until.is_some() {
            return false;
        }
        tokio::select! {
            () = self.stop.as_mut() => {
                // One more pass picks up frames written just before the stop.
                self.start_drain();
            }
            () = written.notified() => {
                // Let a round gather: each round saves the cursor (fsynced), so
                // shipping every group commit on its own costs more than the wait.
                tokio::select! {
                    () = self.stop.as_mut() => self.start_drain(),
                    () = tokio::time::sleep(SHIP_LINGER) => {}
                }
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        true
    }

    /// After a failure: waits the current backoff, then doubles it (up to the maximum);
    /// `false` once the drain deadline has passed.
    async fn back_off(&mut self) -> bool {
        let waited = self.wait(self.backoff).await;
        self.backoff = (self.backoff * 2).min(self.max_backoff);
        waited
    }

    /// Sleeps [`SHIP_LINGER`] unless draining (then every round ships at once).
    async fn linger(&mut self) {
        if self.drain_until.is_none() {
            tokio::select! {
                () = self.stop.as_mut() => self.start_drain(),
                () = tokio::time::sleep(SHIP_LINGER) => {}
            }
        }
    }

    fn start_drain(&mut self) {
        self.drain_until = Some(tokio::time::Instant::now() + self.drain);
    }
}

/// Where shipping continues: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Segment sequence.
    pub sequence: u64,
    /// Byte offset of the next frame in that segment.
    pub offset: u64,
}

impl Cursor {
    fn key(self) -> (u64, u64) {
        (self.sequence, self.offset)
    }
}

const CURSOR_FILE: &str = "cursor.json";
const STREAM_FILE: &str = "stream-id";

/// The cursor file: where shipping continues and, while a round is being
/// sent, where that round ends. A restart re-sends exactly that round (the
/// same frames make the same batches with the same keys), so a store with
/// idempotent commit skips what it already applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CursorFile {
    #[serde(flatten)]
    cursor: Cursor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    in_flight: Option<Cursor>,
}

fn load_cursor(directory: &Path) -> std::io::Result<CursorFile> {
    match fs::read(directory.join(CURSOR_FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(CursorFile::default()),
        Err(error) => Err(error),
    }
}

/// This spool's name as a writer: made once, kept in the directory.
fn load_stream_id(directory: &Path) -> std::io::Result<String> {
    let path = directory.join(STREAM_FILE);
    match fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or(0);
    let seed = format!("{nanos}:{}:{}", std::process::id(), directory.display());
    let digest = md5::Md5::digest(seed.as_bytes());
    let id: String = digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let id = format!("spool-{id}");
    let temporary = directory.join(format!("{STREAM_FILE}.tmp"));
    fs::write(&temporary, &id)?;
    fs::File::open(&temporary)?.sync_all()?;
    fs::rename(&temporary, &path)?;
    segments::sync_directory(directory)?;
    Ok(id)
}

fn store_cursor(directory: &Path, cursor: CursorFile) -> std::io::Result<()> {
    let temporary = directory.join(format!("{CURSOR_FILE}.tmp"));
    let file_bytes = serde_json::to_vec(&cursor).map_err(std::io::Error::other)?;
    fs::write(&temporary, file_bytes)?;
    fs::File::open(&temporary)?.sync_all()?;
    fs::rename(&temporary, directory.join(CURSOR_FILE))?;
    segments::sync_directory(directory)
}

/// [`store_cursor`] on the blocking pool: it fsyncs twice.
async fn save_cursor(directory: &Path, cursor: CursorFile) -> std::io::Result<()> {
    let directory = directory.to_path_buf();
    tokio::task::spawn_blocking(move || store_cursor(&directory, cursor))
        .await
        .map_err(std::io::Error::other)?
}

fn segment_path(directory: &Path, sequence: u64) -> PathBuf {
    directory.join(format!("{sequence:020}.log"))
}

fn bytes_on_disk(directory: &Path) -> u64 {
    segments::list_segments(directory)
        .unwrap_or_default()
        .iter()
        .filter_map(|&sequence| fs::metadata(segment_path(directory, sequence)).ok())
        .map(|metadata| metadata.len())
        .sum()
}

struct Pending {
    payload: Vec<u8>,
    acknowledge: tokio::sync::oneshot::Sender<Result<(), SpoolError>>,
}

struct Shared {
    /// Held while the spool is open: one process per spool directory. (The
    /// writer thread owns the WAL and drops it before its `Arc<Shared>`.)
    _lock: sentry_sls_wal::DirectoryLock,
    config: SpoolConfig,
    /// Bytes of all segment files (approximate between deletions).
    bytes: Mutex<u64>,
    /// Set when the disk failed: the spool refuses appends from then on.
    failure: Mutex<Option<String>>,
    /// Wakes the shipper when frames were written.
    written: tokio::sync::Notify,
}

/// The spool: a cloneable handle; appends from any task.
#[derive(Clone)]
pub struct Spool {
    shared: Arc<Shared>,
    sender: Arc<Mutex<Option<SyncSender<Pending>>>>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Spool {
    /// Opens (or creates) the spool; frames left from a previous run are
    /// shipped first.
    pub fn open(mut config: SpoolConfig) -> std::io::Result<Spool> {
        // Shipped data is freed a whole segment at a time: a segment as large as
        // the bound would keep the spool full forever.
        config.segment_bytes = config.segment_bytes.min(config.max_bytes / 4).max(4096);
        let lock = sentry_sls_wal::lock_directory(&config.directory)?;
        let last = segments::list_segments(&config.directory)?
            .last()
            .copied()
            .unwrap_or(0);
        let wal = Wal::open(&config.directory, last)?;
        let shared = Arc::new(Shared {
            _lock: lock,
            bytes: Mutex::new(bytes_on_disk(&config.directory)),
            config: config.clone(),
            failure: Mutex::new(None),
            written: tokio::sync::Notify::new(),
        });
        let (sender, receiver) = std::sync::mpsc::sync_channel(config.queue_depth);
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("ingest-spool".into())
            .spawn(move || writer_loop(&writer_shared, wal, &receiver))?;
        Ok(Spool {
            shared,
            sender: Arc::new(Mutex::new(Some(sender))),
            writer: Arc::new(Mutex::new(Some(writer))),
        })
    }

    /// Bytes the spool holds on disk.
    pub fn bytes(&self) -> u64 {
        *self.shared.bytes.lock().expect("bytes lock")
    }

    /// Appends a batch; resolves once it is fsynced.
    pub async fn append(&self, batch: &LogBatch) -> Result<(), SpoolError> {
        if let Some(failure) = self.shared.failure.lock().expect("failure lock").clone() {
            return Err(SpoolError::Unavailable(failure));
        }
        let bytes = self.bytes();
        if bytes >= self.shared.config.max_bytes {
            metrics::counter!("ingest_spool_full_total").increment(1);
            return Err(SpoolError::Full { bytes });
        }
        let payload = codec::encode(batch);
        if payload.len() > MAX_FRAME_BYTES {
            return Err(SpoolError::Unavailable(
                "batch larger than a spool frame".into(),
            ));
        }
        let sender = self
            .sender
            .lock()
            .expect("sender lock")
            .clone()
            .ok_or_else(|| SpoolError::Unavailable("shutting down".into()))?;
        let (acknowledge, acknowledged) = tokio::sync::oneshot::channel();
        let pending = Pending {
            payload,
            acknowledge,
        };
        match sender.try_send(pending) {
            Ok(()) => {}
            Err(TrySendError::Full(pending)) => {
                // The writer is busy: wait on the blocking pool, not on an async worker.
                tokio::task::spawn_blocking(move || sender.send(pending))
                    .await
                    .map_err(|error| SpoolError::Unavailable(error.to_string()))?
                    .map_err(|_| SpoolError::Unavailable("shutting down".into()))?;
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(SpoolError::Unavailable("shutting down".into()))
            }
        }
        acknowledged
            .await
            .map_err(|_| SpoolError::Unavailable("the spool writer stopped".into()))?
    }

    /// Stops the writer (everything acknowledged is on disk).
    pub fn shutdown(&self) {
        self.sender.lock().expect("sender lock").take();
        if let Some(writer) = self.writer.lock().expect("writer lock").take() {
            let _ = writer.join();
        }
    }

    /// Ships the spool to `logstore` of `store` until `stop` resolves, then
    /// keeps shipping until the spool is drained or `drain_timeout` passed,
    /// and returns (unshipped frames wait for the next run).
    pub async fn ship(
        &self,
        store: Arc<dyn LogStore>,
        logstore: String,
        stop: impl std::future::Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let directory = self.shared.config.directory.clone();
        let stream = load_stream_id(&directory)?;
        // What the cursor file says; a round's start saves the cursor and the round
        // together, so under steady load each round costs one save, not two.
        let mut durable = load_cursor(&directory)?;
        let CursorFile {
            mut cursor,
            mut in_flight,
        } = durable;
        let mut stopper = Stopper {
            stop: Box::pin(stop),
            drain_until: None,
            drain: self.shared.config.drain_timeout,
            backoff: FIRST_BACKOFF,
            max_backoff: self.shared.config.max_backoff,
        };
        loop {
            let read_directory = directory.clone();
            let limit = self.shared.config.batch_logs;
            let until = in_flight;
            let read = tokio::task::spawn_blocking(move || {
                read_from(&read_directory, cursor, limit, until)
            })
            .await
            .map_err(std::io::Error::other)?;
            let (batches, next) = match read {
                Ok(read) => read,
                Err(error) => {
                    // A disk hiccup must not stop shipping for good: retry.
                    tracing::error!(%error, "reading the spool failed; will retry");
                    if !stopper.back_off().await {
                        // Stopping: record a finished round so a restart does not send
                        // it again (best effort; at worst it is sent twice).
                        let done = CursorFile {
                            cursor,
                            in_flight: None,
                        };
                        if in_flight.is_none() && done != durable {
                            let _ = save_cursor(&directory, done).await;
                        }
                        return Ok(());
                    }
                    continue;
                }
            };
            if batches.is_empty() {
                let file = CursorFile {
                    cursor: next,
                    in_flight: None,
                };
                if file != durable {
                    if let Err(error) = save_cursor(&directory, file).await {
                        tracing::error!(%error, "saving the spool cursor failed; will retry");
                        if !stopper.back_off().await {
                            return Ok(());
                        }
                        continue;
                    }
                    durable = file;
                    cursor = next;
                    in_flight = None;
                    self.delete_behind(cursor).await;
                    continue;
                }
                // Caught up: when stopping, the drain is done.
                if !stopper.idle(&self.shared.written).await {
                    return Ok(());
                }
                continue;
            }
            if in_flight != Some(next) {
                // Record the round before sending it, so a crash mid-round
                // re-sends the very same batches with the very same keys.
                // This also records the previous round as done.
                let file = CursorFile {
                    cursor,
                    in_flight: Some(next),
                };
                if let Err(error) = save_cursor(&directory, file).await {
                    tracing::error!(%error, "saving the spool cursor failed; will retry");
                    if !stopper.back_off().await {
                        return Ok(());
                    }
                    continue;
                }
                let behind = durable.cursor != cursor;
                durable = file;
                in_flight = Some(next);
                if behind {
                    self.delete_behind(cursor).await;
                }
            }
            let round_logs: usize = batches.iter().map(|(batch, _)| batch.logs.len()).sum();
            let mut shipped = true;
            for (batch, end) in batches {
                let logs = batch.logs.len() as u64;
                let key = WriteKey {
                    stream: stream.clone(),
                    position: end.key(),
                };
                match store.put_logs_once(&logstore, batch, key).await {
                    Ok(true) => {
                        metrics::counter!("ingest_spool_shipped_logs_total").increment(logs)
                    }
                    Ok(false) => {
                        metrics::counter!("ingest_spool_already_shipped_logs_total").increment(logs)
                    }
                    Err(error) => {
                        metrics::counter!("ingest_spool_ship_failures_total").increment(1);
                        tracing::warn!(%error, retry_in = ?stopper.backoff, "shipping to the log store failed; will retry");
                        shipped = false;
                        break;
                    }
                }
            }
            if !shipped {
                // A failed batch retries with everything after it; batches of this
                // round that did land are sent again (at-least-once).
                if !stopper.back_off().await {
                    return Ok(());
                }
                continue;
            }
            stopper.backoff = FIRST_BACKOFF;
            // The round is done; the next round's save (or, once caught up, the
            // empty read's) records it. A crash before then sends the round again
            // with the same keys: at-least-once, never skipped.
            cursor = next;
            in_flight = None;
            if until.is_none() && round_logs < self.shared.config.batch_logs {
                // Less than a full round was waiting: let the next one gather.
                stopper.linger().await;
            }
        }
    }

    /// Deletes segments wholly before the cursor (which must be saved), off the
    /// async workers.
    async fn delete_behind(&self, cursor: Cursor) {
        let shared = Arc::clone(&self.shared);
        let deleted = tokio::task::spawn_blocking(move || {
            let directory = &shared.config.directory;
            if cursor.sequence > 0 {
                if let Err(error) = Wal::delete_through(directory, cursor.sequence - 1) {
                    tracing::warn!(%error, "deleting shipped spool segments failed");
                }
            }
            *shared.bytes.lock().expect("bytes lock") = bytes_on_disk(directory);
        })
        .await;
        if let Err(error) = deleted {
            tracing::warn!(%error, "deleting shipped spool segments failed");
        }
    }
}

/// Batches read from the spool, each with the position just after its last frame.
type ReadBatches = Vec<(LogBatch, Cursor)>;

/// Reads whole frames from `cursor` on, up to about `limit` logs (or, with
/// `until`, exactly up to that position), merging consecutive frames of the
/// same topic/source/tags. Returns the batches with their end positions and
/// the cursor after them. A torn or still-being-written tail ends the read.
fn read_from(
    directory: &Path,
    cursor: Cursor,
    limit: usize,
    until: Option<Cursor>,
) -> std::io::Result<(ReadBatches, Cursor)> {
    let sequences = segments::list_segments(directory)?;
    let mut position = cursor;
    if !sequences.contains(&position.sequence) {
        // Start (or resume after deleted segments) at the first existing one.
        match sequences
            .iter()
            .find(|&&sequence| sequence >= position.sequence)
        {
            Some(&sequence) if sequence != position.sequence => {
                position = Cursor {
                    sequence,
                    offset: 0,
                }
            }
            Some(_) => {}
            None => return Ok((Vec::new(), cursor)),
        }
    }
    let mut batches: ReadBatches = Vec::new();
    let mut logs = 0;
    let more = |sequence: u64, offset: u64, logs: usize| match until {
        Some(until) => (sequence, offset) < until.key(),
        None => logs < limit,
    };
    loop {
        let path = segment_path(directory, position.sequence);
        let mut file = fs::File::open(&path)?;
        let length = file.metadata()?.len();
        file.seek(SeekFrom::Start(position.offset))?;
        let mut reader = std::io::BufReader::new(file);
        let mut offset = position.offset;
        while more(position.sequence, offset, logs) && offset + 8 <= length {
            let mut header = [0u8; 8];
            reader.read_exact(&mut header)?;
            let size = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as u64;
            let checksum = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
            if size as usize > MAX_FRAME_BYTES || offset + 8 + size > length {
                break;
            }
            let mut payload = vec![0u8; size as usize];
            reader.read_exact(&mut payload)?;
            if crc32fast::hash(&payload) != checksum {
                break;
            }
            offset += 8 + size;
            let Some(batch) = codec::decode(&payload) else {
                tracing::error!(
                    sequence = position.sequence,
                    offset,
                    "undecodable spool frame skipped"
                );
                continue;
            };
            logs += batch.logs.len();
            let end = Cursor {
                sequence: position.sequence,
                offset,
            };
            match batches.last_mut() {
                Some((last, last_end))
                    if last.topic == batch.topic
                        && last.source == batch.source
                        && last.tags == batch.tags =>
                {
                    last.logs.extend(batch.logs);
                    *last_end = end;
                }
                _ => batches.push((batch, end)),
            }
        }
        position.offset = offset;
        let next_segment = sequences
            .iter()
            .find(|&&sequence| sequence > position.sequence)
            .copied();
        // The writer only starts a segment after syncing the previous one, so
        // once a newer segment exists this one is complete: whatever could not
        // be read at its end is a torn frame from a crash, never acknowledged.
        match next_segment {
            Some(next) if more(next, 0, logs) => {
                if offset < length {
                    tracing::warn!(
                        sequence = position.sequence,
                        offset,
                        length,
                        "skipping a torn spool tail"
                    );
                }
                position = Cursor {
                    sequence: next,
                    offset: 0,
                };
            }
            _ => return Ok((batches, position)),
        }
    }
}

/// A group commit (write, fsync, rotation) this slow is logged as a warning, as etcd does for a
/// slow fdatasync: the disk, not ingest, is then what clients wait for.
const SLOW_COMMIT_SECONDS: f64 = 1.0;
/// A group commit this slow is logged at debug level: alone it takes up ingest's whole
/// latency goal (p99 under 50 ms).
const NOTABLE_COMMIT_SECONDS: f64 = 0.05;

/// Most appends in one group commit.
const MAX_GROUP: usize = 4096;

fn take_queued(receiver: &Receiver<Pending>, group: &mut Vec<Pending>) {
    while group.len() < MAX_GROUP {
        match receiver.try_recv() {
            Ok(pending) => group.push(pending),
            Err(_) => return,
        }
    }
}

fn writer_loop(shared: &Shared, mut wal: Wal, receiver: &Receiver<Pending>) {
    let mut last_group = 1;
    loop {
        let first = match receiver.recv_timeout(Duration::from_millis(500)) {
            Ok(pending) => pending,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut group = vec![first];
        take_queued(receiver, &mut group);
        // An fsync costs about 0.15 ms of CPU here, most of it per call. When fewer appends
        // wait than the last fsync covered, the other clients are likely on their way: one
        // short sleep (one wake-up, not one per arriving append) lets them share this fsync.
        // A lone client never waits.
        if group.len() < last_group && !shared.config.commit_linger.is_zero() {
            std::thread::sleep(shared.config.commit_linger);
            take_queued(receiver, &mut group);
        }
        let payloads: Vec<&[u8]> = group
            .iter()
            .map(|pending| pending.payload.as_slice())
            .collect();
        let written: usize = payloads.iter().map(|payload| payload.len() + 8).sum();
        let started = std::time::Instant::now();
        let result = wal
            .append(&payloads)
            .and_then(|()| wal.sync())
            .and_then(|()| {
                if wal.current_bytes() >= shared.config.segment_bytes {
                    wal.rotate().map(|_| ())
                } else {
                    Ok(())
                }
            })
            .map_err(|error| {
                let message = format!("spool write failed: {error}");
                tracing::error!(%message, "refusing further appends");
                *shared.failure.lock().expect("failure lock") = Some(message.clone());
                SpoolError::Unavailable(message)
            });
        // Every acknowledgement of the group waited for this write and fsync (and, when the
        // segment was full, its rotation): the disk's share of ingest latency.
        let seconds = started.elapsed().as_secs_f64();
        metrics::histogram!("ingest_spool_commit_seconds").record(seconds);
        if seconds >= SLOW_COMMIT_SECONDS {
            tracing::warn!(
                seconds,
                appends = group.len(),
                "slow spool commit (write, fsync, rotation)"
            );
        } else if seconds >= NOTABLE_COMMIT_SECONDS {
            tracing::debug!(
                seconds,
                threshold_seconds = NOTABLE_COMMIT_SECONDS,
                appends = group.len(),
                "spool commit over the latency goal"
            );
        }
        if result.is_ok() {
            *shared.bytes.lock().expect("bytes lock") += written as u64;
            metrics::counter!("ingest_spool_appended_total").increment(group.len() as u64);
            metrics::counter!("ingest_spool_commits_total").increment(1);
        }
        last_group = group.len();
        for pending in group {
            let _ = pending.acknowledge.send(result.clone());
        }
        shared.written.notify_waiters();
    }
}
