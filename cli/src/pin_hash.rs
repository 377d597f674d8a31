//! `kmsbridge hash-pin`: the `pbkdf2-sha256$iter$salt$hash` form the config keeps.

use crate::module::Error;
use std::io::BufRead;

const ITERATIONS: u32 = 60_000;

pub fn run(args: &[String]) -> Result<(), Error> {
    let pin = match args.first() {
        Some(p) => p.clone(),
        None => std::io::stdin()
            .lock()
            .lines()
            .next()
            .transpose()?
            .unwrap_or_default(),
    };
    if pin.len() < 4 || pin.len() > 255 {
        return Err("a PIN is 4 to 255 bytes".into());
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness: {e}"))?;
    let mut dk = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pin.as_bytes(), &salt, ITERATIONS, &mut dk);
    println!(
        "pbkdf2-sha256${ITERATIONS}${}${}",
        hex::encode(salt),
        hex::encode(dk)
    );
    Ok(())
}
