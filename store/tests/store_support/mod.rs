//! Shared by the store's multi-process tests (`store_crash`, `store_multiprocess`):
//! the store every process opens and the keys they write. The processes themselves
//! are `kmsbridge_testkit::harness` children.

use std::path::Path;
use std::process::Child;
use std::sync::mpsc;

use kmsbridge_bridge::sys::*;
use kmsbridge_store::{Dek, ObjectRecord, SqliteStore};
use kmsbridge_testkit::harness;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const SO_PIN: &[u8] = b"so-pin-0000";
pub const USER_PIN: &[u8] = b"user-pin-1111";
/// The child's store directory.
pub const DIR: &str = "KMSBRIDGE_STORE_TEST_DIR";
/// The child's tag, prefixed to the labels of the keys it writes.
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

/// Starts this test binary on its test `test` in `role`, on the store in `dir`, with
/// `tag`; its stdout lines arrive on the channel.
pub fn spawn(test: &str, role: &str, dir: &Path, tag: &str) -> (Child, mpsc::Receiver<String>) {
    let dir = dir.to_str().expect("UTF-8 store path");
    harness::spawn(test, role, &[(DIR, dir), (TAG, tag)])
}
