//! A software instance's store, looked at from outside the module.

use kmsbridge_store::{Location, PgSettings};
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

/// Fill the software store in `store_dir` with AES-256 token keys `{prefix}{i}` (label)
/// and `{prefix}id-{i}` (CKA_ID), `i` in `range`, as `gen_token_aes` makes them, through
/// the backend's bulk path (one commit per 10,000): thousands of keys in a second
/// rather than one `C_GenerateKey` (one fsync) each. Logs in with the rig's user PIN.
pub fn bulk_keys(store_dir: &Path, prefix: &str, range: std::ops::Range<usize>) {
    bulk_keys_at(&Location::Dir(store_dir.to_path_buf()), prefix, range);
}

/// [`bulk_keys`] into the store at `location` (a directory or a PostgreSQL database).
pub fn bulk_keys_at(location: &Location, prefix: &str, range: std::ops::Range<usize>) {
    use kmsbridge_bridge::sys::*;
    use kmsbridge_bridge::{Attr, MechParam, Mechanism, TokenAdmin};
    let b = kmsbridge_soft::SoftBackend::at(location.clone(), 10_000);
    b.login(CKU_USER, exported("KMSBRIDGE_USER_PIN").as_bytes()).expect("login for the bulk path");
    let mech = Mechanism { ty: CKM_AES_KEY_GEN, param: MechParam::None };
    let ids: Vec<usize> = range.collect();
    for chunk in ids.chunks(10_000) {
        let objs: Vec<_> = chunk
            .iter()
            .map(|i| {
                kmsbridge_soft::engine::generate_key(
                    &mech,
                    &[
                        Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
                        Attr::ulong(CKA_KEY_TYPE, CKK_AES),
                        Attr::ulong(CKA_VALUE_LEN, 32),
                        Attr::bool(CKA_TOKEN, true),
                        Attr::bool(CKA_PRIVATE, true),
                        Attr::bool(CKA_SENSITIVE, true),
                        Attr::bool(CKA_EXTRACTABLE, false),
                        Attr::bool(CKA_ENCRYPT, true),
                        Attr::bool(CKA_DECRYPT, true),
                        Attr::new(CKA_LABEL, format!("{prefix}{i}").into_bytes()),
                        Attr::new(CKA_ID, format!("{prefix}id-{i}").into_bytes()),
                    ],
                )
                .expect("generate a key")
            })
            .collect();
        b.insert_token_objects(&objs).expect("bulk insert");
    }
}

/// Where the rig's software instance keeps its store: the `[instance.postgres]` table
/// that `ci/softhsm/setup --postgres` writes (127.0.0.1, database `kb`), else the
/// `store = "..."` directory.
pub fn store_location() -> Location {
    let conf = exported("KMSBRIDGE_CONF");
    let text = std::fs::read_to_string(&conf).expect("read KMSBRIDGE_CONF");
    let Some((_, pg)) = text.split_once("[instance.postgres]") else {
        return Location::Dir(store_dir());
    };
    let value = |key: &str| -> String {
        pg.lines()
            .find_map(|l| l.trim().strip_prefix(key)?.trim_start().strip_prefix('='))
            .unwrap_or_else(|| panic!("{conf}: [instance.postgres] has no {key}"))
            .trim()
            .trim_matches('"')
            .to_string()
    };
    let mut s = PgSettings::new(
        &value("host"),
        &value("dbname"),
        &value("user"),
        Path::new(&value("password_file")),
    );
    s.port = value("port").parse().expect("[instance.postgres] port");
    Location::Postgres(s)
}

/// The store's own verdict that what a killed process left is sound: SQLite's
/// [`integrity_check`] of the file, or on PostgreSQL the store's check (schema version,
/// token and meta rows; the server checks its own pages).
pub fn store_check(location: &Location) {
    match location {
        Location::Dir(dir) => integrity_check(dir),
        Location::Postgres(s) => kmsbridge_store::PostgresStore::open_postgres(s)
            .and_then(|store| store.integrity_check())
            .unwrap_or_else(|e| panic!("PostgreSQL store check: {e}")),
    }
}
