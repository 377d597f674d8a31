//! Wrong-secret counters shared by every process (and host) using the instance, on
//! every instance kind: each failed attempt is one marker object in the instance,
//! created *before* the secret is checked and destroyed with the others when it proves
//! right. Creating an object is atomic on every backend, so concurrent guessers
//! cannot lose counts, and a process killed mid-check has still counted its attempt.

use crate::error::Result;
use crate::hidden_objects;
use crate::vendor::LOCKOUT_APPLICATION;
use cryptoki_sys::*;
use kmsbridge_bridge::{Attr, Backend, ObjectId};

/// Markers of `who` (a credential id, or `pin.user`).
fn template(who: &str) -> Vec<Attr> {
    let mut t = hidden_objects::template(LOCKOUT_APPLICATION, Some(who));
    t.push(Attr::bool(CKA_PRIVATE, false));
    t
}

/// Wrong attempts counted and not yet cleared.
pub(crate) fn failures(backend: &dyn Backend, who: &str) -> Result<usize> {
    Ok(markers(backend, who)?.len())
}

/// The markers of `who` now.
pub(crate) fn markers(backend: &dyn Backend, who: &str) -> Result<Vec<ObjectId>> {
    Ok(backend.find(&template(who))?)
}

/// Count one attempt before checking it.
pub(crate) fn count(backend: &dyn Backend, who: &str) -> Result<()> {
    let mut nonce = vec![0u8; 8];
    backend.random(&mut nonce)?;
    let mut t = template(who);
    t.extend([Attr::bool(CKA_TOKEN, true), Attr::new(CKA_VALUE, nonce)]);
    backend.create_object(&t)?;
    Ok(())
}

/// The secret proved right, or an administrator unlocked it: every marker goes.
pub(crate) fn clear(backend: &dyn Backend, who: &str) -> Result<()> {
    for id in backend.find(&template(who))? {
        // Another process may clear the same markers at once.
        if let Err(e) = backend.destroy_object(id) {
            tracing::debug!("lockout marker already gone: {e}");
        }
    }
    Ok(())
}

/// The secret proved right: the markers seen at its recount go (this attempt's and
/// those counted before it), without another search of the token. A marker another
/// process counted after that recount stays: its own check answers for it.
pub(crate) fn clear_seen(backend: &dyn Backend, seen: &[ObjectId]) {
    for id in seen {
        if let Err(e) = backend.destroy_object(*id) {
            tracing::debug!("lockout marker already gone: {e}");
        }
    }
}

/// CKF_USER_PIN_* flags for a count against a bound.
pub(crate) fn pin_flags(failures: usize, max: u32) -> CK_FLAGS {
    let max = max as usize;
    if failures >= max {
        CKF_USER_PIN_LOCKED
    } else if failures + 1 == max {
        CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY
    } else if failures > 0 {
        CKF_USER_PIN_COUNT_LOW
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_count() {
        assert_eq!(pin_flags(0, 5), 0);
        assert_eq!(pin_flags(1, 5), CKF_USER_PIN_COUNT_LOW);
        assert_eq!(
            pin_flags(4, 5),
            CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY
        );
        assert_eq!(pin_flags(5, 5), CKF_USER_PIN_LOCKED);
        assert_eq!(pin_flags(9, 5), CKF_USER_PIN_LOCKED);
    }
}
