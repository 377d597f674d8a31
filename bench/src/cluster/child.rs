//! A child of `kmsbridge-bench --cluster`: one case, RSA-2048 signs from many client
//! threads, failures counted rather than stopping the run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::Session;

use super::args::Opts;
use super::cases::{Outcome, ENV_KEY, ENV_LABEL, ENV_MODULE, ENV_PIN};
use crate::child::{env_var, Token};
use crate::keys::Keys;
use crate::measure::{percentile, Clock, Measured};
use crate::op::Op;
use crate::workers::Worker;

/// An RSA-2048 token key pair made by value: a session key pair is generated
/// (extractable, not sensitive), its components are read and written back as token
/// objects with C_CreateObject, and the session pair is destroyed. Why not
/// C_GenerateKeyPair of token keys: on a cluster of two or more nodes that needs the
/// cluster domain key, which only the SO provisions, while a token object created by
/// value is written to every node as it is. The same path on every case keeps the
/// keys alike (the private key ends sensitive either way).
fn rsa_token_key(s: &Session, label: &str) -> Result<Keys, String> {
    let e = |what: &'static str| move |err: cryptoki::error::Error| format!("{what}: {err}");
    let (p, k) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(false),
                Attribute::Verify(true),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ],
            &[
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::Sign(true),
            ],
        )
        .map_err(e("C_GenerateKeyPair (session RSA-2048)"))?;
    let parts = [
        AttributeType::Modulus,
        AttributeType::PublicExponent,
        AttributeType::PrivateExponent,
        AttributeType::Prime1,
        AttributeType::Prime2,
        AttributeType::Exponent1,
        AttributeType::Exponent2,
        AttributeType::Coefficient,
    ];
    let values = s
        .get_attributes(k, &parts)
        .map_err(e("C_GetAttributeValue (RSA components)"))?;
    if values.len() != parts.len() {
        return Err(format!(
            "C_GetAttributeValue gave {} of the {} RSA components",
            values.len(),
            parts.len()
        ));
    }
    let modulus = values
        .iter()
        .find_map(|a| match a {
            Attribute::Modulus(m) => Some(m.clone()),
            _ => None,
        })
        .ok_or("no CKA_MODULUS")?;
    let id = label.as_bytes().to_vec();
    let mut private = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Sign(true),
        Attribute::Label(id.clone()),
        Attribute::Id(id.clone()),
    ];
    private.extend(values);
    let key = s
        .create_object(&private)
        .map_err(e("C_CreateObject (token RSA private key)"))?;
    let check = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Label(id.clone()),
            Attribute::Id(id),
            Attribute::Modulus(modulus),
            Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
        ])
        .map_err(e("C_CreateObject (token RSA public key)"))?;
    s.destroy_object(k).map_err(e("C_DestroyObject"))?;
    s.destroy_object(p).map_err(e("C_DestroyObject"))?;
    Ok(Keys { key, check })
}

pub fn measure(opts: &Opts) -> Result<Outcome, String> {
    let set_by = "the --cluster parent sets it";
    let module = env_var(ENV_MODULE, set_by)?;
    let label = env_var(ENV_LABEL, set_by)?;
    let pin = env_var(ENV_PIN, set_by)?;
    let key_label = env_var(ENV_KEY, set_by)?;
    let token = Token::open(&module, &label, pin)?;
    let (p, slot) = (&token.p11, token.slot);
    let keys = rsa_token_key(&token.login, &key_label)?;
    // A sign that verifies, and a corrupted one that does not, before any timing.
    Worker::new(Op::RsaSign, Some(keys), slot, 0xff).check(p, &token.login)?;

    let threads = opts.threads;
    let clock = Arc::new(Clock::new(threads, opts.warmup, opts.seconds));
    let fails = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let mut handles = Vec::new();
    for t in 0..threads {
        let (p, clock) = (p.clone(), clock.clone());
        let (fails, first_error) = (fails.clone(), first_error.clone());
        handles.push(std::thread::spawn(move || -> Result<Vec<u32>, String> {
            let s = p
                .open_ro_session(slot)
                .map_err(|e| format!("thread {t}: C_OpenSession: {e}"))?;
            let mut w = Worker::new(Op::RsaSign, Some(keys), slot, t);
            // Each sign completed in the window: its latency in microseconds.
            let mut lat: Vec<u32> = Vec::with_capacity(4096);
            let window = clock.start();
            loop {
                let a = Instant::now();
                if a >= window.end {
                    break;
                }
                let r = w.run(&p, &s);
                let b = Instant::now();
                // Signs that complete in the window count, whenever they began:
                // with 32 threads queued on one node's 2 engines a sign takes about
                // a second, so counting by start instead (and timing to the last
                // completion) would stretch the window by that second with few
                // completions in it and understate the slowest case most.
                if b < window.warm_end || b > window.end {
                    continue;
                }
                match r {
                    Ok(n) => {
                        std::hint::black_box(n);
                        // Microseconds: a wait in an engine queue can pass the
                        // 4.3 s that u32 nanoseconds hold.
                        lat.push((b - a).as_micros().min(u32::MAX as u128) as u32);
                    }
                    Err(e) => {
                        fails.fetch_add(1, Ordering::Relaxed);
                        let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            Ok(lat)
        }));
    }
    let mut all: Vec<u32> = Vec::new();
    for h in handles {
        let lat = h.join().map_err(|_| "a client thread panicked")??;
        all.extend_from_slice(&lat);
    }
    // Completions are counted in a window of exactly this length (see the threads).
    let secs = clock.measure().as_secs_f64();
    all.sort_unstable();
    let first_error = first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_else(|| "none".into())
        .replace(char::is_whitespace, "_");
    token.close()?;
    Ok(Outcome {
        measured: Measured {
            ops: all.len() as u64,
            secs,
            p50_ns: percentile(&all, 0.50) * 1000,
            p99_ns: percentile(&all, 0.99) * 1000,
        },
        fails: fails.load(Ordering::Relaxed),
        first_error,
    })
}
