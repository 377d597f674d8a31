//! Token state: initialisation, label, wrong-PIN counters and the flags they imply.

use cryptoki_sys::{CKU_SO, CKU_USER, CK_FLAGS, CK_USER_TYPE};
use rusqlite::OptionalExtension;

use super::{db, fail, pins, seal, Store, MAX_PIN_LEN, MIN_PIN_LEN};
use kmsbridge_bridge::Result;

/// The token as every process sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub initialized: bool,
    pub label: String,
    pub user_pin_initialized: bool,
    /// Wrong user PINs since the last correct one.
    pub user_failures: u32,
    /// Wrong SO PINs since the last correct one.
    pub so_failures: u32,
    /// The count at which a PIN locks.
    pub max_failures: u32,
    /// 16 hex digits, random, fixed when the store was made (kept across re-init).
    pub serial: String,
}

impl TokenInfo {
    /// The CK_TOKEN_INFO flags this state implies: `CKF_TOKEN_INITIALIZED`,
    /// `CKF_USER_PIN_INITIALIZED` and the `CKF_{USER,SO}_PIN_{COUNT_LOW,FINAL_TRY,LOCKED}`
    /// family. The provider adds the flags that do not depend on the store.
    pub fn flags(&self) -> CK_FLAGS {
        use cryptoki_sys::*;
        let mut f = 0;
        if self.initialized {
            f |= CKF_TOKEN_INITIALIZED;
        }
        if self.user_pin_initialized {
            f |= CKF_USER_PIN_INITIALIZED;
        }
        f |= pin_flags(
            self.user_failures,
            self.max_failures,
            [
                CKF_USER_PIN_COUNT_LOW,
                CKF_USER_PIN_FINAL_TRY,
                CKF_USER_PIN_LOCKED,
            ],
        );
        f |= pin_flags(
            self.so_failures,
            self.max_failures,
            [
                CKF_SO_PIN_COUNT_LOW,
                CKF_SO_PIN_FINAL_TRY,
                CKF_SO_PIN_LOCKED,
            ],
        );
        f
    }

    /// Whether this role's PIN is locked.
    pub fn locked(&self, user: CK_USER_TYPE) -> bool {
        self.failures(user) >= self.max_failures
    }

    pub(crate) fn failures(&self, user: CK_USER_TYPE) -> u32 {
        if user == CKU_SO {
            self.so_failures
        } else {
            self.user_failures
        }
    }
}

/// PKCS#11: COUNT_LOW once a wrong PIN was entered since the last right one; FINAL_TRY
/// when one more wrong PIN locks it; LOCKED when locked (the other two then clear).
fn pin_flags(failures: u32, max: u32, [low, final_try, locked]: [CK_FLAGS; 3]) -> CK_FLAGS {
    if failures >= max {
        locked
    } else if failures + 1 == max {
        final_try | if failures > 0 { low } else { 0 }
    } else if failures > 0 {
        low
    } else {
        0
    }
}

/// The token row with what the store needs internally.
pub(crate) struct TokenRow {
    pub info: TokenInfo,
    pub token_uid: [u8; seal::UID_LEN],
}

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
        return Err(fail(
            cryptoki_sys::CKR_DEVICE_ERROR,
            "store: token row missing",
        ));
    };
    let token_uid = uid
        .as_slice()
        .try_into()
        .map_err(|_| fail(cryptoki_sys::CKR_DEVICE_ERROR, "store: token uid malformed"))?;
    Ok(TokenRow { info, token_uid })
}

/// Check that a new PIN has an acceptable length.
pub(crate) fn check_pin_len(pin: &[u8]) -> Result<()> {
    if (MIN_PIN_LEN..=MAX_PIN_LEN).contains(&pin.len()) {
        Ok(())
    } else {
        Err(fail(cryptoki_sys::CKR_PIN_LEN_RANGE, "store: PIN length"))
    }
}

impl Store {
    /// The token's state, as committed by any process.
    pub fn token(&self) -> Result<TokenInfo> {
        let conn = self.conn()?;
        Ok(token_row(&conn)?.info)
    }

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
            let slot = pins::Slot::make(&token_uid, CKU_SO, so_pin, &dek)?;
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
                slot.put(tx)?;
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
        Err(fail(
            cryptoki_sys::CKR_FUNCTION_FAILED,
            "store: token re-initialised concurrently",
        ))
    }

    /// Check that `user` is a role with a PIN here.
    pub(crate) fn check_role(user: CK_USER_TYPE) -> Result<()> {
        if user == CKU_SO || user == CKU_USER {
            Ok(())
        } else {
            Err(fail(
                cryptoki_sys::CKR_USER_TYPE_INVALID,
                "store: user type",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_counters() {
        use cryptoki_sys::*;
        let mut t = TokenInfo {
            initialized: true,
            label: String::new(),
            user_pin_initialized: true,
            user_failures: 0,
            so_failures: 0,
            max_failures: 10,
            serial: String::new(),
        };
        assert_eq!(t.flags(), CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED);
        t.user_failures = 1;
        assert_ne!(t.flags() & CKF_USER_PIN_COUNT_LOW, 0);
        t.user_failures = 9;
        assert_ne!(t.flags() & CKF_USER_PIN_FINAL_TRY, 0);
        assert_ne!(t.flags() & CKF_USER_PIN_COUNT_LOW, 0);
        t.user_failures = 10;
        assert_eq!(
            t.flags() & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW),
            CKF_USER_PIN_LOCKED
        );
        assert!(t.locked(CKU_USER));
        assert!(!t.locked(CKU_SO));
        t.so_failures = 3;
        assert_ne!(t.flags() & CKF_SO_PIN_COUNT_LOW, 0);
    }
}
