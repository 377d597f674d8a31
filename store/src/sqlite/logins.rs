//! The PIN calls in SQLite: `init_token` (C_InitToken), counted PIN checks (`login`),
//! `init_user_pin` (C_InitPIN) and `set_pin` (C_SetPIN). The slot crypto is
//! `crate::pins`; here are the rows and the transactions around it.

use cryptoki_sys::{CKU_SO, CKU_USER, CK_USER_TYPE};
use rusqlite::OptionalExtension;

use super::token_rows::token_row;
use super::{db, SqliteStore};
use crate::pins::{check_pin_len, check_role, Dek, Slot};
use crate::seal;
use kmsbridge_bridge::{Error, Result};

/// Write (or replace) a PIN slot.
fn put_slot(tx: &rusqlite::Transaction<'_>, slot: &Slot) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO pin_slot (user, salt, iterations, wrapped)
         VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![slot.user as i64, slot.salt, slot.iterations, slot.wrapped],
    )
    .map_err(db("store: write PIN slot"))?;
    Ok(())
}

fn get_slot(conn: &rusqlite::Connection, user: CK_USER_TYPE) -> Result<Option<Slot>> {
    conn.query_row(
        "SELECT salt, iterations, wrapped FROM pin_slot WHERE user = ?1",
        [user as i64],
        |r| {
            Ok(Slot {
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

/// The counter column of a role.
fn failures_column(user: CK_USER_TYPE) -> &'static str {
    if user == CKU_SO {
        "so_failures"
    } else {
        "user_failures"
    }
}

impl SqliteStore {
    /// `C_InitToken`: on a new token, set the SO PIN and label; on an initialised one,
    /// check the SO PIN (counted; `CKR_PIN_INCORRECT`, `CKR_PIN_LOCKED`), then destroy
    /// every object and the user PIN, and start over with a new DEK under the given SO
    /// PIN. `label` is stored as given (the provider pads or trims it).
    pub fn init_token(&self, so_pin: &[u8], label: &str) -> Result<()> {
        check_pin_len(so_pin)?;
        // Another process may initialise at the same moment: what we checked is
        // confirmed inside the write transaction, and we start over if it moved.
        for _ in 0..3 {
            let before = {
                let conn = self.conn()?;
                token_row(&conn)?
            };
            let expected = if before.info.initialized {
                let dek = self.verify_pin(CKU_SO, so_pin)?;
                Some(dek.token_uid)
            } else {
                None
            };
            // Fresh token generation, DEK and SO slot, made before the write lock.
            let token_uid = seal::random_uid()?;
            let dek = seal::random_key()?;
            let slot = Slot::make(&token_uid, CKU_SO, so_pin, &dek)?;
            let done = self.write("store: init_token", |tx| {
                let now = token_row(tx)?;
                let same = match expected {
                    None => !now.info.initialized,
                    Some(uid) => now.info.initialized && now.token_uid == uid,
                };
                if !same {
                    return Ok(false);
                }
                tx.execute("DELETE FROM object", [])
                    .map_err(db("store: init_token"))?;
                tx.execute("DELETE FROM pin_slot", [])
                    .map_err(db("store: init_token"))?;
                put_slot(tx, &slot)?;
                tx.execute(
                    "UPDATE token SET initialized = 1, label = ?1, token_uid = ?2,
                            user_pin_init = 0, user_failures = 0, so_failures = 0
                     WHERE id = 1",
                    rusqlite::params![label, token_uid.to_vec()],
                )
                .map_err(db("store: init_token"))?;
                Ok(true)
            })?;
            if done {
                tracing::info!(store = %self.dir.display(), reinit = expected.is_some(), "store: token initialised");
                self.checkpoint_truncate();
                return Ok(());
            }
        }
        Err(Error::rv(
            cryptoki_sys::CKR_FUNCTION_FAILED,
            "store: token re-initialised concurrently",
        ))
    }

    /// `C_Login`: check `pin` for `user` (`CKU_SO` or `CKU_USER`) and hand back the
    /// token's DEK. Wrong PINs are counted across processes: `CKR_PIN_INCORRECT`, then
    /// `CKR_PIN_LOCKED` once the count reaches the bound; a right PIN resets the count.
    pub fn login(&self, user: CK_USER_TYPE, pin: &[u8]) -> Result<Dek> {
        self.verify_pin(user, pin)
    }

    /// A counted PIN check. The attempt is counted before the (slow) check and
    /// uncounted when it proves right, so a process killed in between, or many
    /// processes guessing at once, cannot get past the bound.
    pub(crate) fn verify_pin(&self, user: CK_USER_TYPE, pin: &[u8]) -> Result<Dek> {
        check_role(user)?;
        let col = failures_column(user);
        let count_sql = format!("UPDATE token SET {col} = {col} + 1 WHERE id = 1");
        let reset_sql = format!("UPDATE token SET {col} = 0 WHERE id = 1");
        // A re-initialisation landing between the steps sends us round again.
        for _ in 0..3 {
            let (slot, token_uid) = self.write("store: login", |tx| {
                let t = token_row(tx)?;
                if !t.info.initialized {
                    return Err(if user == CKU_SO {
                        Error::rv(
                            cryptoki_sys::CKR_TOKEN_NOT_RECOGNIZED,
                            "store: token not initialised",
                        )
                    } else {
                        Error::rv(
                            cryptoki_sys::CKR_USER_PIN_NOT_INITIALIZED,
                            "store: token not initialised",
                        )
                    });
                }
                if user == CKU_USER && !t.info.user_pin_initialized {
                    return Err(Error::rv(
                        cryptoki_sys::CKR_USER_PIN_NOT_INITIALIZED,
                        "store: user PIN not initialised",
                    ));
                }
                if t.info.locked(user) {
                    return Err(Error::rv(cryptoki_sys::CKR_PIN_LOCKED, "store: PIN locked"));
                }
                let Some(slot) = get_slot(tx, user)? else {
                    tracing::error!(
                        user,
                        "store: the PIN slot of an initialised role is missing"
                    );
                    return Err(Error::rv(
                        cryptoki_sys::CKR_DEVICE_ERROR,
                        "store: PIN slot missing",
                    ));
                };
                tx.execute(&count_sql, []).map_err(db("store: login"))?;
                Ok((slot, t.token_uid))
            })?;
            let dek = slot.unlock(&token_uid, pin)?;
            let settled = self.write("store: login", |tx| {
                let t = token_row(tx)?;
                if t.token_uid != token_uid {
                    return Ok(false);
                }
                if dek.is_some() {
                    tx.execute(&reset_sql, []).map_err(db("store: login"))?;
                }
                Ok(true)
            })?;
            if !settled {
                continue;
            }
            return dek.ok_or_else(|| {
                tracing::info!(store = %self.dir.display(), user, "store: wrong PIN");
                Error::rv(cryptoki_sys::CKR_PIN_INCORRECT, "store: wrong PIN")
            });
        }
        Err(Error::rv(
            cryptoki_sys::CKR_FUNCTION_FAILED,
            "store: token re-initialised during login",
        ))
    }

    /// `C_InitPIN`: set the user PIN, with the DEK of an SO login. Resets the user's
    /// wrong-PIN count, which unlocks a locked user PIN.
    pub fn init_user_pin(&self, so: &Dek, pin: &[u8]) -> Result<()> {
        if so.role != CKU_SO {
            return Err(Error::rv(
                cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
                "store: C_InitPIN needs the SO",
            ));
        }
        check_pin_len(pin)?;
        let slot = Slot::make(&so.token_uid, CKU_USER, pin, &so.key)?;
        self.write("store: init_user_pin", |tx| {
            let t = token_row(tx)?;
            if !t.info.initialized || t.token_uid != so.token_uid {
                return Err(Error::rv(
                    cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
                    "store: token re-initialised",
                ));
            }
            put_slot(tx, &slot)?;
            tx.execute(
                "UPDATE token SET user_pin_init = 1, user_failures = 0 WHERE id = 1",
                [],
            )
            .map_err(db("store: init_user_pin"))?;
            Ok(())
        })?;
        self.checkpoint_truncate();
        Ok(())
    }

    /// `C_SetPIN`: change `user`'s PIN from `old` (checked and counted as a login) to
    /// `new`. Only that role's slot is rewritten; objects are untouched.
    pub fn set_pin(&self, user: CK_USER_TYPE, old: &[u8], new: &[u8]) -> Result<()> {
        check_role(user)?;
        check_pin_len(new)?;
        let dek = self.verify_pin(user, old)?;
        let slot = Slot::make(&dek.token_uid, user, new, &dek.key)?;
        self.write("store: set_pin", |tx| {
            let t = token_row(tx)?;
            if t.token_uid != dek.token_uid {
                return Err(Error::rv(
                    cryptoki_sys::CKR_FUNCTION_FAILED,
                    "store: token re-initialised",
                ));
            }
            put_slot(tx, &slot)
        })?;
        self.checkpoint_truncate();
        Ok(())
    }
}
