//! Durable framed logs on disk.
//!
//! A log is a directory of segment files `<sequence:020>.log`, each a series
//! of frames `[payload length u32 LE][crc32 u32 LE][payload]`. Writers append
//! frames and fsync before they acknowledge anything; readers replay intact
//! frames and stop at a torn tail (a crash mid-write), which was never
//! acknowledged. [`codec`] is the compact payload encoding of a
//! [`sentry_sls_store::LogBatch`]. [`lock`] keeps one process per directory
//! (an exclusive `flock` on its `LOCK` file).
//!
//! Used by the embedded store's write-ahead log (`sentry-sls-local`) and by
//! ingest's durable spool. Owns no threads and no policy: when to sync,
//! rotate and delete is the caller's.

pub mod codec;
pub mod lock;
pub mod segments;

pub use lock::{lock_directory, DirectoryLock};
pub use segments::{
    list_segments, read_segment, remove_file_gradually, sync_directory, Wal, MAX_FRAME_BYTES,
};
