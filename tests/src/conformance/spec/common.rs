//! Row generators shared by sections whose functions have the same shape
//! (Encrypt/Decrypt, Sign/Verify): an Init's argument checks, a single-part call's
//! state and buffer checks.

use super::fixture::*;
use super::Rows;
use crate::deviation::{ARGS_BEFORE_SESSION, KEY_HANDLE_CODE};
use cryptoki_sys::*;
use std::ptr::null_mut;

/// A key chosen from the fixture.
pub type Key = fn(&Fx) -> CK_OBJECT_HANDLE;

/// The argument checks every Init shares (PKCS#11 3.0 5.1.7 order: session, pointers,
/// mechanism, key). `mech`/`key` is a pair that works; `no_use` is a key of the right
/// type whose usage attribute is false; `wrong` keys are of types the mechanism does not
/// take; `other_fn` mechanisms exist but are not for this function.
#[allow(clippy::too_many_arguments)]
pub fn init_rows(
    r: &mut Rows,
    func: &'static str,
    init: Init,
    mech: CK_MECHANISM_TYPE,
    key: Key,
    no_use: Option<Key>,
    wrong: &[(&'static str, Key)],
    other_fn: &[(&'static str, CK_MECHANISM_TYPE)],
) {
    r.add(func, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], move |f, _| {
        init(f, BOGUS_SESSION, &mut m0(mech), key(f))
    });
    r.add(func, "session handle closed", &[CKR_SESSION_HANDLE_INVALID], move |f, _| {
        let h = f.session();
        f.close(h);
        init(f, h, &mut m0(mech), key(f))
    });
    r.add(
        func,
        "invalid session and NULL mechanism",
        &[CKR_SESSION_HANDLE_INVALID],
        move |f, _| init(f, BOGUS_SESSION, null_mut(), key(f)),
    );
    r.add(func, "NULL mechanism", &[CKR_ARGUMENTS_BAD], move |f, hs| {
        init(f, hs, null_mut(), key(f))
    });
    r.add(func, "mechanism no module offers", &[CKR_MECHANISM_INVALID], move |f, hs| {
        init(f, hs, &mut m0(BOGUS_MECH), key(f))
    });
    for (what, m) in other_fn {
        let m = *m;
        r.add(func, what, &[CKR_MECHANISM_INVALID], move |f, hs| init(f, hs, &mut m0(m), key(f)));
    }
    r.add(func, "key handle never given out", &[CKR_KEY_HANDLE_INVALID], move |f, hs| {
        init(f, hs, &mut m0(mech), BOGUS_OBJECT)
    });
    r.add(func, "key handle 0 (CK_INVALID_HANDLE)", &[CKR_KEY_HANDLE_INVALID], move |f, hs| {
        init(f, hs, &mut m0(mech), CK_INVALID_HANDLE)
    });
    r.add(
        func,
        "handle of a data object, not a key",
        &[CKR_KEY_HANDLE_INVALID, CKR_KEY_TYPE_INCONSISTENT],
        move |f, hs| init(f, hs, &mut m0(mech), f.data),
    );
    for (what, k) in wrong {
        let k = *k;
        r.add(func, what, &[CKR_KEY_TYPE_INCONSISTENT], move |f, hs| {
            init(f, hs, &mut m0(mech), k(f))
        });
    }
    if let Some(k) = no_use {
        r.add(
            func,
            "key whose usage attribute is false",
            &[CKR_KEY_FUNCTION_NOT_PERMITTED],
            move |f, hs| init(f, hs, &mut m0(mech), k(f)),
        );
    }
    r.add(func, "second Init while active", &[CKR_OPERATION_ACTIVE], move |f, hs| {
        if init(f, hs, &mut m0(mech), key(f)) != CKR_OK {
            return super::WRONG;
        }
        init(f, hs, &mut m0(mech), key(f))
    });
    r.add(func, "mechanism and key that fit", &[CKR_OK], move |f, hs| {
        init(f, hs, &mut m0(mech), key(f))
    });
}

/// State and buffer checks of a single-part call `func` after `init` of `mech`/`key`,
/// on `data` whose output is `out_len` bytes.
#[allow(clippy::too_many_arguments)]
pub fn oneshot_rows(
    r: &mut Rows,
    func: &'static str,
    call: OneShot,
    init: Init,
    mech: CK_MECHANISM_TYPE,
    key: Key,
    data: &'static [u8],
    out_len: usize,
) {
    r.add(func, "without Init", &[CKR_OPERATION_NOT_INITIALIZED], move |f, hs| {
        call_out(f, hs, call, data, Some(512), None)
    });
    r.add(func, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], move |f, _| {
        call_out(f, BOGUS_SESSION, call, data, Some(512), None)
    });
    r.add(func, "NULL output: length query returns the length", &[CKR_OK], move |f, hs| {
        if !start(f, hs, init, m0(mech), key(f)) {
            return super::WRONG;
        }
        call_out(f, hs, call, data, None, Some(out_len))
    });
    r.add(
        func,
        "short buffer: CKR_BUFFER_TOO_SMALL and the length",
        &[CKR_BUFFER_TOO_SMALL],
        move |f, hs| {
            if !start(f, hs, init, m0(mech), key(f)) {
                return super::WRONG;
            }
            call_out(f, hs, call, data, Some(out_len - 1), Some(out_len))
        },
    );
    r.add(
        func,
        "zero-length buffer: CKR_BUFFER_TOO_SMALL",
        &[CKR_BUFFER_TOO_SMALL],
        move |f, hs| {
            if !start(f, hs, init, m0(mech), key(f)) {
                return super::WRONG;
            }
            let mut n: CK_ULONG = 0;
            let mut o = [0u8; 1];
            call(f, hs, data.as_ptr() as *mut u8, data.len() as CK_ULONG, o.as_mut_ptr(), &mut n)
        },
    );
    r.add(func, "after CKR_BUFFER_TOO_SMALL the operation goes on", &[CKR_OK], move |f, hs| {
        if !start(f, hs, init, m0(mech), key(f)) {
            return super::WRONG;
        }
        if call_out(f, hs, call, data, Some(1), None) != CKR_BUFFER_TOO_SMALL {
            return super::WRONG;
        }
        call_out(f, hs, call, data, Some(512), Some(out_len))
    });
    r.add(func, "NULL length pointer", &[CKR_ARGUMENTS_BAD], move |f, hs| {
        if !start(f, hs, init, m0(mech), key(f)) {
            return super::WRONG;
        }
        let mut o = [0u8; 512];
        call(f, hs, data.as_ptr() as *mut u8, data.len() as CK_ULONG, o.as_mut_ptr(), null_mut())
    });
    r.add(func, "NULL input with a length", &[CKR_ARGUMENTS_BAD], move |f, hs| {
        if !start(f, hs, init, m0(mech), key(f)) {
            return super::WRONG;
        }
        let mut o = [0u8; 512];
        let mut n: CK_ULONG = 512;
        call(f, hs, null_mut(), data.len() as CK_ULONG, o.as_mut_ptr(), &mut n)
    });
    r.add(func, "success ends the operation", &[CKR_OPERATION_NOT_INITIALIZED], move |f, hs| {
        if !start(f, hs, init, m0(mech), key(f)) {
            return super::WRONG;
        }
        if call_out(f, hs, call, data, Some(512), None) != CKR_OK {
            return super::WRONG;
        }
        call_out(f, hs, call, data, Some(512), None)
    });
}

/// A Final's checks: without Init, bad session, NULL length.
pub fn final_rows(
    r: &mut Rows,
    func: &'static str,
    fin: Final,
    init: Init,
    mech: CK_MECHANISM_TYPE,
    key: Key,
) {
    r.add(func, "without Init", &[CKR_OPERATION_NOT_INITIALIZED], move |f, hs| {
        final_out(f, hs, fin, Some(512), None)
    });
    r.add(func, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], move |f, _| {
        final_out(f, BOGUS_SESSION, fin, Some(512), None)
    });
    r.add(func, "NULL length pointer", &[CKR_ARGUMENTS_BAD], move |f, hs| {
        if !start(f, hs, init, m0(mech), key(f)) {
            return super::WRONG;
        }
        let mut o = [0u8; 512];
        fin(f, hs, o.as_mut_ptr(), null_mut())
    });
}

/// Marks an Init's rows SoftHSM2 answers as recorded: a NULL mechanism judged before
/// the session (SH-15), key handles answered as object handles or by key use (SH-04).
pub fn mark_init(r: &mut Rows, func: &str) {
    r.mark(func, "invalid session and NULL mechanism", &ARGS_BEFORE_SESSION, CKR_ARGUMENTS_BAD);
    r.mark(func, "key handle never given out", &KEY_HANDLE_CODE, CKR_OBJECT_HANDLE_INVALID);
    r.mark(func, "key handle 0 (CK_INVALID_HANDLE)", &KEY_HANDLE_CODE, CKR_OBJECT_HANDLE_INVALID);
    r.mark(
        func,
        "handle of a data object, not a key",
        &KEY_HANDLE_CODE,
        CKR_KEY_FUNCTION_NOT_PERMITTED,
    );
}
