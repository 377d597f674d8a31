//! The SO's view of the access points: CKO_KMSBRIDGE_ACCESS_POINT objects, created,
//! read, changed and destroyed through PKCS#11 (what `kmsbridge aap` calls). Only the
//! logged-in SO sees them; changes need a R/W session. Access points of the
//! configuration file are shown read-only.

use super::lockout;
use super::points::{entry, ApEntry};
use super::record::{valid_name, ApRecord, CredRecord};
use crate::error::{rule, Error, Result};
use crate::instance::{Instance, Login};
use crate::kms::ids::hash_id;
use crate::kms::record::unix_now;
use crate::objects::{Kind, ObjEntry};
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_access::credential::{ClientKey, CredentialId, StoredCredential};
use kmsbridge_bridge::{attr, Attr, AttrReq};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

fn so_only(inst: &Instance) -> Result<()> {
    if inst.login_state() != Login::So {
        return rule(
            CKR_USER_NOT_LOGGED_IN,
            "access points are administered by the SO",
        );
    }
    Ok(())
}

fn text(t: &[Attr], ty: CK_ATTRIBUTE_TYPE) -> Result<Option<String>> {
    match attr::find(t, ty) {
        None => Ok(None),
        Some(a) => match std::str::from_utf8(&a.value) {
            Ok(s) => Ok(Some(s.to_string())),
            Err(_) => rule(CKR_ATTRIBUTE_VALUE_INVALID, "text attributes are UTF-8"),
        },
    }
}

/// The front handle of an access point, the same while the SO stays logged in.
fn handle(inst: &Instance, name: &str) -> CK_OBJECT_HANDLE {
    let kid = hash_id(name.as_bytes());
    if let Some(h) = inst.access.handles.lock().get(&kid).copied() {
        if inst
            .objects
            .get(h)
            .is_some_and(|e| e.kind == Kind::AccessPoint)
        {
            return h;
        }
    }
    let h = inst.objects.insert_unbound(ObjEntry {
        id: kid,
        token: true,
        private: true,
        class: CKO_KMSBRIDGE_ACCESS_POINT,
        key_type: None,
        always_auth: false,
        owner: None,
        kind: Kind::AccessPoint,
        kid,
    });
    inst.access.handles.lock().insert(kid, h);
    h
}

fn ap_of(inst: &Instance, e: &ObjEntry) -> Result<Arc<ApEntry>> {
    match inst.access.points.by_hash(&*inst.backend, e.kid) {
        Some(ap) => Ok(ap),
        None => rule(CKR_OBJECT_HANDLE_INVALID, "the access point was deleted"),
    }
}

/// A policy's text, checked before it is stored.
fn checked_policy(policy: &str) -> Result<()> {
    if let Err(e) = entry(
        ApRecord {
            policy: policy.to_string(),
            ..Default::default()
        },
        false,
    ) {
        tracing::warn!("policy refused: {e}");
        return rule(CKR_ATTRIBUTE_VALUE_INVALID, "the policy does not parse");
    }
    Ok(())
}

/// C_FindObjects with CKA_CLASS = CKO_KMSBRIDGE_ACCESS_POINT.
pub(crate) fn find(inst: &Instance, t: &[Attr]) -> Result<Vec<CK_OBJECT_HANDLE>> {
    if inst.login_state() != Login::So {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for ap in inst.access.points.all(&*inst.backend) {
        let matches = t
            .iter()
            .all(|a| value(inst, &ap, a.ty).is_some_and(|v| v[..] == a.value[..]));
        if matches {
            out.push(handle(inst, &ap.rec.name));
        }
    }
    Ok(out)
}

/// C_CreateObject of an access point: CKA_LABEL (its name), optional CKA_VALUE (the
/// policy) and CKA_KMSBRIDGE_DESCRIPTION.
pub(crate) fn create(inst: &Instance, rw: bool, t: &[Attr]) -> Result<CK_OBJECT_HANDLE> {
    let r = create_unaudited(inst, rw, t);
    let name = text(t, CKA_LABEL).ok().flatten().unwrap_or_default();
    crate::audit::hooks::admin_done(inst, "aap-create", &format!("aap/{name}"), &r);
    r
}

fn create_unaudited(inst: &Instance, rw: bool, t: &[Attr]) -> Result<CK_OBJECT_HANDLE> {
    so_only(inst)?;
    if !rw {
        return rule(
            CKR_SESSION_READ_ONLY,
            "access point changes need a R/W session",
        );
    }
    for a in t {
        match a.ty {
            CKA_CLASS | CKA_LABEL | CKA_VALUE | CKA_KMSBRIDGE_DESCRIPTION => {}
            CKA_TOKEN | CKA_PRIVATE if a.as_bool() == Some(true) => {}
            _ => return rule(CKR_ATTRIBUTE_TYPE_INVALID, "not an access point attribute"),
        }
    }
    let Some(name) = text(t, CKA_LABEL)? else {
        return rule(
            CKR_TEMPLATE_INCOMPLETE,
            "an access point needs a name (CKA_LABEL)",
        );
    };
    if !valid_name(&name) {
        return rule(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "access point names are 1 to 64 of A-Z a-z 0-9 . _ -",
        );
    }
    if name == super::DEFAULT_NAME {
        return rule(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "\"default\" is the user PIN's access point",
        );
    }
    let backend = &*inst.backend;
    if inst
        .access
        .points
        .all(backend)
        .iter()
        .any(|a| a.rec.name == name)
    {
        return rule(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "an access point of this name exists",
        );
    }
    let policy = text(t, CKA_VALUE)?.unwrap_or_default();
    checked_policy(&policy)?;
    let rec = ApRecord {
        name: name.clone(),
        description: text(t, CKA_KMSBRIDGE_DESCRIPTION)?.unwrap_or_default(),
        policy,
        created: unix_now(),
        credentials: Vec::new(),
    };
    inst.access.points.save(backend, &rec)?;
    tracing::info!(instance = %inst.name, access_point = %name, "access point created");
    Ok(handle(inst, &name))
}

pub(crate) fn destroy(inst: &Instance, rw: bool, h: CK_OBJECT_HANDLE, e: &ObjEntry) -> Result<()> {
    let r = destroy_unaudited(inst, rw, h, e);
    crate::audit::hooks::admin_done(inst, "aap-delete", &audit_name(inst, e), &r);
    r
}

/// How the trail names an access point object.
fn audit_name(inst: &Instance, e: &ObjEntry) -> String {
    inst.access
        .points
        .by_hash(&*inst.backend, e.kid)
        .map_or_else(|| "aap/?".to_string(), |ap| format!("aap/{}", ap.rec.name))
}

/// The trail's action for a change of an access point.
fn set_action(t: &[Attr]) -> &'static str {
    let has = |ty| attr::find(t, ty).is_some();
    if has(CKA_KMSBRIDGE_CREDENTIAL_ADD) {
        "aap-credential-add"
    } else if has(CKA_KMSBRIDGE_CREDENTIAL_REVOKE) {
        "aap-credential-revoke"
    } else if has(CKA_KMSBRIDGE_CREDENTIAL_UNLOCK) {
        "aap-credential-unlock"
    } else if has(CKA_VALUE) {
        "aap-policy-set"
    } else {
        "aap-update"
    }
}

fn destroy_unaudited(inst: &Instance, rw: bool, h: CK_OBJECT_HANDLE, e: &ObjEntry) -> Result<()> {
    so_only(inst)?;
    if !rw {
        return rule(
            CKR_SESSION_READ_ONLY,
            "access point changes need a R/W session",
        );
    }
    let ap = ap_of(inst, e)?;
    if ap.configured {
        return rule(CKR_ACTION_PROHIBITED, "defined in the configuration file");
    }
    for c in &ap.rec.credentials {
        if let Some(id) = c.id() {
            lockout::clear(&*inst.backend, &id.to_string())?;
        }
    }
    inst.access.points.remove(&*inst.backend, &ap.rec.name)?;
    inst.objects.remove(h);
    tracing::info!(instance = %inst.name, access_point = %ap.rec.name, "access point deleted");
    Ok(())
}

/// The value of one attribute of an access point, if it has it.
fn value(inst: &Instance, ap: &ApEntry, ty: CK_ATTRIBUTE_TYPE) -> Option<Vec<u8>> {
    let ulong = |v: CK_ULONG| v.to_ne_bytes().to_vec();
    Some(match ty {
        CKA_CLASS => ulong(CKO_KMSBRIDGE_ACCESS_POINT),
        CKA_TOKEN | CKA_PRIVATE => vec![CK_TRUE],
        CKA_MODIFIABLE | CKA_DESTROYABLE => vec![(!ap.configured) as u8],
        CKA_KMSBRIDGE_CONFIGURED => vec![ap.configured as u8],
        CKA_LABEL => ap.rec.name.as_bytes().to_vec(),
        CKA_VALUE => ap.rec.policy.as_bytes().to_vec(),
        CKA_KMSBRIDGE_DESCRIPTION => ap.rec.description.as_bytes().to_vec(),
        CKA_KMSBRIDGE_CREATED => ulong(ap.rec.created as CK_ULONG),
        CKA_KMSBRIDGE_CREDENTIALS => credentials(inst, ap).into_bytes(),
        _ => return None,
    })
}

/// The credentials, without their hashes, as TOML `[[credential]]` tables.
fn credentials(inst: &Instance, ap: &ApEntry) -> String {
    let mut out = String::new();
    for c in &ap.rec.credentials {
        let Some(id) = c.id() else { continue };
        let failures = lockout::failures(&*inst.backend, &id.to_string()).unwrap_or(0);
        out.push_str(&format!(
            "[[credential]]\nid = \"{id}\"\nnot_before = {}\nnot_after = {}\ncreated = {}\nfailures = {failures}\nlocked = {}\n\n",
            c.not_before,
            c.not_after,
            c.created,
            failures >= inst.access.max_failures as usize
        ));
    }
    out
}

pub(crate) fn get(inst: &Instance, e: &ObjEntry, reqs: &mut [AttrReq]) -> Result<CK_RV> {
    let ap = ap_of(inst, e)?;
    let mut rv = CKR_OK;
    for r in reqs.iter_mut() {
        let code = match value(inst, &ap, r.ty) {
            Some(v) => r.answer(&v),
            None => {
                r.len = CK_UNAVAILABLE_INFORMATION;
                CKR_ATTRIBUTE_TYPE_INVALID
            }
        };
        if rv == CKR_OK {
            rv = code;
        }
    }
    Ok(rv)
}

fn credential_id(t: &[Attr], ty: CK_ATTRIBUTE_TYPE) -> Result<Option<CredentialId>> {
    match text(t, ty)? {
        None => Ok(None),
        Some(s) => match CredentialId::parse(s.trim()) {
            Ok(id) => Ok(Some(id)),
            Err(_) => rule(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "a credential id is 16 hex digits",
            ),
        },
    }
}

fn time_of(t: &[Attr], ty: CK_ATTRIBUTE_TYPE) -> Result<Option<std::time::SystemTime>> {
    match attr::find(t, ty) {
        None => Ok(None),
        Some(a) => match a.as_ulong() {
            Some(0) => Ok(None),
            Some(s) => Ok(Some(UNIX_EPOCH + Duration::from_secs(s))),
            None => rule(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "a time is a CK_ULONG of unix seconds",
            ),
        },
    }
}

/// C_SetAttributeValue of an access point: the policy (CKA_VALUE), the description,
/// a credential to add (with its window), revoke or unlock.
pub(crate) fn set(inst: &Instance, rw: bool, e: &ObjEntry, t: &[Attr]) -> Result<()> {
    let name = audit_name(inst, e);
    let r = set_unaudited(inst, rw, e, t);
    crate::audit::hooks::admin_done(inst, set_action(t), &name, &r);
    r
}

fn set_unaudited(inst: &Instance, rw: bool, e: &ObjEntry, t: &[Attr]) -> Result<()> {
    so_only(inst)?;
    if !rw {
        return rule(
            CKR_SESSION_READ_ONLY,
            "access point changes need a R/W session",
        );
    }
    let ap = ap_of(inst, e)?;
    if ap.configured {
        return rule(CKR_ACTION_PROHIBITED, "defined in the configuration file");
    }
    let mut rec = ap.rec.clone();
    let backend = &*inst.backend;
    for a in t {
        match a.ty {
            CKA_VALUE => {
                let policy = text(t, CKA_VALUE)?.unwrap_or_default();
                checked_policy(&policy)?;
                rec.policy = policy;
            }
            CKA_KMSBRIDGE_DESCRIPTION => {
                rec.description = text(t, a.ty)?.unwrap_or_default();
            }
            CKA_KMSBRIDGE_CREDENTIAL_ADD => {
                let key_text = a.value.clone();
                let Ok(key) = std::str::from_utf8(&key_text)
                    .map_err(|_| ())
                    .and_then(|s| ClientKey::parse(s).map_err(|_| ()))
                else {
                    return rule(
                        CKR_ATTRIBUTE_VALUE_INVALID,
                        "not a client key (kb1.<id>.<secret>)",
                    );
                };
                if inst
                    .access
                    .points
                    .all(backend)
                    .iter()
                    .any(|a| a.rec.credential(key.id()).is_some())
                {
                    return rule(CKR_ATTRIBUTE_VALUE_INVALID, "this credential id is in use");
                }
                let stored = StoredCredential::new(
                    &key,
                    time_of(t, CKA_KMSBRIDGE_NOT_BEFORE)?,
                    time_of(t, CKA_KMSBRIDGE_NOT_AFTER)?,
                )
                .map_err(|e| {
                    tracing::warn!("credential refused: {e}");
                    Error::Rule {
                        rv: CKR_ATTRIBUTE_VALUE_INVALID,
                        why: "the credential cannot be made",
                    }
                })?;
                let slot = inst.access.slot_for(inst, &key)?;
                rec.credentials
                    .push(CredRecord::from_stored(&stored, unix_now(), &slot));
                tracing::info!(instance = %inst.name, access_point = %rec.name, credential = %key.id(), "credential added");
            }
            CKA_KMSBRIDGE_NOT_BEFORE | CKA_KMSBRIDGE_NOT_AFTER
                if attr::find(t, CKA_KMSBRIDGE_CREDENTIAL_ADD).is_some() => {}
            CKA_KMSBRIDGE_CREDENTIAL_REVOKE => {
                let Some(id) = credential_id(t, a.ty)? else {
                    continue;
                };
                let before = rec.credentials.len();
                rec.credentials.retain(|c| c.id() != Some(id));
                if rec.credentials.len() == before {
                    return rule(CKR_ATTRIBUTE_VALUE_INVALID, "no such credential");
                }
                lockout::clear(backend, &id.to_string())?;
                tracing::info!(instance = %inst.name, access_point = %rec.name, credential = %id, "credential revoked");
            }
            CKA_KMSBRIDGE_CREDENTIAL_UNLOCK => {
                let Some(id) = credential_id(t, a.ty)? else {
                    continue;
                };
                if rec.credential(id).is_none() {
                    return rule(CKR_ATTRIBUTE_VALUE_INVALID, "no such credential");
                }
                lockout::clear(backend, &id.to_string())?;
                tracing::info!(instance = %inst.name, access_point = %rec.name, credential = %id, "credential unlocked");
            }
            CKA_LABEL if a.value[..] == *rec.name.as_bytes() => {}
            CKA_LABEL => return rule(CKR_ATTRIBUTE_READ_ONLY, "an access point keeps its name"),
            CKA_CLASS
            | CKA_TOKEN
            | CKA_PRIVATE
            | CKA_KMSBRIDGE_CREDENTIALS
            | CKA_KMSBRIDGE_CONFIGURED
            | CKA_KMSBRIDGE_CREATED => {
                return rule(CKR_ATTRIBUTE_READ_ONLY, "read-only access point attribute")
            }
            _ => return rule(CKR_ATTRIBUTE_TYPE_INVALID, "not an access point attribute"),
        }
    }
    inst.access.points.save(backend, &rec)?;
    Ok(())
}
