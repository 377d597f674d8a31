//! Encrypt, decrypt, digest, sign and verify: shells over five shared shapes.

use crate::convert::{answer_len, input, mechanism_for, output};
use cryptoki_sys::*;
use kmsbridge_provider::bridge::mech::serves;
use kmsbridge_provider::bridge::OpKind;
use kmsbridge_provider::{state, Provider, Result};

/// The `C_*Init` shape: a mechanism (and, but for digests, a key) for the next operation.
fn init(
    kind: OpKind,
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: Option<CK_OBJECT_HANDLE>,
) -> Result<()> {
    let p = state::get()?;
    // A mechanism that does not serve `kind`, or that the instance does not offer, is
    // refused before its parameter is read.
    // SAFETY: the caller's mechanism.
    let m = unsafe { mechanism_for(mech, |t| serves(kind, t) && p.offers(session, t)) }
        .map_err(|e| p.session_error_first(session, e))?;
    p.op_init(session, kind, &m, key)
}

/// Argument errors end the active operation too, as every error but a short buffer
/// does; a bad session handle is reported before bad arguments.
fn checked<T>(p: &Provider, h: CK_SESSION_HANDLE, kind: OpKind, r: Result<T>) -> Result<T> {
    r.map_err(|e| {
        p.op_abort(h, kind);
        p.session_error_first(h, e)
    })
}

/// The provider call behind a function that reads input and writes output.
type OutputCall = fn(&Provider, CK_SESSION_HANDLE, &[u8], Option<&mut [u8]>) -> Result<usize>;

/// The shape of a function that reads input and writes output by the length convention.
fn with_output(
    kind: OpKind,
    session: CK_SESSION_HANDLE,
    data: *const u8,
    data_len: CK_ULONG,
    out: *mut u8,
    out_len: *mut CK_ULONG,
    call: OutputCall,
) -> Result<()> {
    let p = state::get()?;
    // SAFETY: the caller's buffers of the given lengths.
    let (i, o) = checked(&p, session, kind, unsafe {
        input(data, data_len).and_then(|i| Ok((i, output(out, out_len)?)))
    })?;
    let r = call(&p, session, i, o);
    // SAFETY: `out_len` checked by `output`.
    unsafe { answer_len(r, out_len) }
}

/// The `C_*Update` shape of operations that answer only at the end.
fn update(
    kind: OpKind,
    session: CK_SESSION_HANDLE,
    part: *const u8,
    len: CK_ULONG,
    call: fn(&Provider, CK_SESSION_HANDLE, &[u8]) -> Result<()>,
) -> Result<()> {
    let p = state::get()?;
    // SAFETY: the caller's buffer of `len` bytes.
    let i = checked(&p, session, kind, unsafe { input(part, len) })?;
    call(&p, session, i)
}

/// The `C_*Final` shape: the last output by the length convention.
fn finish(
    kind: OpKind,
    session: CK_SESSION_HANDLE,
    out: *mut u8,
    out_len: *mut CK_ULONG,
    call: fn(&Provider, CK_SESSION_HANDLE, Option<&mut [u8]>) -> Result<usize>,
) -> Result<()> {
    let p = state::get()?;
    // SAFETY: the caller's output buffer.
    let o = checked(&p, session, kind, unsafe { output(out, out_len) })?;
    let r = call(&p, session, o);
    // SAFETY: `out_len` checked by `output`.
    unsafe { answer_len(r, out_len) }
}

shells! {
    fn C_EncryptInit(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hKey: CK_OBJECT_HANDLE,
    ) {
        init(OpKind::Encrypt, hSession, pMechanism, Some(hKey))
    }
    fn C_Encrypt(
        hSession: CK_SESSION_HANDLE,
        pData: *mut CK_BYTE,
        ulDataLen: CK_ULONG,
        pEncryptedData: *mut CK_BYTE,
        pulEncryptedDataLen: *mut CK_ULONG,
    ) {
        with_output(
            OpKind::Encrypt,
            hSession,
            pData,
            ulDataLen,
            pEncryptedData,
            pulEncryptedDataLen,
            Provider::encrypt,
        )
    }
    fn C_EncryptUpdate(
        hSession: CK_SESSION_HANDLE,
        pPart: *mut CK_BYTE,
        ulPartLen: CK_ULONG,
        pEncryptedPart: *mut CK_BYTE,
        pulEncryptedPartLen: *mut CK_ULONG,
    ) {
        with_output(
            OpKind::Encrypt,
            hSession,
            pPart,
            ulPartLen,
            pEncryptedPart,
            pulEncryptedPartLen,
            Provider::encrypt_update,
        )
    }
    fn C_EncryptFinal(
        hSession: CK_SESSION_HANDLE,
        pLastEncryptedPart: *mut CK_BYTE,
        pulLastEncryptedPartLen: *mut CK_ULONG,
    ) {
        finish(
            OpKind::Encrypt,
            hSession,
            pLastEncryptedPart,
            pulLastEncryptedPartLen,
            Provider::encrypt_final,
        )
    }

    fn C_DecryptInit(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hKey: CK_OBJECT_HANDLE,
    ) {
        init(OpKind::Decrypt, hSession, pMechanism, Some(hKey))
    }
    fn C_Decrypt(
        hSession: CK_SESSION_HANDLE,
        pEncryptedData: *mut CK_BYTE,
        ulEncryptedDataLen: CK_ULONG,
        pData: *mut CK_BYTE,
        pulDataLen: *mut CK_ULONG,
    ) {
        with_output(
            OpKind::Decrypt,
            hSession,
            pEncryptedData,
            ulEncryptedDataLen,
            pData,
            pulDataLen,
            Provider::decrypt,
        )
    }
    fn C_DecryptUpdate(
        hSession: CK_SESSION_HANDLE,
        pEncryptedPart: *mut CK_BYTE,
        ulEncryptedPartLen: CK_ULONG,
        pPart: *mut CK_BYTE,
        pulPartLen: *mut CK_ULONG,
    ) {
        with_output(
            OpKind::Decrypt,
            hSession,
            pEncryptedPart,
            ulEncryptedPartLen,
            pPart,
            pulPartLen,
            Provider::decrypt_update,
        )
    }
    fn C_DecryptFinal(
        hSession: CK_SESSION_HANDLE,
        pLastPart: *mut CK_BYTE,
        pulLastPartLen: *mut CK_ULONG,
    ) {
        finish(OpKind::Decrypt, hSession, pLastPart, pulLastPartLen, Provider::decrypt_final)
    }

    fn C_DigestInit(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM) {
        init(OpKind::Digest, hSession, pMechanism, None)
    }
    fn C_Digest(
        hSession: CK_SESSION_HANDLE,
        pData: *mut CK_BYTE,
        ulDataLen: CK_ULONG,
        pDigest: *mut CK_BYTE,
        pulDigestLen: *mut CK_ULONG,
    ) {
        with_output(
            OpKind::Digest,
            hSession,
            pData,
            ulDataLen,
            pDigest,
            pulDigestLen,
            Provider::digest,
        )
    }
    fn C_DigestUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG) {
        update(OpKind::Digest, hSession, pPart, ulPartLen, Provider::digest_update)
    }
    fn C_DigestKey(hSession: CK_SESSION_HANDLE, hKey: CK_OBJECT_HANDLE) {
        state::get()?.digest_key(hSession, hKey)
    }
    fn C_DigestFinal(
        hSession: CK_SESSION_HANDLE,
        pDigest: *mut CK_BYTE,
        pulDigestLen: *mut CK_ULONG,
    ) {
        finish(OpKind::Digest, hSession, pDigest, pulDigestLen, Provider::digest_final)
    }

    fn C_SignInit(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hKey: CK_OBJECT_HANDLE,
    ) {
        init(OpKind::Sign, hSession, pMechanism, Some(hKey))
    }
    fn C_Sign(
        hSession: CK_SESSION_HANDLE,
        pData: *mut CK_BYTE,
        ulDataLen: CK_ULONG,
        pSignature: *mut CK_BYTE,
        pulSignatureLen: *mut CK_ULONG,
    ) {
        with_output(
            OpKind::Sign,
            hSession,
            pData,
            ulDataLen,
            pSignature,
            pulSignatureLen,
            Provider::sign,
        )
    }
    fn C_SignUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG) {
        update(OpKind::Sign, hSession, pPart, ulPartLen, Provider::sign_update)
    }
    fn C_SignFinal(
        hSession: CK_SESSION_HANDLE,
        pSignature: *mut CK_BYTE,
        pulSignatureLen: *mut CK_ULONG,
    ) {
        finish(OpKind::Sign, hSession, pSignature, pulSignatureLen, Provider::sign_final)
    }

    fn C_VerifyInit(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hKey: CK_OBJECT_HANDLE,
    ) {
        init(OpKind::Verify, hSession, pMechanism, Some(hKey))
    }
    fn C_Verify(
        hSession: CK_SESSION_HANDLE,
        pData: *mut CK_BYTE,
        ulDataLen: CK_ULONG,
        pSignature: *mut CK_BYTE,
        ulSignatureLen: CK_ULONG,
    ) {
        let p = state::get()?;
        // SAFETY: the caller's buffers of the given lengths.
        let (data, signature) = checked(&p, hSession, OpKind::Verify, unsafe {
            input(pData, ulDataLen).and_then(|d| Ok((d, input(pSignature, ulSignatureLen)?)))
        })?;
        p.verify(hSession, data, signature)
    }
    fn C_VerifyUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG) {
        update(OpKind::Verify, hSession, pPart, ulPartLen, Provider::verify_update)
    }
    fn C_VerifyFinal(
        hSession: CK_SESSION_HANDLE,
        pSignature: *mut CK_BYTE,
        ulSignatureLen: CK_ULONG,
    ) {
        let p = state::get()?;
        // SAFETY: the caller's signature of `ulSignatureLen` bytes.
        let signature = checked(&p, hSession, OpKind::Verify, unsafe {
            input(pSignature, ulSignatureLen)
        })?;
        p.verify_final(hSession, signature)
    }
}

unsupported! {
    C_SignRecoverInit(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hKey: CK_OBJECT_HANDLE,
    );
    C_SignRecover(
        hSession: CK_SESSION_HANDLE,
        pData: *mut CK_BYTE,
        ulDataLen: CK_ULONG,
        pSignature: *mut CK_BYTE,
        pulSignatureLen: *mut CK_ULONG,
    );
    C_VerifyRecoverInit(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hKey: CK_OBJECT_HANDLE,
    );
    C_VerifyRecover(
        hSession: CK_SESSION_HANDLE,
        pSignature: *mut CK_BYTE,
        ulSignatureLen: CK_ULONG,
        pData: *mut CK_BYTE,
        pulDataLen: *mut CK_ULONG,
    );
    C_DigestEncryptUpdate(
        hSession: CK_SESSION_HANDLE,
        pPart: *mut CK_BYTE,
        ulPartLen: CK_ULONG,
        pEncryptedPart: *mut CK_BYTE,
        pulEncryptedPartLen: *mut CK_ULONG,
    );
    C_DecryptDigestUpdate(
        hSession: CK_SESSION_HANDLE,
        pEncryptedPart: *mut CK_BYTE,
        ulEncryptedPartLen: CK_ULONG,
        pPart: *mut CK_BYTE,
        pulPartLen: *mut CK_ULONG,
    );
    C_SignEncryptUpdate(
        hSession: CK_SESSION_HANDLE,
        pPart: *mut CK_BYTE,
        ulPartLen: CK_ULONG,
        pEncryptedPart: *mut CK_BYTE,
        pulEncryptedPartLen: *mut CK_ULONG,
    );
    C_DecryptVerifyUpdate(
        hSession: CK_SESSION_HANDLE,
        pEncryptedPart: *mut CK_BYTE,
        ulEncryptedPartLen: CK_ULONG,
        pPart: *mut CK_BYTE,
        pulPartLen: *mut CK_ULONG,
    );
}
