//! What a node over SoftHSM2 ≤ 2.6 does about its deviations (tests/DEVIATIONS.md)
//! outside error paths (those are `fixups.rs`).
//!
//! SH-11: its RFC 5649 wrap of a key that is not whole 8-byte blocks is not RFC 5649;
//! the node cannot correct it without the key leaving the HSM, so it refuses it.
//!
//! SH-12: it answers `CKA_VALUE_LEN` 0 for the secret keys it unwrapped, and refuses
//! the attribute in the unwrap template, so the node answers it itself:
//!
//! - at unwrap, from the blob where it tells the length without the key leaving the
//!   HSM: RFC 3394 (`CKM_AES_KEY_WRAP`) adds exactly 8 bytes to any key, RFC 5649
//!   (`CKM_AES_KEY_WRAP_PAD`/`_KWP`) adds exactly 8 to an AES key (16, 24 or 32
//!   bytes: whole blocks, no padding). Remembered per object for this connection;
//! - otherwise, at read time, from the length of `CKA_VALUE` when the key is not
//!   sensitive (a length query: the value is not read).
//!
//! Left as SoftHSM2 answers (documented in SH-12): a sensitive key whose length the
//! blob does not tell (RSA-OAEP, RFC 5649 of a non-AES key), and a sensitive token
//! key unwrapped by an earlier process. Both read paths run only when the node
//! answered 0, so a correct node costs nothing.

use super::pool::{Lease, Pool};
use crate::attr::{self, Attr, AttrReq};
use crate::backend::{Backend, ObjectId};
use crate::error::{Error, Result};
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::borrow::Borrow;
use std::collections::HashMap;

/// SH-11: refuse a `CKM_AES_KEY_WRAP_PAD` wrap of `key` when its length is not a
/// multiple of 8 (`CKR_KEY_NOT_WRAPPABLE`) rather than emit a blob that does not
/// round-trip.
pub fn refuse_partial_block_kwp(node: &dyn Backend, key: ObjectId) -> Result<()> {
    let mut req = [AttrReq::new(
        CKA_VALUE_LEN,
        Some(std::mem::size_of::<CK_ULONG>()),
    )];
    node.get_attributes(key, &mut req)?;
    let [req] = req;
    let len = req
        .value()
        .and_then(|v| v.try_into().ok())
        .map(CK_ULONG::from_ne_bytes);
    if len.is_some_and(|n| n % 8 != 0) {
        return Err(Error::rv(
            CKR_KEY_NOT_WRAPPABLE,
            "RFC 5649 wrap of a partial block on SoftHSM2 2.6",
        ));
    }
    Ok(())
}

/// Lengths of keys this connection unwrapped, by object (SoftHSM2 never reuses a
/// handle within a process).
#[derive(Default)]
pub struct Unwrapped(Mutex<HashMap<ObjectId, CK_ULONG>>);

impl Unwrapped {
    /// Remember the length of `obj`, just unwrapped with `mech` from `wrapped_len`
    /// bytes under `template`, where the blob tells it.
    pub fn note(
        &self,
        mech: CK_MECHANISM_TYPE,
        template: &[Attr],
        wrapped_len: usize,
        obj: ObjectId,
    ) {
        if let Some(n) = from_blob(mech, template, wrapped_len) {
            self.0.lock().insert(obj, n);
        }
    }

    /// The object was destroyed.
    pub fn forget(&self, obj: ObjectId) {
        self.0.lock().remove(&obj);
    }

    /// Answer the `CKA_VALUE_LEN` requests in `reqs` that the node answered 0.
    pub fn mend<P: Borrow<Pool>>(&self, s: &Lease<P>, obj: ObjectId, reqs: &mut [AttrReq]) {
        let zero = CK_ULONG::to_ne_bytes(0);
        for r in reqs.iter_mut().filter(|r| r.ty == CKA_VALUE_LEN) {
            if r.value() != Some(&zero[..]) {
                continue;
            }
            let known = self.0.lock().get(&obj).copied();
            if let Some(n) = known.or_else(|| value_len_of(s, obj)) {
                r.answer(&n.to_ne_bytes());
            }
        }
    }
}

/// The key length a blob of `wrapped_len` bytes unwrapped with `mech` carries, when
/// the blob alone tells it.
fn from_blob(mech: CK_MECHANISM_TYPE, template: &[Attr], wrapped_len: usize) -> Option<CK_ULONG> {
    let aes = attr::find(template, CKA_KEY_TYPE).and_then(Attr::as_ulong) == Some(CKK_AES);
    let n = match mech {
        CKM_AES_KEY_WRAP => wrapped_len.checked_sub(8)?,
        CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP if aes => wrapped_len.checked_sub(8)?,
        _ => return None,
    };
    (n > 0).then_some(n as CK_ULONG)
}

/// The length of `obj`'s `CKA_VALUE` (a length query), unless the node withholds it.
fn value_len_of<P: Borrow<Pool>>(s: &Lease<P>, obj: ObjectId) -> Option<CK_ULONG> {
    let mut a = CK_ATTRIBUTE {
        type_: CKA_VALUE,
        pValue: std::ptr::null_mut(),
        ulValueLen: 0,
    };
    let rv = s.lib().call(
        |l| l.C_GetAttributeValue,
        // SAFETY: one attribute, `a`, with no value buffer: the library writes only
        // its length into `a`, which lives for the call.
        |f| unsafe { f(s.handle(), obj, &mut a, 1) },
    );
    (rv == CKR_OK && a.ulValueLen != CK_UNAVAILABLE_INFORMATION && a.ulValueLen > 0)
        .then_some(a.ulValueLen)
}

#[cfg(test)]
mod tests {
    // Tests and benches: a panic is how they report a failure.
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::from_blob;
    use crate::attr::Attr;
    use cryptoki_sys::*;

    #[test]
    fn blob_tells_the_length_only_where_it_is_exact() {
        let aes = [Attr::ulong(CKA_KEY_TYPE, CKK_AES)];
        let generic = [Attr::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)];
        assert_eq!(from_blob(CKM_AES_KEY_WRAP, &generic, 40), Some(32));
        assert_eq!(from_blob(CKM_AES_KEY_WRAP_PAD, &aes, 40), Some(32));
        assert_eq!(from_blob(CKM_AES_KEY_WRAP_KWP, &aes, 24), Some(16));
        // RFC 5649 pads other keys: 32 bytes of blob may hold 17 to 24 bytes of key.
        assert_eq!(from_blob(CKM_AES_KEY_WRAP_PAD, &generic, 32), None);
        assert_eq!(from_blob(CKM_RSA_PKCS_OAEP, &aes, 256), None);
        assert_eq!(from_blob(CKM_AES_KEY_WRAP, &aes, 8), None);
    }
}
