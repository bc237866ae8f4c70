//! Ingest: Sentry envelopes into the log store (ingest → store).
//!
//! - [`process`]: envelope items to records (docs/schema.md), one log per
//!   error or transaction event;
//! - [`seen`]: recently stored event ids, so repeats are not stored twice;
//! - [`spool`]: the durable spool. Records are fsynced there before the
//!   client gets its 200, and a shipper moves them to the store in batches,
//!   retrying until the store takes them, committing each batch once where
//!   the store can.
//!
//! Envelope parsing lives in `sentry-sls-event`, the HTTP endpoint in
//! `sentry-sls-server`.

pub mod body;
pub mod process;
pub mod record;
pub mod seen;
pub mod spool;

pub use process::{
    process, process_with, warm_up, ProcessError, Processed, Receipt, DEFAULT_MAX_PAST_SECONDS,
};
pub use seen::SeenSet;
pub use spool::{Cursor, Spool, SpoolConfig, SpoolError};
