//! A software instance's store, looked at from outside the module.

use kmsbridge_testkit::module::exported;
use std::path::{Path, PathBuf};

/// The store directory of the rig's software instance (`store = "..."` in its config).
pub fn store_dir() -> PathBuf {
    let conf = exported("KMSBRIDGE_CONF");
    let text = std::fs::read_to_string(&conf).expect("read KMSBRIDGE_CONF");
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("store = "))
        .unwrap_or_else(|| panic!("{conf} names no store"));
    PathBuf::from(line.trim_matches('"'))
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
