//! The worker: one operation at a time on its own session, with its inputs made once,
//! and the check that an operation works before it is timed.

use cryptoki::context::Pkcs11;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::session::Session;
use cryptoki::slot::Slot;

use crate::keys::Keys;
use crate::op::Op;

/// SHA-256 DigestInfo prefix (RFC 8017 §9.2 note 1) followed by a fixed "hash".
fn digest_info() -> Vec<u8> {
    let mut v = vec![
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    v.extend((0u8..32).map(|i| i.wrapping_mul(7).wrapping_add(1)));
    v
}

pub struct Worker {
    op: Op,
    keys: Option<Keys>,
    data_1k: Vec<u8>,
    hash: Vec<u8>,
    di: Vec<u8>,
    iv: [u8; 12],
    counter: u64,
    rnd: [u8; 32],
    slot: Slot,
}

impl Worker {
    pub fn new(op: Op, keys: Option<Keys>, slot: Slot, thread: usize) -> Self {
        let mut iv = [0u8; 12];
        iv[0] = thread as u8;
        Worker {
            op,
            keys,
            data_1k: (0..1024u32).map(|i| (i * 31 + 7) as u8).collect(),
            hash: (0..32u8)
                .map(|i| i.wrapping_mul(13).wrapping_add(5))
                .collect(),
            di: digest_info(),
            iv,
            counter: 0,
            rnd: [0u8; 32],
            slot,
        }
    }

    /// A sign operation's mechanism, input and signature length; None for the others.
    fn sign_input(&self) -> Option<(Mechanism<'static>, &[u8], usize)> {
        match self.op {
            Op::RsaSign => Some((Mechanism::RsaPkcs, &self.di, 256)),
            Op::EcdsaSign => Some((Mechanism::Ecdsa, &self.hash, 64)),
            Op::Hmac => Some((Mechanism::Sha256Hmac, &self.data_1k, 32)),
            _ => None,
        }
    }

    /// One operation. Returns the output length (kept so the work is not dead).
    pub fn run(&mut self, p: &Pkcs11, s: &Session) -> cryptoki::error::Result<usize> {
        match self.op {
            Op::AesGcm => {
                // A fresh IV for every encryption (thread byte + counter).
                self.counter += 1;
                self.iv[4..].copy_from_slice(&self.counter.to_be_bytes());
                let mut iv = self.iv;
                let params = GcmParams::new(&mut iv, &[], 128.into())?;
                let k = self.keys.expect("aes key").key;
                Ok(s.encrypt(&Mechanism::AesGcm(params), k, &self.data_1k)?
                    .len())
            }
            Op::AesCbc => {
                // A fresh IV for every encryption, as for GCM.
                self.counter += 1;
                let mut iv = [0u8; 16];
                iv[..12].copy_from_slice(&self.iv);
                iv[8..].copy_from_slice(&self.counter.to_be_bytes());
                let k = self.keys.expect("aes key").key;
                Ok(s.encrypt(&Mechanism::AesCbc(iv), k, &self.data_1k)?.len())
            }
            Op::RsaSign | Op::EcdsaSign | Op::Hmac => {
                let (mech, data, _) = self.sign_input().expect("a sign op");
                Ok(s.sign(&mech, self.keys.expect("signing key").key, data)?
                    .len())
            }
            Op::Random => {
                s.generate_random_slice(&mut self.rnd)?;
                Ok(self.rnd.len())
            }
            Op::Session => {
                let s2 = p.open_ro_session(self.slot)?;
                s2.close()?;
                Ok(0)
            }
        }
    }

    /// One operation whose result is checked, before any timing: a benchmark of
    /// an operation that does not work is worthless.
    pub fn check(&mut self, p: &Pkcs11, s: &Session) -> Result<(), String> {
        let e = |what: &str| {
            let w = what.to_string();
            move |err: cryptoki::error::Error| format!("{w}: {err}")
        };
        match self.op {
            Op::AesGcm => {
                let k = self.keys.expect("aes key").key;
                let mut iv = [0xa5u8; 12];
                let ct = s
                    .encrypt(
                        &Mechanism::AesGcm(
                            GcmParams::new(&mut iv, &[], 128.into()).map_err(e("GcmParams"))?,
                        ),
                        k,
                        &self.data_1k,
                    )
                    .map_err(e("AES-GCM encrypt"))?;
                if ct.len() != self.data_1k.len() + 16 {
                    return Err(format!("AES-GCM: ciphertext length {} != 1040", ct.len()));
                }
                let mut iv = [0xa5u8; 12];
                let pt = s
                    .decrypt(
                        &Mechanism::AesGcm(
                            GcmParams::new(&mut iv, &[], 128.into()).map_err(e("GcmParams"))?,
                        ),
                        k,
                        &ct,
                    )
                    .map_err(e("AES-GCM decrypt"))?;
                if pt != self.data_1k {
                    return Err("AES-GCM: decrypt(encrypt(x)) != x".into());
                }
            }
            Op::AesCbc => {
                let k = self.keys.expect("aes key").key;
                let iv = [0x5au8; 16];
                let ct = s
                    .encrypt(&Mechanism::AesCbc(iv), k, &self.data_1k)
                    .map_err(e("AES-CBC encrypt"))?;
                if ct.len() != self.data_1k.len() || ct == self.data_1k {
                    return Err(format!("AES-CBC: bad ciphertext ({} bytes)", ct.len()));
                }
                // CBC: a change in block 0 changes every later block.
                let mut other = self.data_1k.clone();
                other[0] ^= 1;
                let ct2 = s
                    .encrypt(&Mechanism::AesCbc(iv), k, &other)
                    .map_err(e("AES-CBC encrypt"))?;
                if ct2[1008..] == ct[1008..] {
                    return Err("AES-CBC: the last block ignores the first (not CBC)".into());
                }
                let pt = s
                    .decrypt(&Mechanism::AesCbc(iv), k, &ct)
                    .map_err(e("AES-CBC decrypt"))?;
                if pt != self.data_1k {
                    return Err("AES-CBC: decrypt(encrypt(x)) != x".into());
                }
            }
            Op::RsaSign | Op::EcdsaSign | Op::Hmac => {
                let (mech, data, want_len) = self.sign_input().expect("a sign op");
                let k = self.keys.expect("key");
                let sig = s.sign(&mech, k.key, data).map_err(e("sign"))?;
                if sig.len() != want_len {
                    return Err(format!("signature length {} != {want_len}", sig.len()));
                }
                s.verify(&mech, k.check, data, &sig)
                    .map_err(e("verify of own signature"))?;
                let mut bad = sig.clone();
                bad[want_len / 2] ^= 1;
                if s.verify(&mech, k.check, data, &bad).is_ok() {
                    return Err("a corrupted signature verified".into());
                }
            }
            Op::Random => {
                let mut a = [0u8; 32];
                let mut b = [0u8; 32];
                s.generate_random_slice(&mut a)
                    .map_err(e("C_GenerateRandom"))?;
                s.generate_random_slice(&mut b)
                    .map_err(e("C_GenerateRandom"))?;
                if a == b || a == [0u8; 32] {
                    return Err("C_GenerateRandom returned repeated/zero output".into());
                }
            }
            Op::Session => {
                self.run(p, s).map_err(e("open+close session"))?;
            }
        }
        Ok(())
    }
}
