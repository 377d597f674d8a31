//! Sealing: AES-256-GCM with a random 96-bit nonce, the attribute encoding that goes
//! inside a seal, and the associated data that binds a sealed blob to its place.
//!
//! A sealed blob is `nonce (12) || ciphertext || tag (16)`. Buffers that ever hold
//! plaintext are allocated once at their final size (no reallocation can leave a
//! copy behind) and are `Zeroizing`.

use aes_gcm::aead::{AeadInOut, Key, KeyInit, Nonce, Tag};
use aes_gcm::Aes256Gcm;
use zeroize::Zeroizing;

use kmsbridge_bridge::{Error, Result};

pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;
pub(crate) const KEY_LEN: usize = 32;
/// Per-object and per-token random identifiers.
pub(crate) const UID_LEN: usize = 16;

/// Domain separation of the two kinds of sealed blob.
pub(crate) const AAD_SLOT: &[u8] = b"kmsbridge.store.v1.pin-slot";
pub(crate) const AAD_OBJECT: &[u8] = b"kmsbridge.store.v1.object";

/// Fill `buf` from the operating system's CSPRNG.
pub(crate) fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| {
        tracing::error!(error = %e, "store: the system random source failed");
        Error::rv(cryptoki_sys::CKR_DEVICE_ERROR, "store: random")
    })
}

pub(crate) fn random_uid() -> Result<[u8; UID_LEN]> {
    let mut uid = [0u8; UID_LEN];
    random(&mut uid)?;
    Ok(uid)
}

/// A fresh random 256-bit key.
pub(crate) fn random_key() -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    random(&mut key[..])?;
    Ok(key)
}

fn cipher(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    // The key is borrowed in place: no stack copy of it is made here. The cipher's
    // key schedule is zeroized when it drops (aes-gcm's `zeroize` feature).
    let key: &Key<Aes256Gcm> = key.into();
    Aes256Gcm::new(key)
}

/// Seal what `fill` writes (exactly `len` bytes) under `key`. The plaintext only ever
/// exists inside the returned buffer's allocation, encrypted in place before return.
pub(crate) fn seal_with(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    len: usize,
    fill: impl FnOnce(&mut Vec<u8>),
) -> Result<Vec<u8>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(NONCE_LEN + len + TAG_LEN));
    buf.resize(NONCE_LEN, 0);
    random(&mut buf)?;
    fill(&mut buf);
    if buf.len() != NONCE_LEN + len {
        return Err(Error::rv(
            cryptoki_sys::CKR_GENERAL_ERROR,
            "store: seal length mismatch",
        ));
    }
    let (nonce, body) = buf.split_at_mut(NONCE_LEN);
    let nonce: &Nonce<Aes256Gcm> = (&*nonce)
        .try_into()
        .map_err(|_| Error::rv(cryptoki_sys::CKR_GENERAL_ERROR, "store: nonce"))?;
    let tag = cipher(key)
        .encrypt_inout_detached(nonce, aad, body.into())
        .map_err(|_| Error::rv(cryptoki_sys::CKR_GENERAL_ERROR, "store: seal"))?;
    // Capacity was reserved: this cannot reallocate.
    buf.extend_from_slice(&tag);
    // Only nonce, ciphertext and tag are left: nothing secret leaves the Zeroizing.
    Ok(std::mem::take(&mut *buf))
}

/// Seal a byte string.
pub(crate) fn seal(key: &[u8; KEY_LEN], aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    seal_with(key, aad, plain.len(), |b| b.extend_from_slice(plain))
}

/// Open a sealed blob; `None` when it does not authenticate under `key` and `aad`
/// (wrong key, wrong place, or tampered with).
pub(crate) fn open(key: &[u8; KEY_LEN], aad: &[u8], blob: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if blob.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, rest) = blob.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: &Nonce<Aes256Gcm> = nonce.try_into().ok()?;
    let tag: &Tag<Aes256Gcm> = tag.try_into().ok()?;
    let mut plain = Zeroizing::new(ct.to_vec());
    cipher(key)
        .decrypt_inout_detached(nonce, aad, plain.as_mut_slice().into(), tag)
        .ok()?;
    Some(plain)
}

/// The associated data of an object's seal: the token generation, the object's
/// random uid and store id, its class and privacy. The attribute types are inside
/// the sealed plaintext, so they are authenticated too.
pub(crate) fn object_aad(
    token_uid: &[u8; UID_LEN],
    uid: &[u8],
    id: u64,
    class: u64,
    private: bool,
) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_OBJECT.len() + 2 * UID_LEN + 17);
    aad.extend_from_slice(AAD_OBJECT);
    aad.extend_from_slice(token_uid);
    aad.extend_from_slice(uid);
    aad.extend_from_slice(&id.to_le_bytes());
    aad.extend_from_slice(&class.to_le_bytes());
    aad.push(private as u8);
    aad
}

/// The associated data of a PIN slot: the token generation, the role, and the KDF
/// parameters (so a slot cannot be moved to the other role or to another token).
pub(crate) fn slot_aad(
    token_uid: &[u8; UID_LEN],
    user: u64,
    iterations: u32,
    salt: &[u8],
) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_SLOT.len() + UID_LEN + 12 + salt.len());
    aad.extend_from_slice(AAD_SLOT);
    aad.extend_from_slice(token_uid);
    aad.extend_from_slice(&user.to_le_bytes());
    aad.extend_from_slice(&iterations.to_le_bytes());
    aad.extend_from_slice(salt);
    aad
}

// ---- attribute encoding: count u32, then (type u64, length u32, value) each, little endian.

/// The encoded length of these attributes.
pub(crate) fn encoded_len<'a>(attrs: impl Iterator<Item = (u64, &'a [u8])>) -> usize {
    4 + attrs.map(|(_, v)| 12 + v.len()).sum::<usize>()
}

/// Append the encoding to `out` (which must have the capacity reserved when it is secret).
pub(crate) fn encode_into<'a>(
    attrs: impl Iterator<Item = (u64, &'a [u8])> + Clone,
    out: &mut Vec<u8>,
) -> Result<()> {
    let count = u32::try_from(attrs.clone().count()).map_err(|_| {
        Error::rv(
            cryptoki_sys::CKR_DEVICE_MEMORY,
            "store: too many attributes",
        )
    })?;
    out.extend_from_slice(&count.to_le_bytes());
    for (ty, v) in attrs {
        let len = u32::try_from(v.len())
            .map_err(|_| Error::rv(cryptoki_sys::CKR_DEVICE_MEMORY, "store: attribute too long"))?;
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(v);
    }
    Ok(())
}

/// A non-secret encoding.
pub(crate) fn encode<'a>(attrs: impl Iterator<Item = (u64, &'a [u8])> + Clone) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(encoded_len(attrs.clone()));
    encode_into(attrs, &mut out)?;
    Ok(out)
}

/// Decode; each value lands in its own exact-size `Zeroizing` buffer. `None` if malformed.
pub(crate) fn decode(mut b: &[u8]) -> Option<Vec<(u64, Zeroizing<Vec<u8>>)>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if b.len() < n {
            return None;
        }
        let (head, tail) = b.split_at(n);
        *b = tail;
        Some(head)
    }
    let count = u32::from_le_bytes(take(&mut b, 4)?.try_into().ok()?) as usize;
    // Each entry takes at least 12 bytes: bound the allocation by what is there.
    if count > b.len() / 12 {
        return None;
    }
    let mut attrs = Vec::with_capacity(count);
    for _ in 0..count {
        let ty = u64::from_le_bytes(take(&mut b, 8)?.try_into().ok()?);
        let len = u32::from_le_bytes(take(&mut b, 4)?.try_into().ok()?) as usize;
        attrs.push((ty, Zeroizing::new(take(&mut b, len)?.to_vec())));
    }
    b.is_empty().then_some(attrs)
}

/// Attribute types as a list of u64 (little endian).
pub(crate) fn encode_types(types: &[u64]) -> Vec<u8> {
    types.iter().flat_map(|t| t.to_le_bytes()).collect()
}

pub(crate) fn decode_types(b: &[u8]) -> Option<Vec<u64>> {
    let chunks = b.chunks_exact(8);
    if !chunks.remainder().is_empty() {
        return None;
    }
    chunks
        .map(|c| c.try_into().ok().map(u64::from_le_bytes))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_binding() {
        let key = random_key().unwrap();
        let blob = seal(&key, b"aad-1", b"hello").unwrap();
        assert_eq!(blob.len(), NONCE_LEN + 5 + TAG_LEN);
        assert_eq!(&open(&key, b"aad-1", &blob).unwrap()[..], b"hello");
        assert!(open(&key, b"aad-2", &blob).is_none());
        let other = random_key().unwrap();
        assert!(open(&other, b"aad-1", &blob).is_none());
        let mut bad = blob.clone();
        bad[NONCE_LEN] ^= 1;
        assert!(open(&key, b"aad-1", &bad).is_none());
        assert!(open(&key, b"aad-1", &blob[..10]).is_none());
    }

    #[test]
    fn encoding_round_trip_and_malformed() {
        let attrs: Vec<(u64, Vec<u8>)> = vec![
            (0, vec![]),
            (0x11, b"abc".to_vec()),
            (u64::MAX, vec![7; 300]),
        ];
        let enc = encode(attrs.iter().map(|(t, v)| (*t, v.as_slice()))).unwrap();
        let dec = decode(&enc).unwrap();
        assert_eq!(dec.len(), 3);
        for ((t, v), (dt, dv)) in attrs.iter().zip(dec.iter()) {
            assert_eq!(t, dt);
            assert_eq!(v, &**dv);
        }
        assert!(decode(&enc[..enc.len() - 1]).is_none());
        let mut longer = enc.clone();
        longer.push(0);
        assert!(decode(&longer).is_none());
        assert!(decode(&[0xff, 0xff, 0xff, 0xff]).is_none());
        assert_eq!(
            decode_types(&encode_types(&[1, 2, u64::MAX])).unwrap(),
            vec![1, 2, u64::MAX]
        );
        assert!(decode_types(&[1, 2, 3]).is_none());
    }
}
