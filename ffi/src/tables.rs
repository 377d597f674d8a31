//! The immutable function tables (2.40 and 3.0) and the interface list.
//! Every entry is set: what kmsbridge does not offer answers CKR_FUNCTION_NOT_SUPPORTED.

use crate::entry::*;
use cryptoki_sys::*;

/// Both tables share the 2.40 entries; they differ in the version, in C_GetInfo
/// (which reports that version) and in the 3.0 additions.
macro_rules! function_list {
    ($ty:ident, $major:expr, $minor:expr, $info:path, { $($name:ident: $f:path,)* }) => {
        $ty {
            version: CK_VERSION { major: $major, minor: $minor },
            C_GetInfo: Some($info),
            C_Initialize: Some(general::C_Initialize),
            C_Finalize: Some(general::C_Finalize),
            C_GetFunctionList: Some(general::C_GetFunctionList),
            C_GetSlotList: Some(slots::C_GetSlotList),
            C_GetSlotInfo: Some(slots::C_GetSlotInfo),
            C_GetTokenInfo: Some(slots::C_GetTokenInfo),
            C_GetMechanismList: Some(slots::C_GetMechanismList),
            C_GetMechanismInfo: Some(slots::C_GetMechanismInfo),
            C_InitToken: Some(slots::C_InitToken),
            C_InitPIN: Some(slots::C_InitPIN),
            C_SetPIN: Some(slots::C_SetPIN),
            C_OpenSession: Some(sessions::C_OpenSession),
            C_CloseSession: Some(sessions::C_CloseSession),
            C_CloseAllSessions: Some(sessions::C_CloseAllSessions),
            C_GetSessionInfo: Some(sessions::C_GetSessionInfo),
            C_GetOperationState: Some(sessions::C_GetOperationState),
            C_SetOperationState: Some(sessions::C_SetOperationState),
            C_Login: Some(sessions::C_Login),
            C_Logout: Some(sessions::C_Logout),
            C_CreateObject: Some(objects::C_CreateObject),
            C_CopyObject: Some(objects::C_CopyObject),
            C_DestroyObject: Some(objects::C_DestroyObject),
            C_GetObjectSize: Some(objects::C_GetObjectSize),
            C_GetAttributeValue: Some(objects::C_GetAttributeValue),
            C_SetAttributeValue: Some(objects::C_SetAttributeValue),
            C_FindObjectsInit: Some(objects::C_FindObjectsInit),
            C_FindObjects: Some(objects::C_FindObjects),
            C_FindObjectsFinal: Some(objects::C_FindObjectsFinal),
            C_EncryptInit: Some(crypto::C_EncryptInit),
            C_Encrypt: Some(crypto::C_Encrypt),
            C_EncryptUpdate: Some(crypto::C_EncryptUpdate),
            C_EncryptFinal: Some(crypto::C_EncryptFinal),
            C_DecryptInit: Some(crypto::C_DecryptInit),
            C_Decrypt: Some(crypto::C_Decrypt),
            C_DecryptUpdate: Some(crypto::C_DecryptUpdate),
            C_DecryptFinal: Some(crypto::C_DecryptFinal),
            C_DigestInit: Some(crypto::C_DigestInit),
            C_Digest: Some(crypto::C_Digest),
            C_DigestUpdate: Some(crypto::C_DigestUpdate),
            C_DigestKey: Some(crypto::C_DigestKey),
            C_DigestFinal: Some(crypto::C_DigestFinal),
            C_SignInit: Some(crypto::C_SignInit),
            C_Sign: Some(crypto::C_Sign),
            C_SignUpdate: Some(crypto::C_SignUpdate),
            C_SignFinal: Some(crypto::C_SignFinal),
            C_SignRecoverInit: Some(crypto::C_SignRecoverInit),
            C_SignRecover: Some(crypto::C_SignRecover),
            C_VerifyInit: Some(crypto::C_VerifyInit),
            C_Verify: Some(crypto::C_Verify),
            C_VerifyUpdate: Some(crypto::C_VerifyUpdate),
            C_VerifyFinal: Some(crypto::C_VerifyFinal),
            C_VerifyRecoverInit: Some(crypto::C_VerifyRecoverInit),
            C_VerifyRecover: Some(crypto::C_VerifyRecover),
            C_DigestEncryptUpdate: Some(crypto::C_DigestEncryptUpdate),
            C_DecryptDigestUpdate: Some(crypto::C_DecryptDigestUpdate),
            C_SignEncryptUpdate: Some(crypto::C_SignEncryptUpdate),
            C_DecryptVerifyUpdate: Some(crypto::C_DecryptVerifyUpdate),
            C_GenerateKey: Some(keys::C_GenerateKey),
            C_GenerateKeyPair: Some(keys::C_GenerateKeyPair),
            C_WrapKey: Some(keys::C_WrapKey),
            C_UnwrapKey: Some(keys::C_UnwrapKey),
            C_DeriveKey: Some(keys::C_DeriveKey),
            C_SeedRandom: Some(keys::C_SeedRandom),
            C_GenerateRandom: Some(keys::C_GenerateRandom),
            C_GetFunctionStatus: Some(general::C_GetFunctionStatus),
            C_CancelFunction: Some(general::C_CancelFunction),
            C_WaitForSlotEvent: Some(general::C_WaitForSlotEvent),
            $($name: Some($f),)*
        }
    };
}

static LIST_V2: CK_FUNCTION_LIST =
    function_list!(CK_FUNCTION_LIST, 2, 40, general::v2::C_GetInfo, {});

static LIST_V3: CK_FUNCTION_LIST_3_0 = function_list!(CK_FUNCTION_LIST_3_0, 3, 0, general::v3::C_GetInfo, {
    C_GetInterfaceList: general::C_GetInterfaceList,
    C_GetInterface: general::C_GetInterface,
    C_LoginUser: sessions::C_LoginUser,
    C_SessionCancel: sessions::C_SessionCancel,
    C_MessageEncryptInit: message::C_MessageEncryptInit,
    C_EncryptMessage: message::C_EncryptMessage,
    C_EncryptMessageBegin: message::C_EncryptMessageBegin,
    C_EncryptMessageNext: message::C_EncryptMessageNext,
    C_MessageEncryptFinal: message::C_MessageEncryptFinal,
    C_MessageDecryptInit: message::C_MessageDecryptInit,
    C_DecryptMessage: message::C_DecryptMessage,
    C_DecryptMessageBegin: message::C_DecryptMessageBegin,
    C_DecryptMessageNext: message::C_DecryptMessageNext,
    C_MessageDecryptFinal: message::C_MessageDecryptFinal,
    C_MessageSignInit: message::C_MessageSignInit,
    C_SignMessage: message::C_SignMessage,
    C_SignMessageBegin: message::C_SignMessageBegin,
    C_SignMessageNext: message::C_SignMessageNext,
    C_MessageSignFinal: message::C_MessageSignFinal,
    C_MessageVerifyInit: message::C_MessageVerifyInit,
    C_VerifyMessage: message::C_VerifyMessage,
    C_VerifyMessageBegin: message::C_VerifyMessageBegin,
    C_VerifyMessageNext: message::C_VerifyMessageNext,
    C_MessageVerifyFinal: message::C_MessageVerifyFinal,
});

static NAME: &[u8] = b"PKCS 11\0";

/// CK_INTERFACE holds raw pointers; these point at immutable statics.
struct Interfaces([CK_INTERFACE; 2]);
// SAFETY: the pointers are to immutable statics that applications only read.
unsafe impl Sync for Interfaces {}

static INTERFACES: Interfaces = Interfaces([
    CK_INTERFACE {
        pInterfaceName: NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &LIST_V3 as *const CK_FUNCTION_LIST_3_0 as *mut std::ffi::c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &LIST_V2 as *const CK_FUNCTION_LIST as *mut std::ffi::c_void,
        flags: 0,
    },
]);

pub fn v2_list() -> *mut CK_FUNCTION_LIST {
    &LIST_V2 as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST
}

pub fn interfaces() -> [CK_INTERFACE; 2] {
    INTERFACES.0
}

/// The interface of `version` (default 3.0) if it offers every flag asked for.
pub fn interface_for(version: Option<CK_VERSION>, flags: CK_FLAGS) -> Option<*mut CK_INTERFACE> {
    let [v3, v2] = &INTERFACES.0;
    let iface = match version.map(|v| (v.major, v.minor)) {
        None | Some((3, 0)) => v3,
        Some((2, 40)) => v2,
        Some(_) => return None,
    };
    (iface.flags & flags == flags).then_some(iface as *const CK_INTERFACE as *mut CK_INTERFACE)
}
