//! The `--scale` children: build a store, measure one, touch every key of one.

use std::time::{Duration, Instant};

use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use kmsbridge_bridge::admin::TokenAdmin;
use kmsbridge_bridge::{Attr, MechParam};
use kmsbridge_store::{Location, PgSettings};

use crate::child::{env_var, Token};

const SET_BY: &str = "the rig (ci/softhsm/setup)";

fn arg(args: &[String], name: &str) -> Result<String, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .ok_or_else(|| format!("{name} missing"))
}

pub fn run(args: &[String]) -> Result<String, String> {
    let count: usize = arg(args, "--count")?.parse().map_err(|_| "bad --count")?;
    let sample: usize = arg(args, "--sample")?.parse().map_err(|_| "bad --sample")?;
    if args.iter().any(|a| a == "build") {
        build(location(args)?, count)
    } else if args.iter().any(|a| a == "touch") {
        touch(count)
    } else {
        measure(count, sample)
    }
}

fn key_template(i: usize) -> Vec<Attr> {
    vec![
        Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attr::ulong(CKA_KEY_TYPE, CKK_AES),
        Attr::ulong(CKA_VALUE_LEN, 32),
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, true),
        Attr::bool(CKA_SENSITIVE, true),
        Attr::bool(CKA_ENCRYPT, true),
        Attr::bool(CKA_DECRYPT, true),
        Attr::new(CKA_LABEL, format!("key-{i}").into_bytes()),
        Attr::new(CKA_ID, format!("id-{i}").into_bytes()),
    ]
}

/// The store the build child fills: `--store DIR` (SQLite) or `--pg
/// PORT:USER:PASSWORD_FILE` (database `kb` on 127.0.0.1, as ci/softhsm/setup writes it).
fn location(args: &[String]) -> Result<Location, String> {
    if let Ok(pg) = arg(args, "--pg") {
        let mut it = pg.splitn(3, ':');
        let (Some(port), Some(user), Some(pw)) = (it.next(), it.next(), it.next()) else {
            return Err(format!("bad --pg {pg}"));
        };
        let mut s = PgSettings::new("127.0.0.1", "kb", user, pw.as_ref());
        s.port = port.parse().map_err(|_| format!("bad port in --pg {pg}"))?;
        return Ok(Location::Postgres(s));
    }
    Ok(Location::Dir(arg(args, "--store")?.into()))
}

/// Fill the store with `count` keys through the backend's bulk path.
fn build(store: Location, count: usize) -> Result<String, String> {
    let pin = env_var("KMSBRIDGE_USER_PIN", SET_BY)?;
    let b = kmsbridge_soft::SoftBackend::at(store, 10_000);
    b.login(CKU_USER, pin.as_bytes())
        .map_err(|e| format!("login: {e}"))?;
    let mech = kmsbridge_bridge::Mechanism {
        ty: CKM_AES_KEY_GEN,
        param: MechParam::None,
    };
    let start = Instant::now();
    let mut i = 0;
    while i < count {
        let n = (count - i).min(10_000);
        let objs = (i..i + n)
            .map(|k| kmsbridge_soft::engine::generate_key(&mech, &key_template(k)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("generate: {e}"))?;
        b.insert_token_objects(&objs)
            .map_err(|e| format!("insert: {e}"))?;
        i += n;
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / count as f64;
    Ok(format!("bulk_us={us:.2} count={count}"))
}

fn open() -> Result<(Token, Duration), String> {
    let module = env_var("KMSBRIDGE_MODULE", SET_BY)?;
    let label = env_var("KMSBRIDGE_TOKEN_LABEL", SET_BY)?;
    let pin = env_var("KMSBRIDGE_USER_PIN", SET_BY)?;
    let start = Instant::now();
    let t = Token::open(&module, &label, pin)?;
    Ok((t, start.elapsed()))
}

fn find(s: &Session, t: Attribute) -> Result<ObjectHandle, String> {
    let found = s
        .find_objects(std::slice::from_ref(&t))
        .map_err(|e| format!("find {t:?}: {e}"))?;
    match found[..] {
        [h] => Ok(h),
        _ => Err(format!("find {t:?}: {} objects", found.len())),
    }
}

fn gcm(s: &Session, k: ObjectHandle, n: u64, data: &[u8]) -> Result<(), String> {
    let mut iv = [0u8; 12];
    iv[4..].copy_from_slice(&n.to_be_bytes());
    let p = GcmParams::new(&mut iv, &[], 128.into()).map_err(|e| format!("{e}"))?;
    s.encrypt(&Mechanism::AesGcm(p), k, data)
        .map(|_| ())
        .map_err(|e| format!("C_Encrypt: {e}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn measure(count: usize, sample: usize) -> Result<String, String> {
    let (t, init) = open()?;
    let s = &t.login;
    let data = vec![0x5a; 1024];
    let (mut by_label, mut by_id, mut first, mut steady) = (vec![], vec![], vec![], vec![]);
    let mut n = 0u64;
    for j in 0..sample.min(count) {
        // Spread over the store, each key once.
        let i = j * count / sample.min(count);
        let start = Instant::now();
        let k = if j % 2 == 0 {
            let k = find(s, Attribute::Label(format!("key-{i}").into_bytes()))?;
            by_label.push(us(start.elapsed()));
            k
        } else {
            let k = find(s, Attribute::Id(format!("id-{i}").into_bytes()))?;
            by_id.push(us(start.elapsed()));
            k
        };
        n += 1;
        let start = Instant::now();
        gcm(s, k, n, &data)?;
        first.push(us(start.elapsed()));
        let mut st = Vec::new();
        for _ in 0..20 {
            n += 1;
            let start = Instant::now();
            gcm(s, k, n, &data)?;
            st.push(us(start.elapsed()));
        }
        steady.push(median(st));
    }
    let mut generate = Vec::new();
    let mech = Mechanism::AesKeyGen;
    for g in 0..20 {
        let tmpl = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::ValueLen(32.into()),
            Attribute::Encrypt(true),
            Attribute::Label(format!("gen-{g}").into_bytes()),
        ];
        let start = Instant::now();
        s.generate_key(&mech, &tmpl)
            .map_err(|e| format!("C_GenerateKey: {e}"))?;
        generate.push(us(start.elapsed()));
    }
    t.close()?;
    Ok(format!(
        "init_login_us={:.1} find_label_us={:.1} find_id_us={:.1} first_use_us={:.1} \
         steady_us={:.1} generate_us={:.1}",
        us(init),
        median(by_label),
        median(by_id),
        median(first),
        median(steady),
        median(generate)
    ))
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Find and use every key; the process's memory after.
fn touch(count: usize) -> Result<String, String> {
    let (t, _) = open()?;
    let s = &t.login;
    let data = vec![0x5a; 1024];
    let start = Instant::now();
    for i in 0..count {
        let k = find(s, Attribute::Label(format!("key-{i}").into_bytes()))?;
        gcm(s, k, i as u64, &data)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let out = format!(
        "rss_kb={} hwm_kb={} secs={secs:.1}",
        status_kb("VmRSS:"),
        status_kb("VmHWM:")
    );
    t.close()?;
    Ok(out)
}
