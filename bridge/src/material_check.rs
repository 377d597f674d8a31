//! Salted check values of key material (`Backend::material_check`).
//!
//! A check value is HMAC-SHA256 keyed by the salt over a canonical form of the key,
//! the same on every backend, so equal material gives equal values wherever it was
//! imported:
//!
//! | key | canonical form |
//! |---|---|
//! | secret key | `"kmsbridge.mc1.secret\0"` ‖ key type (u32 BE) ‖ CKA_VALUE |
//! | RSA private | `"kmsbridge.mc1.rsa\0"` ‖ len(n) (u32 BE) ‖ n ‖ e (minimal big-endian) |
//! | EC private | `"kmsbridge.mc1.ec\0"` ‖ len(params) ‖ CKA_EC_PARAMS (OID) ‖ uncompressed point |
//! | Ed25519 private | `"kmsbridge.mc1.ed25519\0"` ‖ public key |
//!
//! Private keys are named by their public half, which the private half determines;
//! the value reveals nothing the public key does not. A secret key's value sits last
//! so that a backend can feed it to the hash itself (`C_DigestKey`) without it ever
//! leaving the device: [`Pads`] splits the HMAC for that.

use crate::error::{Error, Result};
use cryptoki_sys::{CKR_ARGUMENTS_BAD, CK_KEY_TYPE};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Salt lengths accepted: enough to be unique, at most one SHA-256 block so the
/// salt is the HMAC key as it is.
pub const SALT_LEN: std::ops::RangeInclusive<usize> = 16..=64;

const BLOCK: usize = 64;

/// The HMAC-SHA256 key blocks of a salt: `inner` starts the inner hash, `finish`
/// applies the outer one to its digest.
pub struct Pads {
    inner: Zeroizing<[u8; BLOCK]>,
    outer: Zeroizing<[u8; BLOCK]>,
}

impl Pads {
    /// CKR_ARGUMENTS_BAD for a salt outside [`SALT_LEN`].
    pub fn new(salt: &[u8]) -> Result<Pads> {
        if !SALT_LEN.contains(&salt.len()) {
            return Err(Error::rv(CKR_ARGUMENTS_BAD, "check value salt length"));
        }
        let mut inner = Zeroizing::new([0x36u8; BLOCK]);
        let mut outer = Zeroizing::new([0x5cu8; BLOCK]);
        // SALT_LEN ends below BLOCK: every salt byte has its pad byte.
        for ((i, o), s) in inner.iter_mut().zip(outer.iter_mut()).zip(salt) {
            *i ^= s;
            *o ^= s;
        }
        Ok(Pads { inner, outer })
    }

    /// The first block of the inner hash.
    pub fn inner(&self) -> &[u8] {
        &self.inner[..]
    }

    /// The check value from the inner hash's digest.
    pub fn finish(&self, inner_digest: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(&self.outer[..]);
        h.update(inner_digest);
        h.finalize().into()
    }

    /// The whole HMAC over `parts`, in-module.
    pub fn hmac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.inner());
        for p in parts {
            h.update(p);
        }
        self.finish(&h.finalize())
    }
}

/// What precedes a secret key's value.
pub fn secret_prefix(kt: CK_KEY_TYPE) -> Vec<u8> {
    let mut v = b"kmsbridge.mc1.secret\0".to_vec();
    v.extend_from_slice(&(kt as u32).to_be_bytes());
    v
}

fn minimal(be: &[u8]) -> &[u8] {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    be.get(start..).unwrap_or_default()
}

fn with_len(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(&(v.len() as u32).to_be_bytes());
    out.extend_from_slice(v);
}

/// The canonical form of an RSA key: its modulus and public exponent.
pub fn rsa(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut v = b"kmsbridge.mc1.rsa\0".to_vec();
    with_len(&mut v, minimal(n));
    v.extend_from_slice(minimal(e));
    v
}

/// The canonical form of an EC key on a named curve: the curve's OID and the
/// uncompressed public point (`04 ‖ x ‖ y`).
pub fn ec(params: &[u8], point: &[u8]) -> Vec<u8> {
    let mut v = b"kmsbridge.mc1.ec\0".to_vec();
    with_len(&mut v, params);
    v.extend_from_slice(point);
    v
}

/// The canonical form of an Ed25519 key: its public key.
pub fn ed25519(public: &[u8; 32]) -> Vec<u8> {
    let mut v = b"kmsbridge.mc1.ed25519\0".to_vec();
    v.extend_from_slice(public);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn pads_compute_hmac_sha256() {
        // RFC 4231 test case 1: a 20-byte key of 0x0b over "Hi There".
        let p = Pads::new(&[0x0b; 20]).expect("salt");
        assert_eq!(
            p.hmac(&[b"Hi ", b"There"]).to_vec(),
            hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
    }

    #[test]
    fn salt_length_is_checked() {
        for n in [0, 15, 65] {
            let e = Pads::new(&vec![1u8; n]).err().expect("refused");
            assert_eq!(e.ck_rv(), CKR_ARGUMENTS_BAD);
        }
    }

    #[test]
    fn canonical_forms_ignore_leading_zeros() {
        assert_eq!(
            rsa(&[0, 0xc1, 2], &[0, 1, 0, 1]),
            rsa(&[0xc1, 2], &[1, 0, 1])
        );
        assert_ne!(rsa(&[0xc1, 2], &[1, 0, 1]), rsa(&[0xc1], &[2, 1, 0, 1]));
    }
}
