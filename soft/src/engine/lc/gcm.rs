//! AES-GCM with any IV length and tag length.

use super::{nonnull, ok, Fail, LcResult};
use aws_lc_sys as ffi;

/// AES-GCM with a fixed tag length, any IV length.
pub struct Gcm(*mut ffi::EVP_AEAD_CTX);

// SAFETY: seal/open take a const context and keep their state on the stack.
unsafe impl Send for Gcm {}
// SAFETY: as above.
unsafe impl Sync for Gcm {}

impl Drop for Gcm {
    fn drop(&mut self) {
        // SAFETY: we own the context; aws-lc cleanses it on free.
        unsafe { ffi::EVP_AEAD_CTX_free(self.0) }
    }
}

impl Gcm {
    pub fn new(key: &[u8], tag_len: usize) -> LcResult<Gcm> {
        if tag_len == 0 || tag_len > 16 {
            return Err(Fail);
        }
        // SAFETY: returns a static method table for the key length, or NULL.
        let aead = unsafe {
            match key.len() {
                16 => ffi::EVP_aead_aes_128_gcm(),
                24 => ffi::EVP_aead_aes_192_gcm(),
                32 => ffi::EVP_aead_aes_256_gcm(),
                _ => return Err(Fail),
            }
        };
        // SAFETY: `key` readable for its length; a new context or NULL.
        nonnull(unsafe { ffi::EVP_AEAD_CTX_new(aead, key.as_ptr(), key.len(), tag_len) }).map(Gcm)
    }

    /// Ciphertext || tag into `out` (at least input + tag long).
    pub fn seal(&self, iv: &[u8], aad: &[u8], input: &[u8], out: &mut [u8]) -> LcResult<usize> {
        let mut n = 0usize;
        // SAFETY: every buffer is valid for the length passed with it.
        ok(unsafe {
            ffi::EVP_AEAD_CTX_seal(
                self.0,
                out.as_mut_ptr(),
                &mut n,
                out.len(),
                iv.as_ptr(),
                iv.len(),
                input.as_ptr(),
                input.len(),
                aad.as_ptr(),
                aad.len(),
            )
        })?;
        Ok(n)
    }

    /// Plaintext of ciphertext || tag, after the tag checks (constant time in aws-lc).
    pub fn open(&self, iv: &[u8], aad: &[u8], input: &[u8], out: &mut [u8]) -> LcResult<usize> {
        let mut n = 0usize;
        // SAFETY: every buffer is valid for the length passed with it.
        ok(unsafe {
            ffi::EVP_AEAD_CTX_open(
                self.0,
                out.as_mut_ptr(),
                &mut n,
                out.len(),
                iv.as_ptr(),
                iv.len(),
                input.as_ptr(),
                input.len(),
                aad.as_ptr(),
                aad.len(),
            )
        })?;
        Ok(n)
    }
}
