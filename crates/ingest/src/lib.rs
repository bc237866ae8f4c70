//! Ingest: Sentry envelopes into the log store (ingest → store).
//!
//! Today this crate holds the durable [`spool`]: the endpoint's records are
//! fsynced there before the client gets its 200, and a shipper moves them to
//! the store in batches, retrying until the store takes them. The endpoint,
//! normalisation and grouping (issue "Ingest") build on it; envelope parsing
//! lives in `sentry-sls-event`.

pub mod body;
pub mod process;
pub mod spool;

pub use process::{process, ProcessError, Processed};
pub use spool::{Cursor, Spool, SpoolConfig, SpoolError};
