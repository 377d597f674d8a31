//! `node-objects LIBRARY TOKEN_LABEL PIN_FILE QUERY...`: counts the objects on one
//! SoftHSM2 token that match each QUERY and prints one count per line. Run with
//! `SOFTHSM2_CONF` naming the node's store, in a process of its own, by
//! `kmsbridge_tests::cluster::count_on_node`: so a cluster test looks at a node's
//! token straight through SoftHSM2, past kmsbridge, the fault shim and p11-kit, also
//! while that node is lost and while the module runs in the test process.
//!
//! A QUERY is `key=value` pairs joined by `,`: `class=N` (CKA_CLASS), `id=HEX`
//! (CKA_ID), `label=TEXT` (CKA_LABEL; it may not hold a `,`).

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use kmsbridge_testkit::module::{find_slot, login};

fn template(query: &str) -> Vec<Attribute> {
    query
        .split(',')
        .map(|kv| match kv.split_once('=') {
            Some(("class", n)) => Attribute::Class(
                ObjectClass::try_from(n.parse::<cryptoki_sys::CK_OBJECT_CLASS>().expect("class=N"))
                    .expect("a known class"),
            ),
            Some(("id", h)) => Attribute::Id(hex::decode(h).expect("id=HEX")),
            Some(("label", l)) => Attribute::Label(l.as_bytes().to_vec()),
            _ => panic!("a query part is class=N, id=HEX or label=TEXT, not {kv:?}"),
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert!(args.len() >= 3, "usage: node-objects LIBRARY TOKEN_LABEL PIN_FILE QUERY...");
    let ctx = Pkcs11::new(&args[0]).unwrap_or_else(|e| panic!("load {}: {e}", args[0]));
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
    let slot = find_slot(&ctx, &args[1]).unwrap_or_else(|| panic!("no token {}", args[1]));
    let pin = std::fs::read_to_string(&args[2]).expect("read the node's PIN file");
    let s = ctx.open_ro_session(slot).expect("C_OpenSession");
    // Logged in: the cluster's token objects are mostly private.
    login(&s, UserType::User, &AuthPin::new(pin.trim().to_string().into()));
    for q in &args[3..] {
        println!("{}", s.find_objects(&template(q)).expect("C_FindObjects").len());
    }
    drop(s);
    ctx.finalize().expect("C_Finalize");
}
