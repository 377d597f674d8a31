//! Token objects: one row each, with clear attributes (public objects only), the list
//! of sealed attribute types, and the seal.

use rusqlite::OptionalExtension;
use zeroize::Zeroizing;

use super::{db, fail, seal, Dek, Store};
use kmsbridge_bridge::{ObjectId, Result};

/// An object as the engine sees it. Values are in clear in memory only (zeroized on
/// drop); the store seals what must be sealed on the way to disk.
#[derive(Clone, Default)]
pub struct ObjectRecord {
    /// Assigned by the store on insert (ignored there); names the object otherwise.
    pub id: ObjectId,
    /// `CKA_CLASS`.
    pub class: u64,
    /// `CKA_PRIVATE`: every attribute of a private object is sealed.
    pub private: bool,
    /// `(CK_ATTRIBUTE_TYPE, value)`. A load gives the clear ones first, then the sealed
    /// ones, each in the order they were stored.
    pub attrs: Vec<(u64, Zeroizing<Vec<u8>>)>,
    /// On a load without the DEK: the types of the public object's sealed attributes,
    /// which are not in `attrs`. Empty otherwise; ignored by insert and update.
    pub withheld: Vec<u64>,
}

impl ObjectRecord {
    /// The value of an attribute, if present.
    pub fn get(&self, ty: u64) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, v)| v.as_slice())
    }
}

impl std::fmt::Debug for ObjectRecord {
    // Values are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let types: Vec<String> = self.attrs.iter().map(|(t, _)| format!("0x{t:x}")).collect();
        f.debug_struct("ObjectRecord")
            .field("id", &self.id)
            .field("class", &self.class)
            .field("private", &self.private)
            .field("attrs", &types)
            .field("withheld", &self.withheld)
            .finish()
    }
}

/// A record split into what is stored in clear and what is sealed.
struct Split<'a> {
    clear: Vec<u8>,
    sealed: Vec<(u64, &'a [u8])>,
    sealed_types: Vec<u64>,
}

fn split<'a>(rec: &'a ObjectRecord, secret: &dyn Fn(u64) -> bool) -> Result<Split<'a>> {
    let is_sealed = |ty: u64| rec.private || secret(ty);
    let clear = seal::encode(
        rec.attrs
            .iter()
            .filter(|(t, _)| !is_sealed(*t))
            .map(|(t, v)| (*t, v.as_slice())),
    )?;
    let sealed: Vec<(u64, &[u8])> = rec
        .attrs
        .iter()
        .filter(|(t, _)| is_sealed(*t))
        .map(|(t, v)| (*t, v.as_slice()))
        .collect();
    let sealed_types = sealed.iter().map(|(t, _)| *t).collect();
    Ok(Split {
        clear,
        sealed,
        sealed_types,
    })
}

/// An object row as stored.
struct Row {
    uid: Vec<u8>,
    class: u64,
    private: bool,
    clear: Vec<u8>,
    sealed_types: Vec<u8>,
    sealed: Option<Vec<u8>>,
}

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

fn corrupt(id: ObjectId, what: &'static str) -> kmsbridge_bridge::Error {
    tracing::error!(
        id,
        what,
        "store: object failed its checks (tampered with or corrupt)"
    );
    fail(cryptoki_sys::CKR_DEVICE_ERROR, what)
}

fn no_object() -> kmsbridge_bridge::Error {
    fail(
        cryptoki_sys::CKR_OBJECT_HANDLE_INVALID,
        "store: no such object",
    )
}

/// Seal `attrs` as the sealed part of object `id`.
fn seal_part(
    dek: &Dek,
    token_uid: &[u8; seal::UID_LEN],
    uid: &[u8],
    id: ObjectId,
    class: u64,
    private: bool,
    attrs: &[(u64, &[u8])],
) -> Result<Vec<u8>> {
    let aad = seal::object_aad(token_uid, uid, id, class, private);
    let it = attrs.iter().map(|(t, v)| (*t, *v));
    let len = seal::encoded_len(it.clone());
    let mut result = Ok(());
    let blob = seal::seal_with(&dek.key, &aad, len, |b| {
        result = seal::encode_into(it, b);
    })?;
    result.map(|()| blob)
}

/// Open the sealed part of a row; checks that the sealed types match the clear list.
fn open_part(
    dek: &Dek,
    token_uid: &[u8; seal::UID_LEN],
    id: ObjectId,
    row: &Row,
    blob: &[u8],
) -> Option<Vec<(u64, Zeroizing<Vec<u8>>)>> {
    let aad = seal::object_aad(token_uid, &row.uid, id, row.class, row.private);
    let plain = seal::open(&dek.key, &aad, blob)?;
    let attrs = seal::decode(&plain)?;
    let types = seal::decode_types(&row.sealed_types)?;
    (attrs.len() == types.len() && attrs.iter().zip(&types).all(|((a, _), b)| a == b))
        .then_some(attrs)
}

impl Store {
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
            return Err(fail(
                cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
                "store: sealing needs a login",
            ));
        }
        let uid = seal::random_uid()?;
        let sealed_types = seal::encode_types(&parts.sealed_types);
        self.write("store: insert", |tx| {
            let token_uid = dek.map(|d| Self::check_current(tx, d)).transpose()?;
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
            let row = get_row(tx, id)?.ok_or_else(no_object)?;
            match dek {
                Some(dek) => {
                    let token_uid = Self::check_current(tx, dek)?;
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
                        return Err(fail(
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
            return Err(fail(
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
                    Self::check_current(&conn, dek)?;
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
