//! A software instance holding thousands of keys (issue 14): finds go through the
//! store's index and answer exactly the matching handles; what another process
//! commits (a key renamed, destroyed, created) is seen once it lands, through the
//! store's change log; keys evicted from a small object cache load again and work
//! with the same material. The keys are put in the store through the backend's bulk
//! path (`bulk_keys`); everything else goes through libkmsbridge.so.
//! Needs `cargo build --release`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::time::Duration;

use cryptoki::object::{Attribute, AttributeType, ObjectClass};

use kmsbridge_testkit::harness::*;
use kmsbridge_testkit::keys::{attr_bytes, find, fingerprint, gen_token_aes, round_trip};
use kmsbridge_testkit::module::Module;
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::software::{bulk_keys, integrity_check, store_dir};

const MANY: usize = 3000;
const TIMEOUT: Duration = Duration::from_secs(120);

fn label(s: &str) -> Attribute {
    Attribute::Label(s.as_bytes().to_vec())
}

fn id(s: &str) -> Attribute {
    Attribute::Id(s.as_bytes().to_vec())
}

/// The child's part; does nothing unless started by a test below.
#[test]
#[ignore = "a child role: the parent test runs it in its own process"]
fn child() {
    if role().as_deref() == Some("change") {
        let m = Module::load();
        let s = m.user_session();
        let one = find(&s, &[label("k-1")]);
        assert_eq!(one.len(), 1);
        s.update_attributes(one[0], &[label("renamed")]).expect("C_SetAttributeValue");
        let two = find(&s, &[label("k-2")]);
        assert_eq!(two.len(), 1);
        s.destroy_object(two[0]).expect("C_DestroyObject");
        gen_token_aes(&s, "new-key", b"new-id").expect("C_GenerateKey");
        say("CHANGED");
    }
}

#[test]
fn finds_among_many_keys_answer_exactly_the_matching_handles() {
    let _rig = Rig::with_options(&RigOptions { software: true, ..Default::default() });
    bulk_keys(&store_dir(), "k-", 0..MANY);
    let m = Module::load();
    let s = m.user_session();
    for i in [0, 1, 10, 1499, MANY - 1] {
        let by_label = find(&s, &[label(&format!("k-{i}"))]);
        assert_eq!(by_label.len(), 1, "k-{i} by label");
        assert_eq!(attr_bytes(&s, by_label[0], AttributeType::Id), format!("k-id-{i}").as_bytes());
        let by_id = find(&s, &[id(&format!("k-id-{i}"))]);
        assert_eq!(by_id, by_label, "k-{i} by CKA_ID");
        round_trip(&s, by_id[0], &format!("k-{i}"));
    }
    let both = find(&s, &[Attribute::Class(ObjectClass::SECRET_KEY), label("k-5"), id("k-id-5")]);
    assert_eq!(both.len(), 1);
    assert!(find(&s, &[label("k-5"), id("k-id-6")]).is_empty(), "label of one, id of another");
    assert!(find(&s, &[Attribute::Class(ObjectClass::DATA), label("k-5")]).is_empty());
    assert!(find(&s, &[label(&format!("k-{MANY}"))]).is_empty());
    assert!(find(&s, &[label("k-")]).is_empty(), "a prefix is not a match");
    // Not indexed (CKA_ENCRYPT) beside an indexed one; and the class alone.
    assert_eq!(find(&s, &[label("k-7"), Attribute::Encrypt(true)]).len(), 1);
    assert!(find(&s, &[label("k-7"), Attribute::Encrypt(false)]).is_empty());
    let all: BTreeSet<_> = find(&s, &[Attribute::Class(ObjectClass::SECRET_KEY)])
        .into_iter()
        .map(|h| h.handle())
        .collect();
    assert_eq!(all.len(), MANY, "every key once");
    // A public data object beside them, found by label and application.
    s.create_object(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(false),
        label("k-3"),
        Attribute::Application(b"scale-test".to_vec()),
        Attribute::Value(b"hello".to_vec()),
    ])
    .expect("C_CreateObject");
    assert_eq!(find(&s, &[label("k-3")]).len(), 2, "the key and the data object");
    let data = find(&s, &[Attribute::Application(b"scale-test".to_vec())]);
    assert_eq!(data.len(), 1);
    assert_eq!(attr_bytes(&s, data[0], AttributeType::Value), b"hello");
    integrity_check(&store_dir());
}

#[test]
fn another_processs_commits_are_seen_once_they_land() {
    let _rig = Rig::with_options(&RigOptions { software: true, ..Default::default() });
    bulk_keys(&store_dir(), "k-", 0..500);
    let m = Module::load();
    let s = m.user_session();
    // This process has found and used them: they are in its cache.
    let one = find(&s, &[label("k-1")]);
    let two = find(&s, &[label("k-2")]);
    let fp_one = fingerprint(&s, one[0]);
    fingerprint(&s, two[0]);
    assert!(find(&s, &[label("new-key")]).is_empty());

    let (mut c, rx) = spawn("child", "change", &[]);
    wait_for(&rx, "CHANGED", TIMEOUT);
    assert!(wait_exit(&mut c, TIMEOUT).success(), "the other process failed");

    assert!(find(&s, &[label("k-1")]).is_empty(), "the old label still matches");
    let renamed = find(&s, &[label("renamed")]);
    assert_eq!(renamed.len(), 1, "the new label");
    assert_eq!(attr_bytes(&s, renamed[0], AttributeType::Id), b"k-id-1");
    assert_eq!(fingerprint(&s, renamed[0]), fp_one, "same key, same material");
    assert!(find(&s, &[label("k-2")]).is_empty(), "the destroyed key is still found");
    assert!(find(&s, &[id("k-id-2")]).is_empty());
    let new = find(&s, &[label("new-key")]);
    assert_eq!(new.len(), 1, "the key made elsewhere");
    round_trip(&s, new[0], "new-key");
    assert_eq!(find(&s, &[label("k-3")]).len(), 1, "an untouched key");
}

#[test]
fn keys_evicted_from_a_small_cache_load_again_with_the_same_material() {
    let rig = Rig::with_options(&RigOptions { software: true, ..Default::default() });
    // The [[instance]] table is the last of the rig's software config.
    let conf = rig.dir().join("kmsbridge.toml");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("\nobject_cache = 4\n");
    std::fs::write(&conf, text).unwrap();
    bulk_keys(&store_dir(), "k-", 0..40);
    let m = Module::load();
    let s = m.user_session();
    let keys: Vec<_> = (0..40)
        .map(|i| {
            let h = find(&s, &[label(&format!("k-{i}"))]);
            assert_eq!(h.len(), 1);
            (h[0], fingerprint(&s, h[0]))
        })
        .collect();
    // Forty keys through a cache of four: the early ones were evicted and load again.
    for (i, (h, fp)) in keys.iter().enumerate() {
        assert_eq!(&fingerprint(&s, *h), fp, "k-{i} after eviction");
        round_trip(&s, *h, &format!("k-{i}"));
    }
}
