//! Token objects in SQLite: one row each (see `crate::objects` for what a row holds).

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};

use super::db;
use crate::objects::ObjectRow;
use crate::rows::{Changes, Query};
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
    conn.prepare_cached("DELETE FROM object_term WHERE object_id = ?1")
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

/// Replace object `id`'s terms and mark it indexed.
pub(super) fn set_terms(conn: &Connection, id: ObjectId, terms: &[(u64, Vec<u8>)]) -> Result<()> {
    let err = db("store: index");
    conn.prepare_cached("DELETE FROM object_term WHERE object_id = ?1")
        .and_then(|mut st| st.execute([id as i64]))
        .map_err(&err)?;
    let mut st = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO object_term (ty, term, object_id) VALUES (?1, ?2, ?3)",
        )
        .map_err(&err)?;
    for (ty, term) in terms {
        st.execute(rusqlite::params![*ty as i64, term, id as i64])
            .map_err(&err)?;
    }
    conn.prepare_cached("UPDATE object SET indexed = 1 WHERE id = ?1")
        .and_then(|mut st| st.execute([id as i64]))
        .map_err(&err)?;
    Ok(())
}

/// The candidates of `q` (see `Rows::find`): one lookup in `object_term` driven by the
/// first term (the store orders them most selective first), the others checked per
/// row, plus every unindexed object of the class.
pub(super) fn find(conn: &Connection, q: &Query) -> Result<Vec<ObjectId>> {
    let mut args: Vec<Value> = Vec::new();
    let mut filter = String::new();
    let push = |args: &mut Vec<Value>, v: Value| {
        args.push(v);
        format!("?{}", args.len())
    };
    if let Some(c) = q.class {
        filter += &format!(
            " AND o.class = {}",
            push(&mut args, Value::Integer(c as i64))
        );
    }
    if !q.private {
        filter += " AND o.private = 0";
    }
    let sql = match q.terms.split_first() {
        None => format!("SELECT o.id FROM object o WHERE 1{filter} ORDER BY o.id"),
        Some(((ty0, terms0), rest)) => {
            let list = |args: &mut Vec<Value>, ts: &[Vec<u8>]| {
                ts.iter()
                    .map(|t| push(args, Value::Blob(t.clone())))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut sql = format!(
                "SELECT t0.object_id FROM object_term t0 JOIN object o ON o.id = t0.object_id
                 WHERE t0.ty = {} AND t0.term IN ({}){filter}",
                push(&mut args, Value::Integer(*ty0 as i64)),
                list(&mut args, terms0)
            );
            for (ty, terms) in rest {
                sql += &format!(
                    " AND EXISTS (SELECT 1 FROM object_term t WHERE t.object_id = o.id
                      AND t.ty = {} AND t.term IN ({}))",
                    push(&mut args, Value::Integer(*ty as i64)),
                    list(&mut args, terms)
                );
            }
            sql +=
                &format!(" UNION SELECT o.id FROM object o WHERE o.indexed = 0{filter} ORDER BY 1");
            sql
        }
    };
    let err = db("store: find");
    let mut st = conn.prepare_cached(&sql).map_err(&err)?;
    let rows = st
        .query_map(rusqlite::params_from_iter(args), |r| {
            Ok(r.get::<_, i64>(0)? as ObjectId)
        })
        .map_err(&err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(&err)?;
    Ok(rows)
}

/// Up to `limit` unindexed objects, by id.
pub(super) fn unindexed(conn: &Connection, limit: usize) -> Result<Vec<ObjectId>> {
    let err = db("store: unindexed");
    let mut st = conn
        .prepare_cached("SELECT id FROM object WHERE indexed = 0 ORDER BY id LIMIT ?1")
        .map_err(&err)?;
    let rows = st
        .query_map([limit.min(i64::MAX as usize) as i64], |r| {
            Ok(r.get::<_, i64>(0)? as ObjectId)
        })
        .map_err(&err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(&err)?;
    Ok(rows)
}

/// What changed since `since` (see `Rows::changes_since`); `conn` inside a read
/// transaction, so the version and the log agree.
pub(super) fn changes_since(conn: &Connection, since: u64) -> Result<Changes> {
    let err = db("store: changes");
    let (now, floor): (i64, i64) = conn
        .prepare_cached("SELECT version, log_floor FROM meta WHERE id = 1")
        .and_then(|mut st| st.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(&err)?;
    let version = now as u64;
    // Newer than now: not this store's history (a restored copy); reload.
    if since > version || since < floor as u64 {
        return Ok(Changes::Reload { version });
    }
    if since == version {
        return Ok(Changes::Objects {
            version,
            ids: Vec::new(),
        });
    }
    let mut st = conn
        .prepare_cached(
            "SELECT DISTINCT object_id FROM change_log WHERE version > ?1 ORDER BY object_id",
        )
        .map_err(&err)?;
    let ids = st
        .query_map([since as i64], |r| Ok(r.get::<_, i64>(0)? as ObjectId))
        .map_err(&err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(&err)?;
    Ok(Changes::Objects { version, ids })
}

/// Log a commit at `version` that touched `ids` (or everything), and cut the log
/// back to [`super::schema::LOG_VERSIONS`] versions.
pub(super) fn log_commit(
    conn: &Connection,
    version: i64,
    ids: &mut Vec<ObjectId>,
    everything: bool,
) -> Result<()> {
    let err = db("store: change log");
    if everything {
        conn.prepare_cached("DELETE FROM change_log")
            .and_then(|mut st| st.execute([]))
            .map_err(&err)?;
        conn.prepare_cached("UPDATE meta SET log_floor = ?1 WHERE id = 1")
            .and_then(|mut st| st.execute([version]))
            .map_err(&err)?;
        return Ok(());
    }
    ids.sort_unstable();
    ids.dedup();
    let mut st = conn
        .prepare_cached("INSERT OR IGNORE INTO change_log (version, object_id) VALUES (?1, ?2)")
        .map_err(&err)?;
    for id in ids.iter() {
        st.execute([version, *id as i64]).map_err(&err)?;
    }
    // Cut back now and then, not at every commit.
    let keep = super::schema::LOG_VERSIONS;
    if version % 1024 == 0 && version > keep {
        let floor = version - keep;
        conn.prepare_cached("DELETE FROM change_log WHERE version <= ?1")
            .and_then(|mut st| st.execute([floor]))
            .map_err(&err)?;
        conn.prepare_cached("UPDATE meta SET log_floor = max(log_floor, ?1) WHERE id = 1")
            .and_then(|mut st| st.execute([floor]))
            .map_err(&err)?;
    }
    Ok(())
}
