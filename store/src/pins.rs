//! PIN slots (the DEK sealed under a PIN-derived key), counted PIN checks, and the
//! PIN-changing calls: `login`, `init_user_pin` (C_InitPIN), `set_pin` (C_SetPIN).

use cryptoki_sys::{CKU_SO, CKU_USER, CK_USER_TYPE};
use rusqlite::OptionalExtension;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::token::{check_pin_len, token_row};
use super::{db, fail, seal, Dek, Store};
use kmsbridge_bridge::Result;

/// PBKDF2-HMAC-SHA256 iterations for new slots.
pub const KDF_ITERATIONS: u32 = 210_000;
/// Fewest iterations a stored slot may claim (a tampered count is refused, not used).
const MIN_ITERATIONS: u32 = 100_000;
/// Most iterations a stored slot may claim (bounds the work a tampered slot can cost).
const MAX_ITERATIONS: u32 = 10_000_000;
const SALT_LEN: usize = 16;

/// Shortest PIN accepted as a new PIN, in bytes.
pub const MIN_PIN_LEN: usize = 4;
/// Longest PIN accepted as a new PIN, in bytes.
pub const MAX_PIN_LEN: usize = 255;

/// The KEK of a PIN.
fn kek(pin: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; seal::KEY_LEN]> {
    let mut k = Zeroizing::new([0u8; seal::KEY_LEN]);
    pbkdf2::pbkdf2_hmac::<Sha256>(pin, salt, iterations, &mut k[..]);
    k
}

/// One role's PIN slot, as stored.
pub(crate) struct Slot {
    user: CK_USER_TYPE,
    salt: Vec<u8>,
    iterations: u32,
    wrapped: Vec<u8>,
}

impl Slot {
    /// Seal `dek` for `user` under `pin` (fresh salt). Slow: call outside transactions.
    pub(crate) fn make(
        token_uid: &[u8; seal::UID_LEN],
        user: CK_USER_TYPE,
        pin: &[u8],
        dek: &[u8; seal::KEY_LEN],
    ) -> Result<Slot> {
        let mut salt = vec![0u8; SALT_LEN];
        seal::random(&mut salt)?;
        let kek = kek(pin, &salt, KDF_ITERATIONS);
        let aad = seal::slot_aad(token_uid, user, KDF_ITERATIONS, &salt);
        let wrapped = seal::seal(&kek, &aad, dek)?;
        Ok(Slot {
            user,
            salt,
            iterations: KDF_ITERATIONS,
            wrapped,
        })
    }

    /// Write (or replace) this slot.
    pub(crate) fn put(&self, tx: &rusqlite::Transaction<'_>) -> Result<()> {
        tx.execute(
            "INSERT OR REPLACE INTO pin_slot (user, salt, iterations, wrapped)
             VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![self.user as i64, self.salt, self.iterations, self.wrapped],
        )
        .map_err(db("store: write PIN slot"))?;
        Ok(())
    }

    fn get(conn: &rusqlite::Connection, user: CK_USER_TYPE) -> Result<Option<Slot>> {
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

    /// The DEK if `pin` is this slot's PIN. Slow: call outside transactions.
    fn unlock(&self, token_uid: &[u8; seal::UID_LEN], pin: &[u8]) -> Result<Option<Dek>> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&self.iterations) {
            tracing::error!(
                user = self.user,
                iterations = self.iterations,
                "store: PIN slot has an implausible KDF count"
            );
            return Err(fail(
                cryptoki_sys::CKR_DEVICE_ERROR,
                "store: PIN slot malformed",
            ));
        }
        let kek = kek(pin, &self.salt, self.iterations);
        let aad = seal::slot_aad(token_uid, self.user, self.iterations, &self.salt);
        let Some(plain) = seal::open(&kek, &aad, &self.wrapped) else {
            return Ok(None);
        };
        let mut key = Zeroizing::new([0u8; seal::KEY_LEN]);
        if plain.len() != key.len() {
            return Err(fail(
                cryptoki_sys::CKR_DEVICE_ERROR,
                "store: PIN slot malformed",
            ));
        }
        key.copy_from_slice(&plain);
        Ok(Some(Dek {
            key,
            token_uid: *token_uid,
            role: self.user,
        }))
    }
}

/// The counter column of a role.
fn failures_column(user: CK_USER_TYPE) -> &'static str {
    if user == CKU_SO {
        "so_failures"
    } else {
        "user_failures"
    }
}

impl Store {
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
        Self::check_role(user)?;
        let col = failures_column(user);
        let count_sql = format!("UPDATE token SET {col} = {col} + 1 WHERE id = 1");
        let reset_sql = format!("UPDATE token SET {col} = 0 WHERE id = 1");
        // A re-initialisation landing between the steps sends us round again.
        for _ in 0..3 {
            let (slot, token_uid) = self.write("store: login", |tx| {
                let t = token_row(tx)?;
                if !t.info.initialized {
                    return Err(if user == CKU_SO {
                        fail(
                            cryptoki_sys::CKR_TOKEN_NOT_RECOGNIZED,
                            "store: token not initialised",
                        )
                    } else {
                        fail(
                            cryptoki_sys::CKR_USER_PIN_NOT_INITIALIZED,
                            "store: token not initialised",
                        )
                    });
                }
                if user == CKU_USER && !t.info.user_pin_initialized {
                    return Err(fail(
                        cryptoki_sys::CKR_USER_PIN_NOT_INITIALIZED,
                        "store: user PIN not initialised",
                    ));
                }
                if t.info.locked(user) {
                    return Err(fail(cryptoki_sys::CKR_PIN_LOCKED, "store: PIN locked"));
                }
                let Some(slot) = Slot::get(tx, user)? else {
                    tracing::error!(
                        user,
                        "store: the PIN slot of an initialised role is missing"
                    );
                    return Err(fail(
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
                fail(cryptoki_sys::CKR_PIN_INCORRECT, "store: wrong PIN")
            });
        }
        Err(fail(
            cryptoki_sys::CKR_FUNCTION_FAILED,
            "store: token re-initialised during login",
        ))
    }

    /// `C_InitPIN`: set the user PIN, with the DEK of an SO login. Resets the user's
    /// wrong-PIN count, which unlocks a locked user PIN.
    pub fn init_user_pin(&self, so: &Dek, pin: &[u8]) -> Result<()> {
        if so.role != CKU_SO {
            return Err(fail(
                cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
                "store: C_InitPIN needs the SO",
            ));
        }
        check_pin_len(pin)?;
        let slot = Slot::make(&so.token_uid, CKU_USER, pin, &so.key)?;
        self.write("store: init_user_pin", |tx| {
            let t = token_row(tx)?;
            if !t.info.initialized || t.token_uid != so.token_uid {
                return Err(fail(
                    cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
                    "store: token re-initialised",
                ));
            }
            slot.put(tx)?;
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
        Self::check_role(user)?;
        check_pin_len(new)?;
        let dek = self.verify_pin(user, old)?;
        let slot = Slot::make(&dek.token_uid, user, new, &dek.key)?;
        self.write("store: set_pin", |tx| {
            let t = token_row(tx)?;
            if t.token_uid != dek.token_uid {
                return Err(fail(
                    cryptoki_sys::CKR_FUNCTION_FAILED,
                    "store: token re-initialised",
                ));
            }
            slot.put(tx)
        })?;
        self.checkpoint_truncate();
        Ok(())
    }

    /// Fail with `CKR_USER_NOT_LOGGED_IN` unless `dek` belongs to the token as it is now.
    pub(crate) fn check_current(
        tx: &rusqlite::Connection,
        dek: &Dek,
    ) -> Result<[u8; seal::UID_LEN]> {
        let t = token_row(tx)?;
        if t.info.initialized && t.token_uid == dek.token_uid {
            Ok(t.token_uid)
        } else {
            Err(fail(
                cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
                "store: login predates a re-initialisation",
            ))
        }
    }
}
