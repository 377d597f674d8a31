//! Several processes and threads appending to one trail at once, and aggregated key use.

// Tests: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use kmsbridge_audit::*;
use kmsbridge_testkit::harness::{arg, role, say, spawn, var, wait_exit, wait_for};

const TAG: &str = "AUDIT_TEST_TAG";
const SECONDS: &str = "AUDIT_TEST_SECONDS";

/// Small segments so that processes also rotate under each other.
fn shared_config(dir: &std::path::Path) -> Config {
    let mut cfg = config(dir);
    cfg.checkpoint_every = 50;
    cfg.max_segment_bytes = 64 * 1024;
    cfg
}

/// The child: appends denials naming its tag (some alone, some in batches of 3) for the
/// given time, then says how many.
#[test]
#[ignore = "a child of eight_processes_append_without_losing_a_record"]
fn child_appender() {
    if role().as_deref() != Some("append") {
        return;
    }
    let dir = std::path::PathBuf::from(arg());
    let tag = var(TAG);
    let end = Instant::now() + Duration::from_millis(var(SECONDS).parse::<u64>().unwrap() * 1000);
    let (w, _) = writer(shared_config(&dir));
    let object = format!("key/{tag}");
    let mut n = 0u64;
    while Instant::now() < end {
        if n.is_multiple_of(4) {
            let batch = vec![denial(&object); 3];
            n += w.append(&batch).unwrap().seqs.len() as u64;
        } else {
            w.append_one(denial(&object)).unwrap();
            n += 1;
        }
    }
    say(&format!("APPENDED {n}"));
}

#[test]
fn eight_processes_append_without_losing_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let tag = format!("child-{i}");
            let (child, rx) = spawn(
                "child_appender",
                "append",
                &[
                    ("KMSBRIDGE_TEST_ARG", path),
                    (TAG, tag.as_str()),
                    (SECONDS, "3"),
                ],
            );
            (tag, child, rx)
        })
        .collect();
    let mut expected = HashMap::new();
    for (tag, mut child, rx) in children {
        let n: u64 = wait_for(&rx, "APPENDED ", Duration::from_secs(60))
            .parse()
            .unwrap();
        assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
        assert!(n > 0, "{tag} appended nothing");
        expected.insert(format!("key/{tag}"), n);
    }
    let s = verify_dir(dir.path(), &KEY, None).unwrap();
    let mut found: HashMap<String, u64> = HashMap::new();
    let mut pids = std::collections::HashSet::new();
    for r in records(dir.path()).unwrap() {
        let (_, r) = r.unwrap();
        if r.event == Event::Denied {
            *found.entry(r.object.unwrap().to_string()).or_default() += 1;
            pids.insert(r.pid);
        }
    }
    assert_eq!(found, expected);
    assert_eq!(pids.len(), 8);
    assert!(s.files > 1, "the processes rotated the trail");
    let denials: u64 = expected.values().sum();
    assert!(s.records > denials, "checkpoints were written too");
}

#[test]
fn threads_of_one_process_share_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (w, heads) = writer(shared_config(dir.path()));
    let w = Arc::new(w);
    std::thread::scope(|s| {
        for t in 0..8 {
            let w = w.clone();
            s.spawn(move || {
                for _ in 0..200 {
                    w.append_one(denial(&format!("key/t{t}"))).unwrap();
                }
            });
        }
    });
    verify_dir(dir.path(), &KEY, heads.lock().last()).unwrap();
    let denials = records(dir.path())
        .unwrap()
        .filter(|r| r.as_ref().unwrap().1.event == Event::Denied)
        .count();
    assert_eq!(denials, 1600);
}

#[test]
fn aggregation_sums_counts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = writer(shared_config(dir.path()));
    let agg = Aggregator::new(Arc::new(w), 4);
    let aps = [Token::new("app-a").unwrap(), Token::new("app-b").unwrap()];
    let keys = [
        Text::new("key/k1").unwrap(),
        Text::new("alias/pay").unwrap(),
    ];
    let action = Token::new("encrypt").unwrap();
    std::thread::scope(|s| {
        for t in 0..8usize {
            let (agg, aps, keys, action) = (&agg, &aps, &keys, &action);
            s.spawn(move || {
                for i in 0..5000usize {
                    let ap = (t + i) % 3;
                    agg.record_use(aps.get(ap), &keys[i % 2], action);
                }
            });
        }
    });
    // Nothing is written before a flush.
    assert!(records(dir.path()).unwrap().next().is_none());
    agg.flush_due(std::time::UNIX_EPOCH).unwrap();
    assert!(records(dir.path()).unwrap().next().is_none());
    agg.record_use(None, &keys[0], &action);
    drop(agg);

    let mut sums: HashMap<(Option<String>, String), u64> = HashMap::new();
    for r in records(dir.path()).unwrap() {
        let (_, r) = r.unwrap();
        if r.event != Event::KeyUse {
            continue;
        }
        assert_eq!(r.action.as_ref().unwrap().as_str(), "encrypt");
        assert!(r.window.is_some());
        let k = (
            r.access_point.map(|a| a.to_string()),
            r.object.unwrap().to_string(),
        );
        *sums.entry(k).or_default() += r.count.unwrap();
    }
    // Expected: count what the threads did.
    let mut expected: HashMap<(Option<String>, String), u64> = HashMap::new();
    for t in 0..8usize {
        for i in 0..5000usize {
            let ap = aps.get((t + i) % 3).map(|a| a.to_string());
            *expected.entry((ap, keys[i % 2].to_string())).or_default() += 1;
        }
    }
    *expected.entry((None, "key/k1".into())).or_default() += 1;
    assert_eq!(sums, expected);
    assert_eq!(sums.values().sum::<u64>(), 40_001);
    verify_dir(dir.path(), &KEY, None).unwrap();
}
