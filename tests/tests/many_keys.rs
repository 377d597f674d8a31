//! An instance holding many keys (issue 14): a find by label or by CKA_ID among them
//! returns exactly the key asked for, the same front handle every time; a key another
//! process destroys is no longer found nor usable here through a handle this process
//! held (no stale entry answers for it), while every other key's handle stays valid.
//! On a hardware instance and a software instance. The child process is this binary
//! (`child`, role `destroy`).

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::keys::find;
use kmsbridge_testkit::keys::PROBE;
use kmsbridge_testkit::module::Module;
use kmsbridge_tests::{on_both_instances, Env, Target};
use std::time::Duration;

on_both_instances!(finds_among_many_keys_and_forgets_one_destroyed_elsewhere);

/// Enough keys that a lookup answered by position or by a scan's first hit would show.
const KEYS: usize = 150;

fn label(i: usize) -> Vec<u8> {
    format!("many-{i}").into_bytes()
}

fn id(i: usize) -> Vec<u8> {
    (i as u64).to_be_bytes().to_vec()
}

fn make(s: &Session, i: usize) -> ObjectHandle {
    let t = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::ValueLen(16.into()),
        Attribute::Label(label(i)),
        Attribute::Id(id(i)),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ];
    s.generate_key(&Mechanism::AesKeyGen, &t).expect("C_GenerateKey")
}

fn by_label(s: &Session, i: usize) -> Vec<ObjectHandle> {
    find(s, &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Label(label(i))])
}

fn by_id(s: &Session, i: usize) -> Vec<ObjectHandle> {
    find(s, &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Id(id(i))])
}

/// The key's CKA_ID and CKA_LABEL as the module answers them.
fn names(s: &Session, h: ObjectHandle) -> (Vec<u8>, Vec<u8>) {
    let a = s
        .get_attributes(h, &[AttributeType::Id, AttributeType::Label])
        .expect("C_GetAttributeValue");
    match a.as_slice() {
        [Attribute::Id(i), Attribute::Label(l)] => (i.clone(), l.clone()),
        other => panic!("attributes {other:?}"),
    }
}

fn finds_among_many_keys_and_forgets_one_destroyed_elsewhere(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let made: Vec<ObjectHandle> = (0..KEYS).map(|i| make(&s, i)).collect();
    // A fresh session finds them as another application would.
    let s2 = t.rw_session();
    for i in [0, 1, KEYS / 2, KEYS - 1] {
        let l = by_label(&s2, i);
        assert_eq!(l.len(), 1, "key {i} by label: {l:?}");
        assert_eq!(by_id(&s2, i), l, "key {i}: by CKA_ID the same handle as by label");
        assert_eq!(l[0], made[i], "key {i}: the handle it was made with");
        assert_eq!(names(&s2, l[0]), (id(i), label(i)), "key {i}: the key asked for");
    }
    let victim = KEYS / 3;
    s2.encrypt(&Mechanism::AesEcb, made[victim], &PROBE).expect("the key works before");

    let (mut child, rx) = spawn("child", "destroy", &[(ARG, &hex::encode(id(victim)))]);
    wait_for(&rx, "DESTROYED", Duration::from_secs(60));
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success(), "the child failed");

    assert_eq!(by_label(&s2, victim), Vec::<ObjectHandle>::new(), "found after its destruction");
    assert_eq!(by_id(&s2, victim), Vec::<ObjectHandle>::new(), "found by id after its destruction");
    assert!(
        s2.encrypt(&Mechanism::AesEcb, made[victim], &PROBE).is_err(),
        "a key destroyed by another process still encrypts through a handle held here"
    );
    for i in [0, victim - 1, victim + 1, KEYS - 1] {
        s2.encrypt(&Mechanism::AesEcb, made[i], &PROBE)
            .unwrap_or_else(|e| panic!("key {i}'s handle after another key went: {e}"));
        assert_eq!(by_label(&s2, i), vec![made[i]], "key {i} found as before");
    }
}

/// The child: finds the key of the CKA_ID given (hex) and destroys it.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    if role().as_deref() != Some("destroy") {
        return;
    }
    let id = hex::decode(arg()).expect("hex id");
    let m = Module::load();
    let s = m.user_session();
    let found = find(&s, &[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Id(id)]);
    assert_eq!(found.len(), 1, "the child finds the key once: {found:?}");
    s.destroy_object(found[0]).expect("C_DestroyObject");
    say("DESTROYED");
}
