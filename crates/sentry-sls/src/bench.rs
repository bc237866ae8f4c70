//! `sentry-sls bench store`: the embedded store's write and query speed,
//! as a JSON report. Figures are medians over several runs measured in one
//! process, so they compare side by side on a noisy machine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sentry_sls_local::{LocalStore, LocalStoreConfig};
use sentry_sls_store::{
    FieldIndex, FieldType, IndexConfig, LogBatch, LogRecord, LogStore, LogstoreConfig, QueryRequest,
};
use serde_json::json;

/// Options of `bench store`.
#[derive(clap::Args, Debug)]
pub struct StoreBenchArgs {
    /// Where the report goes (`-` for standard output).
    #[arg(long, default_value = "-")]
    out: String,
    /// Scratch directory for the stores (deleted afterwards).
    #[arg(long, default_value = "./bench-data")]
    work_dir: PathBuf,
    /// Runs of each measurement (the report gives the median).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Logs appended per append run (1 KB each, batches of 1000, fsync on).
    #[arg(long, default_value_t = 400_000)]
    append_logs: usize,
    /// Concurrent appenders.
    #[arg(long, default_value_t = 4)]
    appenders: usize,
    /// Rows of the group-by table.
    #[arg(long, default_value_t = 10_000_000)]
    rows: usize,
    /// Distinct groups of the group-by table.
    #[arg(long, default_value_t = 20_000)]
    groups: usize,
    /// Skip the append measurement.
    #[arg(long)]
    skip_append: bool,
    /// Skip the group-by measurement.
    #[arg(long)]
    skip_query: bool,
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    if values.is_empty() {
        return 0.0;
    }
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as u32)
        .unwrap_or(0)
}

fn index(keys: &[&str]) -> IndexConfig {
    let mut map = BTreeMap::new();
    for name in keys {
        map.insert(name.to_string(), FieldIndex::analytic(FieldType::Text));
    }
    IndexConfig {
        line: None,
        keys: map,
        other: BTreeMap::new(),
    }
}

async fn open_logstore(
    directory: &std::path::Path,
    keys: &[&str],
) -> anyhow::Result<(LocalStore, Arc<sentry_sls_local::LocalProject>)> {
    if directory.exists() {
        std::fs::remove_dir_all(directory)
            .with_context(|| format!("clearing {}", directory.display()))?;
    }
    let store = LocalStore::open(directory, LocalStoreConfig::default())
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let project = store
        .create_project("bench")
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    project
        .create_logstore(LogstoreConfig {
            name: "bench".into(),
            ttl: 30,
            shard_count: 1,
            other: BTreeMap::new(),
        })
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    project
        .create_index("bench", index(keys))
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok((store, project))
}

/// A ~1 KB log: ten keys of about 100 bytes each.
fn one_kb_log(sequence: usize, time: u32) -> LogRecord {
    let mut contents = Vec::with_capacity(10);
    for key in 0..10 {
        let value = format!("{sequence:012}-{key}-{}", "x".repeat(84));
        contents.push((format!("field_{key}"), value));
    }
    LogRecord {
        time,
        time_ns: 0,
        contents,
    }
}

async fn append_run(args: &StoreBenchArgs, run: usize) -> anyhow::Result<(f64, f64)> {
    let directory = args.work_dir.join(format!("append-{run}"));
    let (store, project) = open_logstore(&directory, &["field_0"]).await?;
    let time = now();
    let batches: Vec<LogBatch> = (0..args.append_logs.div_ceil(1000))
        .map(|batch| LogBatch {
            topic: String::new(),
            source: "bench".into(),
            tags: Vec::new(),
            logs: (0..1000)
                .map(|i| one_kb_log(batch * 1000 + i, time))
                .collect(),
        })
        .collect();
    let total: usize = batches.iter().map(|batch| batch.logs.len()).sum();
    let queue = Arc::new(std::sync::Mutex::new(batches));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.appenders.max(1) {
        let queue = Arc::clone(&queue);
        let project = Arc::clone(&project);
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().expect("queue lock").pop();
                let Some(batch) = next else {
                    return Ok::<(), anyhow::Error>(());
                };
                project
                    .put_logs("bench", batch)
                    .await
                    .map_err(|error| anyhow::anyhow!("{error}"))?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let acknowledged = started.elapsed();
    let flushing_project = Arc::clone(&project);
    tokio::task::spawn_blocking(move || flushing_project.flush_all())
        .await?
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let flushed = started.elapsed();
    store.shutdown();
    drop(project);
    drop(store);
    let _ = std::fs::remove_dir_all(&directory);
    Ok((
        total as f64 / acknowledged.as_secs_f64(),
        total as f64 / flushed.as_secs_f64(),
    ))
}

async fn group_by(args: &StoreBenchArgs) -> anyhow::Result<serde_json::Value> {
    let directory = args.work_dir.join("group-by");
    let (store, project) = open_logstore(&directory, &["group_key", "level", "value"]).await?;
    let base = now() - 3600;
    let load_started = Instant::now();
    // Group of each row, computed once with a running boundary (linear).
    let harmonic: f64 = (1..=args.groups).map(|g| 1.0 / g as f64).sum();
    let mut group = 0usize;
    let mut boundary = 1.0 / harmonic;
    let mut expected_top = vec![0u64; args.groups];
    let chunk = 10_000;
    let mut written = 0;
    while written < args.rows {
        let end = (written + chunk).min(args.rows);
        let mut logs = Vec::with_capacity(end - written);
        for row in written..end {
            let position = (row as f64 + 0.5) / args.rows as f64;
            while position > boundary && group + 1 < args.groups {
                group += 1;
                boundary += 1.0 / ((group + 1) as f64 * harmonic);
            }
            expected_top[group] += 1;
            logs.push(LogRecord {
                time: base + (row % 3600) as u32,
                time_ns: 0,
                contents: vec![
                    ("group_key".into(), format!("g{group:05}")),
                    ("level".into(), ["error", "warning", "info"][row % 3].into()),
                    ("value".into(), (row % 1000).to_string()),
                ],
            });
        }
        project
            .put_logs(
                "bench",
                LogBatch {
                    topic: String::new(),
                    source: "bench".into(),
                    tags: Vec::new(),
                    logs,
                },
            )
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        written = end;
        if written % 1_000_000 == 0 {
            eprintln!("bench: loaded {written} of {} rows", args.rows);
        }
    }
    let flushing_project = Arc::clone(&project);
    tokio::task::spawn_blocking(move || flushing_project.flush_all())
        .await?
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let load_seconds = load_started.elapsed().as_secs_f64();
    let query = "* | select group_key, count(*) as c group by group_key order by c desc, group_key limit 10";
    let mut timings = Vec::new();
    let mut answer = Vec::new();
    for _ in 0..args.runs.max(1) + 1 {
        let started = Instant::now();
        let result = project
            .get_logs(
                "bench",
                QueryRequest {
                    from: i64::from(base),
                    to: i64::from(base) + 3600,
                    query: query.into(),
                    ..QueryRequest::default()
                },
            )
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        timings.push(started.elapsed().as_secs_f64() * 1000.0);
        answer = result.rows;
    }
    // The first run warms the page cache and is not counted.
    let warm = timings.remove(0);
    let top_count: u64 = answer
        .first()
        .and_then(|row| row.iter().find(|(key, _)| key == "c"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let expected_max = expected_top.iter().copied().max().unwrap_or(0);
    anyhow::ensure!(
        top_count == expected_max,
        "group-by answer {top_count} differs from the generated count {expected_max}"
    );
    let (_, segment_rows, segments) = project
        .logstore("bench")
        .map_err(|error| anyhow::anyhow!("{error}"))?
        .stats();
    store.shutdown();
    drop(project);
    drop(store);
    let _ = std::fs::remove_dir_all(&directory);
    Ok(json!({
        "query": query,
        "rows": args.rows,
        "segment_rows": segment_rows,
        "segments": segments,
        "groups": args.groups,
        "load_seconds": load_seconds,
        "cold_ms": warm,
        "runs_ms": timings.clone(),
        "median_ms": median(&mut timings),
        "top_group_count": top_count,
    }))
}

/// Runs the store benchmark and writes its report.
pub async fn store(args: StoreBenchArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("creating {}", args.work_dir.display()))?;
    let mut report = serde_json::Map::new();
    report.insert(
        "machine".into(),
        json!({"cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)}),
    );
    if !args.skip_append {
        let mut acknowledged = Vec::new();
        let mut flushed = Vec::new();
        for run in 0..args.runs.max(1) {
            let (ack_rate, flush_rate) = append_run(&args, run).await?;
            eprintln!("bench: append run {run}: {ack_rate:.0} logs/s acknowledged, {flush_rate:.0} logs/s through flush");
            acknowledged.push(ack_rate);
            flushed.push(flush_rate);
        }
        report.insert(
            "append".into(),
            json!({
                "logs_per_run": args.append_logs,
                "log_bytes": 1000,
                "batch_logs": 1000,
                "appenders": args.appenders,
                "fsync": true,
                "acknowledged_logs_per_sec": acknowledged.clone(),
                "median_acknowledged_logs_per_sec": median(&mut acknowledged),
                "through_flush_logs_per_sec": flushed.clone(),
                "median_through_flush_logs_per_sec": median(&mut flushed),
            }),
        );
    }
    if !args.skip_query {
        report.insert("group_by".into(), group_by(&args).await?);
    }
    write_report(&args.out, &serde_json::Value::Object(report))?;
    if args.out != "-" {
        eprintln!("bench: report written to {}", args.out);
    }
    let _ = std::fs::remove_dir(&args.work_dir);
    Ok(())
}

/// SplitMix64: a small deterministic generator, so every run generates the same data.
pub(crate) struct Random(pub(crate) u64);

impl Random {
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`0` when `bound` is 0).
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    /// A number in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Writes a bench report as pretty JSON to `out` (`-`: standard output).
pub(crate) fn write_report(out: &str, report: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    if out == "-" {
        println!("{text}");
    } else {
        std::fs::write(out, text + "\n").with_context(|| format!("writing {out}"))?;
    }
    Ok(())
}
