//! The AES key template the cluster tests create and generate from.

use kmsbridge_bridge::sys::*;
use kmsbridge_bridge::Attr;

/// A token AES key with `id` as CKA_ID and label: by `value`, or 32 bytes generated.
pub fn aes_template(id: &[u8], value: Option<&[u8]>) -> Vec<Attr> {
    let mut t = vec![
        Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attr::ulong(CKA_KEY_TYPE, CKK_AES),
        Attr::new(CKA_ID, id.to_vec()),
        Attr::new(CKA_LABEL, id.to_vec()),
        Attr::bool(CKA_TOKEN, true),
        Attr::bool(CKA_PRIVATE, true),
        Attr::bool(CKA_ENCRYPT, true),
        Attr::bool(CKA_DECRYPT, true),
        Attr::bool(CKA_SENSITIVE, true),
    ];
    match value {
        Some(v) => t.push(Attr::new(CKA_VALUE, v.to_vec())),
        None => t.push(Attr::ulong(CKA_VALUE_LEN, 32)),
    }
    t
}
