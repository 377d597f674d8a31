//! Token objects in SQLite: one row each (see `crate::objects` for what a row holds).

use rusqlite::OptionalExtension;

use super::token_rows::check_current;
use super::{db, SqliteStore};
use crate::objects::{corrupt, no_object, open_part, seal_part, split, ObjectRecord, Row};
use crate::pins::Dek;
use crate::seal;
use kmsbridge_bridge::{Error, ObjectId, Result};

fn get_row(conn: &rusqlite::Connection, id: ObjectId) -> Result<Option<Row>> {
    let mut st = conn
        .prepare_cached(
            "SELECT uid, class, private, clear, sealed_types, sealed FROM object WHERE id = ?1",
        )
        .map_err(db("store: load"))?;
    st.query_row([id as i64], |r| {
        Ok(Row {
            uid: r.get(0)?,
            class: r.get::<_, i64>(1)? as u64,
            private: r.get::<_, i64>(2)? != 0,
            clear: r.get(3)?,
            sealed_types: r.get(4)?,
            sealed: r.get(5)?,
        })
    })
    .optional()
    .map_err(db("store: load"))
}

impl SqliteStore {
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
        let uid = seal::random_uid()?;
        let sealed_types = seal::encode_types(&parts.sealed_types);
        self.write("store: insert", |tx| {
            let token_uid = dek.map(|d| check_current(tx, d)).transpose()?;
            tx.prepare_cached(
                "INSERT INTO object (uid, class, private, clear, sealed_types, sealed)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
            )
            .and_then(|mut st| {
                st.execute(rusqlite::params![
                    uid.to_vec(),
                    rec.class as i64,
                    rec.private as i64,
                    parts.clear,
                    sealed_types
                ])
            })
            .map_err(db("store: insert"))?;
            let id = tx.last_insert_rowid() as ObjectId;
            if let (true, Some(dek), Some(token_uid)) = (needs_seal, dek, token_uid) {
                let blob = seal_part(
                    dek,
                    &token_uid,
                    &uid,
                    id,
                    rec.class,
                    rec.private,
                    &parts.sealed,
                )?;
                tx.prepare_cached("UPDATE object SET sealed = ?1 WHERE id = ?2")
                    .and_then(|mut st| st.execute(rusqlite::params![blob, id as i64]))
                    .map_err(db("store: insert"))?;
            }
            Ok(id)
        })
    }

    /// Replace object `rec.id` with `rec` (same rules as [`SqliteStore::insert`]). Without a
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
            let row = get_row(tx, id)?.ok_or_else(no_object)?;
            match dek {
                Some(dek) => {
                    let token_uid = check_current(tx, dek)?;
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
                    tx.prepare_cached(
                        "UPDATE object SET class = ?1, private = ?2, clear = ?3,
                                sealed_types = ?4, sealed = ?5 WHERE id = ?6",
                    )
                    .and_then(|mut st| {
                        st.execute(rusqlite::params![
                            rec.class as i64,
                            rec.private as i64,
                            parts.clear,
                            seal::encode_types(&types),
                            blob,
                            id as i64
                        ])
                    })
                    .map_err(db("store: update"))?;
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
                    tx.prepare_cached("UPDATE object SET class = ?1, clear = ?2 WHERE id = ?3")
                        .and_then(|mut st| {
                            st.execute(rusqlite::params![rec.class as i64, parts.clear, id as i64])
                        })
                        .map_err(db("store: update"))?;
                }
            }
            Ok(())
        })
    }

    /// Destroy an object for good (`CKR_OBJECT_HANDLE_INVALID` if there is none).
    pub fn delete(&self, id: ObjectId) -> Result<()> {
        self.write("store: delete", |tx| {
            let n = tx
                .prepare_cached("DELETE FROM object WHERE id = ?1")
                .and_then(|mut st| st.execute([id as i64]))
                .map_err(db("store: delete"))?;
            if n == 0 {
                Err(no_object())
            } else {
                Ok(())
            }
        })
    }

    /// Read an object. A private object needs the DEK (`CKR_USER_NOT_LOGGED_IN`);
    /// without it a public object comes back with its sealed types in `withheld`.
    pub fn load(&self, dek: Option<&Dek>, id: ObjectId) -> Result<ObjectRecord> {
        let row = {
            let conn = self.conn()?;
            get_row(&conn, id)?.ok_or_else(no_object)?
        };
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
                    let conn = self.conn()?;
                    check_current(&conn, dek)?;
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

    /// Every object: `(id, CKA_CLASS, CKA_PRIVATE)`, by id.
    pub fn list(&self) -> Result<Vec<(ObjectId, u64, bool)>> {
        let conn = self.conn()?;
        let mut st = conn
            .prepare_cached("SELECT id, class, private FROM object ORDER BY id")
            .map_err(db("store: list"))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)? as ObjectId,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? != 0,
                ))
            })
            .map_err(db("store: list"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db("store: list"))?;
        Ok(rows)
    }
}
