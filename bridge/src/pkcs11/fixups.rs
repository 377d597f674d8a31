//! Corrections of known backend deviations from the spec (tests/DEVIATIONS.md),
//! applied on error paths only, so they cost nothing when calls succeed.

use super::pool::{Lease, Pool, PooledSession};
use crate::backend::{ObjectId, OpKind};
use crate::{MechParam, Mechanism};
use cryptoki_sys::*;
use std::borrow::Borrow;

/// What an operation must remember to correct its backend's errors.
#[derive(Clone, Copy, Debug)]
pub struct FixCtx {
    pub kind: OpKind,
    pub mech: CK_MECHANISM_TYPE,
    /// For OAEP: the hash length that bounds the message.
    pub oaep_hlen: usize,
    pub key: ObjectId,
}

impl FixCtx {
    pub fn new(kind: OpKind, mech: &Mechanism, key: Option<ObjectId>) -> FixCtx {
        let oaep_hlen = match &mech.param {
            MechParam::Oaep { hash, .. } => match *hash {
                CKM_SHA224 => 28,
                CKM_SHA256 => 32,
                CKM_SHA384 => 48,
                CKM_SHA512 => 64,
                _ => 20,
            },
            _ => 0,
        };
        FixCtx {
            kind,
            mech: mech.ty,
            oaep_hlen,
            key: key.unwrap_or(CK_INVALID_HANDLE),
        }
    }
}

/// A single-part call the backend must not see, with the code the spec asks for:
/// SoftHSM2 2.6 ends the process on raw RSA (CKM_RSA_X_509) input longer than the
/// modulus (SH-20), so that input is CKR_DATA_LEN_RANGE here. The modulus is read only
/// for input longer than the smallest modulus anyone makes (512 bits).
pub fn refuse(s: &PooledSession, ctx: &FixCtx, input_len: usize) -> Option<CK_RV> {
    match (ctx.kind, ctx.mech) {
        (OpKind::Encrypt | OpKind::Sign, CKM_RSA_X_509) if input_len > 64 => {
            let k = modulus_len(s, ctx.key)?;
            (input_len > k).then_some(CKR_DATA_LEN_RANGE)
        }
        _ => None,
    }
}

/// The code the spec asks for where the backend answered `rv` to a call with
/// `input_len` bytes of input.
pub fn correct(s: &PooledSession, ctx: &FixCtx, rv: CK_RV, input_len: usize) -> CK_RV {
    if rv != CKR_GENERAL_ERROR {
        return rv;
    }
    match (ctx.kind, ctx.mech) {
        // SH-07: a failed tag or padding check is an invalid ciphertext.
        (OpKind::Decrypt, CKM_AES_GCM | CKM_AES_CBC_PAD | CKM_DES3_CBC_PAD | CKM_DES_CBC_PAD) => {
            CKR_ENCRYPTED_DATA_INVALID
        }
        // SH-07: so is a failed OAEP or PKCS#1 decoding; a ciphertext that is not
        // one modulus long is out of range.
        (OpKind::Decrypt, CKM_RSA_PKCS | CKM_RSA_PKCS_OAEP) => match modulus_len(s, ctx.key) {
            Some(k) if k != input_len => CKR_ENCRYPTED_DATA_LEN_RANGE,
            Some(_) => CKR_ENCRYPTED_DATA_INVALID,
            None => rv,
        },
        // SH-08: RSA input beyond what the modulus can carry is out of range.
        (OpKind::Encrypt | OpKind::Sign, CKM_RSA_PKCS | CKM_RSA_X_509 | CKM_RSA_PKCS_OAEP) => {
            let Some(k) = modulus_len(s, ctx.key) else {
                return rv;
            };
            let limit = match ctx.mech {
                CKM_RSA_PKCS => k.saturating_sub(11),
                CKM_RSA_X_509 => k,
                _ => k.saturating_sub(2 * ctx.oaep_hlen + 2),
            };
            if input_len > limit {
                CKR_DATA_LEN_RANGE
            } else {
                rv
            }
        }
        _ => rv,
    }
}

/// The code the spec asks for where the backend answered `rv` to a C_UnwrapKey of
/// `wrapped_len` bytes with `mech` under `key`. SoftHSM2 2.6 answers
/// CKR_GENERAL_ERROR to every unwrap whose blob does not decrypt (bad OAEP or
/// PKCS#1 padding, failed AES key wrap integrity check, wrong RSA blob length).
pub fn correct_unwrap<P: Borrow<Pool>>(
    s: &Lease<P>,
    mech: CK_MECHANISM_TYPE,
    key: ObjectId,
    wrapped_len: usize,
    rv: CK_RV,
) -> CK_RV {
    if rv != CKR_GENERAL_ERROR {
        return rv;
    }
    match mech {
        CKM_RSA_PKCS | CKM_RSA_PKCS_OAEP => match modulus_len(s, key) {
            Some(k) if k != wrapped_len => CKR_WRAPPED_KEY_LEN_RANGE,
            Some(_) => CKR_WRAPPED_KEY_INVALID,
            None => rv,
        },
        CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP => CKR_WRAPPED_KEY_INVALID,
        _ => rv,
    }
}

/// Bytes of an RSA key's modulus (CKA_MODULUS's length), read on `s`.
pub fn modulus_len<P: Borrow<Pool>>(s: &Lease<P>, key: ObjectId) -> Option<usize> {
    let mut a = CK_ATTRIBUTE {
        type_: CKA_MODULUS,
        pValue: std::ptr::null_mut(),
        ulValueLen: 0,
    };
    let rv = s.lib().call(
        |l| l.C_GetAttributeValue,
        // SAFETY: one attribute, `a`, with no value buffer: the library writes only
        // its length into `a`, which lives for the call.
        |f| unsafe { f(s.handle(), key, &mut a, 1) },
    );
    (rv == CKR_OK && a.ulValueLen != CK_UNAVAILABLE_INFORMATION).then_some(a.ulValueLen as usize)
}
