//! The import public key as the PEM file `openssl pkeyutl -pubin -inkey` reads, and the
//! wrapping side of BYOK done in-process (quickstart): RSA-AES key wrap with SHA-256,
//! i.e. a fresh AES-256 key OAEP-encrypted, then the RFC 5649 wrap of the material.

use crate::module::Error;
use aes_kw::{KeyInit, KwpAes256};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::{BoxedUint, PublicKey};
use zeroize::Zeroizing;

/// The RSA public key from CKA_MODULUS and CKA_PUBLIC_EXPONENT (big-endian).
pub fn public_key(modulus: &[u8], exponent: &[u8]) -> Result<PublicKey, Error> {
    // Public values: the variable-time decoding is fine.
    PublicKey::new(
        BoxedUint::from_be_slice_vartime(modulus),
        BoxedUint::from_be_slice_vartime(exponent),
    )
    .map_err(|e| format!("the import public key is not a valid RSA key: {e}").into())
}

/// SubjectPublicKeyInfo PEM.
pub fn public_pem(key: &PublicKey) -> Result<String, Error> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the import public key: {e}").into())
}

/// RSA_AES_KEY_WRAP_SHA_256 of `material` for `key`.
pub fn rsa_aes_wrap_sha256(key: &PublicKey, material: &[u8]) -> Result<Vec<u8>, Error> {
    let mut aes = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut aes[..]).map_err(|e| format!("no randomness: {e}"))?;
    let mut blob = key
        .oaep_encrypt::<Sha256>(&aes[..])
        .map_err(|e| format!("OAEP encryption failed: {e}"))?;
    // The key schedule is zeroized on drop (aes-kw's `zeroize` feature).
    let kwp = KwpAes256::new_from_slice(&aes[..]).map_err(|e| format!("AES-KWP key: {e}"))?;
    // RFC 5649 output: the material padded to 8 bytes, plus the 8-byte integrity block.
    let mut wrapped = vec![0u8; material.len().div_ceil(8) * 8 + 8];
    let out = kwp
        .wrap_key(material, &mut wrapped)
        .map_err(|e| format!("RFC 5649 wrap failed: {e}"))?;
    blob.extend_from_slice(out);
    Ok(blob)
}
