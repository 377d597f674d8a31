//! Unwraps the node composes where its library lacks a layer (SoftHSM2 2.6 has no
//! `CKM_RSA_AES_KEY_WRAP`, and OAEP with SHA-1 and MGF1-SHA-1 only):
//!
//! - `CKM_RSA_PKCS_OAEP` with other parameters: raw RSA (`CKM_RSA_X_509`) in the
//!   backend, the constant-time OAEP decode here, then `C_CreateObject` of the
//!   secret key from the caller's template and the decoded value. The unwrapping key
//!   needs CKA_DECRYPT as well as CKA_UNWRAP for the raw RSA.
//! - `CKM_RSA_AES_KEY_WRAP` (PKCS#11 3.0): the blob is OAEP(ephemeral AES key), one
//!   modulus long, then the RFC 5649 wrap of the target. The ephemeral key becomes a
//!   session key in the backend (unwrapped there with SHA-1 OAEP, else decoded here
//!   and created), the backend unwraps the target under it with
//!   `CKM_AES_KEY_WRAP_PAD` (its unwrap is RFC 5649; SH-11 concerns its wrap), and
//!   the ephemeral key is destroyed on every path. The target's material never
//!   enters the module.
//!
//! Every call runs on one pooled session. A blob that does not decrypt answers
//! CKR_WRAPPED_KEY_INVALID, one code for every failure of a layer (bad OAEP
//! encoding, raw RSA refusing the integer, a failed RFC 5649 integrity check, an
//! ephemeral key of the wrong size), decided after the whole decode: no padding
//! oracle. A blob of impossible length answers CKR_WRAPPED_KEY_LEN_RANGE.

use super::calls;
use super::fixups;
use super::oaep::OaepParams;
use super::pool::{Lease, Pool};
use crate::attr::{self, Attr};
use crate::backend::ObjectId;
use crate::error::{Error, Result};
use crate::Mechanism;
use cryptoki_sys::*;
use std::borrow::Borrow;
use zeroize::Zeroizing;

/// The label of the ephemeral key, so that a leftover (a crash mid-call) is found.
pub const EPHEMERAL_LABEL: &[u8] = b"kmsbridge.tmp.rsa-aes";
/// Its CKA_ID: a service key's (docs/KEYS.md), which the provider never shows to
/// applications while it exists.
const EPHEMERAL_ID: &[u8] = b"kmsbridge.svc.tmp.rsa-aes";

fn invalid() -> Error {
    Error::rv(CKR_WRAPPED_KEY_INVALID, "wrapped key does not decrypt")
}

fn len_range() -> Error {
    Error::rv(CKR_WRAPPED_KEY_LEN_RANGE, "wrapped key length")
}

/// The one OAEP form SoftHSM2 2.6 unwraps itself: SHA-1, MGF1-SHA-1, no label
/// (`source` must be CKZ_DATA_SPECIFIED there, even without data).
pub fn native_oaep() -> Mechanism {
    Mechanism::oaep(CKM_SHA_1, CKG_MGF1_SHA1, b"")
}

/// Check the unwrapping key as the backend's C_UnwrapKey would: an RSA private key
/// allowed to unwrap with `mech`. Returns its modulus length.
fn unwrapping_key(s: &Lease<&Pool>, key: ObjectId, mech: CK_MECHANISM_TYPE) -> Result<usize> {
    let class = calls::attr_ulong(s, key, CKA_CLASS).map_err(|e| match e.ck_rv() {
        CKR_OBJECT_HANDLE_INVALID => Error::rv(CKR_UNWRAPPING_KEY_HANDLE_INVALID, "no such key"),
        _ => e,
    })?;
    let kt = calls::attr_ulong(s, key, CKA_KEY_TYPE)?;
    if class != Some(CKO_PRIVATE_KEY) || kt != Some(CKK_RSA) {
        return Err(Error::rv(
            CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
            "unwrapping needs an RSA private key",
        ));
    }
    if calls::attr_bool(s, key, CKA_UNWRAP)? != Some(true) {
        return Err(Error::rv(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "unwrapping key without CKA_UNWRAP",
        ));
    }
    if let Some(allowed) = calls::attr(s, key, CKA_ALLOWED_MECHANISMS)? {
        const UL: usize = std::mem::size_of::<CK_ULONG>();
        let listed = allowed
            .chunks_exact(UL)
            .filter_map(|c| c.try_into().ok().map(CK_ULONG::from_ne_bytes))
            .collect::<Vec<_>>();
        if !listed.is_empty() && !listed.contains(&mech) {
            return Err(Error::rv(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                "mechanism not in CKA_ALLOWED_MECHANISMS",
            ));
        }
    }
    fixups::modulus_len(s, key).ok_or(Error::rv(
        CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
        "unwrapping key without a modulus",
    ))
}

/// OAEP-decrypt one modulus-long block: raw RSA in the backend, decode here.
fn oaep_decrypt(
    s: &Lease<&Pool>,
    params: &OaepParams,
    key: ObjectId,
    k: usize,
    block: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if block.len() != k {
        return Err(len_range());
    }
    let mut em = Zeroizing::new(vec![0u8; k]);
    let raw = Mechanism::simple(CKM_RSA_X_509);
    // Init refusals are about the key (CKA_DECRYPT, type) and pass through.
    let n = match calls::decrypt(s, &raw, key, block, &mut em)? {
        Ok(n) => n,
        // Raw RSA refuses only an integer not below the modulus: public knowledge.
        Err(rv) if is_data_error(rv) => return Err(invalid()),
        Err(rv) => return Err(Error::rv(rv, "C_Decrypt")),
    };
    // Raw RSA output may come without its leading zero bytes.
    em.rotate_right(k - n.min(k));
    params.decode(&em).map_err(|_| invalid())
}

fn is_data_error(rv: CK_RV) -> bool {
    matches!(
        rv,
        CKR_GENERAL_ERROR
            | CKR_ENCRYPTED_DATA_INVALID
            | CKR_ENCRYPTED_DATA_LEN_RANGE
            | CKR_DATA_INVALID
            | CKR_DATA_LEN_RANGE
    )
}

/// CKM_RSA_PKCS_OAEP unwrap of a secret key with parameters the backend lacks.
pub fn oaep(
    pool: &Pool,
    params: &OaepParams,
    key: ObjectId,
    wrapped: &[u8],
    template: &[Attr],
) -> Result<ObjectId> {
    // What the backend's C_UnwrapKey checks of the template before decrypting.
    match attr::find(template, CKA_CLASS).and_then(Attr::as_ulong) {
        Some(CKO_SECRET_KEY) => {}
        Some(_) => {
            return Err(Error::rv(
                CKR_TEMPLATE_INCONSISTENT,
                "RSA-OAEP unwraps secret keys only",
            ))
        }
        None => return Err(Error::rv(CKR_TEMPLATE_INCOMPLETE, "CKA_CLASS")),
    }
    if attr::find(template, CKA_VALUE).is_some() {
        return Err(Error::rv(
            CKR_ATTRIBUTE_READ_ONLY,
            "CKA_VALUE in an unwrap template",
        ));
    }
    let s = pool.lend()?;
    let k = unwrapping_key(&s, key, CKM_RSA_PKCS_OAEP)?;
    let value = oaep_decrypt(&s, params, key, k, wrapped)?;
    let mut t = template.to_vec();
    t.push(Attr::new(CKA_VALUE, value.to_vec()));
    calls::create(&s, &t)
}

/// The ephemeral key of an RSA-AES unwrap, destroyed when dropped.
struct Ephemeral<'a, P: Borrow<Pool>> {
    s: &'a Lease<P>,
    id: ObjectId,
}

impl<P: Borrow<Pool>> Drop for Ephemeral<'_, P> {
    fn drop(&mut self) {
        calls::destroy(self.s, self.id);
    }
}

/// A session AES key good for one thing, unwrapping; never readable.
fn ephemeral_template() -> Vec<Attr> {
    let mut t = vec![
        Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attr::ulong(CKA_KEY_TYPE, CKK_AES),
        Attr::new(CKA_LABEL, EPHEMERAL_LABEL.to_vec()),
        Attr::new(CKA_ID, EPHEMERAL_ID.to_vec()),
        Attr::bool(CKA_TOKEN, false),
        Attr::bool(CKA_PRIVATE, true),
        Attr::bool(CKA_SENSITIVE, true),
        Attr::bool(CKA_EXTRACTABLE, false),
        Attr::bool(CKA_UNWRAP, true),
    ];
    for ty in [
        CKA_ENCRYPT,
        CKA_DECRYPT,
        CKA_WRAP,
        CKA_SIGN,
        CKA_VERIFY,
        CKA_DERIVE,
    ] {
        t.push(Attr::bool(ty, false));
    }
    t
}

/// CKM_RSA_AES_KEY_WRAP unwrap composed from OAEP and CKM_AES_KEY_WRAP_PAD.
pub fn rsa_aes(
    pool: &Pool,
    mech: &Mechanism,
    key: ObjectId,
    wrapped: &[u8],
    template: &[Attr],
) -> Result<ObjectId> {
    let (aes_len, oaep_mech) = mech.rsa_aes_parts()?;
    let composed = OaepParams::composed(&oaep_mech)?;
    let s = pool.lend()?;
    let k = unwrapping_key(&s, key, CKM_RSA_AES_KEY_WRAP)?;
    // RFC 5649 output is whole 8-byte blocks, at least two.
    if wrapped.len() < k + 16 || !(wrapped.len() - k).is_multiple_of(8) {
        return Err(len_range());
    }
    let (eph_blob, target_blob) = wrapped.split_at(k);
    let id = match &composed {
        // The backend's own OAEP: the ephemeral key never leaves it. (SoftHSM2 2.6
        // reports CKA_VALUE_LEN 0 for unwrapped keys, so its length is not checked
        // against ulAESKeyBits here; a key of an impossible length fails below.)
        None => calls::unwrap(&s, &native_oaep(), key, eph_blob, &ephemeral_template()).map_err(
            |rv| {
                let rv = fixups::correct_unwrap(&s, CKM_RSA_PKCS_OAEP, key, k, rv);
                Error::rv(rv, "C_UnwrapKey (RSA-AES ephemeral key)")
            },
        )?,
        Some(params) => {
            let value = oaep_decrypt(&s, params, key, k, eph_blob)?;
            if value.len() != aes_len {
                return Err(invalid());
            }
            let mut t = ephemeral_template();
            t.push(Attr::new(CKA_VALUE, value.to_vec()));
            calls::create(&s, &t)?
        }
    };
    let eph = Ephemeral { s: &s, id };
    let kwp = Mechanism::simple(CKM_AES_KEY_WRAP_PAD);
    calls::unwrap(&s, &kwp, eph.id, target_blob, template).map_err(|rv| {
        let rv = match fixups::correct_unwrap(&s, kwp.ty, eph.id, target_blob.len(), rv) {
            // The ephemeral key is ours: a refusal of it means the blob carried a
            // key of an impossible size.
            CKR_KEY_SIZE_RANGE | CKR_KEY_TYPE_INCONSISTENT => CKR_WRAPPED_KEY_INVALID,
            rv => rv,
        };
        Error::rv(rv, "C_UnwrapKey (RSA-AES target)")
    })
}
