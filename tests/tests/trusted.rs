//! Only the SO may set CKA_TRUSTED, on both kinds of instance.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use kmsbridge_testkit::codes::err_of;
use kmsbridge_tests::env::{Env, Target};

fn user_cannot_mark_a_key_trusted(target: Target) {
    let t = Env::new(target);
    let s = t.user_session();
    let made = s.generate_key(
        &Mechanism::AesKeyGen,
        &[Attribute::ValueLen(32.into()), Attribute::Trusted(true), Attribute::Wrap(true)],
    );
    assert_eq!(err_of(made), RvError::AttributeReadOnly, "C_GenerateKey with CKA_TRUSTED");
    let key = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(32.into()), Attribute::Wrap(true)],
        )
        .expect("an ordinary key");
    let set = s.update_attributes(key, &[Attribute::Trusted(true)]);
    assert_eq!(err_of(set), RvError::AttributeReadOnly, "C_SetAttributeValue CKA_TRUSTED");
}

#[test]
fn hardware_instance_refuses_trusted_from_the_user() {
    user_cannot_mark_a_key_trusted(Target::Bridge);
}

#[test]
fn software_instance_refuses_trusted_from_the_user() {
    user_cannot_mark_a_key_trusted(Target::Software);
}
