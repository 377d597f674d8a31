//! Temporary directories for fixtures held in statics, which are never dropped: each
//! is removed when the test process exits.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Directories to remove at exit.
static CLEANUP: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn remove_dirs() {
    if let Ok(dirs) = CLEANUP.lock() {
        for d in dirs.iter() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A fresh temporary directory named `prefix…`, removed when the process exits.
pub fn temp_dir(prefix: &str) -> PathBuf {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        // SAFETY: registers a plain extern "C" function with no captured state.
        unsafe { libc::atexit(remove_dirs) };
    });
    let dir =
        tempfile::Builder::new().prefix(prefix).tempdir().expect("temporary directory").keep();
    CLEANUP.lock().expect("cleanup list").push(dir.clone());
    dir
}
