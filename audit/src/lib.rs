//! The tamper-evident audit trail of a KMS instance: who logged in, used, was refused,
//! changed, imported or read what. This crate writes, reads and verifies the trail; it
//! knows nothing of PKCS#11 (the provider calls it) and signs checkpoints only through
//! the [`Signer`] trait (the provider's audit service key, inside the instance).
//!
//! # The format
//!
//! One JSON object per line (UTF-8, `\n`), fields in this order, optional ones omitted
//! when unset:
//!
//! | field | |
//! |---|---|
//! | `seq` | 1, 2, 3, … gap-free across the whole trail, all segments |
//! | `time` | RFC 3339 UTC with milliseconds, when the record was written |
//! | `instance` | the instance |
//! | `access_point` | the application's access point, if known |
//! | `pid` | the writing process |
//! | `event` | `login`, `login-failed`, `key-use`, `denied`, `lifecycle`, `import`, `secret-read`, `admin`, `checkpoint` |
//! | `action` | e.g. `decrypt`, `schedule-deletion` |
//! | `object` | key id, alias or secret name |
//! | `count`, `window` | `key-use` only: how many uses in the second starting at `window` |
//! | `result` | `ok`, `denied`, `failed` |
//! | `reason` | the caller's text (e.g. the policy decision) |
//! | `signature` | `checkpoint` only, hex |
//! | `prev` | the previous record's `hash` (64 zeros for the first record) |
//! | `hash` | see below |
//!
//! The types ([`Token`], [`Text`], [`Entry`]) carry names and short text only — no byte
//! field exists — so no data, key material, PIN or client key has a place in a record.
//! What a caller puts in `reason` is its own policy text.
//!
//! # The chain
//!
//! A record's canonical bytes are its line without the `hash` field (and without the
//! newline), as [`Record`] serializes it. `hash` = hex SHA-256(previous hash's 32 bytes ‖
//! canonical bytes). [`verify`] also requires each line to be exactly its canonical form
//! plus `hash`, so any changed byte — even spacing — is found.
//!
//! # Checkpoints
//!
//! After at most `checkpoint_every` records, at the first append `checkpoint_interval`
//! after the previous checkpoint, before each rotation, and on [`Writer::checkpoint`],
//! the writer appends a `checkpoint` record whose `signature` is the [`Signer`]'s over
//! [`Head::message`] (instance, the checkpoint's seq, its `prev`). The new [`Head`] goes
//! to the [`HeadSink`]: the instance keeps the latest one outside the trail and hands it
//! to [`verify`] as the expected head. A signer that cannot sign now (the key is out of
//! reach, e.g. nobody is logged in to a software instance) defers the checkpoint: the
//! records are written without it, [`Appended::deferred`] says why, and the next append
//! tries again, so a refusal to sign never loses a record.
//!
//! # What is detected, what is not
//!
//! Detected, naming the first bad record (file, line, seq, why): a changed byte anywhere
//! (hash or canonical form), a deleted record (seq gap), reordered records, a record
//! whose `prev` is not its predecessor's hash, a checkpoint with a forged or altered
//! signature, deleted first records or segments (seq must start at 1), and truncation at
//! or before the expected head (the trail must contain that exact signed checkpoint).
//!
//! Not detected: truncation of records after the last checkpoint the instance saw (given
//! no expected head, any truncation that ends on a whole line), and a rewrite of
//! records after the last checkpoint by someone who recomputes their hashes. Checkpoints
//! often and a head kept outside the file bound both.
//!
//! # Files and processes
//!
//! The trail's directory (created mode 0700) holds `audit.log` (the current file, 0600),
//! rotated segments `audit-<last seq, 20 digits>.log` and `audit.lock`. Every append —
//! from any thread of any process — takes an exclusive `flock` on `audit.lock`, reads the
//! last record from the current file's tail (or the newest segment's), appends its
//! records in one write, `fdatasync`s ([`Durability::Fsync`]), and, when the file passed
//! `max_segment_bytes`, ends it with a checkpoint and renames it to a segment; the next
//! append starts `audit.log` afresh, its first `prev` the segment's last hash. A torn
//! last line (a writer killed mid-write) is cut by the next append. A last record that
//! cannot be read stops appends ([`Error::Tail`]) rather than start a second chain.
//!
//! Key use on the hot path goes through [`Aggregator`] (counts in memory, written as
//! `key-use` records with `count` when the caller flushes); this crate starts no thread.
//!
//! # Reading
//!
//! [`records`] iterates over the trail oldest first; [`Follower`] returns what was
//! appended since its last poll, across rotations; [`Record::human`] and
//! [`Record::line`] are the human and JSON forms.

mod aggregate;
mod error;
mod read;
mod record;
mod segment;
mod sign;
mod verify;
mod writer;

pub use aggregate::Aggregator;
pub use error::Error;
pub use read::{records, Follower, Location, Records};
pub use record::{format_time, Entry, Event, Outcome, Record, Text, Token, GENESIS};
pub use segment::{segment_name, segments, CURRENT, LOCK};
pub use sign::{Head, HeadSink, Signer, Verifier};
pub use verify::{verify, verify_dir, Broken, Summary, Why};
pub use writer::{Appended, Config, Durability, Writer};
