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
//!
//! On the Snuba listener too, under `/v1/`, the APIs of the Sentry Web
//! plugins: the nodestore ([`nodestore_api`]: event bodies by node id) and
//! the groups of a project computed from the log store ([`groups_api`]).

pub mod groups_api;
pub mod ingest_api;
pub mod nodestore_api;
pub mod sls_api;
pub mod snuba_api;

pub use snuba_api::{router, serve, ServerConfig};
