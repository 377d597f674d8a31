//! A process that makes and destroys keys for a long time does not grow (issue 10:
//! "0 leaks"). The fuzz campaign found the module keeping a name for every object it
//! ever gave a handle (docs/FUZZING.md, "Leaks"): about 150 B per object made and
//! destroyed. Here 60,000 session keys are made and destroyed through
//! libkmsbridge.so on a software instance, and the resident memory after the last
//! 50,000 must stay within a bound far below what keeping them would cost.
//! Needs `cargo build --release`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::object::{Attribute, KeyType, ObjectClass};
use kmsbridge_testkit::module::Module;
use kmsbridge_testkit::rig::{Rig, RigOptions};

/// Objects made before the first reading: caches and the allocator settle.
const WARM: usize = 10_000;
/// Objects made and destroyed between the two readings.
const CHURN: usize = 50_000;
/// Growth allowed over the churn: a third of what keeping 150 B per object would
/// cost (7.5 MB), so allocator noise passes and the old growth does not.
const ALLOWED_KB: u64 = 2_500;

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn churn(s: &cryptoki::session::Session, n: usize, from: usize) {
    for i in from..from + n {
        let o = s
            .create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Token(false),
                Attribute::Encrypt(true),
                Attribute::Label(format!("churn-{i}").into_bytes()),
                Attribute::Id(format!("id-{i}").into_bytes()),
                Attribute::Value(vec![7; 16]),
            ])
            .expect("C_CreateObject");
        s.destroy_object(o).expect("C_DestroyObject");
    }
}

#[test]
fn making_and_destroying_objects_does_not_grow_the_process() {
    let _rig = Rig::with_options(&RigOptions { software: true, ..Default::default() });
    let m = Module::load();
    let s = m.user_session();
    churn(&s, WARM, 0);
    let before = rss_kb();
    churn(&s, CHURN, WARM);
    let after = rss_kb();
    let grew = after.saturating_sub(before);
    println!(
        "resident {before} kB after {WARM} objects, {after} kB after {CHURN} more: +{grew} kB"
    );
    assert!(
        grew <= ALLOWED_KB,
        "the process grew by {grew} kB over {CHURN} objects made and destroyed \
         ({} B each; allowed {ALLOWED_KB} kB)",
        grew * 1024 / CHURN as u64
    );
}
