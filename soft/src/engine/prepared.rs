//! A key parsed once and cached by the backend: AES schedules and a GCM context, HMAC
//! keys, an RSA key with its CRT values, an EC key with its public point, an Ed25519
//! signing key. Repeated operations on the same object do no parsing or expansion.
//!
//! A `Prepared` records the object's usage attributes (`CKA_ENCRYPT`, `CKA_SIGN`, ...)
//! and `CKA_ALLOWED_MECHANISMS` at the time it was made: the backend must drop its
//! cached `Prepared` whenever the object changes (C_SetAttributeValue) or goes.

use super::ec_params::{self, EcKind};
use super::lc::{self, AesKey, EcKey, Gcm, Rsa, RsaParts};
use super::object::SoftObject;
use aws_lc_rs::hmac;
use cryptoki_sys::*;
use kmsbridge_bridge::error::{Error, Result};
use std::sync::{Arc, OnceLock};
use zeroize::Zeroizing;

/// What the key may be used for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub encrypt: bool,
    pub decrypt: bool,
    pub sign: bool,
    pub verify: bool,
    pub wrap: bool,
    pub unwrap: bool,
    pub derive: bool,
}

// One per Prepared, which lives in an Arc: the size difference costs nothing, and the
// AES schedules inline save an indirection on the hot path.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Material {
    Aes {
        key: AesKey,
        raw: Zeroizing<Vec<u8>>,
        gcm: Gcm,
        cmac: Zeroizing<([u8; 16], [u8; 16])>,
    },
    Secret {
        raw: Zeroizing<Vec<u8>>,
        hmac: [OnceLock<hmac::Key>; 5],
    },
    Rsa(Rsa),
    Ec(EcKey),
    Ed {
        private: Option<Zeroizing<[u8; 64]>>,
        public: [u8; 32],
    },
}

/// A key ready for repeated use.
pub struct Prepared {
    pub class: CK_OBJECT_CLASS,
    pub key_type: CK_KEY_TYPE,
    pub usage: Usage,
    /// CKA_ALLOWED_MECHANISMS; empty = any.
    pub allowed: Vec<CK_MECHANISM_TYPE>,
    pub(crate) material: Material,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Prepared(class 0x{:x}, key type 0x{:x})",
            self.class, self.key_type
        )
    }
}

fn inconsistent(what: &'static str) -> Error {
    Error::rv(CKR_KEY_TYPE_INCONSISTENT, what)
}

/// Stored material that does not make a key: the object is damaged.
fn broken(what: &'static str) -> Error {
    Error::rv(CKR_GENERAL_ERROR, what)
}

fn bytes(obj: &SoftObject, ty: CK_ATTRIBUTE_TYPE) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(obj.get(ty).map(|v| v.to_vec()).unwrap_or_default())
}

/// The RSA components of an object (missing ones empty).
pub fn rsa_parts(obj: &SoftObject) -> RsaParts {
    RsaParts {
        n: bytes(obj, CKA_MODULUS),
        e: bytes(obj, CKA_PUBLIC_EXPONENT),
        d: bytes(obj, CKA_PRIVATE_EXPONENT),
        p: bytes(obj, CKA_PRIME_1),
        q: bytes(obj, CKA_PRIME_2),
        dp: bytes(obj, CKA_EXPONENT_1),
        dq: bytes(obj, CKA_EXPONENT_2),
        qinv: bytes(obj, CKA_COEFFICIENT),
    }
}

/// Parse a key object into its ready form.
pub fn prepare(obj: &SoftObject) -> Result<Arc<Prepared>> {
    let class = obj.class();
    if !matches!(class, CKO_SECRET_KEY | CKO_PUBLIC_KEY | CKO_PRIVATE_KEY) {
        return Err(Error::rv(CKR_KEY_HANDLE_INVALID, "not a key"));
    }
    let kt = obj.key_type().ok_or(broken("key without CKA_KEY_TYPE"))?;
    let value = || obj.get(CKA_VALUE).ok_or(broken("key without CKA_VALUE"));
    let material = match (class, kt) {
        (CKO_SECRET_KEY, CKK_AES) => {
            let raw = value()?;
            let key = AesKey::new(raw).map_err(|_| broken("AES key length"))?;
            let gcm = Gcm::new(raw, 16).map_err(|_| broken("AES key length"))?;
            let cmac = Zeroizing::new(key.cmac_subkeys());
            Material::Aes {
                key,
                raw: Zeroizing::new(raw.to_vec()),
                gcm,
                cmac,
            }
        }
        (CKO_SECRET_KEY, _) if super::rules::secret_key_type_known(kt) => Material::Secret {
            raw: Zeroizing::new(value()?.to_vec()),
            hmac: Default::default(),
        },
        (CKO_PUBLIC_KEY, CKK_RSA) => {
            let p = rsa_parts(obj);
            Material::Rsa(Rsa::public(&p.n, &p.e).map_err(|_| broken("RSA public key"))?)
        }
        (CKO_PRIVATE_KEY, CKK_RSA) => {
            Material::Rsa(Rsa::private(&rsa_parts(obj)).map_err(|_| broken("RSA private key"))?)
        }
        (CKO_PUBLIC_KEY | CKO_PRIVATE_KEY, CKK_EC | CKK_EC_EDWARDS) => {
            let params = obj
                .get(CKA_EC_PARAMS)
                .ok_or(broken("EC key without params"))?;
            match (ec_params::parse_params(params)?, class) {
                (EcKind::Nist(c), CKO_PRIVATE_KEY) if kt == CKK_EC => {
                    Material::Ec(EcKey::private(c, value()?).map_err(|_| broken("EC private key"))?)
                }
                (EcKind::Nist(c), _) if kt == CKK_EC => {
                    let point = obj
                        .get(CKA_EC_POINT)
                        .ok_or(broken("EC key without point"))?;
                    let raw = ec_params::point_from_attr(point, c).ok_or(broken("EC point"))?;
                    Material::Ec(EcKey::public(c, raw).map_err(|_| broken("EC public key"))?)
                }
                (EcKind::Ed25519, CKO_PRIVATE_KEY) if kt == CKK_EC_EDWARDS => {
                    let seed: Zeroizing<[u8; 32]> =
                        Zeroizing::new(value()?.try_into().map_err(|_| broken("Ed25519 key"))?);
                    let (private, public) = lc::ed25519_expand(&seed);
                    Material::Ed {
                        private: Some(private),
                        public,
                    }
                }
                (EcKind::Ed25519, _) if kt == CKK_EC_EDWARDS => {
                    let point = obj
                        .get(CKA_EC_POINT)
                        .ok_or(broken("Ed25519 key without point"))?;
                    let public =
                        ec_params::ed_point_from_attr(point).ok_or(broken("Ed25519 point"))?;
                    Material::Ed {
                        private: None,
                        public,
                    }
                }
                _ => return Err(broken("EC parameters do not match the key type")),
            }
        }
        _ => return Err(inconsistent("key type not offered")),
    };
    let f = |ty| obj.flag(ty);
    let usage = Usage {
        encrypt: f(CKA_ENCRYPT),
        decrypt: f(CKA_DECRYPT),
        sign: f(CKA_SIGN),
        verify: f(CKA_VERIFY),
        wrap: f(CKA_WRAP),
        unwrap: f(CKA_UNWRAP),
        derive: f(CKA_DERIVE),
    };
    const UL: usize = std::mem::size_of::<CK_ULONG>();
    let allowed = obj
        .get(CKA_ALLOWED_MECHANISMS)
        .unwrap_or_default()
        .chunks_exact(UL)
        .map(|c| CK_ULONG::from_ne_bytes(c.try_into().unwrap_or([0; UL])))
        .collect();
    Ok(Arc::new(Prepared {
        class,
        key_type: kt,
        usage,
        allowed,
        material,
    }))
}

impl Prepared {
    pub fn is_private(&self) -> bool {
        self.class == CKO_PRIVATE_KEY
    }

    /// CKR_KEY_FUNCTION_NOT_PERMITTED when
    /// CKA_ALLOWED_MECHANISMS excludes `m`.
    pub fn check_allowed(&self, m: CK_MECHANISM_TYPE) -> Result<()> {
        if self.allowed.is_empty() || self.allowed.contains(&m) {
            Ok(())
        } else {
            Err(Error::rv(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                "mechanism not in CKA_ALLOWED_MECHANISMS",
            ))
        }
    }

    pub(crate) fn aes(&self) -> Result<&AesKey> {
        match &self.material {
            Material::Aes { key, .. } => Ok(key),
            _ => Err(inconsistent("AES key needed")),
        }
    }

    pub(crate) fn gcm(&self) -> Result<&Gcm> {
        match &self.material {
            Material::Aes { gcm, .. } => Ok(gcm),
            _ => Err(inconsistent("AES key needed")),
        }
    }

    pub(crate) fn cmac_subkeys(&self) -> Result<&([u8; 16], [u8; 16])> {
        match &self.material {
            Material::Aes { cmac, .. } => Ok(cmac),
            _ => Err(inconsistent("AES key needed")),
        }
    }

    /// The value of a secret key (AES or generic).
    pub(crate) fn secret_value(&self) -> Result<&[u8]> {
        match &self.material {
            Material::Aes { raw, .. } | Material::Secret { raw, .. } => Ok(raw),
            _ => Err(inconsistent("secret key needed")),
        }
    }

    /// The HMAC key for hash `h`, made on first use.
    pub(crate) fn hmac_key(&self, h: super::digest::Hash) -> Result<&hmac::Key> {
        let Material::Secret { raw, hmac: keys } = &self.material else {
            return Err(inconsistent("HMAC needs a generic secret key"));
        };
        let i = h as usize;
        let slot = keys.get(i).ok_or(inconsistent("hash"))?;
        Ok(slot.get_or_init(|| hmac::Key::new(super::hmac::algorithm(h), raw)))
    }

    pub(crate) fn rsa(&self) -> Result<&Rsa> {
        match &self.material {
            Material::Rsa(r) => Ok(r),
            _ => Err(inconsistent("RSA key needed")),
        }
    }

    pub(crate) fn ec(&self) -> Result<&EcKey> {
        match &self.material {
            Material::Ec(k) => Ok(k),
            _ => Err(inconsistent("EC key needed")),
        }
    }

    pub(crate) fn ed(&self) -> Result<(Option<&[u8; 64]>, &[u8; 32])> {
        match &self.material {
            Material::Ed { private, public } => Ok((private.as_deref(), public)),
            _ => Err(inconsistent("Ed25519 key needed")),
        }
    }
}
