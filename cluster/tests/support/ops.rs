//! Looks at a key through a backend (the cluster or one of its nodes).

use kmsbridge_bridge::sys::*;
use kmsbridge_bridge::{AttrReq, Backend, Mechanism, ObjectId};

/// AES-ECB of one block under `key` (a backend handle or cluster id) on `b`.
pub fn ecb(b: &dyn Backend, key: ObjectId, block: &[u8; 16]) -> Vec<u8> {
    let mut op = b
        .begin_encrypt(&Mechanism::simple(CKM_AES_ECB), key)
        .expect("begin");
    let mut out = [0u8; 16];
    let n = op.run(block, Some(&mut out)).expect("encrypt");
    out[..n].to_vec()
}

/// A boolean attribute of `obj` on `b`, if it has one.
pub fn bool_attr(b: &dyn Backend, obj: ObjectId, ty: CK_ATTRIBUTE_TYPE) -> Option<bool> {
    let mut r = [AttrReq::new(ty, Some(1))];
    b.get_attributes(obj, &mut r).expect("get attributes");
    r[0].value().map(|v| v[0] != 0)
}
