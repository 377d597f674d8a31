//! Attribute rules that hold before a template reaches a backend: which session may
//! create what, defaults, and values the spec forbids that backends let through.

pub(crate) mod key_usage;

use crate::error::{rule, Result};
use crate::instance::{template_bool, Instance, Login};
use crate::vendor::SERVICE_ID_PREFIX;
use cryptoki_sys::*;
use kmsbridge_bridge::{attr, Attr};

/// Attribute rules that hold before anything reaches a backend.
pub(crate) fn check_template(t: &[Attr]) -> Result<()> {
    for a in t {
        if !attr::encoding_ok(a) {
            return rule(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "attribute value of the wrong length for its type",
            );
        }
        if a.ty >= CKA_VENDOR_DEFINED {
            // KMS metadata is never forwarded: backends reject vendor attributes.
            return rule(
                CKR_ATTRIBUTE_TYPE_INVALID,
                "vendor attribute not known to kmsbridge",
            );
        }
    }
    check_reserved(t)
}

/// The module's own objects are known by their CKA_APPLICATION (`kmsbridge.*`) and
/// service keys by their CKA_ID (`kmsbridge.svc.*`): an application may not make or
/// rename an object into one of them (a planted access point, PIN hash or audit key
/// would be believed).
fn check_reserved(t: &[Attr]) -> Result<()> {
    if attr::find(t, CKA_APPLICATION).is_some_and(|a| a.value.starts_with(RESERVED_APPLICATION)) {
        return rule(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "CKA_APPLICATION values kmsbridge.* are the module's own",
        );
    }
    if attr::find(t, CKA_ID).is_some_and(|a| a.value.starts_with(SERVICE_ID_PREFIX)) {
        return rule(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "CKA_ID values kmsbridge.svc.* are the module's service keys",
        );
    }
    Ok(())
}

/// The prefix of every CKA_APPLICATION the module uses for its own objects.
const RESERVED_APPLICATION: &[u8] = b"kmsbridge.";

/// May this session create an object with this template?
pub(crate) fn check_create(
    inst: &Instance,
    rw: bool,
    t: &[Attr],
    default_private: bool,
) -> Result<()> {
    check_template(t)?;
    check_trusted(inst, t)?;
    let token = template_bool(t, CKA_TOKEN).unwrap_or(false);
    let private = template_bool(t, CKA_PRIVATE).unwrap_or(default_private);
    if token && !rw {
        return rule(
            CKR_SESSION_READ_ONLY,
            "token objects need a read/write session",
        );
    }
    match inst.login_state() {
        Login::User => Ok(()),
        Login::So if !private => Ok(()),
        _ if private => rule(
            CKR_USER_NOT_LOGGED_IN,
            "private objects need the user logged in",
        ),
        _ => Ok(()),
    }
}

/// A template's CKA_CLASS names a class the function makes. A valid class the call
/// cannot make is inconsistent with it (PKCS#11 3.0 4.1.1): CKR_TEMPLATE_INCONSISTENT
/// on both instance kinds (SoftHSM2 answers CKR_ATTRIBUTE_VALUE_INVALID).
pub(crate) fn check_class(t: &[Attr], makes: &[CK_OBJECT_CLASS]) -> Result<()> {
    match attr::find(t, CKA_CLASS).and_then(|a| a.as_ulong()) {
        Some(c) if !makes.contains(&c) => rule(
            CKR_TEMPLATE_INCONSISTENT,
            "CKA_CLASS names a class this function does not make",
        ),
        _ => Ok(()),
    }
}

/// Default of CKA_PRIVATE for a new object of this class, as SoftHSM2 and the software
/// instance default it: false for public keys and certificates, true for the rest.
/// (A certificate made without CKA_PRIVATE on a public R/W session is allowed.)
pub(crate) fn default_private(t: &[Attr]) -> bool {
    !matches!(
        attr::find(t, CKA_CLASS).and_then(|a| a.as_ulong()),
        Some(CKO_PUBLIC_KEY | CKO_CERTIFICATE)
    )
}

/// Values the spec forbids for a new object (SH-09: SoftHSM2 accepts a 15-byte AES key, a 16-byte DES3 key).
pub(crate) fn check_values(t: &[Attr]) -> Result<()> {
    let class = attr::find(t, CKA_CLASS).and_then(|a| a.as_ulong());
    let key_type = attr::find(t, CKA_KEY_TYPE).and_then(|a| a.as_ulong());
    if class != Some(CKO_SECRET_KEY) {
        return Ok(());
    }
    let lengths: &[usize] = match key_type {
        Some(CKK_AES) => &[16, 24, 32],
        Some(CKK_DES) => &[8],
        Some(CKK_DES2) => &[16],
        Some(CKK_DES3) => &[24],
        _ => return Ok(()),
    };
    if let Some(v) = attr::find(t, CKA_VALUE) {
        if !lengths.contains(&v.value.len()) {
            return rule(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "a key value of the wrong length for its type (AES 16, 24 or 32 bytes; DES 8, DES2 16, DES3 24)",
            );
        }
    }
    Ok(())
}

/// Only the SO may mark a key CKA_TRUSTED (PKCS#11 4.10): a trusted key may wrap keys
/// whose CKA_WRAP_WITH_TRUSTED keeps them from anything else.
pub(crate) fn check_trusted(inst: &Instance, t: &[Attr]) -> Result<()> {
    if template_bool(t, CKA_TRUSTED) == Some(true) && inst.login_state() != Login::So {
        return rule(CKR_ATTRIBUTE_READ_ONLY, "only the SO sets CKA_TRUSTED");
    }
    Ok(())
}

/// CKA_EC_PARAMS of a key pair to generate: not a curve identifier is
/// CKR_ATTRIBUTE_VALUE_INVALID, a known curve under the wrong mechanism
/// CKR_CURVE_NOT_SUPPORTED (judged here so a hardware instance does not pass its
/// token's answer through). `Ok(false)`: a well-formed OID of a curve kmsbridge does
/// not know — a software instance refuses it, a hardware instance carries it to its
/// token, which may offer it (secp256k1, brainpool, ...): see [`curve_refused`]. A
/// missing one is the backend's CKR_TEMPLATE_INCOMPLETE.
pub(crate) fn check_curve(m: CK_MECHANISM_TYPE, public: &[Attr]) -> Result<bool> {
    use kmsbridge_bridge::ec::Curve;
    let Some(p) = attr::find(public, CKA_EC_PARAMS) else {
        return Ok(true);
    };
    let curve = match Curve::from_params(&p.value) {
        Ok(c) => c,
        Err(kmsbridge_bridge::Error::Rv {
            rv: CKR_CURVE_NOT_SUPPORTED,
            ..
        }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let fits = match m {
        CKM_EC_KEY_PAIR_GEN => curve != Curve::Ed25519,
        CKM_EC_EDWARDS_KEY_PAIR_GEN => curve == Curve::Ed25519,
        _ => true,
    };
    if !fits {
        return rule(
            CKR_CURVE_NOT_SUPPORTED,
            "curve not offered by this mechanism",
        );
    }
    Ok(true)
}

/// A token's refusal of a well-formed curve OID kmsbridge does not know, as the
/// specification's CKR_CURVE_NOT_SUPPORTED (SoftHSM2 answers CKR_GENERAL_ERROR);
/// other answers pass unchanged.
pub(crate) fn curve_refused(e: kmsbridge_bridge::Error) -> kmsbridge_bridge::Error {
    match e {
        kmsbridge_bridge::Error::Rv {
            rv:
                CKR_GENERAL_ERROR
                | CKR_FUNCTION_FAILED
                | CKR_TEMPLATE_INCONSISTENT
                | CKR_ATTRIBUTE_VALUE_INVALID
                | CKR_DOMAIN_PARAMS_INVALID,
            func,
        } => kmsbridge_bridge::Error::Rv {
            rv: CKR_CURVE_NOT_SUPPORTED,
            func,
        },
        e => e,
    }
}

/// A key's type against the mechanism ([`kmsbridge_bridge::mech::key_types`]);
/// `inconsistent` is the function's code. An unknown key type is the backend's to judge.
pub(crate) fn check_key_type(
    m: CK_MECHANISM_TYPE,
    key_type: Option<CK_KEY_TYPE>,
    inconsistent: CK_RV,
) -> Result<()> {
    match (kmsbridge_bridge::mech::key_types(m), key_type) {
        (Some(allowed), Some(kt)) if !allowed.contains(&kt) => {
            rule(inconsistent, "key type does not fit the mechanism")
        }
        _ => Ok(()),
    }
}
