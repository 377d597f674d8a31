//! The shared file's layout: 64-bit words, each only ever accessed atomically.
//!
//! ```text
//! header  HEADER_WORDS words  magic, version, total length, bucket count, limits hash,
//!                             ready flag, the instance identity (display only)
//! bucket  BUCKET_WORDS words  per bucket: the token state, its limit, counters, the
//!                             rate ring, class, scope, label (the access point's name)
//! ```
//!
//! Bucket 0 and 1 are the instance's symmetric and asymmetric buckets; then two per
//! access point with its own limits, in name order. A bucket is 256 bytes, so buckets
//! hammered by different processes never share a cache line.

use crate::{Class, QuotaConfig, Rate};

/// "KMSBQUOT", little-endian.
pub const MAGIC: u64 = u64::from_le_bytes(*b"KMSBQUOT");
/// Bumped on any change of the layout below.
pub const VERSION: u64 = 1;

pub const HEADER_WORDS: usize = 32;
pub const H_MAGIC: usize = 0;
pub const H_VERSION: usize = 1;
pub const H_TOTAL_LEN: usize = 2;
pub const H_BUCKETS: usize = 3;
pub const H_LIMITS_HASH: usize = 4;
/// 1 once the creator has written everything (the file is published only then, but a
/// reader checks it anyway).
pub const H_READY: usize = 5;
/// The identity, up to `IDENTITY_BYTES`, NUL-padded.
pub const H_IDENTITY: usize = 16;
pub const IDENTITY_BYTES: usize = 128;

pub const BUCKET_WORDS: usize = 32;
/// The token state: the "theoretical arrival time" of the generic cell rate algorithm,
/// in CLOCK_MONOTONIC nanoseconds.
pub const B_TAT: usize = 0;
/// Nanoseconds per token; 0 = no limit (counted only).
pub const B_INTERVAL: usize = 1;
pub const B_BURST: usize = 2;
pub const B_MAX_WAIT: usize = 3;
pub const B_ADMITTED: usize = 4;
pub const B_REFUSED: usize = 5;
/// Operations admitted after a wait, and their total wait in nanoseconds.
pub const B_WAITED: usize = 6;
pub const B_WAITED_NS: usize = 7;
/// A ring of `RATE_SLOTS` words, one per second: (second << 32) | admitted in it.
pub const B_RATE: usize = 8;
pub const RATE_SLOTS: usize = 4;
pub const B_CLASS: usize = 12;
/// 0 = the instance, 1 = an access point.
pub const B_SCOPE: usize = 13;
/// The configured rate (the interval is what the algorithm uses).
pub const B_PER_SECOND: usize = 14;
/// The access point's name, up to `LABEL_BYTES`, NUL-padded.
pub const B_LABEL: usize = 16;
pub const LABEL_BYTES: usize = 128;

const _: () = assert!(B_RATE + RATE_SLOTS <= B_CLASS);
const _: () = assert!(B_LABEL + LABEL_BYTES / 8 == BUCKET_WORDS);
const _: () = assert!(H_IDENTITY + IDENTITY_BYTES / 8 == HEADER_WORDS);
const _: () = assert!(crate::config::MAX_NAME_LEN <= LABEL_BYTES);

/// One bucket's fixed description, as written at creation and checked on open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSpec {
    pub class: Class,
    /// `None` for the instance.
    pub access_point: Option<String>,
    pub per_second: u64,
    pub interval_ns: u64,
    pub burst: u64,
    pub max_wait_ns: u64,
}

impl BucketSpec {
    fn new(class: Class, access_point: Option<&str>, rate: Option<&Rate>) -> BucketSpec {
        let (per_second, interval_ns, burst, max_wait_ns) = match rate {
            // per_second >= 1 (validated), so the division is exact enough: see
            // "Precision" in the crate docs.
            Some(r) => (
                r.per_second,
                1_000_000_000 / r.per_second.max(1),
                r.burst(),
                r.max_wait_ms.saturating_mul(1_000_000),
            ),
            None => (0, 0, 0, 0),
        };
        BucketSpec {
            class,
            access_point: access_point.map(str::to_owned),
            per_second,
            interval_ns,
            burst,
            max_wait_ns,
        }
    }
}

/// The buckets of a configuration, in file order.
pub fn buckets(config: &QuotaConfig) -> Vec<BucketSpec> {
    let mut out = Vec::with_capacity(2 + 2 * config.access_points.len());
    for class in Class::ALL {
        out.push(BucketSpec::new(class, None, config.instance.get(class)));
    }
    for (name, limits) in &config.access_points {
        for class in Class::ALL {
            out.push(BucketSpec::new(class, Some(name), limits.get(class)));
        }
    }
    out
}

/// The file's length for `n` buckets.
pub fn total_len(n: usize) -> usize {
    (HEADER_WORDS + n * BUCKET_WORDS) * 8
}

/// FNV-1a, 64 bits: stable across builds and Rust versions (the file name and the header
/// must agree between the provider and the CLI).
pub struct Fnv(u64);

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub fn bytes(&mut self, data: &[u8]) -> &mut Fnv {
        // The length first, so that ("ab", "c") and ("a", "bc") differ.
        for b in (data.len() as u64).to_le_bytes().iter().chain(data) {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    pub fn word(&mut self, w: u64) -> &mut Fnv {
        self.bytes(&w.to_le_bytes())
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// Hash of the identity alone: the first part of the file name.
pub fn identity_hash(identity: &str) -> u64 {
    Fnv::new().bytes(identity.as_bytes()).finish()
}

/// Hash of the identity and every bucket's description: the second part of the file
/// name, and checked in the header.
pub fn limits_hash(identity: &str, specs: &[BucketSpec]) -> u64 {
    let mut h = Fnv::new();
    h.word(VERSION).bytes(identity.as_bytes());
    for s in specs {
        h.word(s.class.index() as u64)
            .bytes(s.access_point.as_deref().unwrap_or("").as_bytes())
            .word(u64::from(s.access_point.is_some()))
            .word(s.per_second)
            .word(s.interval_ns)
            .word(s.burst)
            .word(s.max_wait_ns);
    }
    h.finish()
}

/// `text` as NUL-padded little-endian words (truncated to `words * 8` bytes).
pub fn pack(text: &str, words: usize) -> Vec<u64> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.resize(words * 8, 0);
    bytes
        .chunks_exact(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_le_bytes(w)
        })
        .collect()
}

/// The text [`pack`] stored (invalid UTF-8 shown lossily).
pub fn unpack(words: impl Iterator<Item = u64>) -> String {
    let mut bytes: Vec<u8> = words.flat_map(u64::to_le_bytes).collect();
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    bytes.truncate(end);
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_and_truncates() {
        let w = pack("payments", 16);
        assert_eq!(w.len(), 16);
        assert_eq!(unpack(w.into_iter()), "payments");
        assert_eq!(unpack(pack("abcdefghij", 1).into_iter()), "abcdefgh");
    }

    #[test]
    fn hashes_tell_limits_apart() {
        let a = QuotaConfig::from_toml("[instance.symmetric]\nper_second = 10\n").unwrap();
        let b = QuotaConfig::from_toml("[instance.symmetric]\nper_second = 11\n").unwrap();
        assert_ne!(
            limits_hash("i", &buckets(&a)),
            limits_hash("i", &buckets(&b))
        );
        assert_ne!(
            limits_hash("i", &buckets(&a)),
            limits_hash("j", &buckets(&a))
        );
        assert_eq!(
            limits_hash("i", &buckets(&a)),
            limits_hash("i", &buckets(&a))
        );
    }
}
