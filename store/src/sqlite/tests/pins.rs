//! PIN slots, wrong-PIN counters and locks, PIN changes, re-initialisation.

use cryptoki_sys::*;

use super::*;

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
