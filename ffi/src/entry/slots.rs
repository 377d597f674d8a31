//! Slots, tokens, mechanisms, token and PIN initialisation.

use crate::convert::{input, put, put_list};
use crate::guard::{bad, guard};
use cryptoki_sys::*;
use kmsbridge_provider::state;

pub extern "C" fn C_GetSlotList(
    _present: CK_BBOOL,
    list: *mut CK_SLOT_ID,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard("C_GetSlotList", || {
        let p = state::get()?;
        // Every instance's token is always present.
        // SAFETY: the caller's pointers, checked by `put_list`.
        unsafe { put_list(&p.slot_list(), list, count) }
    })
}

pub extern "C" fn C_GetSlotInfo(slot: CK_SLOT_ID, info: *mut CK_SLOT_INFO) -> CK_RV {
    guard("C_GetSlotInfo", || {
        let p = state::get()?;
        let i = p.slot_info(slot)?;
        // SAFETY: checked non-NULL by `put`.
        unsafe { put(info, i) }
    })
}

pub extern "C" fn C_GetTokenInfo(slot: CK_SLOT_ID, info: *mut CK_TOKEN_INFO) -> CK_RV {
    guard("C_GetTokenInfo", || {
        let p = state::get()?;
        let i = p.token_info(slot)?;
        // SAFETY: checked non-NULL by `put`.
        unsafe { put(info, i) }
    })
}

pub extern "C" fn C_GetMechanismList(
    slot: CK_SLOT_ID,
    list: *mut CK_MECHANISM_TYPE,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard("C_GetMechanismList", || {
        let p = state::get()?;
        if count.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL count pointer"));
        }
        let mechs = p.mechanism_list(slot)?;
        // SAFETY: the caller's pointers, checked by `put_list`.
        unsafe { put_list(&mechs, list, count) }
    })
}

pub extern "C" fn C_GetMechanismInfo(
    slot: CK_SLOT_ID,
    ty: CK_MECHANISM_TYPE,
    info: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    guard("C_GetMechanismInfo", || {
        let p = state::get()?;
        if info.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL info pointer"));
        }
        let i = p.mechanism_info(slot, ty)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(info, i) }
    })
}

pub extern "C" fn C_InitToken(
    slot: CK_SLOT_ID,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
    label: *mut CK_UTF8CHAR,
) -> CK_RV {
    guard("C_InitToken", || {
        let p = state::get()?;
        if label.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL label"));
        }
        // SAFETY: the caller's PIN of `pin_len` bytes.
        let pin = unsafe { input(pin, pin_len) }?;
        // SAFETY: the label is 32 bytes by the spec.
        let label = unsafe { &*(label as *const [u8; 32]) };
        p.init_token(slot, pin, label)
    })
}

pub extern "C" fn C_InitPIN(
    h: CK_SESSION_HANDLE,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
) -> CK_RV {
    guard("C_InitPIN", || {
        let p = state::get()?;
        // SAFETY: the caller's PIN of `pin_len` bytes.
        let pin = unsafe { input(pin, pin_len) }?;
        p.init_pin(h, pin)
    })
}

pub extern "C" fn C_SetPIN(
    h: CK_SESSION_HANDLE,
    old: *mut CK_UTF8CHAR,
    old_len: CK_ULONG,
    new: *mut CK_UTF8CHAR,
    new_len: CK_ULONG,
) -> CK_RV {
    guard("C_SetPIN", || {
        let p = state::get()?;
        // SAFETY: the caller's PINs of the given lengths.
        let (old, new) = unsafe { (input(old, old_len)?, input(new, new_len)?) };
        p.set_pin(h, old, new)
    })
}
