//! The software instances' crypto and object engine: PKCS#11 object and mechanism
//! semantics, in memory, with no I/O. The software backend stores what it returns
//! (sealing the attributes [`SoftObject::is_secret_attr`] names) and caches
//! [`Prepared`] keys per object.
//!
//! # API
//!
//! | function | PKCS#11 |
//! |---|---|
//! | [`mechanisms`] | C_GetMechanismList / C_GetMechanismInfo |
//! | [`create`] | C_CreateObject: data, X.509 certificates, keys by value (checked); CKA_LOCAL false |
//! | [`copy`] | C_CopyObject (only CKA_TOKEN, CKA_PRIVATE, the modifiable attributes, and one-way flags may change) |
//! | [`get_attributes`] | C_GetAttributeValue: answers in place, returns the call's code |
//! | [`set_attributes`] | C_SetAttributeValue: all or nothing; CKA_SENSITIVE only false→true, CKA_EXTRACTABLE only true→false |
//! | [`generate_key`] | C_GenerateKey: AES, generic secret (CKA_VALUE_LEN bytes) |
//! | [`generate_key_pair`] | C_GenerateKeyPair: RSA, EC P-256/384/521, Ed25519 |
//! | [`wrap`] / [`unwrap`] | C_WrapKey / C_UnwrapKey: RFC 3394, RFC 5649, RSA PKCS#1 v1.5 and OAEP, RSA-AES key wrap (unwrap only); private keys as PKCS#8 |
//! | [`material_check`] | a salted check value of a key's material (`Backend::material_check`) |
//! | [`derive`] | C_DeriveKey: ECDH1 (null KDF or X9.63 with SHA-1/SHA-2) |
//! | [`prepare`] | parse a key once for repeated use |
//! | [`begin_encrypt`], [`begin_decrypt`], [`begin_sign`], [`begin_verify`], [`begin_digest`] | C_XxxInit: a [`Cipher`], [`Signing`], [`Verifying`] or [`Digesting`] operation |
//! | [`digest_key_value`] | the bytes C_DigestKey feeds to a digest operation's `update` |
//! | [`random`] | C_GenerateRandom (aws-lc's DRBG, seeded from the OS) |
//!
//! Errors carry the spec's codes. Attribute defaults and the choices the spec leaves
//! to the token are in [`rules`]. Crate choices and measurements: docs/SOFTWARE_CRYPTO.md.
//!
//! Operations follow `kmsbridge_bridge::op`: `out == None` is a length query that keeps the
//! operation, `CKR_BUFFER_TOO_SMALL` keeps it, every other error and every final
//! success ends it (`is_done()`). Single-part-only mechanisms (raw RSA, raw ECDSA,
//! EdDSA, RSA encryption) answer `C_xxxUpdate` with CKR_FUNCTION_NOT_SUPPORTED.
//! `Digesting::update_key` cannot resolve an object id here: the backend implements
//! C_DigestKey by passing [`digest_key_value`] of the object to `update`.
//!
//! Concurrency: nothing here holds a lock; a [`Prepared`] is shared (`Arc`) by any
//! number of concurrent operations. The backend must drop a cached `Prepared` when
//! its object changes (usage flags are read at `prepare`).

mod aes;
mod block;
mod create;
mod derive;
mod des3;
mod digest;
mod ec;
mod ec_params;
mod eddsa;
mod hmac;
mod keygen;
mod lc;
mod material;
mod mechs;
mod object;
mod op;
mod prepared;
mod rsa;
pub mod rules;
mod wrap;

#[cfg(test)]
mod tests;

pub use create::create;
pub use derive::derive;
pub use keygen::{generate_key, generate_key_pair};
pub use material::material_check;
pub use mechs::mechanisms;
pub use object::SoftObject;
pub use prepared::{prepare, Prepared, Usage};
pub use rules::{copy, get_attributes, set_attributes};
pub use wrap::{unwrap, wrap};

use block::BlockMode;
use cryptoki_sys::*;
use kmsbridge_bridge::backend::OpKind;
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::op::{Cipher, Digesting, Signing, Verifying};
use kmsbridge_bridge::{MechParam, Mechanism};
use op::{CryptOp, MacKind};
use std::sync::Arc;

/// Fill `out` with random bytes.
pub fn random(out: &mut [u8]) -> Result<()> {
    lc::random(out).map_err(|_| Error::rv(CKR_FUNCTION_FAILED, "random"))
}

/// The value a C_DigestKey of `key` digests (secret keys only).
pub fn digest_key_value(key: &SoftObject) -> Result<&[u8]> {
    if key.class() != CKO_SECRET_KEY {
        return Err(Error::rv(CKR_KEY_INDIGESTIBLE, "only secret keys digest"));
    }
    key.get(CKA_VALUE)
        .ok_or(Error::rv(CKR_KEY_INDIGESTIBLE, "key without a value"))
}

/// What a mechanism is, for the `begin_*` functions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    AesBlock,
    Des3Block,
    AesCtr,
    AesGcm,
    Cmac,
    Hmac,
    RsaSign,
    RsaCrypt,
    Ecdsa,
    Eddsa,
}

fn family(m: CK_MECHANISM_TYPE) -> Option<Family> {
    use Family::*;
    Some(match m {
        CKM_AES_ECB | CKM_AES_CBC | CKM_AES_CBC_PAD => AesBlock,
        CKM_DES3_ECB | CKM_DES3_CBC | CKM_DES3_CBC_PAD => Des3Block,
        CKM_AES_CTR => AesCtr,
        CKM_AES_GCM => AesGcm,
        CKM_AES_CMAC | CKM_AES_CMAC_GENERAL => Cmac,
        CKM_RSA_PKCS | CKM_RSA_X_509 => RsaCrypt,
        CKM_RSA_PKCS_OAEP => RsaCrypt,
        _ if rsa::is_sign_mech(m) => RsaSign,
        _ if hmac::hmac_mech(m).is_some() => Hmac,
        _ if ec::ecdsa_hash(m).is_some() => Ecdsa,
        CKM_EDDSA => Eddsa,
        _ => return None,
    })
}

fn no_param(m: &Mechanism) -> Result<()> {
    match m.param {
        MechParam::None => Ok(()),
        _ => Err(Error::rv(
            CKR_MECHANISM_PARAM_INVALID,
            "mechanism takes no parameter",
        )),
    }
}

/// C_EncryptInit with mechanism `m` on `key` (checks: see [`check`]).
pub fn begin_encrypt(m: &Mechanism, key: Arc<Prepared>) -> Result<Box<dyn Cipher>> {
    cipher(OpKind::Encrypt, m, key)
}

/// C_DecryptInit with mechanism `m` on `key` (checks: see [`check`]).
pub fn begin_decrypt(m: &Mechanism, key: Arc<Prepared>) -> Result<Box<dyn Cipher>> {
    cipher(OpKind::Decrypt, m, key)
}

/// C_SignInit with mechanism `m` on `key` (checks: see [`check`]).
pub fn begin_sign(m: &Mechanism, key: Arc<Prepared>) -> Result<Box<dyn Signing>> {
    mac(OpKind::Sign, m, key)
}

/// C_VerifyInit with mechanism `m` on `key` (checks: see [`check`]).
pub fn begin_verify(m: &Mechanism, key: Arc<Prepared>) -> Result<Box<dyn Verifying>> {
    mac(OpKind::Verify, m, key)
}

/// C_DigestInit with mechanism `m`.
pub fn begin_digest(m: &Mechanism) -> Result<Box<dyn Digesting>> {
    let h = digest::Hash::from_mech(m.ty)
        .ok_or(Error::rv(CKR_MECHANISM_INVALID, "not a digest mechanism"))?;
    no_param(m)?;
    Ok(<dyn Digesting as MacKind>::of(digest::DigestOp::new(h)))
}

fn invalid() -> Error {
    Error::rv(
        CKR_MECHANISM_INVALID,
        "mechanism does not serve this function",
    )
}

/// The checks of an Init of `kind` with mechanism `m` on `key`, in order: the
/// mechanism serves `kind` (CKR_MECHANISM_INVALID), the key's usage attribute
/// (CKR_KEY_FUNCTION_NOT_PERMITTED) and CKA_ALLOWED_MECHANISMS, the key type
/// (CKR_KEY_TYPE_INCONSISTENT); the parameters (CKR_MECHANISM_PARAM_INVALID) are
/// checked as the operation is made. The mechanism's family.
fn check(kind: OpKind, m: &Mechanism, key: &Prepared) -> Result<Family> {
    use Family::*;
    let fam = family(m.ty).ok_or_else(invalid)?;
    let crypt = matches!(fam, AesBlock | Des3Block | AesCtr | AesGcm | RsaCrypt);
    let rsa_both = matches!(m.ty, CKM_RSA_PKCS | CKM_RSA_X_509);
    let fits = match kind {
        OpKind::Encrypt | OpKind::Decrypt => crypt,
        _ => !crypt || rsa_both,
    };
    if !fits {
        return Err(invalid());
    }
    let u = key.usage;
    let permitted = match kind {
        OpKind::Encrypt => u.encrypt,
        OpKind::Decrypt => u.decrypt,
        OpKind::Sign => u.sign,
        OpKind::Verify => u.verify,
        OpKind::Digest => true,
    };
    if !permitted {
        return Err(Error::rv(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "key usage attribute is false",
        ));
    }
    key.check_allowed(m.ty)?;
    let kt = key.key_type;
    let type_ok = match fam {
        AesBlock | AesCtr | AesGcm | Cmac => kt == CKK_AES,
        Des3Block => kt == CKK_DES2 || kt == CKK_DES3,
        Hmac => {
            let (h, _) = hmac::hmac_mech(m.ty).ok_or_else(invalid)?;
            let hmac_kt = match h {
                digest::Hash::Sha1 => CKK_SHA_1_HMAC,
                digest::Hash::Sha224 => CKK_SHA224_HMAC,
                digest::Hash::Sha256 => CKK_SHA256_HMAC,
                digest::Hash::Sha384 => CKK_SHA384_HMAC,
                digest::Hash::Sha512 => CKK_SHA512_HMAC,
            };
            kt == CKK_GENERIC_SECRET || kt == hmac_kt
        }
        RsaSign | RsaCrypt => kt == CKK_RSA,
        Ecdsa => kt == CKK_EC,
        Eddsa => kt == CKK_EC_EDWARDS,
    };
    if !type_ok {
        return Err(Error::rv(
            CKR_KEY_TYPE_INCONSISTENT,
            "key type does not fit the mechanism",
        ));
    }
    Ok(fam)
}

/// An encrypt or decrypt operation.
fn cipher(kind: OpKind, m: &Mechanism, key: Arc<Prepared>) -> Result<Box<dyn Cipher>> {
    use Family::*;
    let encrypt = kind == OpKind::Encrypt;
    Ok(match check(kind, m, &key)? {
        AesBlock => CryptOp::boxed(BlockMode::new(m, encrypt, || Ok(aes::AesCipher(key)))?),
        Des3Block => CryptOp::boxed(des3::op(&key, m, encrypt)?),
        AesCtr => CryptOp::boxed(aes::CtrOp::new(key, m)?),
        AesGcm => CryptOp::boxed(aes::GcmOp::new(key, m, encrypt)?),
        RsaCrypt => CryptOp::boxed(rsa::RsaCryptOp::new(key, m, encrypt)?),
        // `check` admits only the families above for encryption.
        Cmac | Hmac | RsaSign | Ecdsa | Eddsa => return Err(invalid()),
    })
}

/// A sign or verify operation (`K`: which).
fn mac<K: MacKind + ?Sized>(kind: OpKind, m: &Mechanism, key: Arc<Prepared>) -> Result<Box<K>> {
    use Family::*;
    Ok(match check(kind, m, &key)? {
        RsaCrypt | RsaSign => {
            no_param_unless_pss(m)?;
            K::of(rsa::RsaSignOp::new(key, m)?)
        }
        Cmac => K::of(aes::CmacOp::new(key, m)?),
        Hmac => {
            let (h, general) = hmac::hmac_mech(m.ty).ok_or_else(invalid)?;
            let len = if general {
                general_len(m, h.len())?
            } else {
                no_param(m)?;
                h.len()
            };
            let k = key.hmac_key(h)?;
            K::of(hmac::HmacOp::new(k, len))
        }
        Ecdsa => {
            no_param(m)?;
            let h = ec::ecdsa_hash(m.ty).ok_or_else(invalid)?;
            K::of(ec::EcdsaOp::new(key, h)?)
        }
        Eddsa => K::of(eddsa::EddsaOp::new(key, m)?),
        // `check` admits none of these for signing.
        AesBlock | Des3Block | AesCtr | AesGcm => return Err(invalid()),
    })
}

fn no_param_unless_pss(m: &Mechanism) -> Result<()> {
    match m.ty {
        CKM_RSA_PKCS_PSS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS => Ok(()),
        _ => no_param(m),
    }
}

/// The length of a `_GENERAL` MAC (CK_MAC_GENERAL_PARAMS), 1..=`max`.
fn general_len(m: &Mechanism, max: usize) -> Result<usize> {
    let bad = || Error::rv(CKR_MECHANISM_PARAM_INVALID, "CK_MAC_GENERAL_PARAMS");
    let MechParam::Flat(p) = &m.param else {
        return Err(bad());
    };
    let n = p[..]
        .try_into()
        .map(CK_ULONG::from_ne_bytes)
        .map_err(|_| bad())? as usize;
    if n == 0 || n > max {
        return Err(bad());
    }
    Ok(n)
}
