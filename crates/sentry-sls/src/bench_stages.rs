//! `sentry-sls bench stages`: where one event's CPU goes on the ingest path,
//! stage by stage, on one thread and without HTTP, as a JSON report.
//!
//! `bench ingest` measures the whole server; this splits the same event mix
//! (the same generator) into the stages a request goes through: gzip
//! decoding, envelope framing, JSON parsing, normalisation and grouping, the
//! record (keys and body), the spool frame, and then the embedded store
//! (append with fsync in shipper-sized batches, flush to Parquet, compaction).
//! Each figure is microseconds of one thread per event, the median of runs.
//! `process_us` is the whole of what ingest does to an event after the envelope
//! (`sentry_sls_ingest::process`): JSON parsing, normalisation and grouping again,
//! then the record; the record alone is about `process_us` minus those two.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use anyhow::Context;
use sentry_sls_event::{decode_body_bytes, Envelope, Limits, ProjectId};
use sentry_sls_local::{LocalStore, LocalStoreConfig};
use sentry_sls_store::{LogBatch, LogStore};
use serde_json::{json, Value};

use crate::bench::median;

/// Options of `bench stages`.
#[derive(clap::Args, Debug)]
pub struct StagesBenchArgs {
    /// Where the report goes (`-` for standard output).
    #[arg(long, default_value = "-")]
    out: String,
    /// Scratch directory for the embedded store (deleted afterwards).
    #[arg(long, default_value = "./bench-data/stages")]
    work_dir: PathBuf,
    /// Runs (the report gives medians).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Events per run.
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    /// Distinct issues the events fall into.
    #[arg(long, default_value_t = 5_000)]
    groups: u64,
    /// Records per store append (the shipper sends about this many per batch under load).
    #[arg(long, default_value_t = 512)]
    batch: usize,
}

/// Microseconds per event since `started`, for `count` events.
fn per_event(count: usize, started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e6 / count.max(1) as f64
}

/// Microseconds per event of store work run on the blocking pool.
async fn blocking_per_event<T: Send + 'static>(
    count: usize,
    work: impl FnOnce() -> Result<T, sentry_sls_store::StoreError> + Send + 'static,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    tokio::task::spawn_blocking(work)
        .await?
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok(per_event(count, started))
}

async fn run_once(
    args: &StagesBenchArgs,
    run: usize,
    payloads: &[(u64, Vec<u8>)],
) -> anyhow::Result<Value> {
    let limits = Limits::default();
    let count = payloads.len();

    let started = Instant::now();
    let decoded: Vec<_> = payloads
        .iter()
        .map(|(project, body)| {
            decode_body_bytes(Some("gzip"), body.clone().into(), limits.max_envelope_size)
                .map(|bytes| (*project, bytes))
        })
        .collect::<Result<_, _>>()
        .context("gzip")?;
    let gunzip = per_event(count, started);

    let started = Instant::now();
    let envelopes: Vec<_> = decoded
        .into_iter()
        .map(|(project, bytes)| Envelope::parse(bytes, &limits).map(|e| (project, e)))
        .collect::<Result<_, _>>()
        .context("envelope")?;
    let envelope = per_event(count, started);

    let started = Instant::now();
    let values: Vec<Value> = envelopes
        .iter()
        .map(|(_, envelope)| {
            let item = envelope
                .items
                .first()
                .context("an envelope without items")?;
            serde_json::from_slice(&item.payload).context("json")
        })
        .collect::<anyhow::Result<_>>()?;
    let json_parse = per_event(count, started);

    let received = SystemTime::now();
    let received_secs = received
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0);
    let started = Instant::now();
    let mut normalized = Vec::with_capacity(count);
    for (value, (project, _)) in values.into_iter().zip(&envelopes) {
        let options = sentry_sls_normalize::Options::new(*project, received_secs);
        normalized.push(sentry_sls_normalize::normalize(value, &options).context("normalize")?);
    }
    let normalize = per_event(count, started);

    let started = Instant::now();
    let bodies: Vec<Vec<u8>> = normalized
        .iter()
        .map(|normalized| sentry_sls_normalize::body::to_json(&normalized.event, 0))
        .collect();
    let serialize = per_event(count, started);
    drop(normalized);

    let started = Instant::now();
    let mut batches: Vec<LogBatch> = Vec::with_capacity(count);
    for (project, envelope) in &envelopes {
        let processed =
            sentry_sls_ingest::process(ProjectId(*project), envelope, received, "bench")
                .map_err(|error| anyhow::anyhow!("{error}"))?;
        batches.extend(processed.batches);
    }
    let process = per_event(count, started);
    drop(envelopes);

    // What the records carry of the body: plain `body` or its zstd chunks (docs/schema.md §2).
    let stored_body_bytes: usize = batches
        .iter()
        .flat_map(|batch| &batch.logs)
        .flat_map(|record| &record.contents)
        .filter(|(key, _)| key == "body" || key.starts_with("body_zstd_"))
        .map(|(_, value)| value.len())
        .sum();

    let started = Instant::now();
    let frame_bytes: usize = batches
        .iter()
        .map(|batch| sentry_sls_wal::codec::encode(batch).len())
        .sum();
    let frame = per_event(count, started);

    // The store: one batch per topic per `--batch` records, as the shipper sends them.
    let directory = args.work_dir.join(format!("run-{run}"));
    let _ = std::fs::remove_dir_all(&directory);
    let store = std::sync::Arc::new(
        LocalStore::open(&directory, LocalStoreConfig::default())
            .map_err(|error| anyhow::anyhow!("{error}"))?,
    );
    let project = store
        .create_project("bench")
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    crate::store_args::setup(project.as_ref(), "events", 30).await?;
    let mut shipped: Vec<LogBatch> = Vec::new();
    for batch in batches {
        match shipped.last_mut() {
            Some(last) if last.topic == batch.topic && last.logs.len() < args.batch => {
                last.logs.extend(batch.logs)
            }
            _ => shipped.push(batch),
        }
    }
    let started = Instant::now();
    for batch in shipped {
        project
            .put_logs("events", batch)
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
    }
    let append = per_event(count, started);
    let flushing = std::sync::Arc::clone(&project);
    let flush = blocking_per_event(count, move || flushing.flush_all()).await?;
    let compacting = std::sync::Arc::clone(&project);
    let compact = blocking_per_event(count, move || compacting.compact_all()).await?;
    let closing = std::sync::Arc::clone(&store);
    tokio::task::spawn_blocking(move || closing.shutdown()).await?;
    drop(project);
    drop(store);
    let _ = std::fs::remove_dir_all(&directory);

    let report = json!({
        "run": run,
        "gunzip_us": gunzip,
        "envelope_us": envelope,
        "json_parse_us": json_parse,
        "normalize_and_group_us": normalize,
        "serialize_normalized_us": serialize,
        "process_us": process,
        "spool_frame_us": frame,
        "spool_frame_bytes": frame_bytes / count.max(1),
        "store_append_us": append,
        "store_flush_us": flush,
        "store_compact_us": compact,
        "body_bytes": bodies.iter().map(Vec::len).sum::<usize>() / count.max(1),
        "stored_body_bytes": stored_body_bytes / count.max(1),
    });
    eprintln!("run {run}: {report}");
    Ok(report)
}

/// Runs `bench stages` and writes its report.
pub async fn stages(args: StagesBenchArgs) -> anyhow::Result<()> {
    eprintln!("generating {} gzip envelopes…", args.events);
    let payloads = crate::bench_ingest::envelopes(args.events, args.groups);
    // Warm the grouping rules and regexes, as `serve` does before opening its ports.
    sentry_sls_ingest::warm_up();
    let mut runs = Vec::new();
    for run in 0..args.runs.max(1) {
        runs.push(run_once(&args, run, &payloads).await?);
    }
    let mut medians = serde_json::Map::new();
    if let Some(Value::Object(first)) = runs.first() {
        for key in first.keys().filter(|key| key.ends_with("_us")) {
            let mut values: Vec<f64> = runs.iter().filter_map(|run| run[key].as_f64()).collect();
            medians.insert(key.clone(), json!(median(&mut values)));
        }
    }
    let report = json!({
        "benchmark": "stages",
        "parameters": {"events": args.events, "groups": args.groups, "batch": args.batch, "runs": args.runs},
        "median_us_per_event": medians,
        "runs": runs,
    });
    crate::bench::write_report(&args.out, &report)
}
