//! Mechanism parameters: HMAC (general-length) and DES3 (CBC IVs). A general-length
//! HMAC's CK_MAC_GENERAL_PARAMS is a CK_ULONG no larger than the hash output; a DES3
//! CBC IV is 8 bytes: otherwise CKR_MECHANISM_PARAM_INVALID.

use super::fixture::*;
use super::{Rows, Section};
use crate::deviation::MECH_PARAM_CODE;
use crate::p11;
use cryptoki_sys::*;
use std::mem::size_of;

/// This section.
pub const SECTION: Section =
    Section { id: "M.hmac-des", title: "Mechanism parameters: HMAC and DES3", rows };

const PI: &[CK_RV] = &[CKR_MECHANISM_PARAM_INVALID];

/// A session DES3 key made on `hs` (0 if it could not be made: the row then fails).
fn des3(f: &Fx, hs: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
    let mut t = vec![(CKA_TOKEN, bb(false)), (CKA_ENCRYPT, bb(true)), (CKA_DECRYPT, bb(true))];
    let mut a = tpl(&mut t);
    let mut h: CK_OBJECT_HANDLE = 0;
    let mut m = m0(CKM_DES3_KEY_GEN);
    let _ = p11!(f.t, C_GenerateKey, hs, &mut m, a.as_mut_ptr(), super::ul(a.len()), &mut h);
    h
}

fn hmac_gen(f: &Fx, hs: CK_SESSION_HANDLE, n: CK_ULONG, len: usize) -> CK_RV {
    let mut x = n;
    sign_init(f, hs, &mut mp(CKM_SHA256_HMAC_GENERAL, &mut x, len), f.hmac)
}

fn rows() -> Rows {
    let mut r = Rows::default();
    let s = "C_SignInit";
    // HMAC-SHA256-GENERAL where the module offers it (SoftHSM2 2.6 and the hardware
    // instance over it do not: CKR_MECHANISM_INVALID).
    const HG: CK_MECHANISM_TYPE = CKM_SHA256_HMAC_GENERAL;
    let ul_len = size_of::<CK_ULONG>();
    r.add(s, "HMAC-SHA256-GENERAL without parameter (where offered)", PI_OR_ABSENT, |f, hs| {
        if_listed(f, HG, sign_init(f, hs, &mut m0(HG), f.hmac))
    });
    r.add(s, "HMAC-SHA256-GENERAL parameter of 4 bytes (where offered)", PI_OR_ABSENT, |f, hs| {
        if_listed(f, HG, hmac_gen(f, hs, 16, 4))
    });
    r.add(s, "HMAC-SHA256-GENERAL length 33 (where offered)", PI_OR_ABSENT, move |f, hs| {
        if_listed(f, HG, hmac_gen(f, hs, 33, ul_len))
    });
    r.add(s, "HMAC-SHA256-GENERAL length 16 (where offered)", OK_OR_ABSENT, move |f, hs| {
        if_listed(f, HG, hmac_gen(f, hs, 16, ul_len))
    });
    r.add(
        s,
        "HMAC-SHA256-GENERAL 16: the full MAC's first 16 bytes, and it verifies (where offered)",
        OK_OR_ABSENT,
        move |f, hs| {
            if !listed(f, HG) {
                return hmac_gen(f, hs, 16, ul_len);
            }
            let data = b"general-length mac";
            let full = signed(f, hs, CKM_SHA256_HMAC, f.hmac, data);
            if hmac_gen(f, hs, 16, ul_len) != CKR_OK {
                return super::WRONG;
            }
            let mut out = [0u8; 64];
            let mut n: CK_ULONG = 64;
            let (d, dl) = (data.as_ptr() as *mut u8, data.len() as CK_ULONG);
            let code = sign(f, hs, d, dl, out.as_mut_ptr(), &mut n);
            if code != CKR_OK || n != 16 || full.len() != 32 || out[..16] != full[..16] {
                eprintln!("     sign {code:#x}, {n} bytes");
                return super::WRONG;
            }
            let mut x: CK_ULONG = 16;
            if ver_init(f, hs, &mut mp(HG, &mut x, ul_len), f.hmac) != CKR_OK {
                return super::WRONG;
            }
            verify(f, hs, data, &out[..16])
        },
    );
    r.add(s, "HMAC-SHA256 with a parameter", PI, |f, hs| {
        let mut x = [0u8; 8];
        sign_init(f, hs, &mut mb(CKM_SHA256_HMAC, &mut x), f.hmac)
    });
    for (func, init) in [("C_EncryptInit", enc_init as Init), ("C_DecryptInit", dec_init)] {
        for m in [CKM_DES3_CBC, CKM_DES3_CBC_PAD] {
            let n = if m == CKM_DES3_CBC { "DES3-CBC" } else { "DES3-CBC-PAD" };
            let what =
                |s: &str| -> &'static str { Box::leak(format!("{n}: {s}").into_boxed_str()) };
            r.add(func, what("no IV"), PI, move |f, hs| {
                let k = des3(f, hs);
                init(f, hs, &mut m0(m), k)
            });
            for len in [7usize, 16] {
                r.add(func, what(&format!("IV of {len} bytes")), PI, move |f, hs| {
                    let k = des3(f, hs);
                    let mut iv = vec![0u8; len];
                    init(f, hs, &mut mb(m, &mut iv), k)
                });
            }
            r.add(func, what("8-byte IV"), &[CKR_OK], move |f, hs| {
                let k = des3(f, hs);
                let mut iv = [0u8; 8];
                init(f, hs, &mut mb(m, &mut iv), k)
            });
        }
    }
    // SoftHSM2 2.6 direct: recorded answers (SH-05: malformed parameters answered
    // CKR_ARGUMENTS_BAD or CKR_MECHANISM_INVALID, or accepted; mechanisms it lacks).
    r.mark("C_SignInit", "HMAC-SHA256 with a parameter", &MECH_PARAM_CODE, CKR_OK);
    r.mark("C_EncryptInit", "DES3-CBC: no IV", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "DES3-CBC: IV of 7 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_EncryptInit", "DES3-CBC: IV of 16 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_EncryptInit", "DES3-CBC-PAD: no IV", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "DES3-CBC-PAD: IV of 7 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark(
        "C_EncryptInit",
        "DES3-CBC-PAD: IV of 16 bytes",
        &MECH_PARAM_CODE,
        CKR_MECHANISM_INVALID,
    );
    r.mark("C_DecryptInit", "DES3-CBC: no IV", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_DecryptInit", "DES3-CBC: IV of 7 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_DecryptInit", "DES3-CBC: IV of 16 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_DecryptInit", "DES3-CBC-PAD: no IV", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_DecryptInit", "DES3-CBC-PAD: IV of 7 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark(
        "C_DecryptInit",
        "DES3-CBC-PAD: IV of 16 bytes",
        &MECH_PARAM_CODE,
        CKR_MECHANISM_INVALID,
    );
    r
}
