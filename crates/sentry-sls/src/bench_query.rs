//! `sentry-sls bench query`: the Issues-page queries through the Snuba HTTP
//! API over an embedded store loaded with a realistic dataset (14 days, 3
//! projects, skewed group sizes, many users), as a JSON report next to the
//! ClickHouse anchor's published figures (shared/bench/clickhouse-anchor).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sentry_sls_local::{LocalStore, LocalStoreConfig};
use sentry_sls_query::{Engine, StoreExecutor};
use sentry_sls_store::{LogBatch, LogRecord, LogStore};
use serde_json::json;

use crate::bench::{median, Random};

/// Options of `bench query`.
#[derive(clap::Args, Debug)]
pub struct QueryBenchArgs {
    /// Where the report goes (`-` for standard output).
    #[arg(long, default_value = "-")]
    out: String,
    /// Scratch directory for the store (deleted afterwards).
    #[arg(long, default_value = "./bench-data/query")]
    pub(crate) work_dir: PathBuf,
    /// Events loaded (the anchor has 10,000,000).
    #[arg(long, default_value_t = 500_000)]
    events: usize,
    /// Distinct groups, with Zipf-skewed sizes.
    #[arg(long, default_value_t = 20_000)]
    groups: usize,
    /// Distinct users.
    #[arg(long, default_value_t = 50_000)]
    users: usize,
    /// Timed runs per query (after 2 warm-ups).
    #[arg(long, default_value_t = 7)]
    pub(crate) runs: usize,
    /// Instead of the synthetic dataset: import the ClickHouse anchor's
    /// `errors.parquet` from this directory (run.py's `--work`) and check
    /// every answer against ClickHouse's.
    #[arg(long)]
    pub(crate) anchor: Option<PathBuf>,
    /// Python with `chdb` installed: with `--anchor`, runs the anchor's
    /// `run.py --engines chdb` first, so both columns come from this run.
    #[arg(long)]
    pub(crate) anchor_python: Option<PathBuf>,
    /// The anchor's run.py.
    #[arg(long, default_value = "../shared/bench/clickhouse-anchor/run.py")]
    pub(crate) anchor_script: PathBuf,
    /// With `--anchor`: keep the loaded store here and reuse it when it
    /// already holds this `errors.parquet` (else a scratch directory under
    /// `--work-dir`, deleted afterwards).
    #[arg(long)]
    pub(crate) store_dir: Option<PathBuf>,
    /// With `--anchor`: only the queries whose names start with one of
    /// these (comma-separated, e.g. `Q5d,Q7`); all by default.
    #[arg(long, value_delimiter = ',')]
    pub(crate) queries: Vec<String>,
    /// With `--anchor`: flush the memtable at this many rows (and never by
    /// WAL size or age during the import) instead of the store's defaults,
    /// to measure fewer, larger segments (what compaction would leave).
    #[arg(long)]
    pub(crate) flush_rows: Option<usize>,
}

const BROWSERS: [&str; 5] = ["Chrome", "Firefox", "Safari", "Edge", "Opera"];
const OSES: [&str; 4] = ["Windows", "Mac OS X", "Linux", "Android"];
const ENVIRONMENTS: [&str; 3] = ["production", "staging", "development"];
const LEVELS: [&str; 3] = ["error", "error", "warning"];
const DAY: i64 = 86_400;

/// The anchor's ClickHouse medians (ms), shared/bench/clickhouse-anchor/README.md.
const ANCHOR: [(&str, f64); 9] = [
    ("Q1 issue list sort=date TOTALS", 55.6),
    ("Q2 issue list sort=freq", 55.0),
    ("Q3 issue list sort=user", 400.8),
    ("Q4 seen stats 25 groups", 103.1),
    ("Q5h sparkline hourly 24 h", 10.4),
    ("Q5d sparkline daily 14 d", 35.3),
    ("Q6 tag facets top 10 per key", 323.7),
    ("Q7 latest event", 40.4),
    ("Q8 event by id 14 d", 13.7),
];

/// Shapes the anchor has no ClickHouse figure for: an Issues page of 25 and
/// of 100 groups as Sentry 23.7.1's serializers ask for it.
const PAGE_SHAPES: [&str; 4] = [
    "Q4b seen stats 100 groups",
    "Q9 unhandled flag 25 groups",
    "Q9b unhandled flag 100 groups",
    "Q9c unhandled flag 25 groups, 3 projects",
];

struct Dataset {
    now: i64,
    /// Groups of project 1 by size, largest first.
    hot_groups: Vec<u64>,
    /// An event of project 1: (event_id, timestamp).
    some_event: (String, i64),
}

fn group_id(project: u64, rank: usize) -> u64 {
    (1u64 << 52) + project * 1_000_000 + rank as u64
}

async fn load(store: &dyn LogStore, args: &QueryBenchArgs) -> anyhow::Result<Dataset> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let mut random = Random(0x5EED);
    // Zipf(1.1) over group ranks by inverse CDF on a precomputed table.
    let weights: Vec<f64> = (1..=args.groups)
        .map(|rank| 1.0 / (rank as f64).powf(1.1))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = Vec::with_capacity(weights.len());
    let mut sum = 0.0;
    for weight in &weights {
        sum += weight / total;
        cumulative.push(sum);
    }
    let mut sizes = vec![0usize; args.groups];
    let mut some_event = None;
    let mut batch = Vec::with_capacity(5000);
    for index in 0..args.events {
        let project = match random.below(10) {
            0..=4 => 1,
            5..=7 => 2,
            _ => 3,
        };
        let rank = cumulative.partition_point(|&c| c < random.unit());
        let rank = rank.min(args.groups - 1);
        if project == 1 {
            sizes[rank] += 1;
        }
        let timestamp = now - 60 - random.below(14 * DAY as u64 - 120) as i64;
        let millis = timestamp * 1000 + random.below(1000) as i64;
        let event_id = format!("{:016x}{:016x}", random.next(), index as u64);
        let user =
            (random.below(10) > 0).then(|| format!("id:{}", random.below(args.users as u64)));
        let browser = BROWSERS[random.below(5) as usize];
        let os = OSES[random.below(4) as usize];
        let environment = ENVIRONMENTS[random.below(3) as usize];
        let release = format!("app@1.{}", random.below(20));
        let level = LEVELS[random.below(3) as usize];
        let mut tags = serde_json::Map::new();
        tags.insert("browser".into(), json!(browser));
        tags.insert("environment".into(), json!(environment));
        tags.insert("level".into(), json!(level));
        tags.insert("os.name".into(), json!(os));
        tags.insert("sentry:release".into(), json!(release));
        if let Some(user) = &user {
            tags.insert("sentry:user".into(), json!(user));
        }
        let group = group_id(project, rank);
        let mut contents = vec![
            ("project_id".to_string(), project.to_string()),
            ("group_id".into(), group.to_string()),
            ("event_id".into(), event_id.clone()),
            ("primary_hash".into(), format!("{:032x}", group)),
            ("timestamp_ms".into(), millis.to_string()),
            ("received".into(), timestamp.to_string()),
            ("type".into(), "error".into()),
            ("level".into(), level.into()),
            ("platform".into(), "python".into()),
            ("title".into(), format!("ValueError: failure {rank}")),
            ("message".into(), format!("failure {rank} in handler")),
            ("environment".into(), environment.into()),
            ("release".into(), release),
            ("browser".into(), browser.into()),
            ("os_name".into(), os.into()),
            ("tags".into(), serde_json::Value::Object(tags).to_string()),
            ("exception_stacks_type".into(), "[\"ValueError\"]".into()),
            (
                "exception_stacks_mechanism_handled".into(),
                if rank % 3 == 0 { "[0]" } else { "[1]" }.into(),
            ),
            (
                "unhandled".into(),
                if rank % 3 == 0 { "1" } else { "0" }.into(),
            ),
            ("schema_version".into(), "1".into()),
        ];
        if let Some(user) = user {
            contents.push(("user".into(), user));
        }
        if project == 1 && some_event.is_none() && index > args.events / 2 {
            some_event = Some((event_id, timestamp));
        }
        batch.push(LogRecord {
            time: timestamp as u32,
            time_ns: (millis % 1000) as u32 * 1_000_000,
            contents,
        });
        if batch.len() == 5000 {
            put(store, std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        put(store, batch).await?;
    }
    let mut ranked: Vec<(usize, usize)> = sizes.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Dataset {
        now,
        hot_groups: ranked.iter().map(|(rank, _)| group_id(1, *rank)).collect(),
        some_event: some_event.context("the dataset has no event of project 1")?,
    })
}

async fn put(store: &dyn LogStore, logs: Vec<LogRecord>) -> anyhow::Result<()> {
    let batch = LogBatch {
        topic: "sentry_error".into(),
        source: "bench".into(),
        tags: Vec::new(),
        logs,
    };
    store
        .put_logs("logstore-rum", batch)
        .await
        .map_err(|error| anyhow::anyhow!("loading: {error}"))
}

fn datetime(epoch: i64) -> String {
    let days = epoch.div_euclid(DAY);
    let seconds = epoch.rem_euclid(DAY);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "toDateTime('{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}')",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

fn queries(data: &Dataset) -> Vec<(&'static str, String, Option<f64>)> {
    let range = |days: i64| {
        format!(
            "timestamp >= {} AND timestamp < {}",
            datetime(data.now - days * DAY),
            datetime(data.now + 60)
        )
    };
    let list = |aggregate: &str, alias: &str| {
        format!(
            "MATCH (events SAMPLE 1.0) SELECT {aggregate} AS `{alias}`, uniq(group_id) AS `total` BY group_id \
             WHERE {} AND project_id IN tuple(1) AND type != 'transaction' \
             ORDER BY {alias} DESC, group_id ASC LIMIT 150 OFFSET 0 TOTALS True",
            range(14)
        )
    };
    let spread: Vec<String> = (0..25)
        .map(|index| data.hot_groups[index * index * 8 % data.hot_groups.len()].to_string())
        .collect();
    let groups = spread.join(", ");
    // A page of 100: the 25 above, then every 7th group by size.
    let mut page_100 = spread.clone();
    page_100.extend(
        (0..data.hot_groups.len())
            .step_by(7)
            .map(|rank| data.hot_groups[rank].to_string())
            .filter(|group| !spread.contains(group))
            .take(75),
    );
    // `GroupSerializerSnuba._get_group_unhandled`: the project once per group,
    // in both of `raw_query`'s project conditions.
    let unhandled = |page: &[String], projects: &[u64]| {
        let projects: Vec<String> = (0..page.len())
            .map(|index| projects[index % projects.len()].to_string())
            .collect();
        let projects = projects.join(", ");
        format!(
            "MATCH (events) SELECT group_id, argMax(has(exception_stacks.mechanism_handled, 0), timestamp) AS `unhandled` \
             BY group_id WHERE {} AND project_id IN tuple({projects}) AND project_id IN tuple({projects}) \
             AND group_id IN tuple({}) ORDER BY group_id ASC",
            range(14),
            page.join(", ")
        )
    };
    let seen_stats = |page: &[String]| {
        format!(
            "MATCH (events) SELECT count() AS `times_seen`, min(timestamp) AS `first_seen`, max(timestamp) AS `last_seen`, \
             uniq(tags[sentry:user]) AS `count` BY group_id WHERE {} AND project_id IN tuple(1) AND group_id IN tuple({})",
            range(14),
            page.join(", ")
        )
    };
    let hottest = data.hot_groups[0];
    let spark = |days: i64, granularity: u64| {
        format!(
            "MATCH (events) SELECT count() AS `aggregate` BY group_id, time WHERE group_id IN array({groups}) \
             AND project_id IN array(1) AND {} ORDER BY time DESC, group_id ASC LIMIT 10000 GRANULARITY {granularity}",
            range(days)
        )
    };
    vec![
        (ANCHOR[0].0, list("multiply(toUInt64(max(timestamp)), 1000)", "last_seen"), Some(ANCHOR[0].1)),
        (ANCHOR[1].0, list("count()", "times_seen"), Some(ANCHOR[1].1)),
        (ANCHOR[2].0, list("uniq(tags[sentry:user])", "user_count"), Some(ANCHOR[2].1)),
        (ANCHOR[3].0, seen_stats(&spread), Some(ANCHOR[3].1)),
        (ANCHOR[4].0, spark(1, 3600), Some(ANCHOR[4].1)),
        (ANCHOR[5].0, spark(14, 86400), Some(ANCHOR[5].1)),
        (
            ANCHOR[6].0,
            format!(
                "MATCH (events) SELECT count() AS `count`, min(timestamp) AS `first_seen`, max(timestamp) AS `last_seen` \
                 BY tags_key, tags_value WHERE {} AND project_id IN tuple(1) AND group_id IN tuple({hottest}) \
                 ORDER BY count DESC LIMIT 10 BY tags_key",
                range(14)
            ),
            Some(ANCHOR[6].1)
        ),
        (
            ANCHOR[7].0,
            format!(
                "MATCH (events) SELECT event_id, group_id, project_id, timestamp, timestamp_ms WHERE {} \
                 AND project_id IN tuple(1) AND group_id IN tuple({hottest}) ORDER BY project_id DESC, \
                 toStartOfDay(timestamp) DESC, timestamp DESC, event_id DESC LIMIT 1 OFFSET 0",
                range(14)
            ),
            Some(ANCHOR[7].1)
        ),
        (
            ANCHOR[8].0,
            format!(
                "MATCH (events) SELECT event_id, group_id, project_id, timestamp WHERE {} AND project_id IN tuple(1) \
                 AND event_id IN tuple('{}') LIMIT 1",
                range(14),
                data.some_event.0
            ),
            Some(ANCHOR[8].1)
        ),
        (PAGE_SHAPES[0], seen_stats(&page_100), None),
        (PAGE_SHAPES[1], unhandled(&spread, &[1]), None),
        (PAGE_SHAPES[2], unhandled(&page_100, &[1]), None),
        (PAGE_SHAPES[3], unhandled(&spread, &[1, 2, 3]), None),
    ]
}

/// Runs the benchmark and writes the report.
/// The Snuba API over one logstore of a store, served in-process on a free loopback port
/// (what `serve` runs, without its listeners' configuration).
pub(crate) struct SnubaServer {
    /// `http://…/events/snql`.
    pub(crate) snql_url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SnubaServer {
    /// Starts the API; store queries time out after `query_timeout`, requests after
    /// `request_timeout`.
    pub(crate) async fn start(
        store: Arc<dyn LogStore>,
        logstore: &str,
        retention_days: u32,
        query_timeout: Duration,
        request_timeout: Duration,
    ) -> anyhow::Result<SnubaServer> {
        let engine = Engine::new(Arc::new(StoreExecutor::new(
            store,
            logstore,
            retention_days,
            query_timeout,
        )));
        let config = sentry_sls_server::ServerConfig {
            request_timeout,
            ..Default::default()
        };
        let router = sentry_sls_server::router(engine, None, &config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(sentry_sls_server::serve(listener, router, async move {
            let _ = stopped.await;
        }));
        Ok(SnubaServer {
            snql_url: format!("http://{address}/events/snql"),
            stop,
            task,
        })
    }

    /// Stops accepting, drains in-flight requests and waits for the server task.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

pub async fn query(args: QueryBenchArgs) -> anyhow::Result<()> {
    if let Some(anchor) = &args.anchor {
        let report = crate::bench_anchor::run(&args, anchor).await?;
        return crate::bench::write_report(&args.out, &report);
    }
    let directory = args.work_dir.join(format!("run-{}", std::process::id()));
    std::fs::create_dir_all(&directory)
        .with_context(|| format!("creating {}", directory.display()))?;
    let store = LocalStore::open(&directory, LocalStoreConfig::default())
        .map_err(|error| anyhow::anyhow!("opening the store: {error}"))?;
    let project = store
        .project_or_create("bench")
        .map_err(|error| anyhow::anyhow!("creating the project: {error}"))?;
    crate::store_args::setup(project.as_ref(), "logstore-rum", 30).await?;

    let started = Instant::now();
    let data = load(project.as_ref(), &args).await?;
    project
        .flush_all()
        .map_err(|error| anyhow::anyhow!("flushing: {error}"))?;
    let load_seconds = started.elapsed().as_secs_f64();

    let server = SnubaServer::start(
        project.clone() as Arc<dyn LogStore>,
        "logstore-rum",
        30,
        Duration::from_secs(120),
        Duration::from_secs(180),
    )
    .await?;
    let client = reqwest::Client::new();
    let url = server.snql_url.clone();

    let mut results = Vec::new();
    for (name, text, anchor_ms) in queries(&data) {
        let body = json!({"query": text, "dataset": "events", "app_id": "bench",
                          "tenant_ids": {"referrer": "bench", "organization_id": 1}});
        let mut timings = Vec::new();
        let mut rows = 0;
        for run in 0..args.runs + 2 {
            let begun = Instant::now();
            let response = client.post(&url).json(&body).send().await?;
            let status = response.status();
            let answer: serde_json::Value = response.json().await?;
            anyhow::ensure!(status.is_success(), "{name}: {status} {answer}");
            if run >= 2 {
                timings.push(begun.elapsed().as_secs_f64() * 1000.0);
            }
            rows = answer["data"].as_array().map_or(0, Vec::len);
        }
        let mut sorted = timings.clone();
        let median_ms = median(&mut sorted);
        let p90 = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
        results.push(json!({
            "query": name, "median_ms": median_ms, "p90_ms": p90, "rows": rows,
            "clickhouse_anchor_ms": anchor_ms, "ratio": anchor_ms.map(|anchor| median_ms / anchor),
        }));
        tracing::info!(query = name, median_ms, "measured");
    }
    server.stop().await;
    store.shutdown();
    let _ = std::fs::remove_dir_all(&directory);

    let report = json!({
        "bench": "query",
        "events": args.events, "groups": args.groups, "users": args.users, "projects": 3,
        "days": 14, "load_seconds": load_seconds, "runs": args.runs,
        "note": "clickhouse_anchor_ms are the anchor's published medians for 10M events on this \
                 machine class (shared/bench/clickhouse-anchor), not measured in this run",
        "results": results,
    });
    crate::bench::write_report(&args.out, &report)
}
