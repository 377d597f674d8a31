//! C_DeriveKey: ECDH1 (and ECDH1 with cofactor, the same on the NIST curves, whose
//! cofactor is 1) with the null KDF or the ANSI X9.63 KDF over SHA-1/SHA-2.
//!
//! With CKD_NULL a key shorter than the shared secret keeps the secret's trailing
//! bytes, as SoftHSM2 does (so the two kinds of instances derive the same keys).

use super::digest::Hash;
use super::ec_params;
use super::keygen::check_secret_len;
use super::object::SoftObject;
use super::prepared::prepare;
use super::rules::{self, Ctx, Origin};
use cryptoki_sys::*;
use kmsbridge_bridge::attr::Attr;
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::{MechParam, Mechanism};
use zeroize::Zeroizing;

fn param_invalid(what: &'static str) -> Error {
    Error::rv(CKR_MECHANISM_PARAM_INVALID, what)
}

fn kdf_hash(kdf: CK_EC_KDF_TYPE) -> Result<Option<Hash>> {
    Ok(match kdf {
        CKD_NULL => None,
        CKD_SHA1_KDF => Some(Hash::Sha1),
        CKD_SHA224_KDF => Some(Hash::Sha224),
        CKD_SHA256_KDF => Some(Hash::Sha256),
        CKD_SHA384_KDF => Some(Hash::Sha384),
        CKD_SHA512_KDF => Some(Hash::Sha512),
        _ => return Err(param_invalid("KDF not offered")),
    })
}

/// ANSI X9.63 KDF: H(Z || counter || SharedInfo) for counter = 1, 2, ...
fn x963(h: Hash, z: &[u8], shared: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 64));
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut hs = h.hasher();
        hs.update(z);
        hs.update(&counter.to_be_bytes());
        hs.update(shared);
        out.extend_from_slice(hs.finish().as_ref());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

pub fn derive(m: &Mechanism, base: &SoftObject, template: &[Attr]) -> Result<SoftObject> {
    if !matches!(m.ty, CKM_ECDH1_DERIVE | CKM_ECDH1_COFACTOR_DERIVE) {
        return Err(Error::rv(
            CKR_MECHANISM_INVALID,
            "not a derivation mechanism",
        ));
    }
    let MechParam::Ecdh1 {
        kdf,
        shared,
        public,
    } = &m.param
    else {
        return Err(param_invalid("ECDH needs CK_ECDH1_DERIVE_PARAMS"));
    };
    if base.class() != CKO_PRIVATE_KEY || base.key_type() != Some(CKK_EC) {
        return Err(Error::rv(
            CKR_KEY_TYPE_INCONSISTENT,
            "ECDH needs an EC private key",
        ));
    }
    if !base.flag(CKA_DERIVE) {
        return Err(Error::rv(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "base key without CKA_DERIVE",
        ));
    }
    let key = prepare(base)?;
    key.check_allowed(m.ty)?;
    let hash = kdf_hash(*kdf)?;
    if hash.is_none() && !shared.is_empty() {
        return Err(param_invalid("the null KDF takes no shared data"));
    }
    let eck = key.ec()?;
    let point =
        ec_params::point_from_attr(public, eck.curve()).ok_or(param_invalid("peer point"))?;
    let z = eck
        .ecdh(point)
        .map_err(|_| param_invalid("peer point not on the curve"))?;

    rules::check_duplicates(template)?;
    if rules::ulong(template, CKA_CLASS)?.is_some_and(|c| c != CKO_SECRET_KEY) {
        return Err(Error::rv(
            CKR_TEMPLATE_INCONSISTENT,
            "ECDH derives secret keys",
        ));
    }
    let kt = rules::ulong(template, CKA_KEY_TYPE)?.unwrap_or(CKK_GENERIC_SECRET);
    if !rules::secret_key_type_known(kt) {
        return Err(Error::rv(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "key type not offered",
        ));
    }
    let mut obj = rules::build(CKO_SECRET_KEY, Some(kt), template, Ctx::Derive)?;
    let len = match obj.get_ulong(CKA_VALUE_LEN) {
        Some(l) => l as usize,
        None if kt == CKK_AES => {
            return Err(Error::rv(
                CKR_TEMPLATE_INCOMPLETE,
                "CKA_VALUE_LEN for an AES key",
            ))
        }
        None => hash.map_or(z.len(), |h| h.len()),
    };
    check_secret_len(kt, len)?;
    if len > super::keygen::GENERIC_LEN.1 {
        return Err(Error::rv(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "CKA_VALUE_LEN too large",
        ));
    }
    let value = match hash {
        None if len > z.len() => {
            return Err(Error::rv(
                CKR_TEMPLATE_INCONSISTENT,
                "key longer than the shared secret",
            ))
        }
        None => Zeroizing::new(z.iter().skip(z.len() - len).copied().collect()),
        Some(h) => x963(h, &z, shared, len),
    };
    obj.set(CKA_VALUE, value.to_vec());
    obj.set_ulong(CKA_VALUE_LEN, len as CK_ULONG);
    let always = base.flag(CKA_ALWAYS_SENSITIVE);
    let never = base.flag(CKA_NEVER_EXTRACTABLE);
    rules::finish_key(&mut obj, Origin::Derived(always, never));
    Ok(obj)
}
