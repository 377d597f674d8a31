//! Token objects in SQLite: one row each (see `crate::objects` for what a row holds).

use rusqlite::{Connection, OptionalExtension};

use super::db;
use crate::objects::ObjectRow;
use kmsbridge_bridge::{ObjectId, Result};

pub(super) fn get_row(conn: &Connection, id: ObjectId) -> Result<Option<ObjectRow>> {
    let mut st = conn
        .prepare_cached(
            "SELECT uid, class, private, clear, sealed_types, sealed FROM object WHERE id = ?1",
        )
        .map_err(db("store: load"))?;
    st.query_row([id as i64], |r| {
        Ok(ObjectRow {
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

/// Add a row; AUTOINCREMENT hands out an id never used before.
pub(super) fn insert_row(conn: &Connection, row: &ObjectRow) -> Result<ObjectId> {
    conn.prepare_cached(
        "INSERT INTO object (uid, class, private, clear, sealed_types, sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut st| {
        st.execute(rusqlite::params![
            row.uid,
            row.class as i64,
            row.private as i64,
            row.clear,
            row.sealed_types,
            row.sealed
        ])
    })
    .map_err(db("store: insert"))?;
    Ok(conn.last_insert_rowid() as ObjectId)
}

pub(super) fn replace_row(conn: &Connection, id: ObjectId, row: &ObjectRow) -> Result<()> {
    conn.prepare_cached(
        "UPDATE object SET uid = ?1, class = ?2, private = ?3, clear = ?4,
                sealed_types = ?5, sealed = ?6 WHERE id = ?7",
    )
    .and_then(|mut st| {
        st.execute(rusqlite::params![
            row.uid,
            row.class as i64,
            row.private as i64,
            row.clear,
            row.sealed_types,
            row.sealed,
            id as i64
        ])
    })
    .map_err(db("store: update"))?;
    Ok(())
}

pub(super) fn delete_row(conn: &Connection, id: ObjectId) -> Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM object WHERE id = ?1")
        .and_then(|mut st| st.execute([id as i64]))
        .map_err(db("store: delete"))?;
    Ok(n != 0)
}

pub(super) fn list_rows(conn: &Connection) -> Result<Vec<(ObjectId, u64, bool)>> {
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
