//! What every section's rows work on: the user logged in through one long session, the
//! keys the rows name, and a fresh session per row.

use crate::env::Env;
use crate::kat::{h, AES128_KEY};
use crate::p11;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::Session;
use cryptoki_sys::*;
use kmsbridge_testkit::keys::{gen_ec, gen_rsa, import_aes, import_generic, P256};
use std::ptr::null_mut;

/// A session handle no module gave out.
pub const BOGUS_SESSION: CK_SESSION_HANDLE = 0x7ead_beef;
/// An object handle no module gave out.
pub const BOGUS_OBJECT: CK_OBJECT_HANDLE = 0x7ead_0b1e;
/// A slot id no module has.
pub const BOGUS_SLOT: CK_SLOT_ID = 0x7ead_5107;
/// A mechanism number no module offers (vendor range).
pub const BOGUS_MECH: CK_MECHANISM_TYPE = CKM_VENDOR_DEFINED | 0x7ead;

/// The fixture.
pub struct Fx<'a> {
    /// The module under test.
    pub t: &'a Env,
    /// The logged-in session that owns the keys (kept open for the section).
    pub s: Session,
    /// The slot id.
    pub slot: CK_SLOT_ID,
    /// AES-128 (KAT key), every usage, extractable.
    pub aes: CK_OBJECT_HANDLE,
    /// AES-128 with no usage at all (CKA_ENCRYPT..CKA_DERIVE false).
    pub aes_none: CK_OBJECT_HANDLE,
    /// AES-128, sensitive and not extractable.
    pub aes_unext: CK_OBJECT_HANDLE,
    /// A 32-byte generic secret for HMAC.
    pub hmac: CK_OBJECT_HANDLE,
    /// RSA-2048 public key (verify, encrypt, wrap).
    pub rsa_pub: CK_OBJECT_HANDLE,
    /// RSA-2048 private key (sign, decrypt, unwrap).
    pub rsa_priv: CK_OBJECT_HANDLE,
    /// P-256 public key.
    pub ec_pub: CK_OBJECT_HANDLE,
    /// P-256 private key (sign, derive).
    pub ec_priv: CK_OBJECT_HANDLE,
    /// A data object (not a key).
    pub data: CK_OBJECT_HANDLE,
    /// Set when a row logged out: C_Logout destroys private session objects, so the
    /// runner makes the keys again before the next row.
    pub stale: std::cell::Cell<bool>,
}

impl<'a> Fx<'a> {
    /// Logs the user in and makes the keys.
    pub fn new(t: &'a Env) -> Fx<'a> {
        let s = t.logged_in();
        let aes = import_aes(&s, &h(AES128_KEY)).handle();
        let none = s
            .create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Token(false),
                Attribute::Value(vec![7; 16]),
                Attribute::Encrypt(false),
                Attribute::Decrypt(false),
                Attribute::Sign(false),
                Attribute::Verify(false),
                Attribute::Wrap(false),
                Attribute::Unwrap(false),
                Attribute::Derive(false),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ])
            .expect("AES key without usages")
            .handle();
        let unext = s
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Token(false),
                    Attribute::ValueLen(16.into()),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                ],
            )
            .expect("unextractable AES key")
            .handle();
        let hmac = import_generic(&s, &[0x0b; 32]).handle();
        let (rsa_pub, rsa_priv) = gen_rsa(&s, 2048, b"spec-rsa");
        let (ec_pub, ec_priv) = gen_ec(&s, &P256, b"spec-ec");
        let data = s
            .create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(false),
                Attribute::Private(false),
                Attribute::Value(b"spec".to_vec()),
            ])
            .expect("data object")
            .handle();
        Fx {
            t,
            slot: t.slot.id(),
            s,
            aes,
            aes_none: none,
            aes_unext: unext,
            hmac,
            rsa_pub: rsa_pub.handle(),
            rsa_priv: rsa_priv.handle(),
            ec_pub: ec_pub.handle(),
            ec_priv: ec_priv.handle(),
            data,
            stale: std::cell::Cell::new(false),
        }
    }

    /// A fresh R/W session (logged in, as the application is); 0 if it cannot open.
    pub fn session(&self) -> CK_SESSION_HANDLE {
        self.open(CKF_SERIAL_SESSION | CKF_RW_SESSION)
    }

    /// A fresh read-only session.
    pub fn ro_session(&self) -> CK_SESSION_HANDLE {
        self.open(CKF_SERIAL_SESSION)
    }

    fn open(&self, flags: CK_FLAGS) -> CK_SESSION_HANDLE {
        let mut h: CK_SESSION_HANDLE = 0;
        let code = p11!(self.t, C_OpenSession, self.slot, flags, null_mut(), None, &mut h);
        if code == CKR_OK {
            h
        } else {
            0
        }
    }

    /// Closes a row's session (whatever state the row left it in).
    pub fn close(&self, h: CK_SESSION_HANDLE) {
        let _ = p11!(self.t, C_CloseSession, h);
    }

    /// Runs `f` on a fresh read-only session and closes it.
    pub fn with_ro(&self, f: impl FnOnce(CK_SESSION_HANDLE) -> CK_RV) -> CK_RV {
        let h = self.ro_session();
        let code = f(h);
        self.close(h);
        code
    }

    /// Runs `f` with the user logged out, then logs back in.
    pub fn logged_out(&self, hs: CK_SESSION_HANDLE, f: impl FnOnce() -> CK_RV) -> CK_RV {
        let _ = p11!(self.t, C_Logout, hs);
        self.stale.set(true);
        let code = f();
        let pin = self.t.user_pin.as_bytes();
        let _ = p11!(self.t, C_Login, hs, CKU_USER, pin.as_ptr() as *mut _, pin.len() as CK_ULONG);
        code
    }
}

/// A mechanism without parameter.
pub fn m0(m: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM { mechanism: m, pParameter: null_mut(), ulParameterLen: 0 }
}

/// A mechanism whose parameter is `p`, of `len` bytes (not necessarily its size).
pub fn mp<T>(m: CK_MECHANISM_TYPE, p: &mut T, len: usize) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: p as *mut T as *mut _,
        ulParameterLen: len as CK_ULONG,
    }
}

/// A mechanism whose parameter is `p`, its size taken from its type.
pub fn mt<T>(m: CK_MECHANISM_TYPE, p: &mut T) -> CK_MECHANISM {
    mp(m, p, std::mem::size_of::<T>())
}

/// A mechanism whose parameter is the bytes of `p`.
pub fn mb(m: CK_MECHANISM_TYPE, p: &mut [u8]) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: p.as_mut_ptr() as *mut _,
        ulParameterLen: p.len() as CK_ULONG,
    }
}

/// A CK_ATTRIBUTE over `v`.
pub fn attr(ty: CK_ATTRIBUTE_TYPE, v: &mut [u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE { type_: ty, pValue: v.as_mut_ptr() as *mut _, ulValueLen: v.len() as CK_ULONG }
}

/// A CK_ULONG's bytes (attribute values).
pub fn ulb(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// A CK_BBOOL's byte.
pub fn bb(v: bool) -> Vec<u8> {
    vec![v as u8]
}

/// A raw template from (type, bytes) pairs; the vectors must outlive the call.
pub fn tpl(vals: &mut [(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Vec<CK_ATTRIBUTE> {
    vals.iter_mut().map(|(t, v)| attr(*t, v)).collect()
}

/// An Init function under test (C_EncryptInit, C_SignInit, ...).
pub type Init = fn(&Fx, CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE) -> CK_RV;

macro_rules! inits {
    ($($name:ident = $f:ident;)*) => {$(
        #[doc = concat!("Raw ", stringify!($f), ".")]
        pub fn $name(
            fx: &Fx,
            hs: CK_SESSION_HANDLE,
            m: *mut CK_MECHANISM,
            k: CK_OBJECT_HANDLE,
        ) -> CK_RV {
            p11!(fx.t, $f, hs, m, k)
        }
    )*};
}

inits! {
    enc_init = C_EncryptInit;
    dec_init = C_DecryptInit;
    sign_init = C_SignInit;
    ver_init = C_VerifyInit;
    sr_init = C_SignRecoverInit;
    vr_init = C_VerifyRecoverInit;
}

/// A single-part call of shape (session, in, in_len, out, out_len) (C_Encrypt, C_Decrypt,
/// C_Sign, C_Digest, C_SignRecover, C_VerifyRecover) or the Update of Encrypt/Decrypt.
pub type OneShot = fn(&Fx, CK_SESSION_HANDLE, *mut u8, CK_ULONG, *mut u8, *mut CK_ULONG) -> CK_RV;

macro_rules! oneshots {
    ($($name:ident = $f:ident;)*) => {$(
        #[doc = concat!("Raw ", stringify!($f), ".")]
        pub fn $name(
            fx: &Fx,
            hs: CK_SESSION_HANDLE,
            d: *mut u8,
            dl: CK_ULONG,
            o: *mut u8,
            ol: *mut CK_ULONG,
        ) -> CK_RV {
            p11!(fx.t, $f, hs, d, dl, o, ol)
        }
    )*};
}

oneshots! {
    encrypt = C_Encrypt;
    decrypt = C_Decrypt;
    enc_update = C_EncryptUpdate;
    dec_update = C_DecryptUpdate;
    sign = C_Sign;
    digest = C_Digest;
    sign_recover = C_SignRecover;
    verify_recover = C_VerifyRecover;
}

/// A Final of shape (session, out, out_len).
pub type Final = fn(&Fx, CK_SESSION_HANDLE, *mut u8, *mut CK_ULONG) -> CK_RV;

macro_rules! finals {
    ($($name:ident = $f:ident;)*) => {$(
        #[doc = concat!("Raw ", stringify!($f), ".")]
        pub fn $name(fx: &Fx, hs: CK_SESSION_HANDLE, o: *mut u8, ol: *mut CK_ULONG) -> CK_RV {
            p11!(fx.t, $f, hs, o, ol)
        }
    )*};
}

finals! {
    enc_final = C_EncryptFinal;
    dec_final = C_DecryptFinal;
    sign_final = C_SignFinal;
    digest_final = C_DigestFinal;
}

/// Inits `mech` on `key` with `init`; [`super::WRONG`] if that fails (a row's set-up).
pub fn start(
    fx: &Fx,
    hs: CK_SESSION_HANDLE,
    init: Init,
    mut m: CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> bool {
    init(fx, hs, &mut m, key) == CKR_OK
}

/// Calls `f` with `data` and an output buffer of `cap` bytes (`None`: NULL), and answers
/// the code, or [`super::WRONG`] when a length query or CKR_BUFFER_TOO_SMALL did not
/// return `want_len` (when given).
pub fn call_out(
    fx: &Fx,
    hs: CK_SESSION_HANDLE,
    f: OneShot,
    data: &[u8],
    cap: Option<usize>,
    want_len: Option<usize>,
) -> CK_RV {
    let mut out = vec![0u8; cap.unwrap_or(0)];
    let mut n = out.len() as CK_ULONG;
    let o = if cap.is_some() { out.as_mut_ptr() } else { null_mut() };
    let code = f(fx, hs, data.as_ptr() as *mut u8, data.len() as CK_ULONG, o, &mut n);
    check_len(code, n, want_len)
}

/// [`call_out`] for a Final.
pub fn final_out(
    fx: &Fx,
    hs: CK_SESSION_HANDLE,
    f: Final,
    cap: Option<usize>,
    want_len: Option<usize>,
) -> CK_RV {
    let mut out = vec![0u8; cap.unwrap_or(0)];
    let mut n = out.len() as CK_ULONG;
    let o = if cap.is_some() { out.as_mut_ptr() } else { null_mut() };
    let code = f(fx, hs, o, &mut n);
    check_len(code, n, want_len)
}

fn check_len(code: CK_RV, n: CK_ULONG, want_len: Option<usize>) -> CK_RV {
    match want_len {
        Some(w) if (code == CKR_OK || code == CKR_BUFFER_TOO_SMALL) && n as usize != w => {
            eprintln!("     returned length {n}, want {w}");
            super::WRONG
        }
        _ => code,
    }
}

/// Raw C_DigestInit in the shape of an [`Init`] (the key is not used).
pub fn dig_init(
    fx: &Fx,
    hs: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    _k: CK_OBJECT_HANDLE,
) -> CK_RV {
    p11!(fx.t, C_DigestInit, hs, m)
}

/// Raw C_Verify of `data` against `sig`.
pub fn verify(fx: &Fx, hs: CK_SESSION_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
    let (d, dl) = (data.as_ptr() as *mut u8, data.len() as CK_ULONG);
    p11!(fx.t, C_Verify, hs, d, dl, sig.as_ptr() as *mut u8, sig.len() as CK_ULONG)
}

/// A signature of `data` by `key` with `mech` on `hs` (empty on failure).
pub fn signed(
    fx: &Fx,
    hs: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Vec<u8> {
    if !start(fx, hs, sign_init, m0(mech), key) {
        return Vec::new();
    }
    let mut out = vec![0u8; 512];
    let mut n: CK_ULONG = 512;
    let code =
        sign(fx, hs, data.as_ptr() as *mut u8, data.len() as CK_ULONG, out.as_mut_ptr(), &mut n);
    if code != CKR_OK {
        return Vec::new();
    }
    out.truncate(n as usize);
    out
}

/// The module lists mechanism `m` (C_GetMechanismInfo answers CKR_OK).
pub fn listed(fx: &Fx, m: CK_MECHANISM_TYPE) -> bool {
    let mut info = CK_MECHANISM_INFO::default();
    p11!(fx.t, C_GetMechanismInfo, fx.slot, m, &mut info) == CKR_OK
}

/// A row on a mechanism a module need not offer: where the module does not list `m`
/// the answer must be CKR_MECHANISM_INVALID, where it does CKR_MECHANISM_INVALID is
/// [`super::WRONG`]; `code` otherwise.
pub fn if_listed(fx: &Fx, m: CK_MECHANISM_TYPE, code: CK_RV) -> CK_RV {
    match (listed(fx, m), code == CKR_MECHANISM_INVALID) {
        (true, true) | (false, false) => super::WRONG,
        _ => code,
    }
}

/// CKR_MECHANISM_PARAM_INVALID, or CKR_MECHANISM_INVALID where the module does not offer
/// the mechanism (see [`if_listed`]).
pub const PI_OR_ABSENT: &[CK_RV] = &[CKR_MECHANISM_PARAM_INVALID, CKR_MECHANISM_INVALID];
/// CKR_OK, or CKR_MECHANISM_INVALID where the module does not offer the mechanism.
pub const OK_OR_ABSENT: &[CK_RV] = &[CKR_OK, CKR_MECHANISM_INVALID];
