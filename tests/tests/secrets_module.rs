//! Secrets through the module on a software and a hardware instance (docs/SECRETS.md):
//! versions and stages, idempotent puts, the CKO_DATA view (finds by class, label and
//! application; other versions and stages by selector attributes), deletion and
//! restore, metadata, and access points (`secret-read`, `secret-admin` on
//! `secret/<glob>`). Needs `cargo build --release -p kmsbridge`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::error::RvError;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use kmsbridge_testkit::codes::err_of;
use kmsbridge_tests::access::{login_key, make_point};
use kmsbridge_tests::kms::*;
use kmsbridge_tests::secrets::*;
use kmsbridge_tests::{Env, Target};

fn versions_and_stages(target: Target) {
    let t = Env::new(target);
    let s = t.logged_in();
    let h1 = put(&s, "app/db", b"first value", None).unwrap();
    let v1 = text(&s, h1, CKA_KMSBRIDGE_SECRET_VERSION_ID);
    assert_eq!(text(&s, h1, CKA_KMSBRIDGE_SECRET_STAGES), "ACSCurrent");
    assert_eq!(current(&s, "app/db"), b"first value");

    // A second put takes ACSCurrent; the first becomes ACSPrevious.
    let h2 = put(&s, "app/db", b"second value", None).unwrap();
    let v2 = text(&s, h2, CKA_KMSBRIDGE_SECRET_VERSION_ID);
    assert_ne!(v1, v2);
    assert_eq!(current(&s, "app/db"), b"second value");
    let prev = find(&s, "app/db", Some("ACSPrevious"), None);
    assert_eq!(prev.len(), 1);
    assert_eq!(value(&s, prev[0]).unwrap(), b"first value");
    assert_eq!(text(&s, prev[0], CKA_KMSBRIDGE_SECRET_VERSION_ID), v1);
    assert_eq!(text(&s, prev[0], CKA_KMSBRIDGE_SECRET_STAGE), "ACSPrevious");
    let by_id = find(&s, "app/db", None, Some(&v1));
    assert_eq!(value(&s, by_id[0]).unwrap(), b"first value");
    assert!(find(&s, "app/db", Some("ACSPending"), None).is_empty());

    // Idempotent by version id.
    put(&s, "app/db", b"third", Some("fixed-1")).unwrap();
    put(&s, "app/db", b"third", Some("fixed-1")).unwrap();
    assert_eq!(
        err_of(put(&s, "app/db", b"not third", Some("fixed-1"))),
        RvError::AttributeValueInvalid
    );
    assert_eq!(current(&s, "app/db"), b"third");
    let cur = find(&s, "app/db", None, None)[0];
    let meta = info(&s, cur);
    assert_eq!(meta["versions"].as_array().unwrap().len(), 3, "{meta}");
    assert_eq!(meta["type"], "generic");

    // A custom stage moves freely; ACSCurrent moves back with ACSPrevious following.
    s.update_attributes(
        cur,
        &[
            vattr(CKA_KMSBRIDGE_SECRET_STAGE, b"blue"),
            vattr(CKA_KMSBRIDGE_SECRET_MOVE_TO, v1.as_bytes()),
        ],
    )
    .unwrap();
    let blue = find(&s, "app/db", Some("blue"), None);
    assert_eq!(value(&s, blue[0]).unwrap(), b"first value");
    s.update_attributes(
        cur,
        &[
            vattr(CKA_KMSBRIDGE_SECRET_STAGE, b"ACSCurrent"),
            vattr(CKA_KMSBRIDGE_SECRET_MOVE_TO, v2.as_bytes()),
            vattr(CKA_KMSBRIDGE_SECRET_REMOVE_FROM, b"fixed-1"),
        ],
    )
    .unwrap();
    assert_eq!(current(&s, "app/db"), b"second value");
    let prev = find(&s, "app/db", Some("ACSPrevious"), None);
    assert_eq!(text(&s, prev[0], CKA_KMSBRIDGE_SECRET_VERSION_ID), "fixed-1");

    // Finds by class and label see the secret like any data object; public sessions do not.
    let all_data = s.find_objects(&[Attribute::Class(ObjectClass::DATA)]).unwrap();
    assert!(all_data.iter().any(|h| value(&s, *h).ok().as_deref() == Some(b"second value")));
    let by_label = s.find_objects(&[Attribute::Label(b"app/db".to_vec())]).unwrap();
    assert_eq!(by_label.len(), 1);
    let app = s.get_attributes(by_label[0], &[AttributeType::Application]).unwrap();
    assert_eq!(app, vec![Attribute::Application(APPLICATION.to_vec())]);
    s.logout().unwrap();
    assert!(s.find_objects(&[Attribute::Label(b"app/db".to_vec())]).unwrap().is_empty());
    assert_eq!(err_of(value(&s, cur)), RvError::ObjectHandleInvalid);
    s.login(cryptoki::session::UserType::User, Some(&t.user_auth())).unwrap();
    let cur = find(&s, "app/db", None, None)[0];

    // The module's records are never shown, and applications cannot make one.
    let rec = s.find_objects(&[Attribute::Application(b"kmsbridge.secretrec".to_vec())]).unwrap();
    assert!(rec.is_empty());
    let planted = s.create_object(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Application(b"kmsbridge.secretrec".to_vec()),
        Attribute::Label(b"app/db".to_vec()),
        Attribute::Value(b"x".to_vec()),
    ]);
    assert!(planted.is_err(), "a planted record is refused");

    // Deletion: still found, the value refused, restore brings it back.
    s.destroy_object(cur).unwrap();
    let cur = find(&s, "app/db", None, None)[0];
    assert_eq!(err_of(value(&s, cur)), RvError::AttributeSensitive);
    let meta = info(&s, cur);
    let after = meta["deletion"]["delete_after"].as_u64().unwrap();
    let requested = meta["deletion"]["requested"].as_u64().unwrap();
    assert_eq!(after - requested, 7 * 86_400);
    assert_eq!(err_of(put(&s, "app/db", b"during deletion", None)), RvError::ActionProhibited);
    s.update_attributes(cur, &[vattr(CKA_KMSBRIDGE_SECRET_RESTORE, &[1])]).unwrap();
    assert_eq!(current(&s, "app/db"), b"second value");

    // Metadata and a longer window.
    s.update_attributes(
        cur,
        &[
            vattr(CKA_KMSBRIDGE_DESCRIPTION, b"orders database"),
            vattr_ulong(CKA_KMSBRIDGE_SECRET_ROTATION_DAYS, 30),
        ],
    )
    .unwrap();
    let meta = info(&s, cur);
    assert_eq!(meta["description"], "orders database");
    assert_eq!(meta["rotation_days"], 30);
    assert_eq!(
        err_of(s.update_attributes(cur, &[vattr_ulong(CKA_KMSBRIDGE_PENDING_WINDOW_DAYS, 3)])),
        RvError::AttributeValueInvalid
    );
    s.update_attributes(cur, &[vattr_ulong(CKA_KMSBRIDGE_PENDING_WINDOW_DAYS, 30)]).unwrap();
    let meta = info(&s, cur);
    assert_eq!(
        meta["deletion"]["delete_after"].as_u64().unwrap()
            - meta["deletion"]["requested"].as_u64().unwrap(),
        30 * 86_400
    );

    // Bad input.
    assert_eq!(err_of(put(&s, "/bad", b"x", None)), RvError::AttributeValueInvalid);
    assert_eq!(
        err_of(put_with(&s, "new/one", b"x", vec![vattr(CKA_KMSBRIDGE_SECRET_TYPE, b"nope")])),
        RvError::AttributeValueInvalid
    );
    put_with(&s, "new/one", b"x", vec![vattr(CKA_KMSBRIDGE_SECRET_NEW, &[1])]).unwrap();
    assert_eq!(
        err_of(put_with(&s, "new/one", b"y", vec![vattr(CKA_KMSBRIDGE_SECRET_NEW, &[1])])),
        RvError::AttributeValueInvalid
    );
    let ro = t.ro_session();
    assert_eq!(err_of(put(&ro, "new/two", b"x", None)), RvError::SessionReadOnly);
}

#[test]
fn software_versions_and_stages() {
    versions_and_stages(Target::Software);
}

#[test]
fn hardware_versions_and_stages() {
    versions_and_stages(Target::Bridge);
}

const READER: &str = r#"
[[statement]]
actions = ["secret-read"]
resources = ["secret/app/*"]
"#;

const ADMIN: &str = r#"
[[statement]]
actions = ["secret-read", "secret-admin"]
resources = ["secret/app/*"]
"#;

fn access_points_decide(target: Target) {
    let t = Env::new(target);
    let reader = make_point(&t, "reader", READER);
    let admin = make_point(&t, "admin", ADMIN);
    let u = t.logged_in();
    put(&u, "app/db", b"app password", None).unwrap();
    put(&u, "other/x", b"other password", None).unwrap();
    u.logout().unwrap();
    drop(u);

    let s = t.rw_session();
    login_key(&s, &reader).unwrap();
    assert_eq!(current(&s, "app/db"), b"app password");
    assert!(find(&s, "other/x", None, None).is_empty(), "outside the policy: not found");
    let labels: Vec<_> = s
        .find_objects(&[Attribute::Class(ObjectClass::DATA)])
        .unwrap()
        .into_iter()
        .filter_map(|h| match s.get_attributes(h, &[AttributeType::Label]).ok()?.pop()? {
            Attribute::Label(l) => Some(String::from_utf8(l).unwrap()),
            _ => None,
        })
        .collect();
    assert!(
        labels.contains(&"app/db".to_string()) && !labels.contains(&"other/x".to_string()),
        "{labels:?}"
    );
    assert_eq!(err_of(put(&s, "app/db", b"new", None)), RvError::KeyFunctionNotPermitted);
    let h = find(&s, "app/db", None, None)[0];
    assert_eq!(
        err_of(s.update_attributes(h, &[vattr(CKA_KMSBRIDGE_DESCRIPTION, b"x")])),
        RvError::KeyFunctionNotPermitted
    );
    assert_eq!(err_of(s.destroy_object(h)), RvError::KeyFunctionNotPermitted);
    s.logout().unwrap();

    login_key(&s, &admin).unwrap();
    put(&s, "app/db", b"rotated by admin", None).unwrap();
    assert_eq!(current(&s, "app/db"), b"rotated by admin");
    assert_eq!(err_of(put(&s, "other/y", b"x", None)), RvError::KeyFunctionNotPermitted);
    s.logout().unwrap();
}

#[test]
fn software_access_points_decide() {
    access_points_decide(Target::Software);
}

#[test]
fn hardware_access_points_decide() {
    access_points_decide(Target::Bridge);
}
