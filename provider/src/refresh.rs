//! How each process's view of the instance's hidden records (KMS key records, access
//! points, secrets) stays fresh: a generation value beside the records is rewritten at
//! every change; a view re-reads it at most every 0.5 s while it is used — one thread
//! at a time, the others going on with the view they have — and reloads the records
//! only when it moved. So a change reaches every process within 1 s.

use crate::clock::coarse_ms;
use crate::error::Result;
use crate::hidden_objects;
use kmsbridge_bridge::{Backend, ObjectId};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How stale a view may be before its next use re-reads the generation (the tests'
/// bounds derive from it: `REFRESH_MS` in tests/src/kms.rs).
pub(crate) const REFRESH_MS: u64 = 500;
const NEVER: u64 = u64::MAX;

pub(crate) struct Refresher {
    refreshing: Mutex<()>,
    checked_ms: AtomicU64,
}

impl Default for Refresher {
    fn default() -> Self {
        Refresher {
            refreshing: Mutex::new(()),
            checked_ms: AtomicU64::new(NEVER),
        }
    }
}

impl Refresher {
    /// Run `reload` if the last look is older than 0.5 s and no other thread is at it.
    pub(crate) fn maybe(&self, reload: impl FnOnce()) {
        let now = coarse_ms();
        let last = self.checked_ms.load(Ordering::Acquire);
        if last != NEVER && now.saturating_sub(last) < REFRESH_MS {
            return;
        }
        if let Some(_g) = self.refreshing.try_lock() {
            self.checked_ms.store(now, Ordering::Release);
            reload();
        }
    }

    /// Run `reload` now, after any other thread's.
    pub(crate) fn now(&self, reload: impl FnOnce()) {
        let _g = self.refreshing.lock();
        self.checked_ms.store(coarse_ms(), Ordering::Release);
        reload();
    }

    /// The next `maybe` reloads, however recent the last look.
    pub(crate) fn expire(&self) {
        self.checked_ms.store(NEVER, Ordering::Release);
    }
}

/// The generation objects of `app` labelled `label` and the value of the first (empty
/// when there is none yet).
pub(crate) fn read_generation(
    backend: &dyn Backend,
    app: &[u8],
    label: &str,
) -> Result<(Vec<ObjectId>, Vec<u8>)> {
    let ids = backend.find(&hidden_objects::template(app, Some(label)))?;
    let value = match ids.first() {
        Some(id) => hidden_objects::read_value(backend, *id)?,
        None => Vec::new(),
    };
    Ok((ids, value))
}

/// A fresh random generation value.
pub(crate) fn fresh_generation(backend: &dyn Backend) -> Result<Vec<u8>> {
    let mut g = vec![0u8; 16];
    backend.random(&mut g)?;
    Ok(g)
}
