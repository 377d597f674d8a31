//! Key states and their transitions (docs/KEYS.md, Lifecycle), set by applications
//! through CKA_KMSBRIDGE_KEY_STATE on a key or on its record.

use super::host::Host;
use super::ids::split_version;
use super::record::unix_now;
use super::record::{as_ulong, read_attrs, KeyRecord, Origin, State};
use super::registry::{destroy_material, Stored};
use crate::error::{rule, Result};
use crate::objects::{Kind, ObjEntry};
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_bridge::Attr;

const DAY: u64 = 86_400;

/// C_SetAttributeValue with vendor attributes.
pub(crate) fn set(inst: &dyn Host, e: &ObjEntry, t: &[Attr]) -> Result<()> {
    let mut state = None;
    let mut days = None;
    for a in t {
        match a.ty {
            CKA_KMSBRIDGE_KEY_STATE => state = Some(a.as_ulong()),
            CKA_KMSBRIDGE_PENDING_WINDOW_DAYS => days = Some(a.as_ulong()),
            ty if (CKA_KMSBRIDGE_BASE..=CKA_KMSBRIDGE_CREATED).contains(&ty) => {
                return rule(
                    CKR_ATTRIBUTE_READ_ONLY,
                    "this kmsbridge attribute is read-only",
                )
            }
            ty if ty >= CKA_VENDOR_DEFINED => {
                return rule(
                    CKR_ATTRIBUTE_TYPE_INVALID,
                    "vendor attribute not known to kmsbridge",
                )
            }
            _ if e.kind == Kind::Record => {
                return rule(
                    CKR_ATTRIBUTE_READ_ONLY,
                    "a key record changes only its state",
                )
            }
            _ => {}
        }
    }
    let Some(state) = state else {
        return rule(
            CKR_TEMPLATE_INCONSISTENT,
            "CKA_KMSBRIDGE_PENDING_WINDOW_DAYS goes with a state change",
        );
    };
    let to = state
        .and_then(State::from_code)
        .ok_or(crate::error::Error::Rule {
            rv: CKR_ATTRIBUTE_VALUE_INVALID,
            why: "unknown key state",
        })?;
    let stored = match inst.kms().get(inst, e.kid) {
        Some(s) => s,
        None if e.kind == Kind::Plain => record_for_key(inst, e)?,
        None => return rule(CKR_OBJECT_HANDLE_INVALID, "the key record is gone"),
    };
    let mut r = (*stored.rec).clone();
    let now = unix_now();
    let from = r.effective_state(now);
    match (from, to) {
        (State::Enabled | State::Disabled, State::Enabled | State::Disabled) => r.state = to,
        (State::PendingDeletion, State::Enabled) => {
            r.state = State::Enabled;
            r.deletion_date = 0;
        }
        (State::Enabled | State::Disabled | State::PendingImport, State::PendingDeletion) => {
            let d = match days {
                None => 30,
                Some(Some(d)) if (7..=30).contains(&d) => d,
                Some(_) => {
                    return rule(
                        CKR_ATTRIBUTE_VALUE_INVALID,
                        "the pending window is 7 to 30 days",
                    )
                }
            };
            r.state = State::PendingDeletion;
            r.deletion_date = now + d as u64 * DAY;
        }
        (State::Enabled | State::Disabled, State::PendingImport)
            if r.origin == Origin::External =>
        {
            destroy_material(inst, &r)?;
            r.state = State::PendingImport;
            r.material_expiry = 0;
        }
        _ => {
            tracing::info!(key = %r.id, ?from, ?to, "state change refused");
            return rule(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "this key state change is not allowed",
            );
        }
    }
    tracing::info!(key = %r.id, ?from, to = ?r.state, "key state changed");
    inst.kms().save(inst, &r)?;
    Ok(())
}

/// A record for a key an application made without one, on its first need.
pub(crate) fn record_for_key(inst: &dyn Host, e: &ObjEntry) -> Result<Stored> {
    let [id, label, key_type, value_len, modulus, ec_params, local] = read_attrs(
        inst,
        e.id,
        &[
            CKA_ID,
            CKA_LABEL,
            CKA_KEY_TYPE,
            CKA_VALUE_LEN,
            CKA_MODULUS,
            CKA_EC_PARAMS,
            CKA_LOCAL,
        ],
    )?;
    let id = match &id {
        Some(id) if !id.is_empty() && id.len() <= 128 => split_version(id).0.to_vec(),
        _ => {
            return rule(
                CKR_TEMPLATE_INCONSISTENT,
                "only a key with a CKA_ID of 1 to 128 bytes has a KMS record",
            )
        }
    };
    if let Some(s) = inst.kms().by_id(inst, &id) {
        return Ok(s);
    }
    let label = label.unwrap_or_default();
    let alias = String::from_utf8_lossy(split_version(&label).0).into_owned();
    let key_type = as_ulong(&key_type).unwrap_or(CK_UNAVAILABLE_INFORMATION);
    let (class, size) = match e.class {
        CKO_SECRET_KEY => (CKO_SECRET_KEY, as_ulong(&value_len).unwrap_or(0)),
        _ => (
            CKO_PRIVATE_KEY,
            modulus
                .as_ref()
                .map(|m| m.len() as CK_ULONG * 8)
                .unwrap_or(0),
        ),
    };
    let origin = if local.as_deref() == Some(&[1][..]) {
        Origin::Kms
    } else {
        Origin::External
    };
    let rec = KeyRecord {
        class,
        key_type,
        size,
        ec_params: ec_params.as_ref().map(hex::encode).unwrap_or_default(),
        ..KeyRecord::new(&id, alias, origin, State::Enabled)
    };
    inst.kms().save(inst, &rec)?;
    inst.kms()
        .by_id(inst, &id)
        .ok_or(crate::error::Error::Rule {
            rv: CKR_GENERAL_ERROR,
            why: "key record vanished",
        })
}
