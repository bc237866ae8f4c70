//! `sentry-sls`: the Sentry console's Issues pages without ClickHouse.
//!
//! Crates (data flows ingest → store ← query):
//! - `sentry-sls-snql`: SnQL syntax (parser, AST, printer, post-parse rules);
//! - `sentry-sls-query`: the Snuba read path (request schema, entity catalog,
//!   validation, result types, response and error shapes);
//! - `sentry-sls-server`: all HTTP (the Snuba API listener);
//! - `sentry-sls` (this binary): command line, configuration, wiring.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sentry_sls_query::{Engine, NoRowsExecutor};
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
    /// Until the log store is wired in, every entity answers with no rows.
    Serve(ServeArgs),
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

    /// Directory of the embedded store (created if missing).
    #[arg(long, env = "SENTRY_SLS_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,

    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    max_body_bytes: usize,

    /// Time limit of one request, in seconds.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
}

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
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the Prometheus recorder")?;
    let config = ServerConfig {
        max_body_bytes: args.max_body_bytes,
        request_timeout: std::time::Duration::from_secs(args.request_timeout_secs),
    };
    let engine = Engine::new(Arc::new(NoRowsExecutor));
    let router = sentry_sls_server::router(engine, Some(metrics), &config);
    let listener = tokio::net::TcpListener::bind(args.snuba_listen)
        .await
        .with_context(|| format!("binding the Snuba API to {}", args.snuba_listen))?;
    sentry_sls_server::serve(listener, router, shutdown_signal())
        .await
        .context("serving the Snuba API")?;
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
