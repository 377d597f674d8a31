//! SHA-1 and SHA-2 (aws-lc): the hash of every hashed mechanism, and CKM_SHA*.

use super::lc::Md;
use super::op::{put, Mac};
use aws_lc_rs::digest;
use cryptoki_sys::*;
use kmsbridge_bridge::error::{Error, Result};

/// The five hashes PKCS#11 mechanisms name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// The hash of a digest mechanism (CKM_SHA_1 ... CKM_SHA512), as PSS and OAEP name it.
    pub fn from_mech(m: CK_MECHANISM_TYPE) -> Option<Hash> {
        Some(match m {
            CKM_SHA_1 => Hash::Sha1,
            CKM_SHA224 => Hash::Sha224,
            CKM_SHA256 => Hash::Sha256,
            CKM_SHA384 => Hash::Sha384,
            CKM_SHA512 => Hash::Sha512,
            _ => return None,
        })
    }

    pub fn from_mgf(mgf: CK_RSA_PKCS_MGF_TYPE) -> Option<Hash> {
        Some(match mgf {
            CKG_MGF1_SHA1 => Hash::Sha1,
            CKG_MGF1_SHA224 => Hash::Sha224,
            CKG_MGF1_SHA256 => Hash::Sha256,
            CKG_MGF1_SHA384 => Hash::Sha384,
            CKG_MGF1_SHA512 => Hash::Sha512,
            _ => return None,
        })
    }

    pub fn alg(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha224 => &digest::SHA224,
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        }
    }

    pub fn md(self) -> Md {
        match self {
            Hash::Sha1 => Md::Sha1,
            Hash::Sha224 => Md::Sha224,
            Hash::Sha256 => Md::Sha256,
            Hash::Sha384 => Md::Sha384,
            Hash::Sha512 => Md::Sha512,
        }
    }

    pub fn len(self) -> usize {
        self.md().len()
    }

    /// The DER DigestInfo prefix of PKCS#1 v1.5 signatures (RFC 8017 9.2 note 1).
    pub fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha1 => &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ],
            Hash::Sha224 => &[
                0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x04, 0x05, 0x00, 0x04, 0x1c,
            ],
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    pub fn hasher(self) -> Hasher {
        Hasher(digest::Context::new(self.alg()))
    }
}

/// A running hash.
#[derive(Clone)]
pub struct Hasher(digest::Context);

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data)
    }
    /// The digest so far; the hasher starts over.
    pub fn finish(&mut self) -> digest::Digest {
        let alg = self.0.algorithm();
        std::mem::replace(&mut self.0, digest::Context::new(alg)).finish()
    }
}

/// CKM_SHA_1 ... CKM_SHA512 as an operation.
pub struct DigestOp {
    hash: Hash,
    h: Hasher,
}

impl DigestOp {
    pub fn new(hash: Hash) -> DigestOp {
        DigestOp {
            hash,
            h: hash.hasher(),
        }
    }
}

impl Mac for DigestOp {
    fn len(&self) -> usize {
        self.hash.len()
    }
    fn absorb(&mut self, data: &[u8]) -> Result<()> {
        self.h.update(data);
        Ok(())
    }
    fn sign(&mut self, out: &mut [u8]) -> Result<usize> {
        let d = self.h.finish();
        put(out, d.as_ref())
    }
    fn verify(&mut self, _: &[u8]) -> Result<()> {
        Err(Error::rv(
            CKR_OPERATION_NOT_INITIALIZED,
            "a digest does not verify",
        ))
    }
}
