//! The object calls: sealing on insert and update, the rules for a caller without
//! the DEK, and opening on load, over any [`Rows`] (see `crate::objects` for what a
//! row holds).

use super::Store;
use crate::objects::{corrupt, no_object, open_part, seal_part, split, ObjectRecord, ObjectRow};
use crate::pins::Dek;
use crate::rows::Rows;
use crate::seal;
use crate::token::TokenRow;
use kmsbridge_bridge::{Error, ObjectId, Result};

/// Fail with `CKR_USER_NOT_LOGGED_IN` unless `dek` belongs to the token as it is now.
fn check_current(t: &TokenRow, dek: &Dek) -> Result<[u8; seal::UID_LEN]> {
    if t.info.initialized && t.token_uid == dek.token_uid {
        Ok(t.token_uid)
    } else {
        Err(Error::rv(
            cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
            "store: login predates a re-initialisation",
        ))
    }
}

impl<R: Rows> Store<R> {
    /// Store a new token object and return its id (never reused). With `secret(type)`
    /// true an attribute is sealed; every attribute of a private object is. Without a
    /// DEK, only a public object with nothing to seal can be stored
    /// (`CKR_USER_NOT_LOGGED_IN` otherwise).
    pub fn insert(
        &self,
        dek: Option<&Dek>,
        rec: &ObjectRecord,
        secret: impl Fn(u64) -> bool,
    ) -> Result<ObjectId> {
        let parts = split(rec, &secret)?;
        let needs_seal = rec.private || !parts.sealed.is_empty();
        if needs_seal && dek.is_none() {
            return Err(Error::rv(
                cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
                "store: sealing needs a login",
            ));
        }
        let mut row = ObjectRow {
            uid: seal::random_uid()?.to_vec(),
            class: rec.class,
            private: rec.private,
            clear: parts.clear.clone(),
            sealed_types: seal::encode_types(&parts.sealed_types),
            sealed: None,
        };
        self.write("store: insert", |tx| {
            let token_uid = dek.map(|d| check_current(&tx.token()?, d)).transpose()?;
            // The seal binds the id, which the row gets on insertion.
            row.sealed = None;
            let id = tx.insert_object(&row)?;
            if let (true, Some(dek), Some(token_uid)) = (needs_seal, dek, token_uid) {
                row.sealed = Some(seal_part(
                    dek,
                    &token_uid,
                    &row.uid,
                    id,
                    rec.class,
                    rec.private,
                    &parts.sealed,
                )?);
                tx.replace_object(id, &row)?;
            }
            Ok(id)
        })
    }

    /// Replace object `rec.id` with `rec` (same rules as [`Store::insert`]). Without a
    /// DEK only a public object's clear attributes can change; its seal is kept. With a
    /// DEK, the types in `rec.withheld` (a record loaded without the DEK) keep their
    /// sealed values.
    pub fn update(
        &self,
        dek: Option<&Dek>,
        rec: &ObjectRecord,
        secret: impl Fn(u64) -> bool,
    ) -> Result<()> {
        let id = rec.id;
        let parts = split(rec, &secret)?;
        self.write("store: update", |tx| {
            let row = tx.object(id)?.ok_or_else(no_object)?;
            let new = match dek {
                Some(dek) => {
                    let token_uid = check_current(&tx.token()?, dek)?;
                    // Bring back withheld values the caller never saw.
                    let kept = if rec.withheld.is_empty() {
                        Vec::new()
                    } else if let Some(blob) = &row.sealed {
                        let old = open_part(dek, &token_uid, id, &row, blob)
                            .ok_or_else(|| corrupt(id, "store: seal does not open"))?;
                        old.into_iter()
                            .filter(|(t, _)| {
                                rec.withheld.contains(t) && !rec.attrs.iter().any(|(u, _)| u == t)
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let mut sealed = parts.sealed.clone();
                    sealed.extend(kept.iter().map(|(t, v)| (*t, v.as_slice())));
                    let types: Vec<u64> = sealed.iter().map(|(t, _)| *t).collect();
                    let blob = if rec.private || !sealed.is_empty() {
                        Some(seal_part(
                            dek,
                            &token_uid,
                            &row.uid,
                            id,
                            rec.class,
                            rec.private,
                            &sealed,
                        )?)
                    } else {
                        None
                    };
                    ObjectRow {
                        uid: row.uid,
                        class: rec.class,
                        private: rec.private,
                        clear: parts.clear.clone(),
                        sealed_types: seal::encode_types(&types),
                        sealed: blob,
                    }
                }
                None => {
                    let stored_types = seal::decode_types(&row.sealed_types)
                        .ok_or_else(|| corrupt(id, "store: sealed types malformed"))?;
                    let allowed = !row.private
                        && !rec.private
                        && parts.sealed.is_empty()
                        && (row.sealed.is_none() || row.class == rec.class)
                        && !rec.attrs.iter().any(|(t, _)| stored_types.contains(t));
                    if !allowed {
                        return Err(Error::rv(
                            cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
                            "store: changing sealed data needs a login",
                        ));
                    }
                    // The clear part changes; the seal and its list stay as they are.
                    ObjectRow {
                        class: rec.class,
                        clear: parts.clear.clone(),
                        ..row
                    }
                }
            };
            tx.replace_object(id, &new)
        })
    }

    /// Destroy an object for good (`CKR_OBJECT_HANDLE_INVALID` if there is none).
    pub fn delete(&self, id: ObjectId) -> Result<()> {
        self.write("store: delete", |tx| {
            if tx.delete_object(id)? {
                Ok(())
            } else {
                Err(no_object())
            }
        })
    }

    /// Read an object. A private object needs the DEK (`CKR_USER_NOT_LOGGED_IN`);
    /// without it a public object comes back with its sealed types in `withheld`.
    pub fn load(&self, dek: Option<&Dek>, id: ObjectId) -> Result<ObjectRecord> {
        let row = self.rows.object(id)?.ok_or_else(no_object)?;
        if row.private && dek.is_none() {
            return Err(Error::rv(
                cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
                "store: private object",
            ));
        }
        let mut attrs = seal::decode(&row.clear)
            .ok_or_else(|| corrupt(id, "store: clear attributes malformed"))?;
        let types = seal::decode_types(&row.sealed_types)
            .ok_or_else(|| corrupt(id, "store: sealed types malformed"))?;
        let mut withheld = Vec::new();
        match (&row.sealed, dek) {
            (Some(blob), Some(dek)) => {
                let Some(sealed) = open_part(dek, &dek.token_uid, id, &row, blob) else {
                    // A login from before a re-initialisation, or tampering.
                    check_current(&self.rows.token()?, dek)?;
                    return Err(corrupt(id, "store: seal does not open"));
                };
                attrs.extend(sealed);
            }
            (Some(_), None) => withheld = types,
            (None, _) => {
                if row.private || !types.is_empty() {
                    return Err(corrupt(id, "store: seal missing"));
                }
            }
        }
        Ok(ObjectRecord {
            id,
            class: row.class,
            private: row.private,
            attrs,
            withheld,
        })
    }
}
