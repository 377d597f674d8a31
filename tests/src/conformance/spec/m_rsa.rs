//! Mechanism parameters: RSA (PKCS#1 v1.5, PSS, OAEP). A malformed CK_RSA_PKCS_PSS_PARAMS
//! or CK_RSA_PKCS_OAEP_PARAMS (hash, MGF, source) is CKR_MECHANISM_PARAM_INVALID.

use super::fixture::*;
use super::{Rows, Section};
use crate::deviation::MECH_PARAM_CODE;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section =
    Section { id: "M.rsa", title: "Mechanism parameters: RSA (PKCS#1 v1.5, PSS, OAEP)", rows };

const PI: &[CK_RV] = &[CKR_MECHANISM_PARAM_INVALID];

fn pss(
    f: &Fx,
    hs: CK_SESSION_HANDLE,
    m: CK_MECHANISM_TYPE,
    edit: impl FnOnce(&mut CK_RSA_PKCS_PSS_PARAMS),
) -> CK_RV {
    let mut p = CK_RSA_PKCS_PSS_PARAMS { hashAlg: CKM_SHA256, mgf: CKG_MGF1_SHA256, sLen: 32 };
    edit(&mut p);
    sign_init(f, hs, &mut mt(m, &mut p), f.rsa_priv)
}

fn oaep(f: &Fx, hs: CK_SESSION_HANDLE, edit: impl FnOnce(&mut CK_RSA_PKCS_OAEP_PARAMS)) -> CK_RV {
    let mut p = CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: CKM_SHA256,
        mgf: CKG_MGF1_SHA256,
        source: CKZ_DATA_SPECIFIED,
        pSourceData: null_mut(),
        ulSourceDataLen: 0,
    };
    edit(&mut p);
    enc_init(f, hs, &mut mt(CKM_RSA_PKCS_OAEP, &mut p), f.rsa_pub)
}

fn rows() -> Rows {
    let mut r = Rows::default();
    let s = "C_SignInit";
    const M: CK_MECHANISM_TYPE = CKM_RSA_PKCS_PSS;
    r.add(s, "PSS without parameter", PI, |f, hs| sign_init(f, hs, &mut m0(M), f.rsa_priv));
    r.add(s, "PSS parameter of the wrong size", PI, |f, hs| {
        let mut p = CK_RSA_PKCS_PSS_PARAMS { hashAlg: CKM_SHA256, mgf: CKG_MGF1_SHA256, sLen: 32 };
        sign_init(f, hs, &mut mp(M, &mut p, 8), f.rsa_priv)
    });
    r.add(s, "PSS hash that is no digest (CKM_AES_ECB)", PI, |f, hs| {
        pss(f, hs, M, |p| p.hashAlg = CKM_AES_ECB)
    });
    r.add(s, "PSS MGF 0", PI, |f, hs| pss(f, hs, M, |p| p.mgf = 0));
    r.add(s, "PSS MGF no spec defines", PI, |f, hs| pss(f, hs, M, |p| p.mgf = 0x7ead));
    r.add(s, "SHA256-RSA-PSS with hashAlg SHA-1", PI, |f, hs| {
        pss(f, hs, CKM_SHA256_RSA_PKCS_PSS, |p| {
            p.hashAlg = CKM_SHA_1;
            p.mgf = CKG_MGF1_SHA1;
        })
    });
    r.add(s, "PSS SHA-256, MGF1-SHA256, salt 32", &[CKR_OK], |f, hs| pss(f, hs, M, |_| {}));
    r.add(s, "SHA256-RSA-PSS that fits", &[CKR_OK], |f, hs| {
        pss(f, hs, CKM_SHA256_RSA_PKCS_PSS, |_| {})
    });
    r.add(s, "RSA-PKCS with a parameter", PI, |f, hs| {
        let mut x = [0u8; 8];
        sign_init(f, hs, &mut mb(CKM_RSA_PKCS, &mut x), f.rsa_priv)
    });
    let e = "C_EncryptInit";
    r.add(e, "OAEP without parameter", PI, |f, hs| {
        enc_init(f, hs, &mut m0(CKM_RSA_PKCS_OAEP), f.rsa_pub)
    });
    r.add(e, "OAEP parameter of the wrong size", PI, |f, hs| {
        let mut x = [0u8; 8];
        enc_init(f, hs, &mut mb(CKM_RSA_PKCS_OAEP, &mut x), f.rsa_pub)
    });
    r.add(e, "OAEP hash that is no digest", PI, |f, hs| oaep(f, hs, |p| p.hashAlg = CKM_AES_ECB));
    r.add(e, "OAEP MGF no spec defines", PI, |f, hs| oaep(f, hs, |p| p.mgf = 0x7ead));
    r.add(e, "OAEP source no spec defines", PI, |f, hs| oaep(f, hs, |p| p.source = 2));
    r.add(e, "OAEP NULL label with a length", PI, |f, hs| oaep(f, hs, |p| p.ulSourceDataLen = 8));
    r.add(e, "OAEP SHA-256, MGF1-SHA256, no label", &[CKR_OK], |f, hs| oaep(f, hs, |_| {}));
    // SoftHSM2 2.6 direct: recorded answers (SH-05: malformed parameters answered
    // CKR_ARGUMENTS_BAD or CKR_MECHANISM_INVALID, or accepted; mechanisms it lacks).
    r.mark("C_SignInit", "PSS without parameter", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_SignInit", "PSS parameter of the wrong size", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark(
        "C_SignInit",
        "PSS hash that is no digest (CKM_AES_ECB)",
        &MECH_PARAM_CODE,
        CKR_ARGUMENTS_BAD,
    );
    r.mark("C_SignInit", "PSS MGF 0", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_SignInit", "PSS MGF no spec defines", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_SignInit", "SHA256-RSA-PSS with hashAlg SHA-1", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_SignInit", "RSA-PKCS with a parameter", &MECH_PARAM_CODE, CKR_OK);
    r.mark("C_EncryptInit", "OAEP without parameter", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark(
        "C_EncryptInit",
        "OAEP parameter of the wrong size",
        &MECH_PARAM_CODE,
        CKR_ARGUMENTS_BAD,
    );
    r.mark("C_EncryptInit", "OAEP hash that is no digest", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "OAEP MGF no spec defines", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "OAEP source no spec defines", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark("C_EncryptInit", "OAEP NULL label with a length", &MECH_PARAM_CODE, CKR_ARGUMENTS_BAD);
    r.mark(
        "C_EncryptInit",
        "OAEP SHA-256, MGF1-SHA256, no label",
        &MECH_PARAM_CODE,
        CKR_ARGUMENTS_BAD,
    );
    r
}
