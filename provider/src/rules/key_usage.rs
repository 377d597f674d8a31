//! The key-usage policy against key-management attacks (Bortolozzo, Centenaro,
//! Focardi, Steel, CCS 2010), on every instance kind: docs/KEYS.md "Key-usage
//! policy". A sensitive key leaves the token only wrapped under a key whose holder
//! cannot read the blob back; what such a key unwraps stays sensitive; and such a
//! key never gains CKA_DECRYPT.
//!
//! A *guarding* key is one a sensitive key may be wrapped under: CKA_TRUSTED (set by
//! the SO only), or a secret key that cannot decrypt and whose value never left the
//! token (CKA_ALWAYS_SENSITIVE). Public keys guard only when trusted: their private
//! half may be anywhere.

use crate::error::{rule, Result};
use crate::instance::Instance;
use crate::objects::ObjEntry;
use cryptoki_sys::*;
use kmsbridge_bridge::{attr, Attr, AttrReq};

/// What the policy reads of a key.
#[derive(Debug, Default)]
struct Flags {
    sensitive: bool,
    extractable: bool,
    decrypt: bool,
    always_sensitive: bool,
    trusted: bool,
}

impl Flags {
    fn read(inst: &Instance, e: &ObjEntry) -> Result<Flags> {
        // Attributes a class lacks come back unavailable: read as false.
        let mut reqs = [
            AttrReq::new(CKA_SENSITIVE, Some(1)),
            AttrReq::new(CKA_EXTRACTABLE, Some(1)),
            AttrReq::new(CKA_DECRYPT, Some(1)),
            AttrReq::new(CKA_ALWAYS_SENSITIVE, Some(1)),
            AttrReq::new(CKA_TRUSTED, Some(1)),
        ];
        inst.backend.get_attributes(e.id, &mut reqs)?;
        let on = |r: &AttrReq| {
            r.value()
                .is_some_and(|v| v.first().is_some_and(|b| *b != 0))
        };
        let [sensitive, extractable, decrypt, always_sensitive, trusted] = &reqs;
        Ok(Flags {
            sensitive: on(sensitive),
            extractable: on(extractable),
            decrypt: on(decrypt),
            always_sensitive: on(always_sensitive),
            trusted: on(trusted),
        })
    }

    /// May a sensitive key be wrapped under this key?
    fn guards(&self, class: CK_OBJECT_CLASS) -> bool {
        self.trusted || (class == CKO_SECRET_KEY && self.always_sensitive && !self.decrypt)
    }

    /// Might a sensitive key have been wrapped under this key (or its public half)?
    /// Then what it unwraps stays sensitive. Decided without CKA_DECRYPT, which may
    /// have been turned off since; a private key counts when its value never left.
    fn may_hold_sensitive_blobs(&self) -> bool {
        self.trusted || self.always_sensitive
    }
}

/// C_WrapKey: a sensitive key is wrapped only under a guarding key.
pub(crate) fn check_wrap(inst: &Instance, wrapping: &ObjEntry, key: &ObjEntry) -> Result<()> {
    let k = Flags::read(inst, key)?;
    // A key that may not leave at all gets the backend's CKR_KEY_UNEXTRACTABLE.
    if !k.sensitive || !k.extractable {
        return Ok(());
    }
    if Flags::read(inst, wrapping)?.guards(wrapping.class) {
        return Ok(());
    }
    rule(
        CKR_KEY_NOT_WRAPPABLE,
        "a sensitive key is wrapped only under a trusted key, or a secret key that cannot \
         decrypt and never left the token (docs/KEYS.md, key-usage policy)",
    )
}

/// C_UnwrapKey: the template of the new key. Under a key that may hold blobs of
/// sensitive keys, the new key is sensitive: asked for non-sensitive is
/// CKR_TEMPLATE_INCONSISTENT, left unsaid it is set.
pub(crate) fn unwrap_template(
    inst: &Instance,
    unwrapping: &ObjEntry,
    t: &[Attr],
) -> Result<Option<Vec<Attr>>> {
    if !Flags::read(inst, unwrapping)?.may_hold_sensitive_blobs() {
        return Ok(None);
    }
    match attr::find(t, CKA_SENSITIVE).and_then(Attr::as_bool) {
        Some(true) => Ok(None),
        Some(false) => rule(
            CKR_TEMPLATE_INCONSISTENT,
            "a key unwrapped under a key that may wrap sensitive keys is sensitive \
             (docs/KEYS.md, key-usage policy)",
        ),
        None => {
            let mut t = t.to_vec();
            t.push(Attr::bool(CKA_SENSITIVE, true));
            Ok(Some(t))
        }
    }
}

/// C_SetAttributeValue and C_CopyObject: a guarding key that cannot decrypt never
/// gains CKA_DECRYPT (it could then decrypt what it wrapped).
pub(crate) fn check_usage_change(inst: &Instance, e: &ObjEntry, t: &[Attr]) -> Result<()> {
    if attr::find(t, CKA_DECRYPT).and_then(Attr::as_bool) != Some(true) {
        return Ok(());
    }
    let f = Flags::read(inst, e)?;
    if f.decrypt || !(f.trusted || (e.class == CKO_SECRET_KEY && f.always_sensitive)) {
        return Ok(());
    }
    rule(
        CKR_TEMPLATE_INCONSISTENT,
        "CKA_DECRYPT is not turned on for a key that may wrap sensitive keys \
         (docs/KEYS.md, key-usage policy)",
    )
}
