//! PKCS#11 3.0 message-based functions: not offered (SoftHSM2 2.6 has none);
//! each answers CKR_FUNCTION_NOT_SUPPORTED and is listed in docs/FUNCTIONS.md.

use cryptoki_sys::*;
use std::ffi::c_void;

unsupported! {
    C_MessageEncryptInit(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hKey: CK_OBJECT_HANDLE,
    );
    C_EncryptMessage(
        hSession: CK_SESSION_HANDLE,
        pParameter: *mut c_void,
        ulParameterLen: CK_ULONG,
        pAssociatedData: *mut CK_BYTE,
        ulAssociatedDataLen: CK_ULONG,
        pPlaintext: *mut CK_BYTE,
        ulPlaintextLen: CK_ULONG,
        pCiphertext: *mut CK_BYTE,
        pulCiphertextLen: *mut CK_ULONG,
    );
    C_EncryptMessageBegin(
        hSession: CK_SESSION_HANDLE,
        pParameter: *mut c_void,
        ulParameterLen: CK_ULONG,
        pAssociatedData: *mut CK_BYTE,
        ulAssociatedDataLen: CK_ULONG,
    );
    C_EncryptMessageNext(
        hSession: CK_SESSION_HANDLE,
        pParameter: *mut c_void,
        ulParameterLen: CK_ULONG,
        pPlaintextPart: *mut CK_BYTE,
        ulPlaintextPartLen: CK_ULONG,
        pCiphertextPart: *mut CK_BYTE,
        pulCiphertextPartLen: *mut CK_ULONG,
        flags: CK_FLAGS,
    );
    C_MessageEncryptFinal(hSession: CK_SESSION_HANDLE);

    C_MessageDecryptInit(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hKey: CK_OBJECT_HANDLE,
    );
    C_DecryptMessage(
        hSession: CK_SESSION_HANDLE,
        pParameter: *mut c_void,
        ulParameterLen: CK_ULONG,
        pAssociatedData: *mut CK_BYTE,
        ulAssociatedDataLen: CK_ULONG,
        pCiphertext: *mut CK_BYTE,
        ulCiphertextLen: CK_ULONG,
        pPlaintext: *mut CK_BYTE,
        pulPlaintextLen: *mut CK_ULONG,
    );
    C_DecryptMessageBegin(
        hSession: CK_SESSION_HANDLE,
        pParameter: *mut c_void,
        ulParameterLen: CK_ULONG,
        pAssociatedData: *mut CK_BYTE,
        ulAssociatedDataLen: CK_ULONG,
    );
    C_DecryptMessageNext(
        hSession: CK_SESSION_HANDLE,
        pParameter: *mut c_void,
        ulParameterLen: CK_ULONG,
        pCiphertextPart: *mut CK_BYTE,
        ulCiphertextPartLen: CK_ULONG,
        pPlaintextPart: *mut CK_BYTE,
        pulPlaintextPartLen: *mut CK_ULONG,
        flags: CK_FLAGS,
    );
    C_MessageDecryptFinal(hSession: CK_SESSION_HANDLE);

    C_MessageSignInit(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hKey: CK_OBJECT_HANDLE,
    );
    C_SignMessage(
        hSession: CK_SESSION_HANDLE,
        pParameter: *mut c_void,
        ulParameterLen: CK_ULONG,
        pData: *mut CK_BYTE,
        ulDataLen: CK_ULONG,
        pSignature: *mut CK_BYTE,
        pulSignatureLen: *mut CK_ULONG,
    );
    C_SignMessageBegin(
        hSession: CK_SESSION_HANDLE,
        pParameter: *mut c_void,
        ulParameterLen: CK_ULONG,
    );
    C_SignMessageNext(
        hSession: CK_SESSION_HANDLE,
        pParameter: *mut c_void,
        ulParameterLen: CK_ULONG,
        pData: *mut CK_BYTE,
        ulDataLen: CK_ULONG,
        pSignature: *mut CK_BYTE,
        pulSignatureLen: *mut CK_ULONG,
    );
    C_MessageSignFinal(hSession: CK_SESSION_HANDLE);

    C_MessageVerifyInit(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hKey: CK_OBJECT_HANDLE,
    );
    C_VerifyMessage(
        hSession: CK_SESSION_HANDLE,
        pParameter: *mut c_void,
        ulParameterLen: CK_ULONG,
        pData: *mut CK_BYTE,
        ulDataLen: CK_ULONG,
        pSignature: *mut CK_BYTE,
        ulSignatureLen: CK_ULONG,
    );
    C_VerifyMessageBegin(
        hSession: CK_SESSION_HANDLE,
        pParameter: *mut c_void,
        ulParameterLen: CK_ULONG,
    );
    C_VerifyMessageNext(
        hSession: CK_SESSION_HANDLE,
        pParameter: *mut c_void,
        ulParameterLen: CK_ULONG,
        pData: *mut CK_BYTE,
        ulDataLen: CK_ULONG,
        pSignature: *mut CK_BYTE,
        ulSignatureLen: CK_ULONG,
    );
    C_MessageVerifyFinal(hSession: CK_SESSION_HANDLE);
}
