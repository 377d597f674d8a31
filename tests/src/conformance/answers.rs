//! Answers both instance kinds must give alike (issue 10): the provider judges the
//! mistake before any backend is called, so the hardware instance does not pass its
//! token's answer through and the software instance gives the same code.

use super::rawop::*;
use crate::ck;
use crate::env::Env;
use crate::raw::rv;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// `CK_ULONG` as a template value.
fn ulong(v: &CK_ULONG) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: CKA_VALUE_LEN,
        pValue: v as *const CK_ULONG as *mut _,
        ulValueLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
    }
}

/// C_GenerateKey with a mechanism that is not a key-generation mechanism answers
/// CKR_MECHANISM_INVALID (PKCS#11 3.0 5.14), whatever its parameter: AES-GCM with
/// and without CK_GCM_PARAMS, AES-ECB, a key-pair mechanism. C_GenerateKeyPair with
/// a secret-key mechanism likewise.
pub fn generate_key_mechanism_invalid(t: &Env) {
    let s = t.user_session();
    let hs = s.handle();
    let invalid = rv(CKR_MECHANISM_INVALID);
    let len: CK_ULONG = 16;
    let mut tpl = [ulong(&len)];
    let mut out: CK_OBJECT_HANDLE = 0;
    let mut iv = [0u8; 12];
    let mut gcm = CK_GCM_PARAMS {
        pIv: iv.as_mut_ptr(),
        ulIvLen: 12,
        ulIvBits: 96,
        pAAD: null_mut(),
        ulAADLen: 0,
        ulTagBits: 128,
    };
    let mut with_params = mech_with(CKM_AES_GCM, &mut gcm);
    let code = ck!(t, C_GenerateKey, hs, &mut with_params, tpl.as_mut_ptr(), 1, &mut out);
    assert_eq!(code, invalid, "C_GenerateKey(CKM_AES_GCM with CK_GCM_PARAMS)");
    for m in [CKM_AES_GCM, CKM_AES_ECB, CKM_EC_KEY_PAIR_GEN] {
        let mut m = mech(m);
        let code = ck!(t, C_GenerateKey, hs, &mut m, tpl.as_mut_ptr(), 1, &mut out);
        assert_eq!(code, invalid, "C_GenerateKey(mechanism {:#x})", m.mechanism);
    }
    let (mut a, mut b) = (0, 0);
    let mut m = mech(CKM_AES_KEY_GEN);
    let tp = tpl.as_mut_ptr();
    let code = ck!(t, C_GenerateKeyPair, hs, &mut m, tp, 1, tp, 1, &mut a, &mut b);
    assert_eq!(code, invalid, "C_GenerateKeyPair(CKM_AES_KEY_GEN)");
    let mut m = mech(CKM_AES_KEY_GEN);
    assert_eq!(ck!(t, C_GenerateKey, hs, &mut m, tp, 1, &mut out), OK, "the right mechanism");
}
