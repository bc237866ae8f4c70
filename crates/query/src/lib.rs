//! The Snuba read path of sentry-sls.
//!
//! Owns what the Snuba API means, independent of HTTP and of storage: the
//! request body schema, the catalog of datasets and entities, entity-aware
//! validation of SnQL (on top of `sentry-sls-snql`'s syntax), the types of
//! result columns, and the exact JSON shapes of Snuba's responses and errors.
//! It does not own HTTP (that is `sentry-sls-server`) nor the log store; it
//! translates queries on the errors entities into SLS queries (`translate`)
//! and runs them through the store's `LogStore` trait (`store_executor`).

pub mod engine;
pub mod entities;
pub mod error;
pub mod functions;
pub mod request;
pub mod response;
pub mod store_executor;
pub mod translate;
pub mod types;
pub mod validate;

pub use engine::{Engine, Executor, NoRowsExecutor};
pub use error::SnubaError;
pub use request::{Flags, QueryRequest};
pub use store_executor::StoreExecutor;
pub use validate::{parse_and_validate, validate, Checks, Mode, ValidatedQuery};
