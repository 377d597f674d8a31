//! Mechanism parameters: EC (ECDSA, ECDH). CK_ECDH1_DERIVE_PARAMS: a KDF the spec does
//! not define, shared data with CKD_NULL, or no public data is
//! CKR_MECHANISM_PARAM_INVALID (PKCS#11 3.0 current mechanisms 2.3.15).

use super::fixture::*;
use super::s5_14_wrap::{derive, derived_tpl, ecdh};
use super::{Rows, Section};
use crate::deviation::MECH_PARAM_CODE;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section =
    Section { id: "M.ec", title: "Mechanism parameters: EC (ECDSA, ECDH)", rows };

const PI: &[CK_RV] = &[CKR_MECHANISM_PARAM_INVALID];

static SHARED: [u8; 8] = [5; 8];

fn rows() -> Rows {
    let mut r = Rows::default();
    let d = "C_DeriveKey";
    r.add(d, "ECDH1 without parameter", PI, |f, hs| {
        derive(f, hs, &mut m0(CKM_ECDH1_DERIVE), f.ec_priv, derived_tpl())
    });
    r.add(d, "ECDH1 parameter of 8 bytes", PI, |f, hs| {
        let mut x = [0u8; 8];
        derive(f, hs, &mut mb(CKM_ECDH1_DERIVE, &mut x), f.ec_priv, derived_tpl())
    });
    r.add(d, "ECDH1 KDF no spec defines", PI, |f, hs| {
        ecdh(f, hs, f.ec_priv, derived_tpl(), |p| p.kdf = 0x7ead)
    });
    r.add(d, "ECDH1 CKD_NULL with shared data", PI, |f, hs| {
        ecdh(f, hs, f.ec_priv, derived_tpl(), |p| {
            p.pSharedData = SHARED.as_ptr() as *mut u8;
            p.ulSharedDataLen = 8;
        })
    });
    r.add(d, "ECDH1 NULL public data", PI, |f, hs| {
        ecdh(f, hs, f.ec_priv, derived_tpl(), |p| p.pPublicData = null_mut())
    });
    r.add(d, "ECDH1 public data of 0 bytes", PI, |f, hs| {
        ecdh(f, hs, f.ec_priv, derived_tpl(), |p| p.ulPublicDataLen = 0)
    });
    r.add(d, "ECDH1 raw public point that fits", &[CKR_OK], |f, hs| {
        ecdh(f, hs, f.ec_priv, derived_tpl(), |_| {})
    });
    let s = "C_SignInit";
    r.add(s, "ECDSA with a parameter", PI, |f, hs| {
        let mut x = [0u8; 8];
        sign_init(f, hs, &mut mb(CKM_ECDSA, &mut x), f.ec_priv)
    });
    // SoftHSM2 2.6 direct: recorded answers (SH-05: malformed parameters answered
    // CKR_ARGUMENTS_BAD or CKR_MECHANISM_INVALID, or accepted; mechanisms it lacks).
    r.mark("C_SignInit", "ECDSA with a parameter", &MECH_PARAM_CODE, CKR_OK);
    r
}
