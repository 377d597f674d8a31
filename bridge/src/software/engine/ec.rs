//! EC on the NIST curves: CKA_EC_PARAMS and CKA_EC_POINT encodings, ECDSA (raw and
//! hashed) and the ECDH primitive. Signatures are r || s, each as wide as the order.

use super::digest::{Hash, Hasher};
use super::lc::{self, Curve, EcKey};
use super::op::{sig_check, Collect, Mac};
use super::prepared::Prepared;
use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::sync::Arc;

/// DER OIDs of the curves (CKA_EC_PARAMS).
pub const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const P384_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
pub const P521_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
/// id-Ed25519, 1.3.101.112.
pub const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// PrintableString "edwards25519" (PKCS#11 3.0 allows it for CKK_EC_EDWARDS).
pub const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";

/// What CKA_EC_PARAMS names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcKind {
    Nist(Curve),
    Ed25519,
}

/// CKA_EC_PARAMS → curve. A well-formed OID of another curve is
/// CKR_CURVE_NOT_SUPPORTED; anything else CKR_ATTRIBUTE_VALUE_INVALID.
pub fn parse_params(p: &[u8]) -> Result<EcKind> {
    Ok(match p {
        _ if p == P256_OID => EcKind::Nist(Curve::P256),
        _ if p == P384_OID => EcKind::Nist(Curve::P384),
        _ if p == P521_OID => EcKind::Nist(Curve::P521),
        _ if p == ED25519_OID || p == ED25519_NAME => EcKind::Ed25519,
        [0x06, n, rest @ ..] if *n as usize == rest.len() && !rest.is_empty() => {
            return Err(Error::rv(CKR_CURVE_NOT_SUPPORTED, "curve not offered"))
        }
        _ => {
            return Err(Error::rv(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "CKA_EC_PARAMS is not a curve OID",
            ))
        }
    })
}

pub fn params_der(c: Curve) -> &'static [u8] {
    match c {
        Curve::P256 => P256_OID,
        Curve::P384 => P384_OID,
        Curve::P521 => P521_OID,
    }
}

/// DER OCTET STRING of `v` (CKA_EC_POINT).
pub fn octet_string(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() + 4);
    out.push(0x04);
    match v.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(v);
    out
}

/// The content of a DER OCTET STRING that is all of `v`.
pub fn parse_octet_string(v: &[u8]) -> Option<&[u8]> {
    let (len, rest) = match v {
        [0x04, n, rest @ ..] if *n < 0x80 => (*n as usize, rest),
        [0x04, 0x81, n, rest @ ..] if *n >= 0x80 => (*n as usize, rest),
        [0x04, 0x82, a, b, rest @ ..] => ((*a as usize) << 8 | *b as usize, rest),
        _ => return None,
    };
    (rest.len() == len).then_some(rest)
}

/// The uncompressed point in a CKA_EC_POINT (DER OCTET STRING, or the bare point
/// some applications give).
pub fn point_from_attr(v: &[u8], c: Curve) -> Option<&[u8]> {
    let want = 1 + 2 * c.len();
    match parse_octet_string(v) {
        Some(p) if p.len() == want && p[0] == 0x04 => Some(p),
        _ if v.len() == want && v[0] == 0x04 => Some(v),
        _ => None,
    }
}

/// The 32-byte public key in an Ed25519 CKA_EC_POINT (DER OCTET STRING or bare).
pub fn ed_point_from_attr(v: &[u8]) -> Option<[u8; 32]> {
    match parse_octet_string(v) {
        Some(p) if p.len() == 32 => p.try_into().ok(),
        _ => v.try_into().ok(),
    }
}

/// The hash of a hashed ECDSA mechanism (None for raw CKM_ECDSA).
pub fn ecdsa_hash(m: CK_MECHANISM_TYPE) -> Option<Option<Hash>> {
    Some(match m {
        CKM_ECDSA => None,
        CKM_ECDSA_SHA1 => Some(Hash::Sha1),
        CKM_ECDSA_SHA224 => Some(Hash::Sha224),
        CKM_ECDSA_SHA256 => Some(Hash::Sha256),
        CKM_ECDSA_SHA384 => Some(Hash::Sha384),
        CKM_ECDSA_SHA512 => Some(Hash::Sha512),
        _ => return None,
    })
}

/// ECDSA sign or verify. Raw CKM_ECDSA takes the hash (single-part); the hashed
/// mechanisms hash here, single- or multi-part.
pub struct EcdsaOp {
    key: Arc<Prepared>,
    hasher: Option<Hasher>,
    data: Collect,
    len: usize,
}

impl EcdsaOp {
    pub fn new(key: Arc<Prepared>, hash: Option<Hash>) -> Result<EcdsaOp> {
        let len = 2 * key.ec()?.curve().len();
        Ok(EcdsaOp {
            key,
            hasher: hash.map(|h| h.hasher()),
            data: Collect::default(),
            len,
        })
    }

    fn digest(&mut self) -> zeroize::Zeroizing<Vec<u8>> {
        match self.hasher.as_mut() {
            Some(h) => zeroize::Zeroizing::new(h.finish().as_ref().to_vec()),
            None => self.data.take(),
        }
    }
}

impl Mac for EcdsaOp {
    fn len(&self) -> usize {
        self.len
    }
    fn multipart(&self) -> bool {
        self.hasher.is_some()
    }
    fn absorb(&mut self, data: &[u8]) -> Result<()> {
        match self.hasher.as_mut() {
            Some(h) => h.update(data),
            None => self.data.push(data),
        }
        Ok(())
    }
    fn sign(&mut self, out: &mut [u8]) -> Result<usize> {
        let d = self.digest();
        self.key
            .ec()?
            .sign(&d, out)
            .map_err(|_| Error::rv(CKR_FUNCTION_FAILED, "ECDSA sign"))
    }
    fn verify(&mut self, sig: &[u8]) -> Result<()> {
        let d = self.digest();
        if sig.len() != self.len {
            return Err(Error::rv(CKR_SIGNATURE_LEN_RANGE, "ECDSA signature length"));
        }
        sig_check(self.key.ec()?.verify(&d, sig))
    }
}

/// The curve's OID and the uncompressed public point of the EC key that made two
/// ECDSA signatures (r ‖ s) over two different digests: for a device whose private
/// EC key object carries no public point (PKCS#11 defines none). Each signature
/// leaves two candidates; the second signature picks the key's.
pub fn public_point_from_signatures(
    params: &[u8],
    signed: [(&[u8], &[u8]); 2],
) -> Result<(&'static [u8], Vec<u8>)> {
    let EcKind::Nist(c) = parse_params(params)? else {
        return Err(Error::rv(CKR_KEY_TYPE_INCONSISTENT, "not a NIST curve"));
    };
    let unrecoverable = |_| Error::rv(CKR_GENERAL_ERROR, "ECDSA public key recovery");
    let [(d1, s1), (d2, s2)] = signed;
    let mut matching = lc::ecdsa_recover(c, d1, s1)
        .map_err(unrecoverable)?
        .into_iter()
        .filter(|p| EcKey::public(c, p).is_ok_and(|k| k.verify(d2, s2)));
    match (matching.next(), matching.next()) {
        (Some(p), None) => Ok((params_der(c), p)),
        _ => Err(Error::rv(
            CKR_GENERAL_ERROR,
            "the signatures name no single EC public key",
        )),
    }
}
