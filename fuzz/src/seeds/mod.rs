//! The seed corpus: small programs, each driving one family of calls to a point a
//! random input would take long to reach (a key made, then used; a blob wrapped,
//! then unwrapped). `p11run seeds DIR` writes them; fuzz/corpus/seed holds them.
//!
//! Object bytes below 0x80 pick a fixture (`rig::FIXTURES` order: aes 0, kek 1,
//! hmac 2, des3 3, rsa 4-5, ec 6-7, ed 8-9, data 10 when every kind made them);
//! 0x80 and up pick the program's own objects.

use crate::exec::{Op, GATE};
use crate::input::Writer;
use crate::values::{ATTRS, MECHS, ULONGS};
use cryptoki_sys::*;
use std::path::Path;

mod calls;
mod crypto;

pub(super) fn pos<T: PartialEq>(table: &[T], v: T) -> u8 {
    table.iter().position(|x| *x == v).unwrap_or(0) as u8
}

/// Builder of one program.
#[derive(Clone, Default)]
pub(super) struct P(pub(super) Writer);

/// Template attribute values.
pub(super) enum V<'a> {
    Bool(bool),
    Ul(CK_ULONG),
    Bytes(&'a [u8]),
    /// A plausible value picked by the harness (`values::good_value`).
    Good(u8),
    /// NULL pointer, non-zero length.
    NullLen(usize),
    /// A buffer of (n + 1) * 4096 bytes.
    Huge(u8),
}

impl P {
    pub(super) fn op(self, op: Op) -> P {
        let p = P(self.0.b(op as u8));
        if op.expensive() {
            p.b(GATE)
        } else {
            p
        }
    }
    pub(super) fn b(self, b: u8) -> P {
        P(self.0.b(b))
    }
    pub(super) fn ul(self, v: CK_ULONG) -> P {
        match ULONGS.iter().position(|x| *x == v) {
            Some(i) => self.b(i as u8),
            None => P(self.0.b(0xF0).u32(v as u32)),
        }
    }
    pub(super) fn blob(self, v: &[u8]) -> P {
        P(self.0.blob(v))
    }
    /// Session: the program's n-th (0 = the one the harness opened).
    pub(super) fn s(self, n: u8) -> P {
        self.b(n)
    }
    pub(super) fn t(self, attrs: &[(CK_ATTRIBUTE_TYPE, V)]) -> P {
        let mut p = self.b(attrs.len() as u8);
        for (ty, v) in attrs {
            p = p.b(pos(ATTRS, *ty));
            p = match v {
                V::Bool(b) => p.b(if *b { 3 | 8 } else { 3 }),
                V::Ul(u) => p.b(4).ul(*u),
                V::Bytes(bytes) => p.b(5).blob(bytes),
                V::Good(pick) => p.b(7).b(*pick),
                V::NullLen(n) => p.b(2).b(*n as u8),
                V::Huge(n) => p.b(6).b(*n),
            };
        }
        p
    }
    /// Mechanism without parameter.
    pub(super) fn m(self, ty: CK_MECHANISM_TYPE) -> P {
        self.b(pos(MECHS, ty)).b(0)
    }
    /// Mechanism with its structured parameter; `then` writes the parameter's fields.
    pub(super) fn mp(self, ty: CK_MECHANISM_TYPE, then: impl FnOnce(P) -> P) -> P {
        then(self.b(pos(MECHS, ty)).b(3))
    }
    /// Input bytes.
    pub(super) fn data(self, v: &[u8]) -> P {
        self.b(4).blob(v)
    }
    /// The last output, as input.
    pub(super) fn last(self) -> P {
        self.b(2)
    }
    /// A 4096-byte output buffer.
    pub(super) fn out(self) -> P {
        self.b(5)
    }
    /// A NULL output buffer (a length query).
    pub(super) fn query(self) -> P {
        self.b(0)
    }
}

pub(super) const TOKEN_AES: &[(CK_ATTRIBUTE_TYPE, V)] = &[
    (CKA_TOKEN, V::Bool(true)),
    (CKA_VALUE_LEN, V::Ul(32)),
    (CKA_ENCRYPT, V::Bool(true)),
    (CKA_DECRYPT, V::Bool(true)),
    (CKA_LABEL, V::Bytes(b"k")),
];

fn programs() -> Vec<(&'static str, P)> {
    let mut v = calls::programs();
    v.extend(crypto::programs());
    v.sort_by_key(|(name, _)| *name);
    v
}

impl P {
    pub(super) fn bytes16(self) -> P {
        P(self.0.bytes(&[0x11; 16]))
    }
    pub(super) fn bytes8(self) -> P {
        P(self.0.bytes(&[0x22; 8]))
    }
    pub(super) fn u32(self, v: u32) -> P {
        P(self.0.u32(v))
    }
}

/// Every seed program, by name.
pub fn all() -> Vec<(&'static str, Vec<u8>)> {
    programs().into_iter().map(|(n, p)| (n, p.0 .0)).collect()
}

/// Writes the seeds into `dir` (one file per program); returns how many.
pub fn write(dir: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let seeds = all();
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(name), bytes).map_err(|e| e.to_string())?;
    }
    Ok(seeds.len())
}
