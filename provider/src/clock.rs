//! A cheap monotonic clock for the hot path: CLOCK_MONOTONIC_COARSE is a read of the
//! kernel's tick-updated value (a few ns, millisecond-ish resolution), which is all a
//! 0.5 s refresh and a 1 s decision lifetime need.

/// Milliseconds of the coarse monotonic clock.
pub(crate) fn coarse_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1000)
        .saturating_add(ts.tv_nsec as u64 / 1_000_000)
}
