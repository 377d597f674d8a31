//! RSA: PKCS#1 v1.5 (raw over a caller's DigestInfo, and hashed), X.509 raw, PSS (raw
//! over a digest, and hashed), OAEP with any hash, MGF and label, and PKCS#1 v1.5
//! encryption. Private-key operations are blinded (aws-lc); decryption failures of
//! every kind answer one code after the whole check.

use super::digest::{Hash, Hasher};
use super::lc::Pad;
use super::op::{head, prefix, put, sig_check, Collect, Crypt, Mac, Phase};
use super::prepared::Prepared;
use aws_lc_rs::constant_time;
use cryptoki_sys::*;
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::{MechParam, Mechanism};
use std::sync::Arc;
use zeroize::Zeroizing;

fn param_invalid(what: &'static str) -> Error {
    Error::rv(CKR_MECHANISM_PARAM_INVALID, what)
}

fn len_range() -> Error {
    Error::rv(CKR_DATA_LEN_RANGE, "input too long for the modulus")
}

/// PSS parameters: hash, MGF1 hash, salt length.
#[derive(Clone, Copy, Debug)]
pub struct Pss {
    pub hash: Hash,
    pub mgf: Hash,
    pub salt: usize,
}

fn pss_params(m: &Mechanism, k: usize) -> Result<Pss> {
    const UL: usize = std::mem::size_of::<CK_ULONG>();
    let MechParam::Flat(p) = &m.param else {
        return Err(param_invalid("PSS needs CK_RSA_PKCS_PSS_PARAMS"));
    };
    if p.len() != 3 * UL {
        return Err(param_invalid("CK_RSA_PKCS_PSS_PARAMS size"));
    }
    let u = |i: usize| {
        p.chunks_exact(UL)
            .nth(i)
            .and_then(|c| c.try_into().ok())
            .map_or(0, CK_ULONG::from_ne_bytes)
    };
    let hash = Hash::from_mech(u(0)).ok_or(param_invalid("PSS hash"))?;
    let mgf = Hash::from_mgf(u(1)).ok_or(param_invalid("PSS MGF"))?;
    let salt = u(2) as usize;
    if salt.saturating_add(hash.len() + 2) > k {
        return Err(param_invalid("PSS salt too long for the modulus"));
    }
    Ok(Pss { hash, mgf, salt })
}

/// The hash and padding of an RSA signature mechanism.
#[derive(Clone, Copy, Debug)]
enum Scheme {
    /// CKM_RSA_PKCS over a caller's DigestInfo (or any data up to k-11 bytes).
    Pkcs1Raw,
    X509,
    Pkcs1(Hash),
    PssRaw(Pss),
    Pss(Pss),
}

pub fn is_sign_mech(m: CK_MECHANISM_TYPE) -> bool {
    matches!(
        m,
        CKM_RSA_PKCS
            | CKM_RSA_X_509
            | CKM_SHA1_RSA_PKCS
            | CKM_SHA224_RSA_PKCS
            | CKM_SHA256_RSA_PKCS
            | CKM_SHA384_RSA_PKCS
            | CKM_SHA512_RSA_PKCS
            | CKM_RSA_PKCS_PSS
            | CKM_SHA1_RSA_PKCS_PSS
            | CKM_SHA224_RSA_PKCS_PSS
            | CKM_SHA256_RSA_PKCS_PSS
            | CKM_SHA384_RSA_PKCS_PSS
            | CKM_SHA512_RSA_PKCS_PSS
    )
}

/// RSA sign or verify.
pub struct RsaSignOp {
    key: Arc<Prepared>,
    scheme: Scheme,
    hasher: Option<Hasher>,
    data: Collect,
    k: usize,
}

impl RsaSignOp {
    pub fn new(key: Arc<Prepared>, m: &Mechanism) -> Result<RsaSignOp> {
        let k = key.rsa()?.size();
        let hashed = |h: Hash| Scheme::Pkcs1(h);
        let scheme = match m.ty {
            CKM_RSA_PKCS => Scheme::Pkcs1Raw,
            CKM_RSA_X_509 => Scheme::X509,
            CKM_SHA1_RSA_PKCS => hashed(Hash::Sha1),
            CKM_SHA224_RSA_PKCS => hashed(Hash::Sha224),
            CKM_SHA256_RSA_PKCS => hashed(Hash::Sha256),
            CKM_SHA384_RSA_PKCS => hashed(Hash::Sha384),
            CKM_SHA512_RSA_PKCS => hashed(Hash::Sha512),
            CKM_RSA_PKCS_PSS => Scheme::PssRaw(pss_params(m, k)?),
            _ => {
                let want = match m.ty {
                    CKM_SHA1_RSA_PKCS_PSS => Hash::Sha1,
                    CKM_SHA224_RSA_PKCS_PSS => Hash::Sha224,
                    CKM_SHA256_RSA_PKCS_PSS => Hash::Sha256,
                    CKM_SHA384_RSA_PKCS_PSS => Hash::Sha384,
                    CKM_SHA512_RSA_PKCS_PSS => Hash::Sha512,
                    _ => return Err(Error::rv(CKR_MECHANISM_INVALID, "RSA mechanism")),
                };
                let p = pss_params(m, k)?;
                if p.hash != want {
                    return Err(param_invalid("PSS hash differs from the mechanism's"));
                }
                Scheme::Pss(p)
            }
        };
        let hasher = match scheme {
            Scheme::Pkcs1(h) => Some(h.hasher()),
            Scheme::Pss(p) => Some(p.hash.hasher()),
            _ => None,
        };
        Ok(RsaSignOp {
            key,
            scheme,
            hasher,
            data: Collect::default(),
            k,
        })
    }

    /// The input of the RSA operation: DigestInfo, digest or raw data.
    fn message(&mut self) -> Zeroizing<Vec<u8>> {
        match (self.scheme, self.hasher.as_mut()) {
            (Scheme::Pkcs1(h), Some(hs)) => {
                let mut v = Zeroizing::new(h.digest_info_prefix().to_vec());
                v.extend_from_slice(hs.finish().as_ref());
                v
            }
            (_, Some(hs)) => Zeroizing::new(hs.finish().as_ref().to_vec()),
            _ => self.data.take(),
        }
    }

    /// X.509 input, left-padded with zeros to the modulus length.
    fn padded(&self, m: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if m.len() > self.k {
            return Err(len_range());
        }
        Ok(left_pad(m, self.k))
    }
}

impl Mac for RsaSignOp {
    fn len(&self) -> usize {
        self.k
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
        let msg = self.message();
        let key = self.key.clone();
        let rsa = key.rsa()?;
        let failed = |_| Error::rv(CKR_FUNCTION_FAILED, "RSA sign");
        let out = head(out, self.k)?;
        match self.scheme {
            Scheme::Pkcs1Raw | Scheme::Pkcs1(_) => {
                if msg.len() + 11 > self.k {
                    return Err(len_range());
                }
                rsa.sign_raw(Pad::Pkcs1, &msg, out).map_err(failed)
            }
            Scheme::X509 => {
                let m = self.padded(&msg)?;
                rsa.sign_raw(Pad::None, &m, out)
                    .map_err(|_| Error::rv(CKR_DATA_INVALID, "input not below the modulus"))
            }
            Scheme::PssRaw(p) | Scheme::Pss(p) => {
                if msg.len() != p.hash.len() {
                    return Err(len_range());
                }
                rsa.sign_pss(&msg, p.hash.md(), p.mgf.md(), p.salt, out)
                    .map_err(failed)
            }
        }
    }
    fn verify(&mut self, sig: &[u8]) -> Result<()> {
        let msg = self.message();
        if sig.len() != self.k {
            return Err(Error::rv(CKR_SIGNATURE_LEN_RANGE, "RSA signature length"));
        }
        let key = self.key.clone();
        let rsa = key.rsa()?;
        let mut rec = Zeroizing::new(vec![0u8; self.k]);
        match self.scheme {
            Scheme::Pkcs1Raw | Scheme::Pkcs1(_) => {
                if msg.len() + 11 > self.k {
                    return Err(len_range());
                }
                let Ok(n) = rsa.verify_raw(Pad::Pkcs1, sig, &mut rec) else {
                    return sig_check(false);
                };
                sig_check(constant_time::verify_slices_are_equal(prefix(&rec, n)?, &msg).is_ok())
            }
            Scheme::X509 => {
                let m = self.padded(&msg)?;
                let Ok(n) = rsa.verify_raw(Pad::None, sig, &mut rec) else {
                    return sig_check(false);
                };
                sig_check(constant_time::verify_slices_are_equal(prefix(&rec, n)?, &m).is_ok())
            }
            Scheme::PssRaw(p) | Scheme::Pss(p) => {
                if msg.len() != p.hash.len() {
                    return Err(len_range());
                }
                sig_check(rsa.verify_pss(&msg, p.hash.md(), p.mgf.md(), p.salt, sig))
            }
        }
    }
}

/// OAEP parameters: hash, MGF1 hash, label.
#[derive(Clone, Debug)]
pub struct Oaep {
    pub hash: Hash,
    pub mgf: Hash,
    pub label: Vec<u8>,
}

pub fn oaep_params(m: &Mechanism) -> Result<Oaep> {
    let MechParam::Oaep {
        hash,
        mgf,
        source,
        source_data,
    } = &m.param
    else {
        return Err(param_invalid("OAEP needs CK_RSA_PKCS_OAEP_PARAMS"));
    };
    let hash = Hash::from_mech(*hash).ok_or(param_invalid("OAEP hash"))?;
    let mgf = Hash::from_mgf(*mgf).ok_or(param_invalid("OAEP MGF"))?;
    if *source != CKZ_DATA_SPECIFIED && !(*source == 0 && source_data.is_empty()) {
        return Err(param_invalid("OAEP source"));
    }
    Ok(Oaep {
        hash,
        mgf,
        label: source_data.clone(),
    })
}

#[derive(Clone, Debug)]
enum Enc {
    Pkcs1,
    X509,
    Oaep(Oaep),
}

/// An RSA encryption scheme bound to a modulus size.
#[derive(Clone, Debug)]
pub struct RsaEnc {
    enc: Enc,
    k: usize,
}

impl RsaEnc {
    /// The scheme of `m` for `key`; `wrap` refuses CKM_RSA_X_509.
    pub fn new(key: &Prepared, m: &Mechanism, wrap: bool) -> Result<RsaEnc> {
        let k = key.rsa()?.size();
        let enc = match m.ty {
            CKM_RSA_PKCS => Enc::Pkcs1,
            CKM_RSA_X_509 if !wrap => Enc::X509,
            CKM_RSA_PKCS_OAEP => {
                let p = oaep_params(m)?;
                if k < 2 * p.hash.len() + 2 {
                    return Err(Error::rv(CKR_KEY_SIZE_RANGE, "modulus too small for OAEP"));
                }
                Enc::Oaep(p)
            }
            _ => return Err(Error::rv(CKR_MECHANISM_INVALID, "RSA mechanism")),
        };
        Ok(RsaEnc { enc, k })
    }

    /// Modulus bytes: the ciphertext length.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The longest message the padding leaves room for.
    pub fn max_msg(&self) -> usize {
        match &self.enc {
            Enc::Pkcs1 => self.k.saturating_sub(11),
            Enc::X509 => self.k,
            Enc::Oaep(p) => self.k.saturating_sub(2 * p.hash.len() + 2),
        }
    }

    /// Encrypt into `out` (at least `k` long).
    pub fn encrypt(&self, key: &Prepared, input: &[u8], out: &mut [u8]) -> Result<usize> {
        if input.len() > self.max_msg() {
            return Err(len_range());
        }
        let rsa = key.rsa()?;
        let out = head(out, self.k)?;
        let failed = |_| Error::rv(CKR_FUNCTION_FAILED, "RSA encrypt");
        match &self.enc {
            Enc::Pkcs1 => rsa.encrypt(Pad::Pkcs1, input, out).map_err(failed),
            Enc::X509 => {
                let m = left_pad(input, self.k);
                rsa.encrypt(Pad::None, &m, out)
                    .map_err(|_| Error::rv(CKR_DATA_INVALID, "input not below the modulus"))
            }
            Enc::Oaep(p) => rsa
                .oaep(false, p.hash.md(), p.mgf.md(), &p.label, input, out)
                .map_err(failed),
        }
    }

    /// Decrypt; every failure of the padding or the integer answers `bad`, once,
    /// after aws-lc's constant-time check; a wrong length answers `bad_len`.
    pub fn decrypt(
        &self,
        key: &Prepared,
        input: &[u8],
        bad: CK_RV,
        bad_len: CK_RV,
    ) -> Result<Zeroizing<Vec<u8>>> {
        if input.len() != self.k {
            return Err(Error::rv(bad_len, "RSA ciphertext length"));
        }
        let rsa = key.rsa()?;
        if !rsa.is_private() {
            return Err(Error::rv(
                CKR_KEY_TYPE_INCONSISTENT,
                "RSA decryption needs a private key",
            ));
        }
        let mut out = Zeroizing::new(vec![0u8; self.k]);
        let r = match &self.enc {
            Enc::Pkcs1 => rsa.decrypt(Pad::Pkcs1, input, &mut out),
            Enc::X509 => rsa.decrypt(Pad::None, input, &mut out),
            Enc::Oaep(p) => rsa.oaep(true, p.hash.md(), p.mgf.md(), &p.label, input, &mut out),
        };
        match r {
            Ok(n) => {
                out.truncate(n);
                Ok(out)
            }
            Err(_) => Err(Error::rv(bad, "RSA decryption")),
        }
    }
}

/// RSA encryption or decryption (single-part).
pub struct RsaCryptOp {
    key: Arc<Prepared>,
    e: RsaEnc,
    encrypt: bool,
}

impl RsaCryptOp {
    pub fn new(key: Arc<Prepared>, m: &Mechanism, encrypt: bool) -> Result<RsaCryptOp> {
        let e = RsaEnc::new(&key, m, false)?;
        Ok(RsaCryptOp { key, e, encrypt })
    }
}

impl Crypt for RsaCryptOp {
    fn bound(&self, _: Phase, _: usize) -> usize {
        if self.encrypt {
            self.e.k
        } else {
            self.e.max_msg()
        }
    }
    fn exact(&self, _: Phase) -> bool {
        self.encrypt || matches!(self.e.enc, Enc::X509)
    }
    fn multipart(&self) -> bool {
        false
    }
    fn step(&mut self, _: Phase, input: &[u8], out: &mut [u8]) -> Result<usize> {
        if self.encrypt {
            self.e.encrypt(&self.key, input, out)
        } else {
            let m = self.e.decrypt(
                &self.key,
                input,
                CKR_ENCRYPTED_DATA_INVALID,
                CKR_ENCRYPTED_DATA_LEN_RANGE,
            )?;
            put(out, &m)
        }
    }
}

/// `m` left-padded with zeros to `k` bytes (X.509 input; `m` is no longer than `k`),
/// allocated once at its final size.
fn left_pad(m: &[u8], k: usize) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(k.max(m.len())));
    v.resize(k.saturating_sub(m.len()), 0);
    v.extend_from_slice(m);
    v
}
