//! 3DES (legacy): CKM_DES3_ECB, CKM_DES3_CBC, CKM_DES3_CBC_PAD, single- and
//! multi-part, with two- (CKK_DES2) and three-key (CKK_DES3) keys. The key schedules
//! are made per operation: 3DES is kept for old applications, not for speed.

use super::lc::Des3Key;
use super::op::{head, prefix, put, Crypt, Phase};
use super::prepared::Prepared;
use cryptoki_sys::*;
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::{MechParam, Mechanism};
use subtle::{ConditionallySelectable, ConstantTimeEq, ConstantTimeLess};
use zeroize::Zeroizing;

const B: usize = 8;

fn len_range(encrypt: bool) -> Error {
    if encrypt {
        Error::rv(CKR_DATA_LEN_RANGE, "3DES input is not whole blocks")
    } else {
        Error::rv(
            CKR_ENCRYPTED_DATA_LEN_RANGE,
            "3DES ciphertext is not whole blocks",
        )
    }
}

fn iv8(m: &Mechanism) -> Result<[u8; B]> {
    let bad = || Error::rv(CKR_MECHANISM_PARAM_INVALID, "3DES-CBC needs an 8-byte IV");
    match &m.param {
        MechParam::Flat(b) => b[..].try_into().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// A 3DES block mode with the partial block kept between updates.
pub struct Des3Op {
    key: Des3Key,
    encrypt: bool,
    /// None for ECB.
    iv: Option<[u8; B]>,
    pad: bool,
    buf: Zeroizing<Vec<u8>>,
}

impl Des3Op {
    pub fn new(key: &Prepared, m: &Mechanism, encrypt: bool) -> Result<Des3Op> {
        let (iv, pad) = match m.ty {
            CKM_DES3_ECB => (None, false),
            CKM_DES3_CBC => (Some(iv8(m)?), false),
            _ => (Some(iv8(m)?), true),
        };
        let key = Des3Key::new(key.secret_value()?)
            .map_err(|_| Error::rv(CKR_KEY_TYPE_INCONSISTENT, "3DES key length"))?;
        Ok(Des3Op {
            key,
            encrypt,
            iv,
            pad,
            buf: Zeroizing::new(Vec::with_capacity(2 * B)),
        })
    }

    /// Whole blocks of `input` into `out` (same length), chaining through the IV.
    fn blocks(&mut self, input: &[u8], out: &mut [u8]) {
        for (i, o) in input.chunks_exact(B).zip(out.chunks_exact_mut(B)) {
            let mut b: [u8; B] = i.try_into().unwrap_or([0; B]);
            match (self.iv.as_mut(), self.encrypt) {
                (None, e) => self.key.block(e, &mut b),
                (Some(iv), true) => {
                    b.iter_mut().zip(iv.iter()).for_each(|(x, v)| *x ^= v);
                    self.key.block(true, &mut b);
                    *iv = b;
                }
                (Some(iv), false) => {
                    let c = b;
                    self.key.block(false, &mut b);
                    b.iter_mut().zip(iv.iter()).for_each(|(x, v)| *x ^= v);
                    *iv = c;
                }
            }
            o.copy_from_slice(&b);
        }
    }

    /// Bytes an update of `n` processes now; decryption with padding keeps the last
    /// whole block back for the final.
    fn ready(&self, n: usize) -> usize {
        let total = self.buf.len() + n;
        let whole = total - total % B;
        if self.pad && !self.encrypt && whole == total {
            whole.saturating_sub(B)
        } else {
            whole
        }
    }

    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let n = self.ready(input.len());
        if n == 0 {
            self.buf.extend_from_slice(input);
            return Ok(0);
        }
        let (now, later) = input
            .split_at_checked(n - self.buf.len())
            .ok_or(Error::rv(CKR_GENERAL_ERROR, "3DES: block split"))?;
        let mut data = std::mem::take(&mut self.buf);
        data.extend_from_slice(now);
        let out = head(out, n)?;
        self.blocks(&data, out);
        data.clear();
        data.extend_from_slice(later);
        self.buf = data;
        Ok(n)
    }

    fn finish(&mut self, out: &mut [u8]) -> Result<usize> {
        let mut last = std::mem::take(&mut self.buf);
        if !self.pad {
            return if last.is_empty() {
                Ok(0)
            } else {
                Err(len_range(self.encrypt))
            };
        }
        if self.encrypt {
            let p = B - last.len();
            last.resize(B, p as u8);
            let out = head(out, B)?;
            self.blocks(&last, out);
            return Ok(B);
        }
        if last.len() != B {
            return Err(len_range(false));
        }
        let mut block = Zeroizing::new([0u8; B]);
        self.blocks(&last, &mut block[..]);
        let n = unpad(&block)?;
        put(out, prefix(block.as_slice(), n)?)
    }
}

/// PKCS#7 padding check of the last block without data-dependent branches until
/// the one outcome; the data length of the block.
fn unpad(block: &[u8; B]) -> Result<usize> {
    let p = block[B - 1];
    let mut good = !p.ct_eq(&0) & !(B as u8).ct_lt(&p);
    for (i, b) in block.iter().enumerate() {
        let in_pad = !(i as u8).ct_lt(&((B as u8).wrapping_sub(p)));
        good &= !in_pad | b.ct_eq(&p);
    }
    let mut n = 0u8;
    n.conditional_assign(&((B as u8).wrapping_sub(p)), good);
    if bool::from(good) {
        Ok(n as usize)
    } else {
        Err(Error::rv(CKR_ENCRYPTED_DATA_INVALID, "CBC padding"))
    }
}

impl Crypt for Des3Op {
    fn bound(&self, phase: Phase, n: usize) -> usize {
        match phase {
            Phase::Single if self.pad && self.encrypt => (n / B + 1) * B,
            Phase::Single => n,
            Phase::Update => self.ready(n),
            Phase::Final if self.pad => B,
            Phase::Final => 0,
        }
    }
    fn exact(&self, phase: Phase) -> bool {
        !(self.pad && !self.encrypt && phase != Phase::Update)
    }
    fn step(&mut self, phase: Phase, input: &[u8], out: &mut [u8]) -> Result<usize> {
        match phase {
            Phase::Update => self.update(input, out),
            Phase::Final => self.finish(out),
            Phase::Single => {
                let whole = input.len().is_multiple_of(B);
                if (!self.pad && !whole)
                    || (self.pad && !self.encrypt && (input.is_empty() || !whole))
                {
                    return Err(len_range(self.encrypt));
                }
                let n = self.update(input, out)?;
                let rest = out
                    .get_mut(n..)
                    .ok_or(Error::rv(CKR_GENERAL_ERROR, "3DES: output split"))?;
                let m = self.finish(rest)?;
                Ok(n + m)
            }
        }
    }
}
