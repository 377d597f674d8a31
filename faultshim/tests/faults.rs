//! The fault shim over SoftHSM2: each test copies the built shim into its own
//! directory with its own `faultshim.conf`, so every test is an independent node
//! (the copies in one process share the one SoftHSM2 library, `shared_target`),
//! and flips faults in the control file while the process runs.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use kmsbridge_faultshim::CHECK_EVERY_MS;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_testkit::keys::{ecdsa_sign, find_private, token_ec_key};
use kmsbridge_testkit::module::login;
use kmsbridge_testkit::tokens::{Tokens, SOFTHSM2_LIBRARY};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const USER_PIN: &str = "fault-user-1234";
const SO_PIN: &str = "fault-so-5678";
/// One token per test, made before any module is loaded.
const TOKENS: [&str; 7] = [
    "pass", "latency", "capacity", "errors", "hang", "down", "env",
];

/// The SoftHSM2 store shared by the tests of this process.
fn store() -> &'static Tokens {
    static STORE: OnceLock<Tokens> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = Tokens::new("faultshim-");
        for t in TOKENS {
            store.init_token(&label(t), SO_PIN, USER_PIN);
        }
        store
    })
}

fn label(t: &str) -> String {
    format!("fs-{t}")
}

/// The shim as cargo built it for this test run: in `deps/` beside the test (the
/// library's `rlib` crate type makes `cargo test` rebuild it there; the copy one
/// level up is only refreshed by `cargo build`).
fn built_shim() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let so = deps.join("libkmsbridge_faultshim.so");
    assert!(so.exists(), "{} not built", so.display());
    so
}

/// One node: a copy of the shim with its control file, loaded and initialised.
struct Node {
    dir: tempfile::TempDir,
    ctx: Pkcs11,
    slot: Slot,
}

impl Node {
    fn new(token: &str, extra: &str) -> Node {
        store();
        let dir = tempfile::Builder::new()
            .prefix("faultshim-node-")
            .tempdir()
            .unwrap();
        let lib = dir.path().join("libkmsbridge_faultshim.so");
        std::fs::copy(built_shim(), &lib).unwrap();
        std::fs::write(
            dir.path().join("faultshim.conf"),
            format!(
                "target = \"{SOFTHSM2_LIBRARY}\"\nshared_target = true\ntoken_label = \"{}\"\n{extra}\n",
                label(token)
            ),
        )
        .unwrap();
        Node::load(dir, &lib, token)
    }

    fn load(dir: tempfile::TempDir, lib: &Path, token: &str) -> Node {
        let ctx = Pkcs11::new(lib).unwrap();
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .unwrap();
        let slots = ctx.get_slots_with_token().unwrap();
        assert_eq!(slots.len(), 1, "the shim shows only its own token");
        let info = ctx.get_token_info(slots[0]).unwrap();
        assert_eq!(info.label(), label(token));
        Node {
            dir,
            ctx,
            slot: slots[0],
        }
    }

    /// Sets `key = value` lines in the control file (others kept), then waits
    /// until the shim's next look at it (it looks at most every CHECK_EVERY_MS).
    fn set(&self, lines: &str) {
        let path = self.dir.path().join("faultshim.conf");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in lines.lines().filter(|l| l.contains('=')) {
            let key = line.split('=').next().unwrap().trim();
            text = text
                .lines()
                .filter(|l| l.split('=').next().map(str::trim) != Some(key))
                .map(|l| format!("{l}\n"))
                .collect();
            text.push_str(line.trim());
            text.push('\n');
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        settle();
    }

    fn session(&self) -> Session {
        let s = self.ctx.open_rw_session(self.slot).unwrap();
        login(&s, UserType::User, &AuthPin::new(USER_PIN.into()));
        s
    }
}

fn one_private(s: &Session, name: &str) -> ObjectHandle {
    let found = find_private(s, name);
    assert_eq!(
        found.len(),
        1,
        "one private key labelled {name}: {found:?} {:?}",
        s.get_session_info()
    );
    found[0]
}

/// Waits until every later call sees a control-file change made before: the
/// shim's look interval and 30 ms more (only a lower bound: a longer sleep under
/// load changes nothing).
fn settle() {
    std::thread::sleep(Duration::from_millis(CHECK_EVERY_MS + 30));
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

#[test]
fn forwards_every_call_and_shows_only_its_token() {
    let n = Node::new("pass", "");
    let s = n.session();
    let key = token_ec_key(&s, "k");
    assert_eq!(ecdsa_sign(&s, key).unwrap().len(), 64);
    assert!(n.ctx.get_library_info().is_ok());
    assert!(!n.ctx.get_mechanism_list(n.slot).unwrap().is_empty());
    assert_eq!(s.generate_random_vec(16).unwrap().len(), 16);
}

/// The latency of `latency_is_added_to_crypto_calls_only`. Its bounds are in units
/// of it, each the least time the fault it guards against takes, so that fault fails
/// the test for certain; the margins are whole latencies (0.5 s and more) over a
/// sign that takes about 1 ms on an idle machine, so load does not fail it.
const LATENCY: Duration = Duration::from_millis(500);

#[test]
fn latency_is_added_to_crypto_calls_only() {
    let n = Node::new("latency", "");
    let s = n.session();
    let key = token_ec_key(&s, "k");
    // A sign is 3 crypto calls (C_SignInit, the length query, C_Sign): with any
    // latency in force it takes at least 3 latencies.
    let (r, fast) = timed(|| ecdsa_sign(&s, key));
    r.unwrap();
    assert!(fast < 3 * LATENCY, "no latency configured, took {fast:?}");

    n.set(&format!("latency_ms = {}", LATENCY.as_millis()));
    let (r, slow) = timed(|| ecdsa_sign(&s, key));
    r.unwrap();
    assert!(
        slow >= 3 * LATENCY,
        "3 crypto calls x {LATENCY:?}, took {slow:?}"
    );
    // Added once per call: twice per call would take 6 latencies.
    assert!(
        slow < 5 * LATENCY,
        "latency added more than once a call, took {slow:?}"
    );
    // One non-crypto call: had the latency been added, at least one latency.
    let (r, random) = timed(|| s.generate_random_vec(16));
    r.unwrap();
    assert!(random < LATENCY, "not a crypto call, took {random:?}");

    n.set("latency_ms = 0");
    let (r, fast) = timed(|| ecdsa_sign(&s, key));
    r.unwrap();
    assert!(fast < 3 * LATENCY, "latency cleared, took {fast:?}");
}

/// `threads` sessions each sign once, all at the same time; the time they took.
fn concurrent_signs(n: &Node, key: ObjectHandle, threads: usize) -> Duration {
    let sessions: Vec<Session> = (0..threads).map(|_| n.session()).collect();
    let (_, took) = timed(|| {
        std::thread::scope(|sc| {
            for s in sessions {
                sc.spawn(move || ecdsa_sign(&s, key).unwrap());
            }
        })
    });
    took
}

#[test]
fn capacity_limits_concurrent_crypto_calls() {
    // Per crypto call; 6 concurrent signs are 18 calls, 3 per thread in sequence.
    const L: Duration = Duration::from_millis(200);
    let n = Node::new("capacity", &format!("latency_ms = {}", L.as_millis()));
    let s = n.session();
    let key = token_ec_key(&s, "k");
    // No limit: about 3 L, all 6 in parallel. Each bound below is the 9 L that a
    // limit of 2 (or fewer) engines would take, so such a limit fails for certain;
    // the margin over the expected 3 L is 6 L (1.2 s).
    let free = concurrent_signs(&n, key, 6);
    assert!(free < 9 * L, "no capacity limit, took {free:?}");
    // Two engines: the 18 calls need at least 18 L / 2 = 9 L.
    n.set("capacity = 2");
    let two = concurrent_signs(&n, key, 6);
    assert!(two >= 9 * L, "capacity 2, took {two:?}");
    n.set("capacity = 0");
    let free = concurrent_signs(&n, key, 6);
    assert!(free < 9 * L, "limit lifted, took {free:?}");
}

#[test]
fn errors_are_injected_at_the_configured_rate_and_leave_no_operation_behind() {
    let n = Node::new("errors", "");
    let s = n.session();
    let key = token_ec_key(&s, "k");
    n.set("error_rate = 1.0\nerror_rv = 0x30");
    assert_eq!(err_of(ecdsa_sign(&s, key)), RvError::DeviceError);
    n.set("error_rv = 0x200");
    assert_eq!(err_of(ecdsa_sign(&s, key)), RvError::FunctionRejected);
    // Non-crypto calls are never failed.
    assert!(s.generate_random_vec(8).is_ok());

    // Each sign rolls twice (C_SignInit, the final C_Sign; not the length query):
    // P(fail) = 1 - 0.7^2 = 0.51.
    n.set("error_rate = 0.3\nerror_rv = 0x30");
    let mut failed = 0;
    for _ in 0..200 {
        match ecdsa_sign(&s, key) {
            Ok(sig) => assert_eq!(sig.len(), 64),
            Err(Error::Pkcs11(RvError::DeviceError, _)) => failed += 1,
            Err(e) => {
                panic!("only injected CKR_DEVICE_ERROR expected (no operation left active): {e}")
            }
        }
    }
    assert!(
        (70..=134).contains(&failed),
        "{failed} of 200 failed, expected about 102"
    );

    n.set("error_rate = 0");
    for _ in 0..20 {
        ecdsa_sign(&s, key).unwrap();
    }
}

#[test]
fn hang_blocks_calls_until_cleared() {
    let n = Node::new("hang", "");
    let s = n.session();
    let key = token_ec_key(&s, "k");
    n.set("hang = true");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|sc| {
        sc.spawn(move || tx.send(timed(|| ecdsa_sign(&s, key))).unwrap());
        // A correct hang never answers, so load cannot fail this check.
        assert!(
            rx.recv_timeout(Duration::from_millis(500)).is_err(),
            "a call got through a hang"
        );
        n.set("hang = false");
        // Liveness only: the hung call polls every 10 ms and the shim looks at its
        // file every CHECK_EVERY_MS, so it resumes within ~60 ms; 5 s more of margin.
        let (r, took) = rx
            .recv_timeout(Duration::from_millis(CHECK_EVERY_MS) + Duration::from_secs(5))
            .expect("the call resumes");
        r.unwrap();
        assert!(took >= Duration::from_millis(500), "took {took:?}");
    });
}

/// An AES-256 token key labelled `name`, for multi-part encryption.
fn aes_key(s: &Session, name: &str) -> ObjectHandle {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Token(true),
            Attribute::ValueLen(32.into()),
            Attribute::Encrypt(true),
            Attribute::Label(name.into()),
        ],
    )
    .expect("C_GenerateKey")
}

#[test]
fn down_answers_device_removed_and_afterwards_old_sessions_are_gone() {
    let n = Node::new("down", "");
    let s1 = n.session();
    token_ec_key(&s1, "k");
    let key = one_private(&s1, "k");
    let aes = aes_key(&s1, "a");
    ecdsa_sign(&s1, key).unwrap();
    // A multi-part operation in flight when the node goes.
    let s2 = n.session();
    s2.encrypt_init(&Mechanism::AesEcb, aes).unwrap();
    s2.encrypt_update(&[1u8; 16]).unwrap();

    n.set("down = true");
    assert_eq!(err_of(ecdsa_sign(&s1, key)), RvError::DeviceRemoved);
    assert_eq!(
        err_of(s2.encrypt_update(&[2u8; 16])),
        RvError::DeviceRemoved
    );
    assert_eq!(err_of(n.ctx.get_slots_with_token()), RvError::DeviceRemoved);
    assert_eq!(
        err_of(n.ctx.open_rw_session(n.slot)),
        RvError::DeviceRemoved
    );
    assert_eq!(err_of(s1.generate_random_vec(8)), RvError::DeviceRemoved);

    // Back, as a restarted HSM: the sessions of before are gone.
    n.set("down = false");
    assert_eq!(err_of(ecdsa_sign(&s1, key)), RvError::SessionHandleInvalid);
    assert_eq!(err_of(s2.encrypt_final()), RvError::SessionHandleInvalid);
    assert_eq!(err_of(s1.get_session_info()), RvError::SessionHandleInvalid);
    // New sessions work once logged in again; the keys are found anew.
    let s3 = n.session();
    let key = one_private(&s3, "k");
    assert_eq!(ecdsa_sign(&s3, key).unwrap().len(), 64);
    let aes = s3
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label("a".into()),
        ])
        .unwrap()[0];
    s3.encrypt_init(&Mechanism::AesEcb, aes).unwrap();
    assert_eq!(s3.encrypt_update(&[1u8; 16]).unwrap().len(), 16);
    s3.encrypt_final().unwrap();
}

#[test]
fn the_environment_names_control_file_and_target_when_no_sibling_file() {
    store();
    let dir = tempfile::Builder::new()
        .prefix("faultshim-env-")
        .tempdir()
        .unwrap();
    let lib = dir.path().join("libkmsbridge_faultshim.so");
    std::fs::copy(built_shim(), &lib).unwrap();
    let control = dir.path().join("elsewhere.conf");
    std::fs::write(
        &control,
        format!("shared_target = true\ntoken_label = {}\n", label("env")),
    )
    .unwrap();
    std::env::set_var("KMSBRIDGE_SHIM_CONTROL", &control);
    std::env::set_var("KMSBRIDGE_SHIM_TARGET", SOFTHSM2_LIBRARY);
    let n = Node::load(dir, &lib, "env");
    let s = n.session();
    let key = token_ec_key(&s, "k");
    ecdsa_sign(&s, key).unwrap();
    std::fs::write(
        &control,
        format!(
            "shared_target = true\ntoken_label = {}\ndown = 1\n",
            label("env")
        ),
    )
    .unwrap();
    settle();
    assert_eq!(err_of(ecdsa_sign(&s, key)), RvError::DeviceRemoved);
}
