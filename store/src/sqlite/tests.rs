//! Unit tests of the store as a whole: PIN slots and counters, objects, sealing
//! bound to identity, re-initialisation, and a scan of the files for secrets.

use std::path::Path;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::*;

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
fn uninitialised_token_and_pin_slots() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        rv(store.login(CKU_USER, USER_PIN)),
        CKR_USER_PIN_NOT_INITIALIZED
    );
    assert_eq!(rv(store.login(CKU_SO, SO_PIN)), CKR_TOKEN_NOT_RECOGNIZED);
    assert_eq!(
        rv(store.login(CKU_CONTEXT_SPECIFIC, USER_PIN)),
        CKR_USER_TYPE_INVALID
    );
    assert_eq!(rv(store.init_token(b"abc", "x")), CKR_PIN_LEN_RANGE);

    store.init_token(SO_PIN, "my token").unwrap();
    let t = store.token().unwrap();
    assert!(t.initialized && !t.user_pin_initialized);
    assert_eq!(t.label, "my token");
    assert_eq!(t.flags() & CKF_TOKEN_INITIALIZED, CKF_TOKEN_INITIALIZED);
    assert_eq!(
        rv(store.login(CKU_USER, USER_PIN)),
        CKR_USER_PIN_NOT_INITIALIZED
    );

    let so = store.login(CKU_SO, SO_PIN).unwrap();
    assert_eq!(so.role(), CKU_SO);
    assert_eq!(rv(store.init_user_pin(&so, b"12")), CKR_PIN_LEN_RANGE);
    store.init_user_pin(&so, USER_PIN).unwrap();
    assert!(store.token().unwrap().user_pin_initialized);
    let user = store.login(CKU_USER, USER_PIN).unwrap();
    assert_eq!(user.role(), CKU_USER);
    // Each PIN unlocks the same DEK through its own slot.
    assert_eq!(*user.key, *so.key);
    // A user DEK cannot set the user PIN (C_InitPIN is the SO's).
    assert_eq!(
        rv(store.init_user_pin(&user, b"other-pin")),
        CKR_USER_NOT_LOGGED_IN
    );
    // The slots hold neither PIN nor DEK in clear, and differ from each other.
    let slots: Vec<Vec<u8>> = raw(&store)
        .prepare("SELECT wrapped FROM pin_slot ORDER BY user")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(slots.len(), 2);
    assert_ne!(slots[0], slots[1]);
    for s in &slots {
        assert!(!contains(s, &user.key[..]));
    }
}

#[test]
fn wrong_pins_are_counted_shared_and_lock() {
    let (dir, store, _) = ready();
    // A second SqliteStore on the same files stands for another process.
    let other = SqliteStore::open(&dir.path().join("s")).unwrap();
    for i in 1..=3u32 {
        assert_eq!(rv(store.login(CKU_USER, b"wrong-pin")), CKR_PIN_INCORRECT);
        assert_eq!(other.token().unwrap().user_failures, i);
    }
    assert_ne!(other.token().unwrap().flags() & CKF_USER_PIN_COUNT_LOW, 0);
    // A right PIN, in the other process, resets the shared count.
    other.login(CKU_USER, USER_PIN).unwrap();
    assert_eq!(store.token().unwrap().user_failures, 0);
    assert_eq!(store.token().unwrap().flags() & CKF_USER_PIN_COUNT_LOW, 0);

    // Ten wrong PINs, alternating processes, lock it.
    for i in 0..DEFAULT_MAX_FAILURES {
        let s = if i % 2 == 0 { &store } else { &other };
        assert_eq!(rv(s.login(CKU_USER, b"wrong-pin")), CKR_PIN_INCORRECT);
        if i + 2 == DEFAULT_MAX_FAILURES {
            assert_ne!(store.token().unwrap().flags() & CKF_USER_PIN_FINAL_TRY, 0);
        }
    }
    let t = store.token().unwrap();
    assert!(t.locked(CKU_USER));
    assert_ne!(t.flags() & CKF_USER_PIN_LOCKED, 0);
    // Locked: even the right PIN is refused, and so is C_SetPIN.
    assert_eq!(rv(other.login(CKU_USER, USER_PIN)), CKR_PIN_LOCKED);
    assert_eq!(
        rv(store.set_pin(CKU_USER, USER_PIN, b"new-user-pin")),
        CKR_PIN_LOCKED
    );
    assert_eq!(store.token().unwrap().user_failures, DEFAULT_MAX_FAILURES);
    // The SO is not affected and unlocks the user by C_InitPIN.
    let so = store.login(CKU_SO, SO_PIN).unwrap();
    store.init_user_pin(&so, b"fresh-user-pin").unwrap();
    assert_eq!(store.token().unwrap().user_failures, 0);
    other.login(CKU_USER, b"fresh-user-pin").unwrap();
    assert_eq!(rv(other.login(CKU_USER, USER_PIN)), CKR_PIN_INCORRECT);

    // Wrong SO PINs count separately; a locked SO PIN stays locked, also for re-init.
    for _ in 0..DEFAULT_MAX_FAILURES {
        assert_eq!(
            rv(store.init_token(b"wrong-so-pin", "x")),
            CKR_PIN_INCORRECT
        );
    }
    let t = store.token().unwrap();
    assert_eq!(t.so_failures, DEFAULT_MAX_FAILURES);
    assert_ne!(t.flags() & CKF_SO_PIN_LOCKED, 0);
    assert_eq!(rv(store.login(CKU_SO, SO_PIN)), CKR_PIN_LOCKED);
    assert_eq!(rv(store.init_token(SO_PIN, "x")), CKR_PIN_LOCKED);
    // The user still works.
    store.login(CKU_USER, b"fresh-user-pin").unwrap();
}

#[test]
fn set_pin_rewrites_only_its_slot() {
    let (_dir, store, dek) = ready();
    let value = random_bytes(32);
    let id = store
        .insert(Some(&dek), &secret_key("k", &value, true), is_secret)
        .unwrap();
    let snapshot = |store: &SqliteStore| -> Vec<(i64, Vec<u8>, Option<Vec<u8>>)> {
        raw(store)
            .prepare("SELECT id, uid, sealed FROM object ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    let slot = |store: &SqliteStore, user: u64| -> Vec<u8> {
        raw(store)
            .query_row(
                "SELECT wrapped FROM pin_slot WHERE user = ?1",
                [user as i64],
                |r| r.get(0),
            )
            .unwrap()
    };
    let before = snapshot(&store);
    let so_slot = slot(&store, CKU_SO);
    let user_slot = slot(&store, CKU_USER);

    assert_eq!(
        rv(store.set_pin(CKU_USER, b"wrong-pin", b"new-user-pin")),
        CKR_PIN_INCORRECT
    );
    assert_eq!(
        rv(store.set_pin(CKU_USER, USER_PIN, b"1")),
        CKR_PIN_LEN_RANGE
    );
    store.set_pin(CKU_USER, USER_PIN, b"new-user-pin").unwrap();
    assert_eq!(snapshot(&store), before);
    assert_eq!(slot(&store, CKU_SO), so_slot);
    assert_ne!(slot(&store, CKU_USER), user_slot);
    assert_eq!(store.token().unwrap().user_failures, 0);

    store.set_pin(CKU_SO, SO_PIN, b"new-so-pin").unwrap();
    assert_eq!(snapshot(&store), before);
    assert_ne!(slot(&store, CKU_SO), so_slot);

    assert_eq!(rv(store.login(CKU_USER, USER_PIN)), CKR_PIN_INCORRECT);
    assert_eq!(rv(store.login(CKU_SO, SO_PIN)), CKR_PIN_INCORRECT);
    let d2 = store.login(CKU_USER, b"new-user-pin").unwrap();
    let d3 = store.login(CKU_SO, b"new-so-pin").unwrap();
    assert_eq!(
        store.load(Some(&d2), id).unwrap().get(CKA_VALUE).unwrap(),
        &value[..]
    );
    assert_eq!(
        store.load(Some(&d3), id).unwrap().get(CKA_VALUE).unwrap(),
        &value[..]
    );
    // The DEK from before the change still works: a PIN change is not a re-key.
    assert_eq!(
        store.load(Some(&dek), id).unwrap().get(CKA_VALUE).unwrap(),
        &value[..]
    );
}

#[test]
fn reinit_destroys_objects_and_renews_the_dek() {
    let (_dir, store, dek) = ready();
    let mut last = 0;
    for i in 0..5 {
        last = store
            .insert(
                Some(&dek),
                &secret_key(&format!("k{i}"), &random_bytes(32), i % 2 == 0),
                is_secret,
            )
            .unwrap();
    }
    assert_eq!(store.list().unwrap().len(), 5);
    assert_eq!(
        rv(store.init_token(b"wrong-so-pin", "again")),
        CKR_PIN_INCORRECT
    );
    assert_eq!(store.list().unwrap().len(), 5);
    assert_eq!(store.token().unwrap().so_failures, 1);
    store.init_token(SO_PIN, "again").unwrap();
    let t = store.token().unwrap();
    assert_eq!(t.label, "again");
    assert!(t.initialized && !t.user_pin_initialized);
    assert_eq!(t.so_failures, 0);
    assert!(store.list().unwrap().is_empty());
    assert_eq!(
        raw(&store)
            .query_row("SELECT count(*) FROM pin_slot", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        1
    );
    assert_eq!(
        rv(store.login(CKU_USER, USER_PIN)),
        CKR_USER_PIN_NOT_INITIALIZED
    );
    // The old login is void.
    assert_eq!(
        rv(store.insert(Some(&dek), &secret_key("late", b"v", true), is_secret)),
        CKR_USER_NOT_LOGGED_IN
    );
    let so = store.login(CKU_SO, SO_PIN).unwrap();
    assert_ne!(*so.key, *dek.key);
    store.init_user_pin(&so, USER_PIN).unwrap();
    let new = store.login(CKU_USER, USER_PIN).unwrap();
    let id = store
        .insert(
            Some(&new),
            &secret_key("after", b"value-after", true),
            is_secret,
        )
        .unwrap();
    // Ids are never reused, not even across re-initialisation.
    assert!(id > last);
    assert_eq!(rv(store.load(Some(&dek), id)), CKR_USER_NOT_LOGGED_IN);
    assert_eq!(
        store.load(Some(&new), id).unwrap().get(CKA_VALUE).unwrap(),
        b"value-after"
    );
}

#[test]
fn objects_round_trip_public_and_private() {
    let (_dir, store, dek) = ready();
    let v1 = random_bytes(32);
    let private_id = store
        .insert(Some(&dek), &secret_key("priv", &v1, true), is_secret)
        .unwrap();
    let v2 = random_bytes(16);
    let public_id = store
        .insert(Some(&dek), &secret_key("pub", &v2, false), is_secret)
        .unwrap();
    let cert = ObjectRecord {
        class: CKO_CERTIFICATE,
        private: false,
        attrs: vec![
            (CKA_LABEL, Zeroizing::new(b"cert".to_vec())),
            (CKA_VALUE_LEN, Zeroizing::new(vec![1, 2])),
        ],
        ..Default::default()
    };
    // Nothing to seal: fine without a login.
    let cert_id = store.insert(None, &cert, |_| false).unwrap();
    assert!(private_id < public_id && public_id < cert_id);
    assert_eq!(
        store.list().unwrap(),
        vec![
            (private_id, CKO_SECRET_KEY, true),
            (public_id, CKO_SECRET_KEY, false),
            (cert_id, CKO_CERTIFICATE, false)
        ]
    );

    // With the DEK: everything, in order.
    let r = store.load(Some(&dek), private_id).unwrap();
    assert_eq!(r.id, private_id);
    assert!(r.private && r.withheld.is_empty());
    assert_eq!(r.get(CKA_LABEL).unwrap(), b"priv");
    assert_eq!(r.get(CKA_VALUE).unwrap(), &v1[..]);
    let r = store.load(Some(&dek), public_id).unwrap();
    assert_eq!(r.get(CKA_VALUE).unwrap(), &v2[..]);
    assert_eq!(
        store
            .load(Some(&dek), cert_id)
            .unwrap()
            .get(CKA_VALUE_LEN)
            .unwrap(),
        &[1, 2]
    );

    // Without: private objects refuse, public ones show clear attributes only.
    assert_eq!(rv(store.load(None, private_id)), CKR_USER_NOT_LOGGED_IN);
    let r = store.load(None, public_id).unwrap();
    assert_eq!(r.get(CKA_LABEL).unwrap(), b"pub");
    assert!(r.get(CKA_VALUE).is_none());
    assert_eq!(r.withheld, vec![CKA_VALUE]);
    assert_eq!(
        rv(store.insert(None, &secret_key("x", b"v", false), is_secret)),
        CKR_USER_NOT_LOGGED_IN
    );
    assert_eq!(
        rv(store.insert(None, &secret_key("x", b"v", true), |_| false)),
        CKR_USER_NOT_LOGGED_IN
    );

    // Update without the DEK: clear attributes change, the seal is kept.
    let mut r = store.load(None, public_id).unwrap();
    r.attrs[0].1 = Zeroizing::new(b"renamed".to_vec());
    store.update(None, &r, is_secret).unwrap();
    let back = store.load(Some(&dek), public_id).unwrap();
    assert_eq!(back.get(CKA_LABEL).unwrap(), b"renamed");
    assert_eq!(back.get(CKA_VALUE).unwrap(), &v2[..]);
    // ... and with the DEK from a record loaded without it: withheld values survive.
    r.attrs[0].1 = Zeroizing::new(b"renamed-again".to_vec());
    store.update(Some(&dek), &r, is_secret).unwrap();
    let back = store.load(Some(&dek), public_id).unwrap();
    assert_eq!(back.get(CKA_LABEL).unwrap(), b"renamed-again");
    assert_eq!(back.get(CKA_VALUE).unwrap(), &v2[..]);
    // Sealed data cannot change without the DEK.
    let mut p = store.load(Some(&dek), private_id).unwrap();
    assert_eq!(
        rv(store.update(None, &p, is_secret)),
        CKR_USER_NOT_LOGGED_IN
    );
    p.attrs
        .push((CKA_APPLICATION, Zeroizing::new(b"app".to_vec())));
    store.update(Some(&dek), &p, is_secret).unwrap();
    assert_eq!(
        store
            .load(Some(&dek), private_id)
            .unwrap()
            .get(CKA_APPLICATION)
            .unwrap(),
        b"app"
    );
    // Making a public object private seals everything.
    let mut c = store.load(None, cert_id).unwrap();
    c.private = true;
    assert_eq!(
        rv(store.update(None, &c, |_| false)),
        CKR_USER_NOT_LOGGED_IN
    );
    store.update(Some(&dek), &c, |_| false).unwrap();
    assert_eq!(rv(store.load(None, cert_id)), CKR_USER_NOT_LOGGED_IN);
    assert!(store
        .list()
        .unwrap()
        .contains(&(cert_id, CKO_CERTIFICATE, true)));

    // Delete; ids are not reused.
    store.delete(public_id).unwrap();
    assert_eq!(rv(store.delete(public_id)), CKR_OBJECT_HANDLE_INVALID);
    assert_eq!(
        rv(store.load(Some(&dek), public_id)),
        CKR_OBJECT_HANDLE_INVALID
    );
    let mut gone = r.clone();
    gone.id = public_id;
    assert_eq!(
        rv(store.update(Some(&dek), &gone, is_secret)),
        CKR_OBJECT_HANDLE_INVALID
    );
    store.delete(cert_id).unwrap();
    let next = store
        .insert(Some(&dek), &secret_key("n", b"v", true), is_secret)
        .unwrap();
    assert!(next > cert_id);
}

#[test]
fn seals_are_bound_to_their_object() {
    let (_dir, store, dek) = ready();
    let a = store
        .insert(
            Some(&dek),
            &secret_key("a", &random_bytes(32), true),
            is_secret,
        )
        .unwrap();
    let b = store
        .insert(
            Some(&dek),
            &secret_key("b", &random_bytes(32), true),
            is_secret,
        )
        .unwrap();
    let c = store
        .insert(
            Some(&dek),
            &secret_key("c", &random_bytes(32), false),
            is_secret,
        )
        .unwrap();
    let db = raw(&store);
    let sealed = |id: u64| -> Vec<u8> {
        db.query_row(
            "SELECT sealed FROM object WHERE id = ?1",
            [id as i64],
            |r| r.get(0),
        )
        .unwrap()
    };
    let set = |id: u64, col: &str, v: &dyn rusqlite::ToSql| {
        db.execute(
            &format!("UPDATE object SET {col} = ?1 WHERE id = ?2"),
            rusqlite::params![v, id as i64],
        )
        .unwrap();
    };
    let (sa, sb) = (sealed(a), sealed(b));

    // Swap two objects' blobs: neither opens.
    set(a, "sealed", &sb);
    set(b, "sealed", &sa);
    assert_eq!(rv(store.load(Some(&dek), a)), CKR_DEVICE_ERROR);
    assert_eq!(rv(store.load(Some(&dek), b)), CKR_DEVICE_ERROR);
    set(a, "sealed", &sa);
    set(b, "sealed", &sb);
    store.load(Some(&dek), a).unwrap();
    store.load(Some(&dek), b).unwrap();

    // Swap blob and uid together: the id is bound too.
    let uid = |id: u64| -> Vec<u8> {
        db.query_row("SELECT uid FROM object WHERE id = ?1", [id as i64], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let (ua, ub) = (uid(a), uid(b));
    set(a, "uid", &ub);
    set(a, "sealed", &sb);
    assert_eq!(rv(store.load(Some(&dek), a)), CKR_DEVICE_ERROR);
    set(a, "uid", &ua);
    set(a, "sealed", &sa);

    // Flip one bit of ciphertext, of the tag, of the nonce.
    for pos in [0, 20, sa.len() - 1] {
        let mut t = sa.clone();
        t[pos] ^= 0x01;
        set(a, "sealed", &t);
        assert_eq!(rv(store.load(Some(&dek), a)), CKR_DEVICE_ERROR);
    }
    set(a, "sealed", &sa);

    // Change what the AAD covers: class, privacy.
    set(a, "class", &(CKO_DATA as i64));
    assert_eq!(rv(store.load(Some(&dek), a)), CKR_DEVICE_ERROR);
    set(a, "class", &(CKO_SECRET_KEY as i64));
    set(a, "private", &0i64);
    assert_eq!(rv(store.load(Some(&dek), a)), CKR_DEVICE_ERROR);
    set(a, "private", &1i64);

    // Strip the seal of a private object, or of a public one with sealed types.
    set(a, "sealed", &rusqlite::types::Null);
    assert_eq!(rv(store.load(Some(&dek), a)), CKR_DEVICE_ERROR);
    let sc = sealed(c);
    set(c, "sealed", &rusqlite::types::Null);
    assert_eq!(rv(store.load(Some(&dek), c)), CKR_DEVICE_ERROR);
    set(c, "sealed", &sc);
    // Claim other sealed types than the seal holds.
    set(c, "sealed_types", &CKA_LABEL.to_le_bytes().to_vec());
    assert_eq!(rv(store.load(Some(&dek), c)), CKR_DEVICE_ERROR);
    set(a, "sealed", &sa);
    store.load(Some(&dek), a).unwrap();
    // A slot moved to the other role does not open.
    db.execute("UPDATE pin_slot SET user = 9 WHERE user = 0", [])
        .unwrap();
    db.execute("UPDATE pin_slot SET user = 0 WHERE user = 1", [])
        .unwrap();
    db.execute("UPDATE pin_slot SET user = 1 WHERE user = 9", [])
        .unwrap();
    assert_eq!(rv(store.login(CKU_SO, USER_PIN)), CKR_PIN_INCORRECT);
    assert_eq!(rv(store.login(CKU_USER, SO_PIN)), CKR_PIN_INCORRECT);
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

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every file of the store directory, as bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn nothing_secret_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan");
    let so_pin = format!("so-{}", hex(&random_bytes(12)));
    let user_pin = format!("user-{}", hex(&random_bytes(12)));
    let new_user_pin = format!("user2-{}", hex(&random_bytes(12)));
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    let store = SqliteStore::open(&path).unwrap();
    store.init_token(so_pin.as_bytes(), "scan").unwrap();
    let so = store.login(CKU_SO, so_pin.as_bytes()).unwrap();
    store.init_user_pin(&so, user_pin.as_bytes()).unwrap();
    let dek = store.login(CKU_USER, user_pin.as_bytes()).unwrap();
    secrets.push(("SO PIN".into(), so_pin.as_bytes().to_vec()));
    secrets.push(("user PIN".into(), user_pin.as_bytes().to_vec()));
    secrets.push(("new user PIN".into(), new_user_pin.as_bytes().to_vec()));
    secrets.push(("DEK".into(), dek.key.to_vec()));
    // The KEKs of both PIN slots.
    let slots: Vec<(i64, Vec<u8>, u32)> = raw(&store)
        .prepare("SELECT user, salt, iterations FROM pin_slot")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for (user, salt, iters) in slots {
        let pin = if user == CKU_SO as i64 {
            &so_pin
        } else {
            &user_pin
        };
        secrets.push((
            format!("KEK {user}"),
            pins_kek(pin.as_bytes(), &salt, iters),
        ));
    }
    // Keys: private and public secret keys, and "RSA" private parts of a public object.
    for i in 0..40 {
        let v = random_bytes(if i % 3 == 0 { 16 } else { 32 });
        secrets.push((format!("key {i}"), v.clone()));
        store
            .insert(
                Some(&dek),
                &secret_key(&format!("k{i}"), &v, i % 2 == 0),
                is_secret,
            )
            .unwrap();
    }
    let d = random_bytes(256);
    let p = random_bytes(128);
    secrets.push(("RSA d".into(), d.clone()));
    secrets.push(("RSA p".into(), p.clone()));
    let rsa = ObjectRecord {
        class: CKO_PRIVATE_KEY,
        private: false,
        attrs: vec![
            (CKA_LABEL, Zeroizing::new(b"rsa".to_vec())),
            (CKA_PRIVATE_EXPONENT, Zeroizing::new(d)),
            (CKA_PRIME_1, Zeroizing::new(p)),
        ],
        ..Default::default()
    };
    let rsa_id = store.insert(Some(&dek), &rsa, is_secret).unwrap();
    // Updates and a PIN change write more pages.
    let mut r = store.load(Some(&dek), rsa_id).unwrap();
    r.attrs[0].1 = Zeroizing::new(b"rsa-renamed".to_vec());
    store.update(Some(&dek), &r, is_secret).unwrap();
    store
        .set_pin(CKU_USER, user_pin.as_bytes(), new_user_pin.as_bytes())
        .unwrap();
    // The PIN change truncated the WAL: fill it again.
    for i in 40..50 {
        let v = random_bytes(32);
        secrets.push((format!("key {i}"), v.clone()));
        store
            .insert(
                Some(&dek),
                &secret_key(&format!("k{i}"), &v, i % 2 == 0),
                is_secret,
            )
            .unwrap();
    }

    let scan = |when: &str| {
        let files = files(&path);
        assert!(
            files.iter().any(|(n, _)| n.ends_with("-wal")),
            "{when}: no WAL to scan"
        );
        for (name, bytes) in &files {
            for (what, secret) in &secrets {
                // The whole value, and any 12-byte window of it.
                assert!(
                    !contains(bytes, secret),
                    "{when}: {what} in clear in {name}"
                );
                for w in secret.windows(12).step_by(6) {
                    assert!(
                        !contains(bytes, w),
                        "{when}: part of {what} in clear in {name}"
                    );
                }
            }
        }
        // The scan is able to find things: clear attributes of public objects are there.
        assert!(
            files.iter().any(|(_, b)| contains(b, b"rsa-renamed")),
            "{when}: scan finds nothing"
        );
    };
    scan("store open");
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    store.login(CKU_USER, new_user_pin.as_bytes()).unwrap();
    scan("reopened");
}

fn pins_kek(pin: &[u8], salt: &[u8], iters: u32) -> Vec<u8> {
    let mut k = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pin, salt, iters, &mut k);
    k.to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
