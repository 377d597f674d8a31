//! What a node's error means for the cluster: the node is gone (fail over), the
//! node is busy (back off and retry), a handle went stale (re-resolve), or the
//! answer is the application's (return it).

use cryptoki_sys::*;
use kmsbridge_bridge::Error;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// The node cannot serve: mark it down, retry elsewhere.
    Device,
    /// The node refused for now: retry with backoff.
    Transient,
    /// A backend handle of a token object no longer names it on this node.
    StaleHandle,
    /// The answer stands: the same call would fail the same way on any node.
    Final,
}

pub fn classify(e: &Error, busy_codes: &[CK_RV]) -> Class {
    match e {
        Error::Unavailable(_) => Class::Device,
        Error::PoolExhausted { .. } => Class::Transient,
        Error::BufferTooSmall(_) | Error::Failed(_) => Class::Final,
        Error::Rv { rv, .. } => match *rv {
            CKR_DEVICE_ERROR
            | CKR_DEVICE_REMOVED
            | CKR_DEVICE_MEMORY
            | CKR_TOKEN_NOT_PRESENT
            | CKR_TOKEN_NOT_RECOGNIZED
            // The bridge only ever names the slot it discovered: the node's token went.
            | CKR_SLOT_ID_INVALID
            // A pooled session vanished under us: the node (or its server) restarted.
            | CKR_SESSION_HANDLE_INVALID
            | CKR_SESSION_CLOSED => Class::Device,
            CKR_OBJECT_HANDLE_INVALID
            | CKR_KEY_HANDLE_INVALID
            | CKR_WRAPPING_KEY_HANDLE_INVALID
            | CKR_UNWRAPPING_KEY_HANDLE_INVALID => Class::StaleHandle,
            rv if busy_codes.contains(&rv) => Class::Transient,
            _ => Class::Final,
        },
    }
}

/// Bounded exponential backoff for transient refusals: 5 ms doubling to 200 ms,
/// about 2 s in all, so a caller never waits long on a saturated cluster.
pub struct Backoff {
    next: Duration,
    spent: Duration,
}

const FIRST: Duration = Duration::from_millis(5);
const CAP: Duration = Duration::from_millis(200);
const BUDGET: Duration = Duration::from_millis(2000);

impl Backoff {
    pub fn new() -> Self {
        Backoff {
            next: FIRST,
            spent: Duration::ZERO,
        }
    }

    /// Sleep before the next round; false once the budget is spent.
    pub fn wait(&mut self) -> bool {
        match self.step() {
            Some(d) => {
                std::thread::sleep(d);
                true
            }
            None => false,
        }
    }

    /// The next round's delay, counted as spent; `None` once the budget is spent.
    fn step(&mut self) -> Option<Duration> {
        if self.spent >= BUDGET {
            return None;
        }
        let d = self.next.min(BUDGET - self.spent);
        self.spent += d;
        self.next = (self.next * 2).min(CAP);
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let rv = |r| Error::rv(r, "t");
        assert_eq!(classify(&rv(CKR_DEVICE_REMOVED), &[]), Class::Device);
        assert_eq!(classify(&rv(CKR_SLOT_ID_INVALID), &[]), Class::Device);
        assert_eq!(
            classify(&rv(CKR_SESSION_HANDLE_INVALID), &[]),
            Class::Device
        );
        assert_eq!(
            classify(&Error::Unavailable("x".into()), &[]),
            Class::Device
        );
        let busy = Error::PoolExhausted {
            node: "n".into(),
            size: 1,
            waited_ms: 1,
        };
        assert_eq!(classify(&busy, &[]), Class::Transient);
        assert_eq!(classify(&rv(0x8000_0001), &[0x8000_0001]), Class::Transient);
        assert_eq!(
            classify(&rv(CKR_KEY_HANDLE_INVALID), &[]),
            Class::StaleHandle
        );
        assert_eq!(classify(&rv(CKR_SIGNATURE_INVALID), &[]), Class::Final);
        assert_eq!(classify(&rv(CKR_FUNCTION_FAILED), &[]), Class::Final);
    }

    /// docs/CLUSTER.md: "5 ms doubling to 200 ms, about 2 s in all".
    #[test]
    fn backoff_doubles_from_5_ms_to_a_200_ms_cap_within_2_s() {
        let mut b = Backoff::new();
        let delays: Vec<u64> = std::iter::from_fn(|| b.step())
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(
            delays[..7],
            [5, 10, 20, 40, 80, 160, 200],
            "doubling to the cap"
        );
        assert!(delays[6..].iter().all(|d| *d <= 200), "capped: {delays:?}");
        assert_eq!(delays.iter().sum::<u64>(), 2000, "2 s in all: {delays:?}");
        // 5 + ... + 160 = 315 ms, then 200 ms rounds until the budget: 9 of them, and
        // the last one cut to what is left.
        assert_eq!(delays.len(), 6 + 9, "{delays:?}");
    }

    #[test]
    fn backoff_is_bounded() {
        let mut b = Backoff {
            next: FIRST,
            spent: BUDGET - Duration::from_millis(1),
        };
        assert!(b.wait());
        assert!(!b.wait());
    }
}
