//! Single backend calls on one borrowed session, for the functions the node
//! composes (unwraps, check values). Each leaves the session with no operation
//! active, whatever the outcome, so the next borrower finds it clean.

use super::op::{cancel, cancel_all};
use super::pool::{Lease, Pool};
use crate::backend::{ObjectId, OpKind};
use crate::error::{check, Error, Result};
use crate::{Attr, Mechanism};
use cryptoki_sys::*;
use std::borrow::Borrow;
use zeroize::Zeroizing;

/// A template as raw attributes pointing into `t`; valid while `t` lives.
pub(super) fn raw_template(t: &[Attr]) -> Vec<CK_ATTRIBUTE> {
    t.iter()
        .map(|a| CK_ATTRIBUTE {
            type_: a.ty,
            pValue: if a.value.is_empty() {
                std::ptr::null_mut()
            } else {
                a.value.as_ptr() as *mut _
            },
            ulValueLen: a.value.len() as CK_ULONG,
        })
        .collect()
}

fn ptr(b: &[u8]) -> *mut u8 {
    b.as_ptr() as *mut u8
}

/// An attribute's value; `None` when the object lacks it or keeps it secret.
pub(super) fn attr<P: Borrow<Pool>>(
    s: &Lease<P>,
    obj: ObjectId,
    ty: CK_ATTRIBUTE_TYPE,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let mut a = CK_ATTRIBUTE {
        type_: ty,
        pValue: std::ptr::null_mut(),
        ulValueLen: 0,
    };
    let rv = s.lib().call(
        |l| l.C_GetAttributeValue,
        // SAFETY: one attribute, `a`, with no value buffer: the library writes only
        // its length into `a`, which lives for the call.
        |f| unsafe { f(s.handle(), obj, &mut a, 1) },
    );
    match rv {
        CKR_OK if a.ulValueLen != CK_UNAVAILABLE_INFORMATION => {}
        CKR_OK | CKR_ATTRIBUTE_TYPE_INVALID | CKR_ATTRIBUTE_SENSITIVE => return Ok(None),
        _ => return Err(Error::rv(rv, "C_GetAttributeValue")),
    }
    let mut v = Zeroizing::new(vec![0u8; a.ulValueLen as usize]);
    a.pValue = v.as_mut_ptr() as *mut _;
    let rv = s.lib().call(
        |l| l.C_GetAttributeValue,
        // SAFETY: one attribute, `a`: the library writes at most `a.ulValueLen` bytes
        // to `v` (its length) and the value's length into `a`; both live for the call.
        |f| unsafe { f(s.handle(), obj, &mut a, 1) },
    );
    check(rv, "C_GetAttributeValue")?;
    v.truncate(a.ulValueLen as usize);
    Ok(Some(v))
}

pub(super) fn attr_ulong<P: Borrow<Pool>>(
    s: &Lease<P>,
    obj: ObjectId,
    ty: CK_ATTRIBUTE_TYPE,
) -> Result<Option<CK_ULONG>> {
    Ok(attr(s, obj, ty)?.and_then(|v| Some(CK_ULONG::from_ne_bytes(v[..].try_into().ok()?))))
}

pub(super) fn attr_bool<P: Borrow<Pool>>(
    s: &Lease<P>,
    obj: ObjectId,
    ty: CK_ATTRIBUTE_TYPE,
) -> Result<Option<bool>> {
    Ok(attr(s, obj, ty)?.and_then(|v| match v[..] {
        [b] => Some(b != 0),
        _ => None,
    }))
}

pub(super) fn create<P: Borrow<Pool>>(s: &Lease<P>, template: &[Attr]) -> Result<ObjectId> {
    let mut t = raw_template(template);
    let mut obj = 0;
    let rv = s.lib().call(
        |l| l.C_CreateObject,
        // SAFETY: the library reads `t.len()` attributes at `t`, each pointing into
        // `template` for its stated length, and writes the new handle to `obj`; all
        // live for the call.
        |f| unsafe { f(s.handle(), t.as_mut_ptr(), t.len() as CK_ULONG, &mut obj) },
    );
    check(rv, "C_CreateObject")?;
    Ok(obj)
}

/// C_UnwrapKey; the error is the backend's code, for the caller to correct.
pub(super) fn unwrap<P: Borrow<Pool>>(
    s: &Lease<P>,
    mech: &Mechanism,
    key: ObjectId,
    wrapped: &[u8],
    template: &[Attr],
) -> std::result::Result<ObjectId, CK_RV> {
    let mut t = raw_template(template);
    let mut obj = 0;
    let rv = mech.with_raw(|m| {
        s.lib().call(
            |l| l.C_UnwrapKey,
            // SAFETY: the library reads the mechanism `m`, `wrapped.len()` bytes at
            // `wrapped` and `t.len()` attributes at `t` (each pointing into `template`
            // for its stated length), and writes the new handle to `obj`; all live for
            // the call.
            |f| unsafe {
                f(
                    s.handle(),
                    m,
                    key,
                    ptr(wrapped),
                    wrapped.len() as CK_ULONG,
                    t.as_mut_ptr(),
                    t.len() as CK_ULONG,
                    &mut obj,
                )
            },
        )
    });
    if rv == CKR_OK {
        Ok(obj)
    } else {
        Err(rv)
    }
}

/// Destroy an object the bridge made for itself; a failure is logged, not raised,
/// because the caller is already answering with its own outcome.
pub(super) fn destroy<P: Borrow<Pool>>(s: &Lease<P>, obj: ObjectId) {
    let rv = s.lib().call(
        |l| l.C_DestroyObject,
        // SAFETY: handles only; no buffer is passed.
        |f| unsafe { f(s.handle(), obj) },
    );
    if rv != CKR_OK {
        tracing::error!(
            object = obj,
            rv = %crate::error::rv_name(rv),
            "a temporary backend object could not be destroyed"
        );
    }
}

/// Run an Init, ending a lingering operation of an earlier user first if needed.
fn init<P: Borrow<Pool>>(s: &Lease<P>, call: impl Fn() -> CK_RV) -> CK_RV {
    match call() {
        CKR_OPERATION_ACTIVE => {
            cancel_all(s);
            call()
        }
        rv => rv,
    }
}

/// Single-part C_Decrypt into `out` (long enough for the result). An Init refusal
/// (the key's type or usage) is the outer error; the code of a C_Decrypt that
/// failed on the data is the inner one.
pub(super) fn decrypt<P: Borrow<Pool>>(
    s: &Lease<P>,
    mech: &Mechanism,
    key: ObjectId,
    input: &[u8],
    out: &mut [u8],
) -> Result<std::result::Result<usize, CK_RV>> {
    let h = s.handle();
    let rv = init(s, || {
        mech.with_raw(|m| {
            s.lib().call(
                |l| l.C_DecryptInit,
                // SAFETY: the library reads the mechanism `m` (and its parameter),
                // which lives for the call.
                |f| unsafe { f(h, m, key) },
            )
        })
    });
    check(rv, "C_DecryptInit")?;
    let mut n = out.len() as CK_ULONG;
    let rv = s.lib().call(
        |l| l.C_Decrypt,
        // SAFETY: the library reads `input.len()` bytes at `input`, writes at most `n`
        // (= `out.len()`) bytes to `out` and the result's length to `n`; all live for
        // the call.
        |f| unsafe {
            f(
                h,
                ptr(input),
                input.len() as CK_ULONG,
                out.as_mut_ptr(),
                &mut n,
            )
        },
    );
    if rv != CKR_OK {
        // SoftHSM2 keeps some operations after an error (SH-06).
        cancel(s, OpKind::Decrypt);
        return Ok(Err(rv));
    }
    Ok(Ok(n as usize))
}

/// A digest with `mech` of `before` followed by the value of the secret key `key`
/// (C_DigestKey: the value stays in the backend), into `out`.
pub(super) fn digest_with_key<P: Borrow<Pool>>(
    s: &Lease<P>,
    mech: &Mechanism,
    before: &[&[u8]],
    key: ObjectId,
    out: &mut [u8],
) -> Result<usize> {
    let h = s.handle();
    let rv = init(s, || {
        mech.with_raw(|m| {
            s.lib().call(
                |l| l.C_DigestInit,
                // SAFETY: the library reads the mechanism `m`, which lives for the call.
                |f| unsafe { f(h, m) },
            )
        })
    });
    check(rv, "C_DigestInit")?;
    let mut run = || -> Result<usize> {
        for part in before {
            let rv = s.lib().call(
                |l| l.C_DigestUpdate,
                // SAFETY: the library reads `part.len()` bytes at `part`, which lives
                // for the call.
                |f| unsafe { f(h, ptr(part), part.len() as CK_ULONG) },
            );
            check(rv, "C_DigestUpdate")?;
        }
        let rv = s.lib().call(
            |l| l.C_DigestKey,
            // SAFETY: handles only; no buffer is passed.
            |f| unsafe { f(h, key) },
        );
        check(rv, "C_DigestKey")?;
        let mut n = out.len() as CK_ULONG;
        let rv = s.lib().call(
            |l| l.C_DigestFinal,
            // SAFETY: the library writes at most `n` (= `out.len()`) bytes to `out` and
            // the digest's length to `n`; both live for the call.
            |f| unsafe { f(h, out.as_mut_ptr(), &mut n) },
        );
        check(rv, "C_DigestFinal")?;
        Ok(n as usize)
    };
    run().inspect_err(|_| cancel(s, OpKind::Digest))
}

/// Single-part C_Sign of `data` into `out` (long enough for the signature).
pub(super) fn sign<P: Borrow<Pool>>(
    s: &Lease<P>,
    mech: &Mechanism,
    key: ObjectId,
    data: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    let h = s.handle();
    let rv = init(s, || {
        mech.with_raw(|m| {
            s.lib().call(
                |l| l.C_SignInit,
                // SAFETY: the library reads the mechanism `m` (and its parameter),
                // which lives for the call.
                |f| unsafe { f(h, m, key) },
            )
        })
    });
    check(rv, "C_SignInit")?;
    let mut n = out.len() as CK_ULONG;
    let rv = s.lib().call(
        |l| l.C_Sign,
        // SAFETY: the library reads `data.len()` bytes at `data`, writes at most `n`
        // (= `out.len()`) bytes to `out` and the signature's length to `n`; all live
        // for the call.
        |f| unsafe {
            f(
                h,
                ptr(data),
                data.len() as CK_ULONG,
                out.as_mut_ptr(),
                &mut n,
            )
        },
    );
    if rv != CKR_OK {
        cancel(s, OpKind::Sign);
        return Err(Error::rv(rv, "C_Sign"));
    }
    Ok(n as usize)
}
