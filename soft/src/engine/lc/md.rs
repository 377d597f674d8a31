//! Hashes as libcrypto names them (for PSS, OAEP and MGF1).

use aws_lc_sys as ffi;

/// A hash for PSS, OAEP and MGF1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Md {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Md {
    pub(super) fn ptr(self) -> *const ffi::EVP_MD {
        // SAFETY: these return pointers to static, immutable method tables.
        unsafe {
            match self {
                Md::Sha1 => ffi::EVP_sha1(),
                Md::Sha224 => ffi::EVP_sha224(),
                Md::Sha256 => ffi::EVP_sha256(),
                Md::Sha384 => ffi::EVP_sha384(),
                Md::Sha512 => ffi::EVP_sha512(),
            }
        }
    }
    pub fn len(self) -> usize {
        match self {
            Md::Sha1 => 20,
            Md::Sha224 => 28,
            Md::Sha256 => 32,
            Md::Sha384 => 48,
            Md::Sha512 => 64,
        }
    }
}
