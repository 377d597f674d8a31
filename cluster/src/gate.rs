//! The door between callers and a node's library. Re-initialising a library
//! (`C_Finalize` + `C_Initialize`, how a lost p11-kit node is brought back) while
//! other threads are inside it is undefined: p11-kit's client deadlocked on an
//! internal lock when it happened. So every call into a node passes the gate, and a
//! re-initialisation first closes it and waits for the calls inside to leave. Calls
//! never wait at the gate: a closed gate means the node is out of service anyway.

use kmsbridge_bridge::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Gate {
    inside: AtomicUsize,
    closed: AtomicBool,
}

/// A caller inside the gate; leaves on drop.
pub struct Inside<'a>(&'a Gate);

/// The gate held closed; opens on drop.
pub struct Closed<'a>(&'a Gate);

impl Gate {
    /// Enter, unless the library is being re-initialised.
    pub fn enter(&self, node: &str) -> Result<Inside<'_>> {
        // SeqCst pairs with `close`: either this sees `closed`, or `close` sees us.
        self.inside.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.inside.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::Unavailable(format!(
                "{node}: its library is being re-initialised"
            )));
        }
        Ok(Inside(self))
    }

    /// Close the gate once every caller inside has left, waiting at most `wait`;
    /// `None` (gate open again) if some call is still inside, e.g. a hung one.
    pub fn close(&self, wait: Duration) -> Option<Closed<'_>> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return None;
        }
        let until = Instant::now() + wait;
        while self.inside.load(Ordering::SeqCst) != 0 {
            if Instant::now() >= until {
                self.closed.store(false, Ordering::SeqCst);
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Some(Closed(self))
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Closed<'_> {
    fn drop(&mut self) {
        self.0.closed.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_gate_turns_callers_away_and_waits_for_those_inside() {
        let g = Gate::default();
        let inside = g.enter("n").expect("open gate");
        assert!(
            g.close(Duration::from_millis(20)).is_none(),
            "a caller is inside"
        );
        assert!(g.enter("n").is_ok(), "a failed close opens the gate again");
        drop(inside);
        let closed = g.close(Duration::from_millis(20)).expect("nobody inside");
        assert!(g.enter("n").is_err(), "closed");
        assert!(g.close(Duration::ZERO).is_none(), "one closer at a time");
        drop(closed);
        assert!(g.enter("n").is_ok(), "open again");
    }
}
