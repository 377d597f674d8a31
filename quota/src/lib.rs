//! Host-wide operation quotas: how many operations per second an instance, and each of
//! its access points, may run, counted across every process on the host. This crate is
//! the mechanism only; it knows nothing of PKCS#11 (the provider calls it and answers the
//! codes below).
//!
//! # The model
//!
//! Each limit is a **token bucket** of a rate (`per_second`), a **burst** (operations
//! admitted at once after a quiet spell; default one second's worth) and a **wait bound**
//! (`max_wait_ms`, default 100). Symmetric and asymmetric operations ([`Class`]) have
//! separate buckets. An operation of an access point passes its access point's bucket
//! (when that access point has limits of its own) and the instance's bucket (when the
//! instance has a limit for the class); a class without a limit is counted, never held.
//!
//! [`Quota::acquire`] books the operation's turn in each bucket. Under the limit the turn
//! is now and the call returns at once. Over it, the turn lies in the future: when it
//! comes within the wait bound the caller sleeps until then (one sleep, no polling, no
//! spinning) and is admitted ([`Waited`] says how long); when it does not, the operation
//! is refused at once ([`Refused`], with the wait it would have needed) and nothing is
//! taken. Waiting the bound first would not change that answer, as every earlier turn is
//! already booked. Turns are served in booking order.
//!
//! The algorithm is the generic cell rate algorithm (GCRA): one 64-bit word per bucket
//! holds the time at which the bucket would be full again; a booking is one
//! compare-and-swap on it. The hot path under the limit is a CLOCK_MONOTONIC read (vDSO,
//! no system call) and a few atomic operations: no allocation, no lock, no global mutex.
//!
//! ```toml
//! [instance.symmetric]
//! per_second = 2000
//! burst = 4000          # default: per_second
//! max_wait_ms = 50      # default: 100; 0 refuses at once
//! [instance.asymmetric]
//! per_second = 200
//! [access_points.payments.symmetric]
//! per_second = 500
//! ```
//!
//! Unknown fields are refused; an out-of-range value is refused naming its field, e.g.
//! `quota: access_points.payments.symmetric.burst: 0 is out of range 1..=30000`.
//!
//! # The shared file
//!
//! The buckets live in a small file mapped `MAP_SHARED` by every process that uses the
//! instance:
//!
//! - **Directory**: `/dev/shm` (memory), else `$XDG_RUNTIME_DIR`, else the temporary
//!   directory ([`default_dir`]); [`Quota::open_in`] takes one explicitly.
//! - **Name**: `kmsbridge-quota-<uid>-<h(identity)>-<h(identity, limits)>`, FNV-1a 64-bit
//!   hashes in hex. The uid keeps users apart; the file is mode 0600, opened without
//!   following symbolic links, and refused ([`QuotaError::NotOurs`]) when another user
//!   owns it or others may use it.
//! - **Size**: 256 bytes of header plus 256 bytes per bucket (two per scope: the instance
//!   and each access point with limits), e.g. 2.75 KiB for four access points.
//! - **Layout**: 64-bit words, every one accessed only atomically; a header with a magic,
//!   a layout version, the length, the bucket count and the limits hash, all checked on
//!   every open. Each bucket is 256 bytes, so two buckets never share a cache line.
//! - **Creation**: written complete under a temporary name, then published with `link()`,
//!   which never replaces: of several processes starting at once, one publishes and the
//!   others open its file. No one ever sees a half-written file.
//! - **Corrupt file** (bad magic, version, size, limits): [`Quota::open`] removes it and
//!   creates a fresh one, and [`Quota::recreated`] says why so the provider logs it;
//!   counters restart at zero. Only a process of the same user can have written it.
//!   Processes still mapping the old file keep using it until they reopen. kmsbridge
//!   never shortens a published file; whoever does so by hand makes the processes mapping
//!   it fault (SIGBUS) — delete it instead.
//!   [`QuotaView::open`] (read-only) reports it and changes nothing.
//! - **Different limits for one instance**: the limits are part of the name, so two
//!   processes configured differently use two files, and each group of processes enforces
//!   its own limits (the instance may then see the sum). `kmsbridge status` lists every
//!   file of the instance ([`QuotaView::list`]) so such a split shows.
//! - **Processes that die** hold nothing: no lock is ever held, a booked turn is simply
//!   used up. The file outlives the processes (it is small); a reboot clears `/dev/shm`.
//! - **`fork()`**: the child inherits the mapping, still shared, so parent and child keep
//!   counting against the same buckets; nothing needs reopening.
//! - **Clock**: CLOCK_MONOTONIC, one clock for the whole host. Processes in different
//!   time namespaces (containers with a monotonic offset) must not share a file.
//!
//! # Counters
//!
//! Each bucket counts operations admitted, refused, admitted after a wait (and the total
//! wait), and the admitted operations per second in a ring of four seconds, so
//! [`BucketStats::last_second`] is the current rate (ops/s over the last whole second).
//! Another process reads them through [`QuotaView`], a read-only mapping.
//!
//! # Codes the provider answers
//!
//! An admitted operation proceeds; its wait is added to its latency and nothing else. A
//! refused one answers **`CKR_FUNCTION_FAILED`** and nothing is done; the session's
//! `ulDeviceError` then says `KMSBRIDGE_DEVICE_ERROR_QUOTA`. docs/QUOTAS.md gives the
//! reasons (it is the one code every function may return, described as "the same call
//! again may succeed"; `CKR_FUNCTION_REJECTED` is a user's refusal of a signature).
//! The refusal's message ([`Refused`]'s `Display`) names the class and the scope, for the
//! log line and the audit trail.
//!
//! # Limits and precision
//!
//! - Rates from 1 to 1,000,000 per second; bursts from 1 to one minute's worth; wait
//!   bounds up to 10 s; up to 1024 access points with limits of their own, names up to
//!   128 bytes.
//! - A token costs `1e9 / per_second` whole nanoseconds, so the enforced rate is at most
//!   `per_second^2 / 1e9` above the configured one: 0.1 % at a million per second, 0.0004 %
//!   at 2,000.
//! - A waiting caller wakes when the kernel wakes it: its turn is exact, its sleep is
//!   typically 50–100 µs longer.
//! - A refusal by the instance's bucket gives the access point's booked turn back; in a
//!   race that turn may serve a later caller slightly early (never beyond the burst).

mod bucket;
mod config;
mod error;
mod file;
mod layout;
mod map;
mod quota;
mod view;

pub use bucket::BucketStats;
pub use config::{
    Class, Limits, QuotaConfig, Rate, DEFAULT_MAX_WAIT_MS, MAX_ACCESS_POINTS, MAX_NAME_LEN,
    MAX_PER_SECOND, MAX_WAIT_MS,
};
pub use error::{ConfigError, QuotaError};
pub use file::default_dir;
pub use layout::identity_hash;
pub use quota::{Quota, Refused, Scope, Waited};
pub use view::QuotaView;

#[cfg(test)]
mod tests;
