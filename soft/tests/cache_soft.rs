//! The software backend's object cache over a real store: bounded (least recently
//! used out, evicted keys load again with the same material), and kept current by
//! the store's change log, reloading when the log does not reach back far enough.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kmsbridge_bridge::sys::*;
use kmsbridge_bridge::{Attr, Backend, MechParam, Mechanism, TokenAdmin};
use kmsbridge_soft::SoftBackend;
use kmsbridge_testkit::scratch::temp_dir;
use std::path::{Path, PathBuf};

fn store() -> PathBuf {
    let dir = temp_dir("kmsbridge-cache-soft-").join("store");
    let b = SoftBackend::new(dir.clone());
    b.init_token(b"so-pin-0000", "cache").unwrap();
    b.login(CKU_SO, b"so-pin-0000").unwrap();
    b.init_pin(b"user-pin-1111").unwrap();
    dir
}

fn user(dir: &Path, cap: usize) -> SoftBackend {
    let b = SoftBackend::with_cache(dir.to_path_buf(), cap);
    b.login(CKU_USER, b"user-pin-1111").unwrap();
    b
}

fn gen(b: &SoftBackend, label: &str) -> u64 {
    let m = Mechanism {
        ty: CKM_AES_KEY_GEN,
        param: MechParam::None,
    };
    b.generate_key(
        &m,
        &[
            Attr::ulong(CKA_VALUE_LEN, 32),
            Attr::bool(CKA_TOKEN, true),
            Attr::bool(CKA_PRIVATE, true),
            Attr::bool(CKA_ENCRYPT, true),
            Attr::new(CKA_LABEL, label.as_bytes().to_vec()),
        ],
    )
    .unwrap()
}

fn by_label(b: &SoftBackend, label: &str) -> Vec<u64> {
    b.find(&[Attr::new(CKA_LABEL, label.as_bytes().to_vec())])
        .unwrap()
}

#[test]
fn the_cache_keeps_at_most_its_cap_and_evicted_keys_load_again() {
    let dir = store();
    let b = user(&dir, 3);
    let ids: Vec<u64> = (0..12).map(|i| gen(&b, &format!("k{i}"))).collect();
    let checks: Vec<[u8; 32]> = ids
        .iter()
        .map(|id| b.material_check(*id, &[7u8; 16]).unwrap())
        .collect();
    assert!(b.cached_objects() <= 3, "{} cached", b.cached_objects());
    // A fresh process (backend) that touches every key keeps at most 3 as well.
    let c = user(&dir, 3);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(by_label(&c, &format!("k{i}")), vec![*id]);
        assert_eq!(
            c.material_check(*id, &[7u8; 16]).unwrap(),
            checks[i],
            "k{i}"
        );
        assert!(c.cached_objects() <= 3);
    }
    // The first ones were evicted long ago: they load again, same material.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            c.material_check(*id, &[7u8; 16]).unwrap(),
            checks[i],
            "k{i} again"
        );
    }
    assert_eq!(c.cached_objects(), 3);
}

#[test]
fn a_cache_older_than_the_change_log_reloads() {
    let dir = store();
    let a = user(&dir, 100);
    let k = gen(&a, "before");
    assert_eq!(by_label(&a, "before"), vec![k]);
    let b = user(&dir, 100);
    b.set_attributes(k, &[Attr::new(CKA_LABEL, b"after".to_vec())])
        .unwrap();
    // As if the log had been cut back past what `a` last saw (LOG_VERSIONS commits).
    let db = rusqlite::Connection::open(dir.join("store.sqlite")).unwrap();
    db.execute("DELETE FROM change_log", []).unwrap();
    db.execute("UPDATE meta SET log_floor = version", [])
        .unwrap();
    assert_eq!(by_label(&a, "after"), vec![k], "a stale cache answered");
    assert!(by_label(&a, "before").is_empty());
}
