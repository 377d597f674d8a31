//! Started operations, one trait per kind (kryoptic's per-kind traits in its
//! `session.rs` are the model): a call of the wrong kind does not compile.
//!
//! Output follows the spec: `out == None` is a length query and
//! `CKR_BUFFER_TOO_SMALL` leaves the operation active; every other error ends it.
//! Dropping an operation before it completes cancels it in the backend.

use crate::backend::{ObjectId, Output};
use crate::error::Result;

/// What every started operation answers, whatever its kind.
pub trait Operation: Send {
    /// True once the backend considers the operation over (success or error).
    fn is_done(&self) -> bool;
}

/// Encryption or decryption: output at every step.
pub trait Cipher: Operation {
    /// C_Encrypt / C_Decrypt.
    fn run(&mut self, input: &[u8], out: Output) -> Result<usize>;
    /// C_EncryptUpdate / C_DecryptUpdate.
    fn update(&mut self, input: &[u8], out: Output) -> Result<usize>;
    /// C_EncryptFinal / C_DecryptFinal.
    fn finish(&mut self, out: Output) -> Result<usize>;
}

/// Signing (or MACing): data in, the signature at the end.
pub trait Signing: Operation {
    /// C_Sign.
    fn run(&mut self, data: &[u8], out: Output) -> Result<usize>;
    /// C_SignUpdate.
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// C_SignFinal.
    fn finish(&mut self, out: Output) -> Result<usize>;
}

/// Verifying: data in, a check of the signature at the end.
pub trait Verifying: Operation {
    /// C_Verify.
    fn verify(&mut self, data: &[u8], signature: &[u8]) -> Result<()>;
    /// C_VerifyUpdate.
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// C_VerifyFinal.
    fn finish(&mut self, signature: &[u8]) -> Result<()>;
}

/// Digesting: data (or a secret key's value) in, the digest at the end.
pub trait Digesting: Operation {
    /// C_Digest.
    fn run(&mut self, data: &[u8], out: Output) -> Result<usize>;
    /// C_DigestUpdate.
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// C_DigestKey.
    fn update_key(&mut self, key: ObjectId) -> Result<()>;
    /// C_DigestFinal.
    fn finish(&mut self, out: Output) -> Result<usize>;
}
