//! HTTP for sentry-sls.
//!
//! The Snuba API listener (default `127.0.0.1:1218`): `GET /health`,
//! `POST /{dataset}/snql`, `POST /{dataset}/mql`, the legacy `/query`,
//! `POST /rpc/{name}/{version}`, `DELETE /{storage}`, and `GET /metrics`
//! (Prometheus). Every error is mapped to Snuba's shape in one place
//! ([`snuba_api::error_response`]). Request handling that is CPU work
//! (parsing, validation, execution) runs on the blocking pool.
//!
//! The SLS REST API over the embedded store ([`sls_api`]), served by
//! `sentry-sls sls-local`. The ingest listener ([`ingest_api`]): Sentry
//! envelopes in, Relay's answers out.

pub mod ingest_api;
pub mod sls_api;
pub mod snuba_api;

pub use snuba_api::{router, serve, ServerConfig};
