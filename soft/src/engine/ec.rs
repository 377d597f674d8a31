//! ECDSA on the NIST curves, raw and hashed. Signatures are r || s, each as wide as
//! the order. (What CKA_EC_PARAMS and CKA_EC_POINT hold: `ec_params`.)

use super::digest::{Hash, Hasher};
use super::op::{sig_check, Collect, Mac};
use super::prepared::Prepared;
use cryptoki_sys::*;
use kmsbridge_bridge::error::{Error, Result};
use std::sync::Arc;

/// The hash of a hashed ECDSA mechanism (None for raw CKM_ECDSA).
pub fn ecdsa_hash(m: CK_MECHANISM_TYPE) -> Option<Option<Hash>> {
    Some(match m {
        CKM_ECDSA => None,
        CKM_ECDSA_SHA1 => Some(Hash::Sha1),
        CKM_ECDSA_SHA224 => Some(Hash::Sha224),
        CKM_ECDSA_SHA256 => Some(Hash::Sha256),
        CKM_ECDSA_SHA384 => Some(Hash::Sha384),
        CKM_ECDSA_SHA512 => Some(Hash::Sha512),
        _ => return None,
    })
}

/// ECDSA sign or verify. Raw CKM_ECDSA takes the hash (single-part); the hashed
/// mechanisms hash here, single- or multi-part.
pub struct EcdsaOp {
    key: Arc<Prepared>,
    hasher: Option<Hasher>,
    data: Collect,
    len: usize,
}

impl EcdsaOp {
    pub fn new(key: Arc<Prepared>, hash: Option<Hash>) -> Result<EcdsaOp> {
        let len = 2 * key.ec()?.curve().len();
        Ok(EcdsaOp {
            key,
            hasher: hash.map(|h| h.hasher()),
            data: Collect::default(),
            len,
        })
    }

    fn digest(&mut self) -> zeroize::Zeroizing<Vec<u8>> {
        match self.hasher.as_mut() {
            Some(h) => zeroize::Zeroizing::new(h.finish().as_ref().to_vec()),
            None => self.data.take(),
        }
    }
}

impl Mac for EcdsaOp {
    fn len(&self) -> usize {
        self.len
    }
    fn multipart(&self) -> bool {
        self.hasher.is_some()
    }
    fn absorb(&mut self, data: &[u8]) -> Result<()> {
        match self.hasher.as_mut() {
            Some(h) => h.update(data),
            None => self.data.push(data),
        }
        Ok(())
    }
    fn sign(&mut self, out: &mut [u8]) -> Result<usize> {
        let d = self.digest();
        self.key
            .ec()?
            .sign(&d, out)
            .map_err(|_| Error::rv(CKR_FUNCTION_FAILED, "ECDSA sign"))
    }
    fn verify(&mut self, sig: &[u8]) -> Result<()> {
        let d = self.digest();
        if sig.len() != self.len {
            return Err(Error::rv(CKR_SIGNATURE_LEN_RANGE, "ECDSA signature length"));
        }
        sig_check(self.key.ec()?.verify(&d, sig))
    }
}
