//! What the trail tests share: an HMAC-SHA256 signer standing in for the audit service
//! key, a writer whose heads are collected, a sample entry.

use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use kmsbridge_audit::*;
use parking_lot::Mutex;
use sha2::Sha256;

pub struct HmacKey(pub &'static [u8]);

impl HmacKey {
    fn mac(&self, message: &[u8]) -> Hmac<Sha256> {
        let mut m = Hmac::<Sha256>::new_from_slice(self.0).unwrap();
        m.update(message);
        m
    }
}

impl Signer for HmacKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        Ok(self.mac(message).finalize().into_bytes().to_vec())
    }
}

impl Verifier for HmacKey {
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.mac(message).verify_slice(signature).is_ok()
    }
}

pub const KEY: HmacKey = HmacKey(b"the instance's audit service key");

pub fn config(dir: &Path) -> Config {
    let mut cfg = Config::new(dir, Token::new("inst-1").unwrap());
    cfg.checkpoint_every = 5;
    cfg.durability = Durability::Buffered;
    cfg
}

/// A writer with `cfg` whose published heads land in the returned list.
pub fn writer(cfg: Config) -> (Writer, Arc<Mutex<Vec<Head>>>) {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = heads.clone();
    let sink = move |head: &Head| -> Result<(), String> {
        h.lock().push(head.clone());
        Ok(())
    };
    let w = Writer::open(cfg, Box::new(KEY), Some(Box::new(sink))).unwrap();
    (w, heads)
}

/// A denial naming `object`.
pub fn denial(object: &str) -> Entry {
    Entry::new(Event::Denied, Outcome::Denied)
        .access_point(Token::new("app-1").unwrap())
        .action(Token::new("decrypt").unwrap())
        .object(Text::new(object).unwrap())
        .reason(Text::new("no statement allows decrypt").unwrap())
}
