//! The aws-lc (libcrypto) calls the engine needs beyond aws-lc-rs's safe API, each
//! wrapped once here: raw RSA (CKM_RSA_PKCS over a caller's DigestInfo, CKM_RSA_X_509,
//! PSS with any salt and MGF), raw ECDSA over a caller's hash, ECDH, Ed25519ctx/ph,
//! key construction from PKCS#11 components, PKCS#8, AES and 3DES block primitives, and GCM
//! with any IV and tag length. Every `unsafe` block of the engine lives in this module, one file per algorithm family.
//!
//! Thread safety: aws-lc documents `RSA`, `EC_KEY`, `EVP_PKEY` and `EVP_AEAD_CTX`
//! as safe to use from several threads at once for the operations used here (their
//! lazily built caches — Montgomery contexts, blinding — are locked per key
//! internally); aws-lc-rs relies on the same guarantee for its `Sync` key types.

use aws_lc_sys as ffi;
use std::os::raw::c_int;

/// A libcrypto call failed; the caller chooses the PKCS#11 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fail;

pub type LcResult<T> = std::result::Result<T, Fail>;

fn ok(rc: c_int) -> LcResult<()> {
    if rc == 1 {
        Ok(())
    } else {
        // SAFETY: clears this thread's error queue; no pointers involved.
        unsafe { ffi::ERR_clear_error() };
        Err(Fail)
    }
}

fn nonnull<T>(p: *mut T) -> LcResult<*mut T> {
    if p.is_null() {
        // SAFETY: as above.
        unsafe { ffi::ERR_clear_error() };
        Err(Fail)
    } else {
        Ok(p)
    }
}

/// Fill `out` from aws-lc's CTR-DRBG, seeded from the OS.
pub fn random(out: &mut [u8]) -> LcResult<()> {
    aws_lc_rs::rand::fill(out).map_err(|_| Fail)
}

mod aes;
mod bn;
mod des;
mod ec;
mod ed25519;
mod gcm;
mod md;
mod pkcs8;
mod pkey;
mod rsa;

pub use aes::{AesKey, CtrState};
pub use des::Des3Key;
pub use ec::{Curve, EcKey};
pub use ed25519::{
    ed25519_expand, ed25519_generate, ed25519_pkcs8, ed25519_sign, ed25519_verify, EdMode,
};
pub use gcm::Gcm;
pub use md::Md;
pub use pkcs8::{parse_pkcs8, Pkcs8Key};
pub use rsa::{Pad, Rsa, RsaParts};
