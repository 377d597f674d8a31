//! One loaded, initialised module and the slot under test.

use crate::deviation::{Bridge, Deviation};
use crate::raw::Raw;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use kmsbridge_testkit::module::{find_slot, login};
use kmsbridge_testkit::rig::{Rig, RigOptions};
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// Which module a case talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `libsofthsm2.so` directly, on the rig's node token.
    SoftHsm,
    /// `libkmsbridge.so`, on the hardware instance served over that token.
    Bridge,
    /// `libkmsbridge.so`, on a software instance (keys in-module, durable store).
    Software,
}

impl Target {
    /// Short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Target::SoftHsm => "softhsm2",
            Target::Bridge => "kmsbridge",
            Target::Software => "kmsbridge-software",
        }
    }
}

/// `postgres`: software targets of this process keep their store in a throw-away
/// PostgreSQL server instead of SQLite (the conformance run `conformance_software_pg`).
pub const SOFTWARE_STORE: &str = "KMSBRIDGE_TEST_SOFTWARE_STORE";

/// The software target, its store in PostgreSQL for every rig this process makes from
/// now on (one test per process under nextest).
pub fn software_on_postgres() -> Target {
    std::env::set_var(SOFTWARE_STORE, "postgres");
    Target::Software
}

/// PKCS#11 state is process-global: tests that share a process (plain `cargo test`)
/// take turns. Under `cargo nextest` every test has its own process anyway.
static ONE_MODULE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A rig, the target module loaded through `cryptoki` and initialised with
/// `CKF_OS_LOCKING_OK`, the slot whose token label is the rig's, and the PINs.
pub struct Env {
    /// The module under test.
    pub target: Target,
    /// The `cryptoki` context.
    pub ctx: Pkcs11,
    /// Raw function list of the same loaded module.
    pub raw: Raw,
    /// The slot of the token under test.
    pub slot: Slot,
    /// Its token label.
    pub label: String,
    /// The user PIN (the instance's own for the bridge, the node's for SoftHSM2).
    pub user_pin: String,
    /// The SO PIN.
    pub so_pin: String,
    /// Path of the loaded module.
    pub module: PathBuf,
    rig: Rig,
    _turn: MutexGuard<'static, ()>,
}

impl Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("target", &self.target)
            .field("slot", &self.slot)
            .field("label", &self.label)
            .field("module", &self.module)
            .finish()
    }
}

impl Env {
    /// A fresh rig with defaults, and the target loaded over it.
    pub fn new(target: Target) -> Env {
        Env::with_options(target, &RigOptions::default())
    }

    /// A fresh rig made with `opts`, and the target loaded over it. The software
    /// target's store is in PostgreSQL when [`software_on_postgres`] chose it.
    pub fn with_options(target: Target, opts: &RigOptions) -> Env {
        let software = RigOptions {
            software: opts.software || target == Target::Software,
            postgres: opts.postgres
                || (target == Target::Software
                    && std::env::var(SOFTWARE_STORE).as_deref() == Ok("postgres")),
            ..opts.clone()
        };
        Env::with_rig(target, Rig::with_options(&software))
    }

    /// The target loaded over a rig made (and perhaps adjusted) by the caller.
    pub fn with_rig(target: Target, rig: Rig) -> Env {
        let turn = ONE_MODULE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (module, label, user_pin, so_pin) = match target {
            Target::SoftHsm => (
                rig.var("SOFTHSM2_MODULE"),
                rig.var("SOFTHSM2_TOKEN_LABEL"),
                rig.var("SOFTHSM2_USER_PIN"),
                rig.var("SOFTHSM2_SO_PIN"),
            ),
            Target::Bridge | Target::Software => (
                rig.var("KMSBRIDGE_MODULE"),
                rig.var("KMSBRIDGE_TOKEN_LABEL"),
                rig.var("KMSBRIDGE_USER_PIN"),
                rig.var("KMSBRIDGE_SO_PIN"),
            ),
        };
        let module = PathBuf::from(module);
        if !module.exists() {
            match target {
                Target::Bridge | Target::Software => panic!(
                    "{} does not exist: build the module first with \
                     `cargo build --release -p kmsbridge` (or point KMSBRIDGE_MODULE at it)",
                    module.display()
                ),
                Target::SoftHsm => {
                    panic!("{} does not exist: run ci/softhsm/install", module.display())
                }
            }
        }
        let ctx = Pkcs11::new(&module).unwrap_or_else(|e| panic!("load {}: {e}", module.display()));
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .unwrap_or_else(|e| panic!("C_Initialize of {}: {e}", module.display()));
        let raw = Raw::open(&module);
        let slot = find_slot(&ctx, label)
            .unwrap_or_else(|| panic!("{}: no slot with token label {label:?}", target.name()));
        Env {
            target,
            ctx,
            raw,
            slot,
            label: label.to_string(),
            user_pin: user_pin.to_string(),
            so_pin: so_pin.to_string(),
            module,
            rig,
            _turn: turn,
        }
    }

    /// The rig under this environment.
    pub fn rig(&self) -> &Rig {
        &self.rig
    }

    /// True when talking to kmsbridge.
    pub fn is_bridge(&self) -> bool {
        self.target == Target::Bridge
    }

    /// True when talking to kmsbridge, over either kind of instance.
    pub fn is_kmsbridge(&self) -> bool {
        matches!(self.target, Target::Bridge | Target::Software)
    }

    /// A read/write session, not logged in.
    pub fn rw_session(&self) -> Session {
        self.ctx.open_rw_session(self.slot).expect("C_OpenSession (RW)")
    }

    /// A read-only session, not logged in.
    pub fn ro_session(&self) -> Session {
        self.ctx.open_ro_session(self.slot).expect("C_OpenSession (RO)")
    }

    /// The user PIN as `cryptoki` wants it.
    pub fn user_auth(&self) -> AuthPin {
        AuthPin::new(self.user_pin.clone().into())
    }

    /// The SO PIN as `cryptoki` wants it.
    pub fn so_auth(&self) -> AuthPin {
        AuthPin::new(self.so_pin.clone().into())
    }

    /// A read/write session with the user logged in.
    pub fn user_session(&self) -> Session {
        let s = self.rw_session();
        s.login(UserType::User, Some(&self.user_auth())).expect("C_Login (user)");
        s
    }

    /// A read/write session with the user logged in, or already logged in by
    /// another session of this application (tests whose threads each log in).
    pub fn logged_in(&self) -> Session {
        let s = self.rw_session();
        login(&s, UserType::User, &self.user_auth());
        s
    }

    /// A read/write session with the SO logged in.
    pub fn so_session(&self) -> Session {
        let s = self.rw_session();
        s.login(UserType::So, Some(&self.so_auth())).expect("C_Login (SO)");
        s
    }

    /// Asserts the spec's answer on kmsbridge, and on SoftHSM2 the recorded
    /// deviation `dev`, whose observed answer is `softhsm`. A deviation that
    /// disappears (SoftHSM2 now follows the spec) fails too, so the record stays true.
    #[track_caller]
    pub fn expect_spec<T: PartialEq + Debug>(
        &self,
        what: &str,
        actual: T,
        spec: T,
        dev: &Deviation,
        softhsm: T,
    ) {
        assert_eq!(
            dev.bridge,
            Bridge::Mended,
            "{what}: {} is recorded as forwarded by kmsbridge: use expect_spec_or_forwarded",
            dev.id
        );
        match self.target {
            Target::Bridge | Target::Software => {
                assert_eq!(actual, spec, "{what}: kmsbridge must follow the spec ({})", dev.id)
            }
            Target::SoftHsm => {
                assert_eq!(
                    actual, softhsm,
                    "{what}: SoftHSM2 no longer shows recorded deviation {} ({}); \
                     update tests/DEVIATIONS.md",
                    dev.id, dev.summary
                );
                eprintln!("recorded SoftHSM2 deviation {}: {}", dev.id, dev.summary);
            }
        }
    }

    /// For a deviation kmsbridge cannot mend over SoftHSM2 ([`Bridge::Forwarded`]):
    /// the software instance must answer the spec; SoftHSM2 its recorded answer
    /// `softhsm`; the hardware instance kmsbridge's recorded answer `bridge`, and the
    /// run says by name that the deviation was forwarded (the case runs as
    /// `conformance_bridge::forwarded_shNN::<case>`, see `conformance_suite!`). Either
    /// recorded answer changing fails, so the record stays true.
    #[track_caller]
    pub fn expect_spec_or_forwarded<T: PartialEq + Debug>(
        &self,
        what: &str,
        actual: T,
        spec: T,
        dev: &Deviation,
        softhsm: T,
        bridge: T,
    ) {
        assert_eq!(dev.bridge, Bridge::Forwarded, "{what}: {} is recorded as mended", dev.id);
        match self.target {
            Target::Software => {
                assert_eq!(actual, spec, "{what}: kmsbridge must follow the spec ({})", dev.id)
            }
            Target::Bridge => {
                assert_eq!(
                    actual, bridge,
                    "{what}: kmsbridge no longer answers as recorded for forwarded deviation {} \
                     ({}); if it now follows the spec, record {} as mended",
                    dev.id, dev.summary, dev.id
                );
                eprintln!("deviation {} forwarded by kmsbridge: {what}: {}", dev.id, dev.summary);
            }
            Target::SoftHsm => {
                assert_eq!(
                    actual, softhsm,
                    "{what}: SoftHSM2 no longer shows recorded deviation {} ({}); \
                     update tests/DEVIATIONS.md",
                    dev.id, dev.summary
                );
                eprintln!("recorded SoftHSM2 deviation {}: {}", dev.id, dev.summary);
            }
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Leave the module finalised so a later Env in the same process starts clean.
        if let Some(finalize) = self.raw.list().C_Finalize {
            // SAFETY: NULL reserved pointer, as the spec requires.
            let _ = unsafe { finalize(std::ptr::null_mut()) };
        }
    }
}
