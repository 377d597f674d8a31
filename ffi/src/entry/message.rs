//! PKCS#11 3.0 message-based functions: not offered (SoftHSM2 2.6 has none);
//! each answers CKR_FUNCTION_NOT_SUPPORTED and is listed in docs/FUNCTIONS.md.

use super::crypto::unsupported;
use crate::guard::{bad, guard};
use cryptoki_sys::*;
use kmsbridge_provider::state;
use std::ffi::c_void;

unsupported! {
    C_MessageEncryptInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_EncryptMessage(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, a: *mut u8, al: CK_ULONG, d: *mut u8, dl: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG);
    C_EncryptMessageBegin(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, a: *mut u8, al: CK_ULONG);
    C_EncryptMessageNext(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, d: *mut u8, dl: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG, f: CK_FLAGS);
    C_MessageEncryptFinal(h: CK_SESSION_HANDLE);
    C_MessageDecryptInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_DecryptMessage(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, a: *mut u8, al: CK_ULONG, d: *mut u8, dl: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG);
    C_DecryptMessageBegin(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, a: *mut u8, al: CK_ULONG);
    C_DecryptMessageNext(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, d: *mut u8, dl: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG, f: CK_FLAGS);
    C_MessageDecryptFinal(h: CK_SESSION_HANDLE);
    C_MessageSignInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_SignMessage(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, d: *mut u8, dl: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG);
    C_SignMessageBegin(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG);
    C_SignMessageNext(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, d: *mut u8, dl: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG);
    C_MessageSignFinal(h: CK_SESSION_HANDLE);
    C_MessageVerifyInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_VerifyMessage(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, d: *mut u8, dl: CK_ULONG, s: *mut u8, sl: CK_ULONG);
    C_VerifyMessageBegin(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG);
    C_VerifyMessageNext(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, d: *mut u8, dl: CK_ULONG, s: *mut u8, sl: CK_ULONG);
    C_MessageVerifyFinal(h: CK_SESSION_HANDLE);
}
