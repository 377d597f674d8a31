//! Index terms: what a store keeps so that a find by label, id, application or key
//! type is one indexed lookup rather than a scan (see [`crate::Query`]).
//!
//! Which values reach the store, and how:
//! - a public object's clear attribute: its value (`0x00 || value`, or for a value
//!   longer than [`MAX_PLAIN`] `0x02 || SHA-256(value)`). The row holds that value in
//!   clear already (public objects are findable before login), so the term reveals
//!   nothing new;
//! - a private object's attribute: `0x01 || HMAC-SHA256(index key, type || value)`,
//!   the index key derived from the DEK and the token generation. A private object's
//!   label or id is therefore never in clear at rest, yet it is found in one lookup
//!   by whoever holds the DEK;
//! - secret attributes (key material, anything sealed on a public object): no term.
//!
//! Only the types in [`INDEXED`] get terms; the rest of a template is checked by the
//! caller on the candidates.

use cryptoki_sys::{CKA_APPLICATION, CKA_ID, CKA_KEY_TYPE, CKA_LABEL};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::objects::ObjectRecord;
use crate::pins::Dek;

/// The attribute types a store indexes, most selective first (a store may drive its
/// lookup from the first term of a query). KMS keys are found by `CKA_ID` (the key
/// id) and the module's hidden records by `CKA_APPLICATION` and `CKA_LABEL`.
pub const INDEXED: &[u64] = &[CKA_ID, CKA_LABEL, CKA_APPLICATION, CKA_KEY_TYPE];

/// Longer clear values are indexed by their hash, keeping terms short.
pub const MAX_PLAIN: usize = 64;

const INDEX_KEY_INFO: &[u8] = b"kmsbridge.store.v1.index-key";

/// The key of a private object's terms, derived from the DEK and the token generation.
pub(crate) struct IndexKey(Zeroizing<[u8; 32]>);

impl IndexKey {
    pub(crate) fn of(dek: &Dek) -> Option<IndexKey> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&dek.key[..]).ok()?;
        mac.update(INDEX_KEY_INFO);
        mac.update(&dek.token_uid);
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(&mac.finalize().into_bytes());
        Some(IndexKey(k))
    }

    fn blind(&self, ty: u64, value: &[u8]) -> Option<Vec<u8>> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0[..]).ok()?;
        mac.update(&ty.to_le_bytes());
        mac.update(value);
        let mut t = Vec::with_capacity(33);
        t.push(1);
        t.extend_from_slice(&mac.finalize().into_bytes());
        Some(t)
    }
}

fn plain(value: &[u8]) -> Vec<u8> {
    if value.len() <= MAX_PLAIN {
        let mut t = Vec::with_capacity(value.len() + 1);
        t.push(0);
        t.extend_from_slice(value);
        t
    } else {
        let mut t = Vec::with_capacity(33);
        t.push(2);
        t.extend_from_slice(&Sha256::digest(value));
        t
    }
}

/// The terms of `rec`, or `None` when they cannot be made (a private object without
/// the index key): the row then stays unindexed, a candidate of every find of its class.
pub(crate) fn terms_of(
    key: Option<&IndexKey>,
    rec: &ObjectRecord,
    secret: &dyn Fn(u64) -> bool,
) -> Option<Vec<(u64, Vec<u8>)>> {
    let mut out = Vec::new();
    for &ty in INDEXED {
        let Some(v) = rec.get(ty) else { continue };
        if rec.private {
            out.push((ty, key?.blind(ty, v)?));
        } else if !secret(ty) && !rec.withheld.contains(&ty) {
            out.push((ty, plain(v)));
        }
    }
    Some(out)
}

/// The terms a find looks for: for each indexed type in `template`, the term a public
/// object would have and, with the key, the one a private object would have.
pub(crate) fn query_terms(
    key: Option<&IndexKey>,
    template: &[(u64, &[u8])],
) -> Vec<(u64, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    for &ty in INDEXED {
        let Some((_, v)) = template.iter().find(|(t, _)| *t == ty) else {
            continue;
        };
        let mut ts = vec![plain(v)];
        if let Some(b) = key.and_then(|k| k.blind(ty, v)) {
            ts.push(b);
        }
        out.push((ty, ts));
    }
    out
}
