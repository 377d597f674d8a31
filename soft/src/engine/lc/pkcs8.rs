//! PrivateKeyInfo parsing into the engine's key types.

use super::bn::bn_padded;
use super::ec::{Curve, EcKey};
use super::pkey::Pkey;
use super::rsa::Rsa;
use super::{nonnull, ok, Fail, LcResult};
use aws_lc_sys as ffi;
use zeroize::Zeroizing;

/// A private key read from PKCS#8.
pub enum Pkcs8Key {
    Rsa(Rsa),
    Ec(EcKey),
    Ed25519(Zeroizing<[u8; 32]>),
}

/// Parse a PKCS#8 PrivateKeyInfo. Trailing zero bytes (block padding left by some
/// RFC 5649 implementations) are ignored; anything else after the DER is refused.
pub fn parse_pkcs8(der: &[u8]) -> LcResult<Pkcs8Key> {
    // SAFETY: a CBS is a (pointer, length) view; zeroed is a valid empty one.
    let mut cbs: ffi::CBS = unsafe { std::mem::zeroed() };
    // SAFETY: `der` outlives `cbs`'s use in this function.
    unsafe { ffi::CBS_init(&mut cbs, der.as_ptr(), der.len()) };
    // SAFETY: parses from the CBS; returns a new key or NULL.
    let pkey = Pkey(nonnull(unsafe { ffi::EVP_parse_private_key(&mut cbs) })?);
    // SAFETY: reads the CBS's remaining view, within `der`.
    let rest = unsafe { std::slice::from_raw_parts(cbs.data, cbs.len) };
    if rest.iter().any(|&b| b != 0) {
        return Err(Fail);
    }
    // SAFETY: `pkey` is live.
    match unsafe { ffi::EVP_PKEY_id(pkey.0) } {
        ffi::EVP_PKEY_RSA => {
            // SAFETY: an RSA key; get1 gives us a reference of our own.
            let rsa = unsafe { ffi::EVP_PKEY_get1_RSA(pkey.0) };
            let rsa = Rsa::wrap(rsa, true)?;
            // Rebuild from components so that the key is checked like a created one.
            let parts = rsa.parts();
            if parts.d.is_empty() {
                return Err(Fail);
            }
            Ok(Pkcs8Key::Rsa(Rsa::private(&parts)?))
        }
        ffi::EVP_PKEY_EC => {
            // SAFETY: an EC key, borrowed from `pkey`.
            let ec = unsafe { ffi::EVP_PKEY_get0_EC_KEY(pkey.0) };
            // SAFETY: `ec` is live and has a group.
            let nid = unsafe { ffi::EC_GROUP_get_curve_name(ffi::EC_KEY_get0_group(ec)) };
            let curve = Curve::from_nid(nid).ok_or(Fail)?;
            let mut d = Zeroizing::new(vec![0u8; curve.len()]);
            // SAFETY: the scalar is borrowed from the live key.
            bn_padded(unsafe { ffi::EC_KEY_get0_private_key(ec) }, &mut d)?;
            Ok(Pkcs8Key::Ec(EcKey::private(curve, &d)?))
        }
        ffi::EVP_PKEY_ED25519 => {
            let mut seed = Zeroizing::new([0u8; 32]);
            let mut len = 32usize;
            // SAFETY: `seed` is writable for `len` bytes.
            ok(unsafe { ffi::EVP_PKEY_get_raw_private_key(pkey.0, seed.as_mut_ptr(), &mut len) })?;
            if len != 32 {
                return Err(Fail);
            }
            Ok(Pkcs8Key::Ed25519(seed))
        }
        _ => Err(Fail),
    }
}
