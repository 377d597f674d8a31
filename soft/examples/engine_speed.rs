//! Timing harness for the software engine's crypto (no Criterion): each operation
//! runs for 2 seconds on 1 and on 2 threads, the way the software backend will run
//! it per PKCS#11 call — `begin_encrypt` or `begin_sign` on a cached `Prepared` key, then one single-part
//! call. With `--features rustcrypto-bench` the RustCrypto candidates (aes-gcm,
//! aes + CBC, p256, rsa 0.10) are timed beside it, keys and schedules built once.
//!
//! ```text
//! cargo run --release -p kmsbridge-soft --example engine_speed --features rustcrypto-bench
//! ```
//! `ENGINE_SPEED_ONLY=ECDSA` times only the rows whose name contains "ECDSA".
//! Results and the crate choice: docs/SOFTWARE_CRYPTO.md.

// A bench: a panic is how it reports a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptoki_sys::*;
use kmsbridge_bridge::{Attr, MechParam, Mechanism};
use kmsbridge_soft::engine::{self, SoftObject};
use std::time::{Duration, Instant};

const SECS: u64 = 2;

/// Runs `make()`'s closure on `threads` threads for SECS seconds; total ops/s.
fn rate<F, G>(threads: usize, make: G) -> f64
where
    G: Fn() -> F + Sync,
    F: FnMut(),
{
    let total: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut f = make();
                    for _ in 0..50 {
                        f();
                    }
                    let start = Instant::now();
                    let mut n = 0u64;
                    while start.elapsed() < Duration::from_secs(SECS) {
                        for _ in 0..20 {
                            f();
                        }
                        n += 20;
                    }
                    n
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    total as f64 / SECS as f64
}

fn report<F, G>(name: &str, make: G)
where
    G: Fn() -> F + Sync,
    F: FnMut(),
{
    // ENGINE_SPEED_ONLY=text times only the rows whose name contains it.
    if let Ok(only) = std::env::var("ENGINE_SPEED_ONLY") {
        if !name.contains(&only) {
            return;
        }
    }
    let one = rate(1, &make);
    let two = rate(2, &make);
    println!("{name:<52} {one:>11.0} /s {two:>11.0} /s");
}

fn attr_u(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
    Attr::ulong(ty, v)
}

fn encrypt_once(
    m: &Mechanism,
    key: &std::sync::Arc<engine::Prepared>,
    input: &[u8],
    out: &mut [u8],
) {
    let mut op = engine::begin_encrypt(m, key.clone()).expect("begin");
    std::hint::black_box(op.run(input, Some(out)).expect("run"));
}

fn sign_once(m: &Mechanism, key: &std::sync::Arc<engine::Prepared>, input: &[u8], out: &mut [u8]) {
    let mut op = engine::begin_sign(m, key.clone()).expect("begin");
    std::hint::black_box(op.run(input, Some(out)).expect("run"));
}

fn main() {
    println!("{:<52} {:>14} {:>14}", "operation", "1 thread", "2 threads");
    let data = vec![0x5au8; 1024];
    let aes: SoftObject = engine::generate_key(
        &Mechanism::simple(CKM_AES_KEY_GEN),
        &[attr_u(CKA_VALUE_LEN, 32)],
    )
    .expect("AES key");
    let aes_p = engine::prepare(&aes).expect("prepare");
    let gcm = Mechanism {
        ty: CKM_AES_GCM,
        param: MechParam::Gcm {
            iv: vec![1; 12],
            iv_bits: 96,
            aad: Vec::new(),
            tag_bits: 128,
        },
    };
    let cbc = Mechanism {
        ty: CKM_AES_CBC,
        param: MechParam::Flat(zeroize::Zeroizing::new(vec![2; 16])),
    };
    report("engine AES-256-GCM encrypt 1 KiB", || {
        let mut out = vec![0u8; 1040];
        let (k, m, d) = (aes_p.clone(), &gcm, &data);
        move || encrypt_once(m, &k, d, &mut out)
    });
    report("engine AES-256-CBC encrypt 1 KiB", || {
        let mut out = vec![0u8; 1024];
        let (k, m, d) = (aes_p.clone(), &cbc, &data);
        move || encrypt_once(m, &k, d, &mut out)
    });

    let (_, ec) = engine::generate_key_pair(
        &Mechanism::simple(CKM_EC_KEY_PAIR_GEN),
        &[Attr::new(
            CKA_EC_PARAMS,
            vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        )],
        &[],
    )
    .expect("EC key");
    let ec_p = engine::prepare(&ec).expect("prepare");
    let msg = [0x42u8; 32];
    for (name, m) in [
        (
            "engine ECDSA P-256 sign (CKM_ECDSA_SHA256)",
            CKM_ECDSA_SHA256,
        ),
        ("engine ECDSA P-256 sign (CKM_ECDSA, prehashed)", CKM_ECDSA),
    ] {
        report(name, || {
            let mut out = vec![0u8; 64];
            let k = ec_p.clone();
            move || sign_once(&Mechanism::simple(m), &k, &msg, &mut out)
        });
    }

    let (_, rsa) = engine::generate_key_pair(
        &Mechanism::simple(CKM_RSA_PKCS_KEY_PAIR_GEN),
        &[attr_u(CKA_MODULUS_BITS, 2048)],
        &[],
    )
    .expect("RSA key");
    let rsa_p = engine::prepare(&rsa).expect("prepare");
    report("engine RSA-2048 sign (CKM_SHA256_RSA_PKCS)", || {
        let mut out = vec![0u8; 256];
        let k = rsa_p.clone();
        move || sign_once(&Mechanism::simple(CKM_SHA256_RSA_PKCS), &k, &msg, &mut out)
    });

    #[cfg(feature = "rustcrypto-bench")]
    rustcrypto::run(&aes, &ec, &rsa);
}

#[cfg(feature = "rustcrypto-bench")]
mod rustcrypto {
    use super::*;
    use aes_gcm::aead::{AeadInOut, KeyInit};
    use aes_gcm::aes::cipher::BlockCipherEncrypt;

    pub fn run(aes: &SoftObject, ec: &SoftObject, rsa: &SoftObject) {
        let key = aes.get(CKA_VALUE).expect("value").to_vec();
        let data = vec![0x5au8; 1024];
        report("RustCrypto aes-gcm 0.11 AES-256-GCM 1 KiB", || {
            let c = aes_gcm::Aes256Gcm::new_from_slice(&key).expect("key");
            let mut buf = data.clone();
            let nonce = aes_gcm::Nonce::default();
            move || {
                let t = c.encrypt_inout_detached(&nonce, b"", buf.as_mut_slice().into());
                std::hint::black_box(t.ok());
            }
        });
        report("RustCrypto aes 0.9 AES-256-CBC 1 KiB", || {
            let c = aes_gcm::aes::Aes256::new_from_slice(&key).expect("key");
            let mut out = vec![0u8; 1024];
            let data = data.clone();
            move || {
                let mut chain = aes_gcm::aes::Block::default();
                for (i, o) in data.chunks_exact(16).zip(out.chunks_exact_mut(16)) {
                    for j in 0..16 {
                        chain[j] ^= i[j];
                    }
                    c.encrypt_block(&mut chain);
                    o.copy_from_slice(&chain);
                }
                std::hint::black_box(&out);
            }
        });
        let d = ec.get(CKA_VALUE).expect("EC scalar").to_vec();
        report("RustCrypto p256 0.14 ECDSA SHA-256 sign", || {
            use p256::ecdsa::{signature::Signer, Signature, SigningKey};
            let sk = SigningKey::from_slice(&d).expect("scalar");
            move || {
                let s: Signature = sk.sign(b"0123456789abcdef0123456789abcdef");
                std::hint::black_box(s);
            }
        });
        let get = |t| rsa::BoxedUint::from_be_slice_vartime(rsa.get(t).expect("RSA component"));
        let key = rsa::PrivateKey::from_components(
            get(CKA_MODULUS),
            get(CKA_PUBLIC_EXPONENT),
            get(CKA_PRIVATE_EXPONENT),
            vec![get(CKA_PRIME_1), get(CKA_PRIME_2)],
        )
        .expect("RSA key");
        report("RustCrypto rsa 0.10 RSA-2048 PKCS#1 v1.5 sign", || {
            let key = key.clone();
            let digest = [7u8; 32];
            move || {
                let s = key.sign(rsa::Pkcs1v15Sign::new::<rsa::sha2::Sha256>(), &digest);
                std::hint::black_box(s.ok());
            }
        });
    }
}
