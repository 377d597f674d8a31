//! The child process of both benches: the parent re-executes this binary for every
//! measured case and reads the one `RESULT key=value ...` line it prints; the child
//! opens its module and logs in, measures, and exits through the same shell.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

/// What a process of the bench did, once its arguments were read.
pub enum Done {
    /// A child measured its case: the `key=value` fields of its RESULT line.
    Child(Result<String, String>),
    /// The parent ran every case and printed the table.
    Parent(Result<(), String>),
}

/// The process's exit: 2 for a bad command line, 1 for a failure, and a child's RESULT
/// line on stdout.
pub fn exit<O>(opts: Result<O, String>, run: impl FnOnce(O) -> Done) -> ExitCode {
    let opts = match opts {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kmsbridge-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(opts) {
        Done::Child(Ok(fields)) => {
            println!("RESULT {fields}");
            ExitCode::SUCCESS
        }
        // The parent prints a child's stderr as the case's error.
        Done::Child(Err(e)) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
        Done::Parent(Ok(())) => ExitCode::SUCCESS,
        Done::Parent(Err(e)) => {
            eprintln!("kmsbridge-bench: {e}");
            ExitCode::from(1)
        }
    }
}

/// The fields of a child's RESULT line.
#[derive(Debug, Default)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    pub fn get(&self, k: &str) -> Result<&str, String> {
        self.0
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| format!("RESULT without {k}: {:?}", self.0))
    }
    pub fn num<T: std::str::FromStr>(&self, k: &str) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        self.get(k)?.parse().map_err(|e| format!("{k}: {e}"))
    }
}

/// A child's client threads and its window, as its command line gives them.
pub fn timing_args(threads: usize, seconds: f64, warmup: f64) -> [String; 6] {
    [
        "--threads".into(),
        threads.to_string(),
        "--seconds".into(),
        seconds.to_string(),
        "--warmup".into(),
        warmup.to_string(),
    ]
}

/// Runs this binary again with `args` and `env` added to the environment, and returns
/// the fields of the `RESULT` line it printed on stdout.
pub fn spawn(args: &[String], env: &[(String, String)]) -> Result<Fields, String> {
    // /proc/self/exe still names this very binary when a rebuild has replaced the file on
    // disk meanwhile (cargo builds in the same target directory during a long run).
    let proc_exe = Path::new("/proc/self/exe");
    let exe = if proc_exe.exists() {
        proc_exe.to_path_buf()
    } else {
        std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?
    };
    let out = Command::new(exe)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("spawn: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let msg = stderr.trim();
        return Err(if msg.is_empty() {
            format!("child {}", out.status)
        } else {
            msg.to_string()
        });
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| format!("child printed no RESULT line; stderr: {}", stderr.trim()))?;
    Ok(Fields(
        line.split_whitespace()
            .skip(1)
            .filter_map(|part| part.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    ))
}

/// `name` from the environment the parent gave; `set_by` says who sets it.
pub fn env_var(name: &str, set_by: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set ({set_by})"))
}

/// A loaded module and its slot, before the user logs in.
pub struct Token0<'a> {
    pub p11: &'a Pkcs11,
    pub slot: Slot,
}

/// A child's module, initialised, and the user logged in on its token.
pub struct Token {
    pub p11: Pkcs11,
    pub slot: Slot,
    /// Stays open for the whole run: it holds the login state that every worker
    /// session shares (and, on SoftHSM2, closing a slot's last session logs the token
    /// out).
    pub login: Session,
}

impl Token {
    /// Loads `module`, finds the token labelled `label` and logs its user in with `pin`.
    pub fn open(module: &str, label: &str, pin: String) -> Result<Token, String> {
        Token::open_with(module, label, |_| Ok(pin))
    }

    /// As `open`, the user PIN (or client key) made by `pin` once the module is loaded.
    pub fn open_with(
        module: &str,
        label: &str,
        pin: impl FnOnce(&Token0) -> Result<String, String>,
    ) -> Result<Token, String> {
        let p11 = Pkcs11::new(module).map_err(|e| format!("loading {module}: {e}"))?;
        p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| format!("C_Initialize: {e}"))?;
        let slot = find_slot(&p11, label)?;
        let pin = pin(&Token0 { p11: &p11, slot })?;
        let login = p11
            .open_rw_session(slot)
            .map_err(|e| format!("C_OpenSession: {e}"))?;
        login
            .login(UserType::User, Some(&AuthPin::from(pin)))
            .map_err(|e| format!("C_Login: {e}"))?;
        Ok(Token { p11, slot, login })
    }

    /// Closes the login session and finalizes the module.
    pub fn close(self) -> Result<(), String> {
        drop(self.login);
        self.p11.finalize().map_err(|e| format!("C_Finalize: {e}"))
    }
}

fn find_slot(p: &Pkcs11, label: &str) -> Result<Slot, String> {
    let slots = p
        .get_slots_with_token()
        .map_err(|e| format!("C_GetSlotList: {e}"))?;
    let mut seen = Vec::new();
    for s in slots {
        let info = p
            .get_token_info(s)
            .map_err(|e| format!("C_GetTokenInfo: {e}"))?;
        let l = info.label().trim_end().to_string();
        if l == label {
            return Ok(s);
        }
        seen.push(l);
    }
    Err(format!("no token labelled {label:?} (tokens: {seen:?})"))
}
