//! What the call sites in `api/` hand the trail: an object's name, the name of a key
//! state change, the user type. Small, so the hooks there stay one line each.

use crate::error::Error;
use crate::instance::Instance;
use crate::kms::ids::split_version;
use crate::kms::record::{unix_now, State};
use crate::objects::{Kind, ObjEntry};
use crate::vendor::CKA_KMSBRIDGE_KEY_STATE;
use cryptoki_sys::*;
use kmsbridge_bridge::{attr, Attr};
use std::sync::Arc;

/// A key object's or record's name in the trail: its KMS key id.
pub(crate) fn object_name(inst: &Instance, e: &ObjEntry) -> Arc<str> {
    if e.kind == Kind::Record {
        if let Some(s) = inst.kms.get(inst, e.kid) {
            return s.rec.id.as_str().into();
        }
    }
    inst.audit.name_of(e.id)
}

/// The key id a template names (CKA_ID), for an object that may not exist.
pub(crate) fn template_name(t: &[Attr]) -> String {
    match attr::find(t, CKA_ID) {
        Some(a) if !a.value.is_empty() => hex::encode(split_version(&a.value).0),
        _ => "(no id)".into(),
    }
}

/// The lifecycle action a C_SetAttributeValue of CKA_KMSBRIDGE_KEY_STATE asks for.
pub(crate) fn state_change(inst: &Instance, e: &ObjEntry, t: &[Attr]) -> &'static str {
    let to = attr::find(t, CKA_KMSBRIDGE_KEY_STATE)
        .and_then(|a| a.as_ulong())
        .and_then(State::from_code);
    let from = inst
        .kms
        .get(inst, e.kid)
        .map(|s| s.rec.effective_state(unix_now()));
    match (from, to) {
        (Some(State::PendingDeletion), Some(State::Enabled)) => "cancel-deletion",
        (_, Some(State::Enabled)) => "enable",
        (_, Some(State::Disabled)) => "disable",
        (_, Some(State::PendingDeletion)) => "schedule-deletion",
        (_, Some(State::PendingImport)) => "delete-material",
        (_, None) => "set-state",
    }
}

/// The user type as the trail names it.
pub(crate) fn user(u: CK_USER_TYPE) -> &'static str {
    match u {
        CKU_SO => "so",
        CKU_USER => "user",
        CKU_CONTEXT_SPECIFIC => "context-specific",
        _ => "unknown-user-type",
    }
}

/// The action name of an operation's key use.
pub(crate) fn op_action(kind: kmsbridge_bridge::OpKind) -> &'static str {
    use kmsbridge_bridge::OpKind;
    match kind {
        OpKind::Encrypt => "encrypt",
        OpKind::Decrypt => "decrypt",
        OpKind::Sign => "sign",
        OpKind::Verify => "verify",
        OpKind::Digest => "digest",
    }
}

/// A failed login's reason: who tried and the code (never the PIN).
pub(crate) fn login_failed(u: CK_USER_TYPE, e: &Error) -> String {
    format!("{}: {}", user(u), reason(e))
}

/// An administrative call ended with `r`: its record.
pub(crate) fn admin_done<T>(
    inst: &Instance,
    action: &str,
    object: &str,
    r: &crate::error::Result<T>,
) {
    let why = r.as_ref().err().map(reason).unwrap_or_default();
    inst.audit.admin(None, action, object, r.is_ok(), &why);
}

/// The reason a refused call gives in the trail: the PKCS#11 code and the rule's text
/// (never an argument of the call).
pub(crate) fn reason(e: &Error) -> String {
    e.to_string()
}
