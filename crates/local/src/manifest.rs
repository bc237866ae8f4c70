//! The segment manifest: the one file that says which Parquet segments make
//! up a logstore and how far the write-ahead log has been flushed into them.
//!
//! A flush writes its segments first, then replaces the manifest atomically
//! (temporary file, fsync, rename, directory fsync). A crash before the rename
//! leaves stray segment files that recovery deletes, and a WAL that still
//! holds every row; a crash after it leaves WAL segments that replay skips
//! (their sequence is at or below `flushed_through`). Either way no row is
//! lost or counted twice.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One Parquet segment: rows of one day partition from one flush, or from
/// several segments of the day merged by compaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Path relative to the logstore directory.
    pub path: String,
    /// UTC day of the partition (unix seconds / 86400).
    pub day: i64,
    /// Smallest `__time__` in the segment.
    pub min_time: i64,
    /// Largest `__time__` in the segment.
    pub max_time: i64,
    /// Rows in the segment.
    pub rows: u64,
    /// Content and tag columns present in the segment.
    pub columns: Vec<String>,
    /// Of those, the ones stored as Int64 (canonical `long` keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub int_columns: Vec<String>,
    /// Compaction tier: 0 for a flush, one more than its inputs' highest
    /// level for a compacted segment.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub level: u32,
}

fn is_zero(level: &u32) -> bool {
    *level == 0
}

/// The manifest file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version, for future changes.
    pub version: u32,
    /// Highest WAL sequence whose rows are all in `segments`.
    pub flushed_through: u64,
    /// Live segments.
    pub segments: Vec<SegmentMeta>,
    /// Last applied [`WriteKey`](sentry_sls_store::WriteKey) position per
    /// stream, as of `flushed_through` (WAL replay brings it up to date).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub marks: BTreeMap<String, (u64, u64)>,
}

/// Current manifest format version.
pub const MANIFEST_VERSION: u32 = 1;

const FILE_NAME: &str = "manifest.json";

impl Manifest {
    /// Reads the manifest of `directory`; an absent file is an empty manifest.
    pub fn load(directory: &Path) -> std::io::Result<Manifest> {
        let path = directory.join(FILE_NAME);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("corrupt manifest {}: {error}", path.display()),
                )
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                version: MANIFEST_VERSION,
                ..Manifest::default()
            }),
            Err(error) => Err(error),
        }
    }

    /// Replaces the manifest of `directory` atomically and durably.
    pub fn store(&self, directory: &Path) -> std::io::Result<()> {
        let temporary = directory.join(format!("{FILE_NAME}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut file = fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temporary, directory.join(FILE_NAME))?;
        sentry_sls_wal::sync_directory(directory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_manifest_is_empty_and_store_round_trips() {
        let directory = tempfile::tempdir().unwrap();
        let empty = Manifest::load(directory.path()).unwrap();
        assert_eq!(empty.flushed_through, 0);
        assert!(empty.segments.is_empty());
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            flushed_through: 7,
            segments: vec![SegmentMeta {
                path: "segments/19000/7-0.parquet".into(),
                day: 19000,
                min_time: 1,
                max_time: 2,
                rows: 3,
                columns: vec!["a".into()],
                int_columns: Vec::new(),
                level: 2,
            }],
            marks: [("spool-1".to_string(), (3, 4096))].into_iter().collect(),
        };
        manifest.store(directory.path()).unwrap();
        assert_eq!(Manifest::load(directory.path()).unwrap(), manifest);
    }
}
