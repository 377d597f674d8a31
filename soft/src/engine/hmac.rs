//! HMAC with SHA-1/224/256/384/512 (aws-lc), full length and `_GENERAL`.

use super::digest::Hash;
use super::op::{prefix, put, sig_check, Mac};
use aws_lc_rs::{constant_time, hmac};
use cryptoki_sys::*;
use kmsbridge_bridge::error::{Error, Result};

/// The hash of an HMAC mechanism and whether it is the `_GENERAL` variant.
pub fn hmac_mech(m: CK_MECHANISM_TYPE) -> Option<(Hash, bool)> {
    Some(match m {
        CKM_SHA_1_HMAC => (Hash::Sha1, false),
        CKM_SHA224_HMAC => (Hash::Sha224, false),
        CKM_SHA256_HMAC => (Hash::Sha256, false),
        CKM_SHA384_HMAC => (Hash::Sha384, false),
        CKM_SHA512_HMAC => (Hash::Sha512, false),
        CKM_SHA_1_HMAC_GENERAL => (Hash::Sha1, true),
        CKM_SHA224_HMAC_GENERAL => (Hash::Sha224, true),
        CKM_SHA256_HMAC_GENERAL => (Hash::Sha256, true),
        CKM_SHA384_HMAC_GENERAL => (Hash::Sha384, true),
        CKM_SHA512_HMAC_GENERAL => (Hash::Sha512, true),
        _ => return None,
    })
}

pub fn algorithm(h: Hash) -> hmac::Algorithm {
    match h {
        Hash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        Hash::Sha224 => hmac::HMAC_SHA224,
        Hash::Sha256 => hmac::HMAC_SHA256,
        Hash::Sha384 => hmac::HMAC_SHA384,
        Hash::Sha512 => hmac::HMAC_SHA512,
    }
}

/// An HMAC sign or verify; `len` is the (possibly truncated) MAC length.
pub struct HmacOp {
    ctx: Option<hmac::Context>,
    len: usize,
}

impl HmacOp {
    pub fn new(key: &hmac::Key, len: usize) -> HmacOp {
        HmacOp {
            ctx: Some(hmac::Context::with_key(key)),
            len,
        }
    }

    fn tag(&mut self) -> Result<hmac::Tag> {
        self.ctx
            .take()
            .map(|c| c.sign())
            .ok_or(Error::rv(CKR_OPERATION_NOT_INITIALIZED, "HMAC finished"))
    }
}

impl Mac for HmacOp {
    fn len(&self) -> usize {
        self.len
    }
    fn absorb(&mut self, data: &[u8]) -> Result<()> {
        match self.ctx.as_mut() {
            Some(c) => {
                c.update(data);
                Ok(())
            }
            None => Err(Error::rv(CKR_OPERATION_NOT_INITIALIZED, "HMAC finished")),
        }
    }
    fn sign(&mut self, out: &mut [u8]) -> Result<usize> {
        let t = self.tag()?;
        put(out, prefix(t.as_ref(), self.len)?)
    }
    fn verify(&mut self, sig: &[u8]) -> Result<()> {
        let t = self.tag()?;
        if sig.len() != self.len {
            return Err(Error::rv(CKR_SIGNATURE_LEN_RANGE, "HMAC length"));
        }
        sig_check(
            constant_time::verify_slices_are_equal(prefix(t.as_ref(), self.len)?, sig).is_ok(),
        )
    }
}
