//! Database credential rotation through `kmsbridge secret rotate` against a live
//! PostgreSQL (testkit's harness: initdb + pg_ctl on a loopback port) on a software
//! instance: dual-account while an application connects every 100 ms through
//! `kmsbridge secret exec ... -- psql` (0 failed connections), and a rotation with the
//! server stopped (exit 1 with the reason, ACSCurrent still working, the next rotation
//! resumes).

// Tests: a panic is how they report a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use kmsbridge_secrets::GenerationSpec;
use kmsbridge_secrets_pg::{connect, set_password};
use kmsbridge_testkit::postgres::Postgres;
use kmsbridge_testkit::rig::Rig;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{software_rig, Cli};

const VARS: &[&str] = &[
    "KMSBRIDGE_CONF",
    "KMSBRIDGE_MODULE",
    "KMSBRIDGE_TOKEN_LABEL",
    "KMSBRIDGE_USER_PIN",
    "SOFTHSM2_CONF",
];

fn cred(pg: &Postgres, user: &str, password: &str, extra: &str) -> String {
    format!(
        r#"{{"engine":"postgres","host":"127.0.0.1","port":{},"username":"{user}","password":"{password}","dbname":"postgres"{extra}}}"#,
        pg.port
    )
}

/// A server with group role app_owner and login user app in it; secrets
/// prod/pg/admin (the superuser) and prod/app/db (app, dual-account).
fn setup(rig: &Rig, dir: &std::path::Path) -> Postgres {
    let pg = Postgres::start();
    let admin = kmsbridge_secrets::DbCredential::from_value(
        cred(&pg, &pg.superuser, &pg.password, "").as_bytes(),
    )
    .unwrap();
    let mut c = connect(&admin).unwrap();
    c.batch_execute("CREATE ROLE app_owner NOLOGIN; CREATE ROLE app LOGIN IN ROLE app_owner")
        .unwrap();
    let first = GenerationSpec::database_password().generate().unwrap();
    set_password(&mut c, "app", &first).unwrap();
    let cli = Cli::new(rig, VARS);
    let a = dir.join("admin.json");
    std::fs::write(&a, cred(&pg, &pg.superuser, &pg.password, "")).unwrap();
    cli.ok(&[
        "secret",
        "create",
        "prod/pg/admin",
        "--type",
        "database",
        "--value-file",
        a.to_str().unwrap(),
    ]);
    let d = dir.join("app.json");
    std::fs::write(
        &d,
        cred(
            &pg,
            "app",
            &first,
            r#","rotation_strategy":"dual-account","admin_secret":"prod/pg/admin""#,
        ),
    )
    .unwrap();
    cli.ok(&[
        "secret",
        "create",
        "prod/app/db",
        "--type",
        "database",
        "--value-file",
        d.to_str().unwrap(),
    ]);
    std::fs::remove_file(a).unwrap();
    std::fs::remove_file(d).unwrap();
    pg
}

/// One connection of the application: psql with the credential in its environment.
fn app_connects(rig: &Rig, port: u16) -> Result<(), String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kmsbridge"));
    for k in VARS {
        cmd.env(k, rig.var(k));
    }
    let out = cmd
        .args([
            "secret",
            "exec",
            "--env",
            "PGUSER=prod/app/db.username",
            "--env",
            "PGPASSWORD=prod/app/db.password",
            "--",
        ])
        .args([
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-d",
            "postgres",
            "-tAc",
            "SELECT 1",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1" {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn dual_account_rotation_through_the_cli_never_breaks_the_application() {
    let rig = software_rig();
    let tmp = tempfile::tempdir().unwrap();
    let pg = setup(&rig, tmp.path());
    let cli = Cli::new(&rig, VARS);
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, port, vars_rig) = (stop.clone(), pg.port, &rig);
    let (ok, failed) = std::thread::scope(|s| {
        let app = s.spawn(move || {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                match app_connects(vars_rig, port) {
                    Ok(()) => ok += 1,
                    Err(e) => failed.push(e),
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (ok, failed)
        });
        std::thread::sleep(Duration::from_millis(500));
        let mut users = Vec::new();
        for _ in 0..3 {
            cli.ok(&["secret", "rotate", "prod/app/db"]);
            users.push(cli.ok(&["secret", "get", "prod/app/db", "--field", "username"]));
            std::thread::sleep(Duration::from_millis(700));
        }
        assert_eq!(users, ["app_clone", "app", "app_clone"]);
        stop.store(true, Ordering::Relaxed);
        app.join().unwrap()
    });
    println!(
        "dual-account through the CLI: 3 rotations, {ok} connections, {} failed",
        failed.len()
    );
    assert!(failed.is_empty(), "failed connections: {failed:?}");
    assert!(ok >= 5, "the application ran ({ok} connections)");
}

#[test]
fn rotation_with_postgres_stopped_leaves_current_working() {
    let rig = software_rig();
    let tmp = tempfile::tempdir().unwrap();
    let mut pg = setup(&rig, tmp.path());
    let cli = Cli::new(&rig, VARS);
    let before = cli.ok(&["secret", "get", "prod/app/db"]);
    pg.stop();
    let err = cli.expect(1, &["secret", "rotate", "prod/app/db"]);
    assert!(
        err.contains("failed at step set") && err.contains("ACSCurrent is unchanged"),
        "{err}"
    );
    assert_eq!(cli.ok(&["secret", "get", "prod/app/db"]), before);
    let d: serde_json::Value =
        serde_json::from_str(&cli.ok(&["secret", "describe", "prod/app/db", "--json"])).unwrap();
    assert_eq!(d["rotation"]["failures"], 1, "{d}");
    pg.restart();
    app_connects(&rig, pg.port).unwrap();
    // The timer's command: the unfinished rotation is due, and it resumes.
    let out = cli.ok(&["secret", "rotate", "--due"]);
    assert!(out.contains("resumed"), "{out}");
    assert!(out.contains("prod/app/db"), "{out}");
    assert_eq!(
        cli.ok(&["secret", "get", "prod/app/db", "--field", "username"]),
        "app_clone"
    );
    app_connects(&rig, pg.port).unwrap();
}
