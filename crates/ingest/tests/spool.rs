//! The spool end to end against the embedded store: everything appended
//! arrives, across restarts, store outages and torn tails; a full spool
//! refuses appends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sentry_sls_ingest::{Spool, SpoolConfig, SpoolError};
use sentry_sls_local::{LocalProject, LocalStore, LocalStoreConfig};
use sentry_sls_store::{
    FieldIndex, FieldType, IndexConfig, LogBatch, LogRecord, LogStore, LogstoreConfig,
    QueryRequest, QueryResult, ShardInfo, StoreError,
};

const TIME: u32 = 1_700_000_000;

async fn local_store(directory: &std::path::Path) -> (LocalStore, Arc<LocalProject>) {
    let store = LocalStore::open(directory, LocalStoreConfig::default()).unwrap();
    let project = store.create_project("spool-test").unwrap();
    project
        .create_logstore(LogstoreConfig {
            name: "events".into(),
            ttl: 3650,
            shard_count: 1,
            other: BTreeMap::new(),
        })
        .await
        .unwrap();
    let mut keys = BTreeMap::new();
    keys.insert("id".to_string(), FieldIndex::analytic(FieldType::Text));
    project
        .create_index(
            "events",
            IndexConfig {
                line: None,
                keys,
                other: BTreeMap::new(),
            },
        )
        .await
        .unwrap();
    (store, project)
}

fn batch(number: usize, size: usize) -> LogBatch {
    LogBatch {
        topic: "sentry_error".into(),
        source: "ingest".into(),
        tags: Vec::new(),
        logs: (0..size)
            .map(|i| LogRecord {
                time: TIME,
                time_ns: 0,
                contents: vec![("id".into(), format!("{number}-{i}"))],
            })
            .collect(),
    }
}

async fn counts(project: &LocalProject) -> (u64, u64) {
    let result = project
        .get_logs(
            "events",
            QueryRequest {
                from: i64::from(TIME),
                to: i64::from(TIME) + 1,
                query: "* | select count(*) as c, count(distinct id) as d".into(),
                ..QueryRequest::default()
            },
        )
        .await
        .unwrap();
    let cell = |key: &str| {
        result.rows[0]
            .iter()
            .find(|(name, _)| name == key)
            .unwrap()
            .1
            .parse()
            .unwrap()
    };
    (cell("c"), cell("d"))
}

async fn wait_for(project: &LocalProject, expected: u64) -> (u64, u64) {
    for _ in 0..200 {
        let (count, distinct) = counts(project).await;
        if count >= expected {
            return (count, distinct);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    counts(project).await
}

fn config(directory: &std::path::Path) -> SpoolConfig {
    let mut config = SpoolConfig::new(directory.join("spool"));
    config.segment_bytes = 16 * 1024; // many small segments: rotation and deletion run
    config.max_backoff = Duration::from_millis(50);
    config
}

/// Ships through `store` in the background, never told to stop.
fn spawn_shipper(
    spool: &Spool,
    store: Arc<dyn LogStore>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let spool = spool.clone();
    tokio::spawn(async move {
        spool
            .ship(store, "events".into(), std::future::pending())
            .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_appended_arrives_once_and_survives_a_restart() {
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = local_store(directory.path()).await;
    // First run: append, ship part, stop shipping.
    let spool = Spool::open(config(directory.path())).unwrap();
    for number in 0..40 {
        spool.append(&batch(number, 25)).await.unwrap();
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shipper = {
        let spool = spool.clone();
        let store: Arc<dyn LogStore> = project.clone();
        tokio::spawn(async move {
            spool
                .ship(store, "events".into(), async move {
                    let _ = stopped.await;
                })
                .await
        })
    };
    assert_eq!(wait_for(&project, 1000).await, (1000, 1000));
    stop.send(()).unwrap();
    shipper.await.unwrap().unwrap();
    // Appends while nothing ships, then a "crash": the handle is dropped unshipped.
    for number in 40..80 {
        spool.append(&batch(number, 25)).await.unwrap();
    }
    spool.shutdown();
    drop(spool);
    // Second run: the rest arrives, nothing twice.
    let spool = Spool::open(config(directory.path())).unwrap();
    let shipper = spawn_shipper(&spool, project.clone());
    assert_eq!(wait_for(&project, 2000).await, (2000, 2000));
    // Shipped segments are deleted.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        spool.bytes() < 16 * 1024 * 2,
        "shipped segments stay: {} bytes",
        spool.bytes()
    );
    shipper.abort();
}

/// A store that refuses the first `failures` writes (a store outage).
struct Outage {
    inner: Arc<LocalProject>,
    failures: AtomicUsize,
}

#[async_trait::async_trait]
impl LogStore for Outage {
    async fn create_logstore(&self, config: LogstoreConfig) -> Result<(), StoreError> {
        self.inner.create_logstore(config).await
    }
    async fn get_logstore(&self, logstore: &str) -> Result<LogstoreConfig, StoreError> {
        self.inner.get_logstore(logstore).await
    }
    async fn update_logstore(&self, config: LogstoreConfig) -> Result<(), StoreError> {
        self.inner.update_logstore(config).await
    }
    async fn create_index(&self, logstore: &str, index: IndexConfig) -> Result<(), StoreError> {
        self.inner.create_index(logstore, index).await
    }
    async fn get_index(&self, logstore: &str) -> Result<IndexConfig, StoreError> {
        self.inner.get_index(logstore).await
    }
    async fn update_index(&self, logstore: &str, index: IndexConfig) -> Result<(), StoreError> {
        self.inner.update_index(logstore, index).await
    }
    async fn put_logs(&self, logstore: &str, batch: LogBatch) -> Result<(), StoreError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
        {
            return Err(StoreError::new(
                sentry_sls_store::StoreErrorCode::ServerBusy,
                "outage",
            ));
        }
        self.inner.put_logs(logstore, batch).await
    }
    async fn get_logs(
        &self,
        logstore: &str,
        request: QueryRequest,
    ) -> Result<QueryResult, StoreError> {
        self.inner.get_logs(logstore, request).await
    }
    async fn list_shards(&self, logstore: &str) -> Result<Vec<ShardInfo>, StoreError> {
        self.inner.list_shards(logstore).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_delays_but_loses_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = local_store(directory.path()).await;
    let spool = Spool::open(config(directory.path())).unwrap();
    let outage: Arc<dyn LogStore> = Arc::new(Outage {
        inner: project.clone(),
        failures: AtomicUsize::new(5),
    });
    let shipper = spawn_shipper(&spool, outage);
    for number in 0..20 {
        spool.append(&batch(number, 10)).await.unwrap();
    }
    let (count, distinct) = wait_for(&project, 200).await;
    assert_eq!(distinct, 200, "nothing lost");
    assert!(count >= 200);
    shipper.abort();
}

/// Ships through `store`, told to stop from the start: the shipper drains what is
/// appended and returns.
async fn ship_and_stop(spool: &Spool, store: Arc<dyn LogStore>) {
    spool
        .ship(store, "events".into(), std::future::ready(()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_leaves_nothing_to_send_again() {
    // Through a store without idempotent commit (as SLS), a round sent twice would
    // show as duplicates: rounds record their end lazily, so the drain must save it.
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = local_store(directory.path()).await;
    let plain: Arc<dyn LogStore> = Arc::new(Outage {
        inner: project.clone(),
        failures: AtomicUsize::new(0),
    });
    for (run, (from, to)) in [(0, 30), (30, 50), (50, 80), (80, 80)]
        .into_iter()
        .enumerate()
    {
        let spool = Spool::open(config(directory.path())).unwrap();
        for number in from..to {
            spool.append(&batch(number, 10)).await.unwrap();
        }
        ship_and_stop(&spool, plain.clone()).await;
        spool.shutdown();
        let (count, distinct) = counts(&project).await;
        assert_eq!(
            (count, distinct),
            (to as u64 * 10, to as u64 * 10),
            "run {run}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_round_sends_it_again_and_the_store_skips_it() {
    // A shipper killed before its next save leaves the last round marked in flight;
    // the restart sends the same batches with the same keys, which the embedded
    // store recognises.
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = local_store(directory.path()).await;
    let spool = Spool::open(config(directory.path())).unwrap();
    let shipper = spawn_shipper(&spool, project.clone());
    for number in 0..30 {
        spool.append(&batch(number, 10)).await.unwrap();
    }
    assert_eq!(wait_for(&project, 300).await, (300, 300));
    shipper.abort();
    let _ = shipper.await;
    // A cursor save already on the blocking pool finishes on its own (in a real
    // crash the process is gone): let it, before a second shipper saves.
    tokio::time::sleep(Duration::from_millis(200)).await;
    spool.shutdown();
    // The spool's directory lock goes with its last handle, as with a dead process.
    drop(spool);
    let spool = Spool::open(config(directory.path())).unwrap();
    for number in 30..40 {
        spool.append(&batch(number, 10)).await.unwrap();
    }
    ship_and_stop(&spool, project.clone()).await;
    assert_eq!(counts(&project).await, (400, 400));
    // Shipped segments are deleted and the byte count follows.
    assert!(
        spool.bytes() < 16 * 1024 * 2,
        "shipped segments stay: {} bytes",
        spool.bytes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_refuses_appends_and_a_torn_tail_is_skipped() {
    let directory = tempfile::tempdir().unwrap();
    let mut small = config(directory.path());
    small.max_bytes = 4 * 1024;
    let spool = Spool::open(small.clone()).unwrap();
    let mut refused = None;
    for number in 0..100 {
        if let Err(error) = spool.append(&batch(number, 10)).await {
            refused = Some((number, error));
            break;
        }
    }
    let (number, error) = refused.expect("the spool never filled up");
    assert!(matches!(error, SpoolError::Full { .. }), "{error}");
    spool.shutdown();
    drop(spool);
    // A torn frame at the end of the last segment (a crash mid-write).
    let segments = sentry_sls_wal::list_segments(&small.directory).unwrap();
    let last = small
        .directory
        .join(format!("{:020}.log", segments.last().unwrap()));
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9]);
    std::fs::write(&last, bytes).unwrap();
    // Everything acknowledged ships after the restart, the torn tail is skipped.
    let (_store, project) = local_store(directory.path()).await;
    small.max_bytes = 1024 * 1024;
    let spool = Spool::open(small).unwrap();
    let shipper = spawn_shipper(&spool, project.clone());
    let expected = (number * 10) as u64;
    assert_eq!(wait_for(&project, expected).await, (expected, expected));
    spool.append(&batch(1000, 10)).await.unwrap();
    assert_eq!(
        wait_for(&project, expected + 10).await,
        (expected + 10, expected + 10)
    );
    shipper.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_lingers_for_concurrent_appends_but_never_for_a_lone_client() {
    let directory = tempfile::tempdir().unwrap();
    let (_store, project) = local_store(directory.path()).await;
    let mut config = config(directory.path());
    // Far longer than an fsync: any wait for a lone client would show.
    config.commit_linger = Duration::from_millis(1500);
    let spool = Spool::open(config).unwrap();
    // Concurrent appends (one group commit covers several): every one is acknowledged.
    let appends: Vec<_> = (0..16)
        .map(|number| {
            let spool = spool.clone();
            tokio::spawn(async move { spool.append(&batch(number, 5)).await })
        })
        .collect();
    for append in appends {
        append.await.unwrap().unwrap();
    }
    // A lone client, one append at a time: each is written as soon as it arrives, not after
    // the linger (the first may still wait once, if the last group held several).
    spool.append(&batch(16, 5)).await.unwrap();
    let started = std::time::Instant::now();
    for number in 17..22 {
        spool.append(&batch(number, 5)).await.unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "five sequential appends took {:?}",
        started.elapsed()
    );
    let shipper = spawn_shipper(&spool, project.clone());
    assert_eq!(wait_for(&project, 22 * 5).await, (22 * 5, 22 * 5));
    shipper.abort();
    spool.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_in_use_cannot_be_opened_twice() {
    // Two writers on one spool would interleave segment numbers and cursors.
    let directory = tempfile::tempdir().unwrap();
    let spool = Spool::open(config(directory.path())).unwrap();
    let second = Spool::open(config(directory.path()));
    let error = second
        .err()
        .expect("a second open of a spool in use succeeded");
    assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock, "{error}");
    assert!(error.to_string().contains("in use"), "{error}");
    // A clone is the same spool, and the lock lasts as long as any handle.
    let clone = spool.clone();
    spool.shutdown();
    drop(spool);
    assert!(Spool::open(config(directory.path())).is_err());
    drop(clone);
    let reopened = Spool::open(config(directory.path())).unwrap();
    reopened.append(&batch(1, 10)).await.unwrap();
    reopened.shutdown();
}
