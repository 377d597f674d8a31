//! `kmsbridge init`: initialise an instance's token through the module
//! (C_InitToken, then C_InitPIN as the SO), as any PKCS#11 tool would.

use crate::module::{load, Error};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

fn arg(args: &[String], name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn secret(args: &[String], name: &str, env: &str) -> Result<String, Error> {
    arg(args, name)
        .or_else(|| std::env::var(env).ok())
        .ok_or_else(|| format!("give {name} PIN or set {env}").into())
}

pub fn run(args: &[String]) -> Result<(), Error> {
    let so_pin = secret(args, "--so-pin", "KMSBRIDGE_SO_PIN")?;
    let user_pin = secret(args, "--pin", "KMSBRIDGE_USER_PIN")?;
    let p11 = load()?;
    let slots = p11.get_all_slots()?;
    let slot = match arg(args, "--slot") {
        Some(id) => {
            let id: u64 = id.parse().map_err(|_| "--slot takes a number")?;
            *slots.iter().find(|s| s.id() == id).ok_or("no such slot")?
        }
        None => *slots.first().ok_or("the module serves no instance")?,
    };
    let label = arg(args, "--label").unwrap_or_else(|| {
        p11.get_token_info(slot)
            .map(|t| t.label().to_string())
            .unwrap_or_default()
    });
    p11.init_token(slot, &AuthPin::new(so_pin.clone().into()), &label)?;
    let s = p11.open_rw_session(slot)?;
    s.login(UserType::So, Some(&AuthPin::new(so_pin.into())))?;
    s.init_pin(&AuthPin::new(user_pin.into()))?;
    s.logout()?;
    println!(
        "initialised slot {} as {label:?}; the user PIN is set",
        slot.id()
    );
    Ok(())
}
