//! Mechanisms as owned values, and the table of mechanisms the bridge can carry.
//!
//! A mechanism crosses the C ABI once (ffi parses it into [`Mechanism`]) and is
//! rebuilt as a raw `CK_MECHANISM` for the backend call with [`Mechanism::with_raw`].
//! Only mechanisms whose parameter layout is known here are carried: a parameter
//! holding pointers cannot be copied blindly.

use cryptoki_sys::*;
use std::ffi::c_void;
use std::mem::size_of;
use zeroize::Zeroizing;

#[derive(Clone, Debug)]
pub struct Mechanism {
    pub ty: CK_MECHANISM_TYPE,
    pub param: MechParam,
}

#[derive(Clone, Debug)]
pub enum MechParam {
    None,
    /// A parameter without pointers (IV, CK_AES_CTR_PARAMS, CK_RSA_PKCS_PSS_PARAMS,
    /// CK_MAC_GENERAL_PARAMS): its bytes as the application laid them out.
    Flat(Zeroizing<Vec<u8>>),
    Gcm {
        iv: Vec<u8>,
        iv_bits: CK_ULONG,
        aad: Vec<u8>,
        tag_bits: CK_ULONG,
    },
    Oaep {
        hash: CK_MECHANISM_TYPE,
        mgf: CK_RSA_PKCS_MGF_TYPE,
        source: CK_RSA_PKCS_OAEP_SOURCE_TYPE,
        source_data: Vec<u8>,
    },
    Ecdh1 {
        kdf: CK_EC_KDF_TYPE,
        shared: Vec<u8>,
        public: Vec<u8>,
    },
    Eddsa {
        ph: bool,
        context: Vec<u8>,
    },
    /// CK_RSA_AES_KEY_WRAP_PARAMS: the ephemeral AES key's size and the OAEP
    /// parameters of its RSA layer.
    RsaAesKeyWrap {
        aes_bits: CK_ULONG,
        hash: CK_MECHANISM_TYPE,
        mgf: CK_RSA_PKCS_MGF_TYPE,
        source: CK_RSA_PKCS_OAEP_SOURCE_TYPE,
        source_data: Vec<u8>,
    },
}

/// How a carried mechanism's parameter is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// No parameter.
    None,
    /// Flat bytes of exactly this length.
    Flat(usize),
    /// Flat bytes of this length, or no parameter at all.
    OptionalFlat(usize),
    Gcm,
    Oaep,
    Ecdh1,
    /// CK_EDDSA_PARAMS, or no parameter (pure Ed25519).
    Eddsa,
    /// CK_RSA_AES_KEY_WRAP_PARAMS pointing to a CK_RSA_PKCS_OAEP_PARAMS.
    RsaAesKeyWrap,
}

const ULONG: usize = size_of::<CK_ULONG>();

/// The parameter layout of every mechanism the bridge carries; `None` for the rest.
pub fn param_kind(ty: CK_MECHANISM_TYPE) -> Option<ParamKind> {
    use ParamKind as P;
    Some(match ty {
        CKM_AES_KEY_GEN
        | CKM_GENERIC_SECRET_KEY_GEN
        | CKM_RSA_PKCS_KEY_PAIR_GEN
        | CKM_EC_KEY_PAIR_GEN
        | CKM_EC_EDWARDS_KEY_PAIR_GEN => P::None,
        CKM_AES_ECB | CKM_AES_CMAC => P::None,
        CKM_DES_KEY_GEN | CKM_DES2_KEY_GEN | CKM_DES3_KEY_GEN => P::None,
        CKM_DES_ECB | CKM_DES3_ECB | CKM_DES3_CMAC => P::None,
        CKM_DES_CBC | CKM_DES_CBC_PAD | CKM_DES3_CBC | CKM_DES3_CBC_PAD => P::Flat(8),
        // kmsbridge's own key-management mechanisms (import parameters, rotation,
        // cluster init): the provider handles them before any backend sees them.
        0xCB42_0001..=0xCB42_0003 => P::None,
        CKM_AES_CBC | CKM_AES_CBC_PAD => P::Flat(16),
        CKM_AES_CTR => P::Flat(size_of::<CK_AES_CTR_PARAMS>()),
        CKM_AES_GCM => P::Gcm,
        CKM_AES_CMAC_GENERAL => P::Flat(ULONG),
        CKM_AES_KEY_WRAP => P::OptionalFlat(8),
        CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP => P::OptionalFlat(4),
        CKM_RSA_PKCS | CKM_RSA_X_509 | CKM_SHA1_RSA_PKCS | CKM_SHA224_RSA_PKCS
        | CKM_SHA256_RSA_PKCS | CKM_SHA384_RSA_PKCS | CKM_SHA512_RSA_PKCS => P::None,
        CKM_RSA_PKCS_PSS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS => P::Flat(size_of::<CK_RSA_PKCS_PSS_PARAMS>()),
        CKM_RSA_PKCS_OAEP => P::Oaep,
        CKM_RSA_AES_KEY_WRAP => P::RsaAesKeyWrap,
        CKM_ECDSA | CKM_ECDSA_SHA1 | CKM_ECDSA_SHA224 | CKM_ECDSA_SHA256 | CKM_ECDSA_SHA384
        | CKM_ECDSA_SHA512 => P::None,
        CKM_ECDH1_DERIVE | CKM_ECDH1_COFACTOR_DERIVE => P::Ecdh1,
        CKM_EDDSA => P::Eddsa,
        CKM_SHA_1 | CKM_SHA224 | CKM_SHA256 | CKM_SHA384 | CKM_SHA512 => P::None,
        CKM_SHA_1_HMAC | CKM_SHA224_HMAC | CKM_SHA256_HMAC | CKM_SHA384_HMAC | CKM_SHA512_HMAC => {
            P::None
        }
        CKM_SHA_1_HMAC_GENERAL
        | CKM_SHA224_HMAC_GENERAL
        | CKM_SHA256_HMAC_GENERAL
        | CKM_SHA384_HMAC_GENERAL
        | CKM_SHA512_HMAC_GENERAL => P::Flat(ULONG),
        _ => return None,
    })
}

/// kmsbridge's own key-management mechanisms (import parameters, rotation, cluster
/// init), taken by C_GenerateKey and handled by the provider.
const KMSBRIDGE_KEY_MECHANISMS: std::ops::RangeInclusive<CK_MECHANISM_TYPE> =
    0xCB42_0001..=0xCB42_0003;

/// True for a mechanism C_GenerateKey takes (a secret-key generation mechanism, or one
/// of kmsbridge's key-management mechanisms). Any other mechanism there is
/// CKR_MECHANISM_INVALID, whatever its parameter (PKCS#11 3.0 5.14: the mechanism
/// "is not a key generation mechanism").
pub fn is_key_gen(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(
        ty,
        CKM_AES_KEY_GEN
            | CKM_GENERIC_SECRET_KEY_GEN
            | CKM_DES_KEY_GEN
            | CKM_DES2_KEY_GEN
            | CKM_DES3_KEY_GEN
    ) || KMSBRIDGE_KEY_MECHANISMS.contains(&ty)
}

/// True for the legacy mechanisms (single DES and 3DES): carried and listed unless
/// an instance sets `legacy_mechanisms = false` (docs/CONFIG.md).
pub fn is_legacy(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(
        ty,
        CKM_DES_KEY_GEN
            | CKM_DES2_KEY_GEN
            | CKM_DES3_KEY_GEN
            | CKM_DES_ECB
            | CKM_DES_CBC
            | CKM_DES_CBC_PAD
            | CKM_DES3_ECB
            | CKM_DES3_CBC
            | CKM_DES3_CBC_PAD
            | CKM_DES3_CMAC
    )
}

/// True when carried mechanism `ty` serves an operation of `kind` (PKCS#11 3.0 5.8-5.12:
/// a mechanism that does not is CKR_MECHANISM_INVALID). Judged before its parameter is
/// read, so a mechanism that cannot serve the function is refused as such whatever its
/// parameter, and before any key check, on both instance kinds alike.
pub fn serves(kind: crate::OpKind, ty: CK_MECHANISM_TYPE) -> bool {
    use crate::OpKind::*;
    match kind {
        Encrypt | Decrypt => matches!(
            ty,
            CKM_AES_ECB
                | CKM_AES_CBC
                | CKM_AES_CBC_PAD
                | CKM_AES_CTR
                | CKM_AES_GCM
                | CKM_DES_ECB
                | CKM_DES_CBC
                | CKM_DES_CBC_PAD
                | CKM_DES3_ECB
                | CKM_DES3_CBC
                | CKM_DES3_CBC_PAD
                | CKM_RSA_PKCS
                | CKM_RSA_X_509
                | CKM_RSA_PKCS_OAEP
                // The spec lists the AES key wraps for encryption too; the backend judges.
                | CKM_AES_KEY_WRAP
                | CKM_AES_KEY_WRAP_PAD
                | CKM_AES_KEY_WRAP_KWP
        ),
        Sign | Verify => matches!(
            ty,
            CKM_AES_CMAC
                | CKM_AES_CMAC_GENERAL
                | CKM_DES3_CMAC
                | CKM_RSA_PKCS
                | CKM_RSA_X_509
                | CKM_SHA1_RSA_PKCS
                | CKM_SHA224_RSA_PKCS
                | CKM_SHA256_RSA_PKCS
                | CKM_SHA384_RSA_PKCS
                | CKM_SHA512_RSA_PKCS
                | CKM_RSA_PKCS_PSS
                | CKM_SHA1_RSA_PKCS_PSS
                | CKM_SHA224_RSA_PKCS_PSS
                | CKM_SHA256_RSA_PKCS_PSS
                | CKM_SHA384_RSA_PKCS_PSS
                | CKM_SHA512_RSA_PKCS_PSS
                | CKM_ECDSA
                | CKM_ECDSA_SHA1
                | CKM_ECDSA_SHA224
                | CKM_ECDSA_SHA256
                | CKM_ECDSA_SHA384
                | CKM_ECDSA_SHA512
                | CKM_EDDSA
                | CKM_SHA_1_HMAC
                | CKM_SHA224_HMAC
                | CKM_SHA256_HMAC
                | CKM_SHA384_HMAC
                | CKM_SHA512_HMAC
                | CKM_SHA_1_HMAC_GENERAL
                | CKM_SHA224_HMAC_GENERAL
                | CKM_SHA256_HMAC_GENERAL
                | CKM_SHA384_HMAC_GENERAL
                | CKM_SHA512_HMAC_GENERAL
        ),
        Digest => matches!(
            ty,
            CKM_SHA_1 | CKM_SHA224 | CKM_SHA256 | CKM_SHA384 | CKM_SHA512
        ),
    }
}

/// A PSS mechanism's CK_RSA_PKCS_PSS_PARAMS (`bytes`, already of its size) names a
/// digest for hashAlg (the mechanism's own hash for the hashed PSS mechanisms, PKCS#11
/// 3.0 current mechanisms 2.1.15) and MGF1 over a SHA-1/SHA-2 hash for mgf; else the
/// parameter is CKR_MECHANISM_PARAM_INVALID. Other mechanisms: true.
pub fn pss_params_ok(ty: CK_MECHANISM_TYPE, bytes: &[u8]) -> bool {
    let own = match ty {
        CKM_RSA_PKCS_PSS => None,
        CKM_SHA1_RSA_PKCS_PSS => Some(CKM_SHA_1),
        CKM_SHA224_RSA_PKCS_PSS => Some(CKM_SHA224),
        CKM_SHA256_RSA_PKCS_PSS => Some(CKM_SHA256),
        CKM_SHA384_RSA_PKCS_PSS => Some(CKM_SHA384),
        CKM_SHA512_RSA_PKCS_PSS => Some(CKM_SHA512),
        _ => return true,
    };
    let mut words = bytes.chunks_exact(ULONG).map(|c| {
        let mut w = [0u8; ULONG];
        w.copy_from_slice(c);
        CK_ULONG::from_ne_bytes(w)
    });
    let (Some(hash), Some(mgf)) = (words.next(), words.next()) else {
        return false;
    };
    let digest = matches!(
        hash,
        CKM_SHA_1 | CKM_SHA224 | CKM_SHA256 | CKM_SHA384 | CKM_SHA512
    );
    let mgf1 = matches!(
        mgf,
        CKG_MGF1_SHA1 | CKG_MGF1_SHA224 | CKG_MGF1_SHA256 | CKG_MGF1_SHA384 | CKG_MGF1_SHA512
    );
    digest && mgf1 && own.is_none_or(|h| h == hash)
}

/// True for a mechanism C_DeriveKey takes.
pub fn is_derive(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(ty, CKM_ECDH1_DERIVE | CKM_ECDH1_COFACTOR_DERIVE)
}

/// True for a mechanism C_GenerateKeyPair takes.
pub fn is_key_pair_gen(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(
        ty,
        CKM_RSA_PKCS_KEY_PAIR_GEN | CKM_EC_KEY_PAIR_GEN | CKM_EC_EDWARDS_KEY_PAIR_GEN
    )
}

/// AES-GCM tag lengths a module accepts: the set NIST SP 800-38D section 5.2.1.2
/// allows (PKCS#11 bounds ulTagBits by 0..=128 only; SoftHSM2 and aws-lc differ
/// beyond that, so both instance kinds hold to this set).
pub fn gcm_tag_bits_ok(bits: CK_ULONG) -> bool {
    matches!(bits, 32 | 64 | 96 | 104 | 112 | 120 | 128)
}

/// The key types a carried mechanism works with (its key, or its wrapping or
/// unwrapping key); `None` where the backend judges (HMAC takes generic secrets and
/// the CKK_SHA*_HMAC types, digests take no key). A key of another type is
/// CKR_KEY_TYPE_INCONSISTENT (CKR_(UN)WRAPPING_KEY_TYPE_INCONSISTENT for C_WrapKey,
/// C_UnwrapKey), whatever the backend would have answered.
pub fn key_types(ty: CK_MECHANISM_TYPE) -> Option<&'static [CK_KEY_TYPE]> {
    Some(match ty {
        CKM_AES_ECB | CKM_AES_CBC | CKM_AES_CBC_PAD | CKM_AES_CTR | CKM_AES_GCM | CKM_AES_CMAC
        | CKM_AES_CMAC_GENERAL | CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP => {
            &[CKK_AES]
        }
        CKM_RSA_PKCS
        | CKM_RSA_X_509
        | CKM_SHA1_RSA_PKCS
        | CKM_SHA224_RSA_PKCS
        | CKM_SHA256_RSA_PKCS
        | CKM_SHA384_RSA_PKCS
        | CKM_SHA512_RSA_PKCS
        | CKM_RSA_PKCS_PSS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS
        | CKM_RSA_PKCS_OAEP
        | CKM_RSA_AES_KEY_WRAP => &[CKK_RSA],
        CKM_ECDSA
        | CKM_ECDSA_SHA1
        | CKM_ECDSA_SHA224
        | CKM_ECDSA_SHA256
        | CKM_ECDSA_SHA384
        | CKM_ECDSA_SHA512
        | CKM_ECDH1_DERIVE
        | CKM_ECDH1_COFACTOR_DERIVE => &[CKK_EC],
        CKM_EDDSA => &[CKK_EC_EDWARDS],
        CKM_DES_ECB | CKM_DES_CBC | CKM_DES_CBC_PAD => &[CKK_DES],
        CKM_DES3_ECB | CKM_DES3_CBC | CKM_DES3_CBC_PAD | CKM_DES3_CMAC => &[CKK_DES2, CKK_DES3],
        _ => return None,
    })
}

impl Mechanism {
    pub fn simple(ty: CK_MECHANISM_TYPE) -> Self {
        Mechanism {
            ty,
            param: MechParam::None,
        }
    }

    /// `CKM_RSA_PKCS_OAEP` with `hash`, `mgf` and `label` (CKZ_DATA_SPECIFIED; an
    /// empty label is the common case).
    pub fn oaep(hash: CK_MECHANISM_TYPE, mgf: CK_RSA_PKCS_MGF_TYPE, label: &[u8]) -> Self {
        Mechanism {
            ty: CKM_RSA_PKCS_OAEP,
            param: MechParam::Oaep {
                hash,
                mgf,
                source: CKZ_DATA_SPECIFIED,
                source_data: label.to_vec(),
            },
        }
    }

    /// For `CKM_RSA_AES_KEY_WRAP`: the ephemeral AES key's length in bytes and the
    /// `CKM_RSA_PKCS_OAEP` mechanism of the RSA layer. CKR_MECHANISM_PARAM_INVALID
    /// for an AES size other than 128, 192 or 256 bits.
    pub fn rsa_aes_parts(&self) -> crate::Result<(usize, Mechanism)> {
        let MechParam::RsaAesKeyWrap {
            aes_bits,
            hash,
            mgf,
            source,
            source_data,
        } = &self.param
        else {
            return Err(crate::Error::rv(
                CKR_MECHANISM_PARAM_INVALID,
                "CKM_RSA_AES_KEY_WRAP needs CK_RSA_AES_KEY_WRAP_PARAMS",
            ));
        };
        if !matches!(*aes_bits, 128 | 192 | 256) {
            return Err(crate::Error::rv(
                CKR_MECHANISM_PARAM_INVALID,
                "ulAESKeyBits is not 128, 192 or 256",
            ));
        }
        let oaep = Mechanism {
            ty: CKM_RSA_PKCS_OAEP,
            param: MechParam::Oaep {
                hash: *hash,
                mgf: *mgf,
                source: *source,
                source_data: source_data.clone(),
            },
        };
        Ok((*aes_bits as usize / 8, oaep))
    }

    /// Run `f` with a raw `CK_MECHANISM` whose pointers stay valid for the call.
    pub fn with_raw<R>(&self, f: impl FnOnce(*mut CK_MECHANISM) -> R) -> R {
        fn ptr(v: &[u8]) -> *mut u8 {
            if v.is_empty() {
                std::ptr::null_mut()
            } else {
                v.as_ptr() as *mut u8
            }
        }
        let mut m = CK_MECHANISM {
            mechanism: self.ty,
            pParameter: std::ptr::null_mut(),
            ulParameterLen: 0,
        };
        match &self.param {
            MechParam::None => f(&mut m),
            MechParam::Flat(b) => {
                m.pParameter = ptr(b) as *mut c_void;
                m.ulParameterLen = b.len() as CK_ULONG;
                f(&mut m)
            }
            MechParam::Gcm {
                iv,
                iv_bits,
                aad,
                tag_bits,
            } => {
                let mut p = CK_GCM_PARAMS {
                    pIv: ptr(iv),
                    ulIvLen: iv.len() as CK_ULONG,
                    ulIvBits: *iv_bits,
                    pAAD: ptr(aad),
                    ulAADLen: aad.len() as CK_ULONG,
                    ulTagBits: *tag_bits,
                };
                m.pParameter = &mut p as *mut _ as *mut c_void;
                m.ulParameterLen = size_of::<CK_GCM_PARAMS>() as CK_ULONG;
                f(&mut m)
            }
            MechParam::Oaep {
                hash,
                mgf,
                source,
                source_data,
            } => {
                let mut p = CK_RSA_PKCS_OAEP_PARAMS {
                    hashAlg: *hash,
                    mgf: *mgf,
                    source: *source,
                    pSourceData: ptr(source_data) as *mut c_void,
                    ulSourceDataLen: source_data.len() as CK_ULONG,
                };
                m.pParameter = &mut p as *mut _ as *mut c_void;
                m.ulParameterLen = size_of::<CK_RSA_PKCS_OAEP_PARAMS>() as CK_ULONG;
                f(&mut m)
            }
            MechParam::Ecdh1 {
                kdf,
                shared,
                public,
            } => {
                let mut p = CK_ECDH1_DERIVE_PARAMS {
                    kdf: *kdf,
                    ulSharedDataLen: shared.len() as CK_ULONG,
                    pSharedData: ptr(shared),
                    ulPublicDataLen: public.len() as CK_ULONG,
                    pPublicData: ptr(public),
                };
                m.pParameter = &mut p as *mut _ as *mut c_void;
                m.ulParameterLen = size_of::<CK_ECDH1_DERIVE_PARAMS>() as CK_ULONG;
                f(&mut m)
            }
            MechParam::Eddsa { ph, context } => {
                let mut p = CK_EDDSA_PARAMS {
                    phFlag: *ph as CK_BBOOL,
                    ulContextDataLen: context.len() as CK_ULONG,
                    pContextData: ptr(context),
                };
                m.pParameter = &mut p as *mut _ as *mut c_void;
                m.ulParameterLen = size_of::<CK_EDDSA_PARAMS>() as CK_ULONG;
                f(&mut m)
            }
            MechParam::RsaAesKeyWrap {
                aes_bits,
                hash,
                mgf,
                source,
                source_data,
            } => {
                // Both structs live on this frame until `f` returns.
                let mut o = CK_RSA_PKCS_OAEP_PARAMS {
                    hashAlg: *hash,
                    mgf: *mgf,
                    source: *source,
                    pSourceData: ptr(source_data) as *mut c_void,
                    ulSourceDataLen: source_data.len() as CK_ULONG,
                };
                let mut p = CK_RSA_AES_KEY_WRAP_PARAMS {
                    ulAESKeyBits: *aes_bits,
                    pOAEPParams: &mut o,
                };
                m.pParameter = &mut p as *mut _ as *mut c_void;
                m.ulParameterLen = size_of::<CK_RSA_AES_KEY_WRAP_PARAMS>() as CK_ULONG;
                f(&mut m)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mechanism an Init takes is carried, and each carried mechanism but the
    /// key-management ones serves some function; CBC-PAD serves no signature.
    #[test]
    fn serving_mechanisms_are_carried() {
        use crate::OpKind::*;
        for m in 0..0x2000 {
            let served = [Encrypt, Sign, Digest].iter().any(|k| serves(*k, m));
            if served || is_derive(m) {
                assert!(param_kind(m).is_some(), "{m:#x} served but not carried");
            }
            if param_kind(m).is_some() && !is_key_gen(m) && !is_key_pair_gen(m) {
                assert!(
                    served || is_derive(m) || matches!(m, CKM_RSA_AES_KEY_WRAP),
                    "{m:#x} carried but serves nothing"
                );
            }
        }
        assert!(!serves(Sign, CKM_AES_CBC_PAD) && serves(Encrypt, CKM_AES_CBC_PAD));
        assert!(!serves(Encrypt, CKM_ECDSA) && !serves(Digest, CKM_SHA256_HMAC));
    }

    fn pss(hash: CK_MECHANISM_TYPE, mgf: CK_ULONG) -> Vec<u8> {
        [hash, mgf, 32]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect()
    }

    /// PSS parameters: a digest, MGF1, and the hashed mechanisms' own hash.
    #[test]
    fn pss_params_are_judged() {
        assert!(pss_params_ok(
            CKM_RSA_PKCS_PSS,
            &pss(CKM_SHA256, CKG_MGF1_SHA256)
        ));
        assert!(pss_params_ok(
            CKM_RSA_PKCS_PSS,
            &pss(CKM_SHA384, CKG_MGF1_SHA1)
        ));
        assert!(!pss_params_ok(
            CKM_RSA_PKCS_PSS,
            &pss(CKM_AES_ECB, CKG_MGF1_SHA256)
        ));
        assert!(!pss_params_ok(CKM_RSA_PKCS_PSS, &pss(CKM_SHA256, 0)));
        assert!(!pss_params_ok(
            CKM_SHA256_RSA_PKCS_PSS,
            &pss(CKM_SHA_1, CKG_MGF1_SHA1)
        ));
        assert!(pss_params_ok(
            CKM_SHA256_RSA_PKCS_PSS,
            &pss(CKM_SHA256, CKG_MGF1_SHA256)
        ));
        assert!(!pss_params_ok(CKM_RSA_PKCS_PSS, &[0; 4]));
    }

    /// Every legacy mechanism is carried, and its key types are DES's.
    #[test]
    fn legacy_mechanisms_are_carried_with_des_key_types() {
        let legacy: Vec<CK_MECHANISM_TYPE> = (0..0x2000).filter(|&m| is_legacy(m)).collect();
        assert_eq!(legacy.len(), 10);
        for m in legacy {
            assert!(param_kind(m).is_some(), "{m:#x} not carried");
            if let Some(kts) = key_types(m) {
                assert!(kts
                    .iter()
                    .all(|k| matches!(*k, CKK_DES | CKK_DES2 | CKK_DES3)));
            } else {
                assert!(
                    is_key_gen(m),
                    "{m:#x}: neither key types nor key generation"
                );
            }
        }
        assert_eq!(param_kind(CKM_DES3_CBC), Some(ParamKind::Flat(8)));
        assert!(!is_legacy(CKM_AES_ECB));
    }

    fn rsa_aes(aes_bits: CK_ULONG, label: &[u8]) -> Mechanism {
        Mechanism {
            ty: CKM_RSA_AES_KEY_WRAP,
            param: MechParam::RsaAesKeyWrap {
                aes_bits,
                hash: CKM_SHA256,
                mgf: CKG_MGF1_SHA256,
                source: CKZ_DATA_SPECIFIED,
                source_data: label.to_vec(),
            },
        }
    }

    #[test]
    fn rsa_aes_key_wrap_is_rebuilt_with_both_structs() {
        rsa_aes(256, b"lbl").with_raw(|m| {
            // SAFETY: `with_raw` keeps the mechanism and both parameter structs alive
            // for this closure; the pointers are read as the backend would.
            unsafe {
                assert_eq!((*m).mechanism, CKM_RSA_AES_KEY_WRAP);
                assert_eq!(
                    (*m).ulParameterLen as usize,
                    size_of::<CK_RSA_AES_KEY_WRAP_PARAMS>()
                );
                let p = &*((*m).pParameter as *const CK_RSA_AES_KEY_WRAP_PARAMS);
                assert_eq!(p.ulAESKeyBits, 256);
                let o = &*p.pOAEPParams;
                assert_eq!(
                    (o.hashAlg, o.mgf, o.source),
                    (CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED)
                );
                let label = std::slice::from_raw_parts(
                    o.pSourceData as *const u8,
                    o.ulSourceDataLen as usize,
                );
                assert_eq!(label, b"lbl");
            }
        });
    }

    #[test]
    fn rsa_aes_parts_split_the_layers() {
        let (len, oaep) = rsa_aes(128, b"").rsa_aes_parts().expect("valid");
        assert_eq!(len, 16);
        assert_eq!(oaep.ty, CKM_RSA_PKCS_OAEP);
        assert!(matches!(
            oaep.param,
            MechParam::Oaep {
                hash: CKM_SHA256,
                ..
            }
        ));
        let e = rsa_aes(100, b"").rsa_aes_parts().expect_err("refused");
        assert_eq!(e.ck_rv(), CKR_MECHANISM_PARAM_INVALID);
        let e = Mechanism::simple(CKM_RSA_AES_KEY_WRAP)
            .rsa_aes_parts()
            .err();
        assert_eq!(e.map(|e| e.ck_rv()), Some(CKR_MECHANISM_PARAM_INVALID));
    }
}
