//! The arguments a program passes: attribute templates of every shape, mechanisms
//! with parameters, input and output buffers. Every pointer handed to the module
//! points into memory owned here and holds at least the length given with it (the
//! caller's side of the ABI contract); everything else is the fuzzer's to choose.

use crate::input::Input;
use cryptoki_sys::*;
use std::ffi::c_void;

/// Bytes after every output buffer that the module must leave alone.
const GUARD: usize = 16;
const GUARD_BYTE: u8 = 0xA5;

/// Attribute types a template picks from (besides raw and vendor-defined numbers).
pub const ATTRS: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_LABEL,
    CKA_APPLICATION,
    CKA_VALUE,
    CKA_OBJECT_ID,
    CKA_CERTIFICATE_TYPE,
    CKA_KEY_TYPE,
    CKA_ID,
    CKA_SENSITIVE,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_SIGN,
    CKA_SIGN_RECOVER,
    CKA_VERIFY,
    CKA_VERIFY_RECOVER,
    CKA_DERIVE,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_MODULUS,
    CKA_MODULUS_BITS,
    CKA_PUBLIC_EXPONENT,
    CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1,
    CKA_PRIME_2,
    CKA_EXPONENT_1,
    CKA_EXPONENT_2,
    CKA_COEFFICIENT,
    CKA_VALUE_LEN,
    CKA_EXTRACTABLE,
    CKA_LOCAL,
    CKA_NEVER_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
    CKA_KEY_GEN_MECHANISM,
    CKA_MODIFIABLE,
    CKA_COPYABLE,
    CKA_DESTROYABLE,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_WRAP_WITH_TRUSTED,
    CKA_TRUSTED,
    CKA_WRAP_TEMPLATE,
    CKA_UNWRAP_TEMPLATE,
    CKA_DERIVE_TEMPLATE,
    CKA_ALLOWED_MECHANISMS,
    CKA_CHECK_VALUE,
    CKA_PUBLIC_KEY_INFO,
    CKA_SUBJECT,
    CKA_ISSUER,
    CKA_SERIAL_NUMBER,
    CKA_VALUE_BITS,
    CKA_HW_FEATURE_TYPE,
    CKA_UNIQUE_ID,
    CKA_PRIME,
    CKA_BASE,
];

/// kmsbridge's vendor-defined attributes, classes and mechanisms start here
/// (provider/src/vendor.rs).
pub const KMSBRIDGE_BASE: CK_ULONG = 0xCB42_0000;

/// Mechanisms a program picks from (besides raw and vendor-defined numbers).
pub const MECHS: &[CK_MECHANISM_TYPE] = &[
    CKM_AES_KEY_GEN,
    CKM_GENERIC_SECRET_KEY_GEN,
    CKM_RSA_PKCS_KEY_PAIR_GEN,
    CKM_EC_KEY_PAIR_GEN,
    CKM_EC_EDWARDS_KEY_PAIR_GEN,
    CKM_DES_KEY_GEN,
    CKM_DES2_KEY_GEN,
    CKM_DES3_KEY_GEN,
    CKM_AES_ECB,
    CKM_AES_CBC,
    CKM_AES_CBC_PAD,
    CKM_AES_CTR,
    CKM_AES_GCM,
    CKM_AES_CMAC,
    CKM_AES_CMAC_GENERAL,
    CKM_AES_KEY_WRAP,
    CKM_AES_KEY_WRAP_PAD,
    CKM_AES_KEY_WRAP_KWP,
    CKM_DES_ECB,
    CKM_DES3_ECB,
    CKM_DES_CBC,
    CKM_DES3_CBC,
    CKM_DES3_CBC_PAD,
    CKM_DES3_CMAC,
    CKM_RSA_PKCS,
    CKM_RSA_X_509,
    CKM_SHA256_RSA_PKCS,
    CKM_SHA1_RSA_PKCS,
    CKM_RSA_PKCS_PSS,
    CKM_SHA256_RSA_PKCS_PSS,
    CKM_SHA512_RSA_PKCS_PSS,
    CKM_RSA_PKCS_OAEP,
    CKM_RSA_AES_KEY_WRAP,
    CKM_ECDSA,
    CKM_ECDSA_SHA256,
    CKM_ECDSA_SHA384,
    CKM_ECDH1_DERIVE,
    CKM_ECDH1_COFACTOR_DERIVE,
    CKM_EDDSA,
    CKM_SHA_1,
    CKM_SHA256,
    CKM_SHA384,
    CKM_SHA512,
    CKM_SHA256_HMAC,
    CKM_SHA_1_HMAC,
    CKM_SHA512_HMAC,
    CKM_SHA256_HMAC_GENERAL,
    CKM_MD5,
    CKM_AES_XTS,
    CKM_CHACHA20_POLY1305,
    CKM_AES_ECB_ENCRYPT_DATA,
    CKM_SHA256_KEY_DERIVATION,
    CKM_PKCS5_PBKD2,
    CKM_HKDF_DERIVE,
];

/// CK_ULONG values that mean something somewhere (classes, key types, sizes,
/// hashes, MGFs, the unavailable-information marker).
pub const ULONGS: &[CK_ULONG] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    16,
    24,
    32,
    48,
    64,
    65,
    96,
    104,
    112,
    120,
    128,
    129,
    192,
    256,
    512,
    1024,
    2048,
    3072,
    65537,
    CKK_AES,
    CKK_GENERIC_SECRET,
    CKK_EC,
    CKK_EC_EDWARDS,
    CKK_DES3,
    CKK_DES,
    CKK_SHA256_HMAC,
    CKM_SHA256,
    CKM_SHA_1,
    CKM_SHA384,
    CKM_SHA512,
    CKG_MGF1_SHA1,
    CKG_MGF1_SHA256,
    CKG_MGF1_SHA512,
    CKZ_DATA_SPECIFIED,
    CKD_NULL,
    CKD_SHA256_KDF,
    CK_UNAVAILABLE_INFORMATION,
    0xFFFF_FFFF,
    0x8000_0000,
    KMSBRIDGE_BASE + 1,
    KMSBRIDGE_BASE + 2,
    KMSBRIDGE_BASE + 3,
    CKO_DATA,
    CKO_CERTIFICATE,
    CKO_PUBLIC_KEY,
    CKO_PRIVATE_KEY,
    CKO_SECRET_KEY,
    CKO_HW_FEATURE,
    CKO_MECHANISM,
    CKO_PROFILE,
];

/// DER curve identifiers (P-256, P-384, P-521, Ed25519 by OID and by name) and junk.
const EC_PARAMS: &[&[u8]] = &[
    &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
    &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
    &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
    &[0x06, 0x03, 0x2b, 0x65, 0x70],
    &[
        0x13, 0x0c, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9',
    ],
    &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01],
    &[0x06, 0x00],
    &[0x30, 0x80, 0x06],
];

/// A CK_ULONG chosen from [`ULONGS`] or raw.
pub fn ulong(i: &mut Input) -> CK_ULONG {
    let s = i.byte();
    match s {
        0..=0xEF => ULONGS
            .get(usize::from(s) % ULONGS.len())
            .copied()
            .unwrap_or(0),
        0xF0..=0xFE => CK_ULONG::from(i.u32()),
        0xFF => i.u64(),
    }
}

fn attr_type(i: &mut Input) -> CK_ATTRIBUTE_TYPE {
    let t = i.byte();
    match t {
        0..=0xDF => ATTRS
            .get(usize::from(t) % ATTRS.len())
            .copied()
            .unwrap_or(0),
        0xE0..=0xEF => KMSBRIDGE_BASE + CK_ULONG::from(i.byte() % 0x40),
        0xF0..=0xF7 => CKA_VENDOR_DEFINED + CK_ULONG::from(i.byte()),
        0xF8..=0xFE => CK_ULONG::from(i.u32()),
        0xFF => i.u64(),
    }
}

/// A plausible value for `ty`, so templates often get past the first check.
fn good_value(ty: CK_ATTRIBUTE_TYPE, i: &mut Input) -> Vec<u8> {
    let ul = |v: CK_ULONG| v.to_ne_bytes().to_vec();
    let pick = i.byte();
    match ty {
        CKA_CLASS => {
            ul([CKO_SECRET_KEY, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_DATA][usize::from(pick % 4)])
        }
        CKA_KEY_TYPE => ul([
            CKK_AES,
            CKK_RSA,
            CKK_EC,
            CKK_GENERIC_SECRET,
            CKK_DES3,
            CKK_EC_EDWARDS,
        ][usize::from(pick % 6)]),
        CKA_VALUE_LEN => ul([16, 24, 32, 64][usize::from(pick % 4)]),
        CKA_MODULUS_BITS => ul(2048),
        CKA_PUBLIC_EXPONENT => vec![1, 0, 1],
        CKA_EC_PARAMS => EC_PARAMS
            .get(usize::from(pick) % EC_PARAMS.len())
            .map_or(Vec::new(), |p| p.to_vec()),
        CKA_VALUE => i.data([16, 24, 32, 64][usize::from(pick % 4)]),
        CKA_ALLOWED_MECHANISMS => {
            let n = usize::from(pick % 4);
            (0..n)
                .flat_map(|_| {
                    ul(MECHS
                        .get(usize::from(i.byte()) % MECHS.len())
                        .copied()
                        .unwrap_or(0))
                })
                .collect()
        }
        CKA_START_DATE | CKA_END_DATE => b"20260101".to_vec(),
        CKA_LABEL | CKA_ID | CKA_APPLICATION => i.data(usize::from(pick % 16)),
        _ => vec![1],
    }
}

/// A template: the attributes and the buffers their pointers point into.
pub struct Template {
    attrs: Vec<CK_ATTRIBUTE>,
    _values: Vec<Vec<u8>>,
    /// Pass a NULL template pointer (with the count below).
    null: bool,
}

impl Template {
    /// Up to 16 attributes of any type, each with a value of any shape: empty, NULL
    /// (with a zero or non-zero length), a CK_BBOOL, a CK_ULONG, raw bytes, a huge
    /// buffer, or a plausible value; duplicates come for free.
    pub fn read(i: &mut Input) -> Template {
        let head = i.byte();
        let n = usize::from(head % 17);
        let null = head >= 0xF8;
        let mut attrs = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            let ty = attr_type(i);
            let mode = i.byte();
            let (mut value, null_len) = match mode % 8 {
                0 => (Some(Vec::new()), 0),
                1 => (None, 0),
                2 => (None, i.size().max(1)),
                3 => (Some(vec![[0, 1, 2, 0xFF][usize::from(mode >> 3) % 4]]), 0),
                4 => (Some(ulong(i).to_ne_bytes().to_vec()), 0),
                5 => (Some(i.blob()), 0),
                6 => (Some(vec![mode; (usize::from(i.byte()) + 1) << 12]), 0),
                _ => (Some(good_value(ty, i)), 0),
            };
            if let Some(v) = value.as_mut() {
                tame(ty, v);
            }
            let attr = match value.as_mut() {
                Some(v) => CK_ATTRIBUTE {
                    type_: ty,
                    pValue: v.as_mut_ptr() as *mut c_void,
                    ulValueLen: v.len() as CK_ULONG,
                },
                None => CK_ATTRIBUTE {
                    type_: ty,
                    pValue: std::ptr::null_mut(),
                    ulValueLen: null_len as CK_ULONG,
                },
            };
            // The vector's heap buffer does not move when the vector does.
            if let Some(v) = value {
                values.push(v);
            }
            attrs.push(attr);
        }
        Template {
            attrs,
            _values: values,
            null,
        }
    }

    pub fn ptr(&mut self) -> *mut CK_ATTRIBUTE {
        if self.null {
            std::ptr::null_mut()
        } else {
            self.attrs.as_mut_ptr()
        }
    }

    pub fn count(&self) -> CK_ULONG {
        self.attrs.len() as CK_ULONG
    }
}

/// The two value rewrites of the harness (docs/FUZZING.md, "What the harness
/// holds back"): CKA_DESTROYABLE is never false, so every token object a program
/// makes can be destroyed and 10 million programs leave the store as they found it;
/// CKA_MODULUS_BITS above 3072 becomes 2048, so that one RSA key generation does
/// not take longer than the hang timeout on an instrumented build.
fn tame(ty: CK_ATTRIBUTE_TYPE, v: &mut [u8]) {
    if ty == CKA_DESTROYABLE {
        if let Some(b) = v.first_mut() {
            *b = 1;
        }
    }
    if ty == CKA_MODULUS_BITS {
        if let Ok(raw) = <[u8; 8]>::try_from(&*v) {
            if CK_ULONG::from_ne_bytes(raw) > 3072 {
                v.copy_from_slice(&2048u64.to_ne_bytes());
            }
        }
    }
}

/// C_GetAttributeValue's template: types as above, each with a buffer of some size
/// (NULL for a length query, 0, small, large) and guard bytes after it.
pub struct AttrQuery {
    attrs: Vec<CK_ATTRIBUTE>,
    bufs: Vec<Option<Vec<u8>>>,
    caps: Vec<usize>,
    null: bool,
}

impl AttrQuery {
    pub fn read(i: &mut Input) -> AttrQuery {
        let head = i.byte();
        let n = usize::from(head % 17);
        let mut q = AttrQuery {
            attrs: Vec::new(),
            bufs: Vec::new(),
            caps: Vec::new(),
            null: head >= 0xF8,
        };
        for _ in 0..n {
            let ty = attr_type(i);
            let cap = match i.byte() % 6 {
                0 => None,
                1 => Some(0),
                2 => Some(usize::from(i.byte() % 16)),
                3 => Some([1, 8, 16, 32, 64, 256][usize::from(i.byte() % 6)]),
                4 => Some(4096),
                _ => Some(i.size()),
            };
            let mut buf = cap.map(|c| vec![GUARD_BYTE; c + GUARD]);
            let attr = CK_ATTRIBUTE {
                type_: ty,
                pValue: buf
                    .as_mut()
                    .map_or(std::ptr::null_mut(), |b| b.as_mut_ptr() as *mut c_void),
                ulValueLen: match cap {
                    Some(c) => c as CK_ULONG,
                    None => CK_ULONG::from(i.byte()),
                },
            };
            q.attrs.push(attr);
            q.caps.push(cap.unwrap_or(0));
            q.bufs.push(buf);
        }
        q
    }

    pub fn ptr(&mut self) -> *mut CK_ATTRIBUTE {
        if self.null {
            std::ptr::null_mut()
        } else {
            self.attrs.as_mut_ptr()
        }
    }

    pub fn count(&self) -> CK_ULONG {
        self.attrs.len() as CK_ULONG
    }

    /// Nothing written past a buffer, and no length claimed for a written value that
    /// is larger than its buffer (PKCS#11 3.0 5.7, C_GetAttributeValue).
    pub fn check(&self, rv: CK_RV) -> Result<(), String> {
        for ((a, buf), cap) in self.attrs.iter().zip(&self.bufs).zip(&self.caps) {
            let Some(buf) = buf else { continue };
            if buf
                .get(*cap..)
                .is_some_and(|g| g.iter().any(|b| *b != GUARD_BYTE))
            {
                return Err(format!(
                    "C_GetAttributeValue wrote past a {cap}-byte buffer of attribute {:#x}",
                    a.type_
                ));
            }
            let len = a.ulValueLen;
            if len != CK_UNAVAILABLE_INFORMATION && len as usize > *cap {
                return Err(format!(
                    "C_GetAttributeValue ({rv:#x}) answered length {len} for attribute {:#x} in a {cap}-byte buffer",
                    a.type_
                ));
            }
        }
        Ok(())
    }
}

/// An output buffer and its length word, as the caller of a C_Encrypt-like call passes
/// them: NULL (a length query), too small, large, or a NULL length pointer.
pub struct Out {
    buf: Option<Vec<u8>>,
    cap: usize,
    len: CK_ULONG,
    null_len: bool,
}

impl Out {
    pub fn read(i: &mut Input) -> Out {
        let (cap, null_len) = match i.byte() % 8 {
            0 | 1 => (None, false),
            2 => (Some(0), false),
            3 => (Some(usize::from(i.byte() % 32)), false),
            4 => (
                Some([16, 32, 64, 128, 256, 512][usize::from(i.byte() % 6)]),
                false,
            ),
            5 | 6 => (Some(4096), false),
            _ => (Some(64), true),
        };
        let buf = cap.map(|c| vec![GUARD_BYTE; c + GUARD]);
        let cap = cap.unwrap_or(0);
        Out {
            buf,
            cap,
            len: cap as CK_ULONG,
            null_len,
        }
    }

    pub fn ptr(&mut self) -> *mut u8 {
        self.buf
            .as_mut()
            .map_or(std::ptr::null_mut(), Vec::as_mut_ptr)
    }

    pub fn len_ptr(&mut self) -> *mut CK_ULONG {
        if self.null_len {
            std::ptr::null_mut()
        } else {
            &mut self.len
        }
    }

    /// The guard bytes are intact and a successful call's length fits the buffer;
    /// returns the output written.
    pub fn check(&self, func: &str, rv: CK_RV) -> Result<Option<Vec<u8>>, String> {
        let Some(buf) = &self.buf else {
            return Ok(None);
        };
        if buf
            .get(self.cap..)
            .is_some_and(|g| g.iter().any(|b| *b != GUARD_BYTE))
        {
            return Err(format!(
                "{func} wrote past a {}-byte output buffer",
                self.cap
            ));
        }
        if rv != CKR_OK || self.null_len {
            return Ok(None);
        }
        let n = self.len as usize;
        if n > self.cap {
            return Err(format!(
                "{func} answered CKR_OK with length {n} for a {}-byte buffer",
                self.cap
            ));
        }
        Ok(buf.get(..n).map(<[u8]>::to_vec))
    }
}

/// An input buffer: NULL (with a zero or non-zero length), the last output of the
/// program (a ciphertext, signature or wrapped key fed back), or bytes.
pub struct In {
    buf: Option<Vec<u8>>,
    len: CK_ULONG,
}

impl In {
    pub fn read(i: &mut Input, last: &[u8]) -> In {
        match i.byte() % 6 {
            0 => In { buf: None, len: 0 },
            1 => In {
                buf: None,
                len: i.size().max(1) as CK_ULONG,
            },
            2 => In::bytes(last.to_vec()),
            3 => In::bytes(vec![0; [8, 16, 20, 32, 64, 256][usize::from(i.byte() % 6)]]),
            _ => In::bytes(i.blob()),
        }
    }

    fn bytes(v: Vec<u8>) -> In {
        let len = v.len() as CK_ULONG;
        In { buf: Some(v), len }
    }

    pub fn ptr(&mut self) -> *mut u8 {
        self.buf
            .as_mut()
            .map_or(std::ptr::null_mut(), Vec::as_mut_ptr)
    }

    pub fn size(&self) -> CK_ULONG {
        self.len
    }
}
