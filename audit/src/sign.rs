//! Checkpoints: the signed head of the chain, and the traits the instance plugs its
//! audit service key into.

use serde::{Deserialize, Serialize};

use crate::record::Token;

/// Signs checkpoints. The provider implements it with the instance's audit service key;
/// the key never comes near this crate.
pub trait Signer: Send + Sync {
    /// The signature over `message` ([`Head::message`]), or why it could not be made
    /// now. A refusal defers the checkpoint (the writer tries again at its next append)
    /// and never fails the append: see [`crate::Appended::deferred`].
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String>;
}

/// Checks checkpoint signatures (the public half of, or the same key as, the [`Signer`]).
pub trait Verifier {
    /// Whether `signature` is a valid signature over `message`.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool;
}

/// Receives every checkpoint just after it is written (under the trail's lock, so in
/// order). The instance keeps the latest outside the file: given back to
/// [`crate::verify`] as the expected head, it is what makes truncation detectable.
pub trait HeadSink: Send + Sync {
    /// A new head. An error is reported by the append that wrote the checkpoint (the
    /// record itself is already in the trail).
    fn publish(&self, head: &Head) -> Result<(), String>;
}

impl<F: Fn(&Head) -> Result<(), String> + Send + Sync> HeadSink for F {
    fn publish(&self, head: &Head) -> Result<(), String> {
        self(head)
    }
}

/// A signed head: the checkpoint record at `seq`, which certifies the chain up to `prev`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub instance: Token,
    /// The checkpoint record's sequence number.
    pub seq: u64,
    /// The hash of the record before it (the head being certified).
    pub prev: String,
    /// The checkpoint record's own hash.
    pub hash: String,
    /// Hex signature over [`Head::message`].
    pub signature: String,
}

impl Head {
    /// The bytes signed for a checkpoint at `seq` after the record whose hash is `prev`:
    /// `kmsbridge-audit checkpoint v1\n<instance>\n<seq>\n<prev>`.
    pub fn message(instance: &Token, seq: u64, prev: &str) -> Vec<u8> {
        format!("kmsbridge-audit checkpoint v1\n{instance}\n{seq}\n{prev}").into_bytes()
    }

    /// Whether the signature verifies.
    pub fn verifies(&self, verifier: &dyn Verifier) -> bool {
        let Ok(sig) = hex::decode(&self.signature) else {
            return false;
        };
        verifier.verify(&Self::message(&self.instance, self.seq, &self.prev), &sig)
    }
}
