//! The schema migration from version 1 (needs the crate's own `migrate_to`; the rest
//! of the PostgreSQL store's tests are in tests/store_postgres.rs).

use cryptoki_sys::*;
use std::os::unix::fs::PermissionsExt;

use super::*;
use kmsbridge_testkit::postgres::Postgres;

/// A store left at schema 1 with a (public) object in it opens at the current schema: the
/// old object unindexed, so a candidate of every find of its class (until a login
/// reindexes it), and the change log starting at the migration.
#[test]
fn a_version_1_store_is_migrated() {
    let pg = Postgres::start();
    let mut admin = Client::connect(&pg.admin_conn(), NoTls).unwrap();
    admin.batch_execute("CREATE DATABASE kb").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, &pg.password).unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut settings = PgSettings::new("127.0.0.1", "kb", &pg.superuser, &pw);
    settings.port = pg.port;

    let rows = PostgresRows {
        settings: settings.clone(),
        idle: Mutex::new(Vec::new()),
    };
    let mut c = rows.connect().unwrap();
    schema::migrate_to(&mut c, 1).unwrap();
    assert_eq!(schema::current(&mut c).unwrap(), 1);
    rows.idle.lock().push(c);
    let old = Store::new(rows);
    // A schema-1 row, written as schema 1 had it (no terms).
    let row = {
        let mut c = old.rows().checkout().unwrap();
        let uid = vec![1u8; 16];
        let id: i64 = c
            .client
            .query_one(
                "INSERT INTO kb_object (uid, class, private, clear, sealed_types, sealed)
                 VALUES ($1, $2, false, '', '', NULL) RETURNING id",
                &[&uid, &(CKO_SECRET_KEY as i64)],
            )
            .unwrap()
            .get(0);
        // Commits made at schema 1.
        c.client
            .execute("UPDATE kb_meta SET version = 5", &[])
            .unwrap();
        id as ObjectId
    };

    let new = PostgresStore::open_postgres(&settings).unwrap();
    let mut c = new.rows().checkout().unwrap();
    assert_eq!(schema::current(&mut c.client).unwrap(), PG_SCHEMA_VERSION);
    assert_eq!(new.rows().unindexed(10).unwrap(), [row]);
    // Unindexed: a candidate of any find of its class.
    assert_eq!(
        new.find(None, Some(CKO_SECRET_KEY), &[(CKA_LABEL, b"anything")])
            .unwrap(),
        [row]
    );
    // The log starts at the migration: an older cache reloads.
    assert_eq!(new.version().unwrap(), 5);
    assert!(matches!(
        new.changes_since(4).unwrap(),
        crate::Changes::Reload { .. }
    ));
}
