//! The object calls: sealing on insert and update, the rules for a caller without
//! the DEK, and opening on load, over any [`Rows`] (see `crate::objects` for what a
//! row holds).

use super::Store;
use crate::index::{terms_of, IndexKey};
use crate::objects::{corrupt, no_object, open_part, seal_part, split, ObjectRecord, ObjectRow};
use crate::pins::Dek;
use crate::rows::{Reserved, Rows};
use crate::seal;
use crate::token::TokenRow;
use kmsbridge_bridge::{Error, ObjectId, Result};

/// Fail with `CKR_USER_NOT_LOGGED_IN` unless `dek` belongs to the token as it is now.
pub(super) fn check_current(t: &TokenRow, dek: &Dek) -> Result<[u8; seal::UID_LEN]> {
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
        let ids = self.insert_many(dek, std::slice::from_ref(rec), secret)?;
        ids.first().copied().ok_or_else(no_object)
    }

    /// Store several new token objects in one write transaction (all or none), as
    /// [`Store::insert`] each; their ids in order. The bulk path: one commit (one
    /// fsync) for the lot.
    pub fn insert_many(
        &self,
        dek: Option<&Dek>,
        recs: &[ObjectRecord],
        secret: impl Fn(u64) -> bool,
    ) -> Result<Vec<ObjectId>> {
        let key = dek.and_then(IndexKey::of);
        let mut prepared = Vec::with_capacity(recs.len());
        for rec in recs {
            let parts = split(rec, &secret)?;
            let needs_seal = rec.private || !parts.sealed.is_empty();
            if needs_seal && dek.is_none() {
                return Err(Error::rv(
                    cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
                    "store: sealing needs a login",
                ));
            }
            let row = ObjectRow {
                uid: seal::random_uid()?.to_vec(),
                class: rec.class,
                private: rec.private,
                clear: parts.clear.clone(),
                sealed_types: seal::encode_types(&parts.sealed_types),
                sealed: None,
            };
            let terms = terms_of(key.as_ref(), rec, &secret);
            prepared.push((rec, parts, needs_seal, row, terms));
        }
        self.write("store: insert", |tx| {
            let token_uid = dek.map(|d| check_current(&tx.token()?, d)).transpose()?;
            if let Some(ids) = tx.reserve_ids(prepared.len())? {
                if ids.len() != prepared.len() {
                    return Err(Error::rv(
                        cryptoki_sys::CKR_GENERAL_ERROR,
                        "store: reserved ids miscounted",
                    ));
                }
                // The bulk path: ids first, so each row is sealed before it is sent.
                for ((rec, parts, needs_seal, row, _), &id) in prepared.iter_mut().zip(&ids) {
                    row.sealed = match (*needs_seal, dek, token_uid) {
                        (true, Some(dek), Some(token_uid)) => Some(seal_part(
                            dek,
                            &token_uid,
                            &row.uid,
                            id,
                            rec.class,
                            rec.private,
                            &parts.sealed,
                        )?),
                        _ => None,
                    };
                }
                let rows: Vec<Reserved<'_>> = prepared
                    .iter()
                    .zip(&ids)
                    .map(|((_, _, _, row, terms), &id)| (id, row, terms.as_deref()))
                    .collect();
                tx.insert_reserved(&rows)?;
                return Ok(ids);
            }
            let mut ids = Vec::with_capacity(prepared.len());
            for (rec, parts, needs_seal, row, terms) in prepared.iter_mut() {
                // The seal binds the id, which the row gets on insertion.
                row.sealed = None;
                let id = tx.insert_object(row)?;
                if let (true, Some(dek), Some(token_uid)) = (*needs_seal, dek, token_uid) {
                    row.sealed = Some(seal_part(
                        dek,
                        &token_uid,
                        &row.uid,
                        id,
                        rec.class,
                        rec.private,
                        &parts.sealed,
                    )?);
                    tx.replace_object(id, row)?;
                }
                if let Some(t) = terms {
                    tx.set_terms(id, t)?;
                }
                ids.push(id);
            }
            Ok(ids)
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
        let terms = terms_of(dek.and_then(IndexKey::of).as_ref(), rec, &secret);
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
            tx.replace_object(id, &new)?;
            match &terms {
                Some(t) => tx.set_terms(id, t),
                None => Ok(()),
            }
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
        open_row(dek, id, row).map_err(|e| match (e, dek) {
            // A login from before a re-initialisation, or tampering.
            (Opened::Seal, Some(dek)) => match self.rows.token() {
                Ok(t) => check_current(&t, dek)
                    .err()
                    .unwrap_or_else(|| corrupt(id, "store: seal does not open")),
                Err(e) => e,
            },
            (Opened::Seal, None) => corrupt(id, "store: seal does not open"),
            (Opened::Err(e), _) => e,
        })
    }

    /// Give index terms to up to `batch` rows that have none (rows from before the
    /// index, see [`Rows::unindexed`]), in one write; how many. The software backend
    /// calls it after a login until it answers 0.
    pub fn reindex(&self, dek: &Dek, batch: usize) -> Result<usize> {
        let ids = self.rows.unindexed(batch)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let key = IndexKey::of(dek);
        self.write("store: reindex", |tx| {
            check_current(&tx.token()?, dek)?;
            for &id in &ids {
                // Read inside the write: a concurrent update's terms are never
                // replaced by ones from an older row.
                let Some(row) = tx.object(id)? else { continue };
                // The row's sealed attributes give no term.
                let sealed = seal::decode_types(&row.sealed_types);
                let terms = match (open_row(Some(dek), id, row), sealed) {
                    (Ok(rec), Some(sealed)) => {
                        terms_of(key.as_ref(), &rec, &|ty| sealed.contains(&ty)).unwrap_or_default()
                    }
                    _ => {
                        tracing::error!(id, "store: reindex skips an object that does not open");
                        Vec::new()
                    }
                };
                tx.set_terms(id, &terms)?;
            }
            Ok(ids.len())
        })
    }
}

/// Why a row did not open.
enum Opened {
    /// The seal did not authenticate.
    Seal,
    Err(Error),
}

impl From<Error> for Opened {
    fn from(e: Error) -> Opened {
        Opened::Err(e)
    }
}

/// The record a row holds (see [`Store::load`]).
fn open_row(
    dek: Option<&Dek>,
    id: ObjectId,
    row: ObjectRow,
) -> std::result::Result<ObjectRecord, Opened> {
    if row.private && dek.is_none() {
        return Err(Error::rv(
            cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
            "store: private object",
        )
        .into());
    }
    let mut attrs =
        seal::decode(&row.clear).ok_or_else(|| corrupt(id, "store: clear attributes malformed"))?;
    let types = seal::decode_types(&row.sealed_types)
        .ok_or_else(|| corrupt(id, "store: sealed types malformed"))?;
    let mut withheld = Vec::new();
    match (&row.sealed, dek) {
        (Some(blob), Some(dek)) => {
            let sealed = open_part(dek, &dek.token_uid, id, &row, blob).ok_or(Opened::Seal)?;
            attrs.extend(sealed);
        }
        (Some(_), None) => withheld = types,
        (None, _) => {
            if row.private || !types.is_empty() {
                return Err(corrupt(id, "store: seal missing").into());
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
