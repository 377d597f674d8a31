//! The access-point matrix (issue 12, "What it must show"): every action × resource
//! pattern × condition, allowed and denied, on a software and a hardware instance.
//!
//! One access point per row, made by the SO in batches of 40 (deleted after their
//! rows), each logged in with its client key. A row's policy allows its action on its
//! resources under its condition, plus `enable` on the same resources with no
//! condition (so the keys stay visible and a refusal is the action's,
//! CKR_KEY_FUNCTION_NOT_PERMITTED) and `generate` of `alias/made-*` (the keys unwrap
//! and derive make). Allowed: the operation works and its output is checked (at the
//! end, under the user PIN, for what the row may not read back itself); another action
//! on the same key is refused. Invisible rows drop the `enable` statement: the keys are
//! not found and no guessed handle reaches them. Keys outside a row's resources
//! (`zz-out*`, public objects whose handles outlive a logout) are never found, and the
//! very handles the user PIN got answer the function's handle-invalid code. Needs
//! `cargo build --release`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use kmsbridge_testkit::codes::code_of;
use kmsbridge_testkit::keys::{attr_bytes, ec_point_raw, fingerprint, P256};
use kmsbridge_tests::access::*;
use kmsbridge_tests::{Env, Target};
use std::collections::BTreeMap;
use std::time::Instant;

const PLAIN: &[u8] = b"the matrix plaintext";
const DIGEST: [u8; 32] = [9u8; 32];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
    Wrap,
    Unwrap,
    Derive,
    Generate,
    Update,
    Destroy,
}

impl Act {
    const ALL: [Act; 10] = [
        Act::Encrypt,
        Act::Decrypt,
        Act::Sign,
        Act::Verify,
        Act::Wrap,
        Act::Unwrap,
        Act::Derive,
        Act::Generate,
        Act::Update,
        Act::Destroy,
    ];

    /// The policy's name of the action.
    fn policy_name(self) -> &'static str {
        match self {
            Act::Encrypt => "encrypt",
            Act::Decrypt => "decrypt",
            Act::Sign => "sign",
            Act::Verify => "verify",
            Act::Wrap => "wrap",
            Act::Unwrap => "unwrap",
            Act::Derive => "derive",
            Act::Generate => "generate",
            Act::Update => "update",
            Act::Destroy => "schedule-deletion",
        }
    }

    /// Every key of this action's rows has a label (and CKA_ID) starting so.
    fn prefix(self) -> &'static str {
        match self {
            Act::Encrypt => "enc",
            Act::Decrypt => "dec",
            Act::Sign => "sig",
            Act::Verify => "ver",
            Act::Wrap => "wrp",
            Act::Unwrap => "unw",
            Act::Derive => "der",
            Act::Generate => "gen",
            Act::Update => "upd",
            Act::Destroy => "del",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pat {
    /// `key/<id hex>` of each key the row uses.
    Id,
    /// `key/*`.
    All,
    /// `alias/<prefix>-*`.
    Alias,
}

#[derive(Debug, Clone, Copy)]
struct Row {
    n: usize,
    act: Act,
    pat: Pat,
    cond: Cond,
    /// The `enable` statement that keeps the keys visible when the condition fails.
    see: bool,
}

impl Row {
    fn allowed(&self) -> bool {
        self.cond.holds()
    }
}

fn rows() -> Vec<Row> {
    let mut out = Vec::new();
    for act in Act::ALL {
        for pat in [Pat::Id, Pat::All, Pat::Alias] {
            for cond in Cond::ALL {
                out.push(Row { n: out.len(), act, pat, cond, see: true });
            }
        }
    }
    // Invisible: a failing condition and nothing else covering the keys. Generating
    // has no key to hide.
    let failing = [
        Cond::Users(false),
        Cond::Groups(false),
        Cond::Exe(false),
        Cond::Net(false),
        Cond::Time(false),
    ];
    for (i, act) in Act::ALL.into_iter().filter(|a| *a != Act::Generate).enumerate() {
        let pat = [Pat::Id, Pat::All, Pat::Alias][i % 3];
        out.push(Row { n: out.len(), act, pat, cond: failing[i % failing.len()], see: false });
    }
    out
}

/// Keys made under the user PIN before the rows, by label: handle and CKA_ID.
struct Fixture {
    keys: BTreeMap<String, (ObjectHandle, Vec<u8>)>,
    dec_ct: Vec<u8>,
    ver_sig: Vec<u8>,
    unw_blob: Vec<u8>,
    unw_print: String,
    wrp_print: String,
    peer: Vec<u8>,
    der_print: String,
}

fn gcm(iv: &mut [u8; 12]) -> Mechanism<'_> {
    Mechanism::AesGcm(GcmParams::new(iv, b"", 128.into()).unwrap())
}

fn ecdh(peer: &[u8]) -> Mechanism<'_> {
    Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), peer))
}

/// Outsider keys (`zz-out*`) are public objects: their handles outlive a logout (a
/// private object's handle dies with it), so a row can try the very handle the user
/// PIN's session got.
fn public(name: &str) -> bool {
    name.starts_with("zz-out")
}

/// A token AES-256 key usable for everything, labelled and identified `name`.
fn aes(s: &Session, name: &str, extractable: bool) -> ObjectHandle {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Token(true),
            Attribute::Private(!public(name)),
            Attribute::ValueLen(32.into()),
            Attribute::Sensitive(!extractable),
            Attribute::Extractable(extractable),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
            Attribute::Label(name.into()),
            Attribute::Id(name.into()),
        ],
    )
    .unwrap_or_else(|e| panic!("generate {name}: {e}"))
}

/// A token P-256 pair for signing and deriving; (public, private).
fn ec(s: &Session, name: &str) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::EcParams(P256.params.to_vec()),
            Attribute::Verify(true),
            Attribute::Label(name.into()),
            Attribute::Id(name.into()),
        ],
        &[
            Attribute::Token(true),
            Attribute::Private(!public(name)),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::Derive(true),
            Attribute::Label(name.into()),
            Attribute::Id(name.into()),
        ],
    )
    .unwrap_or_else(|e| panic!("generate {name}: {e}"))
}

/// The template of a key that unwrap or derive makes in row `n`.
fn made(n: usize, len: Option<u64>) -> Vec<Attribute> {
    let name = format!("made-{n}");
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Encrypt(true),
        Attribute::Label(name.clone().into()),
        Attribute::Id(name.into()),
    ];
    if let Some(len) = len {
        t.push(Attribute::ValueLen(len.into()));
    }
    t
}

fn fixture(t: &Env, rows: &[Row]) -> Fixture {
    let s = t.logged_in();
    let mut keys = BTreeMap::new();
    let mut put = |s: &Session, label: &str, h: ObjectHandle| {
        let id = attr_bytes(s, h, AttributeType::Id);
        keys.insert(label.to_string(), (h, id));
    };
    for name in ["enc-k", "dec-k", "wrp-kek", "unw-kek", "upd-k"] {
        let h = aes(&s, name, false);
        put(&s, name, h);
    }
    for name in ["wrp-tgt", "zz-unw-src", "zz-out"] {
        let h = aes(&s, name, true);
        put(&s, name, h);
    }
    for name in ["sig-k", "ver-k", "der-k", "zz-out-ec", "zz-peer"] {
        let (public, private) = ec(&s, name);
        put(&s, &format!("{name}.pub"), public);
        put(&s, name, private);
    }
    for r in rows.iter().filter(|r| r.act == Act::Destroy) {
        let name = format!("del-{}", r.n);
        let h = aes(&s, &name, false);
        put(&s, &name, h);
    }
    let k = |l: &str| keys[l].0;
    let dec_ct = s.encrypt(&gcm(&mut [3; 12]), k("dec-k"), PLAIN).unwrap();
    let ver_sig = s.sign(&Mechanism::Ecdsa, k("ver-k"), &DIGEST).unwrap();
    let unw_blob = s.wrap_key(&Mechanism::AesKeyWrap, k("unw-kek"), k("zz-unw-src")).unwrap();
    let peer = ec_point_raw(&attr_bytes(&s, k("zz-peer.pub"), AttributeType::EcPoint));
    let reference = s.derive_key(&ecdh(&peer), k("der-k"), &made(9999, Some(32))).unwrap();
    let fx = Fixture {
        dec_ct,
        ver_sig,
        unw_blob,
        unw_print: fingerprint(&s, k("zz-unw-src")),
        wrp_print: fingerprint(&s, k("wrp-tgt")),
        der_print: fingerprint(&s, reference),
        peer,
        keys,
    };
    s.logout().unwrap();
    fx
}

/// The labels of the keys a row acts on (the first is the one its action names).
fn subjects(r: &Row) -> Vec<String> {
    match r.act {
        Act::Encrypt => vec!["enc-k".into()],
        Act::Decrypt => vec!["dec-k".into()],
        Act::Sign => vec!["sig-k".into(), "sig-k.pub".into()],
        Act::Verify => vec!["ver-k.pub".into(), "ver-k".into()],
        Act::Wrap => vec!["wrp-kek".into(), "wrp-tgt".into()],
        Act::Unwrap => vec!["unw-kek".into()],
        Act::Derive => vec!["der-k".into(), "der-k.pub".into()],
        Act::Generate => vec![],
        Act::Update => vec!["upd-k".into()],
        Act::Destroy => vec![format!("del-{}", r.n)],
    }
}

fn policy(r: &Row, fx: &Fixture) -> String {
    let resources: Vec<String> = match r.pat {
        Pat::All => vec!["key/*".into()],
        Pat::Alias => vec![format!("alias/{}-*", r.act.prefix())],
        Pat::Id if r.act == Act::Generate => {
            vec![format!("key/{}", hex::encode(format!("gen-{}", r.n)))]
        }
        Pat::Id => subjects(r)
            .iter()
            .map(|l| format!("key/{}", hex::encode(&fx.keys[l].1)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    let resources = format!("{resources:?}");
    let mut p = format!(
        "[[statement]]\nsid = \"row\"\nactions = [\"{}\"]\nresources = {resources}\n{}\n",
        r.act.policy_name(),
        r.cond.toml()
    );
    if r.see {
        p.push_str(&format!(
            "[[statement]]\nsid = \"see\"\nactions = [\"enable\"]\nresources = {resources}\n\n"
        ));
    }
    p.push_str(
        "[[statement]]\nsid = \"made\"\nactions = [\"generate\"]\nresources = [\"alias/made-*\"]\n",
    );
    p
}

/// What an allowed row left to check under the user PIN.
enum Later {
    Ciphertext(Vec<u8>),
    Signature(Vec<u8>),
    Blob(Vec<u8>),
    Made,
    Generated,
    Gone,
    Nothing,
}

/// The handles a row's action works on: the named key, and the second one it needs
/// (the public key of a pair, the key to wrap).
type Handles = (ObjectHandle, Option<ObjectHandle>);

/// Runs the row's action once on `h`.
fn act(s: &Session, r: &Row, fx: &Fixture, h: Handles) -> Result<Later, RvError> {
    let code = |res: cryptoki::error::Result<()>| code_of(&res);
    match r.act {
        Act::Encrypt => {
            let res = s.encrypt(&gcm(&mut [5; 12]), h.0, PLAIN);
            code_of(&res).map(|_| Later::Ciphertext(res.unwrap()))
        }
        Act::Decrypt => {
            let res = s.decrypt(&gcm(&mut [3; 12]), h.0, &fx.dec_ct);
            code_of(&res)?;
            assert_eq!(res.unwrap(), PLAIN, "row {r:?}: decrypt gave another plaintext");
            Ok(Later::Nothing)
        }
        Act::Sign => {
            let res = s.sign(&Mechanism::Ecdsa, h.0, &DIGEST);
            code_of(&res).map(|_| Later::Signature(res.unwrap()))
        }
        Act::Verify => {
            code(s.verify(&Mechanism::Ecdsa, h.0, &DIGEST, &fx.ver_sig))?;
            let mut bad = fx.ver_sig.clone();
            bad[5] ^= 1;
            assert_eq!(
                code(s.verify(&Mechanism::Ecdsa, h.0, &DIGEST, &bad)),
                Err(RvError::SignatureInvalid),
                "row {r:?}: a tampered signature"
            );
            Ok(Later::Nothing)
        }
        Act::Wrap => {
            let res = s.wrap_key(&Mechanism::AesKeyWrap, h.0, h.1.unwrap());
            code_of(&res).map(|_| Later::Blob(res.unwrap()))
        }
        Act::Unwrap => {
            let res = s.unwrap_key(&Mechanism::AesKeyWrap, h.0, &fx.unw_blob, &made(r.n, None));
            code(res.map(|_| ())).map(|_| Later::Made)
        }
        Act::Derive => {
            let res = s.derive_key(&ecdh(&fx.peer), h.0, &made(r.n, Some(32)));
            code(res.map(|_| ())).map(|_| Later::Made)
        }
        Act::Generate => {
            let name = format!("gen-{}", r.n);
            let res = s.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Token(true),
                    Attribute::ValueLen(32.into()),
                    Attribute::Encrypt(true),
                    Attribute::Label(name.clone().into()),
                    Attribute::Id(name.into()),
                ],
            );
            code(res.map(|_| ())).map(|_| Later::Generated)
        }
        Act::Update => {
            let label = format!("upd-{}", r.n);
            code(s.update_attributes(h.0, &[Attribute::Label(label.clone().into())]))?;
            let back = attr_bytes(s, h.0, AttributeType::Label);
            assert_eq!(back, label.as_bytes(), "row {r:?}: the new label");
            Ok(Later::Nothing)
        }
        Act::Destroy => code(s.destroy_object(h.0)).map(|_| Later::Gone),
    }
}

/// The code the row's function gives a handle of an object the caller cannot see.
fn invisible_code(a: Act) -> RvError {
    match a {
        Act::Wrap => RvError::WrappingKeyHandleInvalid,
        Act::Unwrap => RvError::UnwrappingKeyHandleInvalid,
        Act::Update | Act::Destroy | Act::Generate => RvError::ObjectHandleInvalid,
        _ => RvError::KeyHandleInvalid,
    }
}

/// Another action on the row's key, which its policy does not allow.
fn other_action(s: &Session, r: &Row, fx: &Fixture, h: Handles) -> Result<(), RvError> {
    let r2 = |res: cryptoki::error::Result<Vec<u8>>| code_of(&res);
    match r.act {
        Act::Encrypt => r2(s.decrypt(&gcm(&mut [3; 12]), h.0, &fx.dec_ct)),
        Act::Sign => code_of(&s.verify(&Mechanism::Ecdsa, h.1.unwrap(), &DIGEST, &fx.ver_sig)),
        Act::Verify | Act::Derive => r2(s.sign(&Mechanism::Ecdsa, h.1.unwrap(), &DIGEST)),
        _ => r2(s.encrypt(&gcm(&mut [5; 12]), h.0, PLAIN)),
    }
}

fn find_by_id(s: &Session, class: ObjectClass, id: &[u8]) -> Vec<ObjectHandle> {
    s.find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())]).unwrap()
}

fn class_of(label: &str) -> ObjectClass {
    if label.ends_with(".pub") {
        ObjectClass::PUBLIC_KEY
    } else if ["sig-k", "ver-k", "der-k", "zz-out-ec", "zz-peer"].contains(&label) {
        ObjectClass::PRIVATE_KEY
    } else {
        ObjectClass::SECRET_KEY
    }
}

/// The outsider keys standing in for a row's subjects: the same kinds, never covered
/// by `key/<id>` or `alias/<prefix>-*`.
fn outsiders(r: &Row, fx: &Fixture) -> Handles {
    let k = |l: &str| fx.keys[l].0;
    match r.act {
        Act::Sign | Act::Derive => (k("zz-out-ec"), Some(k("zz-out-ec.pub"))),
        Act::Verify => (k("zz-out-ec.pub"), Some(k("zz-out-ec"))),
        Act::Wrap => (k("zz-out"), Some(k("zz-out"))),
        _ => (k("zz-out"), None),
    }
}

/// Labels of every object a guessed handle up to the highest handle this login
/// found (and a margin) reaches: none may be hidden from it.
fn reachable(s: &Session) -> Vec<String> {
    let all = s.find_objects(&[]).unwrap();
    let top = all.iter().map(|h| h.handle()).max().unwrap_or(0) + 64;
    let mut out = Vec::new();
    for h in 1..=top {
        // SAFETY: a guessed handle is the point: the module must refuse what it hides.
        let h = unsafe { ObjectHandle::new_from_raw(h) };
        if let Ok(a) = s.get_attributes(h, &[AttributeType::Label]) {
            if let Some(Attribute::Label(l)) = a.first() {
                out.push(String::from_utf8_lossy(l).into_owned());
            }
        }
    }
    out
}

fn run_row(t: &Env, r: &Row, key: &str, fx: &Fixture) -> Later {
    let s = t.rw_session();
    login_key(&s, key).unwrap_or_else(|e| panic!("row {r:?}: login: {e}"));
    let visible = r.see || r.allowed();
    let labels = subjects(r);
    // Visible keys are found; invisible ones are not, and no handle reaches them.
    let mut handles = Vec::new();
    for l in &labels {
        let (_, id) = &fx.keys[l];
        let found = find_by_id(&s, class_of(l), id);
        if visible {
            assert_eq!(found.len(), 1, "row {r:?}: {l} is visible");
            handles.push(found[0]);
        } else {
            assert!(found.is_empty(), "row {r:?}: {l} must be invisible, found {found:?}");
        }
    }
    let hidden_outsiders = r.pat != Pat::All || !visible;
    if !visible || (hidden_outsiders && r.n.is_multiple_of(7)) {
        let seen = reachable(&s);
        for l in seen.iter() {
            let l = l.as_str();
            let bad = (hidden_outsiders && l.starts_with("zz-out"))
                || (!visible && labels.iter().any(|s| s.trim_end_matches(".pub") == l));
            assert!(!bad, "row {r:?}: a guessed handle reached {l}: {seen:?}");
        }
    }
    let mut later = Later::Nothing;
    if visible {
        let h: Handles =
            (handles.first().copied().unwrap_or(fx.keys["zz-out"].0), handles.get(1).copied());
        let got = act(&s, r, fx, h);
        if r.allowed() {
            later = got.unwrap_or_else(|e| panic!("row {r:?}: allowed, got {e}"));
            if !matches!(r.act, Act::Destroy | Act::Generate) {
                assert_eq!(
                    other_action(&s, r, fx, h),
                    Err(RvError::KeyFunctionNotPermitted),
                    "row {r:?}: an action the policy does not name"
                );
            }
        } else {
            assert_eq!(got.err(), Some(RvError::KeyFunctionNotPermitted), "row {r:?}: denied");
        }
        if r.act == Act::Wrap && r.allowed() && r.pat != Pat::All {
            // The key to wrap must be visible too: an outsider in its place is no key.
            let res = s.wrap_key(&Mechanism::AesKeyWrap, h.0, fx.keys["zz-out"].0);
            assert_eq!(
                code_of(&res),
                Err(RvError::KeyHandleInvalid),
                "row {r:?}: wrap an outsider"
            );
        }
        if r.act == Act::Update && r.allowed() && r.pat == Pat::Id {
            let res = s.update_attributes(h.0, &[Attribute::Id(b"zz-moved".to_vec())]);
            assert_eq!(
                code_of(&res),
                Err(RvError::KeyFunctionNotPermitted),
                "row {r:?}: new id outside"
            );
        }
        if r.act == Act::Update && r.allowed() && r.pat == Pat::Alias {
            let res = s.update_attributes(h.0, &[Attribute::Label("zz-renamed".into())]);
            assert_eq!(
                code_of(&res),
                Err(RvError::KeyFunctionNotPermitted),
                "row {r:?}: rename outside"
            );
        }
    }
    if hidden_outsiders {
        // The outsiders are public objects: the user PIN's handles still name them.
        for l in ["zz-out", "zz-out-ec", "zz-out-ec.pub"] {
            let (_, id) = &fx.keys[l];
            assert!(find_by_id(&s, class_of(l), id).is_empty(), "row {r:?}: {l} was found");
        }
        let o = outsiders(r, fx);
        if r.act != Act::Generate {
            let got = act(&s, r, fx, o).map(|_| ());
            assert_eq!(got, Err(invisible_code(r.act)), "row {r:?}: an outsider's handle");
        }
        assert_eq!(
            code_of(&s.get_attributes(o.0, &[AttributeType::Label])),
            Err(RvError::ObjectHandleInvalid),
            "row {r:?}: reading an outsider"
        );
    }
    s.logout().unwrap();
    later
}

/// Under the user PIN: what the rows produced is right, and what they were refused
/// did not happen.
fn check_outputs(t: &Env, fx: &Fixture, done: &[(Row, Later)]) {
    let s = t.logged_in();
    // A private key's handle dies with a logout: found again by CKA_ID.
    let k = |l: &str| {
        let found = find_by_id(&s, class_of(l), &fx.keys[l].1);
        assert_eq!(found.len(), 1, "{l}");
        if public(l) {
            assert_eq!(found[0], fx.keys[l].0, "a public object keeps its handle");
        }
        found[0]
    };
    let label = |l: String| -> Vec<ObjectHandle> {
        s.find_objects(&[Attribute::Label(l.into_bytes())]).unwrap()
    };
    for (r, later) in done {
        let n = r.n;
        match later {
            Later::Ciphertext(ct) => {
                let pt = s.decrypt(&gcm(&mut [5; 12]), k("enc-k"), ct).unwrap();
                assert_eq!(pt, PLAIN, "row {r:?}: the ciphertext opens");
            }
            Later::Signature(sig) => {
                s.verify(&Mechanism::Ecdsa, k("sig-k.pub"), &DIGEST, sig)
                    .unwrap_or_else(|e| panic!("row {r:?}: the signature verifies: {e}"));
            }
            Later::Blob(blob) => {
                let back = s
                    .unwrap_key(&Mechanism::AesKeyWrap, k("wrp-kek"), blob, &made(10_000 + n, None))
                    .unwrap();
                assert_eq!(fingerprint(&s, back), fx.wrp_print, "row {r:?}: the wrapped key");
            }
            Later::Made => {
                let h = label(format!("made-{n}"));
                assert_eq!(h.len(), 1, "row {r:?}: the made key");
                let want = if r.act == Act::Unwrap { &fx.unw_print } else { &fx.der_print };
                assert_eq!(&fingerprint(&s, h[0]), want, "row {r:?}: the made key's value");
            }
            Later::Generated => assert_eq!(label(format!("gen-{n}")).len(), 1, "row {r:?}"),
            Later::Gone => assert!(label(format!("del-{n}")).is_empty(), "row {r:?}: destroyed"),
            Later::Nothing => {}
        }
        if !r.allowed() {
            match r.act {
                Act::Generate => assert!(label(format!("gen-{n}")).is_empty(), "row {r:?}"),
                Act::Unwrap | Act::Derive => assert!(label(format!("made-{n}")).is_empty()),
                Act::Destroy => assert_eq!(label(format!("del-{n}")).len(), 1, "row {r:?}: kept"),
                _ => {}
            }
        }
    }
    // The outsiders' handles, refused to every row, are theirs all along.
    for l in ["zz-out", "zz-out-ec", "zz-out-ec.pub"] {
        assert_eq!(
            attr_bytes(&s, k(l), AttributeType::Label),
            l.trim_end_matches(".pub").as_bytes()
        );
    }
    // Refused renames left the label where the last allowed one put it.
    let last = done.iter().rev().find(|(r, _)| r.act == Act::Update && r.allowed()).unwrap();
    assert_eq!(
        attr_bytes(&s, k("upd-k"), AttributeType::Label),
        format!("upd-{}", last.0.n).as_bytes()
    );
    s.logout().unwrap();
}

fn matrix(target: Target) {
    let t = Env::new(target);
    let rows = rows();
    let start = Instant::now();
    let fx = fixture(&t, &rows);
    let made = start.elapsed();
    // In batches, each access point deleted after its rows: every change to the
    // access points makes each process re-read them all.
    let mut done: Vec<(Row, Later)> = Vec::new();
    for batch in rows.chunks(40) {
        let so = so_session(&t);
        let keys: Vec<String> = batch
            .iter()
            .map(|r| {
                let ap = create(&so, &format!("mx-{}", r.n), &policy(r, &fx))
                    .unwrap_or_else(|e| panic!("row {r:?}: create: {e}\n{}", policy(r, &fx)));
                add_credential(&so, ap)
            })
            .collect();
        so.logout().unwrap();
        drop(so);
        done.extend(batch.iter().zip(&keys).map(|(r, key)| (*r, run_row(&t, r, key, &fx))));
        let so = so_session(&t);
        for r in batch {
            so.destroy_object(find(&so, &format!("mx-{}", r.n)).unwrap()).unwrap();
        }
        so.logout().unwrap();
    }
    check_outputs(&t, &fx, &done);
    eprintln!(
        "{} rows on {}: fixture {made:?}, all {:?}",
        rows.len(),
        target.name(),
        start.elapsed()
    );
}

#[test]
fn software_matrix() {
    matrix(Target::Software);
}

#[test]
fn hardware_matrix() {
    matrix(Target::Bridge);
}
