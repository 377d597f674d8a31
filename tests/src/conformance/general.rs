//! Library, slot, token and mechanism queries; function tables; C_Initialize/C_Finalize.

use super::mechanisms;
use crate::deviation::{HASHED_ECDSA, NO_INTERFACES, SESSION_COUNTS};
use crate::env::Env;
use crate::raw::rv;
use cryptoki::context::{CInitializeArgs, CInitializeFlags};
use cryptoki::error::{Rv, RvError};
use cryptoki::mechanism::MechanismType;
use cryptoki::slot::Limit;
use cryptoki_sys::*;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::module::find_slot;
use std::ffi::CStr;
use std::mem::{offset_of, size_of};

const OK: Rv = Rv::Ok;

/// Mechanisms every target must list (issue 2, item 6).
const REQUIRED: &[(CK_MECHANISM_TYPE, &str)] = &[
    (CKM_AES_KEY_GEN, "AES_KEY_GEN"),
    (CKM_AES_ECB, "AES_ECB"),
    (CKM_AES_CBC, "AES_CBC"),
    (CKM_AES_CBC_PAD, "AES_CBC_PAD"),
    (CKM_AES_CTR, "AES_CTR"),
    (CKM_AES_GCM, "AES_GCM"),
    (CKM_AES_CMAC, "AES_CMAC"),
    (CKM_AES_KEY_WRAP, "AES_KEY_WRAP"),
    (CKM_AES_KEY_WRAP_PAD, "AES_KEY_WRAP_PAD"),
    (CKM_RSA_PKCS_KEY_PAIR_GEN, "RSA_PKCS_KEY_PAIR_GEN"),
    (CKM_RSA_PKCS, "RSA_PKCS"),
    (CKM_RSA_PKCS_PSS, "RSA_PKCS_PSS"),
    (CKM_RSA_PKCS_OAEP, "RSA_PKCS_OAEP"),
    (CKM_SHA1_RSA_PKCS, "SHA1_RSA_PKCS"),
    (CKM_SHA224_RSA_PKCS, "SHA224_RSA_PKCS"),
    (CKM_SHA256_RSA_PKCS, "SHA256_RSA_PKCS"),
    (CKM_SHA384_RSA_PKCS, "SHA384_RSA_PKCS"),
    (CKM_SHA512_RSA_PKCS, "SHA512_RSA_PKCS"),
    (CKM_SHA1_RSA_PKCS_PSS, "SHA1_RSA_PKCS_PSS"),
    (CKM_SHA224_RSA_PKCS_PSS, "SHA224_RSA_PKCS_PSS"),
    (CKM_SHA256_RSA_PKCS_PSS, "SHA256_RSA_PKCS_PSS"),
    (CKM_SHA384_RSA_PKCS_PSS, "SHA384_RSA_PKCS_PSS"),
    (CKM_SHA512_RSA_PKCS_PSS, "SHA512_RSA_PKCS_PSS"),
    (CKM_EC_KEY_PAIR_GEN, "EC_KEY_PAIR_GEN"),
    (CKM_ECDSA, "ECDSA"),
    (CKM_EC_EDWARDS_KEY_PAIR_GEN, "EC_EDWARDS_KEY_PAIR_GEN"),
    (CKM_EDDSA, "EDDSA"),
    (CKM_ECDH1_DERIVE, "ECDH1_DERIVE"),
    (CKM_SHA_1, "SHA_1"),
    (CKM_SHA224, "SHA224"),
    (CKM_SHA256, "SHA256"),
    (CKM_SHA384, "SHA384"),
    (CKM_SHA512, "SHA512"),
    (CKM_SHA256_HMAC, "SHA256_HMAC"),
    (CKM_SHA384_HMAC, "SHA384_HMAC"),
    (CKM_SHA512_HMAC, "SHA512_HMAC"),
    (CKM_GENERIC_SECRET_KEY_GEN, "GENERIC_SECRET_KEY_GEN"),
];

/// ECDSA with hashing: kmsbridge must offer them; SoftHSM2 2.6 does not ([`HASHED_ECDSA`]).
pub(crate) const HASHED_ECDSA_MECHS: [CK_MECHANISM_TYPE; 5] =
    [CKM_ECDSA_SHA1, CKM_ECDSA_SHA224, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512];

/// C_GetInfo answers a 2.40 or 3.x library with its identity filled in.
pub fn library_info(t: &Env) {
    let info = t.ctx.get_library_info().expect("C_GetInfo");
    let v = info.cryptoki_version();
    assert!(
        (v.major() == 2 && v.minor() >= 40) || v.major() == 3,
        "cryptokiVersion {}.{} is neither 2.40+ nor 3.x",
        v.major(),
        v.minor()
    );
    assert!(!info.manufacturer_id().trim().is_empty(), "empty manufacturerID");
    assert!(!info.library_description().trim().is_empty(), "empty libraryDescription");
}

/// The token's slot is listed with and without tokenPresent, and its info says a token is present.
pub fn slot_list_and_info(t: &Env) {
    let all = t.ctx.get_all_slots().expect("C_GetSlotList(FALSE)");
    let with_token = t.ctx.get_slots_with_token().expect("C_GetSlotList(TRUE)");
    assert!(all.contains(&t.slot), "slot missing from the full list");
    assert!(with_token.contains(&t.slot), "slot missing from the token-present list");
    assert!(with_token.len() <= all.len());
    let info = t.ctx.get_slot_info(t.slot).expect("C_GetSlotInfo");
    assert!(info.token_present(), "CKF_TOKEN_PRESENT not set");
    assert!(!info.slot_description().trim().is_empty(), "empty slotDescription");
}

/// CK_TOKEN_INFO: label, serial, the flags an initialised login token must have, PIN bounds.
pub fn token_info_flags(t: &Env) {
    let info = t.ctx.get_token_info(t.slot).expect("C_GetTokenInfo");
    assert_eq!(info.label().trim_end(), t.label);
    assert!(!info.serial_number().trim().is_empty(), "empty serialNumber");
    assert!(info.token_initialized(), "CKF_TOKEN_INITIALIZED not set");
    assert!(info.login_required(), "CKF_LOGIN_REQUIRED not set");
    assert!(info.user_pin_initialized(), "CKF_USER_PIN_INITIALIZED not set");
    assert!(info.rng(), "CKF_RNG not set");
    assert!(!info.write_protected(), "token is write-protected");
    assert!(!info.user_pin_locked() && !info.so_pin_locked(), "a PIN is locked");
    assert!(info.min_pin_length() >= 1, "ulMinPinLen is 0");
    assert!(info.min_pin_length() <= info.max_pin_length(), "ulMinPinLen > ulMaxPinLen");
    assert!(
        info.max_pin_length() >= t.user_pin.len(),
        "ulMaxPinLen shorter than the user PIN in use"
    );
    match info.max_session_count() {
        Limit::Infinite | Limit::Unavailable => {}
        Limit::Max(n) => assert!(n >= 4096, "ulMaxSessionCount {n} < 4096"),
    }
}

/// ulSessionCount/ulRwSessionCount follow the sessions this application has open.
pub fn token_session_counts(t: &Env) {
    let count = |what| {
        let i = t.ctx.get_token_info(t.slot).expect(what);
        (i.session_count(), i.rw_session_count())
    };
    let ro = t.ro_session();
    let rw1 = t.rw_session();
    let rw2 = t.rw_session();
    let (all, rw) = count("C_GetTokenInfo with 3 sessions");
    t.expect_spec("ulSessionCount", all, Some(3), &SESSION_COUNTS, None);
    t.expect_spec("ulRwSessionCount", rw, Some(2), &SESSION_COUNTS, None);
    rw2.close().expect("C_CloseSession");
    let (all, rw) = count("C_GetTokenInfo with 2 sessions");
    t.expect_spec("ulSessionCount", all, Some(2), &SESSION_COUNTS, None);
    t.expect_spec("ulRwSessionCount", rw, Some(1), &SESSION_COUNTS, None);
    drop((ro, rw1));
    let (all, rw) = count("C_GetTokenInfo with no session");
    t.expect_spec("ulSessionCount", all, Some(0), &SESSION_COUNTS, None);
    t.expect_spec("ulRwSessionCount", rw, Some(0), &SESSION_COUNTS, None);
}

/// Every mechanism the issue names is listed; hashed ECDSA only through kmsbridge.
pub fn mechanism_list(t: &Env) {
    let list = mechanisms(t);
    let missing: Vec<&str> =
        REQUIRED.iter().filter(|(m, _)| !list.contains(m)).map(|(_, n)| *n).collect();
    assert!(missing.is_empty(), "mechanisms missing from the list: {missing:?}");
    let mut sorted = list.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), list.len(), "mechanism list has duplicates");
    let hashed: Vec<bool> = HASHED_ECDSA_MECHS.iter().map(|m| list.contains(m)).collect();
    t.expect_spec("CKM_ECDSA_SHA* listed", hashed, vec![true; 5], &HASHED_ECDSA, vec![false; 5]);
}

/// C_GetMechanismInfo: flags and key-size ranges of the mechanisms under test.
pub fn mechanism_info(t: &Env) {
    let info = |m: MechanismType| {
        t.ctx
            .get_mechanism_info(t.slot, m)
            .unwrap_or_else(|e| panic!("C_GetMechanismInfo {m}: {e}"))
    };
    let gen = info(MechanismType::AES_KEY_GEN);
    assert!(gen.generate(), "AES_KEY_GEN lacks CKF_GENERATE");
    assert!(gen.min_key_size() <= 16 && gen.max_key_size() >= 32, "AES sizes (bytes): {gen:?}");
    for m in [MechanismType::AES_ECB, MechanismType::AES_CBC, MechanismType::AES_GCM] {
        let i = info(m);
        assert!(i.encrypt() && i.decrypt(), "{m} lacks encrypt/decrypt: {i:?}");
    }
    let kw = info(MechanismType::AES_KEY_WRAP);
    assert!(kw.wrap() && kw.unwrap(), "AES_KEY_WRAP lacks wrap/unwrap: {kw:?}");
    let cmac = info(MechanismType::AES_CMAC);
    assert!(cmac.sign() && cmac.verify(), "AES_CMAC lacks sign/verify");
    let rsa = info(MechanismType::RSA_PKCS_KEY_PAIR_GEN);
    assert!(rsa.generate_key_pair(), "RSA keygen lacks CKF_GENERATE_KEY_PAIR");
    assert!(rsa.min_key_size() <= 2048 && rsa.max_key_size() >= 4096, "RSA sizes: {rsa:?}");
    let ec = info(MechanismType::ECC_KEY_PAIR_GEN);
    assert!(ec.generate_key_pair(), "EC keygen lacks CKF_GENERATE_KEY_PAIR");
    assert!(ec.min_key_size() <= 256 && ec.max_key_size() >= 521, "EC sizes: {ec:?}");
    let ecdsa = info(MechanismType::ECDSA);
    assert!(ecdsa.sign() && ecdsa.verify(), "ECDSA lacks sign/verify");
    assert!(info(MechanismType::ECDH1_DERIVE).derive(), "ECDH1_DERIVE lacks CKF_DERIVE");
    assert!(info(MechanismType::SHA256).digest(), "SHA256 lacks CKF_DIGEST");
    let hmac = info(MechanismType::SHA256_HMAC);
    assert!(hmac.sign() && hmac.verify(), "SHA256_HMAC lacks sign/verify");
    let eddsa = info(MechanismType::EDDSA);
    assert!(eddsa.sign() && eddsa.verify(), "EDDSA lacks sign/verify");
    for m in HASHED_ECDSA_MECHS {
        let mut raw = CK_MECHANISM_INFO::default();
        let code = crate::ck!(t, C_GetMechanismInfo, t.slot.id(), m, &mut raw);
        let usable = code == OK
            && raw.flags & (CKF_SIGN | CKF_VERIFY) == (CKF_SIGN | CKF_VERIFY)
            && raw.ulMinKeySize <= 256
            && raw.ulMaxKeySize >= 521;
        let got = if code == OK { Ok(usable) } else { Err(code) };
        let dev = &HASHED_ECDSA;
        t.expect_spec("CKM_ECDSA_SHA* info", got, Ok(true), dev, Err(rv(CKR_MECHANISM_INVALID)));
    }
    let mut raw = CK_MECHANISM_INFO::default();
    let unknown = CKM_VENDOR_DEFINED | 0x4b42_0042;
    let code = crate::ck!(t, C_GetMechanismInfo, t.slot.id(), unknown, &mut raw);
    assert_eq!(code, rv(CKR_MECHANISM_INVALID), "unknown mechanism");
}

/// Indices of NULL entries in a function table that starts with a CK_VERSION.
fn null_entries<T>(table: *const T) -> Vec<usize> {
    assert_eq!(offset_of!(CK_FUNCTION_LIST, C_Initialize), 8);
    let words = (size_of::<T>() - 8) / size_of::<usize>();
    // SAFETY: `table` points to a live function table of type T; after the
    // 8-byte-aligned version come `words` function pointers.
    unsafe {
        let first = (table as *const u8).add(8) as *const usize;
        (0..words).filter(|i| *first.add(*i) == 0).collect()
    }
}

/// The C_GetFunctionList table has no NULL entry (unsupported ones are stubs).
pub fn function_list_complete(t: &Env) {
    let list: *const CK_FUNCTION_LIST = t.raw.list();
    let v = t.raw.list().version;
    assert!(v.major == 2 || v.major == 3, "function list version {}.{}", v.major, v.minor);
    let nulls = null_entries(list);
    assert!(nulls.is_empty(), "NULL entries in CK_FUNCTION_LIST at indices {nulls:?}");
}

/// C_GetInterfaceList/C_GetInterface offer "PKCS 11" 2.40 and 3.0 with complete tables.
pub fn interfaces(t: &Env) {
    let lib = t.raw.lib();
    let (Ok(get_list), Ok(get_one)) = (&lib.C_GetInterfaceList, &lib.C_GetInterface) else {
        let present = lib.C_GetInterfaceList.is_ok() || lib.C_GetInterface.is_ok();
        t.expect_spec("C_GetInterface* exported", present, true, &NO_INTERFACES, false);
        return;
    };
    t.expect_spec("C_GetInterface* exported", true, true, &NO_INTERFACES, false);
    let mut n: CK_ULONG = 0;
    // SAFETY: count query with a valid out pointer.
    assert_eq!(rv(unsafe { get_list(std::ptr::null_mut(), &mut n) }), OK);
    let mut ifaces = vec![
        CK_INTERFACE {
            pInterfaceName: std::ptr::null_mut(),
            pFunctionList: std::ptr::null_mut(),
            flags: 0,
        };
        n as usize
    ];
    // SAFETY: buffer of n entries.
    assert_eq!(rv(unsafe { get_list(ifaces.as_mut_ptr(), &mut n) }), OK);
    let mut versions = Vec::new();
    for i in &ifaces[..n as usize] {
        // SAFETY: the module returns NUL-terminated names and live tables.
        let name = unsafe { CStr::from_ptr(i.pInterfaceName as *const _) };
        if name.to_bytes() != b"PKCS 11" {
            continue;
        }
        // SAFETY: every function list starts with its CK_VERSION, and the module keeps
        // the table alive while it is loaded.
        let v = unsafe { *(i.pFunctionList as *const CK_VERSION) };
        let nulls = match v.major {
            2 => null_entries(i.pFunctionList as *const CK_FUNCTION_LIST),
            _ => null_entries(i.pFunctionList as *const CK_FUNCTION_LIST_3_0),
        };
        assert!(nulls.is_empty(), "NULL entries in the {}.{} table: {nulls:?}", v.major, v.minor);
        versions.push((v.major, v.minor));
    }
    assert!(versions.contains(&(2, 40)), "no \"PKCS 11\" 2.40 interface: {versions:?}");
    assert!(versions.contains(&(3, 0)), "no \"PKCS 11\" 3.0 interface: {versions:?}");
    let mut want = CK_VERSION { major: 3, minor: 0 };
    let mut got: CK_INTERFACE_PTR = std::ptr::null_mut();
    let name = c"PKCS 11";
    // SAFETY: valid name, version and out pointer.
    let code = unsafe { get_one(name.as_ptr() as *mut _, &mut want, &mut got, 0) };
    assert_eq!(rv(code), OK, "C_GetInterface(\"PKCS 11\", 3.0)");
    assert!(!got.is_null());
    // SAFETY: the module returned a live interface.
    let v = unsafe { *((*got).pFunctionList as *const CK_VERSION) };
    assert_eq!((v.major, v.minor), (3, 0), "C_GetInterface returned the wrong version");
}

/// C_Finalize ends the library; calls then fail; C_Initialize brings back the same slot.
pub fn finalize_and_reinitialize(t: &Env) {
    let before = t.ctx.get_token_info(t.slot).expect("C_GetTokenInfo");
    let s = t.rw_session();
    let h = s.handle();
    assert_eq!(crate::ck!(t, C_Finalize, std::ptr::null_mut()), OK, "C_Finalize");
    let mut info = CK_INFO::default();
    let code = crate::ck!(t, C_GetInfo, &mut info);
    assert_eq!(code, rv(CKR_CRYPTOKI_NOT_INITIALIZED), "C_GetInfo after C_Finalize");
    let code = crate::ck!(t, C_Finalize, std::ptr::null_mut());
    assert_eq!(code, rv(CKR_CRYPTOKI_NOT_INITIALIZED), "second C_Finalize");
    std::mem::forget(s); // its handle died with C_Finalize
    let args = || CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK);
    t.ctx.initialize(args()).expect("C_Initialize again");
    assert_eq!(
        err_of(t.ctx.initialize(args())),
        RvError::CryptokiAlreadyInitialized,
        "C_Initialize twice"
    );
    let mut sinfo = CK_SESSION_INFO::default();
    let code = crate::ck!(t, C_GetSessionInfo, h, &mut sinfo);
    assert_eq!(code, rv(CKR_SESSION_HANDLE_INVALID), "a session from before C_Finalize");
    let slot = find_slot(&t.ctx, &t.label).expect("token after C_Initialize");
    assert_eq!(slot, t.slot, "slot id changed across C_Initialize");
    let after = t.ctx.get_token_info(slot).expect("C_GetTokenInfo");
    assert_eq!(after.serial_number(), before.serial_number(), "serial changed");
    let s = t.user_session();
    s.generate_random_vec(16).expect("C_GenerateRandom after re-initialise");
}
