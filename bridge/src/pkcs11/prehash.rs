//! Hashing in-module for `CKM_ECDSA_SHA*` where the backend only signs raw ECDSA
//! (SoftHSM2 2.6 offers `CKM_ECDSA` alone).

use cryptoki_sys::*;
use sha2::digest::DynDigest;

/// The hash a composed ECDSA mechanism applies before raw ECDSA.
pub fn hash_for(mech: CK_MECHANISM_TYPE) -> Option<Box<dyn DynDigest + Send>> {
    Some(match mech {
        CKM_ECDSA_SHA1 => Box::new(sha1::Sha1::default()),
        CKM_ECDSA_SHA224 => Box::new(sha2::Sha224::default()),
        CKM_ECDSA_SHA256 => Box::new(sha2::Sha256::default()),
        CKM_ECDSA_SHA384 => Box::new(sha2::Sha384::default()),
        CKM_ECDSA_SHA512 => Box::new(sha2::Sha512::default()),
        _ => return None,
    })
}

pub const COMPOSED_ECDSA: [CK_MECHANISM_TYPE; 5] = [
    CKM_ECDSA_SHA1,
    CKM_ECDSA_SHA224,
    CKM_ECDSA_SHA256,
    CKM_ECDSA_SHA384,
    CKM_ECDSA_SHA512,
];
