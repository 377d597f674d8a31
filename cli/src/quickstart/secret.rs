//! quickstart's secret step (docs/SECRETS.md): a generic secret with a generated
//! value is put as a CKO_DATA object of `kmsbridge.secret`, read back by
//! C_FindObjects on its label and CKA_VALUE, rotated once (a new generated value put
//! as `ACSPending`, then promoted: the old version becomes `ACSPrevious`), and handed
//! to a program through its environment only (`kmsbridge secret exec`).

use super::steps::step;
use crate::module::Error;
use crate::secret::session::{
    info, put, text, vattr, APPLICATION, CKA_KMSBRIDGE_DESCRIPTION, GENERATION, RESTORE, ROTATION,
    STAGE, STAGES, TYPE, VERSION_ID,
};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use kmsbridge_secrets::GenerationSpec;
use zeroize::Zeroizing;

const NAME: &str = "quickstart/db-password";
const LENGTH: u32 = 24;

fn spec() -> GenerationSpec {
    GenerationSpec {
        length: LENGTH,
        ..GenerationSpec::database_password()
    }
}

fn generated() -> Result<Zeroizing<Vec<u8>>, Error> {
    let v = spec().generate().map_err(|e| e.to_string())?;
    Ok(Zeroizing::new(v.as_bytes().to_vec()))
}

/// The secret's object that follows `stage`, and its version id.
fn staged(s: &Session, stage: &str) -> Result<(ObjectHandle, String), Error> {
    let h = *s
        .find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Application(APPLICATION.to_vec()),
            Attribute::Label(NAME.as_bytes().to_vec()),
            vattr(STAGE, stage.as_bytes()),
        ])?
        .first()
        .ok_or_else(|| format!("no version of {NAME} carries {stage}"))?;
    Ok((h, text(s, h, VERSION_ID)?))
}

/// Runs the step on `s` (the user logged in); `clean_up` schedules the secret's
/// deletion afterwards (a configured instance: restorable for 7 days).
pub(super) fn run(s: &Session, clean_up: bool) -> Result<(), Error> {
    println!("  a secret (docs/SECRETS.md):");
    let first = generated()?;
    let v1 = step(&format!("secret {NAME}: put a value"), || {
        let existing = s.find_objects(&[
            Attribute::Application(APPLICATION.to_vec()),
            Attribute::Label(NAME.as_bytes().to_vec()),
        ])?;
        let extra = match existing.first() {
            // A former run's secret: restore it if it was scheduled for deletion.
            Some(h) => {
                if info(s, *h)?.get("deletion").is_some_and(|d| !d.is_null()) {
                    s.update_attributes(*h, &[vattr(RESTORE, &[1])])?;
                }
                Vec::new()
            }
            None => vec![
                vattr(TYPE, b"generic"),
                vattr(GENERATION, serde_json::to_string(&spec())?.as_bytes()),
                vattr(CKA_KMSBRIDGE_DESCRIPTION, b"made by kmsbridge quickstart"),
            ],
        };
        put(s, NAME, &first, extra)
    })?;
    println!("       C_CreateObject CKO_DATA, CKA_APPLICATION kmsbridge.secret: version {v1} is ACSCurrent");
    step("secret: read back (find by label, CKA_VALUE)", || {
        let found = s.find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Label(NAME.as_bytes().to_vec()),
        ])?;
        let [h] = found.as_slice() else {
            return Err(format!("{} objects labelled {NAME}", found.len()).into());
        };
        let value = match s.get_attributes(*h, &[AttributeType::Value])?.pop() {
            Some(Attribute::Value(v)) => Zeroizing::new(v),
            _ => return Err("CKA_VALUE not readable".into()),
        };
        if value != first {
            return Err("CKA_VALUE differs from the value put".into());
        }
        println!(
            "       CKA_VALUE: {} bytes, the value put (not printed here)",
            value.len()
        );
        Ok(())
    })?;
    let v2 = step("secret: rotate, new value as ACSPending", || {
        let next = generated()?;
        put(s, NAME, &next, vec![vattr(STAGES, b"ACSPending")])
    })?;
    step("secret: rotate, promote it (ROTATION = ok)", || {
        let (h, _) = staged(s, "ACSPending")?;
        Ok(s.update_attributes(h, &[vattr(ROTATION, b"ok")])?)
    })?;
    step("secret: ACSCurrent new, ACSPrevious old", || {
        let (_, current) = staged(s, "ACSCurrent")?;
        let (_, previous) = staged(s, "ACSPrevious")?;
        println!("       ACSCurrent  {current}");
        println!("       ACSPrevious {previous}");
        if current != v2 || previous != v1 {
            return Err(format!("expected ACSCurrent {v2} and ACSPrevious {v1}").into());
        }
        Ok(())
    })?;
    let command = format!("kmsbridge secret exec --env DB_PASSWORD={NAME} -- ./your-app");
    println!("       an application gets it without hard-coding it, in its environment only:");
    println!("       {command}");
    exec_demo()?;
    if clean_up {
        step("clean up: schedule the secret's deletion", || {
            let (h, _) = staged(s, "ACSCurrent")?;
            Ok(s.destroy_object(h)?)
        })?;
        println!("       restorable for 7 days: kmsbridge secret restore {NAME}");
    }
    Ok(())
}

/// `kmsbridge secret exec` hands the value to a child that checks its length; it needs
/// the user PIN or a client key file in the environment (the CLI logs in itself).
fn exec_demo() -> Result<(), Error> {
    if std::env::var_os("KMSBRIDGE_USER_PIN").is_none()
        && std::env::var_os("KMSBRIDGE_CLIENT_KEY_FILE").is_none()
    {
        println!("       (set KMSBRIDGE_USER_PIN to see it run here)");
        return Ok(());
    }
    step("secret exec: the child has DB_PASSWORD", || {
        let script = format!("test \"${{#DB_PASSWORD}}\" -eq {LENGTH}");
        let status = std::process::Command::new(std::env::current_exe()?)
            .args(["secret", "exec", "--env"])
            .arg(format!("DB_PASSWORD={NAME}"))
            .args(["--", "sh", "-c", &script])
            .status()?;
        if !status.success() {
            return Err(format!(
                "the child did not get a {LENGTH}-character DB_PASSWORD ({status})"
            )
            .into());
        }
        println!("       sh -c 'test \"${{#DB_PASSWORD}}\" -eq {LENGTH}' exited 0");
        Ok(())
    })
}
