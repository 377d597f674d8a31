//! Encrypt, decrypt, digest, sign and verify: shells over five shared shapes.

use crate::convert::{answer_len, input, mechanism, output};
use crate::guard::{bad, guard};
use cryptoki_sys::*;
use kmsbridge_provider::bridge::OpKind;
use kmsbridge_provider::{state, Provider, Result};

fn init(
    func: &'static str,
    kind: OpKind,
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: Option<CK_OBJECT_HANDLE>,
) -> CK_RV {
    guard(func, || {
        let p = state::get()?;
        // SAFETY: the caller's mechanism.
        let m = unsafe { mechanism(m) }.map_err(|e| p.session_error_first(h, e))?;
        p.op_init(h, kind, &m, key)
    })
}

/// Argument errors end the active operation too, as every error but a short buffer
/// does; a bad session handle is reported before bad arguments.
fn checked<T>(p: &Provider, h: CK_SESSION_HANDLE, kind: OpKind, r: Result<T>) -> Result<T> {
    r.map_err(|e| {
        p.op_abort(h, kind);
        p.session_error_first(h, e)
    })
}

/// The provider call behind a function that writes output.
type OutputCall =
    fn(&Provider, CK_SESSION_HANDLE, OpKind, &[u8], Option<&mut [u8]>) -> Result<usize>;

#[allow(clippy::too_many_arguments)] // the C signature's six plus name and call
fn with_output(
    func: &'static str,
    kind: OpKind,
    h: CK_SESSION_HANDLE,
    data: *const u8,
    data_len: CK_ULONG,
    out: *mut u8,
    out_len: *mut CK_ULONG,
    call: OutputCall,
) -> CK_RV {
    guard(func, || {
        let p = state::get()?;
        // SAFETY: the caller's buffers of the given lengths.
        let (i, o) = checked(&p, h, kind, unsafe {
            input(data, data_len).and_then(|i| Ok((i, output(out, out_len)?)))
        })?;
        let r = call(&p, h, kind, i, o);
        // SAFETY: `out_len` checked by `output`.
        unsafe { answer_len(r, out_len) }
    })
}

fn single(
    p: &Provider,
    h: CK_SESSION_HANDLE,
    k: OpKind,
    i: &[u8],
    o: Option<&mut [u8]>,
) -> Result<usize> {
    p.op_run(h, k, i, o)
}

fn part(
    p: &Provider,
    h: CK_SESSION_HANDLE,
    k: OpKind,
    i: &[u8],
    o: Option<&mut [u8]>,
) -> Result<usize> {
    p.op_update_out(h, k, i, o)
}

fn update(
    func: &'static str,
    kind: OpKind,
    h: CK_SESSION_HANDLE,
    data: *const u8,
    len: CK_ULONG,
) -> CK_RV {
    guard(func, || {
        let p = state::get()?;
        // SAFETY: the caller's buffer of `len` bytes.
        let i = checked(&p, h, kind, unsafe { input(data, len) })?;
        p.op_update(h, kind, i)
    })
}

fn finish(
    func: &'static str,
    kind: OpKind,
    h: CK_SESSION_HANDLE,
    out: *mut u8,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    guard(func, || {
        let p = state::get()?;
        // SAFETY: the caller's output buffer.
        let o = checked(&p, h, kind, unsafe { output(out, out_len) })?;
        let r = p.op_final(h, kind, o);
        // SAFETY: `out_len` checked by `output`.
        unsafe { answer_len(r, out_len) }
    })
}

pub extern "C" fn C_EncryptInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    init("C_EncryptInit", OpKind::Encrypt, h, m, Some(key))
}
pub extern "C" fn C_Encrypt(
    h: CK_SESSION_HANDLE,
    d: *mut u8,
    dl: CK_ULONG,
    o: *mut u8,
    ol: *mut CK_ULONG,
) -> CK_RV {
    with_output("C_Encrypt", OpKind::Encrypt, h, d, dl, o, ol, single)
}
pub extern "C" fn C_EncryptUpdate(
    h: CK_SESSION_HANDLE,
    d: *mut u8,
    dl: CK_ULONG,
    o: *mut u8,
    ol: *mut CK_ULONG,
) -> CK_RV {
    with_output("C_EncryptUpdate", OpKind::Encrypt, h, d, dl, o, ol, part)
}
pub extern "C" fn C_EncryptFinal(h: CK_SESSION_HANDLE, o: *mut u8, ol: *mut CK_ULONG) -> CK_RV {
    finish("C_EncryptFinal", OpKind::Encrypt, h, o, ol)
}

pub extern "C" fn C_DecryptInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    init("C_DecryptInit", OpKind::Decrypt, h, m, Some(key))
}
pub extern "C" fn C_Decrypt(
    h: CK_SESSION_HANDLE,
    d: *mut u8,
    dl: CK_ULONG,
    o: *mut u8,
    ol: *mut CK_ULONG,
) -> CK_RV {
    with_output("C_Decrypt", OpKind::Decrypt, h, d, dl, o, ol, single)
}
pub extern "C" fn C_DecryptUpdate(
    h: CK_SESSION_HANDLE,
    d: *mut u8,
    dl: CK_ULONG,
    o: *mut u8,
    ol: *mut CK_ULONG,
) -> CK_RV {
    with_output("C_DecryptUpdate", OpKind::Decrypt, h, d, dl, o, ol, part)
}
pub extern "C" fn C_DecryptFinal(h: CK_SESSION_HANDLE, o: *mut u8, ol: *mut CK_ULONG) -> CK_RV {
    finish("C_DecryptFinal", OpKind::Decrypt, h, o, ol)
}

pub extern "C" fn C_DigestInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM) -> CK_RV {
    init("C_DigestInit", OpKind::Digest, h, m, None)
}
pub extern "C" fn C_Digest(
    h: CK_SESSION_HANDLE,
    d: *mut u8,
    dl: CK_ULONG,
    o: *mut u8,
    ol: *mut CK_ULONG,
) -> CK_RV {
    with_output("C_Digest", OpKind::Digest, h, d, dl, o, ol, single)
}
pub extern "C" fn C_DigestUpdate(h: CK_SESSION_HANDLE, d: *mut u8, dl: CK_ULONG) -> CK_RV {
    update("C_DigestUpdate", OpKind::Digest, h, d, dl)
}
pub extern "C" fn C_DigestKey(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> CK_RV {
    guard("C_DigestKey", || state::get()?.digest_key(h, key))
}
pub extern "C" fn C_DigestFinal(h: CK_SESSION_HANDLE, o: *mut u8, ol: *mut CK_ULONG) -> CK_RV {
    finish("C_DigestFinal", OpKind::Digest, h, o, ol)
}

pub extern "C" fn C_SignInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    init("C_SignInit", OpKind::Sign, h, m, Some(key))
}
pub extern "C" fn C_Sign(
    h: CK_SESSION_HANDLE,
    d: *mut u8,
    dl: CK_ULONG,
    o: *mut u8,
    ol: *mut CK_ULONG,
) -> CK_RV {
    with_output("C_Sign", OpKind::Sign, h, d, dl, o, ol, single)
}
pub extern "C" fn C_SignUpdate(h: CK_SESSION_HANDLE, d: *mut u8, dl: CK_ULONG) -> CK_RV {
    update("C_SignUpdate", OpKind::Sign, h, d, dl)
}
pub extern "C" fn C_SignFinal(h: CK_SESSION_HANDLE, o: *mut u8, ol: *mut CK_ULONG) -> CK_RV {
    finish("C_SignFinal", OpKind::Sign, h, o, ol)
}

pub extern "C" fn C_VerifyInit(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    init("C_VerifyInit", OpKind::Verify, h, m, Some(key))
}
pub extern "C" fn C_Verify(
    h: CK_SESSION_HANDLE,
    d: *mut u8,
    dl: CK_ULONG,
    s: *mut u8,
    sl: CK_ULONG,
) -> CK_RV {
    guard("C_Verify", || {
        let p = state::get()?;
        // SAFETY: the caller's buffers of the given lengths.
        let (d, s) = checked(&p, h, OpKind::Verify, unsafe {
            input(d, dl).and_then(|d| Ok((d, input(s, sl)?)))
        })?;
        p.verify(h, d, s)
    })
}
pub extern "C" fn C_VerifyUpdate(h: CK_SESSION_HANDLE, d: *mut u8, dl: CK_ULONG) -> CK_RV {
    update("C_VerifyUpdate", OpKind::Verify, h, d, dl)
}
pub extern "C" fn C_VerifyFinal(h: CK_SESSION_HANDLE, s: *mut u8, sl: CK_ULONG) -> CK_RV {
    guard("C_VerifyFinal", || {
        let p = state::get()?;
        // SAFETY: the caller's signature of `sl` bytes.
        let s = checked(&p, h, OpKind::Verify, unsafe { input(s, sl) })?;
        p.verify_final(h, s)
    })
}

/// Functions kmsbridge does not offer (SoftHSM2 2.6 lacks them too); listed in docs/FUNCTIONS.md.
macro_rules! unsupported {
    ($($name:ident ( $($arg:ident : $ty:ty),* );)*) => {$(
        pub extern "C" fn $name($($arg: $ty),*) -> CK_RV {
            guard(stringify!($name), || {
                let _ = ($($arg),*);
                state::check()?;
                Err(bad(CKR_FUNCTION_NOT_SUPPORTED, "not offered by kmsbridge"))
            })
        }
    )*};
}

unsupported! {
    C_SignRecoverInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_SignRecover(h: CK_SESSION_HANDLE, d: *mut u8, dl: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG);
    C_VerifyRecoverInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, k: CK_OBJECT_HANDLE);
    C_VerifyRecover(h: CK_SESSION_HANDLE, d: *mut u8, dl: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG);
    C_DigestEncryptUpdate(h: CK_SESSION_HANDLE, d: *mut u8, dl: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG);
    C_DecryptDigestUpdate(h: CK_SESSION_HANDLE, d: *mut u8, dl: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG);
    C_SignEncryptUpdate(h: CK_SESSION_HANDLE, d: *mut u8, dl: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG);
    C_DecryptVerifyUpdate(h: CK_SESSION_HANDLE, d: *mut u8, dl: CK_ULONG, o: *mut u8, ol: *mut CK_ULONG);
}

pub(crate) use unsupported;
