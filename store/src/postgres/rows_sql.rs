//! The statements over the store's tables, for a plain connection (reads outside a
//! write) and for a write transaction alike (`GenericClient`). Each answers the
//! `postgres::Error` as is, so the caller can tell a conflict from an outage.

use cryptoki_sys::{CKU_SO, CK_USER_TYPE};
use postgres::GenericClient;

use crate::objects::ObjectRow;
use crate::pins::PinSlot;
use crate::rows::{Changes, Query, Reserved};
use crate::seal;
use crate::token::TokenInfo;
use kmsbridge_bridge::ObjectId;

type R<T> = Result<T, postgres::Error>;

/// The token row and the serial; `None` if the row is missing (a broken store).
pub(super) fn token_row(c: &mut impl GenericClient) -> R<Option<(TokenInfo, Vec<u8>)>> {
    let row = c.query_opt(
        "SELECT t.initialized, t.label, t.user_pin_init, t.user_failures, t.so_failures,
                t.max_failures, t.token_uid, m.serial
         FROM kb_token t, kb_meta m WHERE t.id = 1 AND m.id = 1",
        &[],
    )?;
    Ok(row.map(|r| {
        (
            TokenInfo {
                initialized: r.get(0),
                label: r.get(1),
                user_pin_initialized: r.get(2),
                user_failures: r.get::<_, i32>(3).max(0) as u32,
                so_failures: r.get::<_, i32>(4).max(0) as u32,
                max_failures: r.get::<_, i32>(5).max(0) as u32,
                serial: r.get(7),
            },
            r.get(6),
        )
    }))
}

pub(super) fn version(c: &mut impl GenericClient) -> R<i64> {
    Ok(
        c.query_one("SELECT version FROM kb_meta WHERE id = 1", &[])?
            .get(0),
    )
}

pub(super) fn start_over(
    c: &mut impl GenericClient,
    label: &str,
    token_uid: &[u8; seal::UID_LEN],
) -> R<()> {
    c.execute("DELETE FROM kb_object", &[])?;
    c.execute("DELETE FROM kb_pin_slot", &[])?;
    c.execute(
        "UPDATE kb_token SET initialized = true, label = $1, token_uid = $2,
                user_pin_init = false, user_failures = 0, so_failures = 0
         WHERE id = 1",
        &[&label, &token_uid.as_slice()],
    )?;
    Ok(())
}

pub(super) fn set_user_pin_initialized(c: &mut impl GenericClient) -> R<()> {
    c.execute("UPDATE kb_token SET user_pin_init = true WHERE id = 1", &[])?;
    Ok(())
}

pub(super) fn count_failure(c: &mut impl GenericClient, user: CK_USER_TYPE) -> R<()> {
    let sql = if user == CKU_SO {
        "UPDATE kb_token SET so_failures = so_failures + 1 WHERE id = 1"
    } else {
        "UPDATE kb_token SET user_failures = user_failures + 1 WHERE id = 1"
    };
    c.execute(sql, &[])?;
    Ok(())
}

pub(super) fn clear_failures(c: &mut impl GenericClient, user: CK_USER_TYPE) -> R<()> {
    let sql = if user == CKU_SO {
        "UPDATE kb_token SET so_failures = 0 WHERE id = 1"
    } else {
        "UPDATE kb_token SET user_failures = 0 WHERE id = 1"
    };
    c.execute(sql, &[])?;
    Ok(())
}

pub(super) fn put_slot(c: &mut impl GenericClient, slot: &PinSlot) -> R<()> {
    c.execute(
        "INSERT INTO kb_pin_slot (user_type, salt, iterations, wrapped) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_type) DO UPDATE
         SET salt = EXCLUDED.salt, iterations = EXCLUDED.iterations, wrapped = EXCLUDED.wrapped",
        &[
            &(slot.user as i64),
            &slot.salt,
            &i64::from(slot.iterations),
            &slot.wrapped,
        ],
    )?;
    Ok(())
}

pub(super) fn get_slot(c: &mut impl GenericClient, user: CK_USER_TYPE) -> R<Option<PinSlot>> {
    let row = c.query_opt(
        "SELECT salt, iterations, wrapped FROM kb_pin_slot WHERE user_type = $1",
        &[&(user as i64)],
    )?;
    Ok(row.map(|r| PinSlot {
        user,
        salt: r.get(0),
        iterations: u32::try_from(r.get::<_, i64>(1)).unwrap_or(0),
        wrapped: r.get(2),
    }))
}

pub(super) fn get_object(c: &mut impl GenericClient, id: ObjectId) -> R<Option<ObjectRow>> {
    let Ok(id) = i64::try_from(id) else {
        return Ok(None);
    };
    let row = c.query_opt(
        "SELECT uid, class, private, clear, sealed_types, sealed FROM kb_object WHERE id = $1",
        &[&id],
    )?;
    Ok(row.map(|r| ObjectRow {
        uid: r.get(0),
        class: r.get::<_, i64>(1) as u64,
        private: r.get(2),
        clear: r.get(3),
        sealed_types: r.get(4),
        sealed: r.get(5),
    }))
}

/// Add a row; the identity column's sequence never hands out an id twice (not even
/// after a rollback or a delete).
pub(super) fn insert_object(c: &mut impl GenericClient, row: &ObjectRow) -> R<ObjectId> {
    let r = c.query_one(
        "INSERT INTO kb_object (uid, class, private, clear, sealed_types, sealed)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[
            &row.uid,
            &(row.class as i64),
            &row.private,
            &row.clear,
            &row.sealed_types,
            &row.sealed,
        ],
    )?;
    Ok(r.get::<_, i64>(0) as ObjectId)
}

/// Rows per multi-row statement of the bulk path (arrays of some MB each).
pub(super) const BULK_ROWS: usize = 5_000;

/// `n` ids from `kb_object`'s identity sequence (handed out once, as an insert's).
pub(super) fn reserve_ids(c: &mut impl GenericClient, n: usize) -> R<Vec<ObjectId>> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    Ok(c.query(
        "SELECT nextval(pg_get_serial_sequence('kb_object', 'id'))
         FROM generate_series(1, $1::bigint)",
        &[&n],
    )?
    .iter()
    .map(|r| r.get::<_, i64>(0) as ObjectId)
    .collect())
}

/// Rows under reserved ids and their terms: two statements, whatever the count.
pub(super) fn insert_reserved(c: &mut impl GenericClient, rows: &[Reserved<'_>]) -> R<()> {
    let ids: Vec<i64> = rows.iter().map(|(id, _, _)| *id as i64).collect();
    let uids: Vec<&[u8]> = rows.iter().map(|(_, r, _)| r.uid.as_slice()).collect();
    let classes: Vec<i64> = rows.iter().map(|(_, r, _)| r.class as i64).collect();
    let private: Vec<bool> = rows.iter().map(|(_, r, _)| r.private).collect();
    let clear: Vec<&[u8]> = rows.iter().map(|(_, r, _)| r.clear.as_slice()).collect();
    let types: Vec<&[u8]> = rows
        .iter()
        .map(|(_, r, _)| r.sealed_types.as_slice())
        .collect();
    let sealed: Vec<Option<&[u8]>> = rows.iter().map(|(_, r, _)| r.sealed.as_deref()).collect();
    let indexed: Vec<bool> = rows.iter().map(|(_, _, t)| t.is_some()).collect();
    c.execute(
        "INSERT INTO kb_object (id, uid, class, private, clear, sealed_types, sealed, indexed)
         OVERRIDING SYSTEM VALUE
         SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[], $4::boolean[],
                              $5::bytea[], $6::bytea[], $7::bytea[], $8::boolean[])",
        &[
            &ids, &uids, &classes, &private, &clear, &types, &sealed, &indexed,
        ],
    )?;
    let (mut tys, mut vals, mut owners) = (Vec::new(), Vec::new(), Vec::new());
    for (id, _, terms) in rows {
        for (ty, v) in terms.unwrap_or_default() {
            tys.push(*ty as i64);
            vals.push(v.as_slice());
            owners.push(*id as i64);
        }
    }
    if !tys.is_empty() {
        c.execute(
            "INSERT INTO kb_object_term (ty, term, object_id)
             SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[])
             ON CONFLICT DO NOTHING",
            &[&tys, &vals, &owners],
        )?;
    }
    Ok(())
}

pub(super) fn replace_object(c: &mut impl GenericClient, id: ObjectId, row: &ObjectRow) -> R<()> {
    c.execute(
        "UPDATE kb_object SET uid = $1, class = $2, private = $3, clear = $4,
                sealed_types = $5, sealed = $6 WHERE id = $7",
        &[
            &row.uid,
            &(row.class as i64),
            &row.private,
            &row.clear,
            &row.sealed_types,
            &row.sealed,
            &(id as i64),
        ],
    )?;
    Ok(())
}

pub(super) fn delete_object(c: &mut impl GenericClient, id: ObjectId) -> R<bool> {
    let Ok(id) = i64::try_from(id) else {
        return Ok(false);
    };
    Ok(c.execute("DELETE FROM kb_object WHERE id = $1", &[&id])? != 0)
}

pub(super) fn list(c: &mut impl GenericClient) -> R<Vec<(ObjectId, u64, bool)>> {
    Ok(
        c.query("SELECT id, class, private FROM kb_object ORDER BY id", &[])?
            .iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0) as ObjectId,
                    r.get::<_, i64>(1) as u64,
                    r.get::<_, bool>(2),
                )
            })
            .collect(),
    )
}

/// Replace object `id`'s terms and mark it indexed.
pub(super) fn set_terms(
    c: &mut impl GenericClient,
    id: ObjectId,
    terms: &[(u64, Vec<u8>)],
) -> R<()> {
    let id = id as i64;
    c.execute("DELETE FROM kb_object_term WHERE object_id = $1", &[&id])?;
    if !terms.is_empty() {
        let tys: Vec<i64> = terms.iter().map(|(t, _)| *t as i64).collect();
        let vals: Vec<&[u8]> = terms.iter().map(|(_, v)| v.as_slice()).collect();
        c.execute(
            "INSERT INTO kb_object_term (ty, term, object_id)
             SELECT t, v, $3 FROM unnest($1::bigint[], $2::bytea[]) AS u(t, v)
             ON CONFLICT DO NOTHING",
            &[&tys, &vals, &id],
        )?;
    }
    c.execute("UPDATE kb_object SET indexed = true WHERE id = $1", &[&id])?;
    Ok(())
}

/// The candidates of `q` (see `Rows::find`): one index lookup driven by the first
/// term (the store orders them most selective first), the others checked per row,
/// plus every unindexed object of the class.
pub(super) fn find(c: &mut impl GenericClient, q: &Query) -> R<Vec<ObjectId>> {
    let mut args: Vec<Box<dyn postgres::types::ToSql + Sync>> = Vec::new();
    fn push(
        args: &mut Vec<Box<dyn postgres::types::ToSql + Sync>>,
        v: Box<dyn postgres::types::ToSql + Sync>,
    ) -> String {
        args.push(v);
        format!("${}", args.len())
    }
    let mut filter = String::new();
    if let Some(class) = q.class {
        filter += &format!(" AND o.class = {}", push(&mut args, Box::new(class as i64)));
    }
    if !q.private {
        filter += " AND NOT o.private";
    }
    let sql = match q.terms.split_first() {
        None => format!("SELECT o.id FROM kb_object o WHERE true{filter} ORDER BY 1"),
        Some(((ty0, terms0), rest)) => {
            let mut sql = format!(
                "SELECT t0.object_id FROM kb_object_term t0 JOIN kb_object o ON o.id = t0.object_id
                 WHERE t0.ty = {} AND t0.term = ANY({}){filter}",
                push(&mut args, Box::new(*ty0 as i64)),
                push(&mut args, Box::new(terms0.clone()))
            );
            for (ty, terms) in rest {
                sql += &format!(
                    " AND EXISTS (SELECT 1 FROM kb_object_term t WHERE t.object_id = o.id
                      AND t.ty = {} AND t.term = ANY({}))",
                    push(&mut args, Box::new(*ty as i64)),
                    push(&mut args, Box::new(terms.clone()))
                );
            }
            sql += &format!(
                " UNION SELECT o.id FROM kb_object o WHERE NOT o.indexed{filter} ORDER BY 1"
            );
            sql
        }
    };
    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = args.iter().map(|a| &**a).collect();
    Ok(c.query(sql.as_str(), &refs)?
        .iter()
        .map(|r| r.get::<_, i64>(0) as ObjectId)
        .collect())
}

/// Up to `limit` unindexed objects, by id.
pub(super) fn unindexed(c: &mut impl GenericClient, limit: usize) -> R<Vec<ObjectId>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(c.query(
        "SELECT id FROM kb_object WHERE NOT indexed ORDER BY id LIMIT $1",
        &[&limit],
    )?
    .iter()
    .map(|r| r.get::<_, i64>(0) as ObjectId)
    .collect())
}

/// What changed since `since` (see `Rows::changes_since`): one statement, so the
/// version, the floor and the log come from one snapshot.
pub(super) fn changes_since(c: &mut impl GenericClient, since: u64) -> R<Changes> {
    let since_i = i64::try_from(since).unwrap_or(i64::MAX);
    let r = c.query_one(
        "SELECT m.version, m.log_floor,
                ARRAY(SELECT DISTINCT object_id FROM kb_change_log
                      WHERE version > $1 ORDER BY object_id)
         FROM kb_meta m WHERE m.id = 1",
        &[&since_i],
    )?;
    let version = r.get::<_, i64>(0) as u64;
    let floor = r.get::<_, i64>(1) as u64;
    // Newer than now: not this store's history (a restored copy); reload.
    if since > version || since < floor {
        return Ok(Changes::Reload { version });
    }
    let ids = r
        .get::<_, Vec<i64>>(2)
        .into_iter()
        .map(|id| id as ObjectId)
        .collect();
    Ok(Changes::Objects { version, ids })
}

/// Log a commit at `version` that touched `ids` (or everything), and cut the log back
/// to `LOG_VERSIONS` versions now and then.
pub(super) fn log_commit(
    c: &mut impl GenericClient,
    version: i64,
    ids: &mut Vec<ObjectId>,
    everything: bool,
) -> R<()> {
    if everything {
        c.execute("DELETE FROM kb_change_log", &[])?;
        c.execute(
            "UPDATE kb_meta SET log_floor = $1 WHERE id = 1",
            &[&version],
        )?;
        return Ok(());
    }
    ids.sort_unstable();
    ids.dedup();
    if !ids.is_empty() {
        let list: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
        c.execute(
            "INSERT INTO kb_change_log (version, object_id)
             SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
            &[&version, &list],
        )?;
    }
    let keep = super::schema::LOG_VERSIONS;
    if version % 1024 == 0 && version > keep {
        let floor = version - keep;
        c.execute("DELETE FROM kb_change_log WHERE version <= $1", &[&floor])?;
        c.execute(
            "UPDATE kb_meta SET log_floor = greatest(log_floor, $1) WHERE id = 1",
            &[&floor],
        )?;
    }
    Ok(())
}
