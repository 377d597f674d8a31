//! The multi-part and single-part cryptographic calls of a program.

use super::{p11, Prog};
use crate::values::{In, Out};
use cryptoki_sys::*;

impl Prog<'_, '_> {
    pub(super) fn crypto_init(&mut self) -> Result<(), String> {
        let f = self.f();
        let kind = self.i.byte() % 7;
        let s = self.sess();
        let mut m = self.mech();
        let k = self.obj();
        let mp = m.ptr();
        match kind {
            0 => p11!(f, C_EncryptInit(s, mp, k)),
            1 => p11!(f, C_DecryptInit(s, mp, k)),
            2 => p11!(f, C_SignInit(s, mp, k)),
            3 => p11!(f, C_VerifyInit(s, mp, k)),
            4 => p11!(f, C_DigestInit(s, mp)),
            5 => p11!(f, C_SignRecoverInit(s, mp, k)),
            _ => p11!(f, C_VerifyRecoverInit(s, mp, k)),
        };
        Ok(())
    }

    pub(super) fn one_shot(&mut self) -> Result<(), String> {
        let f = self.f();
        let kind = self.i.byte() % 7;
        let s = self.sess();
        let mut data = In::read(&mut self.i, &self.last);
        let (dp, dl) = (data.ptr(), data.size());
        if kind == 3 {
            let mut sig = In::read(&mut self.i, &self.last);
            p11!(f, C_Verify(s, dp, dl, sig.ptr(), sig.size()));
            return Ok(());
        }
        let mut out = Out::read(&mut self.i);
        let (op, ol) = (out.ptr(), out.len_ptr());
        let (name, rv) = match kind {
            0 => ("C_Encrypt", p11!(f, C_Encrypt(s, dp, dl, op, ol))),
            1 => ("C_Decrypt", p11!(f, C_Decrypt(s, dp, dl, op, ol))),
            2 => ("C_Sign", p11!(f, C_Sign(s, dp, dl, op, ol))),
            4 => ("C_Digest", p11!(f, C_Digest(s, dp, dl, op, ol))),
            5 => ("C_SignRecover", p11!(f, C_SignRecover(s, dp, dl, op, ol))),
            _ => (
                "C_VerifyRecover",
                p11!(f, C_VerifyRecover(s, dp, dl, op, ol)),
            ),
        };
        if let Some(v) = out.check(name, rv)? {
            self.last = v;
        }
        Ok(())
    }

    pub(super) fn update(&mut self) -> Result<(), String> {
        let f = self.f();
        let kind = self.i.byte() % 5;
        let s = self.sess();
        let mut data = In::read(&mut self.i, &self.last);
        let (dp, dl) = (data.ptr(), data.size());
        match kind {
            0 | 1 => {
                let mut out = Out::read(&mut self.i);
                let (op, ol) = (out.ptr(), out.len_ptr());
                let (name, rv) = if kind == 0 {
                    (
                        "C_EncryptUpdate",
                        p11!(f, C_EncryptUpdate(s, dp, dl, op, ol)),
                    )
                } else {
                    (
                        "C_DecryptUpdate",
                        p11!(f, C_DecryptUpdate(s, dp, dl, op, ol)),
                    )
                };
                out.check(name, rv)?;
            }
            2 => {
                p11!(f, C_SignUpdate(s, dp, dl));
            }
            3 => {
                p11!(f, C_VerifyUpdate(s, dp, dl));
            }
            _ => {
                p11!(f, C_DigestUpdate(s, dp, dl));
            }
        }
        Ok(())
    }

    pub(super) fn finalize(&mut self) -> Result<(), String> {
        let f = self.f();
        let kind = self.i.byte() % 5;
        let s = self.sess();
        if kind == 3 {
            let mut sig = In::read(&mut self.i, &self.last);
            p11!(f, C_VerifyFinal(s, sig.ptr(), sig.size()));
            return Ok(());
        }
        let mut out = Out::read(&mut self.i);
        let (op, ol) = (out.ptr(), out.len_ptr());
        let (name, rv) = match kind {
            0 => ("C_EncryptFinal", p11!(f, C_EncryptFinal(s, op, ol))),
            1 => ("C_DecryptFinal", p11!(f, C_DecryptFinal(s, op, ol))),
            2 => ("C_SignFinal", p11!(f, C_SignFinal(s, op, ol))),
            _ => ("C_DigestFinal", p11!(f, C_DigestFinal(s, op, ol))),
        };
        if let Some(v) = out.check(name, rv)? {
            self.last = v;
        }
        Ok(())
    }
}
