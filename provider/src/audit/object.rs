//! The trail as a read-only object of class `CKO_KMSBRIDGE_AUDIT`, for verifiers
//! (`kmsbridge audit verify`): the audit key's public half, the latest signed head, the
//! trail's directory and the records' instance name. No backend object: found only by
//! finds that ask for that class, and only with the user logged in — its values are
//! private objects of the instance (on a software store, sealed under the user's PIN,
//! so what a verifier trusts cannot be swapped by someone who can only write files).

use super::head;
use crate::error::Result;
use crate::instance::{Instance, Login};
use crate::objects::{Kind, ObjEntry};
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_bridge::{Attr, AttrReq};

fn ulong(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// The value of `ty`; `None`: the object has no such attribute.
fn value(inst: &Instance, ty: CK_ATTRIBUTE_TYPE) -> Result<Option<Vec<u8>>> {
    let b = &*inst.backend;
    Ok(Some(match ty {
        CKA_CLASS => ulong(CKO_KMSBRIDGE_AUDIT),
        CKA_LABEL => b"audit".to_vec(),
        CKA_TOKEN | CKA_PRIVATE => vec![1],
        CKA_MODIFIABLE | CKA_COPYABLE | CKA_DESTROYABLE => vec![0],
        CKA_KMSBRIDGE_AUDIT_PUBLIC_KEY => head::public_record(b)?
            .map(|(_, spki)| spki)
            .unwrap_or_default(),
        CKA_KMSBRIDGE_AUDIT_HEAD => head::head_json(b)?.unwrap_or_default(),
        CKA_KMSBRIDGE_AUDIT_DIR => inst
            .audit
            .location()
            .map(|(d, _)| d.to_string_lossy().into_owned().into_bytes())
            .unwrap_or_default(),
        CKA_KMSBRIDGE_AUDIT_INSTANCE => inst
            .audit
            .location()
            .map(|(_, i)| i.as_bytes().to_vec())
            .unwrap_or_default(),
        _ => return Ok(None),
    }))
}

/// The object's front handle, the same while the table keeps it.
fn handle(inst: &Instance) -> CK_OBJECT_HANDLE {
    let mut h = inst.audit.object_handle.lock();
    if *h != 0 && inst.objects.get(*h).is_some_and(|e| e.kind == Kind::Audit) {
        return *h;
    }
    *h = inst.objects.insert_unbound(ObjEntry {
        id: 0,
        token: true,
        private: true,
        class: CKO_KMSBRIDGE_AUDIT,
        key_type: None,
        always_auth: false,
        owner: None,
        kind: Kind::Audit,
        kid: 0,
    });
    *h
}

/// C_FindObjects with `CKA_CLASS = CKO_KMSBRIDGE_AUDIT`.
pub(crate) fn find(inst: &Instance, template: &[Attr]) -> Result<Vec<CK_OBJECT_HANDLE>> {
    if inst.login_state() != Login::User {
        return Ok(Vec::new());
    }
    inst.backend.connect()?;
    for a in template {
        if value(inst, a.ty)?.as_deref() != Some(&a.value[..]) {
            return Ok(Vec::new());
        }
    }
    Ok(vec![handle(inst)])
}

/// C_GetAttributeValue of the audit object, read from the instance now.
pub(crate) fn get(inst: &Instance, reqs: &mut [AttrReq]) -> Result<CK_RV> {
    inst.backend.connect()?;
    let mut rv = CKR_OK;
    for r in reqs.iter_mut() {
        let code = match value(inst, r.ty)? {
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
