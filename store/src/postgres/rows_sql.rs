//! The statements over the store's tables, for a plain connection (reads outside a
//! write) and for a write transaction alike (`GenericClient`). Each answers the
//! `postgres::Error` as is, so the caller can tell a conflict from an outage.

use cryptoki_sys::{CKU_SO, CK_USER_TYPE};
use postgres::GenericClient;

use crate::objects::ObjectRow;
use crate::pins::PinSlot;
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
