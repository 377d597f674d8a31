//! Where a PostgreSQL store lives: the connection settings and the password file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

/// How to reach the database holding one software instance. The password is read
/// from `password_file` at each connect (so a rotated password is picked up), never
/// kept in configuration text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgSettings {
    /// Host names or addresses, comma-separated for a primary/standby pair: the
    /// connection goes to the first that accepts writes (`target_session_attrs =
    /// read-write`), so a promoted standby is found after a switchover.
    pub host: String,
    /// TCP port (one for every host).
    pub port: u16,
    /// The database; one software instance per database.
    pub dbname: String,
    /// The role kmsbridge logs in as (owner of the store's tables).
    pub user: String,
    /// A file holding the role's password (trailing whitespace ignored), mode 0600 or
    /// stricter.
    pub password_file: PathBuf,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
}

impl PgSettings {
    /// Settings with the default port (5432) and connect timeout (5 s).
    pub fn new(host: &str, dbname: &str, user: &str, password_file: &Path) -> PgSettings {
        PgSettings {
            host: host.to_string(),
            port: 5432,
            dbname: dbname.to_string(),
            user: user.to_string(),
            password_file: password_file.to_path_buf(),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// `user@host:port/dbname`, for logs and the instance's identity (no password).
    pub fn describe(&self) -> String {
        format!("{}@{}:{}/{}", self.user, self.host, self.port, self.dbname)
    }
}

/// Read a password file: it must exist, be readable, be a regular file closed to
/// group and others, and hold a non-empty password. The error names the file and the
/// fix.
pub fn read_password_file(file: &Path) -> Result<Zeroizing<String>, String> {
    let shown = file.display();
    let meta = std::fs::metadata(file).map_err(|e| {
        format!("the PostgreSQL password file {shown} cannot be read ({e}): create it holding the password, mode 0600")
    })?;
    if !meta.is_file() {
        return Err(format!(
            "the PostgreSQL password file {shown} is not a regular file"
        ));
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "the PostgreSQL password file {shown} is open to other users (mode {:04o}): chmod 600 {shown}",
            mode & 0o7777
        ));
    }
    let text = Zeroizing::new(std::fs::read_to_string(file).map_err(|e| {
        format!("the PostgreSQL password file {shown} cannot be read ({e}): make it readable by this process's user, mode 0600")
    })?);
    let password = Zeroizing::new(text.trim_end().to_string());
    if password.is_empty() {
        return Err(format!(
            "the PostgreSQL password file {shown} is empty: write the password into it"
        ));
    }
    Ok(password)
}
