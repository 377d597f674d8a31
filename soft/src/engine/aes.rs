//! AES: the cipher of ECB, CBC, CBC-PAD (the modes are in block.rs), CTR, GCM
//! (single- and multi-part) and CMAC, over the key schedules of a prepared key
//! (aws-lc's AES-NI / VAES code).

use super::block::BlockCipher;
use super::lc::{CtrState, Gcm};
use super::op::{head, prefix, put, sig_check, Crypt, Mac, Phase};
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

/// AES for the block modes (block.rs), over the prepared key's schedules.
pub struct AesCipher(pub Arc<Prepared>);

impl BlockCipher<16> for AesCipher {
    const ECB: CK_MECHANISM_TYPE = CKM_AES_ECB;
    const CBC: CK_MECHANISM_TYPE = CKM_AES_CBC;

    fn block(&self, encrypt: bool, b: &mut [u8; 16]) -> Result<()> {
        let k = self.0.aes()?;
        if encrypt {
            k.encrypt_block(b)
        } else {
            k.decrypt_block(b)
        }
        Ok(())
    }

    /// aws-lc's CBC: one call for the whole run.
    fn cbc(&self, encrypt: bool, input: &[u8], out: &mut [u8], iv: &mut [u8; 16]) -> Result<()> {
        self.0.aes()?.cbc(encrypt, input, out, iv);
        Ok(())
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
