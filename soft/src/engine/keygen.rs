//! C_GenerateKey (AES, generic secret) and C_GenerateKeyPair (RSA, EC, Ed25519), and
//! the attribute setters for key material that unwrapping shares.

use super::ec_params::{self, EcKind};
use super::lc::{self, EcKey, Rsa, RsaParts};
use super::object::SoftObject;
use super::rules::{self, Ctx, Origin};
use cryptoki_sys::*;
use kmsbridge_bridge::attr::Attr;
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::{MechParam, Mechanism};

/// RSA moduli the engine generates, in bits (multiples of 128: aws-lc rounds other
/// sizes down, so they are refused rather than silently shortened).
pub const RSA_BITS: (usize, usize) = (1024, 8192);
/// Generic secret lengths the engine generates, in bytes.
pub const GENERIC_LEN: (usize, usize) = (1, 1024);

fn no_param(m: &Mechanism) -> Result<()> {
    match m.param {
        MechParam::None => Ok(()),
        _ => Err(Error::rv(
            CKR_MECHANISM_PARAM_INVALID,
            "mechanism takes no parameter",
        )),
    }
}

/// CKR_TEMPLATE_INCONSISTENT if `template` gives CKA_CLASS other than `class`.
fn class_is(template: &[Attr], class: CK_OBJECT_CLASS) -> Result<()> {
    match rules::ulong(template, CKA_CLASS)? {
        Some(c) if c != class => Err(Error::rv(CKR_TEMPLATE_INCONSISTENT, "CKA_CLASS")),
        _ => Ok(()),
    }
}

/// The key type `template` names, or `default`; refused unless `ok` accepts it.
fn key_type(
    template: &[Attr],
    default: CK_KEY_TYPE,
    ok: impl Fn(CK_KEY_TYPE) -> bool,
) -> Result<CK_KEY_TYPE> {
    let kt = rules::ulong(template, CKA_KEY_TYPE)?.unwrap_or(default);
    if ok(kt) {
        Ok(kt)
    } else {
        Err(Error::rv(
            CKR_TEMPLATE_INCONSISTENT,
            "CKA_KEY_TYPE does not fit the mechanism",
        ))
    }
}

/// Check a secret value's length for its key type.
pub fn check_secret_len(kt: CK_KEY_TYPE, len: usize) -> Result<()> {
    let good = match kt {
        CKK_AES => matches!(len, 16 | 24 | 32),
        CKK_DES2 => len == 16,
        CKK_DES3 => len == 24,
        _ => len >= 1,
    };
    if good {
        Ok(())
    } else {
        Err(Error::rv(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "key length for the key type",
        ))
    }
}

pub fn generate_key(m: &Mechanism, template: &[Attr]) -> Result<SoftObject> {
    let kt = match m.ty {
        CKM_AES_KEY_GEN => key_type(template, CKK_AES, |k| k == CKK_AES)?,
        CKM_GENERIC_SECRET_KEY_GEN => key_type(template, CKK_GENERIC_SECRET, |k| {
            !matches!(k, CKK_AES | CKK_DES2 | CKK_DES3) && rules::secret_key_type_known(k)
        })?,
        CKM_DES3_KEY_GEN => return des_key(m, template, CKK_DES3, 24),
        CKM_DES2_KEY_GEN => return des_key(m, template, CKK_DES2, 16),
        _ => {
            return Err(Error::rv(
                CKR_MECHANISM_INVALID,
                "not a key generation mechanism",
            ))
        }
    };
    no_param(m)?;
    class_is(template, CKO_SECRET_KEY)?;
    let mut obj = rules::build(CKO_SECRET_KEY, Some(kt), template, Ctx::Generate)?;
    rules::require(&obj, &[CKA_VALUE_LEN])?;
    let len = obj.get_ulong(CKA_VALUE_LEN).unwrap_or(0) as usize;
    check_secret_len(kt, len)?;
    if len > GENERIC_LEN.1 {
        return Err(Error::rv(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "CKA_VALUE_LEN too large",
        ));
    }
    let mut value = zeroize::Zeroizing::new(vec![0u8; len]);
    lc::random(&mut value).map_err(|_| Error::rv(CKR_FUNCTION_FAILED, "random"))?;
    obj.set(CKA_VALUE, value.to_vec());
    rules::finish_key(&mut obj, Origin::Generated(m.ty));
    Ok(obj)
}

/// A 3DES key (legacy): `len` random bytes with odd parity, as DES keys carry it.
/// Its length is the type's, so the template needs no CKA_VALUE_LEN.
fn des_key(m: &Mechanism, template: &[Attr], kt: CK_KEY_TYPE, len: usize) -> Result<SoftObject> {
    key_type(template, kt, |k| k == kt)?;
    no_param(m)?;
    class_is(template, CKO_SECRET_KEY)?;
    let mut obj = rules::build(CKO_SECRET_KEY, Some(kt), template, Ctx::Generate)?;
    if let Some(n) = obj.get_ulong(CKA_VALUE_LEN) {
        if n as usize != len {
            return Err(Error::rv(
                CKR_TEMPLATE_INCONSISTENT,
                "CKA_VALUE_LEN of a DES key",
            ));
        }
    }
    let mut value = zeroize::Zeroizing::new(vec![0u8; len]);
    lc::random(&mut value).map_err(|_| Error::rv(CKR_FUNCTION_FAILED, "random"))?;
    for b in value.iter_mut() {
        // Odd parity in the low bit of each byte.
        *b = (*b & 0xfe) | (((*b >> 1).count_ones() as u8 + 1) & 1);
    }
    obj.set(CKA_VALUE, value.to_vec());
    rules::finish_key(&mut obj, Origin::Generated(m.ty));
    Ok(obj)
}

pub fn set_rsa_public(obj: &mut SoftObject, p: &RsaParts) {
    obj.set(CKA_MODULUS, p.n.to_vec());
    obj.set(CKA_PUBLIC_EXPONENT, p.e.to_vec());
    if obj.class() == CKO_PUBLIC_KEY {
        obj.set_ulong(CKA_MODULUS_BITS, bit_len(&p.n) as CK_ULONG);
    }
}

pub fn set_rsa_private(obj: &mut SoftObject, p: &RsaParts) {
    set_rsa_public(obj, p);
    obj.set(CKA_PRIVATE_EXPONENT, p.d.to_vec());
    obj.set(CKA_PRIME_1, p.p.to_vec());
    obj.set(CKA_PRIME_2, p.q.to_vec());
    obj.set(CKA_EXPONENT_1, p.dp.to_vec());
    obj.set(CKA_EXPONENT_2, p.dq.to_vec());
    obj.set(CKA_COEFFICIENT, p.qinv.to_vec());
}

/// Bits of a big-endian integer.
pub fn bit_len(n: &[u8]) -> usize {
    let Some((i, top)) = n.iter().enumerate().find(|(_, b)| **b != 0) else {
        return 0;
    };
    (n.len() - i) * 8 - top.leading_zeros() as usize
}

fn lc_fail(rv: CK_RV, what: &'static str) -> impl Fn(lc::Fail) -> Error {
    move |_| Error::rv(rv, what)
}

/// CKA_EC_PARAMS from either template; both given must agree.
fn pair_params(public: &[Attr], private: &[Attr]) -> Result<Vec<u8>> {
    let a = kmsbridge_bridge::attr::find(public, CKA_EC_PARAMS);
    let b = kmsbridge_bridge::attr::find(private, CKA_EC_PARAMS);
    match (a, b) {
        (Some(a), Some(b)) if a.value != b.value => {
            Err(Error::rv(CKR_TEMPLATE_INCONSISTENT, "CKA_EC_PARAMS differ"))
        }
        (Some(p), _) | (_, Some(p)) => Ok(p.value.to_vec()),
        (None, None) => Err(Error::rv(CKR_TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS")),
    }
}

pub fn generate_key_pair(
    m: &Mechanism,
    public: &[Attr],
    private: &[Attr],
) -> Result<(SoftObject, SoftObject)> {
    let kt = match m.ty {
        CKM_RSA_PKCS_KEY_PAIR_GEN => CKK_RSA,
        CKM_EC_KEY_PAIR_GEN => CKK_EC,
        CKM_EC_EDWARDS_KEY_PAIR_GEN => CKK_EC_EDWARDS,
        _ => return Err(Error::rv(CKR_MECHANISM_INVALID, "not a key pair mechanism")),
    };
    no_param(m)?;
    class_is(public, CKO_PUBLIC_KEY)?;
    class_is(private, CKO_PRIVATE_KEY)?;
    key_type(public, kt, |k| k == kt)?;
    key_type(private, kt, |k| k == kt)?;
    let mut pubk = rules::build(CKO_PUBLIC_KEY, Some(kt), public, Ctx::Generate)?;
    let mut privk = rules::build(CKO_PRIVATE_KEY, Some(kt), private, Ctx::Generate)?;
    match kt {
        CKK_RSA => {
            rules::require(&pubk, &[CKA_MODULUS_BITS])?;
            let bits = pubk.get_ulong(CKA_MODULUS_BITS).unwrap_or(0) as usize;
            if bits < RSA_BITS.0 || bits > RSA_BITS.1 || !bits.is_multiple_of(128) {
                return Err(Error::rv(CKR_KEY_SIZE_RANGE, "RSA modulus size"));
            }
            let e = pubk.get(CKA_PUBLIC_EXPONENT).unwrap_or(&[1, 0, 1]).to_vec();
            let odd = e.last().is_some_and(|b| b & 1 == 1);
            if !odd || bit_len(&e) < 2 || bit_len(&e) > 32 {
                return Err(Error::rv(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "CKA_PUBLIC_EXPONENT",
                ));
            }
            let key = Rsa::generate(bits, &e)
                .map_err(lc_fail(CKR_KEY_SIZE_RANGE, "RSA key generation"))?;
            let parts = key.parts();
            set_rsa_public(&mut pubk, &parts);
            set_rsa_private(&mut privk, &parts);
        }
        _ => {
            let params = pair_params(public, private)?;
            let kind = ec_params::parse_params(&params)?;
            match (kind, kt) {
                (EcKind::Nist(c), CKK_EC) => {
                    let key = EcKey::generate(c)
                        .map_err(lc_fail(CKR_FUNCTION_FAILED, "EC key generation"))?;
                    set_ec(&mut pubk, &mut privk, &key, &params)?;
                }
                (EcKind::Ed25519, CKK_EC_EDWARDS) => {
                    let (seed, point) =
                        lc::ed25519_generate().map_err(lc_fail(CKR_FUNCTION_FAILED, "random"))?;
                    pubk.set(CKA_EC_PARAMS, params.clone());
                    pubk.set(CKA_EC_POINT, ec_params::octet_string(&point));
                    privk.set(CKA_EC_PARAMS, params);
                    privk.set(CKA_VALUE, seed.to_vec());
                }
                _ => {
                    return Err(Error::rv(
                        CKR_TEMPLATE_INCONSISTENT,
                        "CKA_EC_PARAMS do not fit the mechanism",
                    ))
                }
            }
        }
    }
    rules::finish_key(&mut pubk, Origin::Generated(m.ty));
    rules::finish_key(&mut privk, Origin::Generated(m.ty));
    Ok((pubk, privk))
}

fn set_ec(pubk: &mut SoftObject, privk: &mut SoftObject, key: &EcKey, params: &[u8]) -> Result<()> {
    let point = key
        .point_bytes()
        .map_err(lc_fail(CKR_FUNCTION_FAILED, "EC point"))?;
    let scalar = key
        .scalar()
        .map_err(lc_fail(CKR_FUNCTION_FAILED, "EC scalar"))?;
    pubk.set(CKA_EC_PARAMS, params.to_vec());
    pubk.set(CKA_EC_POINT, ec_params::octet_string(&point));
    privk.set(CKA_EC_PARAMS, params.to_vec());
    privk.set(CKA_VALUE, scalar.to_vec());
    Ok(())
}

/// Set a private key object's material from a parsed PKCS#8 key.
pub fn set_private_from(obj: &mut SoftObject, key: &lc::Pkcs8Key) -> Result<()> {
    let fail = lc_fail(CKR_WRAPPED_KEY_INVALID, "private key");
    match key {
        lc::Pkcs8Key::Rsa(r) => set_rsa_private(obj, &r.parts()),
        lc::Pkcs8Key::Ec(k) => {
            obj.set(CKA_EC_PARAMS, ec_params::params_der(k.curve()).to_vec());
            obj.set(CKA_VALUE, k.scalar().map_err(fail)?.to_vec());
        }
        lc::Pkcs8Key::Ed25519(seed) => {
            obj.set(CKA_EC_PARAMS, ec_params::ED25519_OID.to_vec());
            obj.set(CKA_VALUE, seed.to_vec());
        }
    }
    Ok(())
}
