//! Owned and borrowed BIGNUMs and their big-endian bytes.

use super::{nonnull, ok, Fail, LcResult};
use aws_lc_sys as ffi;
use std::ptr::null_mut;
use zeroize::Zeroizing;

/// An owned BIGNUM, cleared on drop.
pub(super) struct Bn(pub(super) *mut ffi::BIGNUM);

impl Bn {
    pub(super) fn from_be(b: &[u8]) -> LcResult<Bn> {
        // SAFETY: `b` is a valid slice for its length; NULL `ret` asks for a new BIGNUM.
        let p = unsafe { ffi::BN_bin2bn(b.as_ptr(), b.len(), null_mut()) };
        nonnull(p).map(Bn)
    }
    pub(super) fn ptr(&self) -> *const ffi::BIGNUM {
        self.0
    }
}

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: we own the BIGNUM; BN_clear_free zeroes it before freeing.
        unsafe { ffi::BN_clear_free(self.0) }
    }
}

/// The minimal big-endian bytes of a borrowed BIGNUM (empty for NULL).
pub(super) fn bn_bytes(p: *const ffi::BIGNUM) -> Zeroizing<Vec<u8>> {
    if p.is_null() {
        return Zeroizing::new(Vec::new());
    }
    // SAFETY: `p` is a live BIGNUM owned by the key that lent it.
    let n = unsafe { ffi::BN_num_bytes(p) } as usize;
    let mut out = Zeroizing::new(vec![0u8; n]);
    // SAFETY: `out` holds BN_num_bytes bytes, what BN_bn2bin writes.
    let w = unsafe { ffi::BN_bn2bin(p, out.as_mut_ptr()) };
    out.truncate(w);
    out
}

/// A borrowed BIGNUM as exactly `len` big-endian bytes.
pub(super) fn bn_padded(p: *const ffi::BIGNUM, out: &mut [u8]) -> LcResult<()> {
    if p.is_null() {
        return Err(Fail);
    }
    // SAFETY: `out` is writable for its length; `p` is live.
    ok(unsafe { ffi::BN_bn2bin_padded(out.as_mut_ptr(), out.len(), p) })
}
