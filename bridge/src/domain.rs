//! The cluster domain key as every node holds it: one AES-256 key with the same
//! value everywhere, `CKA_TRUSTED` (only the SO may set that), under which keys
//! that must not leave an HSM travel between nodes. Shared by the cluster, which
//! provisions it on N nodes, and by a one-node instance, which provisions it on one.

use crate::error::{Error, Result};
use crate::Attr;
use cryptoki_sys::*;
use std::path::Path;
use zeroize::Zeroizing;

/// The domain key's CKA_ID on every node (a service key: never an application's).
pub const DOMAIN_KEY_ID: &[u8] = b"kmsbridge.svc.cluster.domain";

/// The find template that names the domain key on a node.
pub fn find_template() -> Vec<Attr> {
    vec![
        Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attr::new(CKA_ID, DOMAIN_KEY_ID.to_vec()),
    ]
}

/// The creation template of the domain key with `value` (32 bytes); its copy of
/// the value is zeroized with the template (`Attr` values are).
pub fn create_template(value: &[u8]) -> Vec<Attr> {
    vec![
        Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attr::ulong(CKA_KEY_TYPE, CKK_AES),
        Attr::new(CKA_VALUE, value.to_vec()),
        Attr::new(CKA_ID, DOMAIN_KEY_ID.to_vec()),
        Attr::new(CKA_LABEL, DOMAIN_KEY_ID.to_vec()),
        Attr::bool(CKA_TOKEN, true),
        // The SO cannot make private objects; the key is still useless to others:
        // it cannot encrypt or decrypt, so what it wraps never comes out in clear.
        Attr::bool(CKA_PRIVATE, false),
        Attr::bool(CKA_SENSITIVE, true),
        Attr::bool(CKA_EXTRACTABLE, false),
        Attr::bool(CKA_MODIFIABLE, false),
        Attr::bool(CKA_TRUSTED, true),
        Attr::bool(CKA_WRAP, true),
        Attr::bool(CKA_UNWRAP, true),
        Attr::bool(CKA_ENCRYPT, false),
        Attr::bool(CKA_DECRYPT, false),
        Attr::bool(CKA_SIGN, false),
        Attr::bool(CKA_VERIFY, false),
        Attr::bool(CKA_DERIVE, false),
    ]
}

/// A fresh random domain key value.
pub fn fresh_value() -> Result<Zeroizing<Vec<u8>>> {
    let mut value = Zeroizing::new(vec![0u8; 32]);
    getrandom::fill(&mut value)
        .map_err(|e| Error::Unavailable(format!("no randomness for the domain key: {e}")))?;
    Ok(value)
}

/// A PIN kept in a credential file, trailing whitespace removed.
pub fn read_pin(file: &Path) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut pin = Zeroizing::new(std::fs::read(file)?);
    let len = pin
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    pin.truncate(len);
    Ok(pin)
}

/// The SO PIN of node `name` from its `so_credential_file`: a configuration
/// problem (none, unreadable) is `Error::Failed`, answered `CKR_FUNCTION_FAILED`.
pub fn read_so_pin(name: &str, file: Option<&Path>) -> Result<Zeroizing<Vec<u8>>> {
    let file = file.ok_or_else(|| {
        Error::Failed(format!(
            "{name}: no so_credential_file configured; the cluster domain key needs each node's SO PIN"
        ))
    })?;
    read_pin(file).map_err(|e| {
        Error::Failed(format!(
            "{name}: so_credential_file {}: {e}",
            file.display()
        ))
    })
}
