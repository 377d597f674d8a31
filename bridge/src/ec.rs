//! EC helpers both backends need: the curve identifiers of CKA_EC_PARAMS, and the
//! recovery of an ECDSA public key from signatures (for a node's check value, where a
//! private EC key object carries no public point). Public values only.

use cryptoki_sys::*;
use ecdsa::signature::hazmat::PrehashVerifier;
use ecdsa::EcdsaCurve;
use p256::elliptic_curve::point::DecompressPoint;
use p256::elliptic_curve::sec1::{FromSec1Point, ModulusSize, ToSec1Point};
use p256::elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize};

use crate::error::{Error, Result};

/// DER OIDs of the NIST curves (CKA_EC_PARAMS).
pub const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const P384_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
pub const P521_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
/// id-Ed25519, 1.3.101.112.
pub const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// PrintableString "edwards25519" (PKCS#11 3.0 allows it for CKK_EC_EDWARDS).
pub const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";

/// What CKA_EC_PARAMS names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
    Ed25519,
}

impl Curve {
    /// CKA_EC_PARAMS → curve. A well-formed OID of another curve is
    /// CKR_CURVE_NOT_SUPPORTED; anything else CKR_ATTRIBUTE_VALUE_INVALID.
    pub fn from_params(p: &[u8]) -> Result<Curve> {
        Ok(match p {
            _ if p == P256_OID => Curve::P256,
            _ if p == P384_OID => Curve::P384,
            _ if p == P521_OID => Curve::P521,
            _ if p == ED25519_OID || p == ED25519_NAME => Curve::Ed25519,
            [0x06, n, rest @ ..] if usize::from(*n) == rest.len() && !rest.is_empty() => {
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

    /// The curve's CKA_EC_PARAMS (its OID).
    pub fn params(self) -> &'static [u8] {
        match self {
            Curve::P256 => P256_OID,
            Curve::P384 => P384_OID,
            Curve::P521 => P521_OID,
            Curve::Ed25519 => ED25519_OID,
        }
    }
}

/// The curve's OID and the uncompressed public point of the EC key that made two
/// ECDSA signatures (r ‖ s) over two different digests: for a device whose private
/// EC key object carries no public point (PKCS#11 defines none). Each signature
/// leaves two candidates (SEC 1 v2 section 4.1.6, both points R with x = r; R.x = r + n
/// has odds below 2⁻¹²⁸ on these curves and is not tried); the second signature picks
/// the key's.
pub fn public_point_from_signatures(
    params: &[u8],
    signed: [(&[u8], &[u8]); 2],
) -> Result<(&'static [u8], Vec<u8>)> {
    let curve = Curve::from_params(params)?;
    let point = match curve {
        Curve::P256 => recover::<p256::NistP256>(256, signed)?,
        Curve::P384 => recover::<p384::NistP384>(384, signed)?,
        Curve::P521 => recover::<p521::NistP521>(521, signed)?,
        Curve::Ed25519 => return Err(Error::rv(CKR_KEY_TYPE_INCONSISTENT, "not a NIST curve")),
    };
    Ok((curve.params(), point))
}

/// Recovery on curve `C`, whose order is `order_bits` long.
fn recover<C>(order_bits: usize, [(d1, s1), (d2, s2)]: [(&[u8], &[u8]); 2]) -> Result<Vec<u8>>
where
    C: EcdsaCurve + CurveArithmetic,
    AffinePoint<C>: DecompressPoint<C> + FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let unrecoverable = |_| Error::rv(CKR_GENERAL_ERROR, "ECDSA public key recovery");
    // A digest is used whole, never truncated to the order (as the engine signs).
    if d1.len() * 8 > order_bits {
        return Err(Error::rv(CKR_GENERAL_ERROR, "ECDSA public key recovery"));
    }
    let sig1 = ecdsa::Signature::<C>::from_slice(s1).map_err(unrecoverable)?;
    let sig2 = ecdsa::Signature::<C>::from_slice(s2).map_err(unrecoverable)?;
    let mut matching = [false, true].into_iter().filter_map(|odd| {
        let id = ecdsa::RecoveryId::new(odd, false);
        let key = ecdsa::VerifyingKey::<C>::recover_from_prehash(d1, &sig1, id).ok()?;
        key.verify_prehash(d2, &sig2).ok()?;
        Some(key.to_sec1_point(false).as_bytes().to_vec())
    });
    match (matching.next(), matching.next()) {
        (Some(p), None) => Ok(p),
        _ => Err(Error::rv(
            CKR_GENERAL_ERROR,
            "the signatures name no single EC public key",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecdsa::signature::hazmat::PrehashSigner;

    /// A key of curve `C` from a fixed scalar, its uncompressed point, and signatures
    /// (r ‖ s) of two digests.
    fn signed<C>(scalar: &[u8], d1: &[u8], d2: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>)
    where
        C: EcdsaCurve + CurveArithmetic,
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
        ecdsa::SigningKey<C>: PrehashSigner<ecdsa::Signature<C>>,
    {
        let key = ecdsa::SigningKey::<C>::from_slice(scalar).unwrap();
        let point = key.verifying_key().to_sec1_point(false).as_bytes().to_vec();
        let sign = |d: &[u8]| -> Vec<u8> {
            let s: ecdsa::Signature<C> = key.sign_prehash(d).unwrap();
            s.to_vec()
        };
        (point, sign(d1), sign(d2))
    }

    #[test]
    fn ec_public_points_are_recovered_from_two_signatures() {
        let (d1, d2) = ([1u8; 32], [2u8; 32]);
        let cases = [
            (P256_OID, 32, signed::<p256::NistP256>(&[7; 32], &d1, &d2)),
            (P384_OID, 48, signed::<p384::NistP384>(&[7; 48], &d1, &d2)),
            (
                P521_OID,
                66,
                signed::<p521::NistP521>(&[&[0][..], &[7; 65]].concat(), &d1, &d2),
            ),
        ];
        for (params, len, (want, s1, s2)) in cases {
            assert_eq!(s1.len(), 2 * len);
            let (oid, point) =
                public_point_from_signatures(params, [(&d1, &s1), (&d2, &s2)]).expect("recovered");
            assert_eq!(oid, params);
            assert_eq!(point, want);
            // A signature of another digest names no single key.
            let e = public_point_from_signatures(params, [(&d1, &s1), (&d1, &s2)]);
            assert_eq!(e.unwrap_err().ck_rv(), CKR_GENERAL_ERROR);
        }
    }

    #[test]
    fn other_params_are_refused_with_their_codes() {
        let sig = [1u8; 64];
        let signed = [(&[1u8; 32][..], &sig[..]), (&[2u8; 32][..], &sig[..])];
        let code = |p: &[u8]| public_point_from_signatures(p, signed).unwrap_err().ck_rv();
        assert_eq!(code(ED25519_OID), CKR_KEY_TYPE_INCONSISTENT);
        assert_eq!(
            code(&[0x06, 0x03, 0x2b, 0x65, 0x71]),
            CKR_CURVE_NOT_SUPPORTED
        );
        assert_eq!(code(b"junk"), CKR_ATTRIBUTE_VALUE_INVALID);
    }
}
