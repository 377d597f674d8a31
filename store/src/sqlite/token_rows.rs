//! The token row in SQLite: initialisation, label, wrong-PIN counters, generation.

use rusqlite::OptionalExtension;

use super::{db, SqliteStore};
use crate::pins::Dek;
use crate::seal;
use crate::token::{TokenInfo, TokenRow};
use kmsbridge_bridge::{Error, Result};

/// Read the token row (inside whatever transaction `conn` is in).
pub(crate) fn token_row(conn: &rusqlite::Connection) -> Result<TokenRow> {
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

/// Fail with `CKR_USER_NOT_LOGGED_IN` unless `dek` belongs to the token as it is now.
pub(crate) fn check_current(tx: &rusqlite::Connection, dek: &Dek) -> Result<[u8; seal::UID_LEN]> {
    let t = token_row(tx)?;
    if t.info.initialized && t.token_uid == dek.token_uid {
        Ok(t.token_uid)
    } else {
        Err(Error::rv(
            cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
            "store: login predates a re-initialisation",
        ))
    }
}

impl SqliteStore {
    /// The token's state, as committed by any process.
    pub fn token(&self) -> Result<TokenInfo> {
        let conn = self.conn()?;
        Ok(token_row(&conn)?.info)
    }
}
