//! The instance's refusals, as one line that says what happened and what to do. The
//! same code means different things for different operations (CKR_ATTRIBUTE_VALUE_INVALID
//! is a forbidden transition on a state change), so each caller says what it was doing.

use super::vendor::*;
use crate::module::Error;
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki_sys::CK_ULONG;
use std::fmt;

/// A refusal: the command was well formed but the instance (or the CLI's own checks)
/// said no. `main` exits 1 on it, as on any error that is not a usage error.
#[derive(Debug)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

pub fn refused(msg: impl Into<String>) -> Error {
    Box::new(Refusal(msg.into()))
}

/// What the CLI was doing when the instance answered.
pub enum Op<'a> {
    Login,
    Find,
    Create,
    /// A state change of KEY from the state it had to `to`.
    SetState {
        key: &'a str,
        from: Option<CK_ULONG>,
        origin: Option<CK_ULONG>,
        to: CK_ULONG,
    },
    Rotate {
        key: &'a str,
        origin: Option<CK_ULONG>,
        state: Option<CK_ULONG>,
    },
    Parameters(&'a str),
    Import {
        key: &'a str,
        spec: &'a str,
        /// The `--algorithm` word.
        algorithm: &'a str,
    },
}

impl Op<'_> {
    fn what(&self) -> String {
        match self {
            Op::Login => "logging in".into(),
            Op::Find => "looking up keys".into(),
            Op::Create => "creating the key".into(),
            Op::SetState { key, to, .. } => {
                format!("changing key {key} to {}", state_name(*to))
            }
            Op::Rotate { key, .. } => format!("rotating key {key}"),
            Op::Parameters(key) => format!("getting import parameters for key {key}"),
            Op::Import { key, .. } => format!("importing key material into key {key}"),
        }
    }

    fn key(&self) -> &str {
        match self {
            Op::SetState { key, .. }
            | Op::Rotate { key, .. }
            | Op::Parameters(key)
            | Op::Import { key, .. } => key,
            _ => "KEY",
        }
    }
}

/// Turn a PKCS#11 failure during `op` into a one-line refusal.
pub fn explain(e: P11Error, op: Op<'_>) -> Error {
    let rv = match &e {
        P11Error::Pkcs11(rv, _) => *rv,
        _ => return refused(format!("{} failed: {e}", op.what())),
    };
    let key = op.key();
    let new_params = format!(
        "run `kmsbridge import get-parameters {key}` again and wrap the material under the new public key"
    );
    let msg = match (rv, &op) {
        (RvError::VendorDefined(CKR_KMSBRIDGE_IMPORT_TOKEN_INVALID), _) => format!(
            "the import token is unknown or malformed: give --token the token file that `kmsbridge import get-parameters {key}` wrote, or {new_params}"
        ),
        (RvError::VendorDefined(CKR_KMSBRIDGE_IMPORT_TOKEN_EXPIRED), _) => {
            format!("the import token has expired: {new_params}")
        }
        (RvError::VendorDefined(CKR_KMSBRIDGE_IMPORT_TOKEN_USED), _) => format!(
            "the import token was already used (a token serves one import attempt): {new_params}"
        ),
        (RvError::VendorDefined(CKR_KMSBRIDGE_IMPORT_TOKEN_KEY_ID), _) => format!(
            "the import token was issued for another key: use the token of `kmsbridge import get-parameters {key}`"
        ),
        (RvError::VendorDefined(CKR_KMSBRIDGE_MATERIAL_MISMATCH), _) => format!(
            "key {key} had other material before, and a key only takes back the same material: import this material into a new key (`kmsbridge key create --origin external`)"
        ),
        (
            RvError::KeyFunctionNotPermitted | RvError::TemplateInconsistent,
            Op::Rotate { origin, state, .. },
        ) => {
            if *origin == Some(ORIGIN_EXTERNAL) {
                format!(
                    "key {key} holds imported material (origin EXTERNAL) and cannot be rotated: create a new key and import new material into it"
                )
            } else if let Some(s) = state.filter(|s| *s != STATE_ENABLED) {
                format!(
                    "key {key} is {} and cannot be rotated: only an Enabled key of origin KMS can",
                    state_name(s)
                )
            } else {
                format!(
                    "key {key} cannot be rotated: only a symmetric key of origin KMS can (see `kmsbridge key describe {key}`)"
                )
            }
        }
        (RvError::KeyFunctionNotPermitted, Op::Import { .. }) => format!(
            "key {key} does not take an import in its present state: see `kmsbridge key describe {key}`"
        ),
        (RvError::KeyFunctionNotPermitted, _) => format!(
            "key {key} may not be used for this (not Enabled, or its material expired): see `kmsbridge key describe {key}`"
        ),
        (
            RvError::AttributeValueInvalid,
            Op::SetState {
                from, origin, to, ..
            },
        ) => transition(key, *from, *origin, *to),
        (RvError::ActionProhibited, _) => format!(
            "the instance prohibits {} (CKR_ACTION_PROHIBITED): KMS keys go only through their lifecycle, deleted by `kmsbridge key schedule-deletion {key}`",
            op.what()
        ),
        (RvError::TemplateInconsistent, Op::Parameters(_)) => format!(
            "key {key} is not of origin EXTERNAL: import parameters are only for keys made with `kmsbridge key create --origin external`"
        ),
        (RvError::TemplateInconsistent, Op::Import { spec, .. }) => format!(
            "key {key} does not take this material: its record must be of origin EXTERNAL and the material a {spec} key"
        ),
        (
            RvError::WrappedKeyInvalid | RvError::EncryptedDataInvalid | RvError::FunctionFailed,
            Op::Import { spec, .. },
        ) => {
            // A private key's material that is not PKCS#8 fails here too, on some
            // backends as a plain CKR_FUNCTION_FAILED.
            let pkcs8 = if spec.starts_with("aes") {
                ""
            } else {
                ", or material that is not PKCS#8 PrivateKeyInfo DER (`openssl pkcs8 -topk8 -nocrypt -outform DER`)"
            };
            format!(
                "the blob does not unwrap under this token's import key (wrong public key, --algorithm other than the one it was wrapped with{pkcs8}); the token is spent: {new_params}"
            )
        }
        (RvError::WrappedKeyLenRange, Op::Import { spec, .. }) => format!(
            "the material is not of the size key {key} needs ({spec}): wrap the right material; the token is spent, so {new_params}"
        ),
        (RvError::FunctionNotSupported, Op::Import { .. }) => format!(
            "the instance cannot do this import (CKR_FUNCTION_NOT_SUPPORTED): into key {key}, which had material before, its backend cannot check that the material is the same; import into a new key (`kmsbridge key create --origin external`)"
        ),
        (RvError::UnwrappingKeyHandleInvalid, Op::Import { .. }) => format!(
            "the import key that issued this token is gone: {new_params}"
        ),
        (RvError::MechanismInvalid, Op::Import { algorithm, spec, .. })
            if algorithm.starts_with("RSAES_OAEP") && !spec.starts_with("aes") =>
        {
            format!(
                "key {key} is a private key ({spec}): its material (PKCS#8 DER) is wrapped with RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256, not {algorithm}"
            )
        }
        (
            RvError::MechanismInvalid | RvError::MechanismParamInvalid,
            Op::Import { algorithm, .. },
        ) => format!(
            "the instance cannot import {algorithm} blobs for key {key} ({}): wrap the material with another --algorithm (RSAES_OAEP_SHA_256 for AES keys); the token is spent, so {new_params}",
            ckr_name(rv)
        ),
        (RvError::MechanismInvalid | RvError::MechanismParamInvalid, _) => format!(
            "the instance does not support what {} needs ({}): is libkmsbridge.so as new as this CLI?",
            op.what(),
            ckr_name(rv)
        ),
        (RvError::PinIncorrect, _) => {
            "the user PIN was refused: check --pin or KMSBRIDGE_USER_PIN".into()
        }
        (RvError::PinLocked, _) => {
            "the user PIN is locked after too many wrong attempts: the SO must set a new one".into()
        }
        (RvError::UserPinNotInitialized, _) => {
            "the instance has no user PIN yet: run `kmsbridge init`".into()
        }
        (RvError::AttributeReadOnly, _) => format!(
            "{} failed: the instance answered CKR_ATTRIBUTE_READ_ONLY (an attribute it may not change)",
            op.what()
        ),
        (RvError::VendorDefined(code), _) => format!(
            "{} failed: the instance answered the vendor code {code:#x}, which this CLI does not know",
            op.what()
        ),
        _ => format!("{} failed: the instance answered {}", op.what(), ckr_name(rv)),
    };
    refused(msg)
}

/// Why a state change was not allowed (docs/KEYS.md § Lifecycle), and what to do.
fn transition(key: &str, from: Option<CK_ULONG>, origin: Option<CK_ULONG>, to: CK_ULONG) -> String {
    let is = from
        .map(|s| format!("key {key} is {}", state_name(s)))
        .unwrap_or_else(|| format!("key {key} is in a state"));
    let hint = match (from, to) {
        (Some(STATE_PENDING_IMPORT), STATE_ENABLED) => format!(
            "it has no material: import it (`kmsbridge import get-parameters {key}`, then `kmsbridge import key-material {key} ...`)"
        ),
        (Some(STATE_PENDING_DELETION), STATE_DISABLED) => format!(
            "cancel the deletion first (`kmsbridge key cancel-deletion {key}`)"
        ),
        (Some(STATE_PENDING_DELETION), STATE_PENDING_DELETION) => {
            "its deletion is already scheduled".into()
        }
        (Some(s), STATE_ENABLED) if s == STATE_ENABLED => "it is already Enabled".into(),
        (Some(s), STATE_DISABLED) if s == STATE_DISABLED => "it is already Disabled".into(),
        (_, STATE_PENDING_IMPORT) if origin == Some(ORIGIN_KMS) => format!(
            "only imported material (origin EXTERNAL) can be deleted: disable the key (`kmsbridge key disable {key}`) or schedule its deletion"
        ),
        (_, STATE_PENDING_IMPORT) => {
            "only an Enabled or Disabled key's material can be deleted".into()
        }
        _ => "see docs/KEYS.md, Lifecycle, for the allowed changes".into(),
    };
    format!("{is}, which cannot change to {}: {hint}", state_name(to))
}

/// `TemplateInconsistent` to `CKR_TEMPLATE_INCONSISTENT`: the name the docs use, shorter
/// than cryptoki's sentence for it.
pub fn ckr_name(rv: RvError) -> String {
    let mut name = String::from("CKR");
    for c in format!("{rv:?}").chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}
