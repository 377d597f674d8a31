//! How each process's view of the instance's hidden records (KMS key records, access
//! points, secrets) stays fresh: a generation value beside the records is rewritten at
//! every change; a view re-reads it at most every 0.5 s while it is used — one thread
//! at a time, the others going on with the view they have — and reloads the records
//! only when it moved. So a change reaches every process within 1 s.

use crate::clock::coarse_ms;
use crate::error::Result;
use crate::hidden_objects;
use cryptoki_sys::{
    CKA_APPLICATION, CKA_CLASS, CKA_LABEL, CKA_VALUE, CKO_DATA, CKR_OK, CK_OBJECT_CLASS,
};
use kmsbridge_bridge::{AttrReq, Backend, ObjectId};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How stale a view may be before its next use re-reads the generation (the tests'
/// bounds derive from it: `REFRESH_MS` in tests/src/kms.rs).
pub(crate) const REFRESH_MS: u64 = 500;
const NEVER: u64 = u64::MAX;

pub(crate) struct Refresher {
    refreshing: Mutex<()>,
    checked_ms: AtomicU64,
    /// The view's generation object, once found.
    pub(crate) generation: GenerationObject,
}

impl Default for Refresher {
    fn default() -> Self {
        Refresher {
            refreshing: Mutex::new(()),
            checked_ms: AtomicU64::new(NEVER),
            generation: GenerationObject::default(),
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

/// Where a view last found its generation object on the backend. Re-reading the value
/// by handle is one attribute read; a find scans every object on the token (SoftHSM2
/// and many HSMs do), which at thousands of keys costs milliseconds every 0.5 s.
#[derive(Default)]
pub(crate) struct GenerationObject(Mutex<Option<ObjectId>>);

impl GenerationObject {
    /// This process wrote a new generation object: read that one from now on.
    pub(crate) fn wrote(&self, id: ObjectId) {
        *self.0.lock() = Some(id);
    }
}

/// The generation objects of `app` labelled `label` and the value of the first (empty
/// when there is none yet). Read through the handle `known` holds while that handle still names a
/// data object of this application and label: a writer makes the new object before it
/// destroys the old, so a handle stops answering (or answers for another object, on a
/// token that reuses handles, which the label check catches) only after a change, and
/// the find that follows sees the new one. Only on a backend whose reads are live
/// (`Backend::live_reads`); elsewhere every look is a find. While a find returns more than one (a writer
/// stopped between the two steps) nothing is kept and every look is a find, as before.
pub(crate) fn read_generation(
    backend: &dyn Backend,
    app: &[u8],
    label: &str,
    known: &GenerationObject,
) -> Result<(Vec<ObjectId>, Vec<u8>)> {
    let cached = *known.0.lock();
    if let Some(id) = cached.filter(|_| backend.live_reads()) {
        if let Some(v) = read_if_still(backend, id, app, label) {
            return Ok((vec![id], v));
        }
    }
    let ids = backend.find(&hidden_objects::template(app, Some(label)))?;
    *known.0.lock() = match ids.as_slice() {
        [one] => Some(*one),
        _ => None,
    };
    let value = match ids.first() {
        Some(id) => hidden_objects::read_value(backend, *id)?,
        None => Vec::new(),
    };
    Ok((ids, value))
}

/// Longest generation value read by handle (they are 16 bytes); a longer one is read
/// through the find path.
const MAX_GENERATION: usize = 64;

/// `id`'s CKA_VALUE if it is still a data object of `app` labelled `label`, in one call.
fn read_if_still(backend: &dyn Backend, id: ObjectId, app: &[u8], label: &str) -> Option<Vec<u8>> {
    let mut req = [
        AttrReq::new(CKA_CLASS, Some(std::mem::size_of::<CK_OBJECT_CLASS>())),
        AttrReq::new(CKA_APPLICATION, Some(app.len())),
        AttrReq::new(CKA_LABEL, Some(label.len())),
        AttrReq::new(CKA_VALUE, Some(MAX_GENERATION)),
    ];
    match backend.get_attributes(id, &mut req) {
        Ok(CKR_OK) => {}
        _ => return None,
    }
    let [class, a, l, v] = &req;
    let data = class.value() == Some(&CKO_DATA.to_ne_bytes()[..]);
    (data && a.value() == Some(app) && l.value() == Some(label.as_bytes()))
        .then(|| v.value().map(<[u8]>::to_vec))
        .flatten()
}

/// A fresh random generation value.
pub(crate) fn fresh_generation(backend: &dyn Backend) -> Result<Vec<u8>> {
    let mut g = vec![0u8; 16];
    backend.random(&mut g)?;
    Ok(g)
}
