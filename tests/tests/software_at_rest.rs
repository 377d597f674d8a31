//! Nothing secret in clear on disk: keys are made through libkmsbridge.so on a software
//! instance with material the test knows (AES and generic secrets by value; generated
//! RSA, EC and Ed25519 keys whose private parts it reads back; a generated sensitive
//! AES key whose value it learns by wrapping and unwrapping; a private data object), and
//! both PINs are changed; then every file of the store (database, `-wal`, `-shm`) and
//! the module's log are read, while the module is in use and after `C_Finalize`, and
//! none may hold any of those values, nor any PIN, old or new: not whole, not as any
//! 12-byte window, not hex-encoded, not byte-reversed. A public object's label must be
//! found (the scan does see what is written). Needs `cargo build --release`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use kmsbridge_testkit::keys::{fingerprint, random_bytes, round_trip, trusted_aes};
use kmsbridge_testkit::keys::{ED25519_PARAMS, P256};
use kmsbridge_tests::software::store_dir;
use kmsbridge_tests::{Env, Target};

const WINDOW: usize = 12;

/// The secrets to look for, by name.
#[derive(Default)]
struct Secrets(Vec<(String, Vec<u8>)>);

impl Secrets {
    fn add(&mut self, name: &str, value: &[u8]) {
        assert!(!value.is_empty(), "{name}: empty secret");
        assert!(value.len() >= 8, "{name}: {} bytes is too short to search for", value.len());
        self.0.push((name.to_string(), value.to_vec()));
        self.0.push((format!("{name} (hex)"), hex::encode(value).into_bytes()));
        self.0.push((format!("{name} (HEX)"), hex::encode_upper(value).into_bytes()));
        let mut rev = value.to_vec();
        rev.reverse();
        self.0.push((format!("{name} (reversed)"), rev));
    }

    /// Every place a secret (or a 12-byte window of one) occurs in `data`.
    fn find_in(&self, data: &[u8]) -> Vec<String> {
        let mut windows: std::collections::HashMap<&[u8], &str> = Default::default();
        let mut hits = Vec::new();
        for (name, v) in &self.0 {
            if v.len() < WINDOW {
                if data.windows(v.len()).any(|w| w == &v[..]) {
                    hits.push(format!("{name} (whole)"));
                }
            } else {
                for w in v.windows(WINDOW) {
                    windows.insert(w, name);
                }
            }
        }
        let mut seen = HashSet::new();
        for (at, w) in data.windows(WINDOW).enumerate() {
            if let Some(name) = windows.get(w) {
                if seen.insert(*name) {
                    hits.push(format!("{name}: a 12-byte window at offset {at}"));
                }
            }
        }
        hits
    }
}

fn bytes_of(attr: Attribute) -> Vec<u8> {
    match attr {
        Attribute::Value(v)
        | Attribute::PrivateExponent(v)
        | Attribute::Prime1(v)
        | Attribute::Prime2(v)
        | Attribute::Exponent1(v)
        | Attribute::Exponent2(v)
        | Attribute::Coefficient(v) => v,
        other => panic!("not a byte attribute: {other:?}"),
    }
}

/// Reads `types` of `obj` and records each as a secret.
fn read_secret(
    s: &Session,
    obj: ObjectHandle,
    name: &str,
    types: &[AttributeType],
    out: &mut Secrets,
) {
    let attrs = s.get_attributes(obj, types).unwrap_or_else(|e| panic!("{name}: read back: {e}"));
    assert_eq!(attrs.len(), types.len(), "{name}: every part readable");
    for (ty, a) in types.iter().zip(attrs) {
        let v = bytes_of(a);
        // Big integers may carry a leading zero; search the significant bytes.
        let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        out.add(&format!("{name} {ty:?}"), &v);
    }
}

/// A token secret key by value.
fn create_secret(
    s: &Session,
    kt: KeyType,
    value: &[u8],
    label: &str,
    private: bool,
) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Token(true),
        Attribute::Private(private),
        Attribute::Sensitive(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Value(value.to_vec()),
        Attribute::Encrypt(kt == KeyType::AES),
        Attribute::Decrypt(kt == KeyType::AES),
        Attribute::Sign(kt == KeyType::GENERIC_SECRET),
        Attribute::Verify(kt == KeyType::GENERIC_SECRET),
    ])
    .unwrap_or_else(|e| panic!("C_CreateObject {label}: {e}"))
}

/// A generated token key pair whose private key stays readable (not sensitive).
fn gen_pair(s: &Session, mech: &Mechanism, public: Vec<Attribute>, label: &str) -> ObjectHandle {
    let mut pub_t = vec![Attribute::Token(true), Attribute::Verify(true)];
    pub_t.extend(public);
    pub_t.push(Attribute::Label(label.as_bytes().to_vec()));
    let priv_t = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Sign(true),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    let (_, private) = s
        .generate_key_pair(mech, &pub_t, &priv_t)
        .unwrap_or_else(|e| panic!("C_GenerateKeyPair {label}: {e}"));
    private
}

/// Files to scan: everything under the store directory, and the module's log.
fn files(store: &Path, log: &Path) -> Vec<PathBuf> {
    let mut out = vec![log.to_path_buf()];
    let mut dirs = vec![store.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Scans every file; returns the total bytes scanned and whether `marker` was seen.
fn scan(when: &str, store: &Path, log: &Path, secrets: &Secrets, marker: &[u8]) -> (usize, bool) {
    let mut total = 0;
    let mut marker_seen = false;
    let mut leaks = Vec::new();
    for f in files(store, log) {
        let data = std::fs::read(&f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
        eprintln!("{when}: {} ({} bytes)", f.display(), data.len());
        total += data.len();
        marker_seen |= data.windows(marker.len()).any(|w| w == marker);
        for hit in secrets.find_in(&data) {
            leaks.push(format!("{}: {hit}", f.display()));
        }
    }
    assert!(leaks.is_empty(), "{when}: secrets in clear on disk:\n{}", leaks.join("\n"));
    (total, marker_seen)
}

#[test]
fn no_secret_in_clear_on_disk() {
    let t = Env::new(Target::Software);
    let store = store_dir();
    let log = PathBuf::from(t.rig().dir()).join("kmsbridge.log");
    let mut secrets = Secrets::default();
    // The SO's trusted KEK, of a value the test knows: under the key-usage policy
    // (docs/KEYS.md) a generated sensitive key leaves only under such a key.
    let kek_value = random_bytes(32);
    trusted_aes(&t.so_session(), "trusted-kek", &kek_value, false);
    let s = t.user_session();

    // Secret keys and a private data object, by value.
    for (len, private) in [(16, true), (24, true), (32, true), (32, false)] {
        let v = random_bytes(len);
        let label = format!("aes-{}-{}", len * 8, if private { "private" } else { "public" });
        let k = create_secret(&s, KeyType::AES, &v, &label, private);
        round_trip(&s, k, &label);
        secrets.add(&label, &v);
    }
    let generic = random_bytes(48);
    let g = create_secret(&s, KeyType::GENERIC_SECRET, &generic, "generic-secret", true);
    let mac = s.sign(&Mechanism::Sha256Hmac, g, b"data").expect("HMAC with the generic secret");
    assert_eq!(mac.len(), 32);
    secrets.add("generic secret", &generic);
    let data = random_bytes(40);
    s.create_object(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Label(b"private-data".to_vec()),
        Attribute::Value(data.clone()),
    ])
    .expect("C_CreateObject (private data object)");
    secrets.add("private data object", &data);

    // Generated key pairs, private parts read back.
    let rsa = gen_pair(
        &s,
        &Mechanism::RsaPkcsKeyPairGen,
        vec![Attribute::ModulusBits(2048.into()), Attribute::PublicExponent(vec![1, 0, 1])],
        "rsa-2048",
    );
    use AttributeType as A;
    let rsa_parts =
        [A::PrivateExponent, A::Prime1, A::Prime2, A::Exponent1, A::Exponent2, A::Coefficient];
    read_secret(&s, rsa, "RSA-2048", &rsa_parts, &mut secrets);
    let ec = gen_pair(
        &s,
        &Mechanism::EccKeyPairGen,
        vec![Attribute::EcParams(P256.params.to_vec())],
        "ec-p256",
    );
    read_secret(&s, ec, "EC P-256", &[A::Value], &mut secrets);
    let ed = gen_pair(
        &s,
        &Mechanism::EccEdwardsKeyPairGen,
        vec![Attribute::EcParams(ED25519_PARAMS.to_vec())],
        "ed25519",
    );
    read_secret(&s, ed, "Ed25519", &[A::Value], &mut secrets);

    // A generated, sensitive AES token key: its value learnt by wrapping it under the
    // trusted KEK and unwrapping the blob, under an ordinary key of the same value, into
    // a session key that is not sensitive.
    let hidden = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(true),
                Attribute::ValueLen(32.into()),
                Attribute::Encrypt(true),
                Attribute::Label(b"aes-generated-sensitive".to_vec()),
            ],
        )
        .expect("C_GenerateKey (sensitive)");
    let trusted = s.find_objects(&[Attribute::Label(b"trusted-kek".to_vec())]).expect("find");
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, trusted[0], hidden).expect("C_WrapKey");
    let kek = kmsbridge_testkit::keys::import_aes(&s, &kek_value);
    let copy = s
        .unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            &blob,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Token(false),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::Encrypt(true),
            ],
        )
        .expect("C_UnwrapKey");
    let hidden_value = kmsbridge_testkit::keys::attr_bytes(&s, copy, A::Value);
    assert_eq!(hidden_value.len(), 32);
    assert_eq!(
        fingerprint(&s, copy),
        fingerprint(&s, hidden),
        "the unwrapped copy is the generated key"
    );
    secrets.add("generated sensitive AES-256", &hidden_value);

    // PINs: the initial ones, and new ones set by C_SetPIN.
    secrets.add("user PIN", t.user_pin.as_bytes());
    secrets.add("SO PIN", t.so_pin.as_bytes());
    let new_user = hex::encode(random_bytes(10));
    s.set_pin(&t.user_auth(), &AuthPin::new(new_user.clone().into())).expect("C_SetPIN (user)");
    secrets.add("new user PIN", new_user.as_bytes());
    s.logout().expect("C_Logout");
    s.login(UserType::So, Some(&t.so_auth())).expect("C_Login (SO)");
    let new_so = hex::encode(random_bytes(10));
    s.set_pin(&t.so_auth(), &AuthPin::new(new_so.clone().into())).expect("C_SetPIN (SO)");
    secrets.add("new SO PIN", new_so.as_bytes());
    s.logout().expect("C_Logout");
    // And a wrong PIN attempt, which must not be logged either.
    let wrong = hex::encode(random_bytes(10));
    let r = s.login(UserType::User, Some(&AuthPin::new(wrong.clone().into())));
    assert!(r.is_err(), "a wrong PIN logged in");
    secrets.add("wrong PIN", wrong.as_bytes());
    s.login(UserType::User, Some(&AuthPin::new(new_user.clone().into())))
        .expect("C_Login (new PIN)");

    // Positive control: a public object's label is stored in clear.
    let marker = b"aes-256-public";
    let (live, seen_live) = scan("in use", &store, &log, &secrets, marker);
    assert!(seen_live, "the public key's label must be found: the scan does not see the data");
    assert!(live > 0);

    // After C_Finalize, and once more after SQLite has checkpointed the WAL into the
    // database file and truncated it (what the last connection to close does anyway).
    drop(s);
    let rv = kmsbridge_tests::ck!(t, C_Finalize, std::ptr::null_mut());
    assert_eq!(rv, kmsbridge_tests::raw::rv(cryptoki_sys::CKR_OK), "C_Finalize");
    let (after, seen_after) = scan("after C_Finalize", &store, &log, &secrets, marker);
    assert!(seen_after, "the public key's label must be found after C_Finalize");
    let db = rusqlite::Connection::open(store.join("store.sqlite")).expect("open the store");
    let (busy, _, _): (i64, i64, i64) = db
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("checkpoint");
    assert_eq!(busy, 0, "checkpoint blocked");
    drop(db);
    let wal = std::fs::metadata(store.join("store.sqlite-wal")).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal, 0, "the WAL is truncated");
    let (merged, seen_merged) = scan("checkpointed", &store, &log, &secrets, marker);
    assert!(seen_merged, "the public key's label must be in the checkpointed database");
    eprintln!(
        "{} secret forms checked against {live} bytes in use, {after} bytes after C_Finalize, \
         {merged} bytes checkpointed",
        secrets.0.len()
    );
}

/// The scanner itself: a whole value, a 12-byte piece of one, its hex and its reversal
/// are found; 11 bytes of one are not (below the window).
#[test]
fn the_scanner_finds_what_it_looks_for() {
    let v: Vec<u8> = (0u8..40).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    let mut s = Secrets::default();
    s.add("v", &v);
    let pad = |mid: &[u8]| [&[0xeeu8; 100][..], mid, &[0xeeu8; 100][..]].concat();
    assert_eq!(s.find_in(&pad(&v)).len(), 1, "whole value");
    assert_eq!(s.find_in(&pad(&v[5..17])).len(), 1, "12 bytes of it");
    assert!(s.find_in(&pad(&v[5..16])).is_empty(), "11 bytes are below the window");
    assert_eq!(s.find_in(&pad(&hex::encode(&v).into_bytes()[3..40])).len(), 1, "hex");
    let mut rev = v.clone();
    rev.reverse();
    assert_eq!(s.find_in(&pad(&rev[..20])).len(), 1, "reversed");
    assert!(s.find_in(&pad(&[])).is_empty());
}
