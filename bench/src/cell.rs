//! A child of the side-by-side bench: one target, one op, N client threads, timed.

use std::sync::Arc;
use std::time::Instant;

use crate::args::Cell;
use crate::child::{env_var, Token};
use crate::keys::{keys_for, under_kms_lifecycle};
use crate::measure::{percentile, Clock, Measured};
use crate::op::Target;
use crate::workers::Worker;

/// Measures `cell` for `seconds` after `warmup`; with `kms`, a kmsbridge target's keys
/// are under the KMS lifecycle first.
pub fn measure(cell: Cell, seconds: f64, warmup: f64, kms: bool) -> Result<Measured, String> {
    let Cell {
        target,
        op,
        threads,
    } = cell;
    let set_by = "the parent sets it from ci/softhsm/setup";
    let (module_var, label_var, pin_var) = target.env_names();
    let token = if target == Target::SoftwareAp {
        crate::access::open(
            &env_var(module_var, set_by)?,
            &env_var(label_var, set_by)?,
            env_var("KMSBRIDGE_SO_PIN", set_by)?,
        )?
    } else {
        Token::open(
            &env_var(module_var, set_by)?,
            &env_var(label_var, set_by)?,
            env_var(pin_var, set_by)?,
        )?
    };
    let (p, slot) = (&token.p11, token.slot);
    let keys = keys_for(&token.login, target, op)?;
    if kms && target != Target::Direct {
        if let Some(k) = keys {
            under_kms_lifecycle(&token.login, k.key)?;
        }
    }
    Worker::new(op, keys, slot, 0xff).check(p, &token.login)?;

    let clock = Arc::new(Clock::new(threads, warmup, seconds));
    let mut handles = Vec::new();
    for t in 0..threads {
        let p = p.clone();
        let clock = clock.clone();
        handles.push(std::thread::spawn(
            move || -> Result<(Vec<u32>, Option<Instant>), String> {
                let s = p
                    .open_ro_session(slot)
                    .map_err(|e| format!("thread {t}: C_OpenSession: {e}"))?;
                let mut w = Worker::new(op, keys, slot, t);
                let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
                let window = clock.start();
                let mut last_done = None;
                let mut sink = 0usize;
                loop {
                    let a = Instant::now();
                    if a >= window.end {
                        break;
                    }
                    sink = sink.wrapping_add(
                        w.run(&p, &s)
                            .map_err(|e| format!("thread {t}: {}: {e}", op.name()))?,
                    );
                    let b = Instant::now();
                    if a >= window.warm_end {
                        lat.push((b - a).as_nanos().min(u32::MAX as u128) as u32);
                        last_done = Some(b);
                    }
                }
                std::hint::black_box(sink);
                drop(s);
                Ok((lat, last_done))
            },
        ));
    }
    let mut all: Vec<u32> = Vec::new();
    let mut finish: Option<Instant> = None;
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok((lat, done))) => {
                all.extend_from_slice(&lat);
                if let Some(d) = done {
                    finish = Some(finish.map_or(d, |f: Instant| f.max(d)));
                }
            }
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert_with(|| "a worker thread panicked".to_string());
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let window = clock.window().ok_or("no worker started")?;
    let finish = finish.ok_or("no operation completed in the measured window")?;
    // Elapsed from the start of the measured window to the last completion
    // (an op that starts just before the end of the window is counted whole).
    let secs = (finish - window.warm_end).as_secs_f64();
    all.sort_unstable();
    let r = Measured {
        ops: all.len() as u64,
        secs,
        p50_ns: percentile(&all, 0.50),
        p99_ns: percentile(&all, 0.99),
    };
    token.close()?;
    Ok(r)
}
