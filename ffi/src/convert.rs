//! Raw C values to owned, checked Rust values, and the spec's output conventions.

use crate::guard::bad;
use cryptoki_sys::*;
use kmsbridge_provider::bridge::mech::{gcm_tag_bits_ok, param_kind, pss_params_ok, ParamKind};
use kmsbridge_provider::bridge::{Attr, AttrReq, MechParam, Mechanism};
use kmsbridge_provider::Result;
use std::mem::size_of;
use zeroize::Zeroizing;

/// A caller's length (or count) as a Rust length: one the address space cannot
/// hold is a bad argument, never a truncated buffer.
pub fn to_usize(n: CK_ULONG) -> Result<usize> {
    usize::try_from(n).map_err(|_| bad(CKR_ARGUMENTS_BAD, "length exceeds the address space"))
}

/// A length (or count) for the caller: one a CK_ULONG cannot carry is refused
/// rather than reported truncated.
pub fn to_ulong(n: usize) -> Result<CK_ULONG> {
    CK_ULONG::try_from(n).map_err(|_| bad(CKR_ARGUMENTS_BAD, "length exceeds CK_ULONG"))
}

/// An input buffer; NULL is allowed only with length 0.
///
/// # Safety
/// `p` must point to `len` readable bytes when non-NULL.
pub unsafe fn input<'a>(p: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    if p.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(bad(CKR_ARGUMENTS_BAD, "NULL input with a non-zero length"));
    }
    let len = to_usize(len)?;
    // SAFETY: the caller promises `len` readable bytes at `p`.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// An output buffer: `None` when `p` is NULL (a length query).
///
/// # Safety
/// `len` must be a valid pointer; `p`, when non-NULL, must hold `*len` writable bytes.
pub unsafe fn output<'a>(p: *mut u8, len: *mut CK_ULONG) -> Result<Option<&'a mut [u8]>> {
    if len.is_null() {
        return Err(bad(CKR_ARGUMENTS_BAD, "NULL length pointer"));
    }
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: checked non-NULL above; valid for reads per the caller.
    let room = to_usize(unsafe { *len })?;
    // SAFETY: the caller promises `*len` writable bytes at `p`.
    Ok(Some(unsafe { std::slice::from_raw_parts_mut(p, room) }))
}

/// Report the produced (or needed) length through `len`, per the spec.
///
/// # Safety
/// `len` must be valid for writes.
pub unsafe fn answer_len(r: Result<usize>, len: *mut CK_ULONG) -> Result<()> {
    match r {
        Ok(n) => {
            let n = to_ulong(n)?;
            // SAFETY: checked non-NULL by `output`.
            unsafe { *len = n };
            Ok(())
        }
        Err(e) => {
            if let Some(n) = e.needed_len() {
                let n = to_ulong(n)?;
                // SAFETY: as above.
                unsafe { *len = n };
            }
            Err(e)
        }
    }
}

/// Write a plain value to an out-pointer.
///
/// # Safety
/// `p`, when non-NULL, must be valid for writes of `T`.
pub unsafe fn put<T>(p: *mut T, v: T) -> Result<()> {
    if p.is_null() {
        return Err(bad(CKR_ARGUMENTS_BAD, "NULL output pointer"));
    }
    // SAFETY: non-NULL and valid per the caller.
    unsafe { p.write(v) };
    Ok(())
}

/// The spec's list convention: NULL list = count query; too short = BUFFER_TOO_SMALL.
///
/// # Safety
/// `count` must be valid; `list`, when non-NULL, must hold `*count` elements.
pub unsafe fn put_list<T: Copy>(items: &[T], list: *mut T, count: *mut CK_ULONG) -> Result<()> {
    if count.is_null() {
        return Err(bad(CKR_ARGUMENTS_BAD, "NULL count pointer"));
    }
    // SAFETY: checked non-NULL.
    let room = to_usize(unsafe { *count })?;
    let n = to_ulong(items.len())?;
    // SAFETY: as above.
    unsafe { *count = n };
    if list.is_null() {
        return Ok(());
    }
    if room < items.len() {
        return Err(bad(CKR_BUFFER_TOO_SMALL, "list buffer too small"));
    }
    // SAFETY: the caller's list holds at least `room >= items.len()` elements.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), list, items.len()) };
    Ok(())
}

/// A template of attribute values, copied (and zeroized on drop).
///
/// # Safety
/// `p` must point to `n` attributes whose value pointers hold their lengths.
pub unsafe fn template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<Vec<Attr>> {
    if p.is_null() {
        if n == 0 {
            return Ok(Vec::new());
        }
        return Err(bad(
            CKR_ARGUMENTS_BAD,
            "NULL template with a non-zero count",
        ));
    }
    let n = to_usize(n)?;
    // SAFETY: the caller promises `n` attributes at `p`.
    let raw = unsafe { std::slice::from_raw_parts(p, n) };
    raw.iter()
        .map(|a| {
            // SAFETY: each value pointer holds `ulValueLen` bytes per the caller.
            let v = unsafe { input(a.pValue as *const u8, a.ulValueLen) }.map_err(|_| {
                bad(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "NULL attribute value with a length",
                )
            })?;
            Ok(Attr::new(a.type_, v.to_vec()))
        })
        .collect()
}

/// The requests of C_GetAttributeValue.
///
/// # Safety
/// As for `template`, with value pointers writable.
pub unsafe fn attr_requests(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<Vec<AttrReq>> {
    if p.is_null() {
        return Err(bad(CKR_ARGUMENTS_BAD, "NULL template"));
    }
    let n = to_usize(n)?;
    // SAFETY: the caller promises `n` attributes at `p`.
    let raw = unsafe { std::slice::from_raw_parts(p, n) };
    raw.iter()
        .map(|a| {
            let room = if a.pValue.is_null() {
                None
            } else {
                Some(to_usize(a.ulValueLen)?)
            };
            Ok(AttrReq::new(a.type_, room))
        })
        .collect()
}

/// Copy answered attribute requests back into the caller's template.
///
/// # Safety
/// As for `attr_requests`.
pub unsafe fn write_back(p: *mut CK_ATTRIBUTE, reqs: &[AttrReq]) {
    for (i, r) in reqs.iter().enumerate() {
        // SAFETY: `p` holds `reqs.len()` attributes (built from it).
        let a = unsafe { &mut *p.add(i) };
        if let Some(v) = r.value() {
            // SAFETY: the value fits the caller's buffer (the request had its size).
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), a.pValue as *mut u8, v.len()) };
        }
        a.ulValueLen = r.len;
    }
}

/// Read a parameter struct of type `T` from the mechanism.
///
/// # Safety
/// `m.pParameter` must point to `m.ulParameterLen` readable bytes.
unsafe fn param_struct<T: Copy>(m: &CK_MECHANISM) -> Result<T> {
    if m.pParameter.is_null() || usize::try_from(m.ulParameterLen) != Ok(size_of::<T>()) {
        return Err(bad(
            CKR_MECHANISM_PARAM_INVALID,
            "mechanism parameter has the wrong size",
        ));
    }
    // SAFETY: size checked; read_unaligned tolerates any alignment.
    Ok(unsafe { std::ptr::read_unaligned(m.pParameter as *const T) })
}

/// # Safety
/// `p` must point to `len` readable bytes when non-NULL.
unsafe fn param_bytes(p: *const u8, len: CK_ULONG) -> Result<Vec<u8>> {
    // SAFETY: per the caller.
    unsafe { input(p, len) }.map(|s| s.to_vec()).map_err(|_| {
        bad(
            CKR_MECHANISM_PARAM_INVALID,
            "NULL pointer in a mechanism parameter",
        )
    })
}

/// The mechanism of a key-generation function: one `fits` does not take is
/// CKR_MECHANISM_INVALID before its parameter is looked at (a GCM mechanism in
/// C_GenerateKey is the wrong mechanism, not a bad parameter).
///
/// # Safety
/// As [`mechanism`].
pub unsafe fn mechanism_for(
    p: *const CK_MECHANISM,
    fits: impl Fn(CK_MECHANISM_TYPE) -> bool,
) -> Result<Mechanism> {
    // SAFETY: read only when non-NULL, valid per the caller.
    if !p.is_null() && !fits(unsafe { (*p).mechanism }) {
        return Err(bad(
            CKR_MECHANISM_INVALID,
            "not a mechanism of this function",
        ));
    }
    // SAFETY: per the caller.
    unsafe { mechanism(p) }
}

/// A mechanism the bridge can carry, with its parameter copied and checked.
///
/// # Safety
/// `p` must be NULL or point to a mechanism whose parameter pointers are valid.
pub unsafe fn mechanism(p: *const CK_MECHANISM) -> Result<Mechanism> {
    if p.is_null() {
        return Err(bad(CKR_ARGUMENTS_BAD, "NULL mechanism"));
    }
    // SAFETY: non-NULL per the check, valid per the caller.
    let m = unsafe { &*p };
    let kind = param_kind(m.mechanism).ok_or(bad(
        CKR_MECHANISM_INVALID,
        "mechanism not carried by kmsbridge",
    ))?;
    let none = m.pParameter.is_null() && m.ulParameterLen == 0;
    let param = match kind {
        ParamKind::None if none => MechParam::None,
        ParamKind::None => {
            return Err(bad(
                CKR_MECHANISM_PARAM_INVALID,
                "mechanism takes no parameter",
            ))
        }
        ParamKind::OptionalFlat(_) if none => MechParam::None,
        ParamKind::Flat(n) | ParamKind::OptionalFlat(n) => {
            if usize::try_from(m.ulParameterLen) != Ok(n) || m.pParameter.is_null() {
                return Err(bad(
                    CKR_MECHANISM_PARAM_INVALID,
                    "mechanism parameter has the wrong size",
                ));
            }
            // SAFETY: `ulParameterLen` (checked to be `n`) bytes at pParameter per the caller.
            MechParam::Flat(Zeroizing::new(unsafe {
                param_bytes(m.pParameter as *const u8, m.ulParameterLen)
            }?))
        }
        ParamKind::Gcm => {
            // SAFETY: per the caller.
            let g: CK_GCM_PARAMS = unsafe { param_struct(m) }?;
            // The spec bounds the tag to 0..=128 bits (SP 800-38D's set here: both
            // instance kinds alike) and the IV to 1..=2^32-1 bytes.
            if !gcm_tag_bits_ok(g.ulTagBits) || g.ulIvLen == 0 {
                return Err(bad(
                    CKR_MECHANISM_PARAM_INVALID,
                    "GCM tag or IV length out of range",
                ));
            }
            MechParam::Gcm {
                // SAFETY: the struct's pointers hold their lengths per the caller.
                iv: unsafe { param_bytes(g.pIv, g.ulIvLen) }?,
                iv_bits: g.ulIvBits,
                // SAFETY: as above.
                aad: unsafe { param_bytes(g.pAAD, g.ulAADLen) }?,
                tag_bits: g.ulTagBits,
            }
        }
        ParamKind::Oaep => {
            // SAFETY: per the caller.
            let o: CK_RSA_PKCS_OAEP_PARAMS = unsafe { param_struct(m) }?;
            MechParam::Oaep {
                hash: o.hashAlg,
                mgf: o.mgf,
                source: o.source,
                // SAFETY: as above.
                source_data: unsafe { param_bytes(o.pSourceData as *const u8, o.ulSourceDataLen) }?,
            }
        }
        ParamKind::Ecdh1 => {
            // SAFETY: per the caller.
            let e: CK_ECDH1_DERIVE_PARAMS = unsafe { param_struct(m) }?;
            MechParam::Ecdh1 {
                kdf: e.kdf,
                // SAFETY: as above.
                shared: unsafe { param_bytes(e.pSharedData, e.ulSharedDataLen) }?,
                // SAFETY: as above.
                public: unsafe { param_bytes(e.pPublicData, e.ulPublicDataLen) }?,
            }
        }
        ParamKind::RsaAesKeyWrap => {
            // SAFETY: per the caller.
            let r: CK_RSA_AES_KEY_WRAP_PARAMS = unsafe { param_struct(m) }?;
            if !matches!(r.ulAESKeyBits, 128 | 192 | 256) {
                return Err(bad(
                    CKR_MECHANISM_PARAM_INVALID,
                    "ulAESKeyBits is not 128, 192 or 256",
                ));
            }
            if r.pOAEPParams.is_null() {
                return Err(bad(CKR_MECHANISM_PARAM_INVALID, "NULL pOAEPParams"));
            }
            // SAFETY: non-NULL, and points to a CK_RSA_PKCS_OAEP_PARAMS per the caller;
            // read_unaligned tolerates any alignment.
            let o = unsafe { std::ptr::read_unaligned(r.pOAEPParams) };
            MechParam::RsaAesKeyWrap {
                aes_bits: r.ulAESKeyBits,
                hash: o.hashAlg,
                mgf: o.mgf,
                source: o.source,
                // SAFETY: as above.
                source_data: unsafe { param_bytes(o.pSourceData as *const u8, o.ulSourceDataLen) }?,
            }
        }
        ParamKind::Eddsa if none => MechParam::None,
        ParamKind::Eddsa => {
            // SAFETY: per the caller.
            let e: CK_EDDSA_PARAMS = unsafe { param_struct(m) }?;
            MechParam::Eddsa {
                ph: e.phFlag != 0,
                // SAFETY: as above.
                context: unsafe { param_bytes(e.pContextData, e.ulContextDataLen) }?,
            }
        }
    };
    if let MechParam::Flat(b) = &param {
        if !pss_params_ok(m.mechanism, b) {
            return Err(bad(
                CKR_MECHANISM_PARAM_INVALID,
                "PSS hashAlg or mgf not a digest and MGF1 (or not the mechanism's hash)",
            ));
        }
    }
    Ok(Mechanism {
        ty: m.mechanism,
        param,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_aes(bits: CK_ULONG, oaep: *mut CK_RSA_PKCS_OAEP_PARAMS) -> CK_RSA_AES_KEY_WRAP_PARAMS {
        CK_RSA_AES_KEY_WRAP_PARAMS {
            ulAESKeyBits: bits,
            pOAEPParams: oaep,
        }
    }

    fn parse(p: &mut CK_RSA_AES_KEY_WRAP_PARAMS, len: usize) -> Result<Mechanism> {
        let m = CK_MECHANISM {
            mechanism: CKM_RSA_AES_KEY_WRAP,
            pParameter: p as *mut _ as *mut std::ffi::c_void,
            ulParameterLen: CK_ULONG::try_from(len).unwrap(),
        };
        // SAFETY: `m` and the structs it points to live across the call.
        unsafe { mechanism(&m) }
    }

    #[test]
    fn rsa_aes_key_wrap_params_are_copied() {
        let mut label = *b"label";
        let mut o = CK_RSA_PKCS_OAEP_PARAMS {
            hashAlg: CKM_SHA256,
            mgf: CKG_MGF1_SHA256,
            source: CKZ_DATA_SPECIFIED,
            pSourceData: label.as_mut_ptr() as *mut std::ffi::c_void,
            ulSourceDataLen: CK_ULONG::try_from(label.len()).unwrap(),
        };
        let mut p = rsa_aes(256, &mut o);
        let m = parse(&mut p, size_of::<CK_RSA_AES_KEY_WRAP_PARAMS>()).expect("valid params");
        let MechParam::RsaAesKeyWrap {
            aes_bits,
            hash,
            mgf,
            source,
            source_data,
        } = m.param
        else {
            panic!("wrong parameter kind");
        };
        assert_eq!(
            (aes_bits, hash, mgf, source),
            (256, CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED)
        );
        assert_eq!(source_data, b"label");
    }

    #[test]
    fn bad_rsa_aes_key_wrap_params_are_param_invalid() {
        let mut o = CK_RSA_PKCS_OAEP_PARAMS {
            hashAlg: CKM_SHA_1,
            mgf: CKG_MGF1_SHA1,
            source: CKZ_DATA_SPECIFIED,
            pSourceData: std::ptr::null_mut(),
            ulSourceDataLen: 0,
        };
        let size = size_of::<CK_RSA_AES_KEY_WRAP_PARAMS>();
        let rv = |r: Result<Mechanism>| r.map(|_| ()).unwrap_err().ck_rv();
        assert_eq!(
            rv(parse(&mut rsa_aes(100, &mut o), size)),
            CKR_MECHANISM_PARAM_INVALID
        );
        let null = std::ptr::null_mut();
        assert_eq!(
            rv(parse(&mut rsa_aes(256, null), size)),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            rv(parse(&mut rsa_aes(256, &mut o), size - 1)),
            CKR_MECHANISM_PARAM_INVALID
        );
        // Source data length without a pointer.
        o.ulSourceDataLen = 4;
        assert_eq!(
            rv(parse(&mut rsa_aes(256, &mut o), size)),
            CKR_MECHANISM_PARAM_INVALID
        );
    }
}
