//! kmsbridge only: 4096 front sessions open at once share the configured backend pool;
//! several threads encrypt (AES-GCM) and sign across all of them, single- and multi-part,
//! and CK_TOKEN_INFO counts the sessions right. Needs `cargo build --release -p kmsbridge`.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use kmsbridge_testkit::keys::{gen_aes, gen_ec, import_generic, P256};
use kmsbridge_testkit::rig::RigOptions;
use kmsbridge_tests::{Env, Target};
use std::sync::Barrier;

const SESSIONS: usize = 4096;
const THREADS: usize = 8;
const PER_THREAD: usize = SESSIONS / THREADS;

struct Keys {
    aes: ObjectHandle,
    hmac: ObjectHandle,
    ec_pub: ObjectHandle,
    ec_priv: ObjectHandle,
}

fn counts(t: &Env) -> (Option<u64>, Option<u64>) {
    let info = t.ctx.get_token_info(t.slot).expect("C_GetTokenInfo");
    (info.session_count(), info.rw_session_count())
}

/// One single-part round on `s`: GCM seal/open, HMAC, and (every 16th session) ECDSA.
fn single_part(s: &Session, k: &Keys, tag: (usize, usize, usize)) {
    let (thread, index, round) = tag;
    let msg = format!("thread {thread} session {index} round {round}");
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(&((thread * PER_THREAD + index) as u64).to_be_bytes());
    iv[8..].copy_from_slice(&(round as u32).to_be_bytes());
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv, b"4096", 128.into()).unwrap());
    let ct = s.encrypt(&m, k.aes, msg.as_bytes()).unwrap_or_else(|e| panic!("{msg}: GCM: {e}"));
    assert_eq!(ct.len(), msg.len() + 16);
    let pt = s.decrypt(&m, k.aes, &ct).unwrap_or_else(|e| panic!("{msg}: GCM open: {e}"));
    assert_eq!(pt, msg.as_bytes(), "{msg}: GCM round trip");
    let mac = s.sign(&Mechanism::Sha256Hmac, k.hmac, msg.as_bytes()).expect("HMAC");
    s.verify(&Mechanism::Sha256Hmac, k.hmac, msg.as_bytes(), &mac).expect("HMAC verify");
    if index % 16 == 0 {
        let dg = s.digest(&Mechanism::Sha256, msg.as_bytes()).expect("SHA-256");
        let sig = s.sign(&Mechanism::Ecdsa, k.ec_priv, &dg).expect("ECDSA");
        s.verify(&Mechanism::Ecdsa, k.ec_pub, &dg, &sig).expect("ECDSA verify");
    }
}

/// Two multi-part operations interleaved on two sessions (each pins a backend session).
fn interleaved(a: &Session, b: &Session, k: &Keys, thread: usize) {
    let data = vec![thread as u8; 3000];
    let mut iv = [thread as u8; 12];
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).unwrap());
    let whole = a.encrypt(&m, k.aes, &data).unwrap();
    let mac = b.sign(&Mechanism::Sha256Hmac, k.hmac, &data).unwrap();
    a.encrypt_init(&m, k.aes).unwrap();
    b.sign_init(&Mechanism::Sha256Hmac, k.hmac).unwrap();
    let mut sealed = Vec::new();
    for part in data.chunks(700) {
        sealed.extend(a.encrypt_update(part).unwrap());
        b.sign_update(part).unwrap();
    }
    sealed.extend(a.encrypt_final().unwrap());
    assert_eq!(sealed, whole, "thread {thread}: multi-part GCM differs from single-part");
    assert_eq!(b.sign_final().unwrap(), mac, "thread {thread}: multi-part HMAC differs");
}

fn run(pool: usize, rounds: usize, multipart: bool) {
    let opts = RigOptions { pool: Some(pool), ..RigOptions::default() };
    let t = Env::with_options(Target::Bridge, &opts);
    let admin = t.user_session();
    let (ec_pub, ec_priv) = gen_ec(&admin, &P256, b"sessions-4096");
    let k = Keys {
        aes: gen_aes(&admin, 32),
        hmac: import_generic(&admin, &[0x42; 32]),
        ec_pub,
        ec_priv,
    };
    assert_eq!(counts(&t), (Some(1), Some(1)), "before: only the admin session");
    let opened = Barrier::new(THREADS + 1);
    let counted = Barrier::new(THREADS + 1);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (t, k, opened, counted) = (&t, &k, &opened, &counted);
            scope.spawn(move || {
                // Even sessions read/write, odd ones read-only.
                let sessions: Vec<Session> = (0..PER_THREAD)
                    .map(|i| {
                        let s = if i % 2 == 0 {
                            t.ctx.open_rw_session(t.slot)
                        } else {
                            t.ctx.open_ro_session(t.slot)
                        };
                        s.unwrap_or_else(|e| panic!("thread {thread}: C_OpenSession #{i}: {e}"))
                    })
                    .collect();
                opened.wait();
                counted.wait();
                for round in 0..rounds {
                    for (index, s) in sessions.iter().enumerate() {
                        single_part(s, k, (thread, index, round));
                    }
                }
                if multipart {
                    for pair in sessions.chunks(2).take(32) {
                        interleaved(&pair[0], &pair[1], k, thread);
                    }
                }
            });
        }
        opened.wait();
        let (all, rw) = counts(&t);
        counted.wait();
        assert_eq!(all, Some(SESSIONS as u64 + 1), "ulSessionCount with {SESSIONS} open");
        assert_eq!(rw, Some(SESSIONS as u64 / 2 + 1), "ulRwSessionCount");
    });
    assert_eq!(counts(&t), (Some(1), Some(1)), "after the threads closed their sessions");
    let sig = admin.sign(&Mechanism::Sha256Hmac, k.hmac, b"still usable").unwrap();
    assert_eq!(sig.len(), 32);
}

/// The requirement: 4096 concurrent front sessions with a pool of 32.
#[test]
fn sessions_4096_pool_32() {
    run(32, 2, true);
}

/// A pool far smaller than the number of threads: single-part calls wait for a session.
#[test]
fn sessions_4096_pool_4() {
    run(4, 1, false);
}
