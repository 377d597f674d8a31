//! Objects public and private, and seals bound to their object.

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::*;

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
