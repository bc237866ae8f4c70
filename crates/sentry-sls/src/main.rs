//! `sentry-sls`: the Sentry console's Issues pages without ClickHouse.
//!
//! Crates (data flows ingest → store ← query):
//! - `sentry-sls-snql`: SnQL syntax (parser, AST, printer, post-parse rules);
//! - `sentry-sls-query`: the Snuba read path (request schema, entity catalog,
//!   validation, result types, response and error shapes);
//! - `sentry-sls-server`: all HTTP (the Snuba API listener, the SLS REST API
//!   of `sls-local`);
//! - `sentry-sls-store`: the `LogStore` seam every store implements;
//! - `sentry-sls-protocol`: the SLS wire format (protobuf, compression,
//!   signatures, error codes, JSON models);
//! - `sentry-sls-slsql`: the SLS query language (`search | SQL`) syntax;
//! - `sentry-sls-local`: the embedded store (WAL, Parquet segments, DataFusion);
//! - `sentry-sls-client`: the `LogStore` over real SLS (HTTP, retries, paging);
//! - `sentry-sls` (this binary): command line, configuration, wiring. Only
//!   the binary knows both stores; `SLS_ENDPOINT` picks real SLS.

mod bench;
mod bench_anchor;
mod bench_ingest;
mod bench_query;
mod bench_stages;
mod store_args;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sentry_sls_query::{Engine, StoreExecutor};
use sentry_sls_server::ServerConfig;

/// Sentry's Issues pages without ClickHouse: a Snuba-compatible API over
/// Alibaba Cloud SLS or an embedded local store.
#[derive(Parser, Debug)]
#[command(name = "sentry-sls", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the Snuba-compatible API that Sentry Web queries (SnQL over HTTP).
    ///
    /// Answers `POST /{dataset}/snql` with Snuba's exact response and error
    /// shapes, `GET /health` for the self-hosted healthcheck and `GET /metrics`
    /// for Prometheus. Point Sentry at it with `SENTRY_SNUBA` or `SNUBA`.
    /// The same listener serves the Sentry Web plugins' APIs under `/v1/`:
    /// the nodestore (`/v1/nodes/…`) and the groups (`/v1/groups`).
    Serve(ServeArgs),

    /// Serve the embedded store over the SLS REST API (a local stand-in for
    /// Alibaba Cloud SLS).
    ///
    /// The official SLS SDKs and sentry-sls's own SLS client can create
    /// logstores and indexes, put logs (lz4/zstd/deflate protobuf) and query
    /// them (GetLogsV2, GetLogs, GetHistograms). The project is the first label
    /// of the Host header (`{project}.{endpoint}`); projects named with
    /// `--project` exist from the start, others are made with CreateProject.
    /// With `SLS_ACCESS_KEY_ID`/`SLS_ACCESS_KEY_SECRET` set, every request must
    /// carry a valid signature by that key (`SignatureNotMatch` otherwise).
    SlsLocal(SlsLocalArgs),

    /// Create (or check) the logstore and its index, in SLS or the embedded store.
    ///
    /// Idempotent: an existing logstore is kept, missing index keys are added.
    /// SLS indexes only data written after a key exists, so run it before the
    /// first write. Needs write permission on the project (the Snuba API and
    /// Sentry Web only need read-only keys).
    Setup(SetupArgs),

    /// Benchmarks that write JSON reports.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// The embedded store: append throughput (1 KB logs, batches of 1000,
    /// fsync on) and a group-by-count over 10 million rows with 20,000 groups.
    Store(bench::StoreBenchArgs),
    /// Ingest: gzip envelopes of 3–8 KB over loopback to a `serve` child on
    /// the embedded store (fsync on); events/s, p50/p99 latency at half that
    /// rate, peak RSS.
    Ingest(bench_ingest::IngestBenchArgs),
    /// Queries: the Issues-page SnQL shapes through the Snuba HTTP API over an
    /// embedded store loaded with 14 days of skewed events; medians next to
    /// the ClickHouse anchor's.
    Query(bench_query::QueryBenchArgs),
    /// Ingest stage by stage, on one thread without HTTP: microseconds per event
    /// of gzip, envelope, JSON, normalisation and grouping, all of event
    /// processing (which repeats JSON and normalisation), spool frame, and the
    /// embedded store's append (fsync), flush and compaction.
    Stages(bench_stages::StagesBenchArgs),
}

#[derive(clap::Args, Debug)]
struct SlsLocalArgs {
    /// Address to listen on.
    #[arg(long, env = "SLS_LOCAL_LISTEN", default_value = "127.0.0.1:9100")]
    listen: SocketAddr,

    /// Directory of the embedded store (created if missing).
    #[arg(long, env = "SENTRY_SLS_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,

    /// Projects to create at start (repeatable).
    #[arg(long = "project")]
    projects: Vec<String>,

    /// Accepted AccessKey id; with the secret, signatures are verified.
    #[arg(long, env = "SLS_ACCESS_KEY_ID", hide_env_values = true)]
    access_key_id: Option<String>,

    /// Accepted AccessKey secret.
    #[arg(long, env = "SLS_ACCESS_KEY_SECRET", hide_env_values = true)]
    access_key_secret: Option<String>,

    /// Inject faults, e.g. `500=0.2,quota=0.1,incomplete=0.3,slow=0.1,seed=7`:
    /// probabilities of 500 InternalServerError, 403 WriteQuotaExceed on
    /// writes, Incomplete query answers, and slow answers. These happen before
    /// a write is applied, so a correct client loses and duplicates nothing.
    /// `lost=0.1` applies a write and then answers 500, as a PutLogs that
    /// timed out after SLS applied it: retries then make duplicates.
    #[arg(long, env = "SLS_LOCAL_FAULTS")]
    faults: Option<String>,

    /// Largest request body as sent, in bytes.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    max_body_bytes: usize,
}

#[derive(clap::Args, Debug)]
struct SetupArgs {
    #[command(flatten)]
    store: store_args::StoreArgs,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address of the Snuba API listener (Sentry's `SNUBA` setting points here).
    #[arg(
        long,
        env = "SENTRY_SLS_SNUBA_LISTEN",
        default_value = "127.0.0.1:1218"
    )]
    snuba_listen: SocketAddr,

    #[command(flatten)]
    store: store_args::StoreArgs,

    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    max_body_bytes: usize,

    /// Time limit of one request, in seconds.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,

    /// Address of the ingest listener (SDKs or nginx's mirror post envelopes here).
    #[arg(
        long,
        env = "SENTRY_SLS_INGEST_LISTEN",
        default_value = "127.0.0.1:3000"
    )]
    ingest_listen: SocketAddr,

    /// Public keys accepted by ingest: `open` (any key, as Alibaba RUM) or
    /// `strict` (only the keys given with --ingest-key).
    #[arg(long, env = "SENTRY_SLS_KEY_POLICY", default_value = "open", value_parser = ["open", "strict"])]
    ingest_key_policy: String,

    /// A project's public key for the strict policy, as `PROJECT_ID:KEY` (repeatable;
    /// the env variable takes a comma-separated list).
    #[arg(
        long = "ingest-key",
        env = "SENTRY_SLS_INGEST_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    ingest_keys: Vec<String>,

    /// Most bytes the ingest spool may hold on disk while the store is behind
    /// (then ingest answers 503 with Retry-After).
    #[arg(long, default_value_t = 1024 * 1024 * 1024)]
    spool_max_bytes: u64,

    /// Group commit of the spool, in microseconds: when fewer appends wait than the last
    /// fsync covered, the spool waits this long so that concurrent requests share one
    /// fsync (less CPU per event; each such request waits up to this much longer). A lone
    /// client never waits; 0 turns it off. At most 100000 (100 ms).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    spool_commit_linger_us: u64,

    /// Ingest requests processed at once; more are answered 429 with
    /// Retry-After (bounds the memory that request bodies can take).
    #[arg(long, default_value_t = 256)]
    ingest_max_in_flight: usize,

    /// Oldest event timestamp kept, in days before the event arrived; an older one is
    /// replaced by the time received (Relay keeps 30 days). 6 by default because SLS
    /// refuses log times more than 7 days old; the embedded store, or an SLS that
    /// accepts older times, may keep up to 30.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=30))]
    ingest_max_past_days: u32,
}

fn key_policy(args: &ServeArgs) -> anyhow::Result<sentry_sls_server::ingest_api::KeyPolicy> {
    if args.ingest_key_policy == "open" {
        return Ok(sentry_sls_server::ingest_api::KeyPolicy::Open);
    }
    let mut keys: BTreeMap<u64, std::collections::BTreeSet<String>> = BTreeMap::new();
    for entry in &args.ingest_keys {
        let Some((project, key)) = entry.trim().split_once(':') else {
            anyhow::bail!("--ingest-key `{entry}` is not PROJECT_ID:KEY");
        };
        let project: u64 = project
            .parse()
            .with_context(|| format!("--ingest-key `{entry}`: bad project id"))?;
        keys.entry(project).or_default().insert(key.to_string());
    }
    if keys.is_empty() {
        anyhow::bail!("the strict key policy needs at least one --ingest-key PROJECT_ID:KEY");
    }
    Ok(sentry_sls_server::ingest_api::KeyPolicy::Strict(keys))
}

/// jemalloc: the ingest path allocates many small JSON values per event, and glibc's malloc
/// spent a sixth of the server's CPU on them (`bench ingest`: 17% less CPU per event, same RSS).
/// Its settings are built in from `.cargo/config.toml` (`JEMALLOC_SYS_WITH_MALLOC_CONF`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SENTRY_SLS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::SlsLocal(args) => runtime.block_on(sls_local(args)),
        Command::Setup(args) => runtime.block_on(setup(args)),
        Command::Bench(BenchCommand::Store(args)) => runtime.block_on(bench::store(args)),
        Command::Bench(BenchCommand::Ingest(args)) => runtime.block_on(bench_ingest::ingest(args)),
        Command::Bench(BenchCommand::Query(args)) => runtime.block_on(bench_query::query(args)),
        Command::Bench(BenchCommand::Stages(args)) => runtime.block_on(bench_stages::stages(args)),
    }
}

async fn sls_local(args: SlsLocalArgs) -> anyhow::Result<()> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the Prometheus recorder")?;
    let store = Arc::new(
        sentry_sls_local::LocalStore::open(
            &args.data_dir,
            sentry_sls_local::LocalStoreConfig::default(),
        )
        .map_err(|error| {
            anyhow::anyhow!("opening the store in {}: {error}", args.data_dir.display())
        })?,
    );
    for project in &args.projects {
        store
            .project_or_create(project)
            .map_err(|error| anyhow::anyhow!("creating project {project}: {error}"))?;
    }
    let mut credentials = BTreeMap::new();
    match (args.access_key_id, args.access_key_secret) {
        (Some(id), Some(secret)) if !id.is_empty() => {
            credentials.insert(id, secret);
        }
        (None, None) => tracing::warn!("no SLS_ACCESS_KEY_ID/SECRET: signatures are not checked"),
        _ => anyhow::bail!("give both SLS_ACCESS_KEY_ID and SLS_ACCESS_KEY_SECRET, or neither"),
    }
    let faults = match args
        .faults
        .as_deref()
        .filter(|text| !text.trim().is_empty())
    {
        Some(text) => {
            let faults = sentry_sls_server::sls_api::FaultConfig::parse(text)
                .map_err(|error| anyhow::anyhow!("--faults: {error}"))?;
            tracing::warn!(?faults, "fault injection is on");
            Some(faults)
        }
        None => None,
    };
    let config = sentry_sls_server::sls_api::SlsApiConfig {
        credentials,
        max_body_bytes: args.max_body_bytes,
        faults,
        ..Default::default()
    };
    let router = sentry_sls_server::sls_api::router(Arc::clone(&store), config)
        .route("/metrics", axum_get_metrics(metrics));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding sls-local to {}", args.listen))?;
    tracing::info!(address = %args.listen, projects = ?store.project_names(), "sls-local listening");
    sentry_sls_server::serve(listener, router, shutdown_signal())
        .await
        .context("serving the SLS API")?;
    let stopping = Arc::clone(&store);
    tokio::task::spawn_blocking(move || stopping.shutdown()).await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

fn axum_get_metrics(
    handle: metrics_exporter_prometheus::PrometheusHandle,
) -> axum::routing::MethodRouter {
    axum::routing::get(move || {
        let handle = handle.clone();
        async move { handle.render() }
    })
}

async fn setup(args: SetupArgs) -> anyhow::Result<()> {
    let opened = args.store.open()?;
    store_args::setup(
        opened.store.as_ref(),
        &args.store.sls_logstore,
        args.store.sls_ttl,
    )
    .await?;
    if let Some(local) = opened.local {
        tokio::task::spawn_blocking(move || local.shutdown()).await?;
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Grouping rules and regexes are built before any port opens (meanwhile the store
    // opens), not by the first requests on the async workers.
    let warming = tokio::task::spawn_blocking(sentry_sls_ingest::warm_up);
    let opened = args.store.open()?;
    if opened.local.is_some() {
        // The embedded store is ours to set up; real SLS is set up with
        // `sentry-sls setup` (serve may run with read-only keys).
        store_args::setup(
            opened.store.as_ref(),
            &args.store.sls_logstore,
            args.store.sls_ttl,
        )
        .await?;
    }
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the Prometheus recorder")?;
    let config = ServerConfig {
        max_body_bytes: args.max_body_bytes,
        request_timeout: std::time::Duration::from_secs(args.request_timeout_secs),
    };
    // Errors entities are answered from the store; the rest answer empty.
    let engine = Engine::new(Arc::new(
        StoreExecutor::new(
            Arc::clone(&opened.store),
            args.store.sls_logstore.clone(),
            args.store.sls_ttl,
            std::time::Duration::from_secs((args.request_timeout_secs * 2 / 3).max(1)),
        )
        // SLS stores a retried PutLogs twice; the embedded store commits once.
        .with_distinct_counts(opened.local.is_none()),
    ));
    // The plugins' APIs under /v1/ (nodestore, groups) share the listener.
    let nodestore = sentry_sls_server::nodestore_api::NodestoreConfig {
        logstore: args.store.sls_logstore.clone(),
        ttl_days: args.store.sls_ttl,
        request_timeout: config.request_timeout,
        max_body_bytes: args.max_body_bytes,
        ..Default::default()
    };
    let router = sentry_sls_server::router(engine, Some(metrics.clone()), &config)
        .merge(sentry_sls_server::nodestore_api::router(
            Arc::clone(&opened.store),
            nodestore.clone(),
        ))
        .merge(sentry_sls_server::groups_api::router(
            Arc::clone(&opened.store),
            nodestore,
        ));
    let warmed = warming.await?;
    tracing::debug!(warmed, "grouping warmed up");
    let listener = tokio::net::TcpListener::bind(args.snuba_listen)
        .await
        .with_context(|| format!("binding the Snuba API to {}", args.snuba_listen))?;

    // Ingest: envelopes → spool (fsynced before 200) → shipper → store.
    let mut spool_config = sentry_sls_ingest::SpoolConfig::new(args.store.data_dir.join("spool"));
    spool_config.max_bytes = args.spool_max_bytes;
    spool_config.commit_linger = std::time::Duration::from_micros(args.spool_commit_linger_us);
    let spool = sentry_sls_ingest::Spool::open(spool_config).context("opening the ingest spool")?;
    let ingest_config = sentry_sls_server::ingest_api::IngestConfig {
        key_policy: key_policy(&args)?,
        max_in_flight: args.ingest_max_in_flight.max(1),
        max_past_secs: i64::from(args.ingest_max_past_days) * 86_400,
        ..Default::default()
    };
    let ingest_router =
        sentry_sls_server::ingest_api::router(spool.clone(), ingest_config, Some(metrics));
    let ingest_listener = tokio::net::TcpListener::bind(args.ingest_listen)
        .await
        .with_context(|| format!("binding ingest to {}", args.ingest_listen))?;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
        let _ = receiver.wait_for(|stopping| *stopping).await;
    };
    let shipper = tokio::spawn({
        let spool = spool.clone();
        let store = Arc::clone(&opened.store);
        let logstore = args.store.sls_logstore.clone();
        let stopped = wait(stopped.clone());
        async move { spool.ship(store, logstore, stopped).await }
    });
    let snuba = sentry_sls_server::serve(listener, router, wait(stopped.clone()));
    let ingest = sentry_sls_server::serve(ingest_listener, ingest_router, wait(stopped.clone()));
    let signal = async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    };
    let (snuba, ingest, ()) = tokio::join!(snuba, ingest, signal);
    snuba.context("serving the Snuba API")?;
    ingest.context("serving ingest")?;
    if let Err(error) = shipper.await? {
        tracing::error!(%error, "the spool shipper failed");
    }
    let stopping = spool.clone();
    tokio::task::spawn_blocking(move || stopping.shutdown()).await?;
    if let Some(local) = opened.local {
        tokio::task::spawn_blocking(move || local.shutdown()).await?;
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; draining");
}
