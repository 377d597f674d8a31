//! What CKA_EC_PARAMS and CKA_EC_POINT hold: the curves (NIST and Ed25519) and the
//! DER encodings of a public point.

use super::lc::Curve;
use kmsbridge_bridge::ec;
use kmsbridge_bridge::error::Result;

pub use kmsbridge_bridge::ec::{ED25519_OID, P256_OID, P384_OID, P521_OID};

/// What CKA_EC_PARAMS names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcKind {
    Nist(Curve),
    Ed25519,
}

/// CKA_EC_PARAMS → curve. A well-formed OID of another curve is
/// CKR_CURVE_NOT_SUPPORTED; anything else CKR_ATTRIBUTE_VALUE_INVALID.
pub fn parse_params(p: &[u8]) -> Result<EcKind> {
    Ok(match ec::Curve::from_params(p)? {
        ec::Curve::P256 => EcKind::Nist(Curve::P256),
        ec::Curve::P384 => EcKind::Nist(Curve::P384),
        ec::Curve::P521 => EcKind::Nist(Curve::P521),
        ec::Curve::Ed25519 => EcKind::Ed25519,
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
        Some(p) if p.len() == want && p.first() == Some(&0x04) => Some(p),
        _ if v.len() == want && v.first() == Some(&0x04) => Some(v),
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
