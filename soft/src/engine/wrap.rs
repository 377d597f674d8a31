//! C_WrapKey / C_UnwrapKey: AES key wrap (RFC 3394, `CKM_AES_KEY_WRAP`) and with
//! padding (RFC 5649, `CKM_AES_KEY_WRAP_PAD` and `CKM_AES_KEY_WRAP_KWP`, correct for
//! every length), RSA PKCS#1 v1.5 / OAEP, and, for unwrapping only,
//! `CKM_RSA_AES_KEY_WRAP` (OAEP of an ephemeral AES key, then RFC 5649 under it).
//! Secret keys wrap as their CKA_VALUE, private keys as PKCS#8 PrivateKeyInfo. Every
//! integrity or padding failure on unwrap answers CKR_WRAPPED_KEY_INVALID, after the
//! whole check.

use super::keygen::{check_secret_len, set_private_from};
use super::lc::{self, AesKey};
use super::object::SoftObject;
use super::op::put;
use super::prepared::{prepare, Prepared};
use super::rsa::RsaEnc;
use super::rules::{self, Ctx, Origin};
use cryptoki_sys::*;
use kmsbridge_bridge::attr::Attr;
use kmsbridge_bridge::backend::Output;
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::{MechParam, Mechanism};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// RFC 3394 default IV.
const KW_IV: [u8; 8] = [0xa6; 8];
/// RFC 5649 alternative IV prefix.
const KWP_AIV: [u8; 4] = [0xa6, 0x59, 0x59, 0xa6];

fn bad_blob() -> Error {
    Error::rv(CKR_WRAPPED_KEY_INVALID, "wrapped key integrity check")
}

/// RFC 3394 W: `iv` and the 64-bit blocks of `data` (at least two).
fn w(k: &AesKey, iv: [u8; 8], data: &[u8]) -> Vec<u8> {
    let n = data.len() / 8;
    let mut a = iv;
    let mut r = Zeroizing::new(data.to_vec());
    let mut b = Zeroizing::new([0u8; 16]);
    for j in 0..6u64 {
        for (i, ri) in r.chunks_exact_mut(8).enumerate() {
            let (hi, lo) = b.split_at_mut(8);
            hi.copy_from_slice(&a);
            lo.copy_from_slice(ri);
            k.encrypt_block(&mut b);
            let t = (n as u64) * j + (i as u64 + 1);
            let (hi, lo) = b.split_at(8);
            for (x, y) in a.iter_mut().zip(hi.iter().zip(t.to_be_bytes())) {
                *x = y.0 ^ y.1;
            }
            ri.copy_from_slice(lo);
        }
    }
    let mut out = a.to_vec();
    out.extend_from_slice(&r);
    out
}

/// RFC 3394 W⁻¹: the recovered IV and data.
fn w_inv(k: &AesKey, c: &[u8]) -> Result<([u8; 8], Zeroizing<Vec<u8>>)> {
    // Callers check the length (whole blocks, at least three).
    let (a, rest) = c.split_first_chunk::<8>().ok_or_else(bad_blob)?;
    let n = rest.len() / 8;
    let mut a = *a;
    let mut r = Zeroizing::new(rest.to_vec());
    let mut b = Zeroizing::new([0u8; 16]);
    for j in (0..6u64).rev() {
        for (i, ri) in r.chunks_exact_mut(8).enumerate().rev() {
            let t = (n as u64) * j + (i as u64 + 1);
            let (hi, lo) = b.split_at_mut(8);
            for (x, y) in hi.iter_mut().zip(a.iter().zip(t.to_be_bytes())) {
                *x = y.0 ^ y.1;
            }
            lo.copy_from_slice(ri);
            k.decrypt_block(&mut b);
            let (hi, lo) = b.split_at(8);
            a.copy_from_slice(hi);
            ri.copy_from_slice(lo);
        }
    }
    Ok((a, r))
}

pub fn kw_wrap(k: &AesKey, iv: [u8; 8], data: &[u8]) -> Result<Vec<u8>> {
    if !data.len().is_multiple_of(8) || data.len() < 16 {
        return Err(Error::rv(
            CKR_KEY_SIZE_RANGE,
            "RFC 3394 needs whole 8-byte blocks",
        ));
    }
    Ok(w(k, iv, data))
}

pub fn kw_unwrap(k: &AesKey, iv: [u8; 8], c: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if !c.len().is_multiple_of(8) || c.len() < 24 {
        return Err(Error::rv(CKR_WRAPPED_KEY_LEN_RANGE, "RFC 3394 blob length"));
    }
    let (a, r) = w_inv(k, c)?;
    if bool::from(a.ct_eq(&iv)) {
        Ok(r)
    } else {
        Err(bad_blob())
    }
}

pub fn kwp_len(n: usize) -> usize {
    n.div_ceil(8).max(1) * 8 + 8
}

pub fn kwp_wrap(k: &AesKey, aiv: [u8; 4], data: &[u8]) -> Result<Vec<u8>> {
    if data.is_empty() || data.len() > u32::MAX as usize {
        return Err(Error::rv(CKR_KEY_SIZE_RANGE, "RFC 5649 length"));
    }
    let mut a = [0u8; 8];
    let (hi, lo) = a.split_at_mut(4);
    hi.copy_from_slice(&aiv);
    lo.copy_from_slice(&(data.len() as u32).to_be_bytes());
    let mut p = Zeroizing::new(data.to_vec());
    p.resize(kwp_len(data.len()) - 8, 0);
    if p.len() == 8 {
        let mut b = Zeroizing::new([0u8; 16]);
        let (hi, lo) = b.split_at_mut(8);
        hi.copy_from_slice(&a);
        lo.copy_from_slice(&p);
        k.encrypt_block(&mut b);
        return Ok(b.to_vec());
    }
    Ok(w(k, a, &p))
}

pub fn kwp_unwrap(k: &AesKey, aiv: [u8; 4], c: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if !c.len().is_multiple_of(8) || c.len() < 16 {
        return Err(Error::rv(CKR_WRAPPED_KEY_LEN_RANGE, "RFC 5649 blob length"));
    }
    let (a, p) = if c.len() == 16 {
        let mut b = Zeroizing::new([0u8; 16]);
        b.copy_from_slice(c);
        k.decrypt_block(&mut b);
        let (hi, lo) = b.split_at(8);
        let a: [u8; 8] = hi.try_into().unwrap_or([0; 8]);
        (a, Zeroizing::new(lo.to_vec()))
    } else {
        w_inv(k, c)?
    };
    let (given_aiv, mli) = a.split_at(4);
    let mli = u32::from_be_bytes(mli.try_into().unwrap_or([0; 4])) as usize;
    // Every check is evaluated before the one outcome.
    let mut good = given_aiv.ct_eq(&aiv);
    let len_ok = mli > p.len().saturating_sub(8) && mli <= p.len();
    good &= subtle::Choice::from(len_ok as u8);
    let m = mli.min(p.len());
    let mut pad = 0u8;
    for b in p.iter().skip(m) {
        pad |= b;
    }
    good &= pad.ct_eq(&0);
    if bool::from(good) {
        let mut out = p;
        out.truncate(m);
        Ok(out)
    } else {
        Err(bad_blob())
    }
}

/// Which wrapping scheme, with its key checks.
enum Scheme {
    Kw([u8; 8]),
    Kwp([u8; 4]),
    Rsa,
    RsaAes,
}

fn scheme(m: &Mechanism) -> Result<Scheme> {
    let flat = |n: usize| -> Result<Option<Vec<u8>>> {
        match &m.param {
            MechParam::None => Ok(None),
            MechParam::Flat(b) if b.len() == n => Ok(Some(b.to_vec())),
            _ => Err(Error::rv(CKR_MECHANISM_PARAM_INVALID, "key wrap IV")),
        }
    };
    Ok(match m.ty {
        CKM_AES_KEY_WRAP => Scheme::Kw(match flat(8)? {
            Some(v) => v.try_into().unwrap_or(KW_IV),
            None => KW_IV,
        }),
        CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP => Scheme::Kwp(match flat(4)? {
            Some(v) => v.try_into().unwrap_or(KWP_AIV),
            None => KWP_AIV,
        }),
        CKM_RSA_PKCS | CKM_RSA_PKCS_OAEP => Scheme::Rsa,
        CKM_RSA_AES_KEY_WRAP => Scheme::RsaAes,
        _ => {
            return Err(Error::rv(
                CKR_MECHANISM_INVALID,
                "not a key wrapping mechanism",
            ))
        }
    })
}

/// Check the (un)wrapping key's type against the scheme; `wrap` picks the codes.
fn check_kek(s: &Scheme, kek: &SoftObject, wrap: bool) -> Result<()> {
    let (class, kt) = (kek.class(), kek.key_type());
    let fits = match s {
        Scheme::Kw(_) | Scheme::Kwp(_) => class == CKO_SECRET_KEY && kt == Some(CKK_AES),
        Scheme::Rsa | Scheme::RsaAes => {
            kt == Some(CKK_RSA)
                && class
                    == if wrap {
                        CKO_PUBLIC_KEY
                    } else {
                        CKO_PRIVATE_KEY
                    }
        }
    };
    if !fits {
        let rv = if wrap {
            CKR_WRAPPING_KEY_TYPE_INCONSISTENT
        } else {
            CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT
        };
        return Err(Error::rv(rv, "key does not fit the wrapping mechanism"));
    }
    let usage = if wrap { CKA_WRAP } else { CKA_UNWRAP };
    if !kek.flag(usage) {
        return Err(Error::rv(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "wrapping key without CKA_WRAP/CKA_UNWRAP",
        ));
    }
    Ok(())
}

/// The bytes a key wraps as: a secret key's value, a private key's PKCS#8.
fn material(key: &SoftObject) -> Result<Zeroizing<Vec<u8>>> {
    match key.class() {
        CKO_SECRET_KEY => key
            .get(CKA_VALUE)
            .map(|v| Zeroizing::new(v.to_vec()))
            .ok_or(Error::rv(
                CKR_KEY_NOT_WRAPPABLE,
                "secret key without a value",
            )),
        CKO_PRIVATE_KEY => {
            let p = prepare(key)?;
            let fail = |_| Error::rv(CKR_KEY_NOT_WRAPPABLE, "PKCS#8 encoding");
            match &p.material {
                super::prepared::Material::Rsa(r) => r.to_pkcs8().map_err(fail),
                super::prepared::Material::Ec(k) => k.to_pkcs8().map_err(fail),
                super::prepared::Material::Ed { .. } => {
                    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
                        key.get(CKA_VALUE)
                            .and_then(|v| v.try_into().ok())
                            .ok_or(Error::rv(CKR_KEY_NOT_WRAPPABLE, "Ed25519 key"))?,
                    );
                    lc::ed25519_pkcs8(&seed).map_err(fail)
                }
                _ => Err(Error::rv(CKR_KEY_NOT_WRAPPABLE, "key type")),
            }
        }
        _ => Err(Error::rv(
            CKR_KEY_NOT_WRAPPABLE,
            "only secret and private keys wrap",
        )),
    }
}

fn check_mech_allowed(kek: &Prepared, m: &Mechanism) -> Result<()> {
    kek.check_allowed(m.ty)
}

/// C_WrapKey. With `out == None` answers the length only; a short buffer answers
/// CKR_BUFFER_TOO_SMALL with the length.
pub fn wrap(m: &Mechanism, wrapping: &SoftObject, key: &SoftObject, out: Output) -> Result<usize> {
    let s = scheme(m)?;
    if matches!(s, Scheme::RsaAes) {
        return Err(Error::rv(
            CKR_MECHANISM_INVALID,
            "CKM_RSA_AES_KEY_WRAP is offered for unwrapping only",
        ));
    }
    check_kek(&s, wrapping, true)?;
    let kek = prepare(wrapping)?;
    check_mech_allowed(&kek, m)?;
    if !key.get_bool(CKA_EXTRACTABLE).unwrap_or(true) {
        return Err(Error::rv(CKR_KEY_UNEXTRACTABLE, "key is not extractable"));
    }
    if key.flag(CKA_WRAP_WITH_TRUSTED) && !wrapping.flag(CKA_TRUSTED) {
        return Err(Error::rv(
            CKR_KEY_NOT_WRAPPABLE,
            "key needs a trusted wrapping key",
        ));
    }
    let data = material(key)?;
    let len = match &s {
        Scheme::Kw(_) if !data.len().is_multiple_of(8) || data.len() < 16 => {
            return Err(Error::rv(
                CKR_KEY_SIZE_RANGE,
                "RFC 3394 needs whole 8-byte blocks",
            ))
        }
        Scheme::Kw(_) => data.len() + 8,
        Scheme::Kwp(_) => kwp_len(data.len()),
        Scheme::RsaAes => return Err(Error::rv(CKR_MECHANISM_INVALID, "unwrap only")),
        Scheme::Rsa => {
            let e = RsaEnc::new(&kek, m, true)?;
            if data.len() > e.max_msg() {
                return Err(Error::rv(
                    CKR_KEY_SIZE_RANGE,
                    "key too long for the modulus",
                ));
            }
            e.k()
        }
    };
    let Some(out) = out else {
        return Ok(len);
    };
    if out.len() < len {
        return Err(Error::BufferTooSmall(len));
    }
    let blob = match &s {
        Scheme::Kw(iv) => kw_wrap(kek.aes()?, *iv, &data)?,
        Scheme::Kwp(aiv) => kwp_wrap(kek.aes()?, *aiv, &data)?,
        Scheme::Rsa => {
            let n = RsaEnc::new(&kek, m, true)?.encrypt(&kek, &data, out)?;
            return Ok(n);
        }
        Scheme::RsaAes => return Err(Error::rv(CKR_MECHANISM_INVALID, "unwrap only")),
    };
    put(out, &blob)
}

/// The target material of a CKM_RSA_AES_KEY_WRAP blob: OAEP(ephemeral AES key),
/// one modulus long, then the RFC 5649 wrap of the material under that key.
fn rsa_aes_unwrap(kek: &Prepared, m: &Mechanism, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (aes_len, oaep) = m.rsa_aes_parts()?;
    let e = RsaEnc::new(kek, &oaep, true)?;
    let k = e.k();
    // RFC 5649 output is whole 8-byte blocks, at least two.
    if wrapped.len() < k + 16 || !(wrapped.len() - k).is_multiple_of(8) {
        return Err(Error::rv(CKR_WRAPPED_KEY_LEN_RANGE, "RSA-AES blob length"));
    }
    let (eph_blob, target_blob) = wrapped.split_at(k);
    let eph = e.decrypt(
        kek,
        eph_blob,
        CKR_WRAPPED_KEY_INVALID,
        CKR_WRAPPED_KEY_LEN_RANGE,
    )?;
    if eph.len() != aes_len {
        return Err(bad_blob());
    }
    let aes = AesKey::new(&eph).map_err(|_| bad_blob())?;
    kwp_unwrap(&aes, KWP_AIV, target_blob)
}

/// C_UnwrapKey: the new key object (CKA_LOCAL false).
pub fn unwrap(
    m: &Mechanism,
    unwrapping: &SoftObject,
    wrapped: &[u8],
    template: &[Attr],
) -> Result<SoftObject> {
    let s = scheme(m)?;
    check_kek(&s, unwrapping, false)?;
    let kek = prepare(unwrapping)?;
    check_mech_allowed(&kek, m)?;
    rules::check_duplicates(template)?;
    let class = rules::ulong(template, CKA_CLASS)?
        .ok_or(Error::rv(CKR_TEMPLATE_INCOMPLETE, "CKA_CLASS"))?;
    let data = match &s {
        Scheme::Kw(iv) => kw_unwrap(kek.aes()?, *iv, wrapped)?,
        Scheme::Kwp(aiv) => kwp_unwrap(kek.aes()?, *aiv, wrapped)?,
        Scheme::Rsa => RsaEnc::new(&kek, m, true)?.decrypt(
            &kek,
            wrapped,
            CKR_WRAPPED_KEY_INVALID,
            CKR_WRAPPED_KEY_LEN_RANGE,
        )?,
        Scheme::RsaAes => rsa_aes_unwrap(&kek, m, wrapped)?,
    };
    let mut obj = match class {
        CKO_SECRET_KEY => {
            let kt = rules::ulong(template, CKA_KEY_TYPE)?
                .ok_or(Error::rv(CKR_TEMPLATE_INCOMPLETE, "CKA_KEY_TYPE"))?;
            if !rules::secret_key_type_known(kt) {
                return Err(Error::rv(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "key type not offered",
                ));
            }
            let mut obj = rules::build(class, Some(kt), template, Ctx::Unwrap)?;
            let mut value = data;
            match obj.get_ulong(CKA_VALUE_LEN) {
                Some(l) if l as usize > value.len() => {
                    return Err(Error::rv(CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN"))
                }
                Some(l) => value.truncate(l as usize),
                None => {}
            }
            check_secret_len(kt, value.len())
                .map_err(|_| Error::rv(CKR_WRAPPED_KEY_INVALID, "key length for the key type"))?;
            obj.set_ulong(CKA_VALUE_LEN, value.len() as CK_ULONG);
            obj.set(CKA_VALUE, value.to_vec());
            obj
        }
        CKO_PRIVATE_KEY => {
            let key = lc::parse_pkcs8(&data).map_err(|_| bad_blob())?;
            let kt = match key {
                lc::Pkcs8Key::Rsa(_) => CKK_RSA,
                lc::Pkcs8Key::Ec(_) => CKK_EC,
                lc::Pkcs8Key::Ed25519(_) => CKK_EC_EDWARDS,
            };
            if rules::ulong(template, CKA_KEY_TYPE)?.is_some_and(|t| t != kt) {
                return Err(Error::rv(
                    CKR_TEMPLATE_INCONSISTENT,
                    "CKA_KEY_TYPE differs from the key",
                ));
            }
            let given =
                kmsbridge_bridge::attr::find(template, CKA_EC_PARAMS).map(|a| a.value.to_vec());
            let mut obj = rules::build(class, Some(kt), template, Ctx::Unwrap)?;
            set_private_from(&mut obj, &key)?;
            if let Some(g) = given {
                let same = obj.get(CKA_EC_PARAMS) == Some(&g[..])
                    || (kt == CKK_EC_EDWARDS
                        && super::ec_params::parse_params(&g)
                            .is_ok_and(|k| k == super::ec_params::EcKind::Ed25519));
                if !same {
                    return Err(Error::rv(
                        CKR_TEMPLATE_INCONSISTENT,
                        "CKA_EC_PARAMS differ from the key",
                    ));
                }
                obj.set(CKA_EC_PARAMS, g);
            }
            obj
        }
        _ => {
            return Err(Error::rv(
                CKR_TEMPLATE_INCONSISTENT,
                "only secret and private keys unwrap",
            ))
        }
    };
    rules::finish_key(&mut obj, Origin::Unwrapped);
    Ok(obj)
}
