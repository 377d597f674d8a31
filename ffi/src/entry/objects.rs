//! Object management and search.

use crate::convert::{attr_requests, put, template, to_ulong, to_usize, write_back};
use crate::guard::bad;
use cryptoki_sys::*;
use kmsbridge_provider::state;

shells! {
    fn C_CreateObject(
        hSession: CK_SESSION_HANDLE,
        pTemplate: *mut CK_ATTRIBUTE,
        ulCount: CK_ULONG,
        phObject: *mut CK_OBJECT_HANDLE,
    ) {
        let p = state::get()?;
        if phObject.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL object handle pointer"));
        }
        // SAFETY: the caller's template of `ulCount` attributes.
        let t = unsafe { template(pTemplate, ulCount) }?;
        let object = p.create_object(hSession, &t)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(phObject, object) }
    }

    fn C_CopyObject(
        hSession: CK_SESSION_HANDLE,
        hObject: CK_OBJECT_HANDLE,
        pTemplate: *mut CK_ATTRIBUTE,
        ulCount: CK_ULONG,
        phNewObject: *mut CK_OBJECT_HANDLE,
    ) {
        let p = state::get()?;
        if phNewObject.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL object handle pointer"));
        }
        // SAFETY: the caller's template of `ulCount` attributes.
        let t = unsafe { template(pTemplate, ulCount) }?;
        let copy = p.copy_object(hSession, hObject, &t)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(phNewObject, copy) }
    }

    fn C_DestroyObject(hSession: CK_SESSION_HANDLE, hObject: CK_OBJECT_HANDLE) {
        state::get()?.destroy_object(hSession, hObject)
    }

    fn C_GetObjectSize(
        hSession: CK_SESSION_HANDLE,
        hObject: CK_OBJECT_HANDLE,
        pulSize: *mut CK_ULONG,
    ) {
        let p = state::get()?;
        if pulSize.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL size pointer"));
        }
        let size = p.object_size(hSession, hObject)?;
        let size = CK_ULONG::try_from(size)
            .map_err(|_| bad(CKR_ARGUMENTS_BAD, "object size exceeds CK_ULONG"))?;
        // SAFETY: checked non-NULL above.
        unsafe { put(pulSize, size) }
    }

    fn C_GetAttributeValue(
        hSession: CK_SESSION_HANDLE,
        hObject: CK_OBJECT_HANDLE,
        pTemplate: *mut CK_ATTRIBUTE,
        ulCount: CK_ULONG,
    ) {
        let p = state::get()?;
        // SAFETY: the caller's template of `ulCount` attributes.
        let mut reqs = unsafe { attr_requests(pTemplate, ulCount) }?;
        let rv = p.get_attributes(hSession, hObject, &mut reqs)?;
        // SAFETY: `reqs` was built from this template.
        unsafe { write_back(pTemplate, &reqs) };
        match rv {
            CKR_OK => Ok(()),
            CKR_ATTRIBUTE_SENSITIVE => Err(bad(rv, "an attribute is sensitive")),
            CKR_ATTRIBUTE_TYPE_INVALID => Err(bad(rv, "an attribute type is invalid")),
            _ => Err(bad(rv, "a buffer is too small")),
        }
    }

    fn C_SetAttributeValue(
        hSession: CK_SESSION_HANDLE,
        hObject: CK_OBJECT_HANDLE,
        pTemplate: *mut CK_ATTRIBUTE,
        ulCount: CK_ULONG,
    ) {
        let p = state::get()?;
        // SAFETY: the caller's template of `ulCount` attributes.
        let t = unsafe { template(pTemplate, ulCount) }?;
        p.set_attributes(hSession, hObject, &t)
    }

    fn C_FindObjectsInit(
        hSession: CK_SESSION_HANDLE,
        pTemplate: *mut CK_ATTRIBUTE,
        ulCount: CK_ULONG,
    ) {
        let p = state::get()?;
        // SAFETY: the caller's template of `ulCount` attributes.
        let t = unsafe { template(pTemplate, ulCount) }?;
        p.find_init(hSession, &t)
    }

    fn C_FindObjects(
        hSession: CK_SESSION_HANDLE,
        phObject: *mut CK_OBJECT_HANDLE,
        ulMaxObjectCount: CK_ULONG,
        pulObjectCount: *mut CK_ULONG,
    ) {
        let p = state::get()?;
        if pulObjectCount.is_null() || (phObject.is_null() && ulMaxObjectCount > 0) {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL output pointer"));
        }
        let found = p.find_next(hSession, to_usize(ulMaxObjectCount)?)?;
        let count = to_ulong(found.len())?;
        if !found.is_empty() {
            // SAFETY: `phObject` holds `ulMaxObjectCount >= found.len()` handles per the caller.
            unsafe { std::ptr::copy_nonoverlapping(found.as_ptr(), phObject, found.len()) };
        }
        // SAFETY: checked non-NULL above.
        unsafe { put(pulObjectCount, count) }
    }

    fn C_FindObjectsFinal(hSession: CK_SESSION_HANDLE) {
        state::get()?.find_final(hSession)
    }
}
