//! How each process's view of the instance's hidden records (KMS key records, access
//! points, secrets) stays fresh: a generation value beside the records is rewritten at
//! every change; a view re-reads it at most every 0.5 s while it is used — one thread
//! at a time, the others going on with the view they have — and reloads the records
//! only when it moved. So a change reaches every process within 1 s.

use crate::clock::coarse_ms;
use crate::error::Result;
use crate::hidden_objects;
use cryptoki_sys::{
    CKA_APPLICATION, CKA_CLASS, CKA_LABEL, CKA_MODIFIABLE, CKA_OBJECT_ID, CKA_PRIVATE, CKA_TOKEN,
    CKA_VALUE, CKO_DATA, CKR_OK, CK_OBJECT_CLASS,
};
use kmsbridge_bridge::{Attr, AttrReq, Backend, ObjectId};
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

/// Where a view last found its generation object on the backend, and the object's
/// tag (its CKA_OBJECT_ID, fresh for every generation object; empty on one made before
/// tags). Re-reading the value by handle is one attribute read; a find scans every
/// object on the token (SoftHSM2 and many HSMs do), which at thousands of keys costs
/// milliseconds every 0.5 s.
#[derive(Default)]
pub(crate) struct GenerationObject(Mutex<Option<(ObjectId, Vec<u8>)>>);

impl GenerationObject {
    /// This process wrote a new generation object tagged `tag`: read that one from now on.
    pub(crate) fn wrote(&self, id: ObjectId, tag: Vec<u8>) {
        *self.0.lock() = Some((id, tag));
    }
}

/// The generation objects of `app` labelled `label` and the value of the first (empty
/// when there is none yet). Read through the handle `known` holds while that handle
/// still names a data object of this application, label and tag: a writer makes the
/// new object before it destroys the old, so a handle stops answering (or answers for
/// another object, on a token that reuses handles, which the label and tag checks
/// catch) only after a change, and the find that follows sees the new one. Only on a
/// backend whose reads are live (`Backend::live_reads`), and, where a kept id follows
/// an object's identity to its replacement (`Backend::reads_follow_identity`: a
/// cluster), only for a tagged object, whose identity no replacement shares;
/// elsewhere every look is a find. While a find returns more than one (a writer
/// stopped between the two steps) nothing is kept and every look is a find, as before.
///
/// A view that finds none (nothing was ever written) makes the first one, `private`
/// or public as its records are, beside any other process's (none destroyed), so its
/// next looks too are by handle instead of a find of nothing every 0.5 s; it stays
/// keyed to the empty value, so its next look reloads whatever came. The ids returned
/// then name the one made.
pub(crate) fn read_generation(
    backend: &dyn Backend,
    app: &[u8],
    label: &str,
    known: &GenerationObject,
    private: bool,
) -> Result<(Vec<ObjectId>, Vec<u8>)> {
    let cached = known.0.lock().clone();
    if let Some((id, tag)) = cached.filter(|_| backend.live_reads()) {
        if let Some((v, _)) = read_if_still(backend, id, app, label, Some(&tag)) {
            return Ok((vec![id], v));
        }
    }
    let ids = backend.find(&hidden_objects::template(app, Some(label)))?;
    if ids.is_empty() && backend.live_reads() {
        match first_generation(backend, app, label, private) {
            Ok((id, tag)) => {
                known.wrote(id, tag);
                return Ok((vec![id], Vec::new()));
            }
            Err(e) => tracing::debug!("no first generation object made: {e}"),
        }
    }
    let value = match ids.as_slice() {
        [one] if backend.live_reads() => match read_if_still(backend, *one, app, label, None) {
            Some((v, tag)) => {
                let keep = !tag.is_empty() || !backend.reads_follow_identity();
                *known.0.lock() = keep.then_some((*one, tag));
                Some(v)
            }
            None => {
                *known.0.lock() = None;
                None
            }
        },
        _ => {
            *known.0.lock() = None;
            None
        }
    };
    let value = match (value, ids.first()) {
        (Some(v), _) => v,
        (None, Some(id)) => hidden_objects::read_value(backend, *id)?,
        (None, None) => Vec::new(),
    };
    Ok((ids, value))
}

/// Make a first generation object of `app` labelled `label`, tagged.
fn first_generation(
    backend: &dyn Backend,
    app: &[u8],
    label: &str,
    private: bool,
) -> Result<(ObjectId, Vec<u8>)> {
    let tag = fresh_tag(backend)?;
    let mut t = hidden_objects::template(app, Some(label));
    t.extend([
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, private),
        Attr::bool(CKA_MODIFIABLE, true),
        Attr::new(CKA_VALUE, fresh_generation(backend)?),
        tag_attr(&tag),
    ]);
    Ok((backend.create_object(&t)?, tag))
}

/// Longest generation value or tag read by handle (values are 16 to 35 bytes and a
/// record's hex id, tags 13); a longer one is read through the find path.
const MAX_GENERATION: usize = 1024;

/// `id`'s CKA_VALUE and tag if it is still a data object of `app` labelled `label`
/// (and tagged `tag`, when given), in one call.
fn read_if_still(
    backend: &dyn Backend,
    id: ObjectId,
    app: &[u8],
    label: &str,
    tag: Option<&[u8]>,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut req = [
        AttrReq::new(CKA_CLASS, Some(std::mem::size_of::<CK_OBJECT_CLASS>())),
        AttrReq::new(CKA_APPLICATION, Some(app.len())),
        AttrReq::new(CKA_LABEL, Some(label.len())),
        AttrReq::new(CKA_VALUE, Some(MAX_GENERATION)),
        AttrReq::new(CKA_OBJECT_ID, Some(MAX_GENERATION)),
    ];
    match backend.get_attributes(id, &mut req) {
        Ok(CKR_OK) => {}
        _ => return None,
    }
    let [class, a, l, v, t] = &req;
    let data = class.value() == Some(&CKO_DATA.to_ne_bytes()[..]);
    let found_tag = t.value().unwrap_or_default();
    let same = data
        && a.value() == Some(app)
        && l.value() == Some(label.as_bytes())
        && tag.is_none_or(|want| want == found_tag);
    (same)
        .then(|| Some((v.value()?.to_vec(), found_tag.to_vec())))
        .flatten()
}

/// A fresh tag for a generation object: a CKA_OBJECT_ID no other object has, the DER
/// of an OID under the UUID arc 2.25 (ITU-T X.667) with 64 random bits, so a token
/// that checks the encoding takes it.
pub(crate) fn fresh_tag(backend: &dyn Backend) -> Result<Vec<u8>> {
    let mut r = [0u8; 8];
    backend.random(&mut r)?;
    // A leading 1 bit keeps the arc's length fixed (64 bits: 10 base-128 digits).
    let n = u64::from_be_bytes(r) | (1 << 63);
    let mut digits: Vec<u8> = (0..10)
        .rev()
        .map(|i| ((n >> (7 * i)) & 0x7f) as u8 | 0x80)
        .collect();
    if let Some(last) = digits.last_mut() {
        *last &= 0x7f;
    }
    let mut der = vec![0x06, 11, 2 * 40 + 25];
    der.extend(digits);
    Ok(der)
}

/// The attribute carrying `tag`.
pub(crate) fn tag_attr(tag: &[u8]) -> Attr {
    Attr::new(CKA_OBJECT_ID, tag.to_vec())
}

/// A fresh random generation value.
pub(crate) fn fresh_generation(backend: &dyn Backend) -> Result<Vec<u8>> {
    let mut g = vec![0u8; 16];
    backend.random(&mut g)?;
    Ok(g)
}
