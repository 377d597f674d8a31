//! The hot path and the shared file, in one process (tests/shared.rs has several).

use std::time::{Duration, Instant};

use crate::{Class, Quota, QuotaConfig, QuotaError, QuotaView, Scope, Waited};

fn open(dir: impl AsRef<std::path::Path>, toml: &str) -> Quota {
    Quota::open_in(
        dir.as_ref(),
        "instance-1",
        &QuotaConfig::from_toml(toml).unwrap(),
    )
    .unwrap()
}

// Slow rates, so that a stalled test thread (a loaded machine) earns no extra token.
const SYM_1_BURST_5: &str = "[instance.symmetric]\nper_second = 1\nburst = 5\nmax_wait_ms = 0\n";

#[test]
fn admits_the_burst_then_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, SYM_1_BURST_5);
    for _ in 0..5 {
        assert_eq!(
            q.acquire(Class::Symmetric, "app"),
            Ok(Waited(Duration::ZERO))
        );
    }
    let r = q.acquire(Class::Symmetric, "app").unwrap_err();
    assert_eq!((r.class, r.scope), (Class::Symmetric, Scope::Instance));
    assert!(r.retry_after > Duration::ZERO && r.retry_after <= Duration::from_secs(1));
    let s = &q.stats()[0];
    assert_eq!((s.admitted, s.refused, s.waited), (5, 1, 0));
    assert_eq!(s.per_second, Some(1));
}

#[test]
fn refills_over_time() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(
        &dir,
        "[instance.symmetric]\nper_second = 100\nburst = 10\nmax_wait_ms = 0\n",
    );
    while q.acquire(Class::Symmetric, "app").is_ok() {}
    std::thread::sleep(Duration::from_millis(60));
    // 60 ms at 100/s is 6 tokens, or more if the sleep ran long; never over the burst
    // plus what the loop itself earns while it runs.
    let start = Instant::now();
    let mut admitted = 0u128;
    while q.acquire(Class::Symmetric, "app").is_ok() {
        admitted += 1;
    }
    let earned = start.elapsed().as_millis() / 10 + 1;
    assert!(admitted >= 6 && admitted <= 10 + earned, "{admitted}");
}

#[test]
fn waits_for_its_turn_then_is_admitted() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(
        &dir,
        "[instance.asymmetric]\nper_second = 2\nburst = 1\nmax_wait_ms = 1000\n",
    );
    assert_eq!(
        q.acquire(Class::Asymmetric, "app"),
        Ok(Waited(Duration::ZERO))
    );
    let start = Instant::now();
    let Waited(waited) = q.acquire(Class::Asymmetric, "app").unwrap();
    assert!(
        waited > Duration::ZERO && waited <= Duration::from_millis(500),
        "{waited:?}"
    );
    assert!(start.elapsed() >= waited);
    let s = &q.stats()[1];
    assert_eq!((s.admitted, s.waited, s.refused), (2, 1, 0));
    assert_eq!(s.waited_total, waited);
}

#[test]
fn refuses_past_the_wait_bound() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "[instance.symmetric]\nper_second = 2\nburst = 1\nmax_wait_ms = 600\n";
    let q = open(&dir, toml);
    q.acquire(Class::Symmetric, "app").unwrap();
    // Of two callers at once, one books the next turn (500 ms away, within the bound) and
    // the other's would be 1 s away: refused, at once.
    let path = dir.path().to_owned();
    let other = std::thread::spawn(move || open(path, toml).acquire(Class::Symmetric, "app"));
    let mine = q.acquire(Class::Symmetric, "app");
    let theirs = other.join().unwrap();
    let (admitted, refused) = match (mine, theirs) {
        (Ok(w), Err(r)) | (Err(r), Ok(w)) => (w, r),
        other => panic!("one admitted and one refused, got {other:?}"),
    };
    assert!(admitted.0 > Duration::ZERO, "{admitted:?}");
    assert!(
        refused.retry_after > Duration::from_millis(600),
        "{refused:?}"
    );
    assert!(refused
        .to_string()
        .contains("symmetric operation refused by the instance quota"));
    let s = &q.stats()[0];
    assert_eq!((s.admitted, s.waited, s.refused), (2, 1, 1));
}

#[test]
fn classes_and_access_points_do_not_interfere() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(
        &dir,
        "[access_points.a.symmetric]\nper_second = 1\nburst = 2\nmax_wait_ms = 0\n\
         [access_points.a.asymmetric]\nper_second = 1\nburst = 1\nmax_wait_ms = 0\n\
         [access_points.b.symmetric]\nper_second = 1\nburst = 2\nmax_wait_ms = 0\n",
    );
    for _ in 0..2 {
        q.acquire(Class::Symmetric, "a").unwrap();
    }
    let r = q.acquire(Class::Symmetric, "a").unwrap_err();
    assert_eq!(r.scope, Scope::AccessPoint);
    // a's other class, b, and an access point without limits are untouched.
    q.acquire(Class::Asymmetric, "a").unwrap();
    for _ in 0..2 {
        q.acquire(Class::Symmetric, "b").unwrap();
    }
    for _ in 0..100 {
        q.acquire(Class::Symmetric, "c").unwrap();
    }
    let stats = q.stats();
    let a_sym = stats
        .iter()
        .find(|s| s.access_point.as_deref() == Some("a") && s.class == Class::Symmetric)
        .unwrap();
    assert_eq!((a_sym.admitted, a_sym.refused), (2, 1));
    // The instance has no limit: it counts everything admitted.
    assert_eq!(stats[0].admitted, 104);
    assert_eq!(stats[0].per_second, None);
}

#[test]
fn the_instance_limit_holds_every_access_point() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(
        &dir,
        "[instance.symmetric]\nper_second = 1\nburst = 3\nmax_wait_ms = 0\n\
         [access_points.a.symmetric]\nper_second = 10\nburst = 10\nmax_wait_ms = 0\n",
    );
    for ap in ["a", "b", "a"] {
        q.acquire(Class::Symmetric, ap).unwrap();
    }
    let r = q.acquire(Class::Symmetric, "a").unwrap_err();
    assert_eq!(r.scope, Scope::Instance);
    let stats = q.stats();
    let a = stats
        .iter()
        .find(|s| s.access_point.as_deref() == Some("a"))
        .unwrap();
    // The instance refused the last one: a's turn was given back, and a counts no refusal.
    assert_eq!((a.admitted, a.refused), (2, 0));
    assert_eq!((stats[0].admitted, stats[0].refused), (3, 1));
}

#[test]
fn another_process_reads_the_counters_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(&dir, SYM_1_BURST_5);
    for _ in 0..7 {
        let _ = q.acquire(Class::Symmetric, "app");
    }
    let paths = QuotaView::list(dir.path(), "instance-1").unwrap();
    assert_eq!(paths, vec![q.path().to_owned()]);
    let view = QuotaView::open(q.path()).unwrap();
    assert_eq!(view.identity(), "instance-1");
    let s = &view.stats()[0];
    assert_eq!((s.admitted, s.refused, s.burst), (5, 2, 5));
    assert!(s.this_second + s.last_second <= 5);
    assert_eq!(view.stats(), q.stats());
}

#[test]
fn one_file_per_identity_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir, SYM_1_BURST_5);
    let b = open(&dir, SYM_1_BURST_5);
    assert_eq!(a.path(), b.path());
    a.acquire(Class::Symmetric, "x").unwrap();
    assert_eq!(b.stats()[0].admitted, 1, "two handles share the buckets");
    let c = open(&dir, "[instance.symmetric]\nper_second = 20\n");
    assert_ne!(a.path(), c.path());
    let other = Quota::open_in(
        dir.path(),
        "instance-2",
        &QuotaConfig::from_toml(SYM_1_BURST_5).unwrap(),
    )
    .unwrap();
    assert_ne!(a.path(), other.path());
    assert_eq!(QuotaView::list(dir.path(), "instance-1").unwrap().len(), 2);
    let mode = std::fs::metadata(a.path()).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
}

#[test]
fn a_corrupt_file_is_reported_read_only_and_replaced_read_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = open(&dir, SYM_1_BURST_5).path().to_owned();
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    std::fs::write(&path, vec![0x5a; len]).unwrap();
    match QuotaView::open(&path) {
        Err(QuotaError::Corrupt { why, .. }) => assert!(why.contains("magic"), "{why}"),
        other => panic!("{:?}", other.err()),
    }
    let q = open(&dir, SYM_1_BURST_5);
    assert!(q.recreated().unwrap().contains("magic"));
    q.acquire(Class::Symmetric, "x").unwrap();
    assert_eq!(QuotaView::open(&path).unwrap().stats()[0].admitted, 1);

    // Truncated: the length no longer matches the header.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(300)
        .unwrap();
    assert!(matches!(
        QuotaView::open(&path),
        Err(QuotaError::Corrupt { .. })
    ));
    assert!(open(&dir, SYM_1_BURST_5).recreated().is_some());
}

#[test]
fn a_file_others_may_use_is_refused_and_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = open(&dir, SYM_1_BURST_5).path().to_owned();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Quota::open_in(
        dir.path(),
        "instance-1",
        &QuotaConfig::from_toml(SYM_1_BURST_5).unwrap(),
    )
    .err()
    .unwrap();
    assert!(matches!(e, QuotaError::NotOurs { .. }), "{e}");
    assert!(e.to_string().contains("0600"), "{e}");
    assert!(path.exists());
}

#[test]
fn a_symbolic_link_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = open(&dir, SYM_1_BURST_5).path().to_owned();
    let target = dir.path().join("elsewhere");
    std::fs::rename(&path, &target).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let e = Quota::open_in(
        dir.path(),
        "instance-1",
        &QuotaConfig::from_toml(SYM_1_BURST_5).unwrap(),
    )
    .err()
    .unwrap();
    assert!(matches!(e, QuotaError::Io { what: "open", .. }), "{e}");
}

#[test]
fn a_bad_configuration_is_refused_before_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = QuotaConfig::default();
    config
        .access_points
        .insert(String::new(), Default::default());
    let e = Quota::open_in(dir.path(), "i", &config).err().unwrap();
    assert!(matches!(e, QuotaError::Config(_)), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
