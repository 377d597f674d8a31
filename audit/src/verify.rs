//! Checking a trail: every line canonical, seq gap-free from 1, every `prev` the hash
//! before it, every hash right, every checkpoint signed, and the trail reaching the
//! expected head.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::record::{Event, Record, GENESIS};
use crate::segment::segments;
use crate::sign::{Head, Verifier};

/// A trail that verified (serializable for `--json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub files: usize,
    pub records: u64,
    pub last_seq: u64,
    pub last_hash: String,
    /// The last checkpoint in the trail.
    pub last_checkpoint: Option<Head>,
    /// Records after the last checkpoint: the part only the chain protects (a rewrite of
    /// it with new hashes, or its truncation, is not detectable).
    pub unsigned_tail: u64,
}

/// Why a record is bad.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Why {
    /// A file could not be read.
    Io { error: String },
    /// The last line has no newline (a writer died mid-write, or a cut).
    Torn,
    /// Not a record at all.
    Unreadable { error: String },
    /// A record, but not byte for byte the way it is written (spacing, field order).
    NotCanonical,
    /// The sequence number is not the next one (a record deleted or moved).
    Seq { expected: u64 },
    /// `prev` is not the previous record's hash.
    ChainBreak,
    /// `hash` is not the hash of the record.
    HashMismatch,
    /// A checkpoint whose signature does not verify, or a signature on a record that is
    /// not a checkpoint.
    BadSignature,
    /// The expected head is at this seq but this record is not it.
    HeadMismatch,
    /// The trail ends before the expected head (records cut off).
    Truncated { expected_head: u64 },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { error: e } => write!(f, "cannot read: {e}"),
            Self::Torn => f.write_str("incomplete last line"),
            Self::Unreadable { error: e } => write!(f, "not a record: {e}"),
            Self::NotCanonical => f.write_str("not in canonical form (bytes changed)"),
            Self::Seq { expected } => {
                write!(f, "expected seq {expected} (records deleted or reordered)")
            }
            Self::ChainBreak => {
                f.write_str("prev is not the previous record's hash (chain broken)")
            }
            Self::HashMismatch => f.write_str("hash does not match the record (bytes changed)"),
            Self::BadSignature => f.write_str("checkpoint signature does not verify"),
            Self::HeadMismatch => f.write_str("not the signed head the instance holds"),
            Self::Truncated { expected_head } => {
                write!(
                    f,
                    "trail ends before the signed head at seq {expected_head} (truncated)"
                )
            }
        }
    }
}

/// The first bad record: where, which, why (serializable for `--json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}:{line}{}: {why}", file.display(), seq.map(|s| format!(" (seq {s})")).unwrap_or_default())]
pub struct Broken {
    pub file: PathBuf,
    /// 1-based line number in `file`.
    pub line: u64,
    pub seq: Option<u64>,
    pub why: Why,
}

/// Verifies the trail in `dir` (see [`verify`]).
pub fn verify_dir(
    dir: &Path,
    verifier: &dyn Verifier,
    expected: Option<&Head>,
) -> Result<Summary, Broken> {
    let files = segments(dir).map_err(|e| Broken {
        file: dir.to_path_buf(),
        line: 0,
        seq: None,
        why: Why::Io {
            error: e.to_string(),
        },
    })?;
    verify(&files, verifier, expected)
}

/// Verifies the files of one trail, in chain order; `expected` is the latest signed head
/// the instance holds, which the trail must contain.
pub fn verify(
    files: &[PathBuf],
    verifier: &dyn Verifier,
    expected: Option<&Head>,
) -> Result<Summary, Broken> {
    let mut s = Summary {
        files: files.len(),
        records: 0,
        last_seq: 0,
        last_hash: GENESIS.to_string(),
        last_checkpoint: None,
        unsigned_tail: 0,
    };
    let mut at = (PathBuf::new(), 0u64);
    for file in files {
        at = (file.clone(), 0);
        let broken = |line, seq, why| Broken {
            file: file.clone(),
            line,
            seq,
            why,
        };
        let f = std::fs::File::open(file).map_err(|e| {
            broken(
                0,
                None,
                Why::Io {
                    error: e.to_string(),
                },
            )
        })?;
        let mut reader = BufReader::new(f);
        let mut raw = Vec::new();
        let mut line_no = 0u64;
        loop {
            raw.clear();
            let n = reader.read_until(b'\n', &mut raw).map_err(|e| {
                broken(
                    line_no + 1,
                    None,
                    Why::Io {
                        error: e.to_string(),
                    },
                )
            })?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let Some(text) = raw.strip_suffix(b"\n") else {
                return Err(broken(line_no, None, Why::Torn));
            };
            let r = std::str::from_utf8(text)
                .map_err(|e| e.to_string())
                .and_then(|t| Record::parse(t).map_err(|e| e.to_string()))
                .map_err(|error| broken(line_no, None, Why::Unreadable { error }))?;
            let bad = |why| broken(line_no, Some(r.seq), why);
            if r.line().ok().as_deref().map(str::as_bytes) != Some(raw.as_slice()) {
                return Err(bad(Why::NotCanonical));
            }
            if r.seq != s.last_seq + 1 {
                return Err(bad(Why::Seq {
                    expected: s.last_seq + 1,
                }));
            }
            if r.prev != s.last_hash {
                return Err(bad(Why::ChainBreak));
            }
            if r.compute_hash().ok().as_ref() != Some(&r.hash) {
                return Err(bad(Why::HashMismatch));
            }
            s.unsigned_tail += 1;
            match (&r.signature, r.event) {
                (Some(sig), Event::Checkpoint) => {
                    let head = Head {
                        instance: r.instance.clone(),
                        seq: r.seq,
                        prev: r.prev.clone(),
                        hash: r.hash.clone(),
                        signature: sig.clone(),
                    };
                    if !head.verifies(verifier) {
                        return Err(bad(Why::BadSignature));
                    }
                    s.last_checkpoint = Some(head);
                    s.unsigned_tail = 0;
                }
                (None, Event::Checkpoint) | (Some(_), _) => return Err(bad(Why::BadSignature)),
                (None, _) => {}
            }
            if let Some(h) = expected.filter(|h| h.seq == r.seq) {
                if s.last_checkpoint.as_ref() != Some(h) {
                    return Err(bad(Why::HeadMismatch));
                }
            }
            s.records += 1;
            s.last_seq = r.seq;
            s.last_hash = r.hash;
        }
        at.1 = line_no;
    }
    if let Some(h) = expected.filter(|h| h.seq > s.last_seq) {
        return Err(Broken {
            file: at.0,
            line: at.1 + 1,
            seq: Some(s.last_seq + 1),
            why: Why::Truncated {
                expected_head: h.seq,
            },
        });
    }
    Ok(s)
}
