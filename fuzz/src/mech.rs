//! Mechanisms with parameters of every shape: none, NULL with a length, raw bytes
//! of any length, or the struct the mechanism takes with its numbers fuzzed and its
//! pointers into buffers owned here.

use crate::input::Input;
use crate::values::{ulong, KMSBRIDGE_BASE, MECHS};
use cryptoki_sys::*;
use std::ffi::c_void;
use std::mem::size_of;

/// A mechanism and the memory its parameter points into.
pub struct Mech {
    m: CK_MECHANISM,
    null: bool,
    _param: Vec<u8>,
    _parts: Vec<Vec<u8>>,
    _oaep: Option<Box<CK_RSA_PKCS_OAEP_PARAMS>>,
}

/// Parameter structs holding pointers: raw bytes of exactly their size would make
/// the module read through garbage pointers, which no caller may ask of it.
fn pointer_struct_size(ty: CK_MECHANISM_TYPE) -> Option<usize> {
    match ty {
        CKM_AES_GCM => Some(size_of::<CK_GCM_PARAMS>()),
        CKM_RSA_PKCS_OAEP => Some(size_of::<CK_RSA_PKCS_OAEP_PARAMS>()),
        CKM_ECDH1_DERIVE | CKM_ECDH1_COFACTOR_DERIVE => Some(size_of::<CK_ECDH1_DERIVE_PARAMS>()),
        CKM_RSA_AES_KEY_WRAP => Some(size_of::<CK_RSA_AES_KEY_WRAP_PARAMS>()),
        CKM_EDDSA => Some(size_of::<CK_EDDSA_PARAMS>()),
        _ => None,
    }
}

/// A (pointer, length) pair into `parts`: the length is the buffer's, smaller, or a
/// NULL pointer with a non-zero length; never longer than the buffer.
fn part(i: &mut Input, parts: &mut Vec<Vec<u8>>, extra: &[u8]) -> (*mut u8, CK_ULONG) {
    let mode = i.byte();
    let mut v = match mode % 4 {
        0 => extra.to_vec(),
        _ => i.blob(),
    };
    let len = match (mode >> 2) % 4 {
        0 if !v.is_empty() => v.len() - usize::from(i.byte()) % v.len(),
        1 => return (std::ptr::null_mut(), i.size() as CK_ULONG),
        _ => v.len(),
    };
    let p = v.as_mut_ptr();
    parts.push(v);
    (p, len as CK_ULONG)
}

impl Mech {
    /// `extra` is something the harness knows is useful as parameter bytes (the EC
    /// fixture's public point, for ECDH).
    pub fn read(i: &mut Input, extra: &[u8]) -> Mech {
        let s = i.byte();
        let ty = match s {
            0..=0xDF => MECHS
                .get(usize::from(s) % MECHS.len())
                .copied()
                .unwrap_or(0),
            0xE0..=0xEF => KMSBRIDGE_BASE + CK_ULONG::from(s & 0x3),
            _ => CK_ULONG::from(i.u32()),
        };
        let mut mech = Mech {
            m: CK_MECHANISM {
                mechanism: ty,
                pParameter: std::ptr::null_mut(),
                ulParameterLen: 0,
            },
            null: s == 0xFF,
            _param: Vec::new(),
            _parts: Vec::new(),
            _oaep: None,
        };
        match i.byte() % 4 {
            0 => {}
            1 => mech.m.ulParameterLen = i.size().max(1) as CK_ULONG,
            2 => {
                let mut v = i.blob();
                if Some(v.len()) == pointer_struct_size(ty) {
                    v.push(0);
                }
                mech.set(v);
            }
            _ => mech.structured(i, extra),
        }
        mech
    }

    fn set(&mut self, mut v: Vec<u8>) {
        self.m.pParameter = v.as_mut_ptr() as *mut c_void;
        self.m.ulParameterLen = v.len() as CK_ULONG;
        self._param = v;
    }

    fn set_struct<T: Copy>(&mut self, s: T) {
        let mut bytes = vec![0u8; size_of::<T>()];
        // SAFETY: the vector holds size_of::<T>() bytes; write_unaligned needs no alignment.
        unsafe { std::ptr::write_unaligned(bytes.as_mut_ptr() as *mut T, s) };
        self.set(bytes);
    }

    /// The parameter the mechanism takes, with pointers into owned buffers and the
    /// numbers fuzzed.
    fn structured(&mut self, i: &mut Input, extra: &[u8]) {
        let mut parts = Vec::new();
        match self.m.mechanism {
            CKM_AES_GCM => {
                let (iv, iv_len) = part(i, &mut parts, &[0; 12]);
                let (aad, aad_len) = part(i, &mut parts, &[]);
                let g = CK_GCM_PARAMS {
                    pIv: iv,
                    ulIvLen: iv_len,
                    ulIvBits: ulong(i),
                    pAAD: aad,
                    ulAADLen: aad_len,
                    ulTagBits: ulong(i),
                };
                self.set_struct(g);
            }
            CKM_RSA_PKCS_OAEP | CKM_RSA_AES_KEY_WRAP => {
                let (src, src_len) = part(i, &mut parts, &[]);
                let o = CK_RSA_PKCS_OAEP_PARAMS {
                    hashAlg: ulong(i),
                    mgf: ulong(i),
                    source: ulong(i),
                    pSourceData: src as *mut c_void,
                    ulSourceDataLen: src_len,
                };
                if self.m.mechanism == CKM_RSA_PKCS_OAEP {
                    self.set_struct(o);
                } else {
                    let mut boxed = Box::new(o);
                    let p: *mut CK_RSA_PKCS_OAEP_PARAMS = if i.one_in(4) {
                        std::ptr::null_mut()
                    } else {
                        &mut *boxed
                    };
                    self.set_struct(CK_RSA_AES_KEY_WRAP_PARAMS {
                        ulAESKeyBits: ulong(i),
                        pOAEPParams: p,
                    });
                    self._oaep = Some(boxed);
                }
            }
            CKM_ECDH1_DERIVE | CKM_ECDH1_COFACTOR_DERIVE => {
                let (shared, shared_len) = part(i, &mut parts, &[]);
                let (public, public_len) = part(i, &mut parts, extra);
                self.set_struct(CK_ECDH1_DERIVE_PARAMS {
                    kdf: ulong(i),
                    ulSharedDataLen: shared_len,
                    pSharedData: shared,
                    ulPublicDataLen: public_len,
                    pPublicData: public,
                });
            }
            CKM_EDDSA => {
                let (ctx, ctx_len) = part(i, &mut parts, &[]);
                self.set_struct(CK_EDDSA_PARAMS {
                    phFlag: i.byte(),
                    ulContextDataLen: ctx_len,
                    pContextData: ctx,
                });
            }
            CKM_AES_CTR => {
                let mut cb = [0u8; 16];
                cb.copy_from_slice(&i.data(16));
                self.set_struct(CK_AES_CTR_PARAMS {
                    ulCounterBits: ulong(i),
                    cb,
                });
            }
            CKM_RSA_PKCS_PSS | CKM_SHA256_RSA_PKCS_PSS | CKM_SHA512_RSA_PKCS_PSS => {
                self.set_struct(CK_RSA_PKCS_PSS_PARAMS {
                    hashAlg: ulong(i),
                    mgf: ulong(i),
                    sLen: ulong(i),
                });
            }
            CKM_AES_CBC | CKM_AES_CBC_PAD => self.set(i.data(16)),
            CKM_DES_CBC | CKM_DES3_CBC | CKM_DES3_CBC_PAD => self.set(i.data(8)),
            CKM_AES_KEY_WRAP => self.set(i.data(8)),
            CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP => self.set(i.data(4)),
            _ => self.set(ulong(i).to_ne_bytes().to_vec()),
        }
        self._parts = parts;
    }

    pub fn ptr(&mut self) -> *mut CK_MECHANISM {
        if self.null {
            std::ptr::null_mut()
        } else {
            &mut self.m
        }
    }
}
