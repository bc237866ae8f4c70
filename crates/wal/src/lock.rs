//! One process per data directory: an exclusive advisory lock on a `LOCK`
//! file, so a second `sentry-sls` pointed at the same directory (a stale
//! container, a double start) fails at once instead of interleaving its WAL,
//! manifest and segments with the first one's. The kernel drops the lock
//! when the holder exits, however it exits (`kill -9` included), so there is
//! never a stale lock to clean up.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// `ENOLCK` on Linux: no locks available (the filesystem does not support them).
const ENOLCK: i32 = 37;

/// The name of the lock file in a locked directory.
pub const LOCK_FILE: &str = "LOCK";

/// An exclusive lock on a directory, held until dropped.
#[derive(Debug)]
pub struct DirectoryLock {
    _file: File,
    path: PathBuf,
}

impl DirectoryLock {
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Locks `directory` (created if missing) for this process. Fails with
/// [`io::ErrorKind::WouldBlock`] and a message naming the directory when
/// another process (or another open in this one) holds it.
pub fn lock_directory(directory: &Path) -> io::Result<DirectoryLock> {
    std::fs::create_dir_all(directory)?;
    let path = directory.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(DirectoryLock { _file: file, path }),
        Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "{} is in use by another process (it holds {}); \
                 stop it or give this one another data directory",
                directory.display(),
                path.display()
            ),
        )),
        // A filesystem without locks (some network mounts answer ENOLCK): run
        // unguarded rather than not at all, and say so.
        Err(std::fs::TryLockError::Error(error))
            if error.kind() == io::ErrorKind::Unsupported
                || error.raw_os_error() == Some(ENOLCK) =>
        {
            tracing::warn!(path = %path.display(), %error,
                "this filesystem cannot lock files: nothing stops a second process from opening this directory");
            Ok(DirectoryLock { _file: file, path })
        }
        Err(std::fs::TryLockError::Error(error)) => Err(io::Error::new(
            error.kind(),
            format!("locking {}: {error}", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_until_the_first_is_dropped() {
        let directory = tempfile::tempdir().unwrap();
        let first = lock_directory(directory.path()).unwrap();
        assert_eq!(first.path(), directory.path().join(LOCK_FILE));
        let error = lock_directory(directory.path()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        assert!(
            error.to_string().contains("in use by another process"),
            "{error}"
        );
        drop(first);
        lock_directory(directory.path()).unwrap();
    }
}
