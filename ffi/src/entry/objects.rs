//! Object management and search.

use crate::convert::{attr_requests, put, template, write_back};
use crate::guard::{bad, guard};
use cryptoki_sys::*;
use kmsbridge_provider::state;

pub extern "C" fn C_CreateObject(
    h: CK_SESSION_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_CreateObject", || {
        let p = state::get()?;
        if ph.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL object handle pointer"));
        }
        // SAFETY: the caller's template of `n` attributes.
        let t = unsafe { template(t, n) }?;
        let obj = p.create_object(h, &t)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(ph, obj) }
    })
}

pub extern "C" fn C_CopyObject(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_CopyObject", || {
        let p = state::get()?;
        if ph.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL object handle pointer"));
        }
        // SAFETY: the caller's template of `n` attributes.
        let t = unsafe { template(t, n) }?;
        let new = p.copy_object(h, obj, &t)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(ph, new) }
    })
}

pub extern "C" fn C_DestroyObject(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE) -> CK_RV {
    guard("C_DestroyObject", || state::get()?.destroy_object(h, obj))
}

pub extern "C" fn C_GetObjectSize(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    size: *mut CK_ULONG,
) -> CK_RV {
    guard("C_GetObjectSize", || {
        let p = state::get()?;
        if size.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL size pointer"));
        }
        let n = p.object_size(h, obj)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(size, n as CK_ULONG) }
    })
}

pub extern "C" fn C_GetAttributeValue(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    guard("C_GetAttributeValue", || {
        let p = state::get()?;
        // SAFETY: the caller's template of `n` attributes.
        let mut reqs = unsafe { attr_requests(t, n) }?;
        let rv = p.get_attributes(h, obj, &mut reqs)?;
        // SAFETY: `reqs` was built from this template.
        unsafe { write_back(t, &reqs) };
        match rv {
            CKR_OK => Ok(()),
            CKR_ATTRIBUTE_SENSITIVE => Err(bad(rv, "an attribute is sensitive")),
            CKR_ATTRIBUTE_TYPE_INVALID => Err(bad(rv, "an attribute type is invalid")),
            _ => Err(bad(rv, "a buffer is too small")),
        }
    })
}

pub extern "C" fn C_SetAttributeValue(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    guard("C_SetAttributeValue", || {
        let p = state::get()?;
        // SAFETY: the caller's template of `n` attributes.
        let t = unsafe { template(t, n) }?;
        p.set_attributes(h, obj, &t)
    })
}

pub extern "C" fn C_FindObjectsInit(
    h: CK_SESSION_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    guard("C_FindObjectsInit", || {
        let p = state::get()?;
        // SAFETY: the caller's template of `n` attributes.
        let t = unsafe { template(t, n) }?;
        p.find_init(h, &t)
    })
}

pub extern "C" fn C_FindObjects(
    h: CK_SESSION_HANDLE,
    out: *mut CK_OBJECT_HANDLE,
    max: CK_ULONG,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard("C_FindObjects", || {
        let p = state::get()?;
        if count.is_null() || (out.is_null() && max > 0) {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL output pointer"));
        }
        let found = p.find_next(h, max as usize)?;
        if !found.is_empty() {
            // SAFETY: `out` holds `max >= found.len()` handles per the caller.
            unsafe { std::ptr::copy_nonoverlapping(found.as_ptr(), out, found.len()) };
        }
        // SAFETY: checked non-NULL above.
        unsafe { put(count, found.len() as CK_ULONG) }
    })
}

pub extern "C" fn C_FindObjectsFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_FindObjectsFinal", || state::get()?.find_final(h))
}
