//! The parent of `kmsbridge-bench --cluster`: the rigs (plain SoftHSM2, and 1, 2, 3
//! nodes behind the shim), their cases, and the report.

use std::collections::BTreeMap;

use super::args::Opts;
use super::cases::{case_env, run_cases, set_capacity, Outcome};
use super::report::{print, Report};
use crate::report::loadavg;
use crate::rig::{finish, rigs_dir, run_setup, setup_script, var};

pub fn run(opts: &Opts) -> Result<(), String> {
    let load_start = loadavg();
    let tmp = rigs_dir("kmsbridge-cbench-")?;
    let setup = setup_script(opts.setup.as_deref());
    // The backend session pool of every node: enough for every client thread to have
    // a session on any one node, so the pool never is what a client waits for.
    let pool = opts.threads.to_string();

    let mut errors: Vec<String> = Vec::new();
    let mut record = |name: &str, r: Result<Outcome, String>| match r {
        Ok(o) => Some(o),
        Err(e) => {
            errors.push(format!("{name}: {e}"));
            None
        }
    };

    // Bridge overhead, one node: plain SoftHSM2 (a rig without the shim), direct and
    // through kmsbridge, alternating so both see the same machine.
    let mut plain: Option<(Option<Outcome>, Option<Outcome>)> = None;
    if opts.overhead {
        let dir = tmp.path().join("plain");
        let rig = run_setup(&setup, &dir, &["--pool".into(), pool.clone()])?;
        let direct = case_env(
            &rig,
            var(&rig, "SOFTHSM2_MODULE")?,
            var(&rig, "SOFTHSM2_TOKEN_LABEL")?,
            var(&rig, "SOFTHSM2_USER_PIN")?,
        );
        let bridge = case_env(
            &rig,
            var(&rig, "KMSBRIDGE_MODULE")?,
            var(&rig, "KMSBRIDGE_TOKEN_LABEL")?,
            var(&rig, "KMSBRIDGE_USER_PIN")?,
        );
        let names = [
            "1 node, plain SoftHSM2: direct",
            "1 node, plain SoftHSM2: kmsbridge",
        ];
        let mut r = run_cases(
            opts,
            &[(names[0].into(), direct), (names[1].into(), bridge)],
        )
        .into_iter();
        let d = r.next().and_then(|o| record(names[0], o));
        let b = r.next().and_then(|o| record(names[1], o));
        plain = Some((d, b));
    }

    // The capacity model: N nodes for each N, the same shim settings on every node.
    let mut by_nodes: BTreeMap<usize, Option<Outcome>> = BTreeMap::new();
    let mut shim_direct: Option<Outcome> = None;
    let mut module_path = String::new();
    for &n in &opts.nodes {
        let dir = tmp.path().join(format!("nodes{n}"));
        let rig = run_setup(
            &setup,
            &dir,
            &[
                "--nodes".into(),
                n.to_string(),
                "--in-process".into(),
                "--pool".into(),
                pool.clone(),
            ],
        )?;
        set_capacity(&dir, n, opts)?;
        module_path = var(&rig, "KMSBRIDGE_MODULE")?.to_string();
        let mut cases = Vec::new();
        let direct_name = "1 node, SoftHSM2 behind the shim: direct";
        if n == 1 && opts.overhead {
            // Node 0's own shim copy loaded directly: the same engines and latency
            // kmsbridge's one node has, without kmsbridge.
            let direct = case_env(
                &rig,
                var(&rig, "KMSBRIDGE_NODE0_LIBRARY")?,
                var(&rig, "KMSBRIDGE_NODE0_TOKEN_LABEL")?,
                var(&rig, "SOFTHSM2_USER_PIN")?,
            );
            cases.push((direct_name.to_string(), direct));
        }
        let bridge = case_env(
            &rig,
            var(&rig, "KMSBRIDGE_MODULE")?,
            var(&rig, "KMSBRIDGE_TOKEN_LABEL")?,
            var(&rig, "KMSBRIDGE_USER_PIN")?,
        );
        let name = format!("{n} node(s) behind the shim: kmsbridge");
        cases.push((name.clone(), bridge));
        let mut r = run_cases(opts, &cases);
        let b = r.pop().and_then(|o| record(&name, o));
        if let Some(d) = r.pop() {
            shim_direct = record(direct_name, d);
        }
        by_nodes.insert(n, b);
    }
    let load_end = loadavg();

    print(Report {
        opts,
        plain: plain.as_ref(),
        by_nodes: &by_nodes,
        shim_direct: shim_direct.as_ref(),
        module_path: &module_path,
        pool: &pool,
        load_start,
        load_end,
        errors: &errors,
    });
    finish(tmp, opts.keep, errors.len(), "case")
}
