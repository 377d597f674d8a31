//! `secret rotate NAME` and `secret rotate --due`. The CLI runs the steps that reach
//! outside (the crates' targets: a generated value, a new SSH key pair, PostgreSQL
//! single-user or dual-account) and the module keeps the state machine
//! (`kmsbridge_secrets::rotate`, docs/SECRETS.md):
//!
//! 1. create: unless a version carries `ACSPending` already (an interrupted rotation,
//!    resumed with the same value), the target makes the new value and it is put with
//!    stage `ACSPending` under a fresh version id;
//! 2. set and 3. test: the target applies and checks it;
//! 4. finish: CKA_KMSBRIDGE_SECRET_ROTATION = `ok` promotes it (`ACSPrevious` keeps the
//!    old one); on a failure, `failed <step>: <reason>` records it in the secret and
//!    `ACSCurrent` stays as it was. The command then exits 1 with the reason.

use super::session::*;
use crate::kms::args::{usage, Args};
use crate::kms::refusal::refused;
use crate::module::Error;
use cryptoki::session::Session;
use kmsbridge_secrets::rotation::{RotationTarget, Values};
use kmsbridge_secrets::ssh::{SshKeyKind, SshKeyTarget};
use kmsbridge_secrets::{DbCredential, GenerateTarget, GenerationSpec, VersionId};
use kmsbridge_secrets_pg::{DualAccount, SingleUser};
use zeroize::Zeroizing;

pub fn run(a: &Args, due: bool) -> Result<(), Error> {
    let s = open(a.flag("--pin"))?;
    if due {
        a.none("secret rotate --due")?;
        let mut failed = 0;
        for h in all(&s)? {
            let i = info(&s, h)?;
            if at(&i, "/rotation_due") != true {
                continue;
            }
            let name = at(&i, "/name").as_str().unwrap_or_default().to_string();
            if let Err(e) = one(&s, &name, a) {
                eprintln!("{e}");
                failed += 1;
            }
        }
        if failed > 0 {
            return Err(refused(format!("{failed} rotation(s) failed")));
        }
        return Ok(());
    }
    let name = super::name(a, "rotate")?;
    one(&s, &name, a)
}

fn read(s: &Session, name: &str, which: Which) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
    match find(s, name, &which) {
        Ok(h) => value(s, h, name).map(Some),
        Err(_) => Ok(None),
    }
}

fn target(
    s: &Session,
    name: &str,
    kind: &str,
    i: &serde_json::Value,
    a: &Args,
    current: Option<&[u8]>,
) -> Result<Box<dyn RotationTarget>, Error> {
    Ok(match kind {
        "generic" => {
            let spec: GenerationSpec = match i.get("generation") {
                Some(g) if !g.is_null() => serde_json::from_value(g.clone())?,
                _ => GenerationSpec::default(),
            };
            Box::new(GenerateTarget(spec))
        }
        "ssh-key" => {
            let rsa = current.is_some_and(|c| {
                kmsbridge_secrets::ssh::authorized_key(std::str::from_utf8(c).unwrap_or_default())
                    .is_ok_and(|l| l.starts_with("ssh-rsa"))
            });
            Box::new(SshKeyTarget {
                kind: if rsa {
                    SshKeyKind::Rsa(3072)
                } else {
                    SshKeyKind::Ed25519
                },
                comment: name.to_string(),
            })
        }
        "database-credential" => {
            let cur = current
                .ok_or_else(|| refused(format!("secret {name} has no current credential")))?;
            let cred = DbCredential::from_value(cur).map_err(|e| refused(e.to_string()))?;
            let extra = |k: &str| {
                cred.extra
                    .get(k)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            let strategy = a
                .flag("--strategy")
                .map(str::to_string)
                .or_else(|| extra("rotation_strategy"))
                .unwrap_or_else(|| "single-user".into());
            let admin_name = a
                .flag("--admin-secret")
                .map(str::to_string)
                .or_else(|| extra("admin_secret"));
            let admin = match &admin_name {
                Some(n) => {
                    let v = read(s, n, Which::Current)?
                        .ok_or_else(|| refused(format!("the admin secret {n} is not readable")))?;
                    Some(
                        DbCredential::from_value(&v)
                            .map_err(|e| refused(format!("admin secret {n}: {e}")))?,
                    )
                }
                None => None,
            };
            match strategy.as_str() {
                "single-user" => Box::new(SingleUser {
                    admin,
                    spec: GenerationSpec::database_password(),
                }),
                "dual-account" => Box::new(DualAccount::new(admin.ok_or_else(|| {
                    usage("dual-account rotation needs --admin-secret NAME (or \"admin_secret\" in the credential)")
                })?)),
                other => return Err(usage(format!("--strategy is single-user or dual-account, not {other:?}"))),
            }
        }
        other => {
            return Err(refused(format!(
                "secret {name} has type {other}, which has no rotation"
            )))
        }
    })
}

fn one(s: &Session, name: &str, a: &Args) -> Result<(), Error> {
    let h = find(s, name, &Which::Current)?;
    let i = info(s, h)?;
    if !at(&i, "/deletion").is_null() {
        return Err(refused(format!(
            "secret {name} is scheduled for deletion: restore it first"
        )));
    }
    let kind = at(&i, "/type").as_str().unwrap_or("generic").to_string();
    let current = read(s, name, Which::Current)?;
    let mut target = target(
        s,
        name,
        &kind,
        &i,
        a,
        current.as_deref().map(|v| v.as_slice()),
    )?;
    let fail = |step: &str, why: String| -> Error {
        let outcome = format!("failed {step}: {why}");
        if let Err(e) = set(
            s,
            name,
            &[vattr(ROTATION, outcome.as_bytes())],
            "recording the rotation failure of",
        ) {
            eprintln!("{e}");
        }
        refused(format!(
            "rotation of secret {name} failed at step {step}: {why}; ACSCurrent is unchanged"
        ))
    };
    // 1. create, unless resuming.
    let (pending, resumed) = match read(s, name, Which::Stage("ACSPending"))? {
        Some(p) => (p, true),
        None => {
            let v = target
                .create_value(current.as_deref().map(|v| v.as_slice()))
                .map_err(|e| refused(format!("rotation of secret {name} failed at step create: {e}; ACSCurrent is unchanged")))?;
            let id = VersionId::random().map_err(|e| refused(e.to_string()))?;
            put(
                s,
                name,
                &v,
                vec![
                    vattr(VERSION_ID, id.as_str().as_bytes()),
                    vattr(STAGES, b"ACSPending"),
                ],
            )?;
            (v, false)
        }
    };
    let previous = read(s, name, Which::Stage("ACSPrevious"))?;
    let values = Values {
        current: current.as_deref().map(|v| v.as_slice()),
        pending: &pending,
        previous: previous.as_deref().map(|v| v.as_slice()),
    };
    // 2. set, 3. test.
    target.set(&values).map_err(|e| fail("set", e.0))?;
    target.test(&values).map_err(|e| fail("test", e.0))?;
    // 4. finish, in the module.
    set(
        s,
        name,
        &[vattr(ROTATION, b"ok")],
        "finishing the rotation of",
    )?;
    let h = find(s, name, &Which::Current)?;
    let version = text(s, h, VERSION_ID)?;
    println!(
        "rotated secret {name}{}: version {version} is ACSCurrent, the old one ACSPrevious",
        if resumed {
            " (resumed an interrupted rotation)"
        } else {
            ""
        }
    );
    if kind == "ssh-key" {
        if let Ok(line) = kmsbridge_secrets::ssh::authorized_key(
            std::str::from_utf8(&pending).unwrap_or_default(),
        ) {
            println!("new public key: {line}");
        }
    }
    Ok(())
}
