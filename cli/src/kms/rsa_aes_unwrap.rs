//! C_UnwrapKey with CKM_RSA_AES_KEY_WRAP. cryptoki 0.12 has no variant for this
//! mechanism, and `Mechanism::VendorDefined` only takes types at or above
//! CKM_VENDOR_DEFINED, so this one call goes to the module's own function list, on the
//! session and object handles cryptoki hands out (`Session::handle`, `ObjectHandle`),
//! with cryptoki-sys's types for the mechanism and its parameters.

use cryptoki::context::Function;
use cryptoki::error::{Error, Rv};
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::{
    CKG_MGF1_SHA1, CKG_MGF1_SHA256, CKM_RSA_AES_KEY_WRAP, CKM_SHA256, CKM_SHA_1,
    CKZ_DATA_SPECIFIED, CK_ATTRIBUTE, CK_FUNCTION_LIST, CK_MECHANISM, CK_OBJECT_HANDLE,
    CK_RSA_AES_KEY_WRAP_PARAMS, CK_RSA_PKCS_OAEP_PARAMS, CK_ULONG,
};
use std::ffi::c_void;
use std::ptr::null_mut;

/// The OAEP hash of the outer layer (MGF1 uses the same).
#[derive(Clone, Copy)]
pub enum OaepHash {
    Sha1,
    Sha256,
}

/// Import `blob` (OAEP-encrypted AES-256 key, then the RFC 5649 wrap of the material)
/// with `unwrapping_key`, making an object from `template`.
pub fn unwrap(
    s: &Session,
    hash: OaepHash,
    unwrapping_key: ObjectHandle,
    blob: &[u8],
    template: &[Attribute],
) -> Result<ObjectHandle, Error> {
    // The same file cryptoki loaded: dlopen hands back the already loaded, already
    // initialised module, so the session handle is valid here.
    let path = crate::module::path();
    // SAFETY: loading a PKCS#11 module runs no initialiser beyond what cryptoki's own
    // load of the same file already ran.
    let lib = unsafe { cryptoki_sys::Pkcs11::new(&path) }.map_err(Error::LibraryLoading)?;
    let get_list = lib
        .C_GetFunctionList
        .as_ref()
        .map_err(|_| Error::MissingSymbol("C_GetFunctionList"))?;
    let mut list: *mut CK_FUNCTION_LIST = null_mut();
    // SAFETY: C_GetFunctionList writes one pointer to a list the module owns for as
    // long as it is loaded (`lib` keeps it loaded through this call).
    Rv::from(unsafe { get_list(&mut list) }).into_result(Function::GetFunctionList)?;
    if list.is_null() {
        return Err(Error::NullFunctionPointer);
    }
    // SAFETY: non-null, and valid while the module is loaded.
    let unwrap_key = unsafe { (*list).C_UnwrapKey }.ok_or(Error::NullFunctionPointer)?;

    let (hash_alg, mgf) = match hash {
        OaepHash::Sha1 => (CKM_SHA_1, CKG_MGF1_SHA1),
        OaepHash::Sha256 => (CKM_SHA256, CKG_MGF1_SHA256),
    };
    let mut oaep = CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: hash_alg,
        mgf,
        source: CKZ_DATA_SPECIFIED,
        pSourceData: null_mut(),
        ulSourceDataLen: 0,
    };
    let mut params = CK_RSA_AES_KEY_WRAP_PARAMS {
        ulAESKeyBits: 256,
        pOAEPParams: &mut oaep,
    };
    let mut mechanism = CK_MECHANISM {
        mechanism: CKM_RSA_AES_KEY_WRAP,
        pParameter: (&mut params as *mut CK_RSA_AES_KEY_WRAP_PARAMS).cast::<c_void>(),
        ulParameterLen: std::mem::size_of::<CK_RSA_AES_KEY_WRAP_PARAMS>() as CK_ULONG,
    };
    // The CK_ATTRIBUTEs point into `template`, which outlives the call.
    let mut attrs: Vec<CK_ATTRIBUTE> = template.iter().map(CK_ATTRIBUTE::from).collect();
    let mut wrapped = blob.to_vec();
    let mut handle: CK_OBJECT_HANDLE = 0;
    // SAFETY: every pointer is to a live local of the right type and length; the module
    // only reads the mechanism, the blob and the template, and writes `handle`.
    let rv = unsafe {
        unwrap_key(
            s.handle(),
            &mut mechanism,
            unwrapping_key.handle(),
            wrapped.as_mut_ptr(),
            wrapped.len() as CK_ULONG,
            attrs.as_mut_ptr(),
            attrs.len() as CK_ULONG,
            &mut handle,
        )
    };
    Rv::from(rv).into_result(Function::UnwrapKey)?;
    // SAFETY: the module just returned this handle for a new object in this session.
    Ok(unsafe { ObjectHandle::new_from_raw(handle) })
}
