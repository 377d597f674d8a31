//! Finds through the index, the change log, and the upgrade of a schema-1 store.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::*;
use crate::Changes;

fn key(label: &str, id: &[u8], private: bool) -> ObjectRecord {
    ObjectRecord {
        class: CKO_SECRET_KEY,
        private,
        attrs: vec![
            (CKA_LABEL, Zeroizing::new(label.as_bytes().to_vec())),
            (CKA_ID, Zeroizing::new(id.to_vec())),
            (CKA_KEY_TYPE, Zeroizing::new(CKK_AES.to_ne_bytes().to_vec())),
            (CKA_VALUE, Zeroizing::new(random_bytes(32))),
        ],
        ..Default::default()
    }
}

/// 300 keys, every third public, and 10 data objects; (ids of keys by index, data ids).
fn many(store: &SqliteStore, dek: &Dek) -> (Vec<ObjectId>, Vec<ObjectId>) {
    let recs: Vec<ObjectRecord> = (0..300)
        .map(|i| {
            key(
                &format!("key-{i}"),
                format!("id-{i}").as_bytes(),
                i % 3 != 0,
            )
        })
        .collect();
    let keys = store.insert_many(Some(dek), &recs, is_secret).unwrap();
    let data: Vec<ObjectRecord> = (0..10)
        .map(|i| ObjectRecord {
            class: CKO_DATA,
            private: true,
            attrs: vec![
                (CKA_LABEL, Zeroizing::new(format!("key-{i}").into_bytes())),
                (CKA_APPLICATION, Zeroizing::new(b"app".to_vec())),
            ],
            ..Default::default()
        })
        .collect();
    let data = store.insert_many(Some(dek), &data, is_secret).unwrap();
    (keys, data)
}

fn find(
    store: &SqliteStore,
    dek: Option<&Dek>,
    class: Option<u64>,
    t: &[(u64, &[u8])],
) -> Vec<ObjectId> {
    store.find(dek, class, t).unwrap()
}

#[test]
fn finds_by_label_id_class_and_application_answer_exactly_the_matches() {
    let (_dir, store, dek) = ready();
    let (keys, data) = many(&store, &dek);
    let d = Some(&dek);
    // A private key by label, by id, by both; a public one; a long label.
    assert_eq!(
        find(&store, d, None, &[(CKA_LABEL, b"key-7")]),
        vec![keys[7], data[7]]
    );
    assert_eq!(
        find(&store, d, Some(CKO_SECRET_KEY), &[(CKA_LABEL, b"key-7")]),
        vec![keys[7]]
    );
    assert_eq!(find(&store, d, None, &[(CKA_ID, b"id-7")]), vec![keys[7]]);
    assert_eq!(
        find(&store, d, None, &[(CKA_ID, b"id-7"), (CKA_LABEL, b"key-7")]),
        vec![keys[7]]
    );
    assert!(find(&store, d, None, &[(CKA_ID, b"id-7"), (CKA_LABEL, b"key-8")]).is_empty());
    assert_eq!(find(&store, d, None, &[(CKA_ID, b"id-9")]), vec![keys[9]]);
    assert!(find(&store, d, None, &[(CKA_LABEL, b"key-300")]).is_empty());
    assert_eq!(
        find(&store, d, Some(CKO_DATA), &[(CKA_APPLICATION, b"app")]),
        data
    );
    assert_eq!(find(&store, d, Some(CKO_SECRET_KEY), &[]), keys);
    let aes = CKK_AES.to_ne_bytes();
    assert_eq!(find(&store, d, None, &[(CKA_KEY_TYPE, &aes)]), keys);
    // Not indexed: every object of the class is a candidate.
    assert_eq!(find(&store, d, Some(CKO_DATA), &[(CKA_VALUE, b"x")]), data);

    // Without the DEK: public objects only, found by their clear values.
    assert_eq!(
        find(&store, None, None, &[(CKA_ID, b"id-9")]),
        vec![keys[9]]
    );
    assert!(find(&store, None, None, &[(CKA_ID, b"id-7")]).is_empty());
    let public: Vec<ObjectId> = keys.iter().step_by(3).copied().collect();
    assert_eq!(find(&store, None, Some(CKO_SECRET_KEY), &[]), public);

    // Changes follow: a new label, a deletion, a long label hashed.
    let long = "l".repeat(200);
    let mut r = store.load(d, keys[7]).unwrap();
    r.attrs.retain(|(t, _)| *t != CKA_LABEL);
    r.attrs
        .push((CKA_LABEL, Zeroizing::new(long.clone().into_bytes())));
    store.update(d, &r, is_secret).unwrap();
    assert_eq!(
        find(&store, d, None, &[(CKA_LABEL, b"key-7")]),
        vec![data[7]]
    );
    assert_eq!(
        find(&store, d, None, &[(CKA_LABEL, long.as_bytes())]),
        vec![keys[7]]
    );
    store.delete(keys[7]).unwrap();
    assert!(find(&store, d, None, &[(CKA_ID, b"id-7")]).is_empty());
    assert!(find(&store, d, None, &[(CKA_LABEL, long.as_bytes())]).is_empty());
}

#[test]
fn private_labels_are_indexed_by_keyed_hash_only() {
    let (_dir, store, dek) = ready();
    store
        .insert(
            Some(&dek),
            &key("secret-label-xyz", b"secret-id-xyz", true),
            is_secret,
        )
        .unwrap();
    store
        .insert(
            Some(&dek),
            &key("public-label-xyz", b"public-id-xyz", false),
            is_secret,
        )
        .unwrap();
    let terms: Vec<Vec<u8>> = raw(&store)
        .prepare("SELECT term FROM object_term")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(terms
        .iter()
        .all(|t| !contains(t, b"secret-label-xyz") && !contains(t, b"secret-id-xyz")));
    assert!(terms.iter().any(|t| contains(t, b"public-label-xyz")));
    // Key material has no term, public key or not.
    assert_eq!(terms.len(), 6);
}

#[test]
fn changes_since_names_what_another_handle_committed() {
    let (dir, store, dek) = ready();
    let other = SqliteStore::open(&dir.path().join("s")).unwrap();
    let (keys, _) = many(&store, &dek);
    let v0 = store.version().unwrap();
    assert_eq!(
        store.changes_since(v0).unwrap(),
        Changes::Objects {
            version: v0,
            ids: vec![]
        }
    );
    let new = other
        .insert(Some(&dek), &key("n", b"n", true), is_secret)
        .unwrap();
    other.delete(keys[3]).unwrap();
    let mut r = other.load(Some(&dek), keys[5]).unwrap();
    r.attrs
        .push((CKA_APPLICATION, Zeroizing::new(b"x".to_vec())));
    other.update(Some(&dek), &r, is_secret).unwrap();
    // A login moves the version but touches no object.
    other.login(CKU_USER, USER_PIN).unwrap();
    let v1 = store.version().unwrap();
    let mut want = vec![keys[3], keys[5], new];
    want.sort_unstable();
    assert_eq!(
        store.changes_since(v0).unwrap(),
        Changes::Objects {
            version: v1,
            ids: want
        }
    );
    assert_eq!(
        store.changes_since(v1).unwrap(),
        Changes::Objects {
            version: v1,
            ids: vec![]
        }
    );
    // Older than the log reaches (as after it was cut back): reload.
    raw(&store)
        .execute("UPDATE meta SET log_floor = ?1", [v1 as i64 - 1])
        .unwrap();
    assert_eq!(
        store.changes_since(v0).unwrap(),
        Changes::Reload { version: v1 }
    );
    assert!(matches!(
        store.changes_since(v1 - 1).unwrap(),
        Changes::Objects { .. }
    ));
    // A version from the future (a restored copy): reload.
    assert_eq!(
        store.changes_since(v1 + 5).unwrap(),
        Changes::Reload { version: v1 }
    );
    // A re-initialisation replaces everything.
    other.init_token(SO_PIN, "again").unwrap();
    let v2 = store.version().unwrap();
    assert_eq!(
        store.changes_since(v1).unwrap(),
        Changes::Reload { version: v2 }
    );
    assert_eq!(
        raw(&store)
            .query_row("SELECT count(*) FROM object_term", [], |r| r
                .get::<_, i64>(0))
            .unwrap(),
        0
    );
}

/// Turn a current store into what schema 1 made (its DDL, no index, no log).
fn downgrade_to_v1(c: &rusqlite::Connection) {
    c.execute_batch(
        "DROP TABLE object_term; DROP TABLE change_log;
         DROP INDEX object_class; DROP INDEX object_unindexed;
         ALTER TABLE object DROP COLUMN indexed;
         ALTER TABLE meta DROP COLUMN log_floor;
         PRAGMA user_version = 1;",
    )
    .unwrap();
}

#[test]
fn a_schema_1_store_is_upgraded_and_indexed_at_login() {
    let (dir, store, dek) = ready();
    let (keys, data) = many(&store, &dek);
    let path = dir.path().join("s");
    downgrade_to_v1(&raw(&store));
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    let v: i64 = raw(&store)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    // Before a login gives them terms, every object of the class is a candidate, so
    // nothing that matches is missed.
    let all_keys = find(
        &store,
        Some(&dek),
        Some(CKO_SECRET_KEY),
        &[(CKA_LABEL, b"key-7")],
    );
    assert_eq!(all_keys, keys);
    // A cache from before the upgrade reloads.
    let now = store.version().unwrap();
    assert_eq!(
        store.changes_since(now - 1).unwrap(),
        Changes::Reload { version: now }
    );

    let dek = store.login(CKU_USER, USER_PIN).unwrap();
    assert_eq!(store.reindex(&dek, 100).unwrap(), 100);
    let mut n = 100;
    loop {
        let k = store.reindex(&dek, 100).unwrap();
        if k == 0 {
            break;
        }
        n += k;
    }
    assert_eq!(n, keys.len() + data.len());
    let d = Some(&dek);
    assert_eq!(
        find(&store, d, Some(CKO_SECRET_KEY), &[(CKA_LABEL, b"key-7")]),
        vec![keys[7]]
    );
    assert_eq!(
        find(&store, d, None, &[(CKA_ID, b"id-299")]),
        vec![keys[299]]
    );
    assert_eq!(
        find(&store, None, None, &[(CKA_ID, b"id-9")]),
        vec![keys[9]]
    );
    assert_eq!(
        store.load(d, keys[7]).unwrap().get(CKA_LABEL).unwrap(),
        b"key-7"
    );
    store.integrity_check().unwrap();
}
