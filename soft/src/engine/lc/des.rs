//! Triple DES (EDE, two or three keys) single blocks, for CKM_DES3_* (legacy).

use super::{Fail, LcResult};
use aws_lc_sys as ffi;
use zeroize::Zeroize;

/// The three expanded DES keys of a 3DES key (K3 = K1 for a two-key CKK_DES2),
/// zeroized on drop.
pub struct Des3Key {
    ks: [ffi::DES_key_schedule; 3],
}

impl Drop for Des3Key {
    fn drop(&mut self) {
        for k in self.ks.iter_mut() {
            for s in k.subkeys.iter_mut() {
                s.zeroize();
            }
        }
    }
}

impl Des3Key {
    /// A key of 16 (K1 K2) or 24 (K1 K2 K3) bytes. Parity bits are ignored, as
    /// PKCS#11 tokens do.
    pub fn new(key: &[u8]) -> LcResult<Des3Key> {
        let part = |i: usize| -> LcResult<ffi::DES_cblock> {
            let b = key.get(i * 8..i * 8 + 8).ok_or(Fail)?;
            Ok(ffi::DES_cblock {
                bytes: b.try_into().map_err(|_| Fail)?,
            })
        };
        let (k1, k2, k3) = match key.len() {
            16 => (part(0)?, part(1)?, part(0)?),
            24 => (part(0)?, part(1)?, part(2)?),
            _ => return Err(Fail),
        };
        let mut ks = [ffi::DES_key_schedule {
            subkeys: [[0; 2]; 16],
        }; 3];
        for (s, mut k) in ks.iter_mut().zip([k1, k2, k3]) {
            // SAFETY: `k` is one DES_cblock and `s` one schedule, both live for the call.
            unsafe { ffi::DES_set_key_unchecked(&k, s) };
            k.bytes.zeroize();
        }
        Ok(Des3Key { ks })
    }

    /// One 8-byte block in place, encrypting (EDE) or decrypting.
    pub fn block(&self, encrypt: bool, b: &mut [u8; 8]) {
        let input = ffi::DES_cblock { bytes: *b };
        let mut out = ffi::DES_cblock { bytes: [0; 8] };
        let [k1, k2, k3] = &self.ks;
        let enc = if encrypt {
            ffi::DES_ENCRYPT
        } else {
            ffi::DES_DECRYPT
        };
        // SAFETY: one input and one output block, three schedules, all live for the
        // call; aws-lc reads and writes exactly one block.
        unsafe { ffi::DES_ecb3_encrypt(&input, &mut out, k1, k2, k3, enc) };
        *b = out.bytes;
        out.bytes.zeroize();
    }
}
