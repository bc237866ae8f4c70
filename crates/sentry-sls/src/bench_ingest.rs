//! `sentry-sls bench ingest`: Sentry envelopes posted over loopback to a real
//! `sentry-sls serve` (a child process on the embedded store, fsync on), as a
//! JSON report.
//!
//! Each run starts a fresh server, then measures:
//! - throughput: `--events` gzip envelopes posted by `--concurrency` clients
//!   as fast as they are answered (events acknowledged per second);
//! - latency: `--latency-events` envelopes sent open-loop at half the
//!   measured throughput; a request's latency counts from the moment it was
//!   due, so a stalled server cannot hide its backlog (no coordinated omission).
//!   The report also says how many took over the 50 ms goal and when the slowest
//!   was due (seconds into the phase and Unix time, to find it in the server's log);
//! - the server's peak RSS (`VmHWM`), and how long after the last answer the
//!   spool had shipped every event into the store;
//! - the server's CPU time per event over the run (steadier than events/s on a
//!   shared machine; the cores divided by it bound the throughput), and in the
//!   throughput phase both the server's and this client's: they share the cores,
//!   so the cores divided by their sum is the most events/s the run could show.
//!
//! To see the load generator's own ceiling, point `--server-binary` at
//! `scripts/bench-null-server.sh`: nginx answering every request at once.
//!
//! Events are 3–8 KB (exception with frames, breadcrumbs, request, contexts)
//! across three platforms and `--groups` issues with a skewed frequency.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use crate::bench::{median, Random};

/// Options of `bench ingest`.
#[derive(clap::Args, Debug)]
pub struct IngestBenchArgs {
    /// Where the report goes (`-` for standard output).
    #[arg(long, default_value = "-")]
    out: String,
    /// Scratch directory for the servers' data (deleted afterwards).
    #[arg(long, default_value = "./bench-data/ingest")]
    work_dir: PathBuf,
    /// Runs (the report gives medians).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Events of the throughput phase of each run.
    #[arg(long, default_value_t = 60_000)]
    events: usize,
    /// Events of the latency phase (sent at half the measured throughput).
    #[arg(long, default_value_t = 30_000)]
    latency_events: usize,
    /// Concurrent clients in the throughput phase.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Distinct issues the events fall into (skewed: a few are frequent).
    #[arg(long, default_value_t = 5_000)]
    groups: u64,
    /// The `sentry-sls` binary to run as the server (default: this one). Give two, comma
    /// separated, to compare builds side by side: their runs alternate, one report each.
    /// `scripts/bench-null-server.sh` (nginx answering at once) measures the load generator alone.
    #[arg(long, value_delimiter = ',')]
    server_binary: Vec<PathBuf>,
}

/// The latency goal: p99 under this many milliseconds at half the throughput.
const LATENCY_GOAL_MS: f64 = 50.0;

const WORDS: &[&str] = &[
    "invoice", "customer", "order", "payment", "session", "cache", "queue", "report", "upload",
    "search", "profile", "cart", "token", "import", "export", "billing", "mailer", "webhook",
];

fn word(random: &mut Random) -> &'static str {
    WORDS[random.below(WORDS.len() as u64) as usize]
}

/// The frames of issue `group` on `platform`: stable per group, so the
/// group's events share a fingerprint.
fn frames(group: u64, platform: &str) -> Vec<Value> {
    let mut random = Random(group.wrapping_mul(7919).wrapping_add(platform.len() as u64));
    let depth = 6 + random.below(14) as usize;
    (0..depth)
        .map(|index| {
            let module = format!("{}.{}", word(&mut random), word(&mut random));
            let function = format!("{}_{}_{}", word(&mut random), word(&mut random), group % 97);
            let in_app = index + 3 >= depth;
            match platform {
                "python" => json!({
                    "module": format!("app.{module}"),
                    "filename": format!("app/{}.py", module.replace('.', "/")),
                    "abs_path": format!("/srv/app/{}.py", module.replace('.', "/")),
                    "function": function, "lineno": 10 + random.below(400), "in_app": in_app,
                    "context_line": format!("    result = {function}(payload, retries={})", random.below(5)),
                    "pre_context": ["", "def handler(payload):"], "post_context": ["    return result", ""],
                    "vars": {"payload": format!("<Payload {}>", random.below(1_000_000)), "retries": "3"},
                }),
                "javascript" => json!({
                    "filename": format!("https://cdn.example.com/static/js/{}.{}.js", word(&mut random), group % 13),
                    "abs_path": format!("https://cdn.example.com/static/js/{}.js", word(&mut random)),
                    "function": function, "lineno": 1, "colno": 1000 + random.below(90_000),
                    "in_app": in_app,
                }),
                _ => json!({
                    "module": format!("com.example.{module}"),
                    "filename": format!("{}.java", word(&mut random)),
                    "function": function, "lineno": 20 + random.below(900), "in_app": in_app,
                }),
            }
        })
        .collect()
}

/// One event of issue `group` (3–8 KB of JSON).
fn event(random: &mut Random, sequence: usize, groups: u64) -> (u64, Value) {
    // Skewed frequency: a power of a uniform number picks small groups often.
    let group = ((groups as f64) * random.unit().powi(3)) as u64;
    let platform = ["python", "javascript", "java"][(group % 3) as usize];
    let project = 1 + group % 3;
    let error_type = match platform {
        "python" => "ValueError",
        "javascript" => "TypeError",
        _ => "java.lang.IllegalStateException",
    };
    let target = 3_000 + random.below(5_000) as usize;
    let environment = ["production", "staging"][random.below(4).min(1) as usize];
    let region = ["eu", "us", "ap"][random.below(3) as usize];
    let mut breadcrumbs = Vec::new();
    let mut body = json!({
        "event_id": format!("{:016x}{:016x}", random.next(), sequence as u64),
        "timestamp": 0,
        "platform": platform,
        "level": if random.below(10) == 0 { "warning" } else { "error" },
        "logger": format!("{}.{}", word(random), word(random)),
        "server_name": format!("web-{}", random.below(40)),
        "release": format!("app@1.{}.{}", group % 4, random.below(3)),
        "environment": environment,
        "user": {"id": format!("user-{}", random.below(50_000)), "ip_address": "{{auto}}"},
        "tags": {"region": region, "build": format!("b{}", random.below(200))},
        "request": {"url": format!("https://shop.example.com/{}/{}", word(random), random.below(10_000)),
                    "method": "POST", "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0", "Accept": "*/*"}},
        "contexts": {"os": {"name": "Linux", "version": "6.1"}, "runtime": {"name": platform, "version": "3.11"},
                     "trace": {"trace_id": format!("{:016x}{:016x}", random.next(), random.next()), "span_id": format!("{:016x}", random.next())}},
        "sdk": {"name": format!("sentry.{platform}"), "version": "2.0.0"},
        "exception": {"values": [{
            "type": error_type,
            "value": format!("{} {} failed for id {}", word(random), word(random), random.below(100_000)),
            "mechanism": {"type": "generic", "handled": random.below(4) != 0},
            "stacktrace": {"frames": frames(group, platform)},
        }]},
        "breadcrumbs": {"values": []},
    });
    body["project"] = json!(project);
    let mut size = serde_json::to_vec(&body)
        .map(|bytes| bytes.len())
        .unwrap_or(0);
    while size < target {
        let category = ["http", "query", "ui.click", "navigation"][random.below(4) as usize];
        let crumb = json!({
            "timestamp": 1_700_000_000 + breadcrumbs.len(),
            "category": category,
            "message": format!("{} {} {} in {} ms", word(random), word(random), random.below(100_000), random.below(900)),
            "level": "info",
        });
        size += crumb.to_string().len() + 1;
        breadcrumbs.push(crumb);
    }
    body["breadcrumbs"]["values"] = Value::Array(breadcrumbs);
    (project, body)
}

/// Gzipped envelopes with their project ids.
pub(crate) fn envelopes(count: usize, groups: u64) -> Vec<(u64, Vec<u8>)> {
    use std::io::Write;
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let chunk = count.div_ceil(threads).max(1);
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            std::thread::spawn(move || {
                let mut random = Random(0x5eed ^ thread as u64);
                let start = thread * chunk;
                let end = ((thread + 1) * chunk).min(count);
                (start..end)
                    .map(|sequence| {
                        let (project, mut body) = event(&mut random, sequence, groups);
                        body["timestamp"] = json!(std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|elapsed| elapsed.as_secs_f64())
                            .unwrap_or(0.0));
                        let mut raw = format!(
                            "{{\"event_id\":\"{}\"}}\n{{\"type\":\"event\"}}\n",
                            body["event_id"].as_str().unwrap_or_default()
                        )
                        .into_bytes();
                        raw.extend_from_slice(&serde_json::to_vec(&body).unwrap_or_default());
                        raw.push(b'\n');
                        let mut encoder = flate2::write::GzEncoder::new(
                            Vec::new(),
                            flate2::Compression::default(),
                        );
                        let _ = encoder.write_all(&raw);
                        (project, encoder.finish().unwrap_or_default())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|handle| handle.join().unwrap_or_default())
        .collect()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The child server and its ports.
struct Server {
    child: Child,
    ingest: String,
}

impl Server {
    async fn start(binary: &Path, data_dir: &Path) -> anyhow::Result<Server> {
        let (ingest_port, snuba_port) = (free_port()?, free_port()?);
        let child = Command::new(binary)
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(["--ingest-listen", &format!("127.0.0.1:{ingest_port}")])
            .args(["--snuba-listen", &format!("127.0.0.1:{snuba_port}")])
            .args(["--ingest-max-in-flight", "4096"])
            .env("SENTRY_SLS_LOG", "warn")
            .env_remove("SLS_ENDPOINT")
            .stdin(Stdio::null())
            .spawn()
            .context("starting sentry-sls serve")?;
        let server = Server {
            child,
            ingest: format!("http://127.0.0.1:{ingest_port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if client
                .get(format!("{}/health", server.ingest))
                .send()
                .await
                .is_ok()
            {
                return Ok(server);
            }
            anyhow::ensure!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Peak resident set size in MiB (Linux `VmHWM`).
    fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    /// CPU seconds the server has used so far, all threads.
    fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds(&self.child.id().to_string())
    }

    async fn shipped(&self, client: &reqwest::Client) -> f64 {
        let Ok(response) = client.get(format!("{}/metrics", self.ingest)).send().await else {
            return 0.0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter(|line| line.starts_with("ingest_spool_shipped_logs_total"))
            .filter_map(|line| line.split_whitespace().last()?.parse::<f64>().ok())
            .sum()
    }

    fn stop(mut self) {
        // SIGTERM via `kill`: std only offers SIGKILL, and a drained stop is part of the job.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    project: u64,
    body: &[u8],
) -> Result<(), String> {
    let response = client
        .post(format!("{base}/api/{project}/envelope/"))
        .header("content-encoding", "gzip")
        .header("content-type", "application/x-sentry-envelope")
        .header(
            "x-sentry-auth",
            "Sentry sentry_key=bench, sentry_version=7, sentry_client=bench/1.0",
        )
        .body(body.to_vec())
        .send()
        .await
        .map_err(|error| error.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", response.status()))
    }
}

/// CPU seconds a process (`self` or a pid) has used so far, all threads (Linux
/// `/proc/PID/stat` utime + stime, in the kernel's 100 Hz clock ticks).
fn cpu_seconds(process: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{process}/stat")).ok()?;
    // Fields after the parenthesised command name, which may itself contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// CPU milliseconds per event between two [`cpu_seconds`] readings, when both were read
/// and there were events.
fn ms_per_event(start: Option<f64>, end: Option<f64>, events: f64) -> Option<f64> {
    match (start, end) {
        (Some(start), Some(end)) if events > 0.0 => Some((end - start) * 1000.0 / events),
        _ => None,
    }
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn run_once(
    args: &IngestBenchArgs,
    binary: &Path,
    run: usize,
    payloads: Arc<Vec<(u64, Vec<u8>)>>,
) -> anyhow::Result<Value> {
    let data_dir = args.work_dir.join(format!("run-{run}"));
    let _ = std::fs::remove_dir_all(&data_dir);
    let server = Server::start(binary, &data_dir).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(64))
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = server.ingest.clone();
    let cpu_at_start = server.cpu_seconds();
    let client_cpu_at_start = cpu_seconds("self");

    // Throughput: closed loop.
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, base, payloads, next, failures) = (
                client.clone(),
                base.clone(),
                Arc::clone(&payloads),
                Arc::clone(&next),
                Arc::clone(&failures),
            );
            let limit = args.events;
            tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= limit {
                        break;
                    }
                    let (project, body) = &payloads[index];
                    if post(&client, &base, *project, body).await.is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let throughput_failures = failures.load(Ordering::Relaxed);
    let events_per_second = (args.events - throughput_failures) as f64 / elapsed;
    // Both sides' CPU per event in the throughput phase: on one machine they share the
    // cores, so cores / (server + client) is the most events/s this run could show.
    let throughput_accepted = (args.events - throughput_failures) as f64;
    let throughput_server_cpu =
        ms_per_event(cpu_at_start, server.cpu_seconds(), throughput_accepted);
    let throughput_client_cpu = ms_per_event(
        client_cpu_at_start,
        cpu_seconds("self"),
        throughput_accepted,
    );
    let cpu_bound = match (throughput_server_cpu, throughput_client_cpu) {
        (Some(server), Some(client)) if server + client > 0.0 => {
            let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
            Some(cores * 1000.0 / (server + client))
        }
        _ => None,
    };

    // Latency: open loop at half the throughput.
    let rate = (events_per_second / 2.0).max(1.0);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let latency_started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(args.latency_events);
    for index in 0..args.latency_events {
        let due = latency_started + interval.mul_f64(index as f64);
        tokio::time::sleep_until(due).await;
        let (client, base, payloads) = (client.clone(), base.clone(), Arc::clone(&payloads));
        let payload_index = args.events + index;
        tasks.push(tokio::spawn(async move {
            let (project, body) = &payloads[payload_index];
            let result = post(&client, &base, *project, body).await;
            (due.elapsed().as_secs_f64() * 1000.0, result.is_ok())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut latency_failures = 0;
    // When the slowest request was due (seconds into the phase, and as a Unix time to
    // line it up with the server's log), and how many took longer than the 50 ms goal.
    let mut slowest = (0.0_f64, 0.0_f64);
    for (index, task) in tasks.into_iter().enumerate() {
        let (millis, ok) = task.await?;
        if ok {
            if millis > slowest.1 {
                slowest = (interval.as_secs_f64() * index as f64, millis);
            }
            latencies.push(millis);
        } else {
            latency_failures += 1;
        }
    }
    let over_goal = latencies
        .iter()
        .filter(|millis| **millis > LATENCY_GOAL_MS)
        .count();
    let phase_started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |now| now.as_secs_f64())
        - latency_started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);

    // Everything acknowledged must reach the store: time the spool's catch-up.
    let accepted =
        (args.events + args.latency_events - throughput_failures - latency_failures) as f64;
    let drain_started = Instant::now();
    let mut drained = None;
    while drain_started.elapsed() < Duration::from_secs(120) {
        if server.shipped(&client).await >= accepted {
            drained = Some(drain_started.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peak_rss = server.peak_rss_mib();
    // CPU per event over the whole run (requests, spool, shipping into the store): on a
    // shared machine this is steadier than events/s, and cores / it bounds events/s.
    let cpu_ms_per_event = ms_per_event(cpu_at_start, server.cpu_seconds(), accepted);
    server.stop();
    let _ = std::fs::remove_dir_all(&data_dir);
    let report = json!({
        "run": run,
        "events_per_second": events_per_second,
        "throughput_failures": throughput_failures,
        "latency_rate_per_second": rate,
        "latency_p50_ms": percentile(&latencies, 0.50),
        "latency_p99_ms": percentile(&latencies, 0.99),
        "latency_max_ms": latencies.last().copied().unwrap_or(0.0),
        "latency_max_due_at_s": slowest.0,
        "latency_max_due_unix_s": phase_started_unix + slowest.0,
        "latency_over_50ms": over_goal,
        "latency_failures": latency_failures,
        "peak_rss_mib": peak_rss,
        "store_caught_up_after_s": drained,
        "server_cpu_ms_per_event": cpu_ms_per_event,
        "throughput_server_cpu_ms_per_event": throughput_server_cpu,
        "throughput_client_cpu_ms_per_event": throughput_client_cpu,
        "throughput_cpu_bound_events_per_second": cpu_bound,
    });
    eprintln!("run {run}: {report}");
    Ok(report)
}

/// Runs `bench ingest` and writes its report.
pub async fn ingest(args: IngestBenchArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("creating {}", args.work_dir.display()))?;
    eprintln!(
        "generating {} gzip envelopes…",
        args.events + args.latency_events
    );
    let generated = Instant::now();
    let payloads = Arc::new(envelopes(args.events + args.latency_events, args.groups));
    let raw_sizes: Vec<usize> = payloads.iter().map(|(_, body)| body.len()).collect();
    eprintln!(
        "generated in {:.1} s; mean gzip size {} bytes",
        generated.elapsed().as_secs_f64(),
        raw_sizes.iter().sum::<usize>() / raw_sizes.len().max(1)
    );
    let binaries = if args.server_binary.is_empty() {
        vec![std::env::current_exe()?]
    } else {
        args.server_binary.clone()
    };
    let mut runs: Vec<Vec<Value>> = vec![Vec::new(); binaries.len()];
    for run in 0..args.runs.max(1) {
        // Alternate the binaries run by run, so machine noise hits them alike.
        for (binary, reports) in binaries.iter().zip(&mut runs) {
            eprintln!("run {run}: {}", binary.display());
            reports.push(run_once(&args, binary, run, Arc::clone(&payloads)).await?);
        }
    }
    let summary = |runs: &[Value], binary: &Path| {
        let field = |name: &str| -> f64 {
            let mut values: Vec<f64> = runs.iter().filter_map(|run| run[name].as_f64()).collect();
            median(&mut values)
        };
        json!({
            "server_binary": binary.display().to_string(),
            "median": {
                "events_per_second": field("events_per_second"),
                "latency_p50_ms": field("latency_p50_ms"),
                "latency_p99_ms": field("latency_p99_ms"),
                "latency_over_50ms": field("latency_over_50ms"),
                "peak_rss_mib": field("peak_rss_mib"),
                "store_caught_up_after_s": field("store_caught_up_after_s"),
                "server_cpu_ms_per_event": field("server_cpu_ms_per_event"),
                "throughput_server_cpu_ms_per_event": field("throughput_server_cpu_ms_per_event"),
                "throughput_client_cpu_ms_per_event": field("throughput_client_cpu_ms_per_event"),
                "throughput_cpu_bound_events_per_second":
                    field("throughput_cpu_bound_events_per_second"),
            },
            "runs": runs,
        })
    };
    let mut reports: Vec<Value> = binaries
        .iter()
        .zip(&runs)
        .map(|(binary, runs)| summary(runs, binary))
        .collect();
    let mut report = json!({
        "bench": "ingest",
        "cpus": std::thread::available_parallelism().map_or(0, usize::from),
        "settings": {
            "events": args.events, "latency_events": args.latency_events,
            "concurrency": args.concurrency, "groups": args.groups, "runs": args.runs,
            "mean_gzip_bytes": raw_sizes.iter().sum::<usize>() / raw_sizes.len().max(1),
            "fsync": true, "store": "embedded",
        },
        "goal": {"events_per_second": 20_000, "latency_p99_ms": LATENCY_GOAL_MS, "peak_rss_mib": 300},
    });
    if reports.len() == 1 {
        // One binary: its summary at the top level, as before.
        if let (Some(out), Value::Object(one)) = (report.as_object_mut(), reports.remove(0)) {
            out.extend(one);
        }
    } else {
        report["compared"] = Value::Array(reports);
    }
    crate::bench::write_report(&args.out, &report)
}
