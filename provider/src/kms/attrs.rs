//! Vendor attributes as applications read them: computed from the key's record and
//! the backend's own attributes, never stored in a backend.

use super::host::Host;
use super::ids::split_version;
use super::import;
use super::record::unix_now;
use super::record::KeyRecord;
use crate::error::Result;
use crate::objects::{Kind, ObjEntry};
use crate::vendor::*;
use cryptoki_sys::*;
use kmsbridge_bridge::{Attr, AttrReq};

pub(crate) fn is_vendor(ty: CK_ATTRIBUTE_TYPE) -> bool {
    ty >= CKA_VENDOR_DEFINED
}

/// What the vendor attributes of one key are computed from.
struct Facts {
    local: bool,
    id: Vec<u8>,
    rec: Option<std::sync::Arc<KeyRecord>>,
}

fn facts(inst: &dyn Host, e: &ObjEntry) -> Result<Facts> {
    let mut reqs = [
        AttrReq::new(CKA_LOCAL, Some(1)),
        AttrReq::new(CKA_ID, Some(256)),
    ];
    inst.backend().get_attributes(e.id, &mut reqs)?;
    Ok(Facts {
        local: reqs[0].value() == Some(&[1][..]),
        id: reqs[1].value().map(<[u8]>::to_vec).unwrap_or_default(),
        rec: inst.kms().get(inst, e.kid).map(|s| s.rec),
    })
}

fn ulong(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

fn key_value(inst: &dyn Host, e: &ObjEntry, f: &Facts, ty: CK_ATTRIBUTE_TYPE) -> Option<Vec<u8>> {
    let rec = f.rec.as_deref();
    let now = unix_now();
    Some(match ty {
        CKA_KMSBRIDGE_ORIGIN => ulong(if f.local {
            KMSBRIDGE_ORIGIN_KMS
        } else {
            KMSBRIDGE_ORIGIN_EXTERNAL
        }),
        CKA_KMSBRIDGE_KEY_STATE => ulong(
            rec.map(|r| r.effective_state(now).code())
                .unwrap_or(KMSBRIDGE_STATE_ENABLED),
        ),
        CKA_KMSBRIDGE_DELETION_DATE => ulong(rec.map(|r| r.deletion_date).unwrap_or(0) as CK_ULONG),
        CKA_KMSBRIDGE_MATERIAL_EXPIRY => {
            ulong(rec.map(|r| r.material_expiry).unwrap_or(0) as CK_ULONG)
        }
        CKA_KMSBRIDGE_KEY_VERSION => ulong(
            split_version(&f.id)
                .1
                .or(rec.map(|r| r.primary_version))
                .unwrap_or(1),
        ),
        CKA_KMSBRIDGE_PRIMARY_VERSION => ulong(rec.map(|r| r.primary_version).unwrap_or(1)),
        CKA_KMSBRIDGE_SERVICE => vec![(e.kind != Kind::Plain) as u8],
        CKA_KMSBRIDGE_DEFAULT_KEY => vec![rec.is_some_and(|r| r.default) as u8],
        CKA_KMSBRIDGE_CREATED => ulong(rec?.created as CK_ULONG),
        CKA_KMSBRIDGE_IMPORT_TOKEN if e.kind == Kind::ImportPublic => {
            import::token_of(inst, &f.id)?.0
        }
        CKA_KMSBRIDGE_IMPORT_TOKEN_EXPIRY if e.kind == Kind::ImportPublic => {
            ulong(import::token_of(inst, &f.id)?.1 as CK_ULONG)
        }
        _ => return None,
    })
}

/// A record's attributes: it is shown as an object of class CKO_KMSBRIDGE_KEY.
pub(crate) fn record_value(r: &KeyRecord, ty: CK_ATTRIBUTE_TYPE) -> Option<Vec<u8>> {
    let now = unix_now();
    Some(match ty {
        CKA_CLASS => ulong(CKO_KMSBRIDGE_KEY),
        CKA_ID => r.id_bytes(),
        CKA_LABEL => r.alias.as_bytes().to_vec(),
        CKA_KEY_TYPE => ulong(r.key_type),
        CKA_VALUE_LEN if r.key_type != CKK_RSA && r.key_type != CKK_EC => ulong(r.size),
        CKA_MODULUS_BITS if r.key_type == CKK_RSA => ulong(r.size),
        CKA_EC_PARAMS if r.key_type == CKK_EC => hex::decode(&r.ec_params).ok()?,
        CKA_TOKEN | CKA_PRIVATE => vec![1],
        CKA_MODIFIABLE => vec![1],
        CKA_DESTROYABLE => vec![0],
        CKA_KMSBRIDGE_ORIGIN => ulong(r.origin.code()),
        CKA_KMSBRIDGE_KEY_STATE => ulong(r.effective_state(now).code()),
        CKA_KMSBRIDGE_DELETION_DATE => ulong(r.deletion_date as CK_ULONG),
        CKA_KMSBRIDGE_MATERIAL_EXPIRY => ulong(r.material_expiry as CK_ULONG),
        CKA_KMSBRIDGE_PRIMARY_VERSION => ulong(r.primary_version),
        CKA_KMSBRIDGE_DEFAULT_KEY => vec![r.default as u8],
        CKA_KMSBRIDGE_CREATED => ulong(r.created as CK_ULONG),
        CKA_KMSBRIDGE_SERVICE => vec![0],
        _ => return None,
    })
}

/// Answer `reqs` for an object whose requests include vendor attributes (or for a
/// record, all of them). Returns the call's code, as the backend would.
pub(crate) fn get(inst: &dyn Host, e: &ObjEntry, reqs: &mut [AttrReq]) -> Result<CK_RV> {
    let mut rv = CKR_OK;
    let note = |r: CK_RV, rv: &mut CK_RV| {
        // The spec lets any of several per-attribute codes stand; keep the first.
        if *rv == CKR_OK {
            *rv = r;
        }
    };
    if e.kind == Kind::Record {
        let rec = inst.kms().get(inst, e.kid).map(|s| s.rec);
        for r in reqs.iter_mut() {
            match rec.as_deref().and_then(|rec| record_value(rec, r.ty)) {
                Some(v) => note(r.answer(&v), &mut rv),
                None => {
                    r.len = CK_UNAVAILABLE_INFORMATION;
                    note(CKR_ATTRIBUTE_TYPE_INVALID, &mut rv);
                }
            }
        }
        return Ok(rv);
    }
    // Standard attributes go to the backend in one call, in their order.
    let mut std_reqs: Vec<AttrReq> = reqs
        .iter_mut()
        .filter(|r| !is_vendor(r.ty))
        .map(|r| AttrReq {
            ty: r.ty,
            buf: r.buf.take(),
            len: 0,
        })
        .collect();
    if !std_reqs.is_empty() {
        let brv = inst.backend().get_attributes(e.id, &mut std_reqs)?;
        note(brv, &mut rv);
        let answered = reqs.iter_mut().filter(|r| !is_vendor(r.ty));
        for (r, s) in answered.zip(std_reqs) {
            r.buf = s.buf;
            r.len = s.len;
        }
    }
    value_len_fixup(inst, e, reqs);
    if !reqs.iter().any(|r| is_vendor(r.ty)) {
        return Ok(rv);
    }
    let f = facts(inst, e)?;
    for r in reqs.iter_mut().filter(|r| is_vendor(r.ty)) {
        match key_value(inst, e, &f, r.ty) {
            Some(v) => note(r.answer(&v), &mut rv),
            None => {
                r.len = CK_UNAVAILABLE_INFORMATION;
                note(CKR_ATTRIBUTE_TYPE_INVALID, &mut rv);
            }
        }
    }
    Ok(rv)
}

/// SH-12: SoftHSM2 answers CKA_VALUE_LEN 0 for secret keys it unwrapped. A KMS
/// key's record knows the size; answer that.
fn value_len_fixup(inst: &dyn Host, e: &ObjEntry, reqs: &mut [AttrReq]) {
    if e.class != CKO_SECRET_KEY {
        return;
    }
    for r in reqs.iter_mut().filter(|r| r.ty == CKA_VALUE_LEN) {
        let zero = r.buf.is_some() && r.value() == Some(&ulong(0)[..]);
        if zero {
            if let Some(s) = inst.kms().get(inst, e.kid) {
                if s.rec.key_type != CKK_RSA && s.rec.key_type != CKK_EC && s.rec.size != 0 {
                    r.answer(&ulong(s.rec.size));
                }
            }
        }
    }
}

/// Whether an object matches the vendor part of a find template.
pub(crate) fn matches(inst: &dyn Host, e: &ObjEntry, vendor: &[Attr]) -> Result<bool> {
    if vendor.is_empty() {
        return Ok(true);
    }
    if e.kind == Kind::Record {
        let rec = inst.kms().get(inst, e.kid).map(|s| s.rec);
        return Ok(vendor.iter().all(|a| {
            rec.as_deref()
                .and_then(|r| record_value(r, a.ty))
                .as_deref()
                == Some(&a.value[..])
        }));
    }
    let f = facts(inst, e)?;
    Ok(vendor
        .iter()
        .all(|a| key_value(inst, e, &f, a.ty).as_deref() == Some(&a.value[..])))
}
