//! A PKCS#11 module loaded the way an application does it, its slots, and login.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::path::PathBuf;

/// The slot whose token label is `label`.
pub fn find_slot(ctx: &Pkcs11, label: &str) -> Option<Slot> {
    ctx.get_slots_with_token()
        .expect("C_GetSlotList")
        .into_iter()
        .find(|s| ctx.get_token_info(*s).map(|i| i.label().trim_end() == label).unwrap_or(false))
}

/// Logs `user` in on `s`; one already logged in (login is per application, so
/// another session's login counts) is fine too.
pub fn login(s: &Session, user: UserType, pin: &AuthPin) {
    match s.login(user, Some(pin)) {
        Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("C_Login ({user:?}): {e}"),
    }
}

/// An environment variable the rig exported, or a panic naming it.
pub fn exported(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (the rig exports it)"))
}

/// `libkmsbridge.so` loaded and initialised (`CKF_OS_LOCKING_OK`) on the instance the
/// environment names (`KMSBRIDGE_MODULE`, `KMSBRIDGE_TOKEN_LABEL`, PINs), as a child
/// process of a multi-process test finds it.
pub struct Module {
    /// The `cryptoki` context.
    pub ctx: Pkcs11,
    /// The instance's slot.
    pub slot: Slot,
    /// The user PIN.
    pub user_pin: String,
    /// The SO PIN.
    pub so_pin: String,
}

impl Module {
    /// Loads `KMSBRIDGE_MODULE`, calls `C_Initialize` and finds the slot of
    /// `KMSBRIDGE_TOKEN_LABEL`. Every step must succeed.
    pub fn load() -> Module {
        let path = PathBuf::from(exported("KMSBRIDGE_MODULE"));
        let ctx = Pkcs11::new(&path).unwrap_or_else(|e| panic!("load {}: {e}", path.display()));
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .unwrap_or_else(|e| panic!("C_Initialize: {e}"));
        let label = exported("KMSBRIDGE_TOKEN_LABEL");
        let slot =
            find_slot(&ctx, &label).unwrap_or_else(|| panic!("no slot with token label {label:?}"));
        Module {
            ctx,
            slot,
            user_pin: exported("KMSBRIDGE_USER_PIN"),
            so_pin: exported("KMSBRIDGE_SO_PIN"),
        }
    }

    /// A R/W session with the user logged in.
    pub fn user_session(&self) -> Session {
        let s = self.ctx.open_rw_session(self.slot).expect("C_OpenSession");
        s.login(UserType::User, Some(&AuthPin::new(self.user_pin.clone().into())))
            .expect("C_Login (user)");
        s
    }
}
