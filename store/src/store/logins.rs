//! The PIN calls: `init_token` (C_InitToken), counted PIN checks (`login`),
//! `init_user_pin` (C_InitPIN) and `set_pin` (C_SetPIN). The slot crypto is
//! `crate::pins`; here are the transactions around it, over any [`Rows`].

use cryptoki_sys::{CKU_SO, CKU_USER, CK_USER_TYPE};

use super::Store;
use crate::pins::{check_pin_len, check_role, Dek, PinSlot};
use crate::rows::Rows;
use crate::seal;
use kmsbridge_bridge::{Error, Result};

impl<R: Rows> Store<R> {
    /// `C_InitToken`: on a new token, set the SO PIN and label; on an initialised one,
    /// check the SO PIN (counted; `CKR_PIN_INCORRECT`, `CKR_PIN_LOCKED`), then destroy
    /// every object and the user PIN, and start over with a new DEK under the given SO
    /// PIN. `label` is stored as given (the provider pads or trims it).
    pub fn init_token(&self, so_pin: &[u8], label: &str) -> Result<()> {
        check_pin_len(so_pin)?;
        // Another process may initialise at the same moment: what we checked is
        // confirmed inside the write transaction, and we start over if it moved.
        for _ in 0..3 {
            let before = self.rows.token()?;
            let expected = if before.info.initialized {
                let dek = self.verify_pin(CKU_SO, so_pin)?;
                Some(dek.token_uid)
            } else {
                None
            };
            // Fresh token generation, DEK and SO slot, made before the write lock.
            let token_uid = seal::random_uid()?;
            let dek = seal::random_key()?;
            let slot = PinSlot::make(&token_uid, CKU_SO, so_pin, &dek)?;
            let done = self.write("store: init_token", |tx| {
                let now = tx.token()?;
                let same = match expected {
                    None => !now.info.initialized,
                    Some(uid) => now.info.initialized && now.token_uid == uid,
                };
                if !same {
                    return Ok(false);
                }
                tx.start_over(label, &token_uid)?;
                tx.put_slot(&slot)?;
                Ok(true)
            })?;
            if done {
                tracing::info!(store = ?self.rows, reinit = expected.is_some(), "store: token initialised");
                self.rows.after_secret_change();
                return Ok(());
            }
        }
        Err(Error::rv(
            cryptoki_sys::CKR_FUNCTION_FAILED,
            "store: token re-initialised concurrently",
        ))
    }

    /// `C_Login`: check `pin` for `user` (`CKU_SO` or `CKU_USER`) and hand back the
    /// token's DEK. Wrong PINs are counted across processes, before the check:
    /// `CKR_PIN_INCORRECT`, then `CKR_PIN_LOCKED` once the count reaches the bound; a
    /// right PIN resets the count.
    pub fn login(&self, user: CK_USER_TYPE, pin: &[u8]) -> Result<Dek> {
        self.verify_pin(user, pin)
    }

    /// A counted PIN check. The attempt is counted before the (slow) check and
    /// uncounted when it proves right, so a process killed in between, or many
    /// processes guessing at once, cannot get past the bound.
    fn verify_pin(&self, user: CK_USER_TYPE, pin: &[u8]) -> Result<Dek> {
        check_role(user)?;
        // A re-initialisation landing between the steps sends us round again.
        for _ in 0..3 {
            let (slot, token_uid) = self.write("store: login", |tx| {
                let t = tx.token()?;
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
                let Some(slot) = tx.slot(user)? else {
                    tracing::error!(
                        user,
                        "store: the PIN slot of an initialised role is missing"
                    );
                    return Err(Error::rv(
                        cryptoki_sys::CKR_DEVICE_ERROR,
                        "store: PIN slot missing",
                    ));
                };
                tx.count_failure(user)?;
                Ok((slot, t.token_uid))
            })?;
            let dek = slot.unlock(&token_uid, pin)?;
            let settled = self.write("store: login", |tx| {
                if tx.token()?.token_uid != token_uid {
                    return Ok(false);
                }
                if dek.is_some() {
                    tx.clear_failures(user)?;
                }
                Ok(true)
            })?;
            if !settled {
                continue;
            }
            return dek.ok_or_else(|| {
                tracing::info!(store = ?self.rows, user, "store: wrong PIN");
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
        let slot = PinSlot::make(&so.token_uid, CKU_USER, pin, &so.key)?;
        self.write("store: init_user_pin", |tx| {
            let t = tx.token()?;
            if !t.info.initialized || t.token_uid != so.token_uid {
                return Err(Error::rv(
                    cryptoki_sys::CKR_USER_NOT_LOGGED_IN,
                    "store: token re-initialised",
                ));
            }
            tx.put_slot(&slot)?;
            tx.set_user_pin_initialized()?;
            tx.clear_failures(CKU_USER)
        })?;
        self.rows.after_secret_change();
        Ok(())
    }

    /// `C_SetPIN`: change `user`'s PIN from `old` (checked and counted as a login) to
    /// `new`. Only that role's slot is rewritten; objects are untouched.
    pub fn set_pin(&self, user: CK_USER_TYPE, old: &[u8], new: &[u8]) -> Result<()> {
        check_role(user)?;
        check_pin_len(new)?;
        let dek = self.verify_pin(user, old)?;
        let slot = PinSlot::make(&dek.token_uid, user, new, &dek.key)?;
        self.write("store: set_pin", |tx| {
            if tx.token()?.token_uid != dek.token_uid {
                return Err(Error::rv(
                    cryptoki_sys::CKR_FUNCTION_FAILED,
                    "store: token re-initialised",
                ));
            }
            tx.put_slot(&slot)
        })?;
        self.rows.after_secret_change();
        Ok(())
    }
}
