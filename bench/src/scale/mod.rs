//! `kmsbridge-bench --scale`: a software instance's costs against the number of keys
//! it holds, on SQLite and on PostgreSQL side by side (issue 14, "What it must show";
//! docs/BENCHMARKS.md).
//!
//! For each count (default 100, 10,000, 100,000) and each store (`--store`, default
//! SQLite) a fresh rig (`ci/softhsm/setup --software`, with `--postgres` a throw-away
//! server started as testkit starts it: `initdb` + `pg_ctl` on a loopback port), then:
//! - **build**: a child fills the store with that many AES-256 token keys (private,
//!   labels `key-<i>`, ids `id-<i>`) through the software backend's bulk path (one
//!   commit per 10,000 keys; the engine makes each key as `C_GenerateKey` would);
//!   on PostgreSQL the database is then vacuumed and analyzed (`vacuumdb --analyze`),
//!   as autovacuum leaves it some minutes after a bulk load;
//! - **measure** (once every store is built, `--repeat` rounds visiting each (store,
//!   count) in turn; the median round is reported): a fresh child times `C_Initialize` + `C_OpenSession` + `C_Login`,
//!   then, for `--sample` keys spread over the store and never used before in that
//!   process: a find by label (half the sample) or by `CKA_ID` (the other half), the
//!   first AES-256-GCM 1 KiB encryption with the key found, and the steady cost (the
//!   median of 20 more); and 20 `C_GenerateKey` of token keys at that size. Medians.
//! - **touch** (largest count only, `--touch`): a child finds every key by label and
//!   encrypts once with it, then reports its resident memory (VmRSS, VmHWM).
//!
//! Ratios are against the smallest count of the same store, and PostgreSQL ÷ SQLite at
//! the same count. Every child is this binary re-executed with `--scale-child`, in the
//! rig's environment.

mod child;

use std::process::ExitCode;

use crate::args::help;
use crate::child::{exit, spawn, Done, Fields};
use crate::rig::{finish, rigs_dir, run_setup, setup_script, Vars};
use kmsbridge_testkit::postgres::Postgres;

const USAGE: &str = "\
usage: kmsbridge-bench --scale [--counts N,N,...] [--store sqlite,postgres] [--sample S]
                       [--repeat R] [--touch] [--object-cache N] [--keep] [--setup PATH]

A software instance with N AES keys (default 100,10000,100000): find by label and by
CKA_ID, first use (AES-GCM 1 KiB), steady use, C_GenerateKey, C_Initialize + login,
each the median over S keys (default 100) never used before in a fresh process;
ratios against the first count. --touch: a process that finds and uses every key of
the largest store reports its resident memory. --object-cache N: the instance's
object_cache (default: the module's default, 10000). --store: the stores to measure
(default sqlite); postgres starts a throw-away server per count (initdb + pg_ctl from
the Debian postgresql package, on a loopback port); with both, a last table gives
PostgreSQL / SQLite at each count. --repeat R: every store is built first, then R
rounds each measure every (store, count) in turn in a fresh process; the median
round is reported (default 1).
";

/// Which store a column measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    fn parse(s: &str) -> Result<Kind, String> {
        match s {
            "sqlite" => Ok(Kind::Sqlite),
            "postgres" | "postgresql" => Ok(Kind::Postgres),
            _ => Err(format!("bad store {s:?} (sqlite or postgres)")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        }
    }
}

struct Opts {
    counts: Vec<usize>,
    stores: Vec<Kind>,
    repeat: usize,
    sample: usize,
    touch: bool,
    object_cache: Option<usize>,
    keep: bool,
    setup: Option<std::path::PathBuf>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        counts: vec![100, 10_000, 100_000],
        stores: vec![Kind::Sqlite],
        repeat: 1,
        sample: 100,
        touch: false,
        object_cache: None,
        keep: false,
        setup: None,
    };
    let mut it = args.iter().filter(|a| *a != "--scale");
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--counts" => {
                o.counts = crate::args::parse_list(val()?, |s| {
                    s.parse().map_err(|_| format!("bad count {s}"))
                })?
            }
            "--store" => o.stores = crate::args::parse_list(val()?, Kind::parse)?,
            "--repeat" => {
                o.repeat = val()?
                    .parse()
                    .ok()
                    .filter(|r| *r > 0)
                    .ok_or("bad --repeat")?
            }
            "--sample" => o.sample = val()?.parse().map_err(|_| "bad --sample")?,
            "--touch" => o.touch = true,
            "--object-cache" => {
                o.object_cache = Some(val()?.parse().map_err(|_| "bad --object-cache")?)
            }
            "--keep" => o.keep = true,
            "--setup" => o.setup = Some(val()?.into()),
            "-h" | "--help" => help(USAGE),
            _ => return Err(format!("unknown argument {a}\n{USAGE}")),
        }
    }
    if o.counts.is_empty() || o.stores.is_empty() || o.sample < 2 {
        return Err("need counts, stores and a sample of at least 2".into());
    }
    Ok(o)
}

pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--scale-child") {
        return exit(Ok(()), |()| Done::Child(child::run(args)));
    }
    exit(parse(args), |o| Done::Parent(run(&o)))
}

/// One (store, count): its rig, its server (dropping it stops and removes it) and
/// its results, one measuring child per round.
struct Row {
    store: Kind,
    count: usize,
    vars: Vars,
    location: Vec<String>,
    server: Option<Postgres>,
    build: Fields,
    m: Vec<Fields>,
}

/// A throw-away PostgreSQL server with database `kb`, and the setup and build
/// arguments that point a rig at it (`PORT:USER:PASSWORD_FILE`).
fn start_postgres(dir: &std::path::Path) -> Result<(Postgres, String), String> {
    use std::os::unix::fs::PermissionsExt;
    let pg = Postgres::start();
    pg.create_database("kb");
    std::fs::create_dir_all(dir).map_err(|e| format!("{e}"))?;
    let pw = dir.join("pg.password");
    std::fs::write(&pw, &pg.password).map_err(|e| format!("{e}"))?;
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{e}"))?;
    let arg = format!("{}:{}:{}", pg.port, pg.superuser, pw.display());
    Ok((pg, arg))
}

/// `VACUUM ANALYZE` of the freshly built database: the state autovacuum brings a
/// store to after a bulk load, minutes later. Without it the measuring child would
/// share the 2 CPUs with autovacuum's pass over 100,000 new rows, and index-only scans
/// would still visit the heap (no visibility map yet).
fn settle(pg: &Postgres) -> Result<(), String> {
    // Beside initdb (Debian's versioned bin directory), else on PATH.
    let beside = kmsbridge_testkit::postgres::bin_dir()?.join("vacuumdb");
    let tool = if beside.is_file() {
        beside
    } else {
        "vacuumdb".into()
    };
    let out = std::process::Command::new(tool)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port.to_string(),
            "-U",
            &pg.superuser,
        ])
        .args(["--analyze", "--quiet", "kb"])
        .env("PGPASSWORD", &pg.password)
        .output()
        .map_err(|e| format!("vacuumdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "vacuumdb: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn run(o: &Opts) -> Result<(), String> {
    let tmp = rigs_dir("kmsbridge-scale-")?;
    let setup = setup_script(o.setup.as_deref());
    // Every (count, store) built first and kept (servers running), then measured in
    // rounds that visit each in turn: a change in the machine's load hits them all.
    let mut rows = Vec::new();
    for &count in &o.counts {
        for &kind in &o.stores {
            rows.push(build_row(o, &setup, tmp.path(), kind, count)?);
        }
    }
    for round in 0..o.repeat {
        for r in rows.iter_mut() {
            eprintln!(
                "scale: {}: measuring at {} keys (round {})",
                r.store.name(),
                r.count,
                round + 1
            );
            let m = r.child(o, "measure")?;
            r.m.push(m);
        }
    }
    let mut touched = Vec::new();
    if o.touch {
        let largest = o.counts.last().copied().unwrap_or(0);
        for r in rows.iter().filter(|r| r.count == largest) {
            eprintln!("scale: {}: touching all {} keys", r.store.name(), r.count);
            touched.push((r.store, r.count, r.child(o, "touch")?));
        }
    }
    for &kind in &o.stores {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.store == kind).collect();
        print_store(o, kind, &mine)?;
    }
    if o.stores.contains(&Kind::Sqlite) && o.stores.contains(&Kind::Postgres) {
        print_versus(&rows)?;
    }
    for (kind, count, f) in &touched {
        println!(
            "{}: a process that found and used all {count} keys: VmRSS {} MiB, VmHWM {} MiB, \
             object_cache {}, {:.1} s",
            kind.name(),
            f.num::<u64>("rss_kb")? / 1024,
            f.num::<u64>("hwm_kb")? / 1024,
            o.object_cache
                .map_or("default".to_string(), |n| n.to_string()),
            f.num::<f64>("secs")?
        );
    }
    drop(rows);
    finish(tmp, o.keep, 0, "count")
}

/// A rig for `kind` holding `count` keys, built (and on PostgreSQL settled).
fn build_row(
    o: &Opts,
    setup: &std::path::Path,
    tmp: &std::path::Path,
    kind: Kind,
    count: usize,
) -> Result<Row, String> {
    let dir = tmp.join(format!("{}-n{count}", kind.name()));
    let mut setup_args = vec!["--software".to_string()];
    let mut server = None;
    let location = match kind {
        Kind::Sqlite => vec!["--store".into(), dir.join("store").display().to_string()],
        Kind::Postgres => {
            let (pg, arg) = start_postgres(&dir)?;
            server = Some(pg);
            setup_args.extend(["--postgres".to_string(), arg.clone()]);
            vec!["--pg".into(), arg]
        }
    };
    let vars: Vars = run_setup(setup, &dir, &setup_args)?;
    if let Some(n) = o.object_cache {
        // The [[instance]] table is the last of the rig's software config (for
        // PostgreSQL, [instance.postgres] is: a key there belongs to the instance
        // table all the same, so insert it before that sub-table).
        let conf = dir.join("kmsbridge.toml");
        let text = std::fs::read_to_string(&conf).map_err(|e| format!("{e}"))?;
        let line = format!("object_cache = {n}\n");
        let text = match text.find("[instance.postgres]") {
            Some(at) => format!("{}{line}\n{}", &text[..at], &text[at..]),
            None => format!("{text}\n{line}"),
        };
        std::fs::write(&conf, text).map_err(|e| format!("{e}"))?;
    }
    let mut row = Row {
        store: kind,
        count,
        vars,
        location,
        server,
        build: Fields::default(),
        m: Vec::new(),
    };
    eprintln!("scale: {}: building {count} keys", kind.name());
    row.build = row.child(o, "build")?;
    if let Some(pg) = &row.server {
        settle(pg)?;
    }
    Ok(row)
}

impl Row {
    /// Runs child `what` in this row's rig.
    fn child(&self, o: &Opts, what: &str) -> Result<Fields, String> {
        let mut a = vec![
            "--scale-child".to_string(),
            what.to_string(),
            "--count".into(),
            self.count.to_string(),
            "--sample".into(),
            o.sample.to_string(),
        ];
        a.extend_from_slice(&self.location);
        spawn(&a, &self.vars)
    }
}

const COLS: [(&str, &str); 7] = [
    ("init_login_us", "C_Initialize+login"),
    ("find_label_us", "find by label"),
    ("find_id_us", "find by CKA_ID"),
    ("first_use_us", "first use (GCM 1 KiB)"),
    ("steady_us", "steady use"),
    ("generate_us", "C_GenerateKey (token)"),
    ("bulk_us", "bulk create / key"),
];

/// Column `k` of a row: the build's, or the median over the measuring rounds.
fn get(r: &Row, k: &str) -> Result<f64, String> {
    if k == "bulk_us" {
        return r.build.num(k);
    }
    let mut v =
        r.m.iter()
            .map(|f| f.num::<f64>(k))
            .collect::<Result<Vec<_>, _>>()?;
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2)
        .copied()
        .ok_or_else(|| "no measuring round".to_string())
}

fn header() {
    print!("{:>8}", "keys");
    for (_, name) in COLS {
        print!(" | {name:>24}");
    }
    println!();
}

fn print_store(o: &Opts, kind: Kind, rows: &[&Row]) -> Result<(), String> {
    let Some(base) = rows.first() else {
        return Ok(());
    };
    println!(
        "software instance on {} at scale (medians, µs, of {} keys; median of {} rounds; \
         ratio to {} keys)",
        kind.name(),
        o.sample,
        o.repeat,
        base.count
    );
    header();
    for r in rows {
        print!("{:>8}", r.count);
        for (k, _) in COLS {
            let (v, b) = (get(r, k)?, get(base, k)?);
            let ratio = if b > 0.0 { v / b } else { f64::NAN };
            print!(" | {:>13.1} ({:>5.2}x)", v, ratio);
        }
        println!();
    }
    println!();
    Ok(())
}

/// PostgreSQL ÷ SQLite at each count both measured.
fn print_versus(rows: &[Row]) -> Result<(), String> {
    println!("PostgreSQL / SQLite at the same count");
    header();
    for pg in rows.iter().filter(|r| r.store == Kind::Postgres) {
        let Some(lite) = rows
            .iter()
            .find(|r| r.store == Kind::Sqlite && r.count == pg.count)
        else {
            continue;
        };
        print!("{:>8}", pg.count);
        for (k, _) in COLS {
            let (v, b) = (get(pg, k)?, get(lite, k)?);
            let ratio = if b > 0.0 { v / b } else { f64::NAN };
            print!(" | {:>23.2}x", ratio);
        }
        println!();
    }
    println!();
    Ok(())
}
