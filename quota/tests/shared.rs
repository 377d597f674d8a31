//! Several processes share one limit: this test binary, re-run as children
//! (kmsbridge_testkit::harness), hammers one bucket from 4 processes × 2 threads.

// Tests and benches: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::time::{Duration, Instant};

use kmsbridge_quota::{Class, Quota, QuotaConfig, QuotaView};
use kmsbridge_testkit::harness;

const IDENTITY: &str = "shared-test-instance";
const RATE: u64 = 2000;
const BURST: u64 = 2000;
const RUN: Duration = Duration::from_secs(2);
const PROCESSES: usize = 4;
const THREADS: usize = 2;
const DIR: &str = "KMSBRIDGE_QUOTA_TEST_DIR";

fn config() -> QuotaConfig {
    QuotaConfig::from_toml(&format!(
        "[instance.symmetric]\nper_second = {RATE}\nburst = {BURST}\nmax_wait_ms = 20\n"
    ))
    .unwrap()
}

fn open(dir: &Path) -> Quota {
    Quota::open_in(dir, IDENTITY, &config()).unwrap()
}

/// The child: two threads call `acquire` for `RUN`, then it prints its counts.
#[test]
#[ignore = "run by processes_share_one_limit as its child"]
fn hammer_child() {
    if harness::role().as_deref() != Some("hammer") {
        return;
    }
    let quota = open(Path::new(&harness::var(DIR)));
    let (admitted, refused) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let start = Instant::now();
                    let (mut ok, mut no) = (0u64, 0u64);
                    while start.elapsed() < RUN {
                        match quota.acquire(Class::Symmetric, "app") {
                            Ok(_) => ok += 1,
                            Err(_) => no += 1,
                        }
                    }
                    (ok, no)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .fold((0, 0), |(a, r), (ok, no)| (a + ok, r + no))
    });
    harness::say(&format!("COUNTS {admitted} {refused}"));
}

#[test]
fn processes_share_one_limit() {
    let dir = tempfile::tempdir().unwrap();
    let dir_text = dir.path().to_str().unwrap().to_owned();
    // Created by the parent, so every child opens the same file.
    let quota = open(dir.path());
    let start = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| harness::spawn("hammer_child", "hammer", &[(DIR, dir_text.as_str())]))
        .collect();
    let mut admitted = 0u64;
    for (mut child, rx) in children {
        let counts = harness::wait_for(&rx, "COUNTS", Duration::from_secs(60));
        let (ok, _refused) = counts.split_once(' ').unwrap();
        admitted += ok.parse::<u64>().unwrap();
        assert!(harness::wait_exit(&mut child, Duration::from_secs(30)).success());
    }
    // Every child ran RUN inside this window; the window also holds their start-up.
    let window = start.elapsed().as_secs_f64();
    let stats = &quota.stats()[0];
    assert_eq!(
        stats.admitted, admitted,
        "the file counts what the children saw"
    );
    let ceiling = (RATE as f64 * window + BURST as f64) * 1.10;
    let expected = RATE as f64 * RUN.as_secs_f64() + BURST as f64;
    assert!(
        (admitted as f64) <= ceiling,
        "{admitted} admitted in {window:.2} s, over {ceiling:.0}"
    );
    assert!(
        (admitted as f64) >= expected * 0.5,
        "{admitted} admitted, under half of {expected:.0}"
    );
    assert!(
        stats.waited > 0,
        "callers over the limit wait for their turn"
    );
    eprintln!(
        "{admitted} admitted ({} after a wait, {} refused) in {window:.2} s; \
         rate × {:.1} s + burst = {expected:.0}",
        stats.waited,
        stats.refused,
        RUN.as_secs_f64()
    );
}

#[test]
fn a_forked_child_counts_against_the_same_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let quota = open(dir.path());
    quota.acquire(Class::Symmetric, "app").unwrap();
    // SAFETY: the child only reads the clock, does atomic operations on the inherited
    // mapping (acquire under the limit: no allocation, no lock, no sleep) and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let all_ok = (0..10).all(|_| quota.acquire(Class::Symmetric, "app").is_ok());
        // SAFETY: `_exit` ends the child at once, running no destructor or atexit hook.
        unsafe { libc::_exit(if all_ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid place for its status.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed"
    );
    assert_eq!(quota.stats()[0].admitted, 11);
    assert_eq!(
        QuotaView::open(quota.path()).unwrap().stats()[0].admitted,
        11
    );
}
