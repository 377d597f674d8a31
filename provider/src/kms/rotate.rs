//! Rotation of symmetric KMS keys (docs/KEYS.md, Rotation): the new version takes
//! the key id and alias; the old one is renamed `id#vN` and keeps only its
//! decrypting uses, so ciphertexts made under it stay readable.

use super::host::Host;
use super::ids::{self, split_version, version_id};
use super::lifecycle::record_for_key;
use super::record::unix_now;
use super::record::{as_ulong, read_attrs, Origin, State};
use crate::error::{rule, Result};
use cryptoki_sys::*;
use kmsbridge_bridge::{attr, Attr, Mechanism, ObjectId};

/// Uses an older version gives up: it may no longer make new ciphertexts or MACs.
pub(crate) const PRIMARY_ONLY: [CK_ATTRIBUTE_TYPE; 3] = [CKA_ENCRYPT, CKA_WRAP, CKA_SIGN];

/// Attributes a new version copies from the current one.
const COPIED: [CK_ATTRIBUTE_TYPE; 11] = [
    CKA_PRIVATE,
    CKA_SENSITIVE,
    CKA_EXTRACTABLE,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_DERIVE,
    CKA_VALUE_LEN,
];

/// C_GenerateKey(CKM_KMSBRIDGE_KEY_ROTATE, {CKA_ID}): the new primary version.
pub(crate) fn rotate(inst: &dyn Host, t: &[Attr]) -> Result<ObjectId> {
    let Some(id) = attr::find(t, CKA_ID).map(|a| a.value.to_vec()) else {
        return rule(CKR_TEMPLATE_INCOMPLETE, "rotation needs CKA_ID, the key id");
    };
    if inst
        .kms()
        .by_id(inst, &id)
        .is_some_and(|s| s.rec.origin == Origin::External)
    {
        return rule(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "keys with imported material are not rotated",
        );
    }
    let found = inst.backend().find(&[
        Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attr::new(CKA_ID, id.clone()),
    ])?;
    let [old] = found[..] else {
        return rule(
            CKR_TEMPLATE_INCONSISTENT,
            "no single symmetric key has this id",
        );
    };
    let (_, entry) = inst.discover(old)?;
    let stored = match inst.kms().by_id(inst, &id) {
        Some(s) => s,
        None => record_for_key(inst, &entry)?,
    };
    let mut r = (*stored.rec).clone();
    if r.origin == Origin::External {
        return rule(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "keys with imported material are not rotated",
        );
    }
    if r.effective_state(unix_now()) != State::Enabled {
        return rule(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "only an enabled key is rotated",
        );
    }
    let [label, key_type] = read_attrs(inst, old, &[CKA_LABEL, CKA_KEY_TYPE])?;
    let label = label.unwrap_or_default();
    let key_type = as_ulong(&key_type).unwrap_or(CK_UNAVAILABLE_INFORMATION);
    let mech = match key_type {
        CKK_AES => CKM_AES_KEY_GEN,
        CKK_GENERIC_SECRET => CKM_GENERIC_SECRET_KEY_GEN,
        _ => {
            return rule(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                "only AES and generic secret keys rotate",
            )
        }
    };
    let copied = read_attrs(inst, old, &COPIED)?;
    let temp_id = ids::service_id(inst.backend(), "rotating")?;
    let mut tmpl = vec![
        Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attr::ulong(CKA_KEY_TYPE, key_type),
        Attr::bool(CKA_TOKEN, true),
        Attr::new(CKA_ID, temp_id),
        Attr::new(CKA_LABEL, label.clone()),
    ];
    for (ty, v) in COPIED.iter().zip(copied) {
        if let Some(v) = v {
            tmpl.push(Attr::new(*ty, v));
        }
    }
    let new = inst
        .backend()
        .generate_key(&Mechanism::simple(mech), &tmpl)?;
    let n = r.primary_version;
    let mut old_label = label.clone();
    old_label.extend_from_slice(&version_id(b"", n));
    let mut demote = vec![
        Attr::new(CKA_ID, version_id(&id, n)),
        Attr::new(CKA_LABEL, old_label),
    ];
    demote.extend(PRIMARY_ONLY.iter().map(|ty| Attr::bool(*ty, false)));
    if let Err(e) = inst.backend().set_attributes(old, &demote) {
        let _ = inst.backend().destroy_object(new);
        return Err(e.into());
    }
    let promote = [
        Attr::new(CKA_ID, id.clone()),
        Attr::new(CKA_LABEL, label.clone()),
    ];
    if let Err(e) = inst.backend().set_attributes(new, &promote) {
        let _ = inst.backend().set_attributes(old, &promote);
        let _ = inst.backend().destroy_object(new);
        return Err(e.into());
    }
    r.primary_version = n + 1;
    inst.kms().save(inst, &r)?;
    tracing::info!(key = %r.id, version = n + 1, "key rotated");
    Ok(new)
}

/// An older version may not get back the uses it gave up.
pub(crate) fn check_older_version(
    inst: &dyn Host,
    e: &crate::objects::ObjEntry,
    t: &[Attr],
) -> Result<()> {
    let regains = t
        .iter()
        .any(|a| PRIMARY_ONLY.contains(&a.ty) && a.as_bool() == Some(true));
    if !regains || e.kid == 0 {
        return Ok(());
    }
    let [id] = read_attrs(inst, e.id, &[CKA_ID])?;
    let id = id.unwrap_or_default();
    if split_version(&id).1.is_some() {
        return rule(
            CKR_ATTRIBUTE_READ_ONLY,
            "an older key version only decrypts, unwraps and verifies",
        );
    }
    Ok(())
}

/// A find for `CKA_ID` = key id and `CKA_KMSBRIDGE_KEY_VERSION` = N looks for the
/// object that holds version N.
pub(crate) fn version_template(inst: &dyn Host, std: &mut [Attr], vendor: &[Attr]) {
    let Some(n) =
        attr::find(vendor, crate::vendor::CKA_KMSBRIDGE_KEY_VERSION).and_then(|a| a.as_ulong())
    else {
        return;
    };
    let Some(a) = std.iter_mut().find(|a| a.ty == CKA_ID) else {
        return;
    };
    let primary = inst
        .kms()
        .by_id(inst, &a.value)
        .map(|s| s.rec.primary_version)
        .unwrap_or(1);
    if n != primary {
        *a = Attr::new(CKA_ID, version_id(&a.value, n));
    }
}
