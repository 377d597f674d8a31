//! One token bucket in the shared file: the generic cell rate algorithm on one atomic
//! word, plus its counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::layout::{self, BucketSpec};
use crate::Class;

/// A bucket's words.
#[derive(Clone, Copy)]
pub struct Bucket<'a> {
    w: &'a [AtomicU64; layout::BUCKET_WORDS],
}

/// Bucket `i` of a mapping's words, if the mapping holds it.
pub fn bucket_at(words: &[AtomicU64], i: usize) -> Option<Bucket<'_>> {
    let start = layout::HEADER_WORDS.checked_add(i.checked_mul(layout::BUCKET_WORDS)?)?;
    let slice = words.get(start..start.checked_add(layout::BUCKET_WORDS)?)?;
    slice.try_into().ok().map(|w| Bucket { w })
}

impl Bucket<'_> {
    /// Takes one token at `now`: `Ok(wait)` when it is ours after `wait` nanoseconds
    /// (0 = now), `Err(wait)` when the wait would exceed the bound (nothing taken).
    ///
    /// The state is the time at which the bucket would be full again ("theoretical
    /// arrival time"); a token costs one interval, and one is free when that time lies
    /// at most `burst` intervals ahead. A later token is booked at once and waited for,
    /// so waiting callers are served in booking order without polling.
    pub fn reserve(&self, now: u64) -> Result<u64, u64> {
        let interval = self.w[layout::B_INTERVAL].load(Relaxed);
        if interval == 0 {
            return Ok(0);
        }
        let capacity = self.w[layout::B_BURST]
            .load(Relaxed)
            .saturating_mul(interval);
        let max_wait = self.w[layout::B_MAX_WAIT].load(Relaxed);
        let tat = &self.w[layout::B_TAT];
        let mut seen = tat.load(Relaxed);
        loop {
            let next = seen.max(now).saturating_add(interval);
            let wait = next.saturating_sub(capacity).saturating_sub(now);
            if wait > max_wait {
                return Err(wait);
            }
            match tat.compare_exchange_weak(seen, next, Relaxed, Relaxed) {
                Ok(_) => return Ok(wait),
                Err(current) => seen = current,
            }
        }
    }

    /// Gives back a token [`Bucket::reserve`] took (the other bucket refused the
    /// operation).
    pub fn refund(&self) {
        let interval = self.w[layout::B_INTERVAL].load(Relaxed);
        // fetch_update's closure never fails, so neither does the call.
        let _ = self.w[layout::B_TAT]
            .fetch_update(Relaxed, Relaxed, |t| Some(t.saturating_sub(interval)));
    }

    /// Counts an admitted operation that waited `waited` nanoseconds.
    pub fn admitted(&self, now: u64, waited: u64) {
        self.w[layout::B_ADMITTED].fetch_add(1, Relaxed);
        if waited > 0 {
            self.w[layout::B_WAITED].fetch_add(1, Relaxed);
            self.w[layout::B_WAITED_NS].fetch_add(waited, Relaxed);
        }
        let second = now / 1_000_000_000;
        let tag = (second & 0xffff_ffff) << 32;
        let Some(slot) = self.rate_slot(second) else {
            return;
        };
        let mut seen = slot.load(Relaxed);
        loop {
            if seen & !0xffff_ffff == tag {
                slot.fetch_add(1, Relaxed);
                return;
            }
            // The slot still counts a second four seconds ago: start this one.
            match slot.compare_exchange_weak(seen, tag | 1, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(current) => seen = current,
            }
        }
    }

    /// Counts a refused operation.
    pub fn refused(&self) {
        self.w[layout::B_REFUSED].fetch_add(1, Relaxed);
    }

    fn rate_slot(&self, second: u64) -> Option<&AtomicU64> {
        let ring = self
            .w
            .get(layout::B_RATE..layout::B_RATE + layout::RATE_SLOTS)?;
        ring.get(usize::try_from(second % layout::RATE_SLOTS as u64).ok()?)
    }

    /// Operations admitted during `second` (0 if the ring no longer holds it).
    fn count_in(&self, second: u64) -> u64 {
        let Some(v) = self.rate_slot(second).map(|s| s.load(Relaxed)) else {
            return 0;
        };
        if v >> 32 == second & 0xffff_ffff {
            v & 0xffff_ffff
        } else {
            0
        }
    }

    /// Writes a fresh bucket (only into a file not yet published).
    pub fn init(&self, spec: &BucketSpec) {
        let w = self.w;
        w[layout::B_INTERVAL].store(spec.interval_ns, Relaxed);
        w[layout::B_BURST].store(spec.burst, Relaxed);
        w[layout::B_MAX_WAIT].store(spec.max_wait_ns, Relaxed);
        w[layout::B_PER_SECOND].store(spec.per_second, Relaxed);
        w[layout::B_CLASS].store(spec.class.index() as u64, Relaxed);
        w[layout::B_SCOPE].store(u64::from(spec.access_point.is_some()), Relaxed);
        let label = layout::pack(spec.access_point.as_deref().unwrap_or(""), 16);
        for (word, v) in w.iter().skip(layout::B_LABEL).zip(label) {
            word.store(v, Relaxed);
        }
    }

    /// What this bucket says it is.
    pub fn spec(&self) -> Option<BucketSpec> {
        let w = self.w;
        let class = Class::from_index(w[layout::B_CLASS].load(Relaxed))?;
        let access_point = match w[layout::B_SCOPE].load(Relaxed) {
            0 => None,
            1 => Some(layout::unpack(
                w.iter().skip(layout::B_LABEL).map(|x| x.load(Relaxed)),
            )),
            _ => return None,
        };
        Some(BucketSpec {
            class,
            access_point,
            per_second: w[layout::B_PER_SECOND].load(Relaxed),
            interval_ns: w[layout::B_INTERVAL].load(Relaxed),
            burst: w[layout::B_BURST].load(Relaxed),
            max_wait_ns: w[layout::B_MAX_WAIT].load(Relaxed),
        })
    }

    /// The counters and limit, as of `now`.
    pub fn stats(&self, now: u64) -> Option<BucketStats> {
        let spec = self.spec()?;
        let w = self.w;
        let second = now / 1_000_000_000;
        Some(BucketStats {
            class: spec.class,
            access_point: spec.access_point,
            per_second: (spec.interval_ns != 0).then_some(spec.per_second),
            burst: spec.burst,
            max_wait: Duration::from_nanos(spec.max_wait_ns),
            admitted: w[layout::B_ADMITTED].load(Relaxed),
            refused: w[layout::B_REFUSED].load(Relaxed),
            waited: w[layout::B_WAITED].load(Relaxed),
            waited_total: Duration::from_nanos(w[layout::B_WAITED_NS].load(Relaxed)),
            last_second: self.count_in(second.saturating_sub(1)),
            this_second: self.count_in(second),
        })
    }
}

/// One bucket's limit and counters, for `kmsbridge status` and the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketStats {
    pub class: Class,
    /// `None` for the instance's bucket.
    pub access_point: Option<String>,
    /// The configured rate; `None` when the class has no limit (counted only).
    pub per_second: Option<u64>,
    pub burst: u64,
    pub max_wait: Duration,
    /// Operations admitted, at once or after a wait, since the file was created.
    pub admitted: u64,
    pub refused: u64,
    /// Admitted operations that waited, and their total wait.
    pub waited: u64,
    pub waited_total: Duration,
    /// The current rate: operations admitted in the last whole second (ops/s).
    pub last_second: u64,
    /// Operations admitted so far in the current second.
    pub this_second: u64,
}
