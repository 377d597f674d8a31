//! Version and stage semantics of the model, as AWS Secrets Manager defines them.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kmsbridge_secrets::*;

fn wrapper() -> LocalKeyWrapper {
    LocalKeyWrapper::random("cmk-test").unwrap()
}

fn secret() -> Secret {
    Secret::new(
        SecretName::new("prod/db/orders").unwrap(),
        SecretType::Generic,
        1000,
    )
}

fn stages(s: &Secret, id: &VersionId) -> Vec<String> {
    s.version(id)
        .unwrap()
        .stages
        .iter()
        .map(|x| x.to_string())
        .collect()
}

fn value(s: &Secret, w: &LocalKeyWrapper, sel: Selector) -> Vec<u8> {
    s.read(w, &sel).unwrap().1.to_vec()
}

#[test]
fn first_put_is_current_and_next_put_moves_previous() {
    let w = wrapper();
    let mut s = secret();
    assert!(matches!(
        s.current(),
        Err(SecretError::StageNotFound { .. })
    ));
    let v1 = s
        .put_value(
            &w,
            None,
            b"one",
            Some(vec![Stage::new("blue").unwrap()]),
            1001,
        )
        .unwrap();
    assert!(v1.created);
    assert_eq!(
        stages(&s, &v1.version),
        ["ACSCurrent", "blue"],
        "first version is always current"
    );
    let v2 = s.put_value(&w, None, b"two", None, 1002).unwrap();
    assert_eq!(stages(&s, &v2.version), ["ACSCurrent"]);
    assert_eq!(stages(&s, &v1.version), ["ACSPrevious", "blue"]);
    let v3 = s.put_value(&w, None, b"three", None, 1003).unwrap();
    assert_eq!(stages(&s, &v1.version), ["blue"]);
    assert_eq!(stages(&s, &v2.version), ["ACSPrevious"]);
    assert_eq!(value(&s, &w, Selector::default()), b"three");
    assert_eq!(value(&s, &w, Selector::Stage(Stage::previous())), b"two");
    assert_eq!(value(&s, &w, Selector::Version(v1.version.clone())), b"one");
    assert_eq!(s.read(&w, &Selector::default()).unwrap().0, v3.version);
    assert_eq!(s.updated(), 1003);
    s.check().unwrap();
}

#[test]
fn put_is_idempotent_by_version_id() {
    let w = wrapper();
    let mut s = secret();
    let id = VersionId::new("token-1").unwrap();
    let a = s.put_value(&w, Some(id.clone()), b"v", None, 1).unwrap();
    assert!(a.created);
    let before = s.clone();
    let again = s
        .put_value(
            &w,
            Some(id.clone()),
            b"v",
            Some(vec![Stage::new("x").unwrap()]),
            2,
        )
        .unwrap();
    assert!(!again.created);
    assert_eq!(s, before, "the same value again changes nothing");
    let e = s
        .put_value(&w, Some(id.clone()), b"w", None, 3)
        .unwrap_err();
    assert_eq!(
        e,
        SecretError::VersionExists {
            name: "prod/db/orders".into(),
            version: id
        }
    );
    assert!(e.to_string().contains("token-1"));
    assert_eq!(s, before);
}

#[test]
fn stage_moves_follow_update_secret_version_stage() {
    let w = wrapper();
    let mut s = secret();
    let v1 = s.put_value(&w, None, b"1", None, 1).unwrap().version;
    let v2 = s
        .put_value(&w, None, b"2", Some(vec![Stage::pending()]), 2)
        .unwrap()
        .version;
    assert_eq!(stages(&s, &v1), ["ACSCurrent"]);
    let cur = Stage::current();
    // Moving a stage that is on another version must name that version.
    let before = s.clone();
    let e = s.update_stage(&cur, Some(&v2), None, 3).unwrap_err();
    assert!(
        matches!(e, SecretError::StageAttached { ref on, .. } if on == &v1),
        "{e}"
    );
    let e = s.update_stage(&cur, Some(&v2), Some(&v2), 3).unwrap_err();
    assert!(matches!(e, SecretError::StageNotOnVersion { .. }), "{e}");
    assert_eq!(s, before, "a refused move changes nothing");
    // ACSCurrent can never be removed.
    let e = s.update_stage(&cur, None, Some(&v1), 3).unwrap_err();
    assert!(matches!(e, SecretError::CurrentRemoved { .. }));
    // Unknown versions are named.
    let ghost = VersionId::new("ghost").unwrap();
    let e = s
        .update_stage(&cur, Some(&ghost), Some(&v1), 3)
        .unwrap_err();
    assert!(e.to_string().contains("ghost"));
    // A proper move: v1 becomes previous.
    s.update_stage(&cur, Some(&v2), Some(&v1), 4).unwrap();
    assert_eq!(stages(&s, &v2), ["ACSCurrent", "ACSPending"]);
    assert_eq!(stages(&s, &v1), ["ACSPrevious"]);
    // Custom stages: attach to a free version, move, remove.
    let blue = Stage::new("blue").unwrap();
    s.update_stage(&blue, Some(&v1), None, 5).unwrap();
    s.update_stage(&blue, Some(&v2), Some(&v1), 6).unwrap();
    assert!(s.version(&v2).unwrap().has(&blue));
    s.update_stage(&blue, None, Some(&v2), 7).unwrap();
    assert!(!s.versions().iter().any(|v| v.has(&blue)));
    let e = s.update_stage(&blue, None, None, 8).unwrap_err();
    assert!(matches!(e, SecretError::StageNotFound { .. }));
    // Moving back: current to v1 makes v2 previous.
    s.update_stage(&cur, Some(&v1), Some(&v2), 9).unwrap();
    assert_eq!(stages(&s, &v1), ["ACSCurrent"]);
    assert_eq!(stages(&s, &v2), ["ACSPending", "ACSPrevious"]);
    s.check().unwrap();
}

#[test]
fn at_most_100_versions_oldest_unstaged_evicted() {
    let w = wrapper();
    let mut s = secret();
    let first = s
        .put_value(&w, None, b"0", Some(vec![Stage::new("keep").unwrap()]), 0)
        .unwrap()
        .version;
    let second = s
        .put_value(&w, None, b"1", Some(vec![]), 1)
        .unwrap()
        .version;
    for i in 2..100u64 {
        let out = s
            .put_value(&w, None, i.to_string().as_bytes(), None, i)
            .unwrap();
        assert!(out.evicted.is_empty());
    }
    assert_eq!(s.versions().len(), 100);
    let out = s.put_value(&w, None, b"100", None, 100).unwrap();
    assert_eq!(
        out.evicted,
        vec![second.clone()],
        "the oldest unstaged, not the staged first one"
    );
    assert_eq!(s.versions().len(), 100);
    assert!(s.version(&first).is_ok());
    assert!(matches!(
        s.version(&second),
        Err(SecretError::VersionNotFound { .. })
    ));
    s.check().unwrap();
}

#[test]
fn all_staged_refuses_a_101st_version() {
    let w = wrapper();
    let mut s = secret();
    for i in 0..100u64 {
        s.put_value(
            &w,
            None,
            b"x",
            Some(vec![Stage::new(&format!("s{i}")).unwrap()]),
            i,
        )
        .unwrap();
    }
    let before = s.clone();
    let e = s
        .put_value(&w, None, b"y", Some(vec![Stage::new("new").unwrap()]), 200)
        .unwrap_err();
    assert_eq!(
        e,
        SecretError::TooManyVersions {
            name: "prod/db/orders".into(),
            max: 100
        }
    );
    assert_eq!(s, before);
}

#[test]
fn stage_limit_per_version() {
    let w = wrapper();
    let mut s = secret();
    let many: Vec<Stage> = (0..21)
        .map(|i| Stage::new(&format!("s{i}")).unwrap())
        .collect();
    let e = s.put_value(&w, None, b"x", Some(many), 1).unwrap_err();
    assert!(matches!(e, SecretError::TooManyStages { max: 20, .. }));
}

#[test]
fn deletion_window_and_restore() {
    let w = wrapper();
    let mut s = secret();
    s.put_value(&w, None, b"v", None, 1).unwrap();
    assert_eq!(
        s.schedule_deletion(6, 10).unwrap_err(),
        SecretError::RecoveryWindow { days: 6 }
    );
    assert_eq!(
        s.schedule_deletion(31, 10).unwrap_err(),
        SecretError::RecoveryWindow { days: 31 }
    );
    let d = s.schedule_deletion(7, 10).unwrap();
    assert_eq!(d.delete_after, 10 + 7 * 86_400);
    let e = s.read(&w, &Selector::default()).unwrap_err();
    assert!(
        matches!(e, SecretError::ScheduledForDeletion { delete_after, .. } if delete_after == d.delete_after)
    );
    assert!(s.put_value(&w, None, b"w", None, 11).is_err());
    assert!(s.schedule_deletion(30, 12).is_err());
    assert!(!s.purge_due(d.delete_after - 1));
    assert!(s.purge_due(d.delete_after));
    s.restore(13).unwrap();
    assert_eq!(value(&s, &w, Selector::default()), b"v");
    assert!(matches!(
        s.restore(14),
        Err(SecretError::NotScheduledForDeletion { .. })
    ));
}

#[test]
fn metadata_limits_and_rotation_due() {
    let mut s = secret();
    assert!(s.set_description(&"d".repeat(2049), 1).is_err());
    s.set_description("orders database", 2).unwrap();
    let mut tags = std::collections::BTreeMap::new();
    tags.insert("team".into(), "payments".into());
    s.set_tags(tags, 3).unwrap();
    s.set_kms_key_id(Some("key-123".into()), 4);
    assert!(s.set_rotation_days(Some(0), 5).is_err());
    s.set_rotation_days(Some(30), 5).unwrap();
    assert!(!s.rotation_due(1000 + 29 * 86_400));
    assert!(s.rotation_due(1000 + 30 * 86_400));
    s.set_generation(
        Some(GenerationSpec {
            length: 0,
            ..Default::default()
        }),
        6,
    )
    .unwrap_err();
    s.set_generation(Some(GenerationSpec::default()), 6)
        .unwrap();
    assert_eq!(s.kms_key_id(), Some("key-123"));
}

#[test]
fn record_round_trip_and_checks() {
    let w = wrapper();
    let mut s = secret();
    s.set_description("d", 1).unwrap();
    s.set_generation(Some(GenerationSpec::default()), 1)
        .unwrap();
    s.put_value(&w, None, b"plain-value-one", None, 1).unwrap();
    s.put_value(
        &w,
        None,
        b"plain-value-two",
        Some(vec![Stage::new("blue").unwrap()]),
        2,
    )
    .unwrap();
    let text = to_record(&s).unwrap();
    assert!(text.starts_with("format = 1"), "{text}");
    assert!(!text.contains("plain-value"), "no plaintext in the record");
    let back = from_record(&text).unwrap();
    assert_eq!(back, s);
    assert_eq!(
        value(&back, &w, Selector::Stage(Stage::new("blue").unwrap())),
        b"plain-value-two"
    );
    // Other formats and broken invariants are refused, saying why.
    let e = from_record(&text.replacen("format = 1", "format = 2", 1)).unwrap_err();
    assert!(e.to_string().contains("format 2"), "{e}");
    let two_current = text.replace("\"blue\"", "\"ACSCurrent\"");
    let e = from_record(&two_current).unwrap_err();
    assert!(
        e.to_string().contains("ACSCurrent is on two versions"),
        "{e}"
    );
    assert!(from_record("format = 1\n[secret]\nname = \"a b\"").is_err());
}
