//! General-length MACs (`CKM_SHA*_HMAC_GENERAL`, `CKM_AES_CMAC_GENERAL`) composed over
//! the library's full-length MAC where it lacks them (SoftHSM2 2.6 offers neither): the
//! backend computes the full MAC, it is truncated here. A verification computes the full
//! MAC too (C_Sign on the backend: the key must be able to sign there, as every key
//! kmsbridge makes for MACs can) and compares its first `ulMacLen` bytes in constant
//! time. The parameter is judged as the software instance judges it: 1..=full length.

use super::kinds;
use super::op::NodeOp;
use super::pool::Pool;
use crate::backend::ObjectId;
use crate::error::{Error, Result};
use crate::op::{Operation, Signing, Verifying};
use crate::{MechParam, Mechanism, Output};
use cryptoki_sys::*;
use std::sync::Arc;

/// The full-length mechanism behind a general-length one, and its MAC length.
fn full_of(general: CK_MECHANISM_TYPE) -> Option<(CK_MECHANISM_TYPE, usize)> {
    Some(match general {
        CKM_SHA_1_HMAC_GENERAL => (CKM_SHA_1_HMAC, 20),
        CKM_SHA224_HMAC_GENERAL => (CKM_SHA224_HMAC, 28),
        CKM_SHA256_HMAC_GENERAL => (CKM_SHA256_HMAC, 32),
        CKM_SHA384_HMAC_GENERAL => (CKM_SHA384_HMAC, 48),
        CKM_SHA512_HMAC_GENERAL => (CKM_SHA512_HMAC, 64),
        CKM_AES_CMAC_GENERAL => (CKM_AES_CMAC, 16),
        _ => return None,
    })
}

const GENERAL: [CK_MECHANISM_TYPE; 6] = [
    CKM_SHA_1_HMAC_GENERAL,
    CKM_SHA224_HMAC_GENERAL,
    CKM_SHA256_HMAC_GENERAL,
    CKM_SHA384_HMAC_GENERAL,
    CKM_SHA512_HMAC_GENERAL,
    CKM_AES_CMAC_GENERAL,
];

/// Lists each general-length MAC the library lacks but whose full-length MAC it offers
/// (sign and verify only); answers the ones composed here.
pub fn compose(mechs: &mut Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)>) -> Vec<CK_MECHANISM_TYPE> {
    let mut composed = Vec::new();
    for g in GENERAL {
        let Some((full, _)) = full_of(g) else {
            continue;
        };
        if mechs.iter().any(|(t, _)| *t == g) {
            continue;
        }
        if let Some((_, info)) = mechs.iter().find(|(t, _)| *t == full) {
            let info = CK_MECHANISM_INFO {
                flags: info.flags & (CKF_SIGN | CKF_VERIFY | CKF_HW),
                ..*info
            };
            mechs.push((g, info));
            composed.push(g);
        }
    }
    mechs.sort_by_key(|(t, _)| *t);
    composed
}

/// `ulMacLen` of general-length mechanism `m` (CK_MAC_GENERAL_PARAMS), 1..=`max`.
fn mac_len(m: &Mechanism, max: usize) -> Result<usize> {
    let bad = || Error::rv(CKR_MECHANISM_PARAM_INVALID, "CK_MAC_GENERAL_PARAMS");
    let MechParam::Flat(p) = &m.param else {
        return Err(bad());
    };
    let n = p[..]
        .try_into()
        .map(CK_ULONG::from_ne_bytes)
        .map_err(|_| bad())?;
    match usize::try_from(n) {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// A general-length MAC over the backend's full-length one.
pub struct Truncated {
    op: NodeOp<kinds::Sign>,
    len: usize,
    full: usize,
}

/// Begins general-length MAC `m` on `key` (sign or verify alike).
pub fn begin(pool: &Arc<Pool>, m: &Mechanism, key: ObjectId) -> Result<Truncated> {
    let (full_mech, full) =
        full_of(m.ty).ok_or(Error::rv(CKR_MECHANISM_INVALID, "not a general-length MAC"))?;
    let len = mac_len(m, full)?;
    let op = NodeOp::begin(pool.get()?, &Mechanism::simple(full_mech), key, None)?;
    Ok(Truncated { op, len, full })
}

impl Truncated {
    /// The full MAC of the data given so far (and `data`, single-part), truncated.
    fn mac(&mut self, data: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut full = vec![0u8; self.full];
        let n = match data {
            Some(d) => self.op.run(d, Some(&mut full))?,
            None => self.op.finish(Some(&mut full))?,
        };
        if n < self.len {
            return Err(Error::rv(
                CKR_GENERAL_ERROR,
                "backend MAC shorter than asked",
            ));
        }
        full.truncate(self.len);
        Ok(full)
    }

    fn put(&mut self, data: Option<&[u8]>, out: Output) -> Result<usize> {
        match out {
            None => Ok(self.len),
            Some(b) if b.len() < self.len => Err(Error::BufferTooSmall(self.len)),
            Some(b) => {
                let mac = self.mac(data)?;
                let dst = b
                    .get_mut(..self.len)
                    .ok_or(Error::BufferTooSmall(self.len))?;
                dst.copy_from_slice(&mac);
                Ok(self.len)
            }
        }
    }

    fn check(&mut self, data: Option<&[u8]>, signature: &[u8]) -> Result<()> {
        if signature.len() != self.len {
            return Err(Error::rv(CKR_SIGNATURE_LEN_RANGE, "MAC of another length"));
        }
        let mac = self.mac(data)?;
        let diff = mac.iter().zip(signature).fold(0u8, |d, (a, b)| d | (a ^ b));
        if diff == 0 {
            Ok(())
        } else {
            Err(Error::rv(CKR_SIGNATURE_INVALID, "MAC does not match"))
        }
    }
}

impl Operation for Truncated {
    fn is_done(&self) -> bool {
        self.op.is_done()
    }
}

impl Signing for Truncated {
    fn run(&mut self, data: &[u8], out: Output) -> Result<usize> {
        self.put(Some(data), out)
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        Signing::update(&mut self.op, data)
    }

    fn finish(&mut self, out: Output) -> Result<usize> {
        self.put(None, out)
    }
}

impl Verifying for Truncated {
    fn verify(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        self.check(Some(data), signature)
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        Signing::update(&mut self.op, data)
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        self.check(None, signature)
    }
}
