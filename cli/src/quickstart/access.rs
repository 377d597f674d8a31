//! quickstart's access point step: two applications with different rights on one
//! instance (docs/ACCESS.md). The SO makes "payments" (encrypt and decrypt payments-*
//! keys) and "reports" (only encrypt with them), each with a client key; a key labelled
//! payments-key is made under the default access point (the user PIN); "reports"
//! encrypts with it but its decryption is refused, and the module's log line says why;
//! "payments" then decrypts what "reports" encrypted.

use super::steps::step;
use crate::aap::attrs::{ap_class, text, CKA_KMSBRIDGE_CREDENTIAL_ADD, CKA_KMSBRIDGE_DESCRIPTION};
use crate::module::Error;
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use kmsbridge_access::credential::ClientKey;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Marks the access points this step made, so a later run may replace them.
const DESCRIPTION: &str = "made by kmsbridge quickstart";
const KEY_LABEL: &str = "payments-key";
const AAD: &[u8] = b"kmsbridge quickstart access points";

const PAYMENTS: &str = r#"[[statement]]
sid = "payments"
actions = ["encrypt", "decrypt"]
resources = ["alias/payments-*"]
"#;

const REPORTS: &str = r#"[[statement]]
sid = "reports-write"
actions = ["encrypt"]
resources = ["alias/payments-*"]
"#;

/// What the step needs from the quickstart.
pub(super) struct Setup<'a> {
    pub(super) user_pin: &'a AuthPin,
    pub(super) so_pin: Option<Zeroizing<String>>,
    /// The module's log file, where the refusal's reason is written.
    pub(super) log_file: Option<PathBuf>,
    /// A configured instance: what the step made is removed afterwards.
    pub(super) clean_up: bool,
}

fn auth(pin: &str) -> AuthPin {
    AuthPin::new(pin.into())
}

/// Runs the step on `s` (R/W, nobody logged in); leaves nobody logged in.
pub(super) fn run(s: &Session, setup: &Setup<'_>) -> Result<(), Error> {
    println!("  two applications with different rights (access points, docs/ACCESS.md):");
    let Some(so_pin) = &setup.so_pin else {
        println!(
            "       skipped: access points are made by the SO; set KMSBRIDGE_SO_PIN to see this step"
        );
        return Ok(());
    };
    step("log in as the user (the default access point)", || {
        Ok(s.login(UserType::User, Some(setup.user_pin))?)
    })?;
    step(&format!("generate AES-256 key {KEY_LABEL}"), || {
        s.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::ValueLen(32.into()),
                Attribute::Label(KEY_LABEL.as_bytes().to_vec()),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
            ],
        )?;
        Ok(())
    })?;
    step("log out", || Ok(s.logout()?))?;
    step("log in as the SO", || {
        Ok(s.login(UserType::So, Some(&auth(so_pin)))?)
    })?;
    let mut keys = Vec::new();
    for (name, policy, rights) in [
        ("payments", PAYMENTS, "encrypt, decrypt"),
        ("reports", REPORTS, "encrypt only"),
    ] {
        let key = step(&format!("access point {name} ({rights})"), || {
            make(s, name, policy)
        })?;
        let Some(key) = key else {
            let _ = s.logout();
            println!(
                "       skipped: the instance has an access point {name:?} this quickstart did not make"
            );
            return Ok(());
        };
        println!(
            "       {rights} on alias/payments-*; client key of credential {} added",
            key.id()
        );
        keys.push(key);
    }
    step("log out", || Ok(s.logout()?))?;
    let [payments, reports] = keys.as_slice() else {
        return Err("two client keys were expected".into());
    };
    let mut iv = [0u8; 12];
    iv.copy_from_slice(&s.generate_random_vec(12)?);
    step("log in as reports (client key as the PIN)", || {
        login(s, reports)
    })?;
    let key = find_key(s)?;
    let ct = step(&format!("reports: encrypt with {KEY_LABEL}"), || {
        let mut iv = iv;
        let gcm = GcmParams::new(&mut iv, AAD, 128.into())?;
        Ok(s.encrypt(&Mechanism::AesGcm(gcm), key, b"monthly report")?)
    })?;
    step(
        &format!("reports: decrypt with {KEY_LABEL} is refused"),
        || {
            let mut iv = iv;
            let gcm = GcmParams::new(&mut iv, AAD, 128.into())?;
            match s.decrypt(&Mechanism::AesGcm(gcm), key, &ct) {
                Err(P11Error::Pkcs11(RvError::KeyFunctionNotPermitted, _)) => {
                    println!("       CKR_KEY_FUNCTION_NOT_PERMITTED");
                    Ok(())
                }
                Err(e) => Err(format!("refused, but with {e}").into()),
                Ok(_) => Err("reports decrypted: its policy was not applied".into()),
            }
        },
    )?;
    show_log_line(setup.log_file.as_deref());
    step("log out", || Ok(s.logout()?))?;
    step("log in as payments", || login(s, payments))?;
    let key = find_key(s)?;
    step("payments: decrypt what reports encrypted", || {
        let mut iv = iv;
        let gcm = GcmParams::new(&mut iv, AAD, 128.into())?;
        if s.decrypt(&Mechanism::AesGcm(gcm), key, &ct)? != b"monthly report" {
            return Err("decrypted text differs".into());
        }
        Ok(())
    })?;
    step("log out", || Ok(s.logout()?))?;
    if setup.clean_up {
        step("clean up: delete the access points and the key", || {
            clean_up(s, so_pin, setup.user_pin)
        })?;
    }
    Ok(())
}

/// Makes access point `name` with `policy` and a client key (after removing one a
/// former run made); None when an access point of that name is someone else's.
fn make(s: &Session, name: &str, policy: &str) -> Result<Option<ClientKey>, Error> {
    let by_name = [ap_class(), Attribute::Label(name.as_bytes().to_vec())];
    for h in s.find_objects(&by_name)? {
        let d = s.get_attributes(
            h,
            &[AttributeType::VendorDefined(CKA_KMSBRIDGE_DESCRIPTION)],
        )?;
        let ours = matches!(d.first(), Some(Attribute::VendorDefined((_, v))) if v == DESCRIPTION.as_bytes());
        if !ours {
            return Ok(None);
        }
        s.destroy_object(h)?;
    }
    let h = s.create_object(&[
        ap_class(),
        Attribute::Label(name.as_bytes().to_vec()),
        Attribute::Value(policy.as_bytes().to_vec()),
        text(CKA_KMSBRIDGE_DESCRIPTION, DESCRIPTION),
    ])?;
    let key = ClientKey::generate().map_err(|e| e.to_string())?;
    let secret = key.to_text().map_err(|e| e.to_string())?;
    s.update_attributes(h, &[text(CKA_KMSBRIDGE_CREDENTIAL_ADD, &secret)])?;
    Ok(Some(key))
}

fn login(s: &Session, key: &ClientKey) -> Result<(), Error> {
    let secret = key.to_text().map_err(|e| e.to_string())?;
    Ok(s.login(UserType::User, Some(&auth(&secret)))?)
}

fn find_key(s: &Session) -> Result<ObjectHandle, Error> {
    s.find_objects(&[Attribute::Label(KEY_LABEL.as_bytes().to_vec())])?
        .first()
        .copied()
        .ok_or_else(|| format!("{KEY_LABEL} is not visible to this access point").into())
}

/// Prints the module's `denied:` line about reports, from its log file.
fn show_log_line(file: Option<&std::path::Path>) {
    let Some(file) = file else {
        println!("       the module logged why on standard error (no [log] file is configured)");
        return;
    };
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("denied:") && l.contains("access_point=reports"));
    match line {
        Some(l) => {
            println!("       the module's log ({}) says why:", file.display());
            println!("       {}", l.trim());
        }
        None => println!(
            "       no denied line in {} (does KMSBRIDGE_LOG keep warnings?)",
            file.display()
        ),
    }
}

fn clean_up(s: &Session, so_pin: &str, user_pin: &AuthPin) -> Result<(), Error> {
    s.login(UserType::So, Some(&auth(so_pin)))?;
    for name in ["payments", "reports"] {
        for h in s.find_objects(&[ap_class(), Attribute::Label(name.as_bytes().to_vec())])? {
            s.destroy_object(h)?;
        }
    }
    s.logout()?;
    s.login(UserType::User, Some(user_pin))?;
    for h in s.find_objects(&[Attribute::Label(KEY_LABEL.as_bytes().to_vec())])? {
        s.destroy_object(h)?;
    }
    s.logout()?;
    Ok(())
}
