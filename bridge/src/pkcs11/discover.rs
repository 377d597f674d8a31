//! What a node learns of its library when it connects: the slot of its token, the
//! mechanisms it can carry (and those composed over them), and known deviations.

use super::library::Library;
use super::prehash;
use crate::error::{check, Error, Result};
use cryptoki_sys::*;
use std::sync::Arc;

pub(super) type MechList = Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)>;

/// How the node serves `CKM_RSA_AES_KEY_WRAP` unwraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RsaAes {
    /// The library has it.
    Native,
    /// Composed from its OAEP and `CKM_AES_KEY_WRAP_PAD` (`unwrap.rs`).
    Composed,
    Absent,
}

/// A blank-padded PKCS#11 text field as a string.
pub(super) fn trim(field: &[u8]) -> String {
    String::from_utf8_lossy(field)
        .trim_end_matches([' ', '\0'])
        .to_string()
}

/// The token a node names: by label and/or serial number (`None`: any).
pub(super) struct TokenName<'a> {
    pub node: &'a str,
    pub label: Option<&'a str>,
    pub serial: Option<&'a str>,
}

/// The slot of `token`. A token can be missing for a moment: SoftHSM2 rewrites its
/// token file when another process logs in, and a library that loads the token
/// from a half-written file leaves it out until it is initialised again. So look
/// again for ~0.6 s, re-initialising the library in between when nothing else in
/// this process uses it yet, before giving up.
pub(super) fn find_slot(lib: &Arc<Library>, token: &TokenName) -> Result<CK_SLOT_ID> {
    let mut pause = std::time::Duration::from_millis(20);
    for _ in 0..5 {
        if let Some(slot) = matching_slot(lib, token)? {
            return Ok(slot);
        }
        std::thread::sleep(pause);
        pause *= 2;
        if Arc::strong_count(lib) == 1 {
            lib.reinitialize()?;
        }
    }
    if let Some(slot) = matching_slot(lib, token)? {
        return Ok(slot);
    }
    Err(Error::Unavailable(format!(
        "{}: no token with label {:?} serial {:?} in {}",
        token.node,
        token.label,
        token.serial,
        lib.path().display()
    )))
}

fn matching_slot(lib: &Library, token: &TokenName) -> Result<Option<CK_SLOT_ID>> {
    let slots = two_call_list("C_GetSlotList", |p, n| {
        lib.call(
            |l| l.C_GetSlotList,
            // SAFETY: the library writes at most `*n` slot ids to `p` (none when
            // NULL: a count query) and their count to `n`; both live for the call.
            |f| unsafe { f(CK_TRUE, p, n) },
        )
    })?;
    for slot in slots {
        let Ok(ti) = token_info(lib, slot) else {
            continue;
        };
        let label_ok = token.label.is_none_or(|l| trim(&ti.label) == l);
        let serial_ok = token.serial.is_none_or(|s| trim(&ti.serialNumber) == s);
        if label_ok && serial_ok {
            return Ok(Some(slot));
        }
    }
    Ok(None)
}

/// C_GetTokenInfo of `slot`.
pub(super) fn token_info(lib: &Library, slot: CK_SLOT_ID) -> Result<CK_TOKEN_INFO> {
    let mut ti = CK_TOKEN_INFO::default();
    let rv = lib.call(
        |l| l.C_GetTokenInfo,
        // SAFETY: the library writes one CK_TOKEN_INFO to `ti`, which lives for the call.
        |f| unsafe { f(slot, &mut ti) },
    );
    check(rv, "C_GetTokenInfo")?;
    Ok(ti)
}

/// SoftHSM2 up to 2.6, whose RFC 5649 wraps of partial blocks are wrong (SH-11).
pub(super) fn is_softhsm_up_to_2_6(lib: &Library) -> bool {
    let mut info = CK_INFO::default();
    let rv = lib.call(
        |l| l.C_GetInfo,
        // SAFETY: the library writes one CK_INFO to `info`, which lives for the call.
        |f| unsafe { f(&mut info) },
    );
    if rv != CKR_OK {
        return false;
    }
    let v = info.libraryVersion;
    trim(&info.manufacturerID).starts_with("SoftHSM") && (v.major, v.minor) <= (2, 6)
}

/// A list by the spec's two calls: the count, then the items. `call` gets the
/// items' buffer (NULL for the count) and the count, in and out.
fn two_call_list<T: Copy + Default>(
    func: &'static str,
    call: impl Fn(*mut T, *mut CK_ULONG) -> CK_RV,
) -> Result<Vec<T>> {
    let mut n: CK_ULONG = 0;
    check(call(std::ptr::null_mut(), &mut n), func)?;
    let mut items = vec![T::default(); n as usize];
    check(call(items.as_mut_ptr(), &mut n), func)?;
    items.truncate(n as usize);
    Ok(items)
}

/// The mechanisms of `slot` the bridge can carry, with the composed ECDSA-SHA*
/// (true when any is composed) and how RSA-AES unwraps are served.
pub(super) fn read_mechanisms(lib: &Library, slot: CK_SLOT_ID) -> Result<(MechList, bool, RsaAes)> {
    let types = two_call_list("C_GetMechanismList", |p, n| {
        lib.call(
            |l| l.C_GetMechanismList,
            // SAFETY: the library writes at most `*n` mechanism types to `p` (none
            // when NULL: a count query) and their count to `n`; both live for the call.
            |f| unsafe { f(slot, p, n) },
        )
    })?;
    let mut out = Vec::new();
    for ty in types {
        if crate::mech::param_kind(ty).is_none() {
            continue;
        }
        let mut info = CK_MECHANISM_INFO::default();
        let rv = lib.call(
            |l| l.C_GetMechanismInfo,
            // SAFETY: the library writes one CK_MECHANISM_INFO to `info`, which lives
            // for the call.
            |f| unsafe { f(slot, ty, &mut info) },
        );
        if rv == CKR_OK {
            out.push((ty, info));
        }
    }
    let raw = out.iter().find(|(t, _)| *t == CKM_ECDSA).map(|(_, i)| *i);
    let mut composed = false;
    if let Some(raw) = raw {
        for ty in prehash::COMPOSED_ECDSA {
            if !out.iter().any(|(t, _)| *t == ty) {
                composed = true;
                let info = CK_MECHANISM_INFO {
                    flags: raw.flags
                        & (CKF_SIGN
                            | CKF_VERIFY
                            | CKF_HW
                            | CKF_EC_F_P
                            | CKF_EC_OID
                            | CKF_EC_UNCOMPRESS),
                    ..raw
                };
                out.push((ty, info));
            }
        }
    }
    let rsa_aes = rsa_aes_support(&mut out);
    out.sort_by_key(|(t, _)| *t);
    Ok((out, composed, rsa_aes))
}

/// `CKM_RSA_AES_KEY_WRAP`, native or composed, listed for unwrapping only: kmsbridge
/// serves it for imports and does not wrap with it.
fn rsa_aes_support(mechs: &mut MechList) -> RsaAes {
    if let Some((_, info)) = mechs.iter_mut().find(|(t, _)| *t == CKM_RSA_AES_KEY_WRAP) {
        info.flags &= CKF_UNWRAP | CKF_HW;
        return RsaAes::Native;
    }
    let unwraps = |ty| {
        mechs
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, info)| *info)
            .filter(|info| info.flags & CKF_UNWRAP != 0)
    };
    match (unwraps(CKM_RSA_PKCS_OAEP), unwraps(CKM_AES_KEY_WRAP_PAD)) {
        (Some(oaep), Some(_)) => {
            let info = CK_MECHANISM_INFO {
                flags: CKF_UNWRAP,
                ..oaep
            };
            mechs.push((CKM_RSA_AES_KEY_WRAP, info));
            RsaAes::Composed
        }
        _ => RsaAes::Absent,
    }
}
