//! The owned EVP_PKEY behind RSA, EC and Ed25519 keys, and its PKCS#8 encoding.

use super::{ok, LcResult};
use aws_lc_sys as ffi;
use std::ptr::null_mut;
use zeroize::Zeroizing;

/// An owned EVP_PKEY holding an RSA, EC or Ed25519 key.
pub(super) struct Pkey(pub(super) *mut ffi::EVP_PKEY);

// SAFETY: an EVP_PKEY is reference counted and its keys are safe for concurrent use
// by the operations this module performs (see the module documentation).
unsafe impl Send for Pkey {}
// SAFETY: as above.
unsafe impl Sync for Pkey {}

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { ffi::EVP_PKEY_free(self.0) }
    }
}

impl Pkey {
    pub(super) fn to_pkcs8(&self) -> LcResult<Zeroizing<Vec<u8>>> {
        // SAFETY: a zeroed CBB is the documented "empty" state CBB_init expects.
        let mut cbb: ffi::CBB = unsafe { std::mem::zeroed() };
        // SAFETY: `cbb` is a valid CBB; 0 = default capacity.
        ok(unsafe { ffi::CBB_init(&mut cbb, 0) })?;
        // SAFETY: `cbb` was initialised; `self.0` is a live key.
        if let Err(e) = ok(unsafe { ffi::EVP_marshal_private_key(&mut cbb, self.0) }) {
            // SAFETY: releases the CBB's buffer (cleansed by aws-lc's free).
            unsafe { ffi::CBB_cleanup(&mut cbb) };
            return Err(e);
        }
        let mut data: *mut u8 = null_mut();
        let mut len: usize = 0;
        // SAFETY: on success CBB_finish hands us a buffer we must OPENSSL_free.
        if let Err(e) = ok(unsafe { ffi::CBB_finish(&mut cbb, &mut data, &mut len) }) {
            // SAFETY: as above.
            unsafe { ffi::CBB_cleanup(&mut cbb) };
            return Err(e);
        }
        // SAFETY: `data` holds `len` bytes written by CBB_finish.
        let out = Zeroizing::new(unsafe { std::slice::from_raw_parts(data, len) }.to_vec());
        // SAFETY: aws-lc's OPENSSL_free cleanses the buffer before freeing it.
        unsafe { ffi::OPENSSL_free(data as *mut std::ffi::c_void) };
        Ok(out)
    }
}
