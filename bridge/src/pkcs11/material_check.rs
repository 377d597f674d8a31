//! `Backend::material_check` on a node: the check value of
//! [`crate::material_check`], computed without the key leaving the backend.
//!
//! - Secret keys: the inner hash of the HMAC runs in the backend, over the salt's
//!   key block, the canonical prefix and the key's value (`C_DigestInit` SHA-256,
//!   `C_DigestUpdate`, `C_DigestKey`, `C_DigestFinal`); only its digest comes out.
//!   SoftHSM2 2.6 digests sensitive, non-extractable keys this way.
//! - RSA private keys: CKA_MODULUS and CKA_PUBLIC_EXPONENT, which are public.
//! - EC private keys on a NIST curve: a private EC key object carries no public
//!   point in PKCS#11, so the key signs two fixed digests with raw ECDSA in the
//!   backend and the point is recovered from the signatures (public values only,
//!   discarded after). Needs CKA_SIGN; without it CKR_FUNCTION_NOT_SUPPORTED.
//! - Other keys: CKR_FUNCTION_NOT_SUPPORTED.

use super::calls;
use super::pool::Pool;
use crate::backend::ObjectId;
use crate::ec::public_point_from_signatures;
use crate::error::{Error, Result};
use crate::material_check::{self as mc, Pads};
use crate::Mechanism;
use cryptoki_sys::*;
use sha2::{Digest, Sha256};

fn not_supported(what: &'static str) -> Error {
    Error::rv(CKR_FUNCTION_NOT_SUPPORTED, what)
}

pub fn material_check(pool: &Pool, obj: ObjectId, salt: &[u8]) -> Result<[u8; 32]> {
    let pads = Pads::new(salt)?;
    let s = pool.lend()?;
    let class = calls::attr_ulong(&s, obj, CKA_CLASS)?;
    let kt = calls::attr_ulong(&s, obj, CKA_KEY_TYPE)?;
    match (class, kt) {
        (Some(CKO_SECRET_KEY), Some(kt)) => {
            let mut inner = [0u8; 32];
            let prefix = mc::secret_prefix(kt);
            let sha256 = Mechanism::simple(CKM_SHA256);
            let n = calls::digest_with_key(&s, &sha256, &[pads.inner(), &prefix], obj, &mut inner)?;
            if n != inner.len() {
                return Err(Error::rv(CKR_GENERAL_ERROR, "SHA-256 digest length"));
            }
            Ok(pads.finish(&inner))
        }
        (Some(CKO_PRIVATE_KEY), Some(CKK_RSA)) => {
            let n = calls::attr(&s, obj, CKA_MODULUS)?;
            let e = calls::attr(&s, obj, CKA_PUBLIC_EXPONENT)?;
            match (n, e) {
                (Some(n), Some(e)) => Ok(pads.hmac(&[&mc::rsa(&n, &e)])),
                _ => Err(not_supported("RSA key without its public components")),
            }
        }
        (Some(CKO_PRIVATE_KEY), Some(CKK_EC)) => {
            let params = calls::attr(&s, obj, CKA_EC_PARAMS)?
                .ok_or(not_supported("EC key without CKA_EC_PARAMS"))?;
            let [d1, d2] = &[
                Sha256::digest(b"kmsbridge.mc1.ec-recovery.1"),
                Sha256::digest(b"kmsbridge.mc1.ec-recovery.2"),
            ];
            // Wide enough for P-521's r ‖ s.
            let (mut buf1, mut buf2) = ([0u8; 132], [0u8; 132]);
            let sig1 = ec_sign(&s, obj, d1, &mut buf1)?;
            let sig2 = ec_sign(&s, obj, d2, &mut buf2)?;
            let (oid, point) = public_point_from_signatures(
                &params,
                [(d1.as_slice(), sig1), (d2.as_slice(), sig2)],
            )?;
            Ok(pads.hmac(&[&mc::ec(oid, &point)]))
        }
        (Some(CKO_SECRET_KEY | CKO_PRIVATE_KEY | CKO_PUBLIC_KEY), _) => Err(not_supported(
            "no backend route to a check value of this key type",
        )),
        _ => Err(Error::rv(CKR_KEY_HANDLE_INVALID, "not a key")),
    }
}

/// Raw ECDSA of `digest` by the EC key `obj`, into `buf`: the signature.
fn ec_sign<'b>(
    s: &super::pool::Lease<&Pool>,
    obj: ObjectId,
    digest: &[u8],
    buf: &'b mut [u8],
) -> Result<&'b [u8]> {
    let ecdsa = Mechanism::simple(CKM_ECDSA);
    let n = calls::sign(s, &ecdsa, obj, digest, buf).map_err(|e| match e.ck_rv() {
        CKR_KEY_FUNCTION_NOT_PERMITTED => not_supported("an EC check value needs CKA_SIGN"),
        _ => e,
    })?;
    buf.get(..n)
        .ok_or(Error::rv(CKR_GENERAL_ERROR, "ECDSA signature length"))
}
