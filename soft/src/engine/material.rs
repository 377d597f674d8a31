//! `Backend::material_check` of an engine object: HMAC-SHA256 keyed by the salt over
//! the canonical form of [`kmsbridge_bridge::material_check`], so a key checks the same here
//! as on a node.

use super::ec_params;
use super::object::SoftObject;
use super::prepared::prepare;
use cryptoki_sys::*;
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::material_check::{self as mc, Pads};

fn not_supported(what: &'static str) -> Error {
    Error::rv(CKR_FUNCTION_NOT_SUPPORTED, what)
}

/// The check value of a secret key, or of an RSA, EC or Ed25519 private key.
pub fn material_check(obj: &SoftObject, salt: &[u8]) -> Result<[u8; 32]> {
    let pads = Pads::new(salt)?;
    let broken = |what| Error::rv(CKR_GENERAL_ERROR, what);
    match (obj.class(), obj.key_type()) {
        (CKO_SECRET_KEY, Some(kt)) => {
            let value = obj.get(CKA_VALUE).ok_or(broken("key without CKA_VALUE"))?;
            Ok(pads.hmac(&[&mc::secret_prefix(kt), value]))
        }
        (CKO_PRIVATE_KEY, Some(CKK_RSA)) => {
            let n = obj
                .get(CKA_MODULUS)
                .ok_or(broken("RSA key without modulus"))?;
            let e = obj
                .get(CKA_PUBLIC_EXPONENT)
                .ok_or(broken("RSA key without public exponent"))?;
            Ok(pads.hmac(&[&mc::rsa(n, e)]))
        }
        (CKO_PRIVATE_KEY, Some(CKK_EC)) => {
            let p = prepare(obj)?;
            let k = p.ec()?;
            let point = k.point_bytes().map_err(|_| broken("EC public point"))?;
            Ok(pads.hmac(&[&mc::ec(ec_params::params_der(k.curve()), &point)]))
        }
        (CKO_PRIVATE_KEY, Some(CKK_EC_EDWARDS)) => {
            let p = prepare(obj)?;
            let (_, public) = p.ed()?;
            Ok(pads.hmac(&[&mc::ed25519(public)]))
        }
        (CKO_SECRET_KEY | CKO_PRIVATE_KEY | CKO_PUBLIC_KEY, _) => {
            Err(not_supported("no check value for this key type"))
        }
        _ => Err(Error::rv(CKR_KEY_HANDLE_INVALID, "not a key")),
    }
}
