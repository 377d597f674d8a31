//! The PostgreSQL store against a real server (testkit's throw-away PostgreSQL):
//! writers of separate connection pools (stand-ins for processes) run one at a time,
//! the wrong-PIN bound under concurrent guessing, objects and their ids, versioned
//! migrations, the password file's checks, and the codes during a server outage.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use kmsbridge_bridge::sys::*;
use kmsbridge_store::{
    retry_may_help, ObjectRecord, PgSettings, PostgresRows, PostgresStore, Rows, PG_SCHEMA_VERSION,
};
use kmsbridge_testkit::postgres::Postgres;
use zeroize::Zeroizing;

const SO_PIN: &[u8] = b"so-secret-1234";
const USER_PIN: &[u8] = b"user-secret-5678";

/// A server, a fresh database `kb` and settings to reach it as the superuser.
struct Db {
    pg: Postgres,
    dir: PathBuf,
    settings: PgSettings,
}

fn db() -> Db {
    let pg = Postgres::start();
    let mut admin = postgres::Client::connect(&pg.admin_conn(), postgres::NoTls).unwrap();
    admin.batch_execute("CREATE DATABASE kb").unwrap();
    let dir = kmsbridge_testkit::scratch::temp_dir("kb-pgstore-");
    let pw = dir.join("pg-password");
    std::fs::write(&pw, format!("{}\n", pg.password)).unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut settings = PgSettings::new("127.0.0.1", "kb", &pg.superuser, &pw);
    settings.port = pg.port;
    Db { pg, dir, settings }
}

impl Db {
    fn sql(&self) -> postgres::Client {
        let conn = format!(
            "host=127.0.0.1 port={} user={} password={} dbname=kb",
            self.pg.port, self.pg.superuser, self.pg.password
        );
        postgres::Client::connect(&conn, postgres::NoTls).unwrap()
    }

    fn open(&self) -> PostgresStore {
        PostgresStore::open_postgres(&self.settings).unwrap()
    }

    /// A store with an initialised token and user PIN.
    fn ready(&self) -> PostgresStore {
        let s = self.open();
        s.init_token(SO_PIN, "pg token").unwrap();
        let so = s.login(CKU_SO, SO_PIN).unwrap();
        s.init_user_pin(&so, USER_PIN).unwrap();
        s
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn key(label: &str) -> ObjectRecord {
    ObjectRecord {
        class: CKO_SECRET_KEY,
        private: true,
        attrs: vec![
            (CKA_LABEL, Zeroizing::new(label.as_bytes().to_vec())),
            (CKA_VALUE, Zeroizing::new(vec![7u8; 32])),
        ],
        ..Default::default()
    }
}

fn is_secret(ty: u64) -> bool {
    ty == CKA_VALUE
}

/// Write transactions of two separate pools never overlap: the wrong-PIN bound rests
/// on it (Rows::write). Each write holds the transaction open a while; an overlap is
/// seen by the flag.
#[test]
fn writers_of_separate_pools_run_one_at_a_time() {
    let db = db();
    let a = Arc::new(PostgresRows::open(&db.settings).unwrap());
    let b = Arc::new(PostgresRows::open(&db.settings).unwrap());
    let inside = Arc::new(AtomicBool::new(false));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let v0 = a.version().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let rows = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (inside, overlaps) = (inside.clone(), overlaps.clone());
            std::thread::spawn(move || {
                for _ in 0..5 {
                    rows.write("test", &mut |tx| {
                        tx.token()?;
                        if inside.swap(true, Ordering::SeqCst) {
                            overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        std::thread::sleep(Duration::from_millis(5));
                        inside.store(false, Ordering::SeqCst);
                        tx.count_failure(CKU_USER)
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "two writes overlapped");
    assert_eq!(a.token().unwrap().info.user_failures, 40);
    assert_eq!(
        b.version().unwrap(),
        v0 + 40,
        "every commit moves the version"
    );
}

/// Many concurrent wrong guesses from two pools: exactly `max_failures` are checked
/// (CKR_PIN_INCORRECT), every other one is refused unchecked (CKR_PIN_LOCKED).
#[test]
fn wrong_pin_bound_holds_under_concurrent_guessing() {
    let db = db();
    let a = Arc::new(db.ready());
    let b = Arc::new(db.open());
    let max = a.token().unwrap().max_failures as usize;
    let n = max + 6;
    let go = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let go = go.clone();
            std::thread::spawn(move || {
                go.wait();
                s.login(CKU_USER, b"wrong-pin-0000").unwrap_err().ck_rv()
            })
        })
        .collect();
    let codes: Vec<CK_RV> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let incorrect = codes.iter().filter(|&&c| c == CKR_PIN_INCORRECT).count();
    let locked = codes.iter().filter(|&&c| c == CKR_PIN_LOCKED).count();
    assert_eq!((incorrect, locked), (max, n - max), "codes: {codes:?}");
    assert!(a.token().unwrap().locked(CKU_USER));
    assert_eq!(
        b.login(CKU_USER, USER_PIN).unwrap_err().ck_rv(),
        CKR_PIN_LOCKED
    );
}

/// Objects: sealed on the way in, read back by another pool, ids never reused after a
/// delete, and every commit seen by the other pool's version.
#[test]
fn objects_are_shared_and_ids_never_reused() {
    let db = db();
    let a = db.ready();
    let b = db.open();
    let dek_a = a.login(CKU_USER, USER_PIN).unwrap();
    let dek_b = b.login(CKU_USER, USER_PIN).unwrap();
    let v = b.version().unwrap();
    let id1 = a.insert(Some(&dek_a), &key("k1"), is_secret).unwrap();
    assert!(b.version().unwrap() > v);
    let rec = b.load(Some(&dek_b), id1).unwrap();
    assert_eq!(rec.get(CKA_LABEL), Some(&b"k1"[..]));
    assert_eq!(rec.get(CKA_VALUE), Some(&[7u8; 32][..]));
    assert_eq!(
        b.load(None, id1).unwrap_err().ck_rv(),
        CKR_USER_NOT_LOGGED_IN
    );
    // The key value is not in the table in clear.
    let raw: Vec<u8> = db
        .sql()
        .query_one(
            "SELECT sealed FROM kb_object WHERE id = $1",
            &[&(id1 as i64)],
        )
        .unwrap()
        .get(0);
    assert!(!raw.windows(32).any(|w| w == [7u8; 32]));
    b.delete(id1).unwrap();
    let id2 = a.insert(Some(&dek_a), &key("k2"), is_secret).unwrap();
    assert!(id2 > id1, "id {id1} handed out again");
    assert_eq!(
        a.list().unwrap().iter().map(|r| r.0).collect::<Vec<_>>(),
        [id2]
    );
    a.integrity_check().unwrap();
}

/// A fresh database gets the current schema, once, however many processes open it at
/// once; a schema newer than this code knows is refused, naming its version.
#[test]
fn migrations_run_once_and_a_newer_schema_is_refused() {
    let db = db();
    let go = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (settings, go) = (db.settings.clone(), go.clone());
            std::thread::spawn(move || {
                go.wait();
                PostgresStore::open_postgres(&settings).map(|_| ())
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let mut sql = db.sql();
    let v: i32 = sql
        .query_one("SELECT version FROM kb_schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, PG_SCHEMA_VERSION);
    let tokens: i64 = sql
        .query_one("SELECT count(*) FROM kb_token", &[])
        .unwrap()
        .get(0);
    assert_eq!(tokens, 1);
    // A store is kept across opens.
    let serial = db.ready().token().unwrap().serial;
    assert_eq!(db.open().token().unwrap().serial, serial);
    sql.execute(
        "UPDATE kb_schema_version SET version = $1",
        &[&(PG_SCHEMA_VERSION + 1)],
    )
    .unwrap();
    let e = PostgresStore::open_postgres(&db.settings).unwrap_err();
    assert_eq!(e.ck_rv(), CKR_TOKEN_NOT_RECOGNIZED);
}

/// The password file: missing, open to others or empty is refused with the file
/// named and the fix; the store does not open.
#[test]
fn password_file_is_checked() {
    let db = db();
    let pw = db.settings.password_file.clone();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let why = kmsbridge_store::read_password_file(&pw).unwrap_err();
    assert!(
        why.contains(&pw.display().to_string()) && why.contains("chmod 600"),
        "{why}"
    );
    assert_eq!(
        PostgresStore::open_postgres(&db.settings)
            .unwrap_err()
            .ck_rv(),
        CKR_DEVICE_ERROR
    );
    let missing = db.dir.join("nope");
    let why = kmsbridge_store::read_password_file(&missing).unwrap_err();
    assert!(
        why.contains(&missing.display().to_string()) && why.contains("0600"),
        "{why}"
    );
    std::fs::write(&pw, "\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(kmsbridge_store::read_password_file(&pw)
        .unwrap_err()
        .contains("empty"));
}

/// While the server is down every call answers CKR_FUNCTION_FAILED (a retry may help);
/// once it is back the same store serves again, with everything committed before.
#[test]
fn outage_answers_function_failed_then_recovers() {
    let mut db = db();
    let s = db.ready();
    let dek = s.login(CKU_USER, USER_PIN).unwrap();
    let ids: Vec<_> = (0..5)
        .map(|i| {
            s.insert(Some(&dek), &key(&format!("k{i}")), is_secret)
                .unwrap()
        })
        .collect();
    db.pg.stop();
    for e in [
        s.token().map(|_| ()).unwrap_err(),
        s.list().map(|_| ()).unwrap_err(),
        s.version().map(|_| ()).unwrap_err(),
        s.insert(Some(&dek), &key("lost"), is_secret)
            .map(|_| ())
            .unwrap_err(),
        s.login(CKU_USER, USER_PIN).map(|_| ()).unwrap_err(),
    ] {
        assert_eq!(e.ck_rv(), CKR_FUNCTION_FAILED, "{e}");
        assert!(retry_may_help(&e));
    }
    db.pg.restart();
    // Pooled connections are stale now: the first call replaces them.
    let listed: Vec<_> = s.list().unwrap().iter().map(|r| r.0).collect();
    assert_eq!(listed, ids);
    for id in ids {
        assert_eq!(
            s.load(Some(&dek), id).unwrap().get(CKA_VALUE),
            Some(&[7u8; 32][..])
        );
    }
    s.insert(Some(&dek), &key("after"), is_secret).unwrap();
    s.login(CKU_USER, USER_PIN).unwrap();
}

fn labelled(label: &str, id: &[u8], private: bool) -> ObjectRecord {
    ObjectRecord {
        class: CKO_SECRET_KEY,
        private,
        attrs: vec![
            (CKA_LABEL, Zeroizing::new(label.as_bytes().to_vec())),
            (CKA_ID, Zeroizing::new(id.to_vec())),
            (CKA_VALUE, Zeroizing::new(vec![9u8; 32])),
        ],
        ..Default::default()
    }
}

/// Finds go through the index: by label and by id they answer exactly the matching
/// objects among many (public and private; private ones only with the DEK), and
/// private labels are not stored in clear in the index.
#[test]
fn finds_by_label_and_id_use_the_index() {
    let db = db();
    let s = db.ready();
    let dek = s.login(CKU_USER, USER_PIN).unwrap();
    let recs: Vec<ObjectRecord> = (0..200)
        .map(|i| {
            labelled(
                &format!("key-{i}"),
                format!("id-{i}").as_bytes(),
                i % 2 == 0,
            )
        })
        .collect();
    let ids = s.insert_many(Some(&dek), &recs, is_secret).unwrap();
    let found = s
        .find(Some(&dek), Some(CKO_SECRET_KEY), &[(CKA_LABEL, b"key-42")])
        .unwrap();
    assert_eq!(found, [ids[42]]);
    let found = s
        .find(
            Some(&dek),
            None,
            &[(CKA_ID, b"id-7"), (CKA_LABEL, b"key-7")],
        )
        .unwrap();
    assert_eq!(found, [ids[7]]);
    assert!(s
        .find(
            Some(&dek),
            None,
            &[(CKA_LABEL, b"key-7"), (CKA_ID, b"id-8")]
        )
        .unwrap()
        .is_empty());
    // Without the DEK a private object is never a candidate; a public one is.
    assert!(s
        .find(None, None, &[(CKA_LABEL, b"key-42")])
        .unwrap()
        .is_empty());
    assert_eq!(
        s.find(None, None, &[(CKA_LABEL, b"key-43")]).unwrap(),
        [ids[43]]
    );
    let mut sql = db.sql();
    let clear: i64 = sql
        .query_one(
            "SELECT count(*) FROM kb_object_term WHERE term = $1",
            &[&b"key-42".as_slice()],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        clear, 0,
        "a private object's label is in the index in clear"
    );
    let unindexed: i64 = sql
        .query_one("SELECT count(*) FROM kb_object WHERE NOT indexed", &[])
        .unwrap()
        .get(0);
    assert_eq!(unindexed, 0);
}

/// Another pool's commits are named by the change log: the ids inserted, replaced and
/// deleted since a version, and a reload after C_InitToken or from a foreign version.
#[test]
fn changes_since_names_what_another_pool_committed() {
    use kmsbridge_store::Changes;
    let db = db();
    let a = db.ready();
    let b = db.open();
    let dek = a.login(CKU_USER, USER_PIN).unwrap();
    let keep = a.insert(Some(&dek), &key("keep"), is_secret).unwrap();
    let gone = a.insert(Some(&dek), &key("gone"), is_secret).unwrap();
    let v = b.version().unwrap();
    assert_eq!(
        b.changes_since(v).unwrap(),
        Changes::Objects {
            version: v,
            ids: vec![]
        }
    );
    let new = a.insert(Some(&dek), &key("new"), is_secret).unwrap();
    a.delete(gone).unwrap();
    let mut rec = a.load(Some(&dek), keep).unwrap();
    rec.attrs[0].1 = Zeroizing::new(b"kept".to_vec());
    a.update(Some(&dek), &rec, is_secret).unwrap();
    let now = b.version().unwrap();
    let mut expect = vec![keep, gone, new];
    expect.sort_unstable();
    assert_eq!(
        b.changes_since(v).unwrap(),
        Changes::Objects {
            version: now,
            ids: expect
        }
    );
    assert_eq!(
        b.changes_since(now + 5).unwrap(),
        Changes::Reload { version: now }
    );
    a.init_token(SO_PIN, "again").unwrap();
    assert!(matches!(
        b.changes_since(now).unwrap(),
        Changes::Reload { .. }
    ));
}

/// The bulk path (`Store::insert_many`: ids reserved, then multi-row statements in
/// chunks): 12,000 keys in one commit across several chunks, each sealed under its own
/// id (it loads), indexed (found by label and by CKA_ID), named by the change log, the
/// ids never handed out again, and the planner's statistics refreshed after it.
#[test]
fn bulk_insert_seals_indexes_and_logs_every_row() {
    let db = db();
    let s = db.ready();
    let other = db.open();
    let dek = s.login(CKU_USER, USER_PIN).unwrap();
    let n = 12_000;
    let recs: Vec<ObjectRecord> = (0..n)
        .map(|i| {
            labelled(
                &format!("key-{i}"),
                format!("id-{i}").as_bytes(),
                i % 3 != 0,
            )
        })
        .collect();
    let v = other.version().unwrap();
    let ids = s.insert_many(Some(&dek), &recs, is_secret).unwrap();
    assert_eq!(ids.len(), n);
    assert_eq!(other.version().unwrap(), v + 1, "one commit for the lot");
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), n, "an id handed out twice");
    match other.changes_since(v).unwrap() {
        kmsbridge_store::Changes::Objects { ids: logged, .. } => assert_eq!(logged, sorted),
        c => panic!("expected the change log, got {c:?}"),
    }
    for i in [0, 1, 4_999, 5_000, 9_999, 10_000, n - 1] {
        let found = s
            .find(
                Some(&dek),
                Some(CKO_SECRET_KEY),
                &[(CKA_LABEL, format!("key-{i}").as_bytes())],
            )
            .unwrap();
        assert_eq!(found, [ids[i]], "key-{i} by label");
        let found = s
            .find(Some(&dek), None, &[(CKA_ID, format!("id-{i}").as_bytes())])
            .unwrap();
        assert_eq!(found, [ids[i]], "id-{i} by CKA_ID");
        let rec = other.load(Some(&dek), ids[i]).unwrap();
        assert_eq!(rec.get(CKA_LABEL), Some(format!("key-{i}").as_bytes()));
        assert_eq!(rec.get(CKA_VALUE), Some(&[9u8; 32][..]));
    }
    let mut sql = db.sql();
    let unindexed: i64 = sql
        .query_one("SELECT count(*) FROM kb_object WHERE NOT indexed", &[])
        .unwrap()
        .get(0);
    assert_eq!(unindexed, 0);
    // reltuples is -1 until the table is first analyzed (autovacuum's round is minutes).
    let tuples: f32 = sql
        .query_one(
            "SELECT reltuples FROM pg_class WHERE relname = 'kb_object_term'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        tuples > 0.0,
        "no statistics after the bulk load (reltuples {tuples})"
    );
    let next = s.insert(Some(&dek), &key("after"), is_secret).unwrap();
    assert!(next > sorted[n - 1], "id {next} not above the bulk's");
}
