//! PKCS#11 3.0 section 5.14, key management functions: C_GenerateKey and
//! C_GenerateKeyPair here; C_WrapKey, C_UnwrapKey and C_DeriveKey in
//! [`super::s5_14_wrap`]. Template codes follow 4.1.1 (attribute type, value, read-only,
//! incomplete, inconsistent); a token object on a read-only session is
//! CKR_SESSION_READ_ONLY and a private object without login CKR_USER_NOT_LOGGED_IN (5.6).

use super::fixture::*;
use super::{ul, Rows, Section};
use crate::deviation::{ARGS_BEFORE_SESSION, ATTR_LEN_CODE, EC_PARAMS_CODE};
use crate::p11;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// This section.
pub const SECTION: Section = Section { id: "5.14", title: "Key management functions", rows };

/// A template as owned (type, value) pairs.
pub type Tpl = Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>;

/// A template's CKA_CLASS naming another class than the function makes: the value is
/// valid for the attribute but not for the call; 4.1.1 allows CKR_TEMPLATE_INCONSISTENT
/// and CKR_ATTRIBUTE_VALUE_INVALID (SoftHSM2 answers the latter).
pub const CLASS_CODES: &[CK_RV] = &[CKR_TEMPLATE_INCONSISTENT, CKR_ATTRIBUTE_VALUE_INVALID];

/// An attribute type no version of the spec defines (below the vendor range).
pub const BOGUS_ATTR: CK_ATTRIBUTE_TYPE = 0x7ead;

/// A session AES-128 key template.
pub fn aes_tpl() -> Tpl {
    vec![(CKA_VALUE_LEN, ulb(16)), (CKA_TOKEN, bb(false))]
}

/// `t` with `(ty, v)` added (or replacing an entry of the same type).
pub fn with(mut t: Tpl, ty: CK_ATTRIBUTE_TYPE, v: Vec<u8>) -> Tpl {
    t.retain(|(x, _)| *x != ty);
    t.push((ty, v));
    t
}

/// `t` without `ty`.
pub fn without(mut t: Tpl, ty: CK_ATTRIBUTE_TYPE) -> Tpl {
    t.retain(|(x, _)| *x != ty);
    t
}

/// Raw C_GenerateKey of `m` with template `t`.
pub fn genkey(f: &Fx, hs: CK_SESSION_HANDLE, mut m: CK_MECHANISM, mut t: Tpl) -> CK_RV {
    let mut a = tpl(&mut t);
    let mut h: CK_OBJECT_HANDLE = 0;
    p11!(f.t, C_GenerateKey, hs, &mut m, a.as_mut_ptr(), ul(a.len()), &mut h)
}

/// The DER of the P-256 curve OID (CKA_EC_PARAMS).
pub const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// A session P-256 key pair's public and private templates.
pub fn ec_tpls() -> (Tpl, Tpl) {
    (
        vec![(CKA_TOKEN, bb(false)), (CKA_EC_PARAMS, P256_OID.to_vec()), (CKA_VERIFY, bb(true))],
        vec![(CKA_TOKEN, bb(false)), (CKA_PRIVATE, bb(true)), (CKA_SIGN, bb(true))],
    )
}

/// Raw C_GenerateKeyPair of `m` with templates `p` (public) and `q` (private).
pub fn genpair(
    f: &Fx,
    hs: CK_SESSION_HANDLE,
    mut m: CK_MECHANISM,
    mut p: Tpl,
    mut q: Tpl,
) -> CK_RV {
    let (mut a, mut b) = (tpl(&mut p), tpl(&mut q));
    let (mut x, mut y): (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) = (0, 0);
    let (pa, pl, qa, ql) = (a.as_mut_ptr(), ul(a.len()), b.as_mut_ptr(), ul(b.len()));
    p11!(f.t, C_GenerateKeyPair, hs, &mut m, pa, pl, qa, ql, &mut x, &mut y)
}

fn ec_pair(f: &Fx, hs: CK_SESSION_HANDLE, p: Tpl, q: Tpl) -> CK_RV {
    genpair(f, hs, m0(CKM_EC_KEY_PAIR_GEN), p, q)
}

fn rows() -> Rows {
    let mut r = Rows::default();
    generate_key(&mut r);
    generate_key_pair(&mut r);
    super::s5_14_wrap::rows(&mut r);
    r
}

fn generate_key(r: &mut Rows) {
    let g = "C_GenerateKey";
    let aes = || m0(CKM_AES_KEY_GEN);
    r.add(g, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], move |f, _| {
        genkey(f, BOGUS_SESSION, aes(), aes_tpl())
    });
    r.add(g, "invalid session and NULL mechanism", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        let mut t = aes_tpl();
        let mut a = tpl(&mut t);
        let mut h: CK_OBJECT_HANDLE = 0;
        p11!(f.t, C_GenerateKey, BOGUS_SESSION, null_mut(), a.as_mut_ptr(), 2, &mut h)
    })
    .dev(&ARGS_BEFORE_SESSION, CKR_ARGUMENTS_BAD);
    r.add(g, "NULL mechanism", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let mut t = aes_tpl();
        let mut a = tpl(&mut t);
        let mut h: CK_OBJECT_HANDLE = 0;
        p11!(f.t, C_GenerateKey, hs, null_mut(), a.as_mut_ptr(), 2, &mut h)
    });
    r.add(g, "NULL phKey", &[CKR_ARGUMENTS_BAD], move |f, hs| {
        let mut t = aes_tpl();
        let mut a = tpl(&mut t);
        p11!(f.t, C_GenerateKey, hs, &mut aes(), a.as_mut_ptr(), 2, null_mut())
    });
    r.add(g, "NULL template with a count", &[CKR_ARGUMENTS_BAD], move |f, hs| {
        let mut h: CK_OBJECT_HANDLE = 0;
        p11!(f.t, C_GenerateKey, hs, &mut aes(), null_mut(), 2, &mut h)
    });
    for (what, m) in [
        ("mechanism no module offers", BOGUS_MECH),
        ("cipher mechanism CKM_AES_GCM", CKM_AES_GCM),
        ("cipher mechanism CKM_AES_CBC_PAD", CKM_AES_CBC_PAD),
        ("key-pair mechanism CKM_EC_KEY_PAIR_GEN", CKM_EC_KEY_PAIR_GEN),
        ("digest mechanism CKM_SHA256", CKM_SHA256),
    ] {
        r.add(g, what, &[CKR_MECHANISM_INVALID], move |f, hs| genkey(f, hs, m0(m), aes_tpl()));
    }
    r.add(g, "AES without CKA_VALUE_LEN", &[CKR_TEMPLATE_INCOMPLETE], move |f, hs| {
        genkey(f, hs, aes(), without(aes_tpl(), CKA_VALUE_LEN))
    });
    r.add(g, "generic secret without CKA_VALUE_LEN", &[CKR_TEMPLATE_INCOMPLETE], |f, hs| {
        genkey(f, hs, m0(CKM_GENERIC_SECRET_KEY_GEN), vec![(CKA_TOKEN, bb(false))])
    });
    r.add(g, "AES CKA_VALUE_LEN 17", &[CKR_ATTRIBUTE_VALUE_INVALID], move |f, hs| {
        genkey(f, hs, aes(), with(aes_tpl(), CKA_VALUE_LEN, ulb(17)))
    });
    r.add(g, "CKA_VALUE_LEN of 1 byte", &[CKR_ATTRIBUTE_VALUE_INVALID], move |f, hs| {
        genkey(f, hs, aes(), with(aes_tpl(), CKA_VALUE_LEN, vec![16]))
    });
    r.add(g, "CKA_TOKEN of 2 bytes", &[CKR_ATTRIBUTE_VALUE_INVALID], move |f, hs| {
        genkey(f, hs, aes(), with(aes_tpl(), CKA_TOKEN, vec![0, 0]))
    })
    .dev(&ATTR_LEN_CODE, CKR_OK);
    r.add(
        g,
        "AES key gen with CKA_KEY_TYPE CKK_RSA",
        &[CKR_TEMPLATE_INCONSISTENT],
        move |f, hs| genkey(f, hs, aes(), with(aes_tpl(), CKA_KEY_TYPE, ulb(CKK_RSA))),
    );
    r.add(
        g,
        "CKA_CLASS CKO_PUBLIC_KEY (4.1.1: inconsistent or value invalid)",
        CLASS_CODES,
        move |f, hs| genkey(f, hs, aes(), with(aes_tpl(), CKA_CLASS, ulb(CKO_PUBLIC_KEY))),
    );
    r.add(
        g,
        "CKA_VALUE given (4.1.1: read-only or inconsistent, both allowed)",
        &[CKR_ATTRIBUTE_READ_ONLY, CKR_TEMPLATE_INCONSISTENT],
        move |f, hs| genkey(f, hs, aes(), with(aes_tpl(), CKA_VALUE, vec![1; 16])),
    );
    r.add(g, "attribute type no spec defines", &[CKR_ATTRIBUTE_TYPE_INVALID], move |f, hs| {
        genkey(f, hs, aes(), with(aes_tpl(), BOGUS_ATTR, bb(true)))
    });
    r.add(g, "token key on a read-only session", &[CKR_SESSION_READ_ONLY], move |f, _| {
        f.with_ro(|h| genkey(f, h, aes(), with(aes_tpl(), CKA_TOKEN, bb(true))))
    });
    r.add(g, "session key on a read-only session", &[CKR_OK], move |f, _| {
        f.with_ro(|h| genkey(f, h, aes(), aes_tpl()))
    });
    r.add(g, "private key without login", &[CKR_USER_NOT_LOGGED_IN], move |f, hs| {
        f.logged_out(hs, || genkey(f, hs, aes(), with(aes_tpl(), CKA_PRIVATE, bb(true))))
    });
    r.add(g, "AES-128 that fits", &[CKR_OK], move |f, hs| genkey(f, hs, aes(), aes_tpl()));
    r.add(g, "AES-256 that fits", &[CKR_OK], move |f, hs| {
        genkey(f, hs, aes(), with(aes_tpl(), CKA_VALUE_LEN, ulb(32)))
    });
    r.add(g, "DES3 that fits", &[CKR_OK], |f, hs| {
        genkey(f, hs, m0(CKM_DES3_KEY_GEN), vec![(CKA_TOKEN, bb(false))])
    });
}

fn generate_key_pair(r: &mut Rows) {
    let g = "C_GenerateKeyPair";
    r.add(g, "session handle never opened", &[CKR_SESSION_HANDLE_INVALID], |f, _| {
        let (p, q) = ec_tpls();
        ec_pair(f, BOGUS_SESSION, p, q)
    });
    let null_mech = |f: &Fx, hs: CK_SESSION_HANDLE| {
        let (mut p, mut q) = ec_tpls();
        let (mut a, mut b) = (tpl(&mut p), tpl(&mut q));
        let (mut x, mut y): (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) = (0, 0);
        let (pa, pl, qa, ql) = (a.as_mut_ptr(), ul(a.len()), b.as_mut_ptr(), ul(b.len()));
        p11!(f.t, C_GenerateKeyPair, hs, null_mut(), pa, pl, qa, ql, &mut x, &mut y)
    };
    r.add(g, "invalid session and NULL mechanism", &[CKR_SESSION_HANDLE_INVALID], move |f, _| {
        null_mech(f, BOGUS_SESSION)
    })
    .dev(&ARGS_BEFORE_SESSION, CKR_ARGUMENTS_BAD);
    r.add(g, "NULL mechanism", &[CKR_ARGUMENTS_BAD], null_mech);
    for (what, which) in [("NULL phPublicKey", 0), ("NULL phPrivateKey", 1)] {
        r.add(g, what, &[CKR_ARGUMENTS_BAD], move |f, hs| {
            let (mut p, mut q) = ec_tpls();
            let (mut a, mut b) = (tpl(&mut p), tpl(&mut q));
            let mut x: CK_OBJECT_HANDLE = 0;
            let (pa, pl, qa, ql) = (a.as_mut_ptr(), ul(a.len()), b.as_mut_ptr(), ul(b.len()));
            let mut m = m0(CKM_EC_KEY_PAIR_GEN);
            if which == 0 {
                p11!(f.t, C_GenerateKeyPair, hs, &mut m, pa, pl, qa, ql, null_mut(), &mut x)
            } else {
                p11!(f.t, C_GenerateKeyPair, hs, &mut m, pa, pl, qa, ql, &mut x, null_mut())
            }
        });
    }
    r.add(g, "NULL public template with a count", &[CKR_ARGUMENTS_BAD], |f, hs| {
        let (_, mut q) = ec_tpls();
        let mut b = tpl(&mut q);
        let (mut x, mut y): (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) = (0, 0);
        let mut m = m0(CKM_EC_KEY_PAIR_GEN);
        let (qa, ql) = (b.as_mut_ptr(), ul(b.len()));
        p11!(f.t, C_GenerateKeyPair, hs, &mut m, null_mut(), 3, qa, ql, &mut x, &mut y)
    });
    for (what, m) in [
        ("mechanism no module offers", BOGUS_MECH),
        ("secret-key mechanism CKM_AES_KEY_GEN", CKM_AES_KEY_GEN),
        ("signature mechanism CKM_ECDSA", CKM_ECDSA),
    ] {
        r.add(g, what, &[CKR_MECHANISM_INVALID], move |f, hs| {
            let (p, q) = ec_tpls();
            genpair(f, hs, m0(m), p, q)
        });
    }
    r.add(g, "RSA without CKA_MODULUS_BITS", &[CKR_TEMPLATE_INCOMPLETE], |f, hs| {
        let p = vec![(CKA_TOKEN, bb(false)), (CKA_PUBLIC_EXPONENT, vec![1, 0, 1])];
        genpair(f, hs, m0(CKM_RSA_PKCS_KEY_PAIR_GEN), p, vec![(CKA_TOKEN, bb(false))])
    });
    r.add(g, "RSA CKA_MODULUS_BITS of 1 byte", &[CKR_ATTRIBUTE_VALUE_INVALID], |f, hs| {
        let p = vec![(CKA_TOKEN, bb(false)), (CKA_MODULUS_BITS, vec![8])];
        genpair(f, hs, m0(CKM_RSA_PKCS_KEY_PAIR_GEN), p, vec![(CKA_TOKEN, bb(false))])
    });
    r.add(g, "EC without CKA_EC_PARAMS", &[CKR_TEMPLATE_INCOMPLETE], |f, hs| {
        let (p, q) = ec_tpls();
        ec_pair(f, hs, without(p, CKA_EC_PARAMS), q)
    });
    r.add(g, "EC with CKA_EC_PARAMS not DER", &[CKR_ATTRIBUTE_VALUE_INVALID], |f, hs| {
        let (p, q) = ec_tpls();
        ec_pair(f, hs, with(p, CKA_EC_PARAMS, vec![0xde, 0xad, 0xbe, 0xef]), q)
    })
    .dev(&EC_PARAMS_CODE, CKR_GENERAL_ERROR);
    r.add(
        g,
        "EC with an OID that names no curve (CURVE_NOT_SUPPORTED or ATTRIBUTE_VALUE_INVALID)",
        &[CKR_CURVE_NOT_SUPPORTED, CKR_ATTRIBUTE_VALUE_INVALID],
        |f, hs| {
            let (p, q) = ec_tpls();
            ec_pair(f, hs, with(p, CKA_EC_PARAMS, vec![0x06, 0x03, 0x2a, 0x03, 0x04]), q)
        },
    )
    .dev(&EC_PARAMS_CODE, CKR_GENERAL_ERROR);
    r.add(
        g,
        "public template CKA_CLASS CKO_PRIVATE_KEY (4.1.1: either code)",
        CLASS_CODES,
        |f, hs| {
            let (p, q) = ec_tpls();
            ec_pair(f, hs, with(p, CKA_CLASS, ulb(CKO_PRIVATE_KEY)), q)
        },
    );
    r.add(
        g,
        "private template CKA_CLASS CKO_SECRET_KEY (4.1.1: either code)",
        CLASS_CODES,
        |f, hs| {
            let (p, q) = ec_tpls();
            ec_pair(f, hs, p, with(q, CKA_CLASS, ulb(CKO_SECRET_KEY)))
        },
    );
    r.add(g, "EC key gen with CKA_KEY_TYPE CKK_RSA", &[CKR_TEMPLATE_INCONSISTENT], |f, hs| {
        let (p, q) = ec_tpls();
        ec_pair(f, hs, with(p, CKA_KEY_TYPE, ulb(CKK_RSA)), q)
    });
    r.add(g, "attribute type no spec defines", &[CKR_ATTRIBUTE_TYPE_INVALID], |f, hs| {
        let (p, q) = ec_tpls();
        ec_pair(f, hs, p, with(q, BOGUS_ATTR, bb(true)))
    });
    r.add(g, "token pair on a read-only session", &[CKR_SESSION_READ_ONLY], |f, _| {
        let (p, q) = ec_tpls();
        f.with_ro(|h| ec_pair(f, h, with(p, CKA_TOKEN, bb(true)), with(q, CKA_TOKEN, bb(true))))
    });
    r.add(g, "private key without login", &[CKR_USER_NOT_LOGGED_IN], |f, hs| {
        let (p, q) = ec_tpls();
        f.logged_out(hs, || ec_pair(f, hs, p, q))
    });
    r.add(g, "EC P-256 that fits", &[CKR_OK], |f, hs| {
        let (p, q) = ec_tpls();
        ec_pair(f, hs, p, q)
    });
}
