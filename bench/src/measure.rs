//! What both benches measure and how: a shared clock for the worker threads, the
//! result of one run, percentiles and the median run.

use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use crate::child::Fields;

/// The clock all worker threads of a child share: they start together, the first one
/// through the barrier starts it; a warm-up, then the measured window.
pub struct Clock {
    barrier: Barrier,
    start: OnceLock<Instant>,
    warm: Duration,
    measure: Duration,
}

/// The measured window: from the end of the warm-up to its end.
#[derive(Clone, Copy)]
pub struct Window {
    pub warm_end: Instant,
    pub end: Instant,
}

impl Clock {
    pub fn new(threads: usize, warmup: f64, seconds: f64) -> Clock {
        Clock {
            barrier: Barrier::new(threads),
            start: OnceLock::new(),
            warm: Duration::from_secs_f64(warmup),
            measure: Duration::from_secs_f64(seconds),
        }
    }

    /// Waits for every thread, and returns the window.
    pub fn start(&self) -> Window {
        self.barrier.wait();
        let t0 = *self.start.get_or_init(Instant::now);
        self.window_from(t0)
    }

    /// The window, once a thread has started the clock.
    pub fn window(&self) -> Option<Window> {
        self.start.get().map(|t0| self.window_from(*t0))
    }

    /// The measured window's length.
    pub fn measure(&self) -> Duration {
        self.measure
    }

    fn window_from(&self, t0: Instant) -> Window {
        let warm_end = t0 + self.warm;
        Window {
            warm_end,
            end: warm_end + self.measure,
        }
    }
}

/// One run of one case: operations completed in the measured window, its length, and
/// the latency percentiles.
#[derive(Clone, Debug)]
pub struct Measured {
    pub ops: u64,
    pub secs: f64,
    pub p50_ns: u64,
    pub p99_ns: u64,
}

impl Measured {
    pub fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    /// The RESULT line's fields.
    pub fn fields(&self) -> String {
        format!(
            "ops={} secs={:.6} p50_ns={} p99_ns={}",
            self.ops, self.secs, self.p50_ns, self.p99_ns
        )
    }

    pub fn from_fields(f: &Fields) -> Result<Measured, String> {
        Ok(Measured {
            ops: f.num("ops")?,
            secs: f.num("secs")?,
            p50_ns: f.num("p50_ns")?,
            p99_ns: f.num("p99_ns")?,
        })
    }
}

/// The median of `runs` by `rate`; None for no runs.
pub fn median<T>(mut runs: Vec<T>, rate: impl Fn(&T) -> f64) -> Option<T> {
    runs.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    let mid = runs.len() / 2;
    (mid < runs.len()).then(|| runs.swap_remove(mid))
}

/// The nearest-rank `q` percentile of `sorted`; 0 for no samples.
pub fn percentile(sorted: &[u32], q: f64) -> u64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    rank.clamp(1, sorted.len().max(1))
        .checked_sub(1)
        .and_then(|i| sorted.get(i))
        .map_or(0, |v| u64::from(*v))
}
