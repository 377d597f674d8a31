//! Reading secrets through PKCS#11: finds (by class, label, application, and the
//! selectors CKA_KMSBRIDGE_SECRET_STAGE / _VERSION_ID) and C_GetAttributeValue, whose
//! CKA_VALUE is the selected version's value decrypted inside the module.

use super::{info, refused, SecretRef};
use crate::error::{rule, Result};
use crate::instance::{Instance, Login};
use crate::kms::record::unix_now;
use crate::objects::ObjEntry;
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_access::Action;
use kmsbridge_bridge::{attr, Attr, AttrReq};
use kmsbridge_secrets::{Secret, Selector, Stage, Version, VersionId};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Does a template speak of secrets (their application or a secret selector)?
pub(crate) fn is_secret_template(t: &[Attr]) -> bool {
    attr::find(t, CKA_APPLICATION).is_some_and(|a| a.value[..] == *SECRET_APPLICATION)
        || t.iter()
            .any(|a| (CKA_KMSBRIDGE_SECRET_VERSION_ID..=CKA_KMSBRIDGE_SECRET_NEW).contains(&a.ty))
}

fn text(a: &Attr) -> Result<&str> {
    match std::str::from_utf8(&a.value) {
        Ok(s) => Ok(s),
        Err(_) => rule(CKR_ATTRIBUTE_VALUE_INVALID, "text attributes are UTF-8"),
    }
}

/// The selector a find template asks for (ACSCurrent when it names none).
fn selector(t: &[Attr]) -> Result<Option<Selector>> {
    if let Some(a) = attr::find(t, CKA_KMSBRIDGE_SECRET_VERSION_ID) {
        return Ok(VersionId::new(text(a)?).ok().map(Selector::Version));
    }
    if let Some(a) = attr::find(t, CKA_KMSBRIDGE_SECRET_STAGE) {
        return Ok(Stage::new(text(a)?).ok().map(Selector::Stage));
    }
    Ok(Some(Selector::default()))
}

/// Attributes a find uses to select, not to compare.
fn selects(ty: CK_ATTRIBUTE_TYPE) -> bool {
    ty == CKA_KMSBRIDGE_SECRET_VERSION_ID || ty == CKA_KMSBRIDGE_SECRET_STAGE
}

/// Secrets whose recovery window has passed are purged on the way.
fn purge_due(inst: &Instance) {
    let now = unix_now();
    for s in inst.secrets.store.all(&*inst.backend) {
        if s.purge_due(now) {
            let name = s.name().to_string();
            let r = inst
                .secrets
                .store
                .remove(&*inst.backend, &inst.objects, &name);
            if let Err(e) = &r {
                tracing::warn!(secret = %name, "cannot purge the secret: {e}");
            } else {
                tracing::info!(instance = %inst.name, secret = %name, "secret purged after its recovery window");
            }
            crate::audit::hooks::admin_done(inst, "secret-purge", &format!("secret/{name}"), &r);
        }
    }
}

/// C_FindObjects over the secrets: the user only, those the access point sees.
pub(crate) fn find(inst: &Instance, t: &[Attr]) -> Result<Vec<CK_OBJECT_HANDLE>> {
    if inst.login_state() != Login::User {
        return Ok(Vec::new());
    }
    if attr::find(t, CKA_CLASS)
        .and_then(|a| a.as_ulong())
        .is_some_and(|c| c != CKO_DATA)
    {
        return Ok(Vec::new());
    }
    let Some(sel) = selector(t)? else {
        return Ok(Vec::new());
    };
    purge_due(inst);
    let mut out = Vec::new();
    for s in inst.secrets.store.all(&*inst.backend) {
        let name = s.name().as_str();
        if !inst.access.sees_secret(inst, name) {
            continue;
        }
        let Ok(v) = s.select(&sel) else { continue };
        // A template naming both a version and a stage wants that version to carry it.
        if let Some(st) = attr::find(t, CKA_KMSBRIDGE_SECRET_STAGE) {
            if !v
                .stages
                .iter()
                .any(|x| x.as_str().as_bytes() == &st.value[..])
            {
                continue;
            }
        }
        let matches = t
            .iter()
            .filter(|a| !selects(a.ty))
            .all(|a| value_of(&s, v, &sel, a.ty).is_some_and(|x| x[..] == a.value[..]));
        if matches {
            out.push(inst.secrets.handle(inst, name, &sel));
        }
    }
    Ok(out)
}

/// The secret and selected version a front object names; handle errors when gone.
pub(crate) fn resolve(inst: &Instance, h: CK_OBJECT_HANDLE) -> Result<(SecretRef, Arc<Secret>)> {
    let r = inst.secrets.of_handle(h)?;
    let Some(s) = inst.secrets.store.get(&*inst.backend, &r.name) else {
        return rule(CKR_OBJECT_HANDLE_INVALID, "the secret was purged");
    };
    if !inst.access.sees_secret(inst, &r.name) {
        return rule(
            CKR_OBJECT_HANDLE_INVALID,
            "no such object visible to this session",
        );
    }
    Ok((r, s))
}

/// The value of one attribute other than CKA_VALUE, if the object has it.
fn value_of(s: &Secret, v: &Version, sel: &Selector, ty: CK_ATTRIBUTE_TYPE) -> Option<Vec<u8>> {
    let ulong = |x: CK_ULONG| x.to_ne_bytes().to_vec();
    let utf8 = |x: &str| x.as_bytes().to_vec();
    Some(match ty {
        CKA_CLASS => ulong(CKO_DATA),
        CKA_TOKEN | CKA_PRIVATE | CKA_MODIFIABLE | CKA_DESTROYABLE => vec![CK_TRUE],
        CKA_COPYABLE => vec![CK_FALSE],
        CKA_LABEL => utf8(s.name().as_str()),
        CKA_APPLICATION => SECRET_APPLICATION.to_vec(),
        CKA_OBJECT_ID => Vec::new(),
        CKA_KMSBRIDGE_SECRET_VERSION_ID => utf8(v.id.as_str()),
        CKA_KMSBRIDGE_SECRET_STAGES => utf8(
            &v.stages
                .iter()
                .map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        CKA_KMSBRIDGE_SECRET_STAGE => match sel {
            Selector::Stage(st) => utf8(st.as_str()),
            Selector::Version(_) => Vec::new(),
        },
        CKA_KMSBRIDGE_SECRET_TYPE => utf8(s.kind().as_str()),
        CKA_KMSBRIDGE_SECRET_INFO => utf8(&info::to_json(s)),
        CKA_KMSBRIDGE_SECRET_KMS_KEY => utf8(s.kms_key_id().unwrap_or_default()),
        CKA_KMSBRIDGE_SECRET_GENERATION => s
            .generation()
            .and_then(|g| serde_json::to_vec(g).ok())
            .unwrap_or_default(),
        CKA_KMSBRIDGE_SECRET_ROTATION_DAYS => ulong(CK_ULONG::from(s.rotation_days().unwrap_or(0))),
        CKA_KMSBRIDGE_DESCRIPTION => utf8(s.description()),
        CKA_KMSBRIDGE_CREATED => ulong(v.created as CK_ULONG),
        CKA_KMSBRIDGE_DELETION_DATE => {
            ulong(s.deletion().map_or(0, |d| d.delete_after) as CK_ULONG)
        }
        _ => return None,
    })
}

/// The selected version's value, decrypted with the KMS key it was sealed under.
pub(crate) fn open(
    inst: &Instance,
    s: &Secret,
    sel: &Selector,
) -> Result<(VersionId, Zeroizing<Vec<u8>>)> {
    let name = s.name().as_str();
    let v = match s.select(sel) {
        Ok(v) => v,
        Err(e) => return refused(name, e),
    };
    let wrapper = super::wrapper::CmkWrapper::new(inst, Some(&v.sealed.key_id))?;
    match s.read(&wrapper, sel) {
        Ok(r) => Ok(r),
        Err(e) => refused(name, e),
    }
}

/// C_GetAttributeValue of a secret object. CKA_VALUE needs `secret-read`; refused,
/// or while the secret is scheduled for deletion, it answers CKR_ATTRIBUTE_SENSITIVE.
pub(crate) fn get(
    inst: &Instance,
    h: CK_OBJECT_HANDLE,
    _e: &ObjEntry,
    reqs: &mut [AttrReq],
) -> Result<CK_RV> {
    let (r, s) = resolve(inst, h)?;
    let v = match s.select(&r.sel) {
        Ok(v) => v,
        Err(_) => return rule(CKR_OBJECT_HANDLE_INVALID, "the selected version is gone"),
    };
    let mut rv = CKR_OK;
    for q in reqs.iter_mut() {
        let code = if q.ty == CKA_VALUE {
            value(inst, &s, &r, q)?
        } else {
            match value_of(&s, v, &r.sel, q.ty) {
                Some(x) => q.answer(&x),
                None => {
                    q.len = CK_UNAVAILABLE_INFORMATION;
                    CKR_ATTRIBUTE_TYPE_INVALID
                }
            }
        };
        // The spec's order: SENSITIVE and TYPE_INVALID outrank BUFFER_TOO_SMALL.
        if rv == CKR_OK || (rv == CKR_BUFFER_TOO_SMALL && code != CKR_OK) {
            rv = code;
        }
    }
    Ok(rv)
}

fn value(inst: &Instance, s: &Secret, r: &SecretRef, q: &mut AttrReq) -> Result<CK_RV> {
    let object = format!("secret/{}", r.name);
    let sensitive = |q: &mut AttrReq| {
        q.len = CK_UNAVAILABLE_INFORMATION;
        CKR_ATTRIBUTE_SENSITIVE
    };
    if inst
        .access
        .allow_secret(inst, &r.name, Action::SecretRead)
        .is_err()
    {
        return Ok(sensitive(q));
    }
    if s.deletion().is_some() {
        tracing::info!(secret = %r.name, "value refused: the secret is scheduled for deletion");
        return Ok(sensitive(q));
    }
    let (version, plain) = match open(inst, s, &r.sel) {
        Ok(x) => x,
        Err(e) => {
            if q.buf.is_some() {
                inst.audit.secret_read(None, &object, false, &e.to_string());
            }
            return Err(e);
        }
    };
    let code = q.answer(&plain);
    // Once per value handed over, not for the length query before it.
    if q.buf.is_some() && code == CKR_OK {
        inst.audit
            .secret_read(None, &object, true, &format!("version {version}"));
    }
    Ok(code)
}
