//! Bad input through the raw function list: invalid handles, bad parameters, wrong
//! state, NULL pointers and short buffers, each answered with the spec's code.

use super::rawop::*;
use crate::ck;
use crate::deviation::{ARGS_BEFORE_SESSION, KEY_HANDLE_CODE, MECH_PARAM_CODE};
use crate::env::Env;
use crate::kat::*;
use crate::raw::rv;
use cryptoki::error::{Rv, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki_sys::*;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::{gen_aes, import_aes, import_generic};
use std::ptr::{null, null_mut};

const BOGUS_SESSION: CK_SESSION_HANDLE = 0x7ead_beef;
const BOGUS_OBJECT: CK_OBJECT_HANDLE = 0x7ead_0b1e;
const BOGUS_SLOT: CK_SLOT_ID = 0x7ead_5107;

/// Calls on a session handle that was never opened answer CKR_SESSION_HANDLE_INVALID.
pub fn invalid_session_handle(t: &Env) {
    let s = t.user_session();
    let key = import_aes(&s, &h(AES128_KEY));
    let invalid = rv(CKR_SESSION_HANDLE_INVALID);
    for bogus in [BOGUS_SESSION, CK_INVALID_HANDLE] {
        let mut info = CK_SESSION_INFO::default();
        assert_eq!(ck!(t, C_GetSessionInfo, bogus, &mut info), invalid, "C_GetSessionInfo");
        assert_eq!(ck!(t, C_CloseSession, bogus), invalid, "C_CloseSession");
        let pin = t.user_pin.as_bytes();
        let code = ck!(t, C_Login, bogus, CKU_USER, pin.as_ptr() as *mut _, pin.len() as CK_ULONG);
        assert_eq!(code, invalid, "C_Login");
        let mut m = mech(CKM_AES_ECB);
        assert_eq!(ck!(t, C_EncryptInit, bogus, &mut m, key.handle()), invalid, "C_EncryptInit");
        let mut buf = [0u8; 16];
        assert_eq!(
            ck!(t, C_GenerateRandom, bogus, buf.as_mut_ptr(), 16),
            invalid,
            "C_GenerateRandom"
        );
        assert_eq!(ck!(t, C_FindObjectsInit, bogus, null_mut(), 0), invalid, "C_FindObjectsInit");
        let mut size = 0;
        let code = ck!(t, C_GetObjectSize, bogus, key.handle(), &mut size);
        assert_eq!(code, invalid, "C_GetObjectSize");
    }
}

/// Object and key handles that do not exist: CKR_OBJECT_HANDLE_INVALID / CKR_KEY_HANDLE_INVALID.
pub fn invalid_object_handle(t: &Env) {
    let s = t.user_session();
    // SAFETY: a handle value the module never gave out, on purpose.
    let bogus = unsafe { ObjectHandle::new_from_raw(BOGUS_OBJECT) };
    let attrs = s.get_attributes(bogus, &[AttributeType::Label]);
    assert_eq!(err_of(attrs), RvError::ObjectHandleInvalid, "C_GetAttributeValue");
    let set = s.update_attributes(bogus, &[Attribute::Label(b"x".to_vec())]);
    assert_eq!(err_of(set), RvError::ObjectHandleInvalid, "C_SetAttributeValue");
    assert_eq!(err_of(s.copy_object(bogus, &[])), RvError::ObjectHandleInvalid, "C_CopyObject");
    assert_eq!(err_of(s.destroy_object(bogus)), RvError::ObjectHandleInvalid, "C_DestroyObject");
    let dev = &KEY_HANDLE_CODE;
    let (spec, softhsm) = (RvError::KeyHandleInvalid, RvError::ObjectHandleInvalid);
    let enc = err_of(s.encrypt_init(&Mechanism::AesEcb, bogus));
    t.expect_spec("C_EncryptInit, no such key", enc, spec, dev, softhsm);
    let mac = err_of(s.sign_init(&Mechanism::Sha256Hmac, bogus));
    t.expect_spec("C_SignInit, no such key", mac, spec, dev, softhsm);
    let kek = gen_aes(&s, 16);
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrap, kek, bogus);
    assert_eq!(err_of(wrapped), RvError::KeyHandleInvalid, "C_WrapKey of no such key");
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrap, bogus, kek);
    assert_eq!(err_of(wrapped), RvError::WrappingKeyHandleInvalid, "C_WrapKey, no such KEK");
}

/// Slot ids that do not exist answer CKR_SLOT_ID_INVALID.
pub fn invalid_slot(t: &Env) {
    let invalid = rv(CKR_SLOT_ID_INVALID);
    let mut si = CK_SLOT_INFO::default();
    assert_eq!(ck!(t, C_GetSlotInfo, BOGUS_SLOT, &mut si), invalid, "C_GetSlotInfo");
    let mut ti = CK_TOKEN_INFO::default();
    assert_eq!(ck!(t, C_GetTokenInfo, BOGUS_SLOT, &mut ti), invalid, "C_GetTokenInfo");
    let mut n: CK_ULONG = 0;
    let code = ck!(t, C_GetMechanismList, BOGUS_SLOT, null_mut(), &mut n);
    assert_eq!(code, invalid, "C_GetMechanismList");
    let mut mi = CK_MECHANISM_INFO::default();
    let code = ck!(t, C_GetMechanismInfo, BOGUS_SLOT, CKM_AES_ECB, &mut mi);
    assert_eq!(code, invalid, "C_GetMechanismInfo");
    let mut out: CK_SESSION_HANDLE = 0;
    let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    let code = ck!(t, C_OpenSession, BOGUS_SLOT, flags, null_mut(), None, &mut out);
    assert_eq!(code, invalid, "C_OpenSession");
}

/// Malformed mechanism parameters answer CKR_MECHANISM_PARAM_INVALID and start nothing.
pub fn mechanism_param_invalid(t: &Env) {
    let s = t.user_session();
    let key = import_aes(&s, &h(AES128_KEY));
    let (hs, k) = (s.handle(), key.handle());
    let spec = rv(CKR_MECHANISM_PARAM_INVALID);
    let dev = &MECH_PARAM_CODE;
    let mut iv3 = [1u8, 2, 3];
    let mut m = mech_with(CKM_AES_CBC, &mut iv3);
    let code = ck!(t, C_EncryptInit, hs, &mut m, k);
    t.expect_spec("CBC encrypt, 3-byte IV", code, spec, dev, rv(CKR_MECHANISM_INVALID));
    let code = ck!(t, C_DecryptInit, hs, &mut m, k);
    t.expect_spec("CBC decrypt, 3-byte IV", code, spec, dev, rv(CKR_MECHANISM_INVALID));
    let mut m = mech(CKM_AES_CBC_PAD);
    let code = ck!(t, C_EncryptInit, hs, &mut m, k);
    t.expect_spec("CBC-PAD without IV", code, spec, dev, rv(CKR_ARGUMENTS_BAD));
    let mut ctr = CK_AES_CTR_PARAMS { ulCounterBits: 0, cb: [0; 16] };
    let mut m = mech_with(CKM_AES_CTR, &mut ctr);
    assert_eq!(ck!(t, C_EncryptInit, hs, &mut m, k), spec, "CTR with 0 counter bits");
    let mut iv = [0u8; 12];
    let mut gcm = CK_GCM_PARAMS {
        pIv: iv.as_mut_ptr(),
        ulIvLen: 12,
        ulIvBits: 96,
        pAAD: null_mut(),
        ulAADLen: 0,
        ulTagBits: 129,
    };
    let mut m = mech_with(CKM_AES_GCM, &mut gcm);
    let code = ck!(t, C_EncryptInit, hs, &mut m, k);
    t.expect_spec("GCM with a 129-bit tag", code, spec, dev, rv(CKR_ARGUMENTS_BAD));
    let (code, _, _) = encrypt(t, hs, &[0; 16], Some(16));
    assert_eq!(code, rv(CKR_OPERATION_NOT_INITIALIZED), "a refused Init started an operation");
    ecb_init(t, hs, key);
    let (code, _, out) = encrypt(t, hs, &h(AES_PT), Some(64));
    assert_eq!((code, hex::encode(out)), (OK, hex::encode(h(AES_ECB_CT))));
}

/// Mechanisms unknown or unfit for the function answer CKR_MECHANISM_INVALID.
pub fn mechanism_invalid(t: &Env) {
    let s = t.user_session();
    let key = import_aes(&s, &h(AES128_KEY));
    let (hs, k) = (s.handle(), key.handle());
    let invalid = rv(CKR_MECHANISM_INVALID);
    let mut m = mech(CKM_VENDOR_DEFINED | 0x4b42_0042);
    assert_eq!(ck!(t, C_EncryptInit, hs, &mut m, k), invalid, "unknown mechanism");
    let mut m = mech(CKM_SHA256);
    assert_eq!(ck!(t, C_EncryptInit, hs, &mut m, k), invalid, "encrypt with a digest");
    let mut m = mech(CKM_AES_ECB);
    assert_eq!(ck!(t, C_DigestInit, hs, &mut m), invalid, "digest with a cipher");
    let mut m = mech(CKM_SHA256);
    let mut out: CK_OBJECT_HANDLE = 0;
    let mut len = CK_ULONG::to_ne_bytes(16);
    let mut tpl =
        [CK_ATTRIBUTE { type_: CKA_VALUE_LEN, pValue: len.as_mut_ptr() as *mut _, ulValueLen: 8 }];
    let code = ck!(t, C_GenerateKey, hs, &mut m, tpl.as_mut_ptr(), 1, &mut out);
    assert_eq!(code, invalid, "generate a key with a digest");
}

/// Keys of the wrong type or without the usage flag are refused at Init.
pub fn key_type_and_function_checks(t: &Env) {
    let s = t.user_session();
    let aes = import_aes(&s, &h(AES128_KEY));
    let hmac = import_generic(&s, &[0x33; 32]);
    let rsa = s.encrypt_init(&Mechanism::RsaPkcs, aes);
    assert_eq!(err_of(rsa), RvError::KeyTypeInconsistent, "RSA_PKCS with an AES key");
    let ecb = s.encrypt_init(&Mechanism::AesEcb, hmac);
    assert_eq!(err_of(ecb), RvError::KeyTypeInconsistent, "AES_ECB with a generic secret");
    let no_encrypt = s
        .create_object(&[
            cryptoki::object::Attribute::Class(cryptoki::object::ObjectClass::SECRET_KEY),
            cryptoki::object::Attribute::KeyType(cryptoki::object::KeyType::AES),
            cryptoki::object::Attribute::Token(false),
            cryptoki::object::Attribute::Value(vec![4; 16]),
            cryptoki::object::Attribute::Encrypt(false),
            cryptoki::object::Attribute::Sign(false),
        ])
        .unwrap();
    let refused = s.encrypt_init(&Mechanism::AesEcb, no_encrypt);
    assert_eq!(err_of(refused), RvError::KeyFunctionNotPermitted, "CKA_ENCRYPT false");
    let refused = s.sign_init(&Mechanism::AesCMac, no_encrypt);
    assert_eq!(err_of(refused), RvError::KeyFunctionNotPermitted, "CKA_SIGN false");
}

/// A NULL template with a non-zero count is CKR_ARGUMENTS_BAD everywhere.
pub fn null_template_with_count(t: &Env) {
    let s = t.user_session();
    let hs = s.handle();
    let obj = s
        .create_object(&[
            cryptoki::object::Attribute::Class(cryptoki::object::ObjectClass::DATA),
            cryptoki::object::Attribute::Token(false),
        ])
        .unwrap()
        .handle();
    let bad = rv(CKR_ARGUMENTS_BAD);
    let mut out: CK_OBJECT_HANDLE = 0;
    assert_eq!(ck!(t, C_CreateObject, hs, null_mut(), 3, &mut out), bad, "C_CreateObject");
    assert_eq!(ck!(t, C_FindObjectsInit, hs, null_mut(), 1), bad, "C_FindObjectsInit");
    assert_eq!(ck!(t, C_FindObjectsInit, hs, null_mut(), 0), OK, "a refused find started");
    assert_eq!(ck!(t, C_FindObjectsFinal, hs), OK);
    assert_eq!(ck!(t, C_GetAttributeValue, hs, obj, null_mut(), 1), bad, "C_GetAttributeValue");
    assert_eq!(ck!(t, C_SetAttributeValue, hs, obj, null_mut(), 1), bad, "C_SetAttributeValue");
    assert_eq!(ck!(t, C_CopyObject, hs, obj, null_mut(), 1, &mut out), bad, "C_CopyObject");
    let mut m = mech(CKM_AES_KEY_GEN);
    assert_eq!(ck!(t, C_GenerateKey, hs, &mut m, null_mut(), 2, &mut out), bad, "C_GenerateKey");
    let mut m = mech(CKM_EC_KEY_PAIR_GEN);
    let (mut a, mut b) = (0, 0);
    let code = ck!(t, C_GenerateKeyPair, hs, &mut m, null_mut(), 2, null_mut(), 2, &mut a, &mut b);
    assert_eq!(code, bad, "C_GenerateKeyPair");
    let kek = gen_aes(&s, 16).handle();
    let mut m = mech(CKM_AES_KEY_WRAP);
    let blob = h_blob();
    let (p, l) = (blob.as_ptr() as *mut u8, blob.len() as CK_ULONG);
    let code = ck!(t, C_UnwrapKey, hs, &mut m, kek, p, l, null_mut(), 2, &mut out);
    assert_eq!(code, bad, "C_UnwrapKey");
}

fn h_blob() -> Vec<u8> {
    h(KW_WRAPPED)
}

/// NULL where the spec requires a pointer is CKR_ARGUMENTS_BAD.
pub fn null_pointers(t: &Env) {
    let s = t.user_session();
    let hs = s.handle();
    let bad = rv(CKR_ARGUMENTS_BAD);
    let slot = t.slot.id();
    assert_eq!(ck!(t, C_GetInfo, null_mut()), bad, "C_GetInfo");
    assert_eq!(ck!(t, C_GetSlotList, CK_TRUE, null_mut(), null_mut()), bad, "C_GetSlotList");
    assert_eq!(ck!(t, C_GetSlotInfo, slot, null_mut()), bad, "C_GetSlotInfo");
    assert_eq!(ck!(t, C_GetTokenInfo, slot, null_mut()), bad, "C_GetTokenInfo");
    let code = ck!(t, C_GetMechanismList, slot, null_mut(), null_mut());
    assert_eq!(code, bad, "C_GetMechanismList");
    let code = ck!(t, C_GetMechanismInfo, slot, CKM_AES_ECB, null_mut());
    assert_eq!(code, bad, "C_GetMechanismInfo");
    let flags = CKF_SERIAL_SESSION;
    let code = ck!(t, C_OpenSession, slot, flags, null_mut(), None, null_mut());
    assert_eq!(code, bad, "C_OpenSession");
    assert_eq!(ck!(t, C_GetSessionInfo, hs, null_mut()), bad, "C_GetSessionInfo");
    let other = t.rw_session();
    let code = ck!(t, C_Login, other.handle(), CKU_SO, null_mut(), 5);
    // The user is logged in: both codes apply, both are "other" return values, and
    // PKCS#11 3.0 5.1.7 lets a module return either.
    assert!(code == bad || code == rv(CKR_USER_ANOTHER_ALREADY_LOGGED_IN), "C_Login: {code:?}");
    let key = import_aes(&s, &h(AES128_KEY)).handle();
    assert_eq!(ck!(t, C_EncryptInit, hs, null_mut(), key), bad, "C_EncryptInit");
    assert_eq!(ck!(t, C_GenerateRandom, hs, null_mut(), 16), bad, "C_GenerateRandom");
    let mut obj: CK_OBJECT_HANDLE = 0;
    let mut class = CKO_DATA.to_ne_bytes();
    let mut tpl =
        [CK_ATTRIBUTE { type_: CKA_CLASS, pValue: class.as_mut_ptr() as *mut _, ulValueLen: 8 }];
    let code = ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), 1, null_mut());
    assert_eq!(code, bad, "C_CreateObject without phObject");
    assert_eq!(ck!(t, C_CreateObject, hs, tpl.as_mut_ptr(), 1, &mut obj), OK);
    let mut m = mech(CKM_SHA256);
    assert_eq!(ck!(t, C_DigestInit, hs, &mut m), OK, "C_DigestInit");
    let mut n: CK_ULONG = 32;
    let mut out = [0u8; 32];
    let code = ck!(t, C_Digest, hs, null::<u8>() as *mut u8, 3, out.as_mut_ptr(), &mut n);
    assert_eq!(code, bad, "C_Digest of NULL data with a length");
}

/// C_OpenSession without CKF_SERIAL_SESSION answers CKR_SESSION_PARALLEL_NOT_SUPPORTED.
pub fn open_session_needs_serial_flag(t: &Env) {
    let mut out: CK_SESSION_HANDLE = 0;
    let code = ck!(t, C_OpenSession, t.slot.id(), CKF_RW_SESSION, null_mut(), None, &mut out);
    assert_eq!(code, rv(CKR_SESSION_PARALLEL_NOT_SUPPORTED));
}

extern "C" fn fake_create(_: *mut *mut std::ffi::c_void) -> CK_RV {
    CKR_OK
}

/// Malformed C_Initialize/C_Finalize arguments are CKR_ARGUMENTS_BAD and change nothing.
pub fn initialize_bad_args(t: &Env) {
    let bad = rv(CKR_ARGUMENTS_BAD);
    let mut reserved = 0u8;
    assert_eq!(ck!(t, C_Finalize, &mut reserved as *mut u8 as *mut _), bad, "C_Finalize(non-NULL)");
    assert_eq!(ck!(t, C_Finalize, null_mut()), OK, "C_Finalize");
    let mut args = CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: CKF_OS_LOCKING_OK,
        pReserved: &mut reserved as *mut u8 as *mut _,
    };
    let p = &mut args as *mut CK_C_INITIALIZE_ARGS as *mut _;
    assert_eq!(ck!(t, C_Initialize, p), bad, "C_Initialize with pReserved set");
    args.pReserved = null_mut();
    args.CreateMutex = Some(fake_create);
    let p = &mut args as *mut CK_C_INITIALIZE_ARGS as *mut _;
    assert_eq!(ck!(t, C_Initialize, p), bad, "C_Initialize with only CreateMutex");
    let mut info = CK_INFO::default();
    let code = ck!(t, C_GetInfo, &mut info);
    assert_eq!(code, rv(CKR_CRYPTOKI_NOT_INITIALIZED), "a refused C_Initialize initialised");
    args.CreateMutex = None;
    let p = &mut args as *mut CK_C_INITIALIZE_ARGS as *mut _;
    assert_eq!(ck!(t, C_Initialize, p), OK, "C_Initialize");
    let s = t.user_session();
    s.generate_random_vec(8).expect("usable after the refused attempts");
}

/// Key functions judge the session before their arguments (PKCS#11 3.0 5.1.7: session
/// codes take precedence over "other" codes): a NULL mechanism on a session that does
/// not exist answers CKR_SESSION_HANDLE_INVALID (SoftHSM2: [`ARGS_BEFORE_SESSION`]), on
/// a valid session CKR_ARGUMENTS_BAD.
pub fn key_functions_judge_session_first(t: &Env) {
    let s = t.user_session();
    let key = import_aes(&s, &h(AES128_KEY)).handle();
    let value_len: CK_ULONG = 16;
    let mut tpl = [CK_ATTRIBUTE {
        type_: CKA_VALUE_LEN,
        pValue: &value_len as *const CK_ULONG as *mut _,
        ulValueLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
    }];
    let (tp, tn) = (tpl.as_mut_ptr(), tpl.len() as CK_ULONG);
    let mut blob = [0u8; 64];
    let mut blob_len = blob.len() as CK_ULONG;
    let (mut k1, mut k2): (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) = (0, 0);
    let mut codes = |session: CK_SESSION_HANDLE| {
        let m = null_mut();
        let b = blob.as_mut_ptr();
        vec![
            ("C_GenerateKey", ck!(t, C_GenerateKey, session, m, tp, tn, &mut k1)),
            (
                "C_GenerateKeyPair",
                ck!(t, C_GenerateKeyPair, session, m, tp, tn, tp, tn, &mut k1, &mut k2),
            ),
            ("C_WrapKey", ck!(t, C_WrapKey, session, m, key, key, b, &mut blob_len)),
            ("C_UnwrapKey", ck!(t, C_UnwrapKey, session, m, key, b, 24, tp, tn, &mut k1)),
            ("C_DeriveKey", ck!(t, C_DeriveKey, session, m, key, tp, tn, &mut k1)),
        ]
    };
    let answer = |all: &[(&'static str, Rv)], code: CK_RV| -> Vec<(&'static str, Rv)> {
        all.iter().map(|(f, _)| (*f, rv(code))).collect()
    };
    let bad_session = codes(BOGUS_SESSION);
    let spec = answer(&bad_session, CKR_SESSION_HANDLE_INVALID);
    let softhsm = answer(&bad_session, CKR_ARGUMENTS_BAD);
    let what = "NULL mechanism on a session that does not exist";
    t.expect_spec(what, bad_session, spec, &ARGS_BEFORE_SESSION, softhsm);
    let valid_session = codes(s.handle());
    let spec = answer(&valid_session, CKR_ARGUMENTS_BAD);
    assert_eq!(valid_session, spec, "NULL mechanism on a valid session");
}
