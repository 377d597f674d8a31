//! The trail end to end: written, read back, tampered with in every way the issue names,
//! rotated, followed.

// Tests: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use kmsbridge_audit::*;

fn current(dir: &Path) -> PathBuf {
    dir.join(CURRENT)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    if !lines.is_empty() {
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// A trail of 20 denials with a checkpoint after every 5 (seq 6, 12, 18, 24); its heads.
fn sample() -> (tempfile::TempDir, Vec<Head>) {
    let dir = tempfile::tempdir().unwrap();
    let (w, heads) = writer(config(dir.path()));
    for i in 0..20 {
        w.append_one(denial(&format!("key/k{i}"))).unwrap();
    }
    w.checkpoint().unwrap();
    let heads = heads.lock().clone();
    (dir, heads)
}

fn broken(dir: &Path, head: Option<&Head>) -> Broken {
    verify_dir(dir, &KEY, head).expect_err("tampering must be detected")
}

#[test]
fn round_trip_reads_back_what_was_written_and_verifies() {
    let (dir, heads) = sample();
    let last = heads.last().unwrap();
    let s = verify_dir(dir.path(), &KEY, Some(last)).unwrap();
    assert_eq!(s.records, 24);
    assert_eq!(s.last_seq, 24);
    assert_eq!(s.unsigned_tail, 0);
    assert_eq!(s.last_checkpoint.as_ref(), Some(last));
    assert_eq!(heads.len(), 4);
    let all: Vec<Record> = records(dir.path()).unwrap().map(|r| r.unwrap().1).collect();
    assert_eq!(all.len(), 24);
    assert!(all.iter().enumerate().all(|(i, r)| r.seq == i as u64 + 1));
    let denials: Vec<&Record> = all.iter().filter(|r| r.event == Event::Denied).collect();
    assert_eq!(denials.len(), 20);
    assert_eq!(denials[3].object.as_ref().unwrap().as_str(), "key/k3");
    assert_eq!(denials[3].result, Outcome::Denied);
    assert_eq!(denials[3].pid, std::process::id());
    assert_eq!(all[0].prev, GENESIS);
    assert!(all[0]
        .human()
        .contains("denied app-1 decrypt key/k0 denied: no statement"));
}

#[test]
fn files_and_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("trail");
    let (w, _) = writer(config(&dir));
    w.append_one(denial("key/k")).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&current(&dir)), 0o600);
    assert_eq!(mode(&dir.join(LOCK)), 0o600);
}

#[test]
fn checkpoints_are_only_written_by_the_trail() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = writer(config(dir.path()));
    let fake = Entry::new(Event::Checkpoint, Outcome::Ok);
    assert!(matches!(w.append_one(fake), Err(Error::Invalid(_))));
}

#[test]
fn every_changed_byte_is_detected_at_its_record() {
    let (dir, heads) = sample();
    let path = current(dir.path());
    let original = std::fs::read(&path).unwrap();
    let line_of = |i: usize| original[..i].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    for i in 0..original.len() {
        let mut bytes = original.clone();
        bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
        std::fs::write(&path, &bytes).unwrap();
        let b = broken(dir.path(), heads.last());
        assert_eq!(b.line, line_of(i), "byte {i}: {b}");
        assert_eq!(b.file, path);
    }
}

#[test]
fn a_deleted_record_is_detected_at_the_one_after_it() {
    let (dir, heads) = sample();
    let path = current(dir.path());
    let original = lines(&path);
    for i in 0..original.len() - 1 {
        let mut l = original.clone();
        l.remove(i);
        write_lines(&path, &l);
        let b = broken(dir.path(), heads.last());
        assert_eq!((b.line, b.seq), (i as u64 + 1, Some(i as u64 + 2)), "{b}");
        assert_eq!(
            b.why,
            Why::Seq {
                expected: i as u64 + 1
            }
        );
    }
}

#[test]
fn swapped_records_are_detected() {
    let (dir, heads) = sample();
    let path = current(dir.path());
    let original = lines(&path);
    for i in 0..original.len() - 1 {
        let mut l = original.clone();
        l.swap(i, i + 1);
        write_lines(&path, &l);
        let b = broken(dir.path(), heads.last());
        assert_eq!(b.line, i as u64 + 1, "{b}");
        assert_eq!(
            b.why,
            Why::Seq {
                expected: i as u64 + 1
            }
        );
    }
}

#[test]
fn truncation_before_the_known_head_is_detected_and_after_it_is_not() {
    let (dir, heads) = sample();
    let path = current(dir.path());
    let original = lines(&path);
    let head = heads.last().unwrap();
    for keep in 0..original.len() {
        write_lines(&path, &original[..keep]);
        let b = broken(dir.path(), Some(head));
        assert_eq!(
            b.why,
            Why::Truncated {
                expected_head: head.seq
            }
        );
        assert_eq!((b.line, b.seq), (keep as u64 + 1, Some(keep as u64 + 1)));
    }
    // With an older head, records after it can be cut unnoticed: the documented limit.
    let older = &heads[heads.len() - 2];
    write_lines(&path, &original[..older.seq as usize + 2]);
    let s = verify_dir(dir.path(), &KEY, Some(older)).unwrap();
    assert_eq!(s.unsigned_tail, 2);
}

#[test]
fn a_head_that_is_not_in_the_trail_is_detected() {
    let (dir, heads) = sample();
    let mut other = heads[1].clone();
    other.hash = "ab".repeat(32);
    let b = broken(dir.path(), Some(&other));
    assert_eq!((b.seq, b.why), (Some(other.seq), Why::HeadMismatch));
}

/// Edits record `edit_seq` and rehashes the trail, as an attacker without the audit key
/// can; `resign` re-signs the checkpoints after the edit with the attacker's own key.
fn rewrite(path: &Path, edit_seq: u64, resign: Option<&HmacKey>) {
    let mut prev = GENESIS.to_string();
    let mut out = Vec::new();
    for line in lines(path) {
        let mut r = Record::parse(&line).unwrap();
        if r.seq == edit_seq {
            r.object = Some(Text::new("key/innocent").unwrap());
        }
        r.prev = prev;
        if let (Some(key), Event::Checkpoint, true) = (resign, r.event, r.seq > edit_seq) {
            let sig = key
                .sign(&Head::message(&r.instance, r.seq, &r.prev))
                .unwrap();
            r.signature = Some(hex::encode(sig));
        }
        out.push(r.seal().unwrap().trim_end().to_string());
        prev = r.hash;
    }
    write_lines(path, &out);
}

#[test]
fn a_rehashed_chain_fails_at_the_next_checkpoint_whoever_signs_it() {
    for resign in [None, Some(&HmacKey(b"the attacker's key"))] {
        let (dir, _) = sample();
        rewrite(&current(dir.path()), 7, resign);
        let b = broken(dir.path(), None);
        assert_eq!((b.seq, &b.why), (Some(12), &Why::BadSignature), "{b}");
    }
}

#[test]
fn a_forged_checkpoint_signature_is_detected() {
    let (dir, _) = sample();
    let path = current(dir.path());
    let mut l = lines(&path);
    let mut r = Record::parse(&l[5]).unwrap();
    assert_eq!(r.event, Event::Checkpoint);
    r.signature = Some("00".repeat(32));
    l[5] = r.seal().unwrap().trim_end().to_string();
    // Keep the chain consistent after it, so that only the signature is wrong.
    write_lines(&path, &l);
    rewrite(&path, 0, None);
    let b = broken(dir.path(), None);
    assert_eq!((b.line, b.seq, b.why), (6, Some(6), Why::BadSignature));
}

#[test]
fn rotation_keeps_the_chain_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.checkpoint_every = 1000;
    cfg.max_segment_bytes = 2000;
    let (w, heads) = writer(cfg);
    let mut rotations = 0;
    for i in 0..60 {
        rotations += usize::from(w.append(&[denial(&format!("key/k{i}"))]).unwrap().rotated);
    }
    let files = segments(dir.path()).unwrap();
    assert!(rotations >= 3, "{rotations} rotations");
    // The last append may have rotated, leaving no current file yet.
    let has_current = usize::from(current(dir.path()).exists());
    assert_eq!(files.len(), rotations + has_current);
    let head = heads.lock().last().cloned().unwrap();
    let s = verify_dir(dir.path(), &KEY, Some(&head)).unwrap();
    assert_eq!(s.records, 60 + rotations as u64);
    // Each segment ends with the checkpoint written before it was rotated.
    for seg in &files[..rotations] {
        let last = lines(seg).pop().unwrap();
        assert_eq!(Record::parse(&last).unwrap().event, Event::Checkpoint);
        assert!(std::fs::metadata(seg).unwrap().len() > 2000);
    }
    // Deleting a whole middle segment is a gap.
    std::fs::remove_file(&files[1]).unwrap();
    let b = broken(dir.path(), Some(&head));
    assert_eq!(b.file, files[2]);
    assert!(matches!(b.why, Why::Seq { .. }));
}

#[test]
fn a_torn_last_line_is_reported_and_cut_by_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = writer(config(dir.path()));
    w.append_one(denial("key/a")).unwrap();
    let path = current(dir.path());
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"seq\":2,\"ti");
    std::fs::write(&path, text).unwrap();
    assert_eq!(broken(dir.path(), None).why, Why::Torn);
    assert_eq!(w.append_one(denial("key/b")).unwrap(), 2);
    assert_eq!(verify_dir(dir.path(), &KEY, None).unwrap().records, 2);
}

#[test]
fn follower_returns_new_records_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_segment_bytes = 1500;
    let (w, _) = writer(cfg);
    w.append_one(denial("key/before")).unwrap();
    let mut from_end = Follower::from_end(dir.path()).unwrap();
    let mut from_start = Follower::from_start(dir.path());
    assert_eq!(from_start.poll().unwrap().len(), 1);
    assert!(from_end.poll().unwrap().is_empty());
    let mut seen = Vec::new();
    for i in 0..40 {
        w.append_one(denial(&format!("key/k{i}"))).unwrap();
        if i % 7 == 0 {
            seen.extend(from_end.poll().unwrap());
        }
    }
    seen.extend(from_end.poll().unwrap());
    assert!(segments(dir.path()).unwrap().len() > 2);
    let seqs: Vec<u64> = seen.iter().map(|r| r.seq).collect();
    let all = verify_dir(dir.path(), &KEY, None).unwrap().last_seq;
    assert_eq!(seqs, (2..=all).collect::<Vec<_>>());
    assert_eq!(from_start.poll().unwrap().len() as u64, all - 1);
}

#[test]
fn checkpoints_come_on_time_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.checkpoint_every = 1000;
    cfg.checkpoint_interval = std::time::Duration::from_secs(3600);
    let (w, heads) = writer(cfg.clone());
    w.append_one(denial("key/a")).unwrap();
    assert_eq!(w.checkpoint_if_due().unwrap(), None);
    drop(w);
    cfg.checkpoint_interval = std::time::Duration::ZERO;
    let (w, _) = writer(cfg);
    let head = w.checkpoint_if_due().unwrap().unwrap();
    assert_eq!(head.seq, 2);
    // Nothing new since: no second checkpoint.
    assert_eq!(w.checkpoint_if_due().unwrap(), None);
    assert!(heads.lock().is_empty());
    let s = verify_dir(dir.path(), &KEY, Some(&head)).unwrap();
    assert_eq!(s.last_checkpoint, Some(head));
}

#[test]
fn a_broken_trail_reports_as_json_naming_the_record() {
    let (dir, heads) = sample();
    let path = current(dir.path());
    let mut l = lines(&path);
    l.remove(2);
    write_lines(&path, &l);
    let b = broken(dir.path(), heads.last());
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(json["line"], 3);
    assert_eq!(json["seq"], 4);
    assert_eq!(json["why"]["kind"], "seq");
    assert_eq!(json["why"]["expected"], 3);
    assert!(json["file"].as_str().unwrap().ends_with("audit.log"));
    assert!(b
        .to_string()
        .ends_with("audit.log:3 (seq 4): expected seq 3 (records deleted or reordered)"));
}

/// Signs only once `ready` is set: a software instance's audit key before and after
/// someone logs in.
struct Later {
    ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Signer for Later {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        if !self.ready.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("nobody is logged in".into());
        }
        KEY.sign(message)
    }
}

#[test]
fn a_signer_that_cannot_sign_defers_checkpoints_and_loses_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let w = Writer::open(
        config(dir.path()),
        Box::new(Later {
            ready: ready.clone(),
        }),
        None,
    )
    .unwrap();
    for i in 0..7 {
        let done = w.append(&[denial(&format!("key/k{i}"))]).unwrap();
        assert_eq!(done.seqs, vec![i + 1]);
        assert!(done.head.is_none());
        assert_eq!(done.deferred.is_some(), i + 1 >= 5, "record {}", i + 1);
    }
    assert!(w.checkpoint().unwrap().is_none());
    ready.store(true, std::sync::atomic::Ordering::SeqCst);
    let done = w.append(&[denial("key/k7")]).unwrap();
    assert_eq!(done.seqs, vec![8]);
    let head = done
        .head
        .expect("the deferred checkpoint comes with the next append");
    assert_eq!(head.seq, 9);
    assert!(done.deferred.is_none());
    let s = verify_dir(dir.path(), &KEY, Some(&head)).unwrap();
    assert_eq!((s.records, s.unsigned_tail), (9, 0));
}
