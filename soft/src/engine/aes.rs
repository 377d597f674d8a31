//! AES: ECB, CBC, CBC-PAD, CTR, GCM (single- and multi-part) and CMAC, over the
//! key schedules of a prepared key (aws-lc's AES-NI / VAES code).

use super::lc::{AesKey, CtrState, Gcm};
use super::op::{head, prefix, put, sig_check, Crypt, Mac, Phase};
use super::prepared::Prepared;
use aws_lc_rs::constant_time;
use cryptoki_sys::*;
use kmsbridge_bridge::error::{Error, Result};
use kmsbridge_bridge::{MechParam, Mechanism};
use std::sync::Arc;
use subtle::{ConditionallySelectable, ConstantTimeEq, ConstantTimeLess};
use zeroize::Zeroizing;

fn param_invalid(what: &'static str) -> Error {
    Error::rv(CKR_MECHANISM_PARAM_INVALID, what)
}

fn len_range(encrypt: bool) -> Error {
    if encrypt {
        Error::rv(CKR_DATA_LEN_RANGE, "AES input is not whole blocks")
    } else {
        Error::rv(
            CKR_ENCRYPTED_DATA_LEN_RANGE,
            "AES ciphertext is not whole blocks",
        )
    }
}

/// The flat IV parameter of CBC and CBC-PAD.
fn iv16(m: &Mechanism) -> Result<[u8; 16]> {
    match &m.param {
        MechParam::Flat(b) => b[..]
            .try_into()
            .map_err(|_| param_invalid("AES IV must be 16 bytes")),
        _ => Err(param_invalid("AES-CBC needs an IV")),
    }
}

/// A block mode (ECB, CBC, CBC-PAD) with the partial block kept between updates.
pub struct BlockOp {
    key: Arc<Prepared>,
    encrypt: bool,
    /// None for ECB.
    iv: Option<[u8; 16]>,
    pad: bool,
    buf: Zeroizing<Vec<u8>>,
}

impl BlockOp {
    pub fn new(key: Arc<Prepared>, m: &Mechanism, encrypt: bool) -> Result<BlockOp> {
        let (iv, pad) = match m.ty {
            CKM_AES_ECB => (None, false),
            CKM_AES_CBC => (Some(iv16(m)?), false),
            _ => (Some(iv16(m)?), true),
        };
        Ok(BlockOp {
            key,
            encrypt,
            iv,
            pad,
            buf: Zeroizing::new(Vec::with_capacity(32)),
        })
    }

    fn aes(&self) -> Result<&AesKey> {
        self.key.aes()
    }

    /// Blocks in `input`, in place from `input` into `out`.
    fn blocks(&mut self, input: &[u8], out: &mut [u8]) -> Result<()> {
        let encrypt = self.encrypt;
        let mut iv = self.iv;
        let k = self.aes()?;
        match iv.as_mut() {
            Some(iv) => k.cbc(encrypt, input, out, iv),
            None => {
                for (i, o) in input.chunks_exact(16).zip(out.chunks_exact_mut(16)) {
                    let mut b: [u8; 16] = i.try_into().unwrap_or([0; 16]);
                    if encrypt {
                        k.encrypt_block(&mut b)
                    } else {
                        k.decrypt_block(&mut b)
                    }
                    o.copy_from_slice(&b);
                }
            }
        }
        self.iv = iv;
        Ok(())
    }

    /// Bytes an update of `n` makes available for processing now; decryption with
    /// padding keeps the last whole block back for the final.
    fn ready(&self, n: usize) -> usize {
        let total = self.buf.len() + n;
        let whole = total - total % 16;
        if self.pad && !self.encrypt && whole == total {
            whole.saturating_sub(16)
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
            .ok_or(Error::rv(CKR_GENERAL_ERROR, "AES: block split"))?;
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
            let p = 16 - last.len();
            last.resize(16, p as u8);
            self.blocks(&last, head(out, 16)?)?;
            return Ok(16);
        }
        if last.len() != 16 {
            return Err(len_range(false));
        }
        let mut block = Zeroizing::new([0u8; 16]);
        self.blocks(&last, &mut block[..])?;
        let n = unpad(&block)?;
        put(out, prefix(block.as_slice(), n)?)
    }
}

/// PKCS#7 padding check of the last block, without data-dependent branches until the
/// one outcome. Returns the data length of the block.
fn unpad(block: &[u8; 16]) -> Result<usize> {
    let p = block[15];
    let mut good = !p.ct_eq(&0) & !16u8.ct_lt(&p);
    for (i, b) in block.iter().enumerate() {
        // Bytes at positions >= 16 - p must equal p.
        let in_pad = !(i as u8).ct_lt(&(16u8.wrapping_sub(p)));
        good &= !in_pad | b.ct_eq(&p);
    }
    let mut n = 0u8;
    n.conditional_assign(&(16u8.wrapping_sub(p)), good);
    if bool::from(good) {
        Ok(n as usize)
    } else {
        Err(Error::rv(CKR_ENCRYPTED_DATA_INVALID, "CBC padding"))
    }
}

impl Crypt for BlockOp {
    fn bound(&self, phase: Phase, n: usize) -> usize {
        match phase {
            Phase::Single if self.pad && self.encrypt => (n / 16 + 1) * 16,
            Phase::Single => n,
            Phase::Update => self.ready(n),
            Phase::Final if self.pad => 16,
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
                if !self.pad && !input.len().is_multiple_of(16) {
                    return Err(len_range(self.encrypt));
                }
                if self.pad
                    && !self.encrypt
                    && (input.is_empty() || !input.len().is_multiple_of(16))
                {
                    return Err(len_range(false));
                }
                let n = self.update(input, out)?;
                let rest = out
                    .get_mut(n..)
                    .ok_or(Error::rv(CKR_GENERAL_ERROR, "AES: output split"))?;
                let m = self.finish(rest)?;
                Ok(n + m)
            }
        }
    }
}

/// CTR with the counter in the low `bits` bits of the counter block.
pub struct CtrOp {
    key: Arc<Prepared>,
    st: CtrState,
    /// Bytes left before the counter would wrap (None: more than anyone will use).
    left: Option<u128>,
}

impl CtrOp {
    pub fn new(key: Arc<Prepared>, m: &Mechanism) -> Result<CtrOp> {
        const UL: usize = std::mem::size_of::<CK_ULONG>();
        let MechParam::Flat(p) = &m.param else {
            return Err(param_invalid("AES-CTR needs CK_AES_CTR_PARAMS"));
        };
        if p.len() != UL + 16 {
            return Err(param_invalid("CK_AES_CTR_PARAMS size"));
        }
        let Some((bits, cb)) = p.split_first_chunk::<UL>() else {
            return Err(param_invalid("CK_AES_CTR_PARAMS size"));
        };
        let bits = CK_ULONG::from_ne_bytes(*bits);
        if bits == 0 || bits > 128 {
            return Err(param_invalid("ulCounterBits out of range"));
        }
        let cb: [u8; 16] = cb.try_into().unwrap_or([0; 16]);
        let left = if bits >= 120 {
            None
        } else {
            let counter = u128::from_be_bytes(cb) & ((1u128 << bits) - 1);
            Some(((1u128 << bits) - counter) * 16)
        };
        Ok(CtrOp {
            key,
            st: CtrState::new(cb),
            left,
        })
    }
}

impl Crypt for CtrOp {
    fn bound(&self, phase: Phase, n: usize) -> usize {
        if phase == Phase::Final {
            0
        } else {
            n
        }
    }
    fn step(&mut self, _: Phase, input: &[u8], out: &mut [u8]) -> Result<usize> {
        if let Some(left) = self.left.as_mut() {
            let n = input.len() as u128;
            if n > *left {
                return Err(Error::rv(CKR_DATA_LEN_RANGE, "CTR counter exhausted"));
            }
            *left -= n;
        }
        self.key
            .aes()?
            .ctr(input, head(out, input.len())?, &mut self.st);
        Ok(input.len())
    }
}

/// GCM: single-part directly; multi-part collects the input and runs at the final
/// (decryption must check the tag before any plaintext is released).
pub struct GcmOp {
    key: Arc<Prepared>,
    own: Option<Gcm>,
    encrypt: bool,
    iv: Vec<u8>,
    aad: Vec<u8>,
    tag: usize,
    data: Zeroizing<Vec<u8>>,
}

impl GcmOp {
    pub fn new(key: Arc<Prepared>, m: &Mechanism, encrypt: bool) -> Result<GcmOp> {
        let MechParam::Gcm {
            iv, aad, tag_bits, ..
        } = &m.param
        else {
            return Err(param_invalid("AES-GCM needs CK_GCM_PARAMS"));
        };
        if !kmsbridge_bridge::mech::gcm_tag_bits_ok(*tag_bits) {
            return Err(param_invalid("GCM tag length"));
        }
        if iv.is_empty() || iv.len() > 256 {
            return Err(param_invalid("GCM IV length"));
        }
        let tag = (*tag_bits / 8) as usize;
        let own = if tag == 16 {
            None
        } else {
            let raw = key.secret_value()?;
            Some(Gcm::new(raw, tag).map_err(|_| param_invalid("GCM tag length"))?)
        };
        Ok(GcmOp {
            key,
            own,
            encrypt,
            iv: iv.clone(),
            aad: aad.clone(),
            tag,
            data: Zeroizing::new(Vec::new()),
        })
    }

    fn gcm(&self) -> Result<&Gcm> {
        match &self.own {
            Some(g) => Ok(g),
            None => self.key.gcm(),
        }
    }

    fn len(&self, n: usize) -> usize {
        if self.encrypt {
            n + self.tag
        } else {
            n.saturating_sub(self.tag)
        }
    }

    fn run(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let g = self.gcm()?;
        if self.encrypt {
            g.seal(&self.iv, &self.aad, input, out)
                .map_err(|_| Error::rv(CKR_FUNCTION_FAILED, "GCM seal"))
        } else {
            if input.len() < self.tag {
                return Err(Error::rv(
                    CKR_ENCRYPTED_DATA_LEN_RANGE,
                    "GCM input shorter than the tag",
                ));
            }
            g.open(&self.iv, &self.aad, input, out)
                .map_err(|_| Error::rv(CKR_ENCRYPTED_DATA_INVALID, "GCM tag check"))
        }
    }
}

impl Crypt for GcmOp {
    fn bound(&self, phase: Phase, n: usize) -> usize {
        match phase {
            Phase::Single => self.len(n),
            Phase::Update => 0,
            Phase::Final => self.len(self.data.len()),
        }
    }
    fn step(&mut self, phase: Phase, input: &[u8], out: &mut [u8]) -> Result<usize> {
        match phase {
            Phase::Single => self.run(input, out),
            Phase::Update => {
                self.data.extend_from_slice(input);
                Ok(0)
            }
            Phase::Final => {
                let data = std::mem::take(&mut self.data);
                self.run(&data, out)
            }
        }
    }
}

/// AES-CMAC (RFC 4493), full length or `_GENERAL`.
pub struct CmacOp {
    key: Arc<Prepared>,
    state: [u8; 16],
    /// The last block seen, held back until the end (it is treated differently).
    last: Zeroizing<Vec<u8>>,
    len: usize,
}

impl CmacOp {
    pub fn new(key: Arc<Prepared>, m: &Mechanism) -> Result<CmacOp> {
        let len = if m.ty == CKM_AES_CMAC_GENERAL {
            let MechParam::Flat(p) = &m.param else {
                return Err(param_invalid("CMAC_GENERAL needs a length"));
            };
            let n = p[..]
                .try_into()
                .map(CK_ULONG::from_ne_bytes)
                .map_err(|_| param_invalid("CK_MAC_GENERAL_PARAMS size"))?;
            if n == 0 || n > 16 {
                return Err(param_invalid("CMAC length out of range"));
            }
            n as usize
        } else {
            16
        };
        Ok(CmacOp {
            key,
            state: [0; 16],
            last: Zeroizing::new(Vec::with_capacity(16)),
            len,
        })
    }

    fn mac(&mut self) -> Result<[u8; 16]> {
        let p = self.key.clone();
        let k = p.aes()?;
        let (k1, k2) = p.cmac_subkeys()?;
        let mut block = self.state;
        // The last block: whole (xor K1), or padded with 0x80 0x00.. (xor K2).
        let (m, sub) = match <[u8; 16]>::try_from(self.last.as_slice()) {
            Ok(whole) => (whole, k1),
            Err(_) => {
                let mut m = [0u8; 16];
                let tail = self.last.iter().copied().chain([0x80]);
                m.iter_mut().zip(tail).for_each(|(d, s)| *d = s);
                (m, k2)
            }
        };
        for ((b, m), s) in block.iter_mut().zip(m).zip(sub) {
            *b ^= m ^ s;
        }
        k.encrypt_block(&mut block);
        self.state = [0; 16];
        self.last.clear();
        Ok(block)
    }
}

impl Mac for CmacOp {
    fn len(&self) -> usize {
        self.len
    }
    fn absorb(&mut self, mut data: &[u8]) -> Result<()> {
        let p = self.key.clone();
        let k = p.aes()?;
        while !data.is_empty() {
            if self.last.len() == 16 {
                for (s, l) in self.state.iter_mut().zip(self.last.iter()) {
                    *s ^= l;
                }
                k.encrypt_block(&mut self.state);
                self.last.clear();
            }
            let take = (16 - self.last.len()).min(data.len());
            let (now, rest) = data.split_at(take);
            self.last.extend_from_slice(now);
            data = rest;
        }
        Ok(())
    }
    fn sign(&mut self, out: &mut [u8]) -> Result<usize> {
        let t = self.mac()?;
        put(out, prefix(&t, self.len)?)
    }
    fn verify(&mut self, sig: &[u8]) -> Result<()> {
        let t = self.mac()?;
        if sig.len() != self.len {
            return Err(Error::rv(CKR_SIGNATURE_LEN_RANGE, "CMAC length"));
        }
        sig_check(constant_time::verify_slices_are_equal(prefix(&t, self.len)?, sig).is_ok())
    }
}
