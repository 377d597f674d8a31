//! libkmsbridge.so: the PKCS#11 C ABI of kmsbridge.
//!
//! Only the three discovery entry points are exported; every other function is
//! reached through the immutable tables in `tables`. Each entry is an
//! `extern "C"` shell in `entry/` around the provider's inner function.
#![allow(non_snake_case)]

mod convert;
mod entry;
mod guard;
mod tables;

use cryptoki_sys::*;

#[no_mangle]
pub extern "C" fn C_GetFunctionList(pp: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    entry::general::C_GetFunctionList_entry(pp)
}

#[no_mangle]
pub extern "C" fn C_GetInterfaceList(list: *mut CK_INTERFACE, count: *mut CK_ULONG) -> CK_RV {
    entry::general::C_GetInterfaceList_entry(list, count)
}

#[no_mangle]
pub extern "C" fn C_GetInterface(
    name: *mut CK_UTF8CHAR,
    version: *mut CK_VERSION,
    pp: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    entry::general::C_GetInterface_entry(name, version, pp, flags)
}
