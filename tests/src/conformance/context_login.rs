//! Keys with CKA_ALWAYS_AUTHENTICATE and C_Login(CKU_CONTEXT_SPECIFIC) (PKCS#11 3.0
//! 4.9 and 5.6): each operation with such a key needs its own context login after
//! the Init; without it the call using the key answers CKR_USER_NOT_LOGGED_IN and
//! the operation ends; a wrong PIN answers CKR_PIN_INCORRECT and leaves the
//! operation waiting; with no operation waiting the login answers
//! CKR_OPERATION_NOT_INITIALIZED.

use super::rawop::*;
use crate::ck;
use crate::env::Env;
use crate::raw::rv;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use kmsbridge_testkit::keys::{attr_bool, P256};

const DIGEST: [u8; 32] = [0x5a; 32];

/// A P-256 pair with CKA_ID `id` whose private half asks for the PIN at each use;
/// token objects with `token`.
fn always_authenticate_pair(s: &Session, token: bool, id: &[u8]) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[
            Attribute::Token(token),
            Attribute::Id(id.to_vec()),
            Attribute::EcParams(P256.params.to_vec()),
            Attribute::Verify(true),
        ],
        &[
            Attribute::Token(token),
            Attribute::Id(id.to_vec()),
            Attribute::Private(true),
            Attribute::Sign(true),
            Attribute::AlwaysAuthenticate(true),
        ],
    )
    .expect("C_GenerateKeyPair with CKA_ALWAYS_AUTHENTICATE")
}

fn context_login(t: &Env, hs: CK_SESSION_HANDLE, pin: &str) -> cryptoki::error::Rv {
    ck!(t, C_Login, hs, CKU_CONTEXT_SPECIFIC, pin.as_ptr() as *mut _, pin.len() as CK_ULONG)
}

fn sign_init(t: &Env, hs: CK_SESSION_HANDLE, key: ObjectHandle) {
    let mut m = mech(CKM_ECDSA);
    assert_eq!(ck!(t, C_SignInit, hs, &mut m, key.handle()), OK, "C_SignInit");
}

/// The whole cycle on one key: refused without the context login (and the
/// operation ends), signs once with it, a second signature needs a second login,
/// a wrong PIN is refused, counted (CKF_USER_PIN_COUNT_LOW) and leaves the
/// operation waiting, and a context login
/// with nothing waiting answers CKR_OPERATION_NOT_INITIALIZED.
pub fn always_authenticate_sign(t: &Env) {
    always_authenticate_cycle(t, false, b"context-login");
}

/// The cycle of [`always_authenticate_sign`] on a new pair with CKA_ID `id`, token
/// objects with `token` (a cluster replicates those: tests/tests/cluster_context_login.rs).
pub fn always_authenticate_cycle(t: &Env, token: bool, id: &[u8]) {
    let s = t.user_session();
    let hs = s.handle();
    let (public, private) = always_authenticate_pair(&s, token, id);
    assert!(attr_bool(&s, private, AttributeType::AlwaysAuthenticate), "attribute kept");
    let pin = t.user_pin.clone();

    // Nothing waits for a context login yet.
    let code = context_login(t, hs, &pin);
    assert_eq!(code, rv(CKR_OPERATION_NOT_INITIALIZED), "context login before any Init");

    // Without the context login: refused, and the operation is over.
    sign_init(t, hs, private);
    let (code, _, _) = sign(t, hs, &DIGEST, Some(64));
    assert_eq!(code, rv(CKR_USER_NOT_LOGGED_IN), "C_Sign without context login");
    let (code, _, _) = sign(t, hs, &DIGEST, Some(64));
    assert_eq!(code, rv(CKR_OPERATION_NOT_INITIALIZED), "the refusal ended the operation");

    // With it: one signature, which verifies.
    sign_init(t, hs, private);
    assert_eq!(context_login(t, hs, &pin), OK, "C_Login(CKU_CONTEXT_SPECIFIC)");
    let (code, len, sig) = sign(t, hs, &DIGEST, Some(64));
    assert_eq!((code, len), (OK, 64), "C_Sign after context login");
    s.verify(&Mechanism::Ecdsa, public, &DIGEST, &sig).expect("the signature verifies");

    // The login authorised that operation only.
    sign_init(t, hs, private);
    let (code, _, _) = sign(t, hs, &DIGEST, Some(64));
    assert_eq!(code, rv(CKR_USER_NOT_LOGGED_IN), "a second C_Sign needs a new login");

    // A wrong PIN is refused; the operation still waits and the right PIN serves it.
    sign_init(t, hs, private);
    let code = context_login(t, hs, "wrong-pin-0000");
    assert_eq!(code, rv(CKR_PIN_INCORRECT), "context login with a wrong PIN");
    let low = |what| t.ctx.get_token_info(t.slot).expect(what).user_pin_count_low();
    // Counted like any wrong user PIN (the lockout's counter), cleared by the right one.
    assert!(low("C_GetTokenInfo after a wrong context PIN"), "CKF_USER_PIN_COUNT_LOW");
    assert_eq!(context_login(t, hs, &pin), OK, "the right PIN after a wrong one");
    assert!(!low("C_GetTokenInfo after the right context PIN"), "count cleared");
    let (code, len, sig) = sign(t, hs, &DIGEST, Some(64));
    assert_eq!((code, len), (OK, 64), "C_Sign after the retried login");
    s.verify(&Mechanism::Ecdsa, public, &DIGEST, &sig).expect("the signature verifies");

    // The operation ended with the signature: nothing waits any more.
    let code = context_login(t, hs, &pin);
    assert_eq!(code, rv(CKR_OPERATION_NOT_INITIALIZED), "context login after the operation");
}
