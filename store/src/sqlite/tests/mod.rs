//! Unit tests of the SQLite store as a whole, by subject: files and sharing (here),
//! PIN slots and counters and re-initialisation (`pins`), objects and sealing bound to
//! identity (`objects`), and a scan of the files for secrets (`at_rest`).

mod at_rest;
mod index;
mod objects;
mod pins;

use std::path::Path;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::*;
use crate::{Dek, ObjectRecord};
use kmsbridge_bridge::ObjectId;

const SO_PIN: &[u8] = b"so-secret-1234";
const USER_PIN: &[u8] = b"user-secret-5678";

fn rv<T: std::fmt::Debug>(r: Result<T>) -> CK_RV {
    r.expect_err("expected an error").ck_rv()
}

/// A store with an initialised token and user PIN; returns (dir, store, user DEK).
fn ready() -> (tempfile::TempDir, SqliteStore, Dek) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("s")).unwrap();
    store.init_token(SO_PIN, "test token").unwrap();
    let so = store.login(CKU_SO, SO_PIN).unwrap();
    store.init_user_pin(&so, USER_PIN).unwrap();
    let dek = store.login(CKU_USER, USER_PIN).unwrap();
    (dir, store, dek)
}

fn raw(store: &SqliteStore) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(store.dir().join(DB_FILE)).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    c
}

fn secret_key(label: &str, value: &[u8], private: bool) -> ObjectRecord {
    ObjectRecord {
        class: CKO_SECRET_KEY,
        private,
        attrs: vec![
            (CKA_LABEL, Zeroizing::new(label.as_bytes().to_vec())),
            (CKA_ID, Zeroizing::new(b"id-1".to_vec())),
            (CKA_VALUE, Zeroizing::new(value.to_vec())),
        ],
        ..Default::default()
    }
}

fn is_secret(ty: u64) -> bool {
    ty == CKA_VALUE || ty == CKA_PRIVATE_EXPONENT || ty == CKA_PRIME_1
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    getrandom::fill(&mut v).unwrap();
    v
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn open_makes_private_files_and_a_versioned_schema() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b");
    let store = SqliteStore::open(&path).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o700);
    assert_eq!(mode(&path.join(DB_FILE)), 0o600);
    store.version().unwrap();
    for f in std::fs::read_dir(&path).unwrap() {
        let f = f.unwrap().path();
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    let t = store.token().unwrap();
    assert!(!t.initialized);
    assert_eq!(t.serial.len(), 16);
    assert_eq!(t.max_failures, DEFAULT_MAX_FAILURES);
    let v: i64 = raw(&store)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let jm: String = raw(&store)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(jm, "wal");
    // A second open of the same store (another process would do the same) sees it.
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(again.token().unwrap().serial, t.serial);
    // A store from a newer kmsbridge is refused.
    raw(&store)
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop((store, again));
    assert_eq!(rv(SqliteStore::open(&path)), CKR_TOKEN_NOT_RECOGNIZED);
}

#[test]
fn version_moves_with_every_commit_of_anyone() {
    let (dir, store, dek) = ready();
    let other = SqliteStore::open(&dir.path().join("s")).unwrap();
    let v0 = store.version().unwrap();
    assert_eq!(other.version().unwrap(), v0);
    let id = other
        .insert(Some(&dek), &secret_key("k", b"v", true), is_secret)
        .unwrap();
    let v1 = store.version().unwrap();
    assert!(v1 > v0);
    other.delete(id).unwrap();
    assert!(store.version().unwrap() > v1);
    // Reads do not move it.
    let v2 = store.version().unwrap();
    store.list().unwrap();
    store.token().unwrap();
    assert_eq!(store.version().unwrap(), v2);
    assert_eq!(rv(store.load(Some(&dek), id)), CKR_OBJECT_HANDLE_INVALID);
}

#[test]
fn threads_share_one_store() {
    let (_dir, store, dek) = ready();
    let store = std::sync::Arc::new(store);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (store, dek) = (store.clone(), dek.clone());
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for i in 0..25 {
                    let label = format!("t{t}-{i}");
                    let id = store
                        .insert(
                            Some(&dek),
                            &secret_key(&label, label.as_bytes(), i % 2 == 0),
                            is_secret,
                        )
                        .unwrap();
                    ids.push((id, label));
                    for _ in 0..4 {
                        store.list().unwrap();
                        store.version().unwrap();
                    }
                }
                for (id, label) in ids {
                    let r = store.load(Some(&dek), id).unwrap();
                    assert_eq!(r.get(CKA_VALUE).unwrap(), label.as_bytes());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(store.list().unwrap().len(), 100);
    store.integrity_check().unwrap();
}
