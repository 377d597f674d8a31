//! Slots, tokens, mechanisms, token and PIN initialisation.

use crate::convert::{input, put, put_list};
use crate::guard::bad;
use cryptoki_sys::*;
use kmsbridge_provider::state;

shells! {
    fn C_GetSlotList(tokenPresent: CK_BBOOL, pSlotList: *mut CK_SLOT_ID, pulCount: *mut CK_ULONG) {
        // Every instance's token is always present, so `tokenPresent` filters nothing.
        let _ = tokenPresent;
        let p = state::get()?;
        // SAFETY: the caller's pointers, checked by `put_list`.
        unsafe { put_list(&p.slot_list(), pSlotList, pulCount) }
    }

    fn C_GetSlotInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_SLOT_INFO) {
        let p = state::get()?;
        let info = p.slot_info(slotID)?;
        // SAFETY: checked non-NULL by `put`.
        unsafe { put(pInfo, info) }
    }

    fn C_GetTokenInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_TOKEN_INFO) {
        let p = state::get()?;
        let info = p.token_info(slotID)?;
        // SAFETY: checked non-NULL by `put`.
        unsafe { put(pInfo, info) }
    }

    fn C_GetMechanismList(
        slotID: CK_SLOT_ID,
        pMechanismList: *mut CK_MECHANISM_TYPE,
        pulCount: *mut CK_ULONG,
    ) {
        let p = state::get()?;
        if pulCount.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL count pointer"));
        }
        let mechanisms = p.mechanism_list(slotID)?;
        // SAFETY: the caller's pointers, checked by `put_list`.
        unsafe { put_list(&mechanisms, pMechanismList, pulCount) }
    }

    // `type` is a Rust keyword: `type_`, as cryptoki-sys spells CK_ATTRIBUTE's field.
    fn C_GetMechanismInfo(
        slotID: CK_SLOT_ID,
        type_: CK_MECHANISM_TYPE,
        pInfo: *mut CK_MECHANISM_INFO,
    ) {
        let p = state::get()?;
        if pInfo.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL info pointer"));
        }
        let info = p.mechanism_info(slotID, type_)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(pInfo, info) }
    }

    fn C_InitToken(
        slotID: CK_SLOT_ID,
        pPin: *mut CK_UTF8CHAR,
        ulPinLen: CK_ULONG,
        pLabel: *mut CK_UTF8CHAR,
    ) {
        let p = state::get()?;
        if pLabel.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL label"));
        }
        // SAFETY: the caller's PIN of `ulPinLen` bytes.
        let pin = unsafe { input(pPin, ulPinLen) }?;
        // SAFETY: the label is 32 bytes by the spec.
        let label = unsafe { &*(pLabel as *const [u8; 32]) };
        p.init_token(slotID, pin, label)
    }

    fn C_InitPIN(hSession: CK_SESSION_HANDLE, pPin: *mut CK_UTF8CHAR, ulPinLen: CK_ULONG) {
        let p = state::get()?;
        // SAFETY: the caller's PIN of `ulPinLen` bytes.
        let pin = unsafe { input(pPin, ulPinLen) }?;
        p.init_pin(hSession, pin)
    }

    fn C_SetPIN(
        hSession: CK_SESSION_HANDLE,
        pOldPin: *mut CK_UTF8CHAR,
        ulOldLen: CK_ULONG,
        pNewPin: *mut CK_UTF8CHAR,
        ulNewLen: CK_ULONG,
    ) {
        let p = state::get()?;
        // SAFETY: the caller's PINs of the given lengths.
        let (old, new) = unsafe { (input(pOldPin, ulOldLen)?, input(pNewPin, ulNewLen)?) };
        p.set_pin(hSession, old, new)
    }
}
