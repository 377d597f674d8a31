//! Shared by the software-instance tests that run several processes: a child process
//! is this same test binary, re-run on one ignored `#[test]` (`--ignored --exact child`)
//! with its role in the environment (the test does nothing without it). Children load `libkmsbridge.so` from the
//! environment the parent's rig exported (`KMSBRIDGE_MODULE`, `KMSBRIDGE_CONF`, ...).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

/// The environment variable that makes a child test act; its value is the role.
pub const ROLE: &str = "KMSBRIDGE_MP_TEST_ROLE";
/// A free-form argument for the child (a tag, a file name, a count).
pub const ARG: &str = "KMSBRIDGE_MP_TEST_ARG";

/// The role this process was started in, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// The child's argument.
pub fn arg() -> String {
    std::env::var(ARG).expect("the parent sets the child's argument")
}

/// Prints one line to the parent and flushes it (stdout is a pipe; a `kill -9` right
/// after must not lose a line that was printed).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("write to the parent");
    out.flush().expect("flush to the parent");
}

/// Starts this test binary on its test `test` in `role` with `arg`; its stdout lines
/// arrive on the channel (stderr is inherited).
pub fn spawn(test: &str, role: &str, arg: &str) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().expect("current_exe"))
        .args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(ARG, arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// What follows `marker` in a line of a child's output. The marker may come after the
/// test harness's own text ("test child ... READY").
pub fn field<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| line[i + marker.len()..].trim())
}

/// Waits for a line holding `marker` and returns what follows it; panics after `timeout`
/// or when the child's output ends.
pub fn wait_for(rx: &mpsc::Receiver<String>, marker: &str, timeout: Duration) -> String {
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = field(&line, marker) {
                    return rest.to_string();
                }
            }
            Err(e) => panic!("waiting for {marker:?} from a child: {e}"),
        }
    }
}

/// Waits for the file `path` to exist.
pub fn wait_file(path: &Path, timeout: Duration) {
    let end = Instant::now() + timeout;
    while !path.exists() {
        assert!(Instant::now() < end, "timed out waiting for {}", path.display());
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A child's exit status, waited for at most `timeout`; kills the child then panics.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let end = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child {} did not exit within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Environment variable set by the rig, or a panic naming it.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (the rig exports it)"))
}

/// The module loaded and initialised (`CKF_OS_LOCKING_OK`) the way an application does
/// it, on the software instance named by the environment.
pub struct Module {
    pub ctx: Pkcs11,
    pub slot: Slot,
    pub user_pin: String,
    pub so_pin: String,
}

impl Module {
    /// Loads `KMSBRIDGE_MODULE`, calls `C_Initialize` and finds the slot of
    /// `KMSBRIDGE_TOKEN_LABEL`. Every step must succeed.
    pub fn load() -> Module {
        let path = PathBuf::from(env("KMSBRIDGE_MODULE"));
        let ctx = Pkcs11::new(&path).unwrap_or_else(|e| panic!("load {}: {e}", path.display()));
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .unwrap_or_else(|e| panic!("C_Initialize: {e}"));
        let label = env("KMSBRIDGE_TOKEN_LABEL");
        let slot = kmsbridge_tests::env::find_slot(&ctx, &label)
            .unwrap_or_else(|| panic!("no slot with token label {label:?}"));
        Module { ctx, slot, user_pin: env("KMSBRIDGE_USER_PIN"), so_pin: env("KMSBRIDGE_SO_PIN") }
    }

    /// A R/W session with the user logged in.
    pub fn user_session(&self) -> Session {
        let s = self.ctx.open_rw_session(self.slot).expect("C_OpenSession");
        s.login(UserType::User, Some(&AuthPin::new(self.user_pin.clone().into())))
            .expect("C_Login (user)");
        s
    }
}

/// The block every test key encrypts (AES-ECB) as its fingerprint: two processes that
/// get the same ciphertext from a key hold the same key value.
pub const PROBE: [u8; 16] = *b"kmsbridge-probe!";

/// Generates an AES-256 token key labelled `label` with CKA_ID `id`: private,
/// sensitive, not extractable, for encryption.
pub fn gen_token_aes(s: &Session, label: &str, id: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ],
    )
}

/// The key's fingerprint: AES-ECB of [`PROBE`], hex.
pub fn fingerprint(s: &Session, key: ObjectHandle) -> String {
    let ct = s.encrypt(&Mechanism::AesEcb, key, &PROBE).expect("C_Encrypt (AES-ECB)");
    assert_eq!(ct.len(), 16, "AES-ECB of one block");
    assert_ne!(&ct[..], &PROBE[..], "AES-ECB returned the plaintext");
    hex::encode(ct)
}

/// An AES-GCM encrypt/decrypt round trip under `key` (fails the test on any error).
pub fn round_trip(s: &Session, key: ObjectHandle, what: &str) {
    let msg = format!("round trip under {what}");
    let mut iv = [7u8; 12];
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv, what.as_bytes(), 128.into()).unwrap());
    let ct = s.encrypt(&m, key, msg.as_bytes()).unwrap_or_else(|e| panic!("{what}: GCM: {e}"));
    assert_eq!(ct.len(), msg.len() + 16, "{what}: GCM output length");
    let pt = s.decrypt(&m, key, &ct).unwrap_or_else(|e| panic!("{what}: GCM open: {e}"));
    assert_eq!(pt, msg.as_bytes(), "{what}: GCM round trip");
}

/// One byte-string attribute of `obj` (label, id).
pub fn bytes_attr(s: &Session, obj: ObjectHandle, ty: AttributeType) -> Vec<u8> {
    kmsbridge_tests::keys::attr_bytes(s, obj, ty)
}

/// Every AES secret key the user sees, by label: (handle, CKA_ID).
pub fn keys_by_label(s: &Session) -> BTreeMap<String, (ObjectHandle, Vec<u8>)> {
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
        ])
        .expect("C_FindObjects");
    let mut by_label = BTreeMap::new();
    for h in found {
        let attrs = s
            .get_attributes(h, &[AttributeType::Label, AttributeType::Id])
            .expect("C_GetAttributeValue (label, id)");
        let (mut label, mut id) = (None, None);
        for a in attrs {
            match a {
                Attribute::Label(l) => label = Some(String::from_utf8(l).expect("utf-8 label")),
                Attribute::Id(i) => id = Some(i),
                _ => {}
            }
        }
        let label = label.expect("every test key has a label");
        let prev = by_label.insert(label.clone(), (h, id.expect("every test key has an id")));
        assert!(prev.is_none(), "two keys labelled {label:?}");
    }
    by_label
}

/// Random bytes from the OS.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .expect("read /dev/urandom");
    buf
}

/// `PRAGMA integrity_check` of the store's database (opened read-only, so the check
/// changes nothing): SQLite's own verdict that the file is not corrupt.
pub fn integrity_check(store_dir: &Path) {
    let db = store_dir.join("store.sqlite");
    assert!(db.exists(), "{} does not exist", db.display());
    let conn = rusqlite::Connection::open_with_flags(
        &db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap_or_else(|e| panic!("open {}: {e}", db.display()));
    let verdict: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .expect("PRAGMA integrity_check");
    assert_eq!(verdict, vec!["ok".to_string()], "store database integrity");
}

/// The store directory of the rig's software instance (`store = "..."` in its config).
pub fn store_dir() -> PathBuf {
    let conf = env("KMSBRIDGE_CONF");
    let text = std::fs::read_to_string(&conf).expect("read KMSBRIDGE_CONF");
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("store = "))
        .unwrap_or_else(|| panic!("{conf} names no store"));
    PathBuf::from(line.trim_matches('"'))
}
