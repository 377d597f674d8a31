//! A hung node (every call blocks: a wedged HSM, a stopped server) through the module
//! over 3 in-process nodes behind the fault shim. The node is taken out once a call
//! has hung past `call_timeout_ms`, and its probe, which blocks for as long as the
//! node hangs, holds up no other node: a lost node that returns meanwhile serves again.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use kmsbridge_testkit::rig::{Rig, RigOptions};
use kmsbridge_tests::cluster::token_aes;
use kmsbridge_tests::env::{Env, Target};
use std::time::{Duration, Instant};

fn encrypt(s: &Session, key: ObjectHandle) -> cryptoki::error::Result<Vec<u8>> {
    s.encrypt(&Mechanism::AesEcb, key, &[5u8; 16])
}

#[test]
fn a_hung_node_is_taken_out_and_its_probe_holds_up_no_other_node() {
    let rig =
        Rig::with_options(&RigOptions { nodes: Some(3), in_process: true, ..Default::default() });
    let conf = rig.var("KMSBRIDGE_CONF").to_string();
    let text = std::fs::read_to_string(&conf).expect("read config");
    let text =
        text.replacen("type = \"hardware\"", "type = \"hardware\"\ncall_timeout_ms = 500", 1);
    std::fs::write(&conf, text).expect("write config");
    let t = Env::with_rig(Target::Bridge, rig);
    let s = t.logged_in();
    let key = token_aes(&s, b"hang-aes", &[9u8; 32]).expect("C_CreateObject (token AES key)");
    let expected = encrypt(&s, key).expect("C_Encrypt with every node up");

    // Node 0 hangs. A worker's calls that reach it block until it resumes; the
    // watchdog takes it out after the call timeout, and its probe then blocks too.
    t.rig().hang_node(0);
    // Whatever happens below, node 0 resumes before the module is finalised.
    struct Resume<'a>(&'a Rig);
    impl Drop for Resume<'_> {
        fn drop(&mut self) {
            self.0.resume_node(0);
        }
    }
    let _resume = Resume(t.rig());
    let stuck = {
        let s = t.logged_in();
        std::thread::spawn(move || (0..20).map(|_| encrypt(&s, key)).filter(Result::is_err).count())
    };
    std::thread::sleep(Duration::from_millis(1500));

    // Node 2 is lost and returns while node 0 still hangs.
    t.rig().shim(2, "down = true");
    for _ in 0..20 {
        assert_eq!(encrypt(&s, key).expect("C_Encrypt with node 2 lost"), expected);
    }
    t.rig().shim(2, "down = false");
    std::thread::sleep(Duration::from_secs(3));

    // With node 1 lost too, only node 2 can serve: it must be back.
    t.rig().shim(1, "down = true");
    let deadline = Instant::now() + Duration::from_secs(8);
    let served = loop {
        match encrypt(&s, key) {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet served: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("node 2 did not return while node 0 hangs: {e}"),
        }
    };
    assert_eq!(served, expected, "node 2 serves the same key");
    for _ in 0..20 {
        assert_eq!(encrypt(&s, key).expect("C_Encrypt on node 2 alone"), expected);
    }

    // Node 0 resumes: the worker's blocked calls come back.
    t.rig().shim(1, "down = false");
    t.rig().resume_node(0);
    let failed = stuck.join().expect("the worker ends once node 0 resumes");
    assert_eq!(failed, 0, "single-part calls that waited on the hung node failed");
}
