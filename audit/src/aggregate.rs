//! Key use on the hot path: counted in memory per second, access point, key and action,
//! and written as `key-use` records with a `count` when the caller flushes. Counting
//! takes no I/O and no global lock: each thread counts into its own shard (a mutex that
//! only that thread, and a flush, ever take). Denials and administration never come
//! here; they go to the [`Writer`] one by one.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::record::{Entry, Event, Outcome, Text, Token};
use crate::writer::Writer;
use crate::Error;

/// One counter: which second, who, what, how many.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Use {
    second: u64,
    access_point: Option<Token>,
    key: Text,
    action: Token,
}

type Shard = HashMap<String, (Use, u64)>;

/// Counts key use and writes the counts to a trail.
pub struct Aggregator {
    writer: Arc<Writer>,
    shards: Box<[Mutex<Shard>]>,
}

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard index (before the modulo) and its lookup-key buffer.
    static SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

impl Aggregator {
    /// Counts for `writer`'s trail, with one shard per expected thread (at least 1).
    pub fn new(writer: Arc<Writer>, shards: usize) -> Self {
        Self {
            writer,
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
    }

    /// Counts one use of `key` for `action` by `access_point`, in the current second.
    pub fn record_use(&self, access_point: Option<&Token>, key: &Text, action: &Token) {
        self.record_uses(unix_secs(SystemTime::now()), access_point, key, action, 1);
    }

    /// Counts `n` uses in the second starting at `second` (unix seconds): for a caller
    /// that counts on its own first (the provider counts per thread).
    pub fn record_uses(
        &self,
        second: u64,
        access_point: Option<&Token>,
        key: &Text,
        action: &Token,
        n: u64,
    ) {
        let slot = SLOT.with(|s| *s) % self.shards.len();
        let Some(shard) = self.shards.get(slot) else {
            return;
        };
        KEY.with_borrow_mut(|buf| {
            buf.clear();
            // The separator is a control character, which none of the parts may hold.
            let _ = write!(
                buf,
                "{second}\u{1f}{}\u{1f}{key}\u{1f}{action}",
                access_point.map(Token::as_str).unwrap_or_default()
            );
            let mut shard = shard.lock();
            if let Some((_, count)) = shard.get_mut(buf.as_str()) {
                *count += n;
            } else {
                let u = Use {
                    second,
                    access_point: access_point.cloned(),
                    key: key.clone(),
                    action: action.clone(),
                };
                shard.insert(buf.clone(), (u, n));
            }
        });
    }

    /// Writes the counts of every second before `now`'s as `key-use` records (one append),
    /// and returns how many records. On a failed write the counts are kept for the next
    /// flush.
    pub fn flush_due(&self, now: SystemTime) -> Result<usize, Error> {
        let before = unix_secs(now);
        let mut merged: BTreeMap<Use, u64> = BTreeMap::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            for (_, (u, n)) in shard.extract_if(|_, (u, _)| u.second < before) {
                *merged.entry(u).or_default() += n;
            }
        }
        if merged.is_empty() {
            return Ok(0);
        }
        let entries: Vec<Entry> = merged
            .iter()
            .map(|(u, n)| Entry {
                access_point: u.access_point.clone(),
                action: Some(u.action.clone()),
                object: Some(u.key.clone()),
                count: Some(*n),
                window: Some(UNIX_EPOCH + Duration::from_secs(u.second)),
                ..Entry::new(Event::KeyUse, Outcome::Ok)
            })
            .collect();
        match self.writer.append(&entries) {
            Ok(_) => Ok(entries.len()),
            Err(e) => {
                self.put_back(merged);
                Err(e)
            }
        }
    }

    /// Writes every count, the current second's too.
    pub fn flush_all(&self) -> Result<usize, Error> {
        self.flush_due(SystemTime::now() + Duration::from_secs(1))
    }

    fn put_back(&self, merged: BTreeMap<Use, u64>) {
        let Some(shard) = self.shards.first() else {
            return;
        };
        let mut shard = shard.lock();
        for (u, n) in merged {
            let key = format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{}",
                u.second,
                u.access_point
                    .as_ref()
                    .map(Token::as_str)
                    .unwrap_or_default(),
                u.key,
                u.action
            );
            shard.entry(key).or_insert((u, 0)).1 += n;
        }
    }
}

impl Drop for Aggregator {
    /// What was counted is written; an error here has nowhere to go.
    fn drop(&mut self) {
        let _ = self.flush_all();
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
