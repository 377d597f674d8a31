//! The block modes ECB, CBC and CBC-PAD (PKCS#7), single- and multi-part, over any
//! block cipher: the partial block kept between updates, the last block held back
//! for the final when decrypting with padding, the constant-time padding check.
//! AES (aes.rs) and 3DES (des3.rs) supply the cipher.

use super::op::{head, prefix, put, Crypt, Phase};
use cryptoki_sys::*;
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::{MechParam, Mechanism};
use subtle::{ConditionallySelectable, ConstantTimeEq, ConstantTimeLess};
use zeroize::Zeroizing;

/// A block cipher with `B`-byte blocks, keyed for one operation.
pub trait BlockCipher<const B: usize>: Send {
    /// The ECB and CBC mechanisms; any other mechanism handed to
    /// [`BlockMode::new`] is the cipher's CBC-PAD.
    const ECB: CK_MECHANISM_TYPE;
    const CBC: CK_MECHANISM_TYPE;

    /// One block in place.
    fn block(&self, encrypt: bool, b: &mut [u8; B]) -> Result<()>;

    /// CBC over the whole blocks of `input` into `out` (at least as long),
    /// chaining through `iv`. A cipher with a faster CBC of its own overrides this.
    fn cbc(&self, encrypt: bool, input: &[u8], out: &mut [u8], iv: &mut [u8; B]) -> Result<()> {
        for (i, o) in input.chunks_exact(B).zip(out.chunks_exact_mut(B)) {
            let mut b: [u8; B] = i.try_into().unwrap_or([0; B]);
            if encrypt {
                b.iter_mut().zip(iv.iter()).for_each(|(x, v)| *x ^= v);
                self.block(true, &mut b)?;
                *iv = b;
            } else {
                let c = b;
                self.block(false, &mut b)?;
                b.iter_mut().zip(iv.iter()).for_each(|(x, v)| *x ^= v);
                *iv = c;
            }
            o.copy_from_slice(&b);
        }
        Ok(())
    }
}

fn len_range(encrypt: bool) -> Error {
    if encrypt {
        Error::rv(CKR_DATA_LEN_RANGE, "block cipher input is not whole blocks")
    } else {
        Error::rv(
            CKR_ENCRYPTED_DATA_LEN_RANGE,
            "block cipher ciphertext is not whole blocks",
        )
    }
}

/// The flat IV parameter of CBC and CBC-PAD: one block.
fn iv<const B: usize>(m: &Mechanism) -> Result<[u8; B]> {
    let bad = || Error::rv(CKR_MECHANISM_PARAM_INVALID, "the CBC IV must be one block");
    match &m.param {
        MechParam::Flat(b) => b[..].try_into().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// A block mode (ECB, CBC, CBC-PAD) with the partial block kept between updates.
pub struct BlockMode<C, const B: usize> {
    cipher: C,
    encrypt: bool,
    /// None for ECB.
    iv: Option<[u8; B]>,
    pad: bool,
    buf: Zeroizing<Vec<u8>>,
}

impl<C: BlockCipher<B>, const B: usize> BlockMode<C, B> {
    /// The mode `m` names; `cipher` keys the cipher once the parameter is checked.
    pub fn new(m: &Mechanism, encrypt: bool, cipher: impl FnOnce() -> Result<C>) -> Result<Self> {
        let (iv, pad) = match m.ty {
            t if t == C::ECB => (None, false),
            t if t == C::CBC => (Some(iv(m)?), false),
            _ => (Some(iv(m)?), true),
        };
        Ok(BlockMode {
            cipher: cipher()?,
            encrypt,
            iv,
            pad,
            buf: Zeroizing::new(Vec::with_capacity(2 * B)),
        })
    }

    /// Whole blocks of `input` into `out`, chaining through the IV (CBC).
    fn blocks(&mut self, input: &[u8], out: &mut [u8]) -> Result<()> {
        let encrypt = self.encrypt;
        match self.iv.as_mut() {
            Some(iv) => self.cipher.cbc(encrypt, input, out, iv),
            None => {
                for (i, o) in input.chunks_exact(B).zip(out.chunks_exact_mut(B)) {
                    let mut b: [u8; B] = i.try_into().unwrap_or([0; B]);
                    self.cipher.block(encrypt, &mut b)?;
                    o.copy_from_slice(&b);
                }
                Ok(())
            }
        }
    }

    /// Bytes an update of `n` makes available for processing now; decryption with
    /// padding keeps the last whole block back for the final.
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
        // Process the buffered bytes and the first part of the input as one run.
        let (now, later) = input
            .split_at_checked(n - self.buf.len())
            .ok_or(Error::rv(CKR_GENERAL_ERROR, "block mode: block split"))?;
        let mut data = std::mem::take(&mut self.buf);
        data.extend_from_slice(now);
        self.blocks(&data, head(out, n)?)?;
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
            self.blocks(&last, head(out, B)?)?;
            return Ok(B);
        }
        if last.len() != B {
            return Err(len_range(false));
        }
        let mut block = Zeroizing::new([0u8; B]);
        self.blocks(&last, &mut block[..])?;
        let n = unpad(&block)?;
        put(out, prefix(block.as_slice(), n)?)
    }
}

/// PKCS#7 padding check of the last block, without data-dependent branches until the
/// one outcome. Returns the data length of the block.
fn unpad<const B: usize>(block: &[u8; B]) -> Result<usize> {
    let bad = || Error::rv(CKR_ENCRYPTED_DATA_INVALID, "CBC padding");
    let p = *block.last().ok_or_else(bad)?;
    let b8 = B as u8;
    let mut good = !p.ct_eq(&0) & !b8.ct_lt(&p);
    for (i, b) in block.iter().enumerate() {
        // Bytes at positions >= B - p must equal p.
        let in_pad = !(i as u8).ct_lt(&(b8.wrapping_sub(p)));
        good &= !in_pad | b.ct_eq(&p);
    }
    let mut n = 0u8;
    n.conditional_assign(&(b8.wrapping_sub(p)), good);
    if bool::from(good) {
        Ok(n as usize)
    } else {
        Err(bad())
    }
}

impl<C: BlockCipher<B>, const B: usize> Crypt for BlockMode<C, B> {
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
                    .ok_or(Error::rv(CKR_GENERAL_ERROR, "block mode: output split"))?;
                let m = self.finish(rest)?;
                Ok(n + m)
            }
        }
    }
}
