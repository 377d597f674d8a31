//! A throw-away PostgreSQL server for tests: `initdb` into a temporary directory with
//! a password-authenticated superuser, started with `pg_ctl` on a free loopback port
//! (no system service), stopped and removed on drop. The Debian binaries are found on
//! PATH or under /usr/lib/postgresql/*/bin; without them the harness fails with
//! "install postgresql (apt-get install postgresql)". As root (CI), the server runs as
//! the `postgres` user (else `nobody`): PostgreSQL refuses to run as root.

use std::ffi::CString;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL: &str = "install postgresql (apt-get install postgresql)";

/// A running (or stopped) test server.
pub struct Postgres {
    root: PathBuf,
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
    running: bool,
    /// Loopback TCP port.
    pub port: u16,
    /// The superuser's name.
    pub superuser: String,
    /// The superuser's password.
    pub password: String,
}

/// The directory holding `initdb` and `pg_ctl`.
pub fn bin_dir() -> Result<PathBuf, String> {
    let has = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(d) = std::env::split_paths(&path).find(|d| has(d)) {
            return Ok(d);
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let d = e.path().join("bin");
            has(&d).then_some((v, d))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, d)| d).ok_or_else(|| {
        format!("initdb and pg_ctl not found on PATH nor in /usr/lib/postgresql/*/bin: {INSTALL}")
    })
}

/// Whether the PostgreSQL binaries are installed.
pub fn available() -> bool {
    bin_dir().is_ok()
}

fn user_ids(name: &str) -> Option<(u32, u32)> {
    let c = CString::new(name).ok()?;
    // SAFETY: getpwnam with a valid C string; the result is read at once, before any
    // other call that could reuse its static buffer.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: pw is non-null and points to getpwnam's passwd record.
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Postgres {
    /// Initialises and starts a server; panics with the install hint when PostgreSQL
    /// is missing, or with initdb's / pg_ctl's output when it fails.
    pub fn start() -> Self {
        let bin = bin_dir().unwrap_or_else(|e| panic!("{e}"));
        // SAFETY: geteuid has no preconditions.
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some(
                user_ids("postgres")
                    .or_else(|| user_ids("nobody"))
                    .expect("an unprivileged user (postgres or nobody) to run PostgreSQL as"),
            )
        } else {
            None
        };
        let root = crate::scratch::temp_dir("kb-pg-");
        let mut password = [0u8; 18];
        getrandom::fill(&mut password).unwrap();
        let pg = Postgres {
            root,
            bin,
            run_as,
            running: false,
            port: 0,
            superuser: "kb_admin".into(),
            password: hex::encode(password),
        };
        std::fs::create_dir(pg.root.join("sock")).unwrap();
        let pwfile = pg.root.join("pw");
        std::fs::write(&pwfile, &pg.password).unwrap();
        if let Some((uid, gid)) = run_as {
            for p in [pg.root.clone(), pg.root.join("sock"), pwfile.clone()] {
                std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
            }
        }
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(pg.root.join("data"))
            .args(["-U", &pg.superuser, "--auth-host=scram-sha-256", "--auth-local=scram-sha-256"])
            .args(["-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&pwfile).unwrap();
        let mut pg = pg;
        pg.restart();
        pg
    }

    fn command(&self, tool: &str) -> Command {
        let mut c = Command::new(self.bin.join(tool));
        c.current_dir(&self.root).env_remove("PGDATA").env("LC_ALL", "C");
        if let Some((uid, gid)) = self.run_as {
            use std::os::unix::process::CommandExt;
            c.uid(uid).gid(gid).env("HOME", &self.root);
        }
        c
    }

    /// Starts the server (again); a fresh free port the first time, the same port
    /// after [`Postgres::stop`].
    pub fn restart(&mut self) {
        assert!(!self.running, "already running");
        let mut last = String::new();
        for _ in 0..3 {
            if self.port == 0 {
                self.port = free_port();
            }
            let opts = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
                self.port,
                self.root.join("sock").display()
            );
            let out = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.root.join("data"))
                .arg("-l")
                .arg(self.root.join("server.log"))
                .args(["-o", &opts, "-w", "-t", "60", "start"])
                .output()
                .unwrap();
            if out.status.success() {
                self.running = true;
                return;
            }
            let log = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
            last = format!(
                "{}{}\n{log}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            // Port taken between probe and start: try another.
            self.port = 0;
        }
        panic!("pg_ctl start failed three times: {last}");
    }

    /// Stops the server (fast shutdown: sessions are disconnected).
    pub fn stop(&mut self) {
        if self.running {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.root.join("data"))
                .args(["-m", "fast", "-w", "stop"])
                .output();
            self.running = false;
        }
    }

    /// Whether the server is running.
    pub fn running(&self) -> bool {
        self.running
    }

    /// The server's log file (password hashes only: clients should send hashed
    /// passwords in ALTER ROLE).
    pub fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// Makes database `name` (with the server's `createdb`, as the superuser).
    pub fn create_database(&self, name: &str) {
        // Beside initdb (Debian's versioned bin directory), else on PATH.
        let beside = self.bin.join("createdb");
        let tool = if beside.is_file() { beside } else { PathBuf::from("createdb") };
        let out = Command::new(tool)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", &self.superuser, name])
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A libpq-style connection string for the superuser to database `postgres`.
    pub fn admin_conn(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={} password={} dbname=postgres connect_timeout=5",
            self.port, self.superuser, self.password
        )
    }
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Postgres(127.0.0.1:{}, {})", self.port, self.root.display())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.root.join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
