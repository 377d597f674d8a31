//! `kmsbridge quickstart`: the main job, run through libkmsbridge.so exactly as an
//! application would, printing each step and how long it took.

mod access;
mod byok;
mod fresh;
mod secret;
mod steps;

use crate::kms::session::{find_slot, user_pin};
use crate::module::{load, Error};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use fresh::fresh_instance;
use std::path::PathBuf;
use std::time::Instant;
use steps::{gcm_decrypt_check, show, step};
use zeroize::Zeroizing;

/// DER OID of prime256v1.
const P256: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

pub fn run(args: &[String]) -> Result<(), Error> {
    let total = Instant::now();
    let fresh = match std::env::var_os("KMSBRIDGE_CONF") {
        Some(_) => None,
        None => Some(fresh_instance(args.iter().any(|a| a == "--keep"))?),
    };
    println!(
        "kmsbridge quickstart: module {}",
        crate::module::path().display()
    );
    if let Some(f) = &fresh {
        println!("  a fresh software instance in {}", f.dir.display());
        println!(
            "  SO PIN {}  user PIN {}  (random, for this run only)",
            *f.so_pin, *f.user_pin
        );
    }
    let p11 = step("load libkmsbridge.so and C_Initialize", load)?;
    if let Some(f) = &fresh {
        step("initialise the token (C_InitToken, C_InitPIN)", || {
            let slot = *p11.get_all_slots()?.first().ok_or("no slot")?;
            p11.init_token(slot, &AuthPin::new(f.so_pin.as_str().into()), "quickstart")?;
            let s = p11.open_rw_session(slot)?;
            s.login(UserType::So, Some(&AuthPin::new(f.so_pin.as_str().into())))?;
            s.init_pin(&AuthPin::new(f.user_pin.as_str().into()))?;
            s.logout()?;
            Ok(())
        })?;
        std::env::set_var("KMSBRIDGE_USER_PIN", f.user_pin.as_str());
    }
    let slot = step("find the instance's slot", || {
        let (slot, label) = find_slot(&p11)?;
        println!("       instance {label:?} on slot {}", slot.id());
        Ok(slot)
    })?;
    let s = step("open a read/write session", || {
        Ok(p11.open_rw_session(slot)?)
    })?;
    let pin_flag = args
        .iter()
        .position(|a| a == "--pin")
        .map(|i| {
            args.get(i + 1)
                .map(String::as_str)
                .ok_or("--pin needs a value")
        })
        .transpose()?;
    let pin = user_pin(pin_flag)?;
    step("log in as the user", || {
        Ok(s.login(UserType::User, Some(&pin))?)
    })?;

    let aes = step("generate an AES-256 key", || {
        Ok(s.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::ValueLen(32.into()),
                Attribute::Label(b"quickstart-aes".to_vec()),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
            ],
        )?)
    })?;
    let (ec_pub, ec_priv) = step("generate an EC P-256 key pair", || {
        Ok(s.generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::EcParams(P256.to_vec()),
                Attribute::Verify(true),
                Attribute::Label(b"quickstart-ec".to_vec()),
            ],
            &[
                Attribute::Sign(true),
                Attribute::Sensitive(true),
                Attribute::Label(b"quickstart-ec".to_vec()),
            ],
        )?)
    })?;
    let (rsa_pub, rsa_priv) = step("generate an RSA-2048 key pair", || {
        Ok(s.generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Verify(true),
                Attribute::Label(b"quickstart-rsa".to_vec()),
            ],
            &[
                Attribute::Sign(true),
                Attribute::Sensitive(true),
                Attribute::Label(b"quickstart-rsa".to_vec()),
            ],
        )?)
    })?;

    let message = b"kmsbridge quickstart: the main job";
    let mut iv = [0u8; 12];
    step("random 12-byte IV from the instance", || {
        iv.copy_from_slice(&s.generate_random_vec(12)?);
        Ok(())
    })?;
    let ct = step("AES-256-GCM encrypt", || {
        let mut iv = iv;
        Ok(s.encrypt(
            &Mechanism::AesGcm(GcmParams::new(&mut iv, b"aad", 128.into())?),
            aes,
            message,
        )?)
    })?;
    step("AES-256-GCM decrypt and compare", || {
        gcm_decrypt_check(&s, aes, iv, b"aad", &ct, message, "decrypted text differs")
    })?;
    for (name, mech, private, public) in [
        (
            "ECDSA P-256 with SHA-256",
            Mechanism::EcdsaSha256,
            ec_priv,
            ec_pub,
        ),
        (
            "RSA-2048 PKCS#1 v1.5 with SHA-256",
            Mechanism::Sha256RsaPkcs,
            rsa_priv,
            rsa_pub,
        ),
    ] {
        let sig = step(&format!("{name}: sign"), || {
            Ok(s.sign(&mech, private, message)?)
        })?;
        step(&format!("{name}: verify"), || {
            Ok(s.verify(&mech, public, message, &sig)?)
        })?;
        step(&format!("{name}: tampered message refused"), || {
            match s.verify(&mech, public, b"tampered", &sig) {
                Err(_) => Ok(()),
                Ok(()) => Err("a tampered message verified".into()),
            }
        })?;
    }
    println!("  key attributes:");
    show(&s, "AES-256", aes)?;
    show(&s, "EC private", ec_priv)?;
    show(&s, "RSA private", rsa_priv)?;
    byok::run(&s)?;
    secret::run(&s, fresh.is_none())?;
    step("log out", || Ok(s.logout()?))?;
    access::run(
        &s,
        &access::Setup {
            user_pin: &pin,
            so_pin: match &fresh {
                Some(f) => Some(f.so_pin.clone()),
                None => std::env::var("KMSBRIDGE_SO_PIN").ok().map(Zeroizing::new),
            },
            log_file: match &fresh {
                Some(f) => Some(f.dir.join("kmsbridge.log")),
                None => configured_log_file(),
            },
            clean_up: fresh.is_none(),
        },
    )?;
    drop(s);
    drop(p11);
    println!(
        "quickstart finished in {:.1} ms",
        total.elapsed().as_secs_f64() * 1e3
    );
    if let Some(f) = fresh.as_ref().filter(|f| f.keep) {
        println!(
            "kept {}: KMSBRIDGE_CONF={}",
            f.dir.display(),
            f.dir.join("kmsbridge.toml").display()
        );
    }
    Ok(())
}

/// The `[log] file` of the configuration KMSBRIDGE_CONF names, if it has one.
fn configured_log_file() -> Option<PathBuf> {
    let conf = std::env::var_os("KMSBRIDGE_CONF")?;
    let text = std::fs::read_to_string(conf).ok()?;
    let v: toml::Value = toml::from_str(&text).ok()?;
    v.get("log")?.get("file")?.as_str().map(PathBuf::from)
}
