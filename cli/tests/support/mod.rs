//! What both CLI test files share: the built `kmsbridge` binary run against a rig as an
//! operator runs it, its exit code checked.

use kmsbridge_testkit::rig::{Rig, RigOptions};
use std::process::{Command, Output};

/// The binary, with the rig's `vars` in its environment.
pub struct Cli<'a> {
    rig: &'a Rig,
    vars: &'a [&'a str],
}

impl<'a> Cli<'a> {
    pub fn new(rig: &'a Rig, vars: &'a [&'a str]) -> Self {
        Cli { rig, vars }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kmsbridge"));
        cmd.args(args);
        for k in self.vars {
            cmd.env(k, self.rig.var(k));
        }
        // An SO PIN reaches a command only through its arguments, never from the
        // environment the tests happen to run in.
        cmd.env_remove("KMSBRIDGE_SO_PIN");
        cmd.output().expect("run kmsbridge")
    }

    /// Runs and expects `code`; returns stdout (for 0) or stderr.
    pub fn expect(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "kmsbridge {}: exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            args.join(" "),
            out.status.code()
        );
        if code == 0 {
            stdout
        } else {
            stderr
        }
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.expect(0, args)
    }
}

/// A rig with a software instance.
pub fn software_rig() -> Rig {
    Rig::with_options(&RigOptions {
        software: true,
        ..Default::default()
    })
}
