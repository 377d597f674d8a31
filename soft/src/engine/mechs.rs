//! The mechanisms the engine offers, with the flags and key sizes it honours.
//! Key sizes: bytes for AES, HMAC and generic secrets (generation: bits, as the
//! spec says for CKM_GENERIC_SECRET_KEY_GEN), bits for RSA and EC.

use super::keygen::{GENERIC_LEN, RSA_BITS};
use cryptoki_sys::*;

const EC_FLAGS: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;

fn info(min: usize, max: usize, flags: CK_FLAGS) -> CK_MECHANISM_INFO {
    CK_MECHANISM_INFO {
        ulMinKeySize: min as CK_ULONG,
        ulMaxKeySize: max as CK_ULONG,
        flags,
    }
}

pub fn mechanisms() -> Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)> {
    let mut v = Vec::new();
    let mut add = |ms: &[CK_MECHANISM_TYPE], i: CK_MECHANISM_INFO| {
        v.extend(ms.iter().map(|m| (*m, i)));
    };
    let crypt = CKF_ENCRYPT | CKF_DECRYPT;
    let sign = CKF_SIGN | CKF_VERIFY;
    let wrap = CKF_WRAP | CKF_UNWRAP;
    add(&[CKM_AES_KEY_GEN], info(16, 32, CKF_GENERATE));
    add(
        &[
            CKM_AES_ECB,
            CKM_AES_CBC,
            CKM_AES_CBC_PAD,
            CKM_AES_CTR,
            CKM_AES_GCM,
        ],
        info(16, 32, crypt),
    );
    add(&[CKM_AES_CMAC, CKM_AES_CMAC_GENERAL], info(16, 32, sign));
    // 3DES (legacy): two- and three-key, sizes in bytes.
    add(&[CKM_DES2_KEY_GEN], info(16, 16, CKF_GENERATE));
    add(&[CKM_DES3_KEY_GEN], info(24, 24, CKF_GENERATE));
    add(
        &[CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD],
        info(16, 24, crypt),
    );
    add(
        &[CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP_KWP],
        info(16, 32, wrap),
    );
    let (rmin, rmax) = RSA_BITS;
    add(
        &[CKM_RSA_PKCS_KEY_PAIR_GEN],
        info(rmin, rmax, CKF_GENERATE_KEY_PAIR),
    );
    add(&[CKM_RSA_PKCS], info(rmin, rmax, crypt | sign | wrap));
    add(&[CKM_RSA_X_509], info(rmin, rmax, crypt | sign));
    add(&[CKM_RSA_PKCS_OAEP], info(rmin, rmax, crypt | wrap));
    // For imports (BYOK) only: no wrapping with it.
    add(&[CKM_RSA_AES_KEY_WRAP], info(rmin, rmax, CKF_UNWRAP));
    add(
        &[
            CKM_SHA1_RSA_PKCS,
            CKM_SHA224_RSA_PKCS,
            CKM_SHA256_RSA_PKCS,
            CKM_SHA384_RSA_PKCS,
            CKM_SHA512_RSA_PKCS,
            CKM_RSA_PKCS_PSS,
            CKM_SHA1_RSA_PKCS_PSS,
            CKM_SHA224_RSA_PKCS_PSS,
            CKM_SHA256_RSA_PKCS_PSS,
            CKM_SHA384_RSA_PKCS_PSS,
            CKM_SHA512_RSA_PKCS_PSS,
        ],
        info(rmin, rmax, sign),
    );
    add(
        &[CKM_EC_KEY_PAIR_GEN],
        info(256, 521, CKF_GENERATE_KEY_PAIR | EC_FLAGS),
    );
    add(
        &[
            CKM_ECDSA,
            CKM_ECDSA_SHA1,
            CKM_ECDSA_SHA224,
            CKM_ECDSA_SHA256,
            CKM_ECDSA_SHA384,
            CKM_ECDSA_SHA512,
        ],
        info(256, 521, sign | EC_FLAGS),
    );
    add(
        &[CKM_ECDH1_DERIVE, CKM_ECDH1_COFACTOR_DERIVE],
        info(256, 521, CKF_DERIVE | EC_FLAGS),
    );
    add(
        &[CKM_EC_EDWARDS_KEY_PAIR_GEN],
        info(255, 255, CKF_GENERATE_KEY_PAIR),
    );
    add(&[CKM_EDDSA], info(255, 255, sign));
    add(
        &[CKM_GENERIC_SECRET_KEY_GEN],
        info(GENERIC_LEN.0 * 8, GENERIC_LEN.1 * 8, CKF_GENERATE),
    );
    add(
        &[
            CKM_SHA_1_HMAC,
            CKM_SHA224_HMAC,
            CKM_SHA256_HMAC,
            CKM_SHA384_HMAC,
            CKM_SHA512_HMAC,
            CKM_SHA_1_HMAC_GENERAL,
            CKM_SHA224_HMAC_GENERAL,
            CKM_SHA256_HMAC_GENERAL,
            CKM_SHA384_HMAC_GENERAL,
            CKM_SHA512_HMAC_GENERAL,
        ],
        info(GENERIC_LEN.0, GENERIC_LEN.1, sign),
    );
    add(
        &[CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512],
        info(0, 0, CKF_DIGEST),
    );
    v
}
