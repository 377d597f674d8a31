//! Makes an access point for the real-client suites (tests/clients/access.sh), as the
//! SO through PKCS#11, and prints its one client key on stdout:
//!
//!     kmsbridge-test-aap NAME POLICY_FILE
//!
//! The module, token and SO PIN come from the rig's environment (KMSBRIDGE_MODULE,
//! KMSBRIDGE_TOKEN_LABEL, KMSBRIDGE_SO_PIN).

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use kmsbridge_testkit::module::Module;
use kmsbridge_tests::access::{add_credential, create};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, name, policy] = args.as_slice() else {
        eprintln!("usage: kmsbridge-test-aap NAME POLICY_FILE");
        std::process::exit(2);
    };
    let policy = std::fs::read_to_string(policy).unwrap_or_else(|e| panic!("read {policy}: {e}"));
    let m = Module::load();
    let s = m.ctx.open_rw_session(m.slot).expect("C_OpenSession");
    s.login(UserType::So, Some(&AuthPin::new(m.so_pin.clone().into()))).expect("SO login");
    let ap = create(&s, name, &policy).unwrap_or_else(|e| panic!("create {name}: {e}"));
    println!("{}", add_credential(&s, ap));
    s.logout().expect("C_Logout");
}
