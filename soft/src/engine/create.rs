//! C_CreateObject: data objects, X.509 certificates and keys by value, with their
//! material checked (an RSA key must be consistent, an EC point on its curve, an AES
//! key 16, 24 or 32 bytes) and the attributes the token computes filled in.

use super::ec_params::{self, EcKind};
use super::keygen::{bit_len, check_secret_len};
use super::lc::{EcKey, Rsa};
use super::object::SoftObject;
use super::prepared::rsa_parts;
use super::rules::{self, Ctx, Origin};
use cryptoki_sys::*;
use kmsbridge_bridge::attr::Attr;
use kmsbridge_bridge::error::{Error, Result};

fn invalid(what: &'static str) -> Error {
    Error::rv(CKR_ATTRIBUTE_VALUE_INVALID, what)
}

pub fn create(template: &[Attr]) -> Result<SoftObject> {
    rules::check_duplicates(template)?;
    let class = rules::ulong(template, CKA_CLASS)?
        .ok_or(Error::rv(CKR_TEMPLATE_INCOMPLETE, "CKA_CLASS"))?;
    match class {
        CKO_DATA => rules::build(class, None, template, Ctx::Create),
        CKO_CERTIFICATE => {
            let ct = rules::ulong(template, CKA_CERTIFICATE_TYPE)?
                .ok_or(Error::rv(CKR_TEMPLATE_INCOMPLETE, "CKA_CERTIFICATE_TYPE"))?;
            if ct != CKC_X_509 {
                return Err(invalid("only X.509 certificates"));
            }
            let obj = rules::build(class, None, template, Ctx::Create)?;
            rules::require(&obj, &[CKA_CERTIFICATE_TYPE, CKA_VALUE])?;
            Ok(obj)
        }
        CKO_SECRET_KEY | CKO_PUBLIC_KEY | CKO_PRIVATE_KEY => {
            let kt = rules::ulong(template, CKA_KEY_TYPE)?
                .ok_or(Error::rv(CKR_TEMPLATE_INCOMPLETE, "CKA_KEY_TYPE"))?;
            let known = match class {
                CKO_SECRET_KEY => rules::secret_key_type_known(kt),
                _ => matches!(kt, CKK_RSA | CKK_EC | CKK_EC_EDWARDS),
            };
            if !known {
                return Err(invalid("key type not offered"));
            }
            let mut obj = rules::build(class, Some(kt), template, Ctx::Create)?;
            key_material(&mut obj, class, kt)?;
            rules::finish_key(&mut obj, Origin::Created);
            Ok(obj)
        }
        _ => Err(invalid("object class not offered")),
    }
}

fn key_material(obj: &mut SoftObject, class: CK_OBJECT_CLASS, kt: CK_KEY_TYPE) -> Result<()> {
    match (class, kt) {
        (CKO_SECRET_KEY, _) => {
            rules::require(obj, &[CKA_VALUE])?;
            let len = obj.get(CKA_VALUE).map_or(0, |v| v.len());
            check_secret_len(kt, len)?;
            match obj.get_ulong(CKA_VALUE_LEN) {
                Some(l) if l as usize != len => {
                    return Err(Error::rv(CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN"))
                }
                _ => obj.set_ulong(CKA_VALUE_LEN, len as CK_ULONG),
            }
        }
        (CKO_PUBLIC_KEY, CKK_RSA) => {
            rules::require(obj, &[CKA_MODULUS, CKA_PUBLIC_EXPONENT])?;
            let p = rsa_parts(obj);
            Rsa::public(&p.n, &p.e).map_err(|_| invalid("RSA public key"))?;
            obj.set_ulong(CKA_MODULUS_BITS, bit_len(&p.n) as CK_ULONG);
        }
        (CKO_PRIVATE_KEY, CKK_RSA) => {
            // CKA_PUBLIC_EXPONENT is required here (the spec leaves it optional):
            // blinding and the consistency check need it.
            rules::require(
                obj,
                &[CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT],
            )?;
            Rsa::private(&rsa_parts(obj)).map_err(|_| invalid("RSA private key"))?;
        }
        (_, CKK_EC | CKK_EC_EDWARDS) => {
            let want = if class == CKO_PUBLIC_KEY {
                CKA_EC_POINT
            } else {
                CKA_VALUE
            };
            rules::require(obj, &[CKA_EC_PARAMS, want])?;
            let params = obj.get(CKA_EC_PARAMS).unwrap_or_default();
            let v = obj.get(want).unwrap_or_default().to_vec();
            match (ec_params::parse_params(params)?, kt, class) {
                (EcKind::Nist(c), CKK_EC, CKO_PUBLIC_KEY) => {
                    let point = ec_params::point_from_attr(&v, c).ok_or(invalid("CKA_EC_POINT"))?;
                    EcKey::public(c, point).map_err(|_| invalid("CKA_EC_POINT"))?;
                    let der = ec_params::octet_string(point);
                    obj.set(CKA_EC_POINT, der);
                }
                (EcKind::Nist(c), CKK_EC, _) => {
                    if v.len() > c.len() {
                        return Err(invalid("EC private value"));
                    }
                    EcKey::private(c, &v).map_err(|_| invalid("EC private value"))?;
                }
                (EcKind::Ed25519, CKK_EC_EDWARDS, CKO_PUBLIC_KEY) => {
                    let point = ec_params::ed_point_from_attr(&v).ok_or(invalid("CKA_EC_POINT"))?;
                    obj.set(CKA_EC_POINT, ec_params::octet_string(&point));
                }
                (EcKind::Ed25519, CKK_EC_EDWARDS, _) => {
                    if v.len() != 32 {
                        return Err(invalid("Ed25519 private value"));
                    }
                }
                _ => {
                    return Err(Error::rv(
                        CKR_TEMPLATE_INCONSISTENT,
                        "CKA_EC_PARAMS do not fit the key type",
                    ))
                }
            }
        }
        _ => return Err(invalid("key type not offered")),
    }
    Ok(())
}
