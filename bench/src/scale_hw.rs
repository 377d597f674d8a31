//! `kmsbridge-bench --scale-hw`: find, first use, steady use and creation on a hardware
//! instance holding N keys, against SoftHSM2 direct on the same token (issue 14).
//!
//! For each N the parent makes a fresh hardware rig (`ci/softhsm/setup`), fills its
//! SoftHSM2 token with N AES-256 token keys (`scale-<i>`, CKA_ID the 8-byte index)
//! through SoftHSM2 itself, then runs `--repeat` rounds, each a fresh child process per
//! target (direct, bridge; alternating). A child logs in, then times, once each: a find
//! by label (`C_FindObjectsInit` + `C_FindObjects` + `C_FindObjectsFinal`), the first
//! AES-GCM encryption with the key found (`C_EncryptInit` + `C_Encrypt`, the wrapper's
//! length query included on both sides), the same for a second key (find, first use:
//! what a per-key cost shows, apart from a per-process one); then the median of 200
//! encryptions with the first key (steady use) and of 10 `C_GenerateKey` of a token
//! AES key (creation; those keys are destroyed after, untimed). The parent reports the
//! median over rounds of each figure and bridge ÷ direct.
//!
//! `--nodes 3`: the hardware instance is a 3-node in-process cluster
//! (`ci/softhsm/setup --nodes 3 --in-process`, then `kmsbridge cluster init`), each
//! node's token filled with the same N keys (by value, so the nodes agree); direct is
//! SoftHSM2 on node 0's token.
//!
//! A measurement, not a test: nothing asserts on timings.

use std::process::ExitCode;
use std::time::Instant;

use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use crate::args::{help, parse_list};
use crate::child::{env_var, exit, spawn, Done, Fields, Token};
use crate::measure::median;
use crate::report::loadavg;
use crate::rig::{finish, rigs_dir, run_setup, setup_script, Vars};

const USAGE: &str = "\
usage: kmsbridge-bench --scale-hw [--keys 100,2000] [--repeat R] [--nodes 3] [--keep] [--setup PATH]

For each key count N: a hardware instance over a SoftHSM2 token holding N AES-256 keys;
a fresh process per target and round (direct SoftHSM2, kmsbridge bridge) times a find
by label, the first AES-GCM use of the key found (and of a second one), steady use
(median of 200) and creation (median of 10 C_GenerateKey). Prints medians over R
rounds (default 5) and bridge / direct. --nodes 3: the instance is a 3-node in-process
cluster, every node's token holding the N keys; direct is node 0's token.
";

/// What a child measures, in µs.
const FIGURES: [&str; 7] = [
    "login", "find", "first", "find2", "first2", "steady", "create",
];

struct Opts {
    keys: Vec<usize>,
    repeat: usize,
    /// 1: a single-token instance; more: an in-process cluster of that many nodes.
    nodes: usize,
    keep: bool,
    setup: Option<std::path::PathBuf>,
    /// Child: `populate` or `direct`/`bridge`, and the key count.
    child: Option<(String, usize)>,
}

fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        keys: vec![100, 2000],
        repeat: 5,
        nodes: 1,
        keep: false,
        setup: None,
        child: None,
    };
    let mut it = args.iter();
    let count = |s: &str| {
        s.parse::<usize>()
            .ok()
            .filter(|n| *n > 1)
            .ok_or_else(|| format!("bad count {s:?}"))
    };
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--scale-hw" => {}
            "--scale-hw-child" => {
                let what = val("--scale-hw-child")?.clone();
                let n = count(val("--scale-hw-child")?)?;
                o.child = Some((what, n));
            }
            "--keys" => o.keys = parse_list(val("--keys")?, count)?,
            "--repeat" => o.repeat = count(val("--repeat")?).unwrap_or(1),
            "--nodes" => o.nodes = count(val("--nodes")?)?,
            "--keep" => o.keep = true,
            "--setup" => o.setup = Some(val("--setup")?.into()),
            "-h" | "--help" => help(USAGE),
            _ => return Err(format!("unknown argument {a:?}\n{USAGE}")),
        }
    }
    Ok(o)
}

pub fn main(args: &[String]) -> ExitCode {
    exit(parse_args(args), |o| match &o.child {
        Some((what, n)) => Done::Child(child(what, *n)),
        None => Done::Parent(run(&o)),
    })
}

fn open(target: &str) -> Result<Token, String> {
    let set_by = "the parent sets it from ci/softhsm/setup";
    let (m, l, p) = match target {
        "bridge" => (
            "KMSBRIDGE_MODULE",
            "KMSBRIDGE_TOKEN_LABEL",
            "KMSBRIDGE_USER_PIN",
        ),
        _ => (
            "SOFTHSM2_MODULE",
            "SOFTHSM2_TOKEN_LABEL",
            "SOFTHSM2_USER_PIN",
        ),
    };
    Token::open(
        &env_var(m, set_by)?,
        &env_var(l, set_by)?,
        env_var(p, set_by)?,
    )
}

fn aes_template(label: &str, id: Option<Vec<u8>>) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::ValueLen(32.into()),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ];
    t.extend(id.map(Attribute::Id));
    t
}

fn us(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e6
}

fn find(s: &Session, i: usize) -> Result<ObjectHandle, String> {
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(format!("scale-{i}").into_bytes()),
        ])
        .map_err(|e| format!("C_FindObjects(scale-{i}): {e}"))?;
    match found.as_slice() {
        [one] => Ok(*one),
        other => Err(format!("scale-{i}: {} objects found", other.len())),
    }
}

/// Each encryption's IV: a fresh counter value (never repeated in a process).
static IV: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn encrypt(s: &Session, key: ObjectHandle, n: u8) -> Result<(), String> {
    let mut iv = [0u8; 12];
    let c = IV.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    iv[4..].copy_from_slice(&c.to_be_bytes());
    let params = GcmParams::new(&mut iv, &[], 128.into()).map_err(|e| e.to_string())?;
    let out = s
        .encrypt(&Mechanism::AesGcm(params), key, &[n; 1024])
        .map_err(|e| format!("C_Encrypt: {e}"))?;
    if out.len() != 1024 + 16 {
        return Err(format!("AES-GCM gave {} bytes", out.len()));
    }
    Ok(())
}

fn child(what: &str, n: usize) -> Result<String, String> {
    if what == "populate" || what == "populate-value" {
        // By value on a cluster's nodes: every node must hold the same key.
        let by_value = what == "populate-value";
        let t = open("direct")?;
        for i in 0..n {
            let mut tmpl = aes_template(
                &format!("scale-{i}"),
                Some((i as u64).to_be_bytes().to_vec()),
            );
            let made = if by_value {
                tmpl.retain(|a| !matches!(a, Attribute::ValueLen(_)));
                let mut v = [0u8; 32];
                v[..8].copy_from_slice(&(i as u64).to_be_bytes());
                tmpl.push(Attribute::Value(v.to_vec()));
                t.login.create_object(&tmpl)
            } else {
                t.login.generate_key(&Mechanism::AesKeyGen, &tmpl)
            };
            made.map_err(|e| format!("making scale-{i}: {e}"))?;
        }
        t.close()?;
        return Ok(format!("keys={n}"));
    }
    let t0 = Instant::now();
    let t = open(what)?;
    let login = us(t0);
    let s = &t.login;
    let (a, b) = (n / 2, n / 3);
    let t0 = Instant::now();
    let k = find(s, a)?;
    let find1 = us(t0);
    let t0 = Instant::now();
    encrypt(s, k, 1)?;
    let first = us(t0);
    let t0 = Instant::now();
    let k2 = find(s, b)?;
    let find2 = us(t0);
    let t0 = Instant::now();
    encrypt(s, k2, 2)?;
    let first2 = us(t0);
    let steady: Vec<f64> = (0..200u8)
        .map(|i| {
            let t0 = Instant::now();
            encrypt(s, k, i).map(|_| us(t0))
        })
        .collect::<Result<_, _>>()?;
    let mut made = Vec::new();
    let mut create = Vec::new();
    for i in 0..10 {
        let tmpl = aes_template(&format!("scale-new-{i}"), None);
        let t0 = Instant::now();
        let h = s
            .generate_key(&Mechanism::AesKeyGen, &tmpl)
            .map_err(|e| format!("C_GenerateKey: {e}"))?;
        create.push(us(t0));
        made.push(h);
    }
    for h in made {
        s.destroy_object(h)
            .map_err(|e| format!("C_DestroyObject: {e}"))?;
    }
    let m = |v: Vec<f64>| median(v, |x| *x).unwrap_or(0.0);
    let vals = [login, find1, first, find2, first2, m(steady), m(create)];
    t.close()?;
    Ok(FIGURES
        .iter()
        .zip(vals)
        .map(|(k, v)| format!("{k}={v:.1}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// A `nodes`-node in-process cluster rig whose every node token holds the `n` keys,
/// its domain key made.
fn cluster_rig(
    setup: &std::path::Path,
    dir: &std::path::Path,
    nodes: usize,
    n: usize,
) -> Result<Vars, String> {
    let args = [
        "--nodes".to_string(),
        nodes.to_string(),
        "--in-process".into(),
    ];
    let env: Vars = run_setup(setup, dir, &args)?;
    // One node after another: SoftHSM2 processes filling tokens of one store at once
    // failed (CKR_GENERAL_ERROR from C_GetTokenInfo).
    for k in 0..nodes {
        let label = crate::rig::var(&env, &format!("KMSBRIDGE_NODE{k}_TOKEN_LABEL"))?;
        let mut e = env.clone();
        e.retain(|(name, _)| name != "SOFTHSM2_TOKEN_LABEL");
        e.push(("SOFTHSM2_TOKEN_LABEL".into(), label.to_string()));
        spawn(&child_args("populate-value", n), &e)?;
    }
    let module = crate::rig::var(&env, "KMSBRIDGE_MODULE")?;
    let cli = std::path::Path::new(module).with_file_name("kmsbridge");
    let status = std::process::Command::new(&cli)
        .args([
            "cluster",
            "init",
            "--so-pin",
            crate::rig::var(&env, "KMSBRIDGE_SO_PIN")?,
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("running {}: {e}", cli.display()))?;
    if !status.success() {
        return Err(format!("kmsbridge cluster init failed: {status}"));
    }
    Ok(env)
}

fn child_args(what: &str, n: usize) -> Vec<String> {
    vec!["--scale-hw-child".into(), what.into(), n.to_string()]
}

fn figures(f: &Fields) -> Result<Vec<f64>, String> {
    FIGURES.iter().map(|k| f.num(k)).collect()
}

fn run(o: &Opts) -> Result<(), String> {
    let load_start = loadavg();
    let tmp = rigs_dir("kmsbridge-bench-scale-")?;
    let setup = setup_script(o.setup.as_deref());
    let mut rows = Vec::new();
    for &n in &o.keys {
        let t0 = Instant::now();
        let env = if o.nodes > 1 {
            cluster_rig(&setup, &tmp.path().join(format!("hw-{n}")), o.nodes, n)?
        } else {
            let env: Vars = run_setup(&setup, &tmp.path().join(format!("hw-{n}")), &[])?;
            spawn(&child_args("populate", n), &env)?;
            env
        };
        eprintln!("{n} keys made in {:.1} s", t0.elapsed().as_secs_f64());
        let mut per: [Vec<Vec<f64>>; 2] = [Vec::new(), Vec::new()];
        for r in 0..o.repeat {
            for (ti, target) in ["direct", "bridge"].iter().enumerate() {
                let f = figures(&spawn(&child_args(target, n), &env)?)?;
                eprintln!("{n} keys, round {}/{}, {target}: {f:?}", r + 1, o.repeat);
                if let Some(v) = per.get_mut(ti) {
                    v.push(f);
                }
            }
        }
        let med = |runs: &Vec<Vec<f64>>, k: usize| {
            median(
                runs.iter().filter_map(|f| f.get(k).copied()).collect(),
                |x| *x,
            )
            .unwrap_or(0.0)
        };
        let [d, b] = &per;
        rows.push((
            n,
            (0..FIGURES.len())
                .map(|k| (med(d, k), med(b, k)))
                .collect::<Vec<_>>(),
        ));
    }
    let kind = if o.nodes > 1 {
        format!("{}-node cluster", o.nodes)
    } else {
        "Hardware instance".to_string()
    };
    println!(
        "## {kind} at scale: median of {} fresh processes per target (µs)\n",
        o.repeat
    );
    println!("| keys | figure | direct | bridge | bridge / direct |");
    println!("|---:|---|---:|---:|---:|");
    for (n, figs) in &rows {
        for (name, (d, b)) in FIGURES.iter().zip(figs) {
            println!("| {n} | {name} | {d:.1} | {b:.1} | {:.2} |", b / d);
        }
    }
    println!(
        "\nlogin = C_Initialize + C_OpenSession + C_Login; find/first = the first key, \
         find2/first2 = a second one; load average {load_start} before, {} after.",
        loadavg()
    );
    finish(tmp, o.keep, 0, "case")
}
