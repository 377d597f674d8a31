//! libkmsbridge.so: the PKCS#11 C ABI of kmsbridge.
//!
//! Only the three discovery entry points are exported; every other function is
//! reached through the immutable tables in `tables`. Each entry is an
//! `extern "C"` shell in `entry/` around the provider's inner function.

mod convert;
mod entry;
mod guard;
mod tables;

use cryptoki_sys::*;

// The three exports forward to their shells in `entry/` (which hold the guard);
// the tables point at those shells, never at these dynamic symbols, so a
// same-named export of another module loaded first cannot stand in for them.
// Their parameter names are the specification's.

#[allow(non_snake_case)]
#[no_mangle]
pub extern "C" fn C_GetFunctionList(ppFunctionList: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    entry::general::C_GetFunctionList(ppFunctionList)
}

#[allow(non_snake_case)]
#[no_mangle]
pub extern "C" fn C_GetInterfaceList(
    pInterfacesList: *mut CK_INTERFACE,
    pulCount: *mut CK_ULONG,
) -> CK_RV {
    entry::general::C_GetInterfaceList(pInterfacesList, pulCount)
}

#[allow(non_snake_case)]
#[no_mangle]
pub extern "C" fn C_GetInterface(
    pInterfaceName: *mut CK_UTF8CHAR,
    pVersion: *mut CK_VERSION,
    ppInterface: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    entry::general::C_GetInterface(pInterfaceName, pVersion, ppInterface, flags)
}
