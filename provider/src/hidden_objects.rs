//! The module's own hidden data objects on a backend token (PIN hashes, key records,
//! import tokens, the records' generation): found by `CKA_APPLICATION` and label,
//! never shown to applications.

use crate::error::Result;
use crate::objects::ObjectTable;
use cryptoki_sys::*;
use kmsbridge_bridge::{Attr, AttrReq, Backend, ObjectId};

/// The template of one hidden data object (by label) or of every one of `app`.
pub(crate) fn template(app: &[u8], label: Option<&str>) -> Vec<Attr> {
    let mut t = vec![
        Attr::ulong(CKA_CLASS, CKO_DATA),
        Attr::new(CKA_APPLICATION, app.to_vec()),
    ];
    if let Some(l) = label {
        t.push(Attr::new(CKA_LABEL, l.as_bytes().to_vec()));
    }
    t
}

/// Read a data object's whole CKA_VALUE.
pub(crate) fn read_value(backend: &dyn Backend, id: ObjectId) -> Result<Vec<u8>> {
    let mut req = [AttrReq::new(CKA_VALUE, None)];
    backend.get_attributes(id, &mut req)?;
    let len = req[0].len;
    if len == CK_UNAVAILABLE_INFORMATION {
        return Ok(Vec::new());
    }
    let mut req = [AttrReq::new(CKA_VALUE, Some(len as usize))];
    backend.get_attributes(id, &mut req)?;
    Ok(req[0].value().map(<[u8]>::to_vec).unwrap_or_default())
}

/// Write a hidden data object: a new one with this label and value, then the old
/// ones go. A data object's CKA_VALUE cannot be modified (PKCS#11 4.5), and making
/// the new first means a reader never finds none.
pub(crate) fn write(
    backend: &dyn Backend,
    objects: &ObjectTable,
    app: &[u8],
    label: &str,
    value: Vec<u8>,
) -> Result<ObjectId> {
    write_with(backend, objects, app, label, value, &[])
}

/// `write`, the new object made with `extra` attributes too (a generation's tag).
pub(crate) fn write_with(
    backend: &dyn Backend,
    objects: &ObjectTable,
    app: &[u8],
    label: &str,
    value: Vec<u8>,
    extra: &[Attr],
) -> Result<ObjectId> {
    let t = template(app, Some(label));
    let old = backend.find(&t)?;
    let id = create_with(backend, app, label, value, extra)?;
    for o in old {
        destroy_replaced(backend, o, &t)?;
        // Whoever holds the old one's handle (a record's) now reaches the new one.
        objects.rebind(o, id);
    }
    Ok(id)
}

/// Destroy `old`, an object `t` found that a new one replaces. Another process
/// writing the same object at the same moment may have found the same old one and
/// destroyed it first (SoftHSM2 then answers OBJECT_HANDLE_INVALID or
/// FUNCTION_FAILED): gone is what was wanted, so only an old object still there is
/// an error.
pub(crate) fn destroy_replaced(backend: &dyn Backend, old: ObjectId, t: &[Attr]) -> Result<()> {
    if let Err(e) = backend.destroy_object(old) {
        if backend.find(t)?.contains(&old) {
            return Err(e.into());
        }
    }
    Ok(())
}

/// Make a private hidden data object with `extra` attributes too, leaving any others of
/// that label in place.
pub(crate) fn create_with(
    backend: &dyn Backend,
    app: &[u8],
    label: &str,
    value: Vec<u8>,
    extra: &[Attr],
) -> Result<ObjectId> {
    let mut t = template(app, Some(label));
    t.extend_from_slice(extra);
    t.extend([
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, true),
        Attr::bool(CKA_MODIFIABLE, true),
        Attr::new(CKA_VALUE, value),
    ]);
    Ok(backend.create_object(&t)?)
}
