//! Key generation, wrapping, unwrapping, derivation and random numbers.

use crate::convert::{
    answer_len, input, mechanism, mechanism_for, output, put, template, to_usize,
};
use crate::guard::bad;
use cryptoki_sys::*;
use kmsbridge_provider::bridge::mech::{is_derive, is_key_gen, is_key_pair_gen};
use kmsbridge_provider::state;

shells! {
    fn C_GenerateKey(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        pTemplate: *mut CK_ATTRIBUTE,
        ulCount: CK_ULONG,
        phKey: *mut CK_OBJECT_HANDLE,
    ) {
        let p = state::get()?;
        // The session is judged before the arguments (PKCS#11 5.1).
        let (m, t) = (|| {
            if phKey.is_null() {
                return Err(bad(CKR_ARGUMENTS_BAD, "NULL key handle pointer"));
            }
            // SAFETY: the caller's mechanism and template.
            unsafe { Ok((mechanism_for(pMechanism, is_key_gen)?, template(pTemplate, ulCount)?)) }
        })()
        .map_err(|e| p.session_error_first(hSession, e))?;
        let key = p.generate_key(hSession, &m, &t)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(phKey, key) }
    }

    fn C_GenerateKeyPair(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        pPublicKeyTemplate: *mut CK_ATTRIBUTE,
        ulPublicKeyAttributeCount: CK_ULONG,
        pPrivateKeyTemplate: *mut CK_ATTRIBUTE,
        ulPrivateKeyAttributeCount: CK_ULONG,
        phPublicKey: *mut CK_OBJECT_HANDLE,
        phPrivateKey: *mut CK_OBJECT_HANDLE,
    ) {
        let p = state::get()?;
        let (m, public, private) = (|| {
            if phPublicKey.is_null() || phPrivateKey.is_null() {
                return Err(bad(CKR_ARGUMENTS_BAD, "NULL key handle pointer"));
            }
            // SAFETY: the caller's mechanism and templates.
            unsafe {
                Ok((
                    mechanism_for(pMechanism, is_key_pair_gen)?,
                    template(pPublicKeyTemplate, ulPublicKeyAttributeCount)?,
                    template(pPrivateKeyTemplate, ulPrivateKeyAttributeCount)?,
                ))
            }
        })()
        .map_err(|e| p.session_error_first(hSession, e))?;
        let (public, private) = p.generate_key_pair(hSession, &m, &public, &private)?;
        // SAFETY: checked non-NULL above.
        unsafe {
            put(phPublicKey, public)?;
            put(phPrivateKey, private)
        }
    }

    fn C_WrapKey(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hWrappingKey: CK_OBJECT_HANDLE,
        hKey: CK_OBJECT_HANDLE,
        pWrappedKey: *mut CK_BYTE,
        pulWrappedKeyLen: *mut CK_ULONG,
    ) {
        let p = state::get()?;
        // SAFETY: the caller's mechanism and output buffer.
        let (m, out) = unsafe {
            mechanism(pMechanism).and_then(|m| Ok((m, output(pWrappedKey, pulWrappedKeyLen)?)))
        }
        .map_err(|e| p.session_error_first(hSession, e))?;
        let r = p.wrap_key(hSession, &m, hWrappingKey, hKey, out);
        // SAFETY: `pulWrappedKeyLen` checked by `output`.
        unsafe { answer_len(r, pulWrappedKeyLen) }
    }

    fn C_UnwrapKey(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hUnwrappingKey: CK_OBJECT_HANDLE,
        pWrappedKey: *mut CK_BYTE,
        ulWrappedKeyLen: CK_ULONG,
        pTemplate: *mut CK_ATTRIBUTE,
        ulAttributeCount: CK_ULONG,
        phKey: *mut CK_OBJECT_HANDLE,
    ) {
        let p = state::get()?;
        let (m, wrapped, t) = (|| {
            if phKey.is_null() {
                return Err(bad(CKR_ARGUMENTS_BAD, "NULL key handle pointer"));
            }
            // SAFETY: the caller's mechanism, wrapped key and template.
            unsafe {
                Ok((
                    mechanism(pMechanism)?,
                    input(pWrappedKey, ulWrappedKeyLen)?,
                    template(pTemplate, ulAttributeCount)?,
                ))
            }
        })()
        .map_err(|e| p.session_error_first(hSession, e))?;
        let key = p.unwrap_key(hSession, &m, hUnwrappingKey, wrapped, &t)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(phKey, key) }
    }

    fn C_DeriveKey(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        hBaseKey: CK_OBJECT_HANDLE,
        pTemplate: *mut CK_ATTRIBUTE,
        ulAttributeCount: CK_ULONG,
        phKey: *mut CK_OBJECT_HANDLE,
    ) {
        let p = state::get()?;
        let (m, t) = (|| {
            if phKey.is_null() {
                return Err(bad(CKR_ARGUMENTS_BAD, "NULL key handle pointer"));
            }
            // SAFETY: the caller's mechanism and template.
            unsafe {
                Ok((mechanism_for(pMechanism, |t| is_derive(t) && p.offers(hSession, t))?, template(pTemplate, ulAttributeCount)?))
            }
        })()
        .map_err(|e| p.session_error_first(hSession, e))?;
        let key = p.derive_key(hSession, &m, hBaseKey, &t)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(phKey, key) }
    }

    fn C_SeedRandom(hSession: CK_SESSION_HANDLE, pSeed: *mut CK_BYTE, ulSeedLen: CK_ULONG) {
        let p = state::get()?;
        // SAFETY: the caller's seed of `ulSeedLen` bytes.
        let seed = unsafe { input(pSeed, ulSeedLen) }?;
        p.seed_random(hSession, seed)
    }

    // `RandomData` (no `p`) is the specification's own spelling.
    fn C_GenerateRandom(
        hSession: CK_SESSION_HANDLE,
        RandomData: *mut CK_BYTE,
        ulRandomLen: CK_ULONG,
    ) {
        let p = state::get()?;
        if RandomData.is_null() && ulRandomLen > 0 {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL output"));
        }
        if ulRandomLen == 0 {
            p.session(hSession)?;
            return Ok(());
        }
        let len = to_usize(ulRandomLen)?;
        // SAFETY: `RandomData` holds `ulRandomLen` writable bytes per the caller.
        let buf = unsafe { std::slice::from_raw_parts_mut(RandomData, len) };
        p.generate_random(hSession, buf)
    }
}
