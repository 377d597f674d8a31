//! AES block primitives: expanded keys, single blocks, CBC and CTR.

use super::{Fail, LcResult};
use aws_lc_sys as ffi;
use std::os::raw::c_int;
use zeroize::Zeroize;

/// An expanded AES key (encryption and decryption schedules), zeroized on drop.
pub struct AesKey {
    enc: ffi::AES_KEY,
    dec: ffi::AES_KEY,
}

impl Drop for AesKey {
    fn drop(&mut self) {
        self.enc.rd_key.zeroize();
        self.dec.rd_key.zeroize();
    }
}

impl AesKey {
    /// CMAC subkeys K1, K2 (RFC 4493 2.3).
    pub fn cmac_subkeys(&self) -> ([u8; 16], [u8; 16]) {
        fn dbl(b: &[u8; 16]) -> [u8; 16] {
            let v = u128::from_be_bytes(*b);
            let r = (v << 1) ^ (0x87 * (v >> 127));
            r.to_be_bytes()
        }
        let mut l = [0u8; 16];
        self.encrypt_block(&mut l);
        let k1 = dbl(&l);
        let k2 = dbl(&k1);
        l.fill(0);
        (k1, k2)
    }

    pub fn new(key: &[u8]) -> LcResult<AesKey> {
        if !matches!(key.len(), 16 | 24 | 32) {
            return Err(Fail);
        }
        // SAFETY: AES_KEY is plain data (round keys and a count); all-zero is valid.
        let zero: ffi::AES_KEY = unsafe { std::mem::zeroed() };
        let mut k = AesKey {
            enc: zero,
            dec: zero,
        };
        let bits = (key.len() * 8) as std::os::raw::c_uint;
        // SAFETY: `key` holds bits/8 bytes; the schedules are writable.
        unsafe {
            if ffi::AES_set_encrypt_key(key.as_ptr(), bits, &mut k.enc) != 0
                || ffi::AES_set_decrypt_key(key.as_ptr(), bits, &mut k.dec) != 0
            {
                return Err(Fail);
            }
        }
        Ok(k)
    }

    pub fn encrypt_block(&self, block: &mut [u8; 16]) {
        let input = *block;
        // SAFETY: both are 16-byte blocks; the schedule is live.
        unsafe { ffi::AES_encrypt(input.as_ptr(), block.as_mut_ptr(), &self.enc) }
    }

    pub fn decrypt_block(&self, block: &mut [u8; 16]) {
        let input = *block;
        // SAFETY: as above.
        unsafe { ffi::AES_decrypt(input.as_ptr(), block.as_mut_ptr(), &self.dec) }
    }

    /// CBC over whole blocks; `iv` carries the chaining value across calls.
    /// `out` must be at least as long as `input`, which is a multiple of 16.
    pub fn cbc(&self, encrypt: bool, input: &[u8], out: &mut [u8], iv: &mut [u8; 16]) {
        debug_assert!(input.len().is_multiple_of(16) && out.len() >= input.len());
        if input.is_empty() || out.len() < input.len() {
            return;
        }
        let (key, enc) = if encrypt {
            (&self.enc, ffi::AES_ENCRYPT as c_int)
        } else {
            (&self.dec, ffi::AES_DECRYPT as c_int)
        };
        // SAFETY: `out` has room for `input.len()` bytes (checked); `iv` is 16 bytes.
        unsafe {
            ffi::AES_cbc_encrypt(
                input.as_ptr(),
                out.as_mut_ptr(),
                input.len() - input.len() % 16,
                key,
                iv.as_mut_ptr(),
                enc,
            )
        }
    }

    /// CTR with a 128-bit big-endian counter; state carries partial blocks across calls.
    pub fn ctr(&self, input: &[u8], out: &mut [u8], st: &mut CtrState) {
        if input.is_empty() || out.len() < input.len() {
            return;
        }
        // SAFETY: `out` has room for `input.len()` bytes (checked); the state arrays are 16 bytes.
        unsafe {
            ffi::AES_ctr128_encrypt(
                input.as_ptr(),
                out.as_mut_ptr(),
                input.len(),
                &self.enc,
                st.counter.as_mut_ptr(),
                st.keystream.as_mut_ptr(),
                &mut st.used,
            )
        }
    }
}

/// The running state of CTR mode.
pub struct CtrState {
    pub counter: [u8; 16],
    keystream: [u8; 16],
    used: std::os::raw::c_uint,
}

impl CtrState {
    pub fn new(counter: [u8; 16]) -> CtrState {
        CtrState {
            counter,
            keystream: [0; 16],
            used: 0,
        }
    }
}

impl Drop for CtrState {
    fn drop(&mut self) {
        self.keystream.zeroize();
    }
}
