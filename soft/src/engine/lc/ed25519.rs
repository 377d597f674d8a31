//! Ed25519, Ed25519ctx and Ed25519ph.

use super::pkey::Pkey;
use super::{nonnull, ok, random, LcResult};
use aws_lc_sys as ffi;
use std::ptr::null_mut;
use zeroize::Zeroizing;

/// A new Ed25519 seed (the PKCS#11 private CKA_VALUE) and its public key.
pub fn ed25519_generate() -> LcResult<(Zeroizing<[u8; 32]>, [u8; 32])> {
    let mut seed = Zeroizing::new([0u8; 32]);
    random(&mut seed[..])?;
    let (_, public) = ed25519_expand(&seed);
    Ok((seed, public))
}

/// The 64-byte signing key (seed || public) and the public key of a seed.
pub fn ed25519_expand(seed: &[u8; 32]) -> (Zeroizing<[u8; 64]>, [u8; 32]) {
    let mut private = Zeroizing::new([0u8; 64]);
    let mut public = [0u8; 32];
    // SAFETY: the buffers are exactly the sizes the function writes and reads.
    unsafe {
        ffi::ED25519_keypair_from_seed(public.as_mut_ptr(), private.as_mut_ptr(), seed.as_ptr())
    };
    (private, public)
}

/// Ed25519 variants of RFC 8032.
#[derive(Clone, Debug)]
pub enum EdMode {
    Pure,
    Ctx(Vec<u8>),
    Ph(Vec<u8>),
}

pub fn ed25519_sign(private: &[u8; 64], msg: &[u8], mode: &EdMode) -> LcResult<[u8; 64]> {
    let mut sig = [0u8; 64];
    // SAFETY: `sig` is 64 bytes, `private` 64 bytes, `msg`/context readable.
    let rc = unsafe {
        match mode {
            EdMode::Pure => {
                ffi::ED25519_sign(sig.as_mut_ptr(), msg.as_ptr(), msg.len(), private.as_ptr())
            }
            EdMode::Ctx(c) => ffi::ED25519ctx_sign(
                sig.as_mut_ptr(),
                msg.as_ptr(),
                msg.len(),
                private.as_ptr(),
                c.as_ptr(),
                c.len(),
            ),
            EdMode::Ph(c) => ffi::ED25519ph_sign(
                sig.as_mut_ptr(),
                msg.as_ptr(),
                msg.len(),
                private.as_ptr(),
                c.as_ptr(),
                c.len(),
            ),
        }
    };
    ok(rc)?;
    Ok(sig)
}

pub fn ed25519_verify(public: &[u8; 32], msg: &[u8], sig: &[u8], mode: &EdMode) -> bool {
    if sig.len() != 64 {
        return false;
    }
    // SAFETY: `sig` is 64 bytes, `public` 32 bytes, `msg`/context readable.
    let rc = unsafe {
        match mode {
            EdMode::Pure => {
                ffi::ED25519_verify(msg.as_ptr(), msg.len(), sig.as_ptr(), public.as_ptr())
            }
            EdMode::Ctx(c) => ffi::ED25519ctx_verify(
                msg.as_ptr(),
                msg.len(),
                sig.as_ptr(),
                public.as_ptr(),
                c.as_ptr(),
                c.len(),
            ),
            EdMode::Ph(c) => ffi::ED25519ph_verify(
                msg.as_ptr(),
                msg.len(),
                sig.as_ptr(),
                public.as_ptr(),
                c.as_ptr(),
                c.len(),
            ),
        }
    };
    ok(rc).is_ok()
}

pub fn ed25519_pkcs8(seed: &[u8; 32]) -> LcResult<Zeroizing<Vec<u8>>> {
    // SAFETY: `seed` is 32 readable bytes.
    let p = nonnull(unsafe {
        ffi::EVP_PKEY_new_raw_private_key(ffi::EVP_PKEY_ED25519, null_mut(), seed.as_ptr(), 32)
    })?;
    Pkey(p).to_pkcs8()
}
