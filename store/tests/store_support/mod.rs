//! Shared by the store's multi-process tests: child processes are this same test
//! binary, re-run on one test (`child`) with the role in the environment.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kmsbridge_bridge::sys::*;
use kmsbridge_store::{Dek, ObjectRecord, SqliteStore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const SO_PIN: &[u8] = b"so-pin-0000";
pub const USER_PIN: &[u8] = b"user-pin-1111";
/// The environment variable that makes the `child` test act; its value is the role.
pub const ROLE: &str = "KMSBRIDGE_STORE_TEST_ROLE";
pub const DIR: &str = "KMSBRIDGE_STORE_TEST_DIR";
pub const TAG: &str = "KMSBRIDGE_STORE_TEST_TAG";

pub fn is_secret(ty: u64) -> bool {
    ty == CKA_VALUE
}

/// The value of the key labelled `label`: anyone can recompute it to check a load.
pub fn value_of(label: &str) -> Vec<u8> {
    Sha256::digest(label.as_bytes()).to_vec()
}

pub fn key(label: &str, private: bool) -> ObjectRecord {
    ObjectRecord {
        class: CKO_SECRET_KEY,
        private,
        attrs: vec![
            (CKA_LABEL, Zeroizing::new(label.as_bytes().to_vec())),
            (CKA_KEY_TYPE, Zeroizing::new(CKK_AES.to_ne_bytes().to_vec())),
            (CKA_VALUE, Zeroizing::new(value_of(label))),
        ],
        ..Default::default()
    }
}

/// Load `id` and check its value against its label; returns the label.
pub fn check(store: &SqliteStore, dek: &Dek, id: u64) -> String {
    let r = store
        .load(Some(dek), id)
        .unwrap_or_else(|e| panic!("object {id}: {e}"));
    let label = String::from_utf8(r.get(CKA_LABEL).expect("label").to_vec()).expect("utf8");
    assert_eq!(
        r.get(CKA_VALUE).expect("value"),
        &value_of(&label)[..],
        "object {id}"
    );
    label
}

/// A new initialised store with a user PIN.
pub fn init(dir: &Path) -> (SqliteStore, Dek) {
    let store = SqliteStore::open(dir).expect("open");
    store.init_token(SO_PIN, "multi").expect("init_token");
    let so = store.login(CKU_SO, SO_PIN).expect("SO login");
    store.init_user_pin(&so, USER_PIN).expect("init_user_pin");
    let dek = store.login(CKU_USER, USER_PIN).expect("user login");
    (store, dek)
}

/// Start this test binary as a child in `role`; its stdout lines arrive on the channel.
pub fn spawn(role: &str, dir: &Path, tag: &str) -> (Child, mpsc::Receiver<String>) {
    spawn_in("child", role, dir, tag)
}

/// Start this test binary on its test `test` in `role`.
pub fn spawn_in(test: &str, role: &str, dir: &Path, tag: &str) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().expect("current_exe"))
        .args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env(DIR, dir)
        .env(TAG, tag)
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

/// What follows `marker` in a line of a child's output. The marker may come after
/// the test harness's own text ("test child ... READY").
pub fn field<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| line[i + marker.len()..].trim())
}

/// Wait for a line holding `marker`, and return what follows it; panics after `timeout`.
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
            Err(e) => panic!("waiting for {marker:?}: {e}"),
        }
    }
}

/// The next line of a child's output; panics after `timeout`.
pub fn next_line(rx: &mpsc::Receiver<String>, timeout: Duration) -> String {
    rx.recv_timeout(timeout)
        .unwrap_or_else(|e| panic!("waiting for the child: {e}"))
}

/// Wait for the file `path` to exist.
pub fn wait_file(path: &Path, timeout: Duration) {
    let end = Instant::now() + timeout;
    while !path.exists() {
        assert!(
            Instant::now() < end,
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
