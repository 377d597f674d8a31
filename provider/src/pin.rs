//! Front PINs are kept only as salted slow hashes: `pbkdf2-sha256$iter$salt$dk`.

use zeroize::Zeroizing;

pub(crate) struct PinHash {
    iterations: u32,
    salt: Vec<u8>,
    dk: Vec<u8>,
}

const MIN_ITERATIONS: u32 = 10_000;
pub(crate) const DEFAULT_ITERATIONS: u32 = 60_000;

impl PinHash {
    pub(crate) fn parse(s: &str) -> Result<PinHash, String> {
        let parts: Vec<&str> = s.split('$').collect();
        let [alg, iter, salt, dk] = parts.as_slice() else {
            return Err("expected pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>".into());
        };
        if *alg != "pbkdf2-sha256" {
            return Err(format!("unknown PIN hash algorithm {alg:?}"));
        }
        let iterations: u32 = iter
            .parse()
            .map_err(|_| "iterations is not a number".to_string())?;
        if iterations < MIN_ITERATIONS {
            return Err(format!("at least {MIN_ITERATIONS} iterations"));
        }
        let salt = hex::decode(salt).map_err(|_| "salt is not hex".to_string())?;
        let dk = hex::decode(dk).map_err(|_| "hash is not hex".to_string())?;
        if salt.len() < 8 || dk.len() != 32 {
            return Err("salt must be at least 8 bytes and the hash 32".into());
        }
        Ok(PinHash {
            iterations,
            salt,
            dk,
        })
    }

    pub(crate) fn new(pin: &[u8], salt: [u8; 16]) -> PinHash {
        let dk = derive(pin, &salt, DEFAULT_ITERATIONS);
        PinHash {
            iterations: DEFAULT_ITERATIONS,
            salt: salt.to_vec(),
            dk: dk.to_vec(),
        }
    }

    pub(crate) fn verify(&self, pin: &[u8]) -> bool {
        let dk = derive(pin, &self.salt, self.iterations);
        // Constant-time compare: no early exit on the first differing byte.
        dk.iter()
            .zip(&self.dk)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
            && dk.len() == self.dk.len()
    }

    pub(crate) fn encode(&self) -> String {
        format!(
            "pbkdf2-sha256${}${}${}",
            self.iterations,
            hex::encode(&self.salt),
            hex::encode(&self.dk)
        )
    }
}

fn derive(pin: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pin, salt, iterations, out.as_mut());
    out
}
