//! Mechanism parameters: AES (ECB, CBC, CBC-PAD, CTR, GCM, CMAC, key wrap). A malformed
//! parameter is CKR_MECHANISM_PARAM_INVALID at Init (PKCS#11 3.0 current mechanisms
//! 2.10: CBC IV 16 bytes, CTR 1..=128 counter bits, GCM tag bits and IV length).

use super::fixture::*;
use super::{Rows, Section, KILLS};
use crate::deviation::MECH_PARAM_CODE;
use crate::deviation::PROCESS_EXIT;
use cryptoki_sys::*;
use std::mem::size_of;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section = Section {
    id: "M.aes",
    title: "Mechanism parameters: AES (ECB, CBC, CBC-PAD, CTR, GCM, CMAC, key wrap)",
    rows,
};

const PI: &[CK_RV] = &[CKR_MECHANISM_PARAM_INVALID];

/// GCM parameters with a 12-byte IV and a 128-bit tag, after `edit`, at Init `init`.
fn gcm(f: &Fx, hs: CK_SESSION_HANDLE, init: Init, edit: impl FnOnce(&mut CK_GCM_PARAMS)) -> CK_RV {
    let mut iv = [0u8; 12];
    let mut p = CK_GCM_PARAMS {
        pIv: iv.as_mut_ptr(),
        ulIvLen: 12,
        ulIvBits: 96,
        pAAD: null_mut(),
        ulAADLen: 0,
        ulTagBits: 128,
    };
    edit(&mut p);
    init(f, hs, &mut mt(CKM_AES_GCM, &mut p), f.aes)
}

fn ctr(f: &Fx, hs: CK_SESSION_HANDLE, bits: CK_ULONG, len: usize) -> CK_RV {
    let mut p = CK_AES_CTR_PARAMS { ulCounterBits: bits, cb: [0; 16] };
    enc_init(f, hs, &mut mp(CKM_AES_CTR, &mut p, len), f.aes)
}

fn rows() -> Rows {
    let mut r = Rows::default();
    for (func, init) in [("C_EncryptInit", enc_init as Init), ("C_DecryptInit", dec_init)] {
        for m in [CKM_AES_CBC, CKM_AES_CBC_PAD] {
            let n = if m == CKM_AES_CBC { "CBC" } else { "CBC-PAD" };
            let what =
                |s: &str| -> &'static str { Box::leak(format!("{n}: {s}").into_boxed_str()) };
            r.add(func, what("no IV"), PI, move |f, hs| init(f, hs, &mut m0(m), f.aes));
            for len in [3usize, 8, 15, 17, 32] {
                r.add(func, what(&format!("IV of {len} bytes")), PI, move |f, hs| {
                    let mut iv = vec![0u8; len];
                    init(f, hs, &mut mb(m, &mut iv), f.aes)
                });
            }
            r.add(func, what("NULL IV with length 16"), PI, move |f, hs| {
                let mut mech =
                    CK_MECHANISM { mechanism: m, pParameter: null_mut(), ulParameterLen: 16 };
                init(f, hs, &mut mech, f.aes)
            });
            r.add(func, what("16-byte IV"), &[CKR_OK], move |f, hs| {
                let mut iv = [0u8; 16];
                init(f, hs, &mut mb(m, &mut iv), f.aes)
            });
        }
    }
    let e = "C_EncryptInit";
    r.add(e, "ECB with a parameter", PI, |f, hs| {
        let mut iv = [0u8; 16];
        enc_init(f, hs, &mut mb(CKM_AES_ECB, &mut iv), f.aes)
    });
    r.add(e, "CTR without parameter", PI, |f, hs| enc_init(f, hs, &mut m0(CKM_AES_CTR), f.aes));
    r.add(e, "CTR parameter of 8 bytes", PI, |f, hs| ctr(f, hs, 32, 8));
    r.add(e, "CTR 0 counter bits", PI, |f, hs| ctr(f, hs, 0, size_of::<CK_AES_CTR_PARAMS>()));
    r.add(e, "CTR 129 counter bits", PI, |f, hs| ctr(f, hs, 129, size_of::<CK_AES_CTR_PARAMS>()));
    r.add(e, "CTR 128 counter bits", &[CKR_OK], |f, hs| {
        ctr(f, hs, 128, size_of::<CK_AES_CTR_PARAMS>())
    });
    r.add(e, "CTR 32 counter bits", &[CKR_OK], |f, hs| {
        ctr(f, hs, 32, size_of::<CK_AES_CTR_PARAMS>())
    });
    for (func, init) in [("C_EncryptInit", enc_init as Init), ("C_DecryptInit", dec_init)] {
        r.add(func, "GCM without parameter", PI, move |f, hs| {
            init(f, hs, &mut m0(CKM_AES_GCM), f.aes)
        });
        r.add(func, "GCM tag of 129 bits", PI, move |f, hs| {
            gcm(f, hs, init, |p| p.ulTagBits = 129)
        });
        r.add(func, "GCM tag of 7 bits", PI, move |f, hs| gcm(f, hs, init, |p| p.ulTagBits = 7));
        r.add(func, "GCM IV of 0 bytes", PI, move |f, hs| gcm(f, hs, init, |p| p.ulIvLen = 0))
            .dev(&PROCESS_EXIT, KILLS);
        r.add(func, "GCM NULL IV with a length", PI, move |f, hs| {
            gcm(f, hs, init, |p| p.pIv = null_mut())
        })
        .dev(&PROCESS_EXIT, KILLS);
        r.add(func, "GCM NULL AAD with a length", PI, move |f, hs| {
            gcm(f, hs, init, |p| p.ulAADLen = 16)
        })
        .dev(&PROCESS_EXIT, KILLS);
        r.add(func, "GCM 12-byte IV, 128-bit tag", &[CKR_OK], move |f, hs| {
            gcm(f, hs, init, |_| {})
        });
        r.add(func, "GCM 96-bit tag", &[CKR_OK], move |f, hs| {
            gcm(f, hs, init, |p| p.ulTagBits = 96)
        });
    }
    r.add(e, "GCM parameter of the wrong size", PI, |f, hs| {
        let mut iv = [0u8; 12];
        let mut p = CK_GCM_PARAMS {
            pIv: iv.as_mut_ptr(),
            ulIvLen: 12,
            ulIvBits: 96,
            pAAD: null_mut(),
            ulAADLen: 0,
            ulTagBits: 128,
        };
        enc_init(f, hs, &mut mp(CKM_AES_GCM, &mut p, 16), f.aes)
    });
    let s = "C_SignInit";
    r.add(s, "CMAC with a parameter", PI, |f, hs| {
        let mut x = [0u8; 8];
        sign_init(f, hs, &mut mb(CKM_AES_CMAC, &mut x), f.aes)
    });
    // CMAC-GENERAL where the module offers it (SoftHSM2 2.6 and the hardware instance
    // over it do not: CKR_MECHANISM_INVALID).
    const CG: CK_MECHANISM_TYPE = CKM_AES_CMAC_GENERAL;
    r.add(s, "CMAC-GENERAL without parameter (where offered)", PI_OR_ABSENT, |f, hs| {
        if_listed(f, CG, sign_init(f, hs, &mut m0(CG), f.aes))
    });
    r.add(s, "CMAC-GENERAL MAC length 17 (where offered)", PI_OR_ABSENT, |f, hs| {
        let mut n: CK_ULONG = 17;
        if_listed(f, CG, sign_init(f, hs, &mut mt(CG, &mut n), f.aes))
    });
    r.add(s, "CMAC-GENERAL MAC length 8 (where offered)", OK_OR_ABSENT, |f, hs| {
        let mut n: CK_ULONG = 8;
        if_listed(f, CG, sign_init(f, hs, &mut mt(CG, &mut n), f.aes))
    });
    // SoftHSM2 2.6 direct: recorded answers (SH-05: malformed parameters answered
    // CKR_ARGUMENTS_BAD or CKR_MECHANISM_INVALID, or accepted; mechanisms it lacks).
    r.mark("C_EncryptInit", "CBC: no IV", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "CBC: IV of 3 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_EncryptInit", "CBC: IV of 8 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_EncryptInit", "CBC: IV of 15 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_EncryptInit", "CBC: IV of 17 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_EncryptInit", "CBC: IV of 32 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_EncryptInit", "CBC: NULL IV with length 16", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "CBC-PAD: no IV", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "CBC-PAD: IV of 3 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_EncryptInit", "CBC-PAD: IV of 8 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_EncryptInit", "CBC-PAD: IV of 15 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_EncryptInit", "CBC-PAD: IV of 17 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_EncryptInit", "CBC-PAD: IV of 32 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_EncryptInit", "CBC-PAD: NULL IV with length 16", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_DecryptInit", "CBC: no IV", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_DecryptInit", "CBC: IV of 3 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_DecryptInit", "CBC: IV of 8 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_DecryptInit", "CBC: IV of 15 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_DecryptInit", "CBC: IV of 17 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_DecryptInit", "CBC: IV of 32 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_DecryptInit", "CBC: NULL IV with length 16", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_DecryptInit", "CBC-PAD: no IV", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_DecryptInit", "CBC-PAD: IV of 3 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_DecryptInit", "CBC-PAD: IV of 8 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_DecryptInit", "CBC-PAD: IV of 15 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_DecryptInit", "CBC-PAD: IV of 17 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_DecryptInit", "CBC-PAD: IV of 32 bytes", &MECH_PARAM_CODE, CKR_MECHANISM_INVALID);
    r.mark("C_DecryptInit", "CBC-PAD: NULL IV with length 16", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "ECB with a parameter", &MECH_PARAM_CODE, CKR_OK);
    r.mark("C_EncryptInit", "CTR without parameter", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "CTR parameter of 8 bytes", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "GCM without parameter", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "GCM tag of 129 bits", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "GCM tag of 7 bits", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_DecryptInit", "GCM without parameter", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_DecryptInit", "GCM tag of 129 bits", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_DecryptInit", "GCM tag of 7 bits", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "GCM parameter of the wrong size", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_SignInit", "CMAC with a parameter", &MECH_PARAM_CODE, CKR_OK);
    r
}
