//! Connections and the statements both strategies use.

use std::time::Duration;

use kmsbridge_secrets::{DbCredential, TargetError};
use postgres::{Client, NoTls};

/// An error with its causes: `postgres::Error` shows only its kind ("db error"),
/// the server's message and the OS error are in the source chain.
pub(crate) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Connects with a credential (TCP, no TLS: loopback and private networks; TLS is a
/// later option) with a 5 s connect timeout. Errors name the host, port and user,
/// never the password.
pub fn connect(c: &DbCredential) -> Result<Client, TargetError> {
    if c.engine != "postgres" {
        return Err(TargetError(format!(
            "engine {:?} is not postgres",
            c.engine
        )));
    }
    let mut cfg = postgres::Config::new();
    cfg.host(&c.host)
        .port(c.port)
        .user(&c.username)
        .password(c.password.as_bytes())
        .dbname(c.dbname.as_deref().unwrap_or("postgres"))
        .connect_timeout(Duration::from_secs(5))
        .application_name("kmsbridge-rotation");
    cfg.connect(NoTls).map_err(|e| {
        TargetError(format!(
            "connecting to {}:{} as {}: {}",
            c.host,
            c.port,
            c.username,
            describe(&e)
        ))
    })
}

/// Logs in with `c` and runs `SELECT 1`.
pub fn check_login(c: &DbCredential) -> Result<(), TargetError> {
    let mut client = connect(c)?;
    let row = client
        .query_one("SELECT 1::int4, current_user::text", &[])
        .map_err(|e| TargetError(format!("SELECT 1 as {}: {}", c.username, describe(&e))))?;
    let (one, user): (i32, String) = (row.get(0), row.get(1));
    if one != 1 || user != c.username {
        return Err(TargetError(format!(
            "logged in as {user}, expected {}",
            c.username
        )));
    }
    Ok(())
}

/// Whether a role exists.
pub fn role_exists(client: &mut Client, role: &str) -> Result<bool, TargetError> {
    client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .map(|r| r.is_some())
        .map_err(|e| TargetError(format!("looking up role {role}: {}", describe(&e))))
}

/// Runs a statement built by the server's `format()` from parameters, so identifiers
/// and literals are quoted by PostgreSQL itself (`%I`, `%L`): utility statements such
/// as ALTER ROLE take no bind parameters.
pub(crate) fn run_formatted(
    client: &mut Client,
    template: &str,
    args: &[&str],
    what: &str,
) -> Result<(), TargetError> {
    let placeholders: Vec<String> = (1..=args.len()).map(|i| format!("${i}::text")).collect();
    let sql = format!("SELECT format('{template}', {})", placeholders.join(", "));
    let params: Vec<&(dyn postgres::types::ToSql + Sync)> = args
        .iter()
        .map(|a| a as &(dyn postgres::types::ToSql + Sync))
        .collect();
    let stmt: String = client
        .query_one(sql.as_str(), &params)
        .map_err(|e| TargetError(format!("{what}: {}", describe(&e))))?
        .get(0);
    client
        .batch_execute(&stmt)
        .map_err(|e| TargetError(format!("{what}: {}", describe(&e))))
}

/// Sets `role`'s password, sending only its SCRAM-SHA-256 verifier.
pub fn set_password(client: &mut Client, role: &str, password: &str) -> Result<(), TargetError> {
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    run_formatted(
        client,
        "ALTER ROLE %I WITH PASSWORD %L",
        &[role, &verifier],
        &format!("changing the password of {role}"),
    )
}
