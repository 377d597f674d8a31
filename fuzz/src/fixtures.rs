//! Token keys made once per instance that programs use (encrypt, sign, wrap, derive
//! with) but never change or destroy: the harness only hands their handles to calls
//! that read or use an object, so every program finds them as the last one left them.

use crate::exec::{p11, Ctx};
use crate::rig::{check, FIXTURES};
use cryptoki_sys::*;
use std::ffi::c_void;

/// An attribute template built from owned values.
struct T {
    values: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>,
    attrs: Vec<CK_ATTRIBUTE>,
}

impl T {
    fn new(label: &str) -> T {
        let t = T {
            values: Vec::new(),
            attrs: Vec::new(),
        };
        t.v(CKA_LABEL, label.as_bytes())
            .b(CKA_TOKEN, true)
            .b(CKA_PRIVATE, true)
    }

    fn v(mut self, ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> T {
        self.values.push((ty, v.to_vec()));
        self
    }

    fn b(self, ty: CK_ATTRIBUTE_TYPE, v: bool) -> T {
        self.v(ty, &[u8::from(v)])
    }

    fn u(self, ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> T {
        self.v(ty, &v.to_ne_bytes())
    }

    fn raw(&mut self) -> (*mut CK_ATTRIBUTE, CK_ULONG) {
        self.attrs = self
            .values
            .iter_mut()
            .map(|(ty, v)| CK_ATTRIBUTE {
                type_: *ty,
                pValue: v.as_mut_ptr() as *mut c_void,
                ulValueLen: v.len() as CK_ULONG,
            })
            .collect();
        (self.attrs.as_mut_ptr(), self.attrs.len() as CK_ULONG)
    }
}

fn mech(ty: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: ty,
        pParameter: std::ptr::null_mut(),
        ulParameterLen: 0,
    }
}

fn key(
    f: &CK_FUNCTION_LIST,
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_TYPE,
    mut t: T,
) -> Result<(), String> {
    let mut m = mech(m);
    let (p, n) = t.raw();
    let mut h = 0;
    check(
        p11!(f, C_GenerateKey(s, &mut m, p, n, &mut h)),
        "fixture C_GenerateKey",
    )
}

fn pair(
    f: &CK_FUNCTION_LIST,
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_TYPE,
    mut public: T,
    mut private: T,
) -> Result<(), String> {
    let mut m = mech(m);
    let (pp, pn) = public.raw();
    let (qp, qn) = private.raw();
    let (mut a, mut b) = (0, 0);
    check(
        p11!(
            f,
            C_GenerateKeyPair(s, &mut m, pp, pn, qp, qn, &mut a, &mut b)
        ),
        "fixture C_GenerateKeyPair",
    )
}

const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// Makes the fixtures through the logged-in R/W session `s`. One the instance kind
/// refuses is reported and left out (programs then have one key less to use).
pub fn make(f: &CK_FUNCTION_LIST, s: CK_SESSION_HANDLE) -> Result<(), String> {
    let secret = |label: &str| {
        T::new(label)
            .b(CKA_EXTRACTABLE, true)
            .b(CKA_SENSITIVE, true)
    };
    let results = [
        key(
            f,
            s,
            CKM_AES_KEY_GEN,
            secret("fz-aes")
                .u(CKA_VALUE_LEN, 32)
                .b(CKA_ENCRYPT, true)
                .b(CKA_DECRYPT, true)
                .b(CKA_SIGN, true)
                .b(CKA_VERIFY, true),
        ),
        key(
            f,
            s,
            CKM_AES_KEY_GEN,
            secret("fz-kek")
                .u(CKA_VALUE_LEN, 32)
                .b(CKA_WRAP, true)
                .b(CKA_UNWRAP, true)
                .b(CKA_ENCRYPT, false)
                .b(CKA_DECRYPT, false),
        ),
        key(
            f,
            s,
            CKM_GENERIC_SECRET_KEY_GEN,
            secret("fz-hmac")
                .u(CKA_VALUE_LEN, 32)
                .b(CKA_SIGN, true)
                .b(CKA_VERIFY, true)
                .b(CKA_DERIVE, true),
        ),
        key(
            f,
            s,
            CKM_DES3_KEY_GEN,
            secret("fz-des3").b(CKA_ENCRYPT, true).b(CKA_DECRYPT, true),
        ),
        pair(
            f,
            s,
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            T::new("fz-rsa")
                .u(CKA_MODULUS_BITS, 2048)
                .v(CKA_PUBLIC_EXPONENT, &[1, 0, 1])
                .b(CKA_ENCRYPT, true)
                .b(CKA_VERIFY, true)
                .b(CKA_WRAP, true),
            T::new("fz-rsa")
                .b(CKA_DECRYPT, true)
                .b(CKA_SIGN, true)
                .b(CKA_EXTRACTABLE, false),
        ),
        pair(
            f,
            s,
            CKM_EC_KEY_PAIR_GEN,
            T::new("fz-ec").v(CKA_EC_PARAMS, P256).b(CKA_VERIFY, true),
            T::new("fz-ec").b(CKA_SIGN, true).b(CKA_DERIVE, true),
        ),
        pair(
            f,
            s,
            CKM_EC_EDWARDS_KEY_PAIR_GEN,
            T::new("fz-ed")
                .v(CKA_EC_PARAMS, ED25519)
                .b(CKA_VERIFY, true),
            T::new("fz-ed").b(CKA_SIGN, true),
        ),
        data_object(f, s),
    ];
    for (label, r) in FIXTURES.iter().zip(results) {
        if let Err(e) = r {
            eprintln!("fixture {label} not made: {e}");
        }
    }
    Ok(())
}

fn data_object(f: &CK_FUNCTION_LIST, s: CK_SESSION_HANDLE) -> Result<(), String> {
    let mut t = T::new("fz-data")
        .u(CKA_CLASS, CKO_DATA)
        .v(CKA_VALUE, b"fuzz data object")
        .v(CKA_APPLICATION, b"fuzz");
    let (p, n) = t.raw();
    let mut h = 0;
    check(
        p11!(f, C_CreateObject(s, p, n, &mut h)),
        "fixture C_CreateObject",
    )
}

/// Finds the fixtures (all objects of each label) through the anchor session, and
/// reads the EC public point.
pub fn find(c: &mut Ctx) -> Result<(), String> {
    let f = c.f;
    for label in FIXTURES {
        let mut t = T {
            values: vec![(CKA_LABEL, label.as_bytes().to_vec())],
            attrs: Vec::new(),
        };
        let (p, n) = t.raw();
        check(
            p11!(f, C_FindObjectsInit(c.anchor, p, n)),
            "fixture C_FindObjectsInit",
        )?;
        let mut found = [0 as CK_OBJECT_HANDLE; 4];
        let mut count = 0;
        let rv = p11!(
            f,
            C_FindObjects(
                c.anchor,
                found.as_mut_ptr(),
                found.len() as CK_ULONG,
                &mut count
            )
        );
        p11!(f, C_FindObjectsFinal(c.anchor));
        check(rv, "fixture C_FindObjects")?;
        c.fixtures.extend(found.iter().take(count as usize));
    }
    if c.fixtures.is_empty() {
        return Err("no fixture found".to_string());
    }
    // The EC point of whichever fz-ec object has one (the public key).
    for h in c.fixtures.clone() {
        let mut buf = vec![0u8; 256];
        let mut a = CK_ATTRIBUTE {
            type_: CKA_EC_POINT,
            pValue: buf.as_mut_ptr() as *mut c_void,
            ulValueLen: 256,
        };
        if p11!(f, C_GetAttributeValue(c.anchor, h, &mut a, 1)) == CKR_OK
            && a.ulValueLen as usize <= buf.len()
        {
            buf.truncate(a.ulValueLen as usize);
            // The first P-256 point (65 bytes in a DER OCTET STRING), not Ed25519's.
            if buf.len() > 60 {
                c.ec_point = buf;
                break;
            }
        }
    }
    Ok(())
}

/// Finds the fixtures again after a login: a logout makes the module forget private
/// objects' handles, and the next login gives them new ones. Keeps the old list when
/// the search fails (the anchor closed meanwhile: the harness's restore comes next).
pub fn refresh(c: &mut Ctx) {
    let old = std::mem::take(&mut c.fixtures);
    let point = std::mem::take(&mut c.ec_point);
    if find(c).is_err() || c.fixtures.is_empty() {
        c.fixtures = old;
        c.ec_point = point;
    }
}
