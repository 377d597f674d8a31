//! The rotation state machine: success, failure at each step leaving ACSCurrent
//! untouched with the reason, and resumption after a crash with the same pending value.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use kmsbridge_secrets::*;
use zeroize::Zeroizing;

/// An external system in memory: it holds the one value it accepts, like a database
/// holds a password.
#[derive(Default)]
struct System {
    accepted: Vec<u8>,
    counter: u32,
    fail_set: Option<&'static str>,
    fail_test: Option<&'static str>,
    sets: Vec<Vec<u8>>,
}

impl RotationTarget for System {
    fn create_value(&mut self, current: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>, TargetError> {
        self.counter += 1;
        let base = current
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default();
        Ok(Zeroizing::new(
            format!("{base}+{}", self.counter).into_bytes(),
        ))
    }
    fn set(&mut self, v: &Values<'_>) -> Result<(), TargetError> {
        if let Some(why) = self.fail_set {
            return Err(TargetError(why.into()));
        }
        // A real target logs in with pending (already set), current or previous.
        let known = [Some(v.pending), v.current, v.previous];
        if !self.accepted.is_empty() && !known.contains(&Some(self.accepted.as_slice())) {
            return Err(TargetError("no known value logs in".into()));
        }
        self.accepted = v.pending.to_vec();
        self.sets.push(v.pending.to_vec());
        Ok(())
    }
    fn test(&mut self, v: &Values<'_>) -> Result<(), TargetError> {
        if let Some(why) = self.fail_test {
            return Err(TargetError(why.into()));
        }
        if self.accepted != v.pending {
            return Err(TargetError("pending value does not log in".into()));
        }
        Ok(())
    }
}

fn setup() -> (LocalKeyWrapper, Secret, System) {
    let w = LocalKeyWrapper::random("cmk").unwrap();
    let mut s = Secret::new(SecretName::new("db").unwrap(), SecretType::Generic, 1);
    s.put_value(&w, None, b"v0", None, 1).unwrap();
    (
        w,
        s,
        System {
            accepted: b"v0".to_vec(),
            ..Default::default()
        },
    )
}

fn current(s: &Secret, w: &LocalKeyWrapper) -> Vec<u8> {
    s.read(w, &Selector::default()).unwrap().1.to_vec()
}

#[test]
fn rotation_promotes_pending() {
    let (w, mut s, mut sys) = setup();
    let old = s.current().unwrap().id.clone();
    let mut stored = Vec::new();
    let r = rotate(&mut s, &w, &mut sys, &mut |x| {
        stored.push(to_record(x).unwrap());
        Ok(())
    })
    .unwrap();
    assert!(!r.resumed);
    assert_eq!(r.previous, Some(old.clone()));
    assert_eq!(current(&s, &w), b"v0+1");
    assert_eq!(s.current().unwrap().id, r.version);
    assert_eq!(s.by_stage(&Stage::previous()).unwrap().id, old);
    assert!(s.by_stage(&Stage::pending()).is_err());
    assert!(s.rotation().is_none());
    assert!(s.last_rotated().is_some());
    assert_eq!(
        r.steps.iter().map(|x| x.0).collect::<Vec<_>>(),
        [
            RotationStep::Create,
            RotationStep::Set,
            RotationStep::Test,
            RotationStep::Finish
        ]
    );
    // Stored after each step; the last stored record is the final state.
    assert_eq!(stored.len(), 4);
    assert_eq!(from_record(stored.last().unwrap()).unwrap(), s);
    // And again: v0 falls off previous.
    rotate(&mut s, &w, &mut sys, &mut |_| Ok(())).unwrap();
    assert_eq!(current(&s, &w), b"v0+1+2");
    assert_eq!(
        s.read(&w, &Selector::Stage(Stage::previous()))
            .unwrap()
            .1
            .as_slice(),
        b"v0+1"
    );
}

#[test]
fn failure_leaves_current_and_says_why_then_resumes() {
    let (w, mut s, mut sys) = setup();
    let before = s.current().unwrap().id.clone();
    sys.fail_set = Some("connection refused (os error 111)");
    let e = rotate(&mut s, &w, &mut sys, &mut |_| Ok(())).unwrap_err();
    assert_eq!(e.step, RotationStep::Set);
    let msg = e.to_string();
    assert!(
        msg.contains("connection refused")
            && msg.contains("ACSCurrent is unchanged")
            && msg.contains("db"),
        "{msg}"
    );
    assert_eq!(s.current().unwrap().id, before);
    assert_eq!(current(&s, &w), b"v0");
    let st = s.rotation().unwrap();
    assert_eq!(
        (st.failures, st.token.clone()),
        (1, e.version.clone().unwrap())
    );
    assert!(st
        .last_error
        .as_deref()
        .unwrap()
        .contains("connection refused"));
    // Test failure: same.
    sys.fail_set = None;
    sys.fail_test = Some("password authentication failed");
    let e = rotate(&mut s, &w, &mut sys, &mut |_| Ok(())).unwrap_err();
    assert_eq!(e.step, RotationStep::Test);
    assert_eq!(current(&s, &w), b"v0");
    assert_eq!(s.rotation().unwrap().failures, 2);
    // Next attempt resumes with the same pending value: the system may already have it.
    sys.fail_test = None;
    let r = rotate(&mut s, &w, &mut sys, &mut |_| Ok(())).unwrap();
    assert!(r.resumed);
    assert_eq!(Some(r.version), e.version);
    assert_eq!(current(&s, &w), b"v0+1");
    assert_eq!(sys.counter, 1, "one value created for three attempts");
}

#[test]
fn crash_after_set_resumes_from_the_stored_record() {
    let (w, mut s, mut sys) = setup();
    let mut disk = to_record(&s).unwrap();
    let mut saves = 0;
    // The process "dies" when storing the test step: the stored record says set is done.
    let e = rotate(&mut s, &w, &mut sys, &mut |x| {
        saves += 1;
        if saves == 3 {
            return Err("process killed".into());
        }
        disk = to_record(x).unwrap();
        Ok(())
    })
    .unwrap_err();
    assert!(e.to_string().contains("storing the record: process killed"));
    // A new process reads the record: pending exists, current is still v0, and the
    // system already accepts only the pending value.
    let mut s2 = from_record(&disk).unwrap();
    assert_eq!(current(&s2, &w), b"v0");
    assert_eq!(s2.rotation().unwrap().done, RotationStep::Set);
    assert_eq!(sys.accepted, b"v0+1");
    let r = rotate(&mut s2, &w, &mut sys, &mut |_| Ok(())).unwrap();
    assert!(r.resumed);
    assert_eq!(current(&s2, &w), b"v0+1");
    assert_eq!(
        sys.sets,
        [b"v0+1".to_vec(), b"v0+1".to_vec()],
        "set repeated with the same value"
    );
}

#[test]
fn pending_put_by_hand_is_adopted_and_cancel_drops_it() {
    let (w, mut s, mut sys) = setup();
    let mine = s
        .put_value(&w, None, b"chosen", Some(vec![Stage::pending()]), 2)
        .unwrap()
        .version;
    let r = rotate(&mut s, &w, &mut sys, &mut |_| Ok(())).unwrap();
    assert!(r.resumed);
    assert_eq!(r.version, mine);
    assert_eq!(current(&s, &w), b"chosen");

    sys.fail_set = Some("down");
    rotate(&mut s, &w, &mut sys, &mut |_| Ok(())).unwrap_err();
    assert!(s.by_stage(&Stage::pending()).is_ok());
    rotation::cancel(&mut s, 3);
    assert!(s.by_stage(&Stage::pending()).is_err());
    assert!(s.rotation().is_none());
    assert_eq!(current(&s, &w), b"chosen");
}

#[test]
fn generic_and_ssh_targets() {
    let (w, mut s, _) = setup();
    let spec = GenerationSpec {
        length: 40,
        punctuation: false,
        ..Default::default()
    };
    rotate(&mut s, &w, &mut GenerateTarget(spec), &mut |_| Ok(())).unwrap();
    let v = current(&s, &w);
    assert_eq!(v.len(), 40);
    assert!(v.iter().all(u8::is_ascii_alphanumeric));

    let mut k = Secret::new(
        SecretName::new("deploy-key").unwrap(),
        SecretType::SshKey,
        1,
    );
    let mut t = ssh::SshKeyTarget {
        kind: ssh::SshKeyKind::Ed25519,
        comment: "deploy".into(),
    };
    rotate(&mut k, &w, &mut t, &mut |_| Ok(())).unwrap();
    let pem = String::from_utf8(current(&k, &w)).unwrap();
    assert!(ssh::authorized_key(&pem)
        .unwrap()
        .starts_with("ssh-ed25519 "));
    assert!(
        k.by_stage(&Stage::previous()).is_err(),
        "a first rotation has no previous"
    );
}

#[test]
fn deleted_secret_is_not_rotated() {
    let (w, mut s, mut sys) = setup();
    s.schedule_deletion(7, 2).unwrap();
    let e = rotate(&mut s, &w, &mut sys, &mut |_| Ok(())).unwrap_err();
    assert!(e.reason.contains("scheduled for deletion"), "{e}");
}
