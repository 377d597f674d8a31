//! A child of `kmsbridge-bench --quota`: AES-GCM 1 KiB encryptions from N client
//! threads on the software instance, counting the operations a quota refused
//! (CKR_FUNCTION_FAILED) instead of stopping.

use std::sync::Arc;
use std::time::Instant;

use cryptoki::error::{Error, RvError};

use crate::child::{env_var, Token};
use crate::keys::keys_for;
use crate::measure::Clock;
use crate::op::{Op, Target};
use crate::workers::Worker;

/// What one child did in its measured window.
pub struct Counted {
    pub ops: u64,
    pub refused: u64,
    pub secs: f64,
}

impl Counted {
    pub fn fields(&self) -> String {
        format!(
            "ops={} refused={} secs={:.6}",
            self.ops, self.refused, self.secs
        )
    }

    pub fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }
}

/// Sleeps until `at` (UNIX ms), if it is still ahead.
fn sleep_until(at: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    std::thread::sleep(std::time::Duration::from_millis(at.saturating_sub(now)));
}

pub fn measure(
    threads: usize,
    seconds: f64,
    warmup: f64,
    start_at: Option<u64>,
) -> Result<Counted, String> {
    let set_by = "the parent sets it from ci/softhsm/setup --software";
    let (module_var, label_var, pin_var) = Target::Software.env_names();
    let token = Token::open(
        &env_var(module_var, set_by)?,
        &env_var(label_var, set_by)?,
        env_var(pin_var, set_by)?,
    )?;
    let (p, slot) = (&token.p11, token.slot);
    let keys = keys_for(&token.login, Target::Software, Op::AesGcm)?;
    Worker::new(Op::AesGcm, keys, slot, 0xff).check(p, &token.login)?;
    if let Some(at) = start_at {
        sleep_until(at);
    }
    let clock = Arc::new(Clock::new(threads, warmup, seconds));
    let mut handles = Vec::new();
    for t in 0..threads {
        let (p, clock) = (p.clone(), clock.clone());
        handles.push(std::thread::spawn(
            move || -> Result<(u64, u64, Option<Instant>), String> {
                let s = p
                    .open_ro_session(slot)
                    .map_err(|e| format!("thread {t}: C_OpenSession: {e}"))?;
                let mut w = Worker::new(Op::AesGcm, keys, slot, t);
                let window = clock.start();
                let (mut ops, mut refused, mut last) = (0u64, 0u64, None);
                loop {
                    let a = Instant::now();
                    if a >= window.end {
                        break;
                    }
                    let r = w.run(&p, &s);
                    let counted = a >= window.warm_end;
                    match r {
                        Ok(_) if counted => {
                            ops += 1;
                            last = Some(Instant::now());
                        }
                        Ok(_) => {}
                        Err(Error::Pkcs11(RvError::FunctionFailed, _)) => {
                            refused += u64::from(counted)
                        }
                        Err(e) => return Err(format!("thread {t}: AES-GCM: {e}")),
                    }
                }
                Ok((ops, refused, last))
            },
        ));
    }
    let (mut ops, mut refused, mut finish) = (0u64, 0u64, None::<Instant>);
    for h in handles {
        let (o, r, last) = h.join().map_err(|_| "a worker thread panicked")??;
        ops += o;
        refused += r;
        if let Some(l) = last {
            finish = Some(finish.map_or(l, |f| f.max(l)));
        }
    }
    let window = clock.window().ok_or("no worker started")?;
    let finish = finish.ok_or("no operation completed in the measured window")?;
    let secs = (finish - window.warm_end).as_secs_f64();
    token.close()?;
    Ok(Counted { ops, refused, secs })
}
