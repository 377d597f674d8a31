//! Owned attribute values as they cross the backend boundary.

use cryptoki_sys::*;
use zeroize::Zeroizing;

/// One attribute of a template. Values may be key material: zeroized on drop.
#[derive(Clone)]
pub struct Attr {
    pub ty: CK_ATTRIBUTE_TYPE,
    pub value: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Attr {
    // Values are never printed: they may be key material or PINs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Attr(0x{:x}, {} bytes)", self.ty, self.value.len())
    }
}

impl Attr {
    pub fn new(ty: CK_ATTRIBUTE_TYPE, value: Vec<u8>) -> Self {
        Attr {
            ty,
            value: Zeroizing::new(value),
        }
    }
    pub fn bool(ty: CK_ATTRIBUTE_TYPE, v: bool) -> Self {
        Attr::new(ty, vec![v as u8])
    }
    pub fn ulong(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Self {
        Attr::new(ty, v.to_ne_bytes().to_vec())
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self.value.as_slice() {
            [b] => Some(*b != 0),
            _ => None,
        }
    }
    pub fn as_ulong(&self) -> Option<CK_ULONG> {
        let b: [u8; std::mem::size_of::<CK_ULONG>()] = self.value.as_slice().try_into().ok()?;
        Some(CK_ULONG::from_ne_bytes(b))
    }
}

/// Attributes whose value is a CK_ULONG.
const ULONG_ATTRS: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_KEY_TYPE,
    CKA_CERTIFICATE_TYPE,
    CKA_CERTIFICATE_CATEGORY,
    CKA_JAVA_MIDP_SECURITY_DOMAIN,
    CKA_VALUE_LEN,
    CKA_MODULUS_BITS,
    CKA_PRIME_BITS,
    CKA_SUBPRIME_BITS,
    CKA_VALUE_BITS,
    CKA_KEY_GEN_MECHANISM,
    CKA_HW_FEATURE_TYPE,
    CKA_NAME_HASH_ALGORITHM,
    CKA_MECHANISM_TYPE,
];

/// Attributes whose value is a CK_BBOOL.
const BOOL_ATTRS: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_TRUSTED,
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
    CKA_EXTRACTABLE,
    CKA_LOCAL,
    CKA_NEVER_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
    CKA_MODIFIABLE,
    CKA_COPYABLE,
    CKA_DESTROYABLE,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_WRAP_WITH_TRUSTED,
    CKA_RESET_ON_INIT,
    CKA_HAS_RESET,
];

/// False for a value whose length does not fit its attribute's type (a 1-byte
/// CKA_CLASS, a 4-byte CKA_TOKEN): the spec's answer is CKR_ATTRIBUTE_VALUE_INVALID.
pub fn encoding_ok(a: &Attr) -> bool {
    if ULONG_ATTRS.contains(&a.ty) {
        a.value.len() == std::mem::size_of::<CK_ULONG>()
    } else if BOOL_ATTRS.contains(&a.ty) {
        a.value.len() == 1
    } else {
        true
    }
}

/// Find an attribute in a template.
pub fn find(template: &[Attr], ty: CK_ATTRIBUTE_TYPE) -> Option<&Attr> {
    template.iter().find(|a| a.ty == ty)
}

/// One requested attribute of C_GetAttributeValue, answered in place.
pub struct AttrReq {
    pub ty: CK_ATTRIBUTE_TYPE,
    /// The caller's buffer size as a zeroed buffer; `None` asks for the length only.
    pub buf: Option<Zeroizing<Vec<u8>>>,
    /// The answer: the value's length, or `CK_UNAVAILABLE_INFORMATION`.
    pub len: CK_ULONG,
}

impl std::fmt::Debug for AttrReq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AttrReq(0x{:x}, len {})", self.ty, self.len)
    }
}

impl AttrReq {
    pub fn new(ty: CK_ATTRIBUTE_TYPE, buf_len: Option<usize>) -> Self {
        AttrReq {
            ty,
            buf: buf_len.map(|n| Zeroizing::new(vec![0u8; n])),
            len: 0,
        }
    }
    /// The answered value, when one was asked for and given.
    pub fn value(&self) -> Option<&[u8]> {
        let buf = self.buf.as_ref()?;
        if self.len == cryptoki_sys::CK_UNAVAILABLE_INFORMATION {
            return None;
        }
        buf.get(..self.len as usize)
    }
    /// Answer this request with a value the caller gets as if from the token.
    /// Returns the per-attribute code (`CKR_OK` or `CKR_BUFFER_TOO_SMALL`).
    pub fn answer(&mut self, value: &[u8]) -> CK_RV {
        match &mut self.buf {
            None => {
                self.len = value.len() as CK_ULONG;
                cryptoki_sys::CKR_OK
            }
            Some(buf) => match buf.get_mut(..value.len()) {
                Some(head) => {
                    head.copy_from_slice(value);
                    self.len = value.len() as CK_ULONG;
                    cryptoki_sys::CKR_OK
                }
                None => {
                    self.len = cryptoki_sys::CK_UNAVAILABLE_INFORMATION;
                    cryptoki_sys::CKR_BUFFER_TOO_SMALL
                }
            },
        }
    }
}
