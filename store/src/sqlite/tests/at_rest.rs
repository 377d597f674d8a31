//! Nothing secret on disk: the files are scanned for every secret at every step.

use std::path::Path;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::*;

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
