//! Serialises, among the processes of one host, the "count an attempt, then recount"
//! step of the wrong-attempt counters, so that of concurrent guessers at most the bound
//! are checked. The lock alone is not enough on SoftHSM2: a process re-reads the token
//! directory only when the token's generation number moved since it last looked, and
//! its own C_CreateObject advances that number past other processes' changes without
//! re-reading. A process that creates its marker right after another's would never see
//! the other's. So the holder searches once *before* creating (that search re-reads)
//! and once after. Held for two searches and one creation, never across the key check.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a process waits for the lock before counting without it (a stuck holder
/// must not stop every login on the host); the lock is normally held for milliseconds.
const WAIT: Duration = Duration::from_secs(2);

pub(crate) struct HostLock {
    path: Option<PathBuf>,
}

/// The lock, released when dropped (closing the descriptor releases the `flock`).
pub(crate) struct Held {
    _file: File,
}

impl HostLock {
    /// One lock file per instance identity and user, next to the quota buckets
    /// (`/dev/shm`, else `$XDG_RUNTIME_DIR`, else the temporary directory).
    pub(crate) fn new(identity: &str) -> HostLock {
        let path = kmsbridge_quota::default_dir().ok().map(|dir| {
            dir.join(format!(
                "kmsbridge-lockout-{}-{:016x}.lock",
                euid(),
                kmsbridge_quota::identity_hash(identity)
            ))
        });
        HostLock { path }
    }

    /// The lock, or `None` (logged) when it cannot be had: counting goes on without it.
    pub(crate) fn hold(&self) -> Option<Held> {
        let path = self.path.as_ref()?;
        let file = match open(path) {
            Ok(f) => f,
            Err(why) => {
                tracing::warn!(path = %path.display(), "lockout counted without the host lock: {why}");
                return None;
            }
        };
        let start = Instant::now();
        loop {
            // SAFETY: flock on a descriptor owned by `file`, alive for the call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Some(Held { _file: file });
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) if start.elapsed() < WAIT => {
                    std::thread::sleep(Duration::from_micros(200));
                }
                _ => {
                    tracing::warn!(path = %path.display(), "lockout counted without the host lock: {err}");
                    return None;
                }
            }
        }
    }
}

/// Opens (creating, 0600) the lock file, never through a link, and checks it is a
/// regular file of this user: another user's file could be held forever by them.
fn open(path: &PathBuf) -> Result<File, String> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() || meta.uid() != euid() {
        return Err("not a regular file of this user; remove it".into());
    }
    Ok(file)
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_a_second_holder_until_the_first_drops() {
        let lock = HostLock::new(&format!("test {}", std::process::id()));
        let first = lock.hold().expect("first holder");
        let path = lock.path.clone().unwrap();
        let other = open(&path).unwrap();
        // SAFETY: flock on a descriptor owned by `other`.
        let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, -1, "a second open of the file must not get the lock");
        drop(first);
        // SAFETY: as above.
        let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, 0, "free once the holder drops it");
        drop(other);
        let _ = std::fs::remove_file(path);
    }
}
