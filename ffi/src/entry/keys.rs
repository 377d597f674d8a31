//! Key generation, wrapping, unwrapping, derivation and random numbers.

use crate::convert::{answer_len, input, mechanism, output, put, template};
use crate::guard::{bad, guard};
use cryptoki_sys::*;
use kmsbridge_provider::state;

pub extern "C" fn C_GenerateKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_GenerateKey", || {
        let p = state::get()?;
        if ph.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL key handle pointer"));
        }
        // SAFETY: the caller's mechanism and template.
        let (m, t) = unsafe { (mechanism(m)?, template(t, n)?) };
        let k = p.generate_key(h, &m, &t)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(ph, k) }
    })
}

#[allow(clippy::too_many_arguments)]
pub extern "C" fn C_GenerateKeyPair(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    pub_t: *mut CK_ATTRIBUTE,
    pub_n: CK_ULONG,
    priv_t: *mut CK_ATTRIBUTE,
    priv_n: CK_ULONG,
    ph_pub: *mut CK_OBJECT_HANDLE,
    ph_priv: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_GenerateKeyPair", || {
        let p = state::get()?;
        if ph_pub.is_null() || ph_priv.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL key handle pointer"));
        }
        // SAFETY: the caller's mechanism and templates.
        let (m, pu, pr) = unsafe {
            (
                mechanism(m)?,
                template(pub_t, pub_n)?,
                template(priv_t, priv_n)?,
            )
        };
        let (a, b) = p.generate_key_pair(h, &m, &pu, &pr)?;
        // SAFETY: checked non-NULL above.
        unsafe {
            put(ph_pub, a)?;
            put(ph_priv, b)
        }
    })
}

pub extern "C" fn C_WrapKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    wrapping: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    guard("C_WrapKey", || {
        let p = state::get()?;
        // SAFETY: the caller's mechanism and output buffer.
        let (m, o) = unsafe { (mechanism(m)?, output(out, out_len)?) };
        let r = p.wrap_key(h, &m, wrapping, key, o);
        // SAFETY: `out_len` checked by `output`.
        unsafe { answer_len(r, out_len) }
    })
}

#[allow(clippy::too_many_arguments)]
pub extern "C" fn C_UnwrapKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    unwrapping: CK_OBJECT_HANDLE,
    wrapped: *mut CK_BYTE,
    wrapped_len: CK_ULONG,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_UnwrapKey", || {
        let p = state::get()?;
        if ph.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL key handle pointer"));
        }
        // SAFETY: the caller's mechanism, wrapped key and template.
        let (m, w, t) = unsafe { (mechanism(m)?, input(wrapped, wrapped_len)?, template(t, n)?) };
        let k = p.unwrap_key(h, &m, unwrapping, w, &t)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(ph, k) }
    })
}

pub extern "C" fn C_DeriveKey(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    base: CK_OBJECT_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    ph: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("C_DeriveKey", || {
        let p = state::get()?;
        if ph.is_null() {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL key handle pointer"));
        }
        // SAFETY: the caller's mechanism and template.
        let (m, t) = unsafe { (mechanism(m)?, template(t, n)?) };
        let k = p.derive_key(h, &m, base, &t)?;
        // SAFETY: checked non-NULL above.
        unsafe { put(ph, k) }
    })
}

pub extern "C" fn C_SeedRandom(h: CK_SESSION_HANDLE, seed: *mut CK_BYTE, len: CK_ULONG) -> CK_RV {
    guard("C_SeedRandom", || {
        let p = state::get()?;
        // SAFETY: the caller's seed of `len` bytes.
        let seed = unsafe { input(seed, len) }?;
        p.seed_random(h, seed)
    })
}

pub extern "C" fn C_GenerateRandom(
    h: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    guard("C_GenerateRandom", || {
        let p = state::get()?;
        if out.is_null() && len > 0 {
            return Err(bad(CKR_ARGUMENTS_BAD, "NULL output"));
        }
        if len == 0 {
            p.session(h)?;
            return Ok(());
        }
        // SAFETY: `out` holds `len` writable bytes per the caller.
        let buf = unsafe { std::slice::from_raw_parts_mut(out, len as usize) };
        p.generate_random(h, buf)
    })
}
