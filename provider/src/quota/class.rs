//! Which quota class a mechanism's operation counts against (docs/QUOTAS.md): RSA,
//! EC, EdDSA and DH are asymmetric; AES, DES, HMAC and generic secrets symmetric.
//! Digests and kmsbridge's own key-management mechanisms count against neither.

use cryptoki_sys::*;
pub(crate) use kmsbridge_quota::Class;

/// The class of an operation with mechanism `ty`; `None`: not counted.
pub(crate) fn class_of(ty: CK_MECHANISM_TYPE) -> Option<Class> {
    Some(match ty {
        CKM_RSA_PKCS_KEY_PAIR_GEN
        | CKM_RSA_PKCS
        | CKM_RSA_X_509
        | CKM_RSA_PKCS_OAEP
        | CKM_RSA_PKCS_PSS
        | CKM_RSA_AES_KEY_WRAP
        | CKM_SHA1_RSA_PKCS
        | CKM_SHA224_RSA_PKCS
        | CKM_SHA256_RSA_PKCS
        | CKM_SHA384_RSA_PKCS
        | CKM_SHA512_RSA_PKCS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS
        | CKM_EC_KEY_PAIR_GEN
        | CKM_EC_EDWARDS_KEY_PAIR_GEN
        | CKM_ECDSA
        | CKM_ECDSA_SHA1
        | CKM_ECDSA_SHA224
        | CKM_ECDSA_SHA256
        | CKM_ECDSA_SHA384
        | CKM_ECDSA_SHA512
        | CKM_ECDH1_DERIVE
        | CKM_ECDH1_COFACTOR_DERIVE
        | CKM_EDDSA
        | CKM_DH_PKCS_KEY_PAIR_GEN
        | CKM_DH_PKCS_DERIVE => Class::Asymmetric,
        CKM_AES_KEY_GEN
        | CKM_AES_ECB
        | CKM_AES_CBC
        | CKM_AES_CBC_PAD
        | CKM_AES_CTR
        | CKM_AES_GCM
        | CKM_AES_CMAC
        | CKM_AES_CMAC_GENERAL
        | CKM_AES_KEY_WRAP
        | CKM_AES_KEY_WRAP_PAD
        | CKM_AES_KEY_WRAP_KWP
        | CKM_GENERIC_SECRET_KEY_GEN
        | CKM_SHA_1_HMAC
        | CKM_SHA224_HMAC
        | CKM_SHA256_HMAC
        | CKM_SHA384_HMAC
        | CKM_SHA512_HMAC
        | CKM_SHA_1_HMAC_GENERAL
        | CKM_SHA224_HMAC_GENERAL
        | CKM_SHA256_HMAC_GENERAL
        | CKM_SHA384_HMAC_GENERAL
        | CKM_SHA512_HMAC_GENERAL => Class::Symmetric,
        // DES and 3DES (legacy).
        t if kmsbridge_bridge::mech::is_legacy(t) => Class::Symmetric,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmsbridge_bridge::mech::param_kind;

    /// Every mechanism the bridge carries is classified, except digests and
    /// kmsbridge's own: a mechanism added to the bridge must be added here too.
    #[test]
    fn every_carried_mechanism_has_a_class() {
        let unclassified: Vec<CK_MECHANISM_TYPE> = (0..0x2000)
            .chain(0xCB42_0000..0xCB42_0010)
            .filter(|&m| param_kind(m).is_some() && class_of(m).is_none())
            .collect();
        let digests = [CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512];
        let vendor = [0xCB42_0001, 0xCB42_0002, 0xCB42_0003];
        for m in unclassified {
            assert!(
                digests.contains(&m) || vendor.contains(&m),
                "mechanism {m:#x} has no quota class"
            );
        }
    }

    #[test]
    fn examples() {
        assert_eq!(class_of(CKM_AES_GCM), Some(Class::Symmetric));
        assert_eq!(class_of(CKM_SHA256_HMAC), Some(Class::Symmetric));
        assert_eq!(class_of(CKM_ECDSA), Some(Class::Asymmetric));
        assert_eq!(class_of(CKM_RSA_PKCS_OAEP), Some(Class::Asymmetric));
        assert_eq!(class_of(CKM_SHA256), None);
    }
}
