//! The token row and the PIN slots in SQLite: initialisation, label, wrong-PIN
//! counters, generation, and one slot row per role.

use cryptoki_sys::{CKU_SO, CK_USER_TYPE};
use rusqlite::{Connection, OptionalExtension};

use super::db;
use crate::pins::PinSlot;
use crate::seal;
use crate::token::{TokenInfo, TokenRow};
use kmsbridge_bridge::{Error, Result};

/// Read the token row (inside whatever transaction `conn` is in).
pub(super) fn token_row(conn: &Connection) -> Result<TokenRow> {
    let mut st = conn
        .prepare_cached(
            "SELECT t.initialized, t.label, t.user_pin_init, t.user_failures, t.so_failures,
                    t.max_failures, t.token_uid, m.serial
             FROM token t, meta m WHERE t.id = 1 AND m.id = 1",
        )
        .map_err(db("store: token"))?;
    let row = st
        .query_row([], |r| {
            Ok((
                TokenInfo {
                    initialized: r.get::<_, i64>(0)? != 0,
                    label: r.get(1)?,
                    user_pin_initialized: r.get::<_, i64>(2)? != 0,
                    user_failures: r.get(3)?,
                    so_failures: r.get(4)?,
                    max_failures: r.get(5)?,
                    serial: r.get(7)?,
                },
                r.get::<_, Vec<u8>>(6)?,
            ))
        })
        .optional()
        .map_err(db("store: token"))?;
    let Some((info, uid)) = row else {
        tracing::error!("store: the token row is missing");
        return Err(Error::rv(
            cryptoki_sys::CKR_DEVICE_ERROR,
            "store: token row missing",
        ));
    };
    let token_uid = uid
        .as_slice()
        .try_into()
        .map_err(|_| Error::rv(cryptoki_sys::CKR_DEVICE_ERROR, "store: token uid malformed"))?;
    Ok(TokenRow { info, token_uid })
}

/// Start a new token generation (see `Tx::start_over`).
pub(super) fn start_over(
    conn: &Connection,
    label: &str,
    token_uid: &[u8; seal::UID_LEN],
) -> Result<()> {
    conn.execute_batch("DELETE FROM object; DELETE FROM object_term;")
        .map_err(db("store: init_token"))?;
    conn.execute("DELETE FROM pin_slot", [])
        .map_err(db("store: init_token"))?;
    conn.execute(
        "UPDATE token SET initialized = 1, label = ?1, token_uid = ?2,
                user_pin_init = 0, user_failures = 0, so_failures = 0
         WHERE id = 1",
        rusqlite::params![label, token_uid.to_vec()],
    )
    .map_err(db("store: init_token"))?;
    Ok(())
}

pub(super) fn set_user_pin_initialized(conn: &Connection) -> Result<()> {
    conn.execute("UPDATE token SET user_pin_init = 1 WHERE id = 1", [])
        .map_err(db("store: init_user_pin"))?;
    Ok(())
}

/// Add one to a role's wrong-PIN counter.
pub(super) fn count_failure(conn: &Connection, user: CK_USER_TYPE) -> Result<()> {
    let sql = if user == CKU_SO {
        "UPDATE token SET so_failures = so_failures + 1 WHERE id = 1"
    } else {
        "UPDATE token SET user_failures = user_failures + 1 WHERE id = 1"
    };
    run(conn, sql, "store: count a PIN attempt")
}

/// Set a role's wrong-PIN counter to zero.
pub(super) fn clear_failures(conn: &Connection, user: CK_USER_TYPE) -> Result<()> {
    let sql = if user == CKU_SO {
        "UPDATE token SET so_failures = 0 WHERE id = 1"
    } else {
        "UPDATE token SET user_failures = 0 WHERE id = 1"
    };
    run(conn, sql, "store: reset a PIN counter")
}

fn run(conn: &Connection, sql: &str, what: &'static str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut st| st.execute([]))
        .map_err(db(what))?;
    Ok(())
}

/// Write (or replace) a PIN slot.
pub(super) fn put_slot(conn: &Connection, slot: &PinSlot) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO pin_slot (user, salt, iterations, wrapped)
         VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![slot.user as i64, slot.salt, slot.iterations, slot.wrapped],
    )
    .map_err(db("store: write PIN slot"))?;
    Ok(())
}

pub(super) fn get_slot(conn: &Connection, user: CK_USER_TYPE) -> Result<Option<PinSlot>> {
    conn.query_row(
        "SELECT salt, iterations, wrapped FROM pin_slot WHERE user = ?1",
        [user as i64],
        |r| {
            Ok(PinSlot {
                user,
                salt: r.get(0)?,
                iterations: r.get(1)?,
                wrapped: r.get(2)?,
            })
        },
    )
    .optional()
    .map_err(db("store: read PIN slot"))
}
