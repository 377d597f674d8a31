//! Tests that run several processes: a child process is this same test binary, re-run
//! on one ignored `#[test]` (`--exact NAME --ignored`) with its role in the environment
//! (the test does nothing without it). The parent reads the child's stdout lines.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The environment variable that makes a child test act; its value is the role.
pub const ROLE: &str = "KMSBRIDGE_TEST_ROLE";
/// A free-form argument for the child (a tag, a file name, a count).
pub const ARG: &str = "KMSBRIDGE_TEST_ARG";

/// The role this process was started in, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// A variable the parent set for this child ([`ARG`] or the test's own).
pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("the parent sets {name} for its child"))
}

/// The child's [`ARG`].
pub fn arg() -> String {
    var(ARG)
}

/// Prints one line to the parent and flushes it (stdout is a pipe; a `kill -9` right
/// after must not lose a line that was printed).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("write to the parent");
    out.flush().expect("flush to the parent");
}

/// Starts this test binary on its test `test` in `role`, with `vars` set in its
/// environment; its stdout lines arrive on the channel (stderr is inherited).
pub fn spawn(test: &str, role: &str, vars: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().expect("current_exe"))
        .args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// What follows `marker` in a line of a child's output. The marker may come after the
/// test harness's own text ("test child ... READY").
pub fn field<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| line[i + marker.len()..].trim())
}

/// Waits for a line holding `marker` and returns what follows it; panics after `timeout`
/// or when the child's output ends.
pub fn wait_for(rx: &mpsc::Receiver<String>, marker: &str, timeout: Duration) -> String {
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = field(&line, marker) {
                    return rest.to_string();
                }
            }
            Err(e) => panic!("waiting for {marker:?} from a child: {e}"),
        }
    }
}

/// The next line of a child's output; panics after `timeout`.
pub fn next_line(rx: &mpsc::Receiver<String>, timeout: Duration) -> String {
    rx.recv_timeout(timeout).unwrap_or_else(|e| panic!("waiting for the child: {e}"))
}

/// Waits for the file `path` to exist.
pub fn wait_file(path: &Path, timeout: Duration) {
    let end = Instant::now() + timeout;
    while !path.exists() {
        assert!(Instant::now() < end, "timed out waiting for {}", path.display());
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A child's exit status, waited for at most `timeout`; kills the child then panics.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let end = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child {} did not exit within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
