//! RSA-OAEP composed in-module over the backend's raw RSA (`CKM_RSA_X_509`), for
//! the parameters a library lacks (SoftHSM2 2.6: SHA-1 with MGF1-SHA-1 only, no
//! label).
//!
//! Decoding is constant-time and every failure answers one code,
//! CKR_ENCRYPTED_DATA_INVALID, after the whole check: no Manger-style oracle.
//! (Composed unwraps, `unwrap.rs`, answer CKR_WRAPPED_KEY_INVALID instead.)

use super::kinds::Ciphers;
use super::op::NodeOp;
use super::pool::Pool;
use crate::backend::{ObjectId, OpKind, Output};
use crate::error::{Error, Result};
use crate::op::{Cipher, Operation};
use crate::{MechParam, Mechanism};
use cryptoki_sys::*;
use sha2::digest::DynDigest;
use std::sync::Arc;
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

#[derive(Clone, Debug)]
pub struct OaepParams {
    hash: CK_MECHANISM_TYPE,
    /// The hash of MGF1.
    mgf: CK_MECHANISM_TYPE,
    label: Vec<u8>,
}

fn hasher(ty: CK_MECHANISM_TYPE) -> Option<Box<dyn DynDigest + Send>> {
    Some(match ty {
        CKM_SHA_1 => Box::new(sha1::Sha1::default()),
        CKM_SHA224 => Box::new(sha2::Sha224::default()),
        CKM_SHA256 => Box::new(sha2::Sha256::default()),
        CKM_SHA384 => Box::new(sha2::Sha384::default()),
        CKM_SHA512 => Box::new(sha2::Sha512::default()),
        _ => return None,
    })
}

fn mgf_hash(mgf: CK_RSA_PKCS_MGF_TYPE) -> Option<CK_MECHANISM_TYPE> {
    Some(match mgf {
        CKG_MGF1_SHA1 => CKM_SHA_1,
        CKG_MGF1_SHA224 => CKM_SHA224,
        CKG_MGF1_SHA256 => CKM_SHA256,
        CKG_MGF1_SHA384 => CKM_SHA384,
        CKG_MGF1_SHA512 => CKM_SHA512,
        _ => return None,
    })
}

impl OaepParams {
    /// The parameters of an OAEP mechanism this module must compose, `Ok(None)` when
    /// the backend can take it as it is, or CKR_MECHANISM_PARAM_INVALID.
    pub fn composed(m: &Mechanism) -> Result<Option<OaepParams>> {
        let MechParam::Oaep {
            hash,
            mgf,
            source,
            source_data,
        } = &m.param
        else {
            return Err(Error::rv(CKR_MECHANISM_PARAM_INVALID, "OAEP parameters"));
        };
        let bad = || Error::rv(CKR_MECHANISM_PARAM_INVALID, "OAEP parameters");
        let Some(mgf) = mgf_hash(*mgf) else {
            return Err(bad());
        };
        if hasher(*hash).is_none() {
            return Err(bad());
        }
        if *source != CKZ_DATA_SPECIFIED && !(*source == 0 && source_data.is_empty()) {
            return Err(bad());
        }
        if *hash == CKM_SHA_1 && mgf == CKM_SHA_1 && source_data.is_empty() {
            return Ok(None);
        }
        Ok(Some(OaepParams {
            hash: *hash,
            mgf,
            label: source_data.clone(),
        }))
    }

    fn h(&self) -> Box<dyn DynDigest + Send> {
        // `composed` admitted only hashes `hasher` knows.
        hasher(self.hash).unwrap_or_else(|| Box::new(sha1::Sha1::default()))
    }

    fn mgf_h(&self) -> Box<dyn DynDigest + Send> {
        hasher(self.mgf).unwrap_or_else(|| Box::new(sha1::Sha1::default()))
    }

    fn hlen(&self) -> usize {
        self.h().output_size()
    }

    fn mgf1(&self, seed: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(len + 64));
        let mut counter: u32 = 0;
        while out.len() < len {
            let mut h = self.mgf_h();
            h.update(seed);
            h.update(&counter.to_be_bytes());
            out.extend_from_slice(&h.finalize());
            counter += 1;
        }
        out.truncate(len);
        out
    }

    fn label_hash(&self) -> Box<[u8]> {
        let mut h = self.h();
        h.update(&self.label);
        h.finalize()
    }

    /// EME-OAEP encoding (RFC 8017 7.1.1) of `msg` into `k` bytes.
    pub fn encode(&self, msg: &[u8], k: usize, seed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let hlen = self.hlen();
        if k < 2 * hlen + 2 || msg.len() > k - 2 * hlen - 2 {
            return Err(Error::rv(CKR_DATA_LEN_RANGE, "OAEP encode"));
        }
        if seed.len() < hlen {
            return Err(Error::rv(CKR_GENERAL_ERROR, "OAEP seed length"));
        }
        // DB = lHash ‖ PS (zeros) ‖ 0x01 ‖ M, built in place: the capacity is exact,
        // so no copy of the message is left behind by a reallocation.
        let db_len = k - hlen - 1;
        let mut db = Zeroizing::new(Vec::with_capacity(db_len));
        db.extend_from_slice(&self.label_hash());
        db.resize(db_len - msg.len() - 1, 0);
        db.push(1);
        db.extend_from_slice(msg);
        let db_mask = self.mgf1(seed, db.len());
        db.iter_mut().zip(db_mask.iter()).for_each(|(a, b)| *a ^= b);
        let seed_mask = self.mgf1(&db, hlen);
        // EM = 0x00 ‖ maskedSeed ‖ maskedDB.
        let mut em = Zeroizing::new(Vec::with_capacity(k));
        em.push(0);
        em.extend(seed.iter().zip(seed_mask.iter()).map(|(a, b)| a ^ b));
        em.extend_from_slice(&db);
        Ok(em)
    }

    /// EME-OAEP decoding in constant time; one code for every failure.
    pub fn decode(&self, em: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let invalid = || Error::rv(CKR_ENCRYPTED_DATA_INVALID, "OAEP decode");
        let hlen = self.hlen();
        let k = em.len();
        if k < 2 * hlen + 2 {
            return Err(invalid());
        }
        let Some((&first, masked)) = em.split_first() else {
            return Err(invalid());
        };
        let Some((masked_seed, masked_db)) = masked.split_at_checked(hlen) else {
            return Err(invalid());
        };
        let seed_mask = self.mgf1(masked_db, hlen);
        let seed: Zeroizing<Vec<u8>> = Zeroizing::new(
            masked_seed
                .iter()
                .zip(seed_mask.iter())
                .map(|(a, b)| a ^ b)
                .collect(),
        );
        let db_mask = self.mgf1(&seed, masked_db.len());
        let db: Zeroizing<Vec<u8>> = Zeroizing::new(
            masked_db
                .iter()
                .zip(db_mask.iter())
                .map(|(a, b)| a ^ b)
                .collect(),
        );

        // Lengths are public: this split depends on no secret.
        let Some((l_hash, _)) = db.split_at_checked(hlen) else {
            return Err(invalid());
        };
        let mut good = first.ct_eq(&0u8) & l_hash.ct_eq(&self.label_hash());
        let mut looking = subtle::Choice::from(1u8);
        let mut index = 0u32;
        let mut bad_byte = subtle::Choice::from(0u8);
        for (i, b) in db.iter().enumerate().skip(hlen) {
            let is_zero = b.ct_eq(&0u8);
            let is_one = b.ct_eq(&1u8);
            index.conditional_assign(&(i as u32), looking & is_one);
            bad_byte |= looking & !is_zero & !is_one;
            looking &= !is_one;
        }
        good &= !bad_byte & !looking;
        // The one branch on the outcome, after every byte was examined.
        if bool::from(good) {
            let msg = db.get(index as usize + 1..).ok_or_else(invalid)?;
            Ok(Zeroizing::new(msg.to_vec()))
        } else {
            Err(invalid())
        }
    }
}

/// An encrypt or decrypt operation on `pool`: OAEP with parameters the library
/// lacks is composed here over its raw RSA.
pub fn begin_cipher<K: Ciphers>(
    pool: &Arc<Pool>,
    mech: &Mechanism,
    key: ObjectId,
) -> Result<Box<dyn Cipher>> {
    if mech.ty == CKM_RSA_PKCS_OAEP {
        if let Some(params) = OaepParams::composed(mech)? {
            let raw = Mechanism::simple(CKM_RSA_X_509);
            let inner = NodeOp::<K>::begin(pool.get()?, &raw, key, None)?;
            let len = inner.modulus_len(key).ok_or(Error::rv(
                CKR_KEY_TYPE_INCONSISTENT,
                "OAEP needs an RSA key",
            ))?;
            return Ok(Box::new(OaepOp::new(inner, params, len)));
        }
    }
    Ok(Box::new(NodeOp::<K>::begin(pool.get()?, mech, key, None)?))
}

/// An OAEP encrypt or decrypt: OAEP here, raw RSA in the backend.
pub struct OaepOp<K> {
    inner: NodeOp<K>,
    params: OaepParams,
    /// Modulus length in bytes.
    k: usize,
    /// A decrypted message held for the caller's second call after BUFFER_TOO_SMALL.
    held: Option<Zeroizing<Vec<u8>>>,
    done: bool,
}

impl<K: Ciphers> OaepOp<K> {
    pub fn new(inner: NodeOp<K>, params: OaepParams, k: usize) -> OaepOp<K> {
        OaepOp {
            inner,
            params,
            k,
            held: None,
            done: false,
        }
    }

    fn deliver(&mut self, out: &mut [u8]) -> Result<usize> {
        let Some(msg) = self.held.as_ref() else {
            return Err(Error::rv(CKR_GENERAL_ERROR, "OAEP deliver"));
        };
        let Some(dst) = out.get_mut(..msg.len()) else {
            return Err(Error::BufferTooSmall(msg.len()));
        };
        dst.copy_from_slice(msg);
        self.done = true;
        Ok(msg.len())
    }

    fn fail<T>(&mut self, e: Error) -> Result<T> {
        if !matches!(e, Error::BufferTooSmall(_)) {
            self.done = true;
        }
        Err(e)
    }
}

impl<K: Ciphers> Operation for OaepOp<K> {
    fn is_done(&self) -> bool {
        self.done
    }
}

impl<K: Ciphers> Cipher for OaepOp<K> {
    fn run(&mut self, input: &[u8], out: Output) -> Result<usize> {
        let hlen = self.params.hlen();
        if K::KIND == OpKind::Decrypt {
            let Some(out) = out else {
                return Ok(self
                    .held
                    .as_ref()
                    .map_or(self.k.saturating_sub(2 * hlen + 2), |m| m.len()));
            };
            if self.held.is_none() {
                let mut em = Zeroizing::new(vec![0u8; self.k]);
                let n = match self.inner.run(input, Some(&mut em)) {
                    Ok(n) => n,
                    Err(e) => return self.fail(e),
                };
                // Raw RSA output may come without its leading zero bytes.
                em.rotate_right(self.k - n.min(self.k));
                match self.params.decode(&em) {
                    Ok(m) => self.held = Some(m),
                    Err(e) => return self.fail(e),
                }
            }
            self.deliver(out)
        } else {
            let Some(out) = out else {
                return Ok(self.k);
            };
            if out.len() < self.k {
                return Err(Error::BufferTooSmall(self.k));
            }
            let mut seed = Zeroizing::new(vec![0u8; hlen]);
            if let Err(e) = self.inner.random(&mut seed) {
                return self.fail(e);
            }
            let em = match self.params.encode(input, self.k, &seed) {
                Ok(em) => em,
                Err(e) => return self.fail(e),
            };
            let r = self.inner.run(&em, Some(out));
            self.done = self.inner.is_done();
            r
        }
    }

    fn update(&mut self, _: &[u8], _: Output) -> Result<usize> {
        self.fail(Error::rv(
            CKR_FUNCTION_NOT_SUPPORTED,
            "RSA-OAEP is single-part",
        ))
    }

    fn finish(&mut self, _: Output) -> Result<usize> {
        self.fail(Error::rv(
            CKR_FUNCTION_NOT_SUPPORTED,
            "RSA-OAEP is single-part",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(hash: CK_MECHANISM_TYPE, label: &[u8]) -> OaepParams {
        OaepParams {
            hash,
            mgf: hash,
            label: label.to_vec(),
        }
    }

    #[test]
    fn encode_then_decode_round_trips() {
        for hash in [CKM_SHA_1, CKM_SHA256, CKM_SHA512] {
            let params = p(hash, b"label");
            let seed = vec![7u8; params.hlen()];
            let em = params.encode(b"secret", 256, &seed).unwrap();
            assert_eq!(&params.decode(&em).unwrap()[..], b"secret");
        }
    }

    #[test]
    fn tampered_encodings_fail_with_one_code() {
        let params = p(CKM_SHA256, b"");
        let seed = vec![1u8; 32];
        let em = params.encode(b"m", 256, &seed).unwrap();
        for pos in [0usize, 5, 40, 200, 255] {
            let mut bad = em.clone();
            bad[pos] ^= 0x80;
            let e = params.decode(&bad).unwrap_err();
            assert_eq!(e.ck_rv(), CKR_ENCRYPTED_DATA_INVALID, "byte {pos}");
        }
        // A different label is refused the same way.
        let e = p(CKM_SHA256, b"x").decode(&em).unwrap_err();
        assert_eq!(e.ck_rv(), CKR_ENCRYPTED_DATA_INVALID);
    }

    #[test]
    fn only_sha1_without_a_label_goes_to_softhsm() {
        let composed = |m: Mechanism| OaepParams::composed(&m).map(|p| p.is_some());
        assert!(!composed(Mechanism::oaep(CKM_SHA_1, CKG_MGF1_SHA1, b"")).unwrap());
        assert!(composed(Mechanism::oaep(CKM_SHA_1, CKG_MGF1_SHA1, b"l")).unwrap());
        assert!(composed(Mechanism::oaep(CKM_SHA_1, CKG_MGF1_SHA256, b"")).unwrap());
        assert!(composed(Mechanism::oaep(CKM_SHA384, CKG_MGF1_SHA256, b"")).unwrap());
        let e = composed(Mechanism::oaep(CKM_SHA256, 0x99, b"")).unwrap_err();
        assert_eq!(e.ck_rv(), CKR_MECHANISM_PARAM_INVALID);
    }

    #[test]
    fn the_mgf_hash_may_differ_from_the_label_hash() {
        let params = OaepParams {
            hash: CKM_SHA384,
            mgf: CKM_SHA256,
            label: b"l".to_vec(),
        };
        let em = params.encode(b"key", 256, &[3u8; 48]).unwrap();
        assert_eq!(&params.decode(&em).unwrap()[..], b"key");
        let same = OaepParams {
            mgf: CKM_SHA384,
            ..params.clone()
        };
        assert_eq!(
            same.decode(&em).unwrap_err().ck_rv(),
            CKR_ENCRYPTED_DATA_INVALID
        );
    }

    #[test]
    fn message_too_long_is_data_len_range() {
        let params = p(CKM_SHA256, b"");
        let e = params.encode(&[0u8; 200], 256, &[0u8; 32]).unwrap_err();
        assert_eq!(e.ck_rv(), CKR_DATA_LEN_RANGE);
    }
}
