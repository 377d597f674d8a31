//! What happens when the trail cannot be written: the operation goes on (a KMS that
//! stops serving keys because a disk is full is an outage of every application), the
//! failure is logged at error level once per burst (again at most once a minute while
//! it lasts), and the number of records lost is written into the trail itself as soon
//! as it works again, so the gap is in the record rather than only in a log.

use kmsbridge_audit::{Entry, Error, Event, Outcome, Text, Token, Writer};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const REPEAT: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(super) struct Health {
    failing: AtomicBool,
    /// Records not written since the trail last worked.
    lost: AtomicU64,
    /// When the current burst was last logged.
    logged: Mutex<Option<Instant>>,
    /// Whether a head that could not be saved was logged in this burst.
    head_failing: AtomicBool,
}

impl Health {
    pub(super) fn lost(&self, n: u64) {
        if n > 0 {
            self.lost.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(super) fn error(&self, e: &Error) {
        let first = !self.failing.swap(true, Ordering::AcqRel);
        let mut logged = self.logged.lock();
        if first || logged.is_none_or(|t| t.elapsed() >= REPEAT) {
            *logged = Some(Instant::now());
            tracing::error!(
                lost = self.lost.load(Ordering::Relaxed),
                "audit trail cannot be written (operations go on; the loss is recorded once it works again): {e}"
            );
        }
    }

    pub(super) fn head_not_saved(&self, why: &str) {
        if !self.head_failing.swap(true, Ordering::AcqRel) {
            tracing::error!("audit: the signed head could not be kept in the instance: {why}");
        }
    }

    /// An append worked: if records were lost before, say so in the trail.
    pub(super) fn ok(&self, writer: &Writer) {
        self.head_failing.store(false, Ordering::Relaxed);
        if !self.failing.load(Ordering::Acquire) && self.lost.load(Ordering::Relaxed) == 0 {
            return;
        }
        let lost = self.lost.swap(0, Ordering::AcqRel);
        self.failing.store(false, Ordering::Release);
        *self.logged.lock() = None;
        tracing::warn!(lost, "audit trail writable again");
        if lost == 0 {
            return;
        }
        let (Ok(action), Ok(reason)) = (
            Token::new("audit-records-lost"),
            Text::new(format!(
                "{lost} records of this process could not be written"
            )),
        ) else {
            return;
        };
        let e = Entry {
            count: Some(lost),
            ..Entry::new(Event::Admin, Outcome::Failed)
                .action(action)
                .reason(reason)
        };
        if writer.append_one(e).is_err() {
            self.lost.fetch_add(lost, Ordering::Relaxed);
        }
    }
}
