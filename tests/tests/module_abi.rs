//! The C ABI itself: exported symbols, interfaces, complete tables, C_Initialize's
//! argument rules, fork, and configuration errors. Loads the built module raw.

// Tests and benches: a panic is how they report a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use cryptoki_sys::*;
use kmsbridge_testkit::rig::{cli_path, Rig};
use kmsbridge_tests::raw::Raw;
use std::ffi::c_void;
use std::path::PathBuf;
use std::ptr::null_mut;

fn module(rig: &Rig) -> PathBuf {
    PathBuf::from(rig.var("KMSBRIDGE_MODULE"))
}

/// Every word after the version must be a non-NULL function pointer.
fn assert_no_null_entries(list: *const c_void, words: usize) {
    // SAFETY: the table is `CK_VERSION` (padded to a word) followed by `words` pointers.
    let ptrs = unsafe { std::slice::from_raw_parts((list as *const usize).add(1), words) };
    for (i, p) in ptrs.iter().enumerate() {
        assert_ne!(*p, 0, "function table entry {i} is NULL");
    }
}

#[test]
fn exports_only_the_discovery_entry_points() {
    let rig = Rig::new();
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(module(&rig))
        .output()
        .expect("run nm");
    let text = String::from_utf8_lossy(&out.stdout);
    let exported: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|s| s.starts_with("C_"))
        .collect();
    let mut sorted = exported.clone();
    sorted.sort();
    assert_eq!(sorted, ["C_GetFunctionList", "C_GetInterface", "C_GetInterfaceList"]);
}

#[test]
fn interfaces_are_complete_and_versioned() {
    let rig = Rig::new();
    let raw = Raw::open(&module(&rig));
    let list_fn = *raw.lib().C_GetInterfaceList.as_ref().expect("C_GetInterfaceList exported");
    let get_fn = *raw.lib().C_GetInterface.as_ref().expect("C_GetInterface exported");

    let mut n: CK_ULONG = 0;
    // SAFETY: NULL list asks for the count.
    assert_eq!(unsafe { list_fn(null_mut(), &mut n) }, CKR_OK);
    assert_eq!(n, 2);
    let mut short: CK_ULONG = 1;
    let mut one = [CK_INTERFACE::default(); 1];
    // SAFETY: a one-element buffer with its size.
    assert_eq!(unsafe { list_fn(one.as_mut_ptr(), &mut short) }, CKR_BUFFER_TOO_SMALL);
    assert_eq!(short, 2);
    let mut ifaces = [CK_INTERFACE::default(); 2];
    // SAFETY: a two-element buffer with its size.
    assert_eq!(unsafe { list_fn(ifaces.as_mut_ptr(), &mut n) }, CKR_OK);

    let mut versions = Vec::new();
    for iface in &ifaces {
        // SAFETY: the module's interface name is a NUL-terminated static string.
        let name = unsafe { std::ffi::CStr::from_ptr(iface.pInterfaceName as *const _) };
        assert_eq!(name.to_bytes(), b"PKCS 11");
        // SAFETY: every function list starts with its CK_VERSION.
        let v = unsafe { *(iface.pFunctionList as *const CK_VERSION) };
        versions.push((v.major, v.minor));
        let words = if v.major == 3 { 92 } else { 68 };
        assert_no_null_entries(iface.pFunctionList, words);
    }
    versions.sort();
    assert_eq!(versions, [(2, 40), (3, 0)]);

    // The default interface is 3.0; 2.40 on request; others and fork-safety are refused.
    let mut found: *mut CK_INTERFACE = null_mut();
    // SAFETY: NULL name and version ask for the default.
    assert_eq!(unsafe { get_fn(null_mut(), null_mut(), &mut found, 0) }, CKR_OK);
    // SAFETY: the module returned a valid interface.
    let v = unsafe { *((*found).pFunctionList as *const CK_VERSION) };
    assert_eq!((v.major, v.minor), (3, 0));
    let mut want = CK_VERSION { major: 2, minor: 40 };
    let mut name = *b"PKCS 11\0";
    // SAFETY: valid name and version.
    assert_eq!(unsafe { get_fn(name.as_mut_ptr(), &mut want, &mut found, 0) }, CKR_OK);
    // SAFETY: as above.
    let v = unsafe { *((*found).pFunctionList as *const CK_VERSION) };
    assert_eq!((v.major, v.minor), (2, 40));
    let mut other = *b"Vendor\0";
    // SAFETY: valid arguments naming an interface the module lacks.
    assert_eq!(unsafe { get_fn(other.as_mut_ptr(), null_mut(), &mut found, 0) }, CKR_ARGUMENTS_BAD);
    assert_eq!(
        // SAFETY: as above.
        unsafe { get_fn(null_mut(), null_mut(), &mut found, CKF_INTERFACE_FORK_SAFE) },
        CKR_ARGUMENTS_BAD
    );
    // SAFETY: NULL output pointer must be refused, not written.
    assert_eq!(unsafe { get_fn(null_mut(), null_mut(), null_mut(), 0) }, CKR_ARGUMENTS_BAD);
}

unsafe extern "C" fn create(_m: *mut *mut c_void) -> CK_RV {
    CKR_OK
}
unsafe extern "C" fn other(_m: *mut c_void) -> CK_RV {
    CKR_OK
}

#[test]
fn initialize_checks_its_arguments() {
    let rig = Rig::new();
    let raw = Raw::open(&module(&rig));
    let l = raw.list();
    let init = l.C_Initialize.expect("C_Initialize");
    let fin = l.C_Finalize.expect("C_Finalize");
    let slots = l.C_GetSlotList.expect("C_GetSlotList");
    let mut n: CK_ULONG = 0;

    // Before C_Initialize every call but the discovery ones is refused.
    // SAFETY: valid pointers throughout this test unless said otherwise.
    assert_eq!(unsafe { slots(CK_FALSE, null_mut(), &mut n) }, CKR_CRYPTOKI_NOT_INITIALIZED);
    // SAFETY: as above.
    assert_eq!(unsafe { fin(null_mut()) }, CKR_CRYPTOKI_NOT_INITIALIZED);

    let mut args = CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: 0,
        pReserved: std::ptr::dangling_mut::<c_void>(),
    };
    assert_eq!(
        // SAFETY: as above.
        unsafe { init(&mut args as *mut _ as *mut c_void) },
        CKR_ARGUMENTS_BAD,
        "pReserved must be NULL"
    );
    args.pReserved = null_mut();
    args.CreateMutex = Some(create);
    assert_eq!(
        // SAFETY: as above.
        unsafe { init(&mut args as *mut _ as *mut c_void) },
        CKR_ARGUMENTS_BAD,
        "mutex callbacks all or none"
    );
    args.DestroyMutex = Some(other);
    args.LockMutex = Some(other);
    args.UnlockMutex = Some(other);
    assert_eq!(
        // SAFETY: as above.
        unsafe { init(&mut args as *mut _ as *mut c_void) },
        CKR_CANT_LOCK,
        "application mutexes only"
    );
    args.flags = CKF_OS_LOCKING_OK | CKF_LIBRARY_CANT_CREATE_OS_THREADS;
    // SAFETY: as above.
    assert_eq!(unsafe { init(&mut args as *mut _ as *mut c_void) }, CKR_OK);
    // SAFETY: as above.
    assert_eq!(unsafe { init(null_mut()) }, CKR_CRYPTOKI_ALREADY_INITIALIZED);
    // SAFETY: as above.
    assert_eq!(unsafe { slots(CK_FALSE, null_mut(), &mut n) }, CKR_OK);
    assert_eq!(n, 1);
    // SAFETY: a non-NULL reserved pointer must be refused.
    assert_eq!(unsafe { fin(std::ptr::dangling_mut::<c_void>()) }, CKR_ARGUMENTS_BAD);
    // SAFETY: as above.
    assert_eq!(unsafe { fin(null_mut()) }, CKR_OK);
    // Initialise again after finalise: slot ids are stable.
    // SAFETY: as above.
    assert_eq!(unsafe { init(null_mut()) }, CKR_OK);
    let mut ids = [CK_SLOT_ID::MAX; 1];
    n = 1;
    // SAFETY: a one-element buffer with its size.
    assert_eq!(unsafe { slots(CK_TRUE, ids.as_mut_ptr(), &mut n) }, CKR_OK);
    assert_eq!(ids, [0]);
    // SAFETY: as above.
    assert_eq!(unsafe { fin(null_mut()) }, CKR_OK);
}

#[test]
fn a_forked_child_must_initialise_again() {
    let rig = Rig::new();
    let raw = Raw::open(&module(&rig));
    let l = raw.list();
    let init = l.C_Initialize.expect("C_Initialize");
    let slots = l.C_GetSlotList.expect("C_GetSlotList");
    let open = l.C_OpenSession.expect("C_OpenSession");
    let login = l.C_Login.expect("C_Login");
    let random = l.C_GenerateRandom.expect("C_GenerateRandom");
    let pin = rig.var("KMSBRIDGE_USER_PIN").as_bytes().to_vec();
    let mut n: CK_ULONG = 0;
    let mut h: CK_SESSION_HANDLE = 0;
    let mut buf = [0u8; 16];
    // SAFETY: valid pointers; the parent uses the module before forking.
    unsafe {
        assert_eq!(init(null_mut()), CKR_OK);
        assert_eq!(open(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, null_mut(), None, &mut h), CKR_OK);
        assert_eq!(login(h, CKU_USER, pin.as_ptr() as *mut u8, pin.len() as CK_ULONG), CKR_OK);
        assert_eq!(random(h, buf.as_mut_ptr(), 16), CKR_OK);
    }
    // SAFETY: fork in a test process; the child only makes PKCS#11 calls and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = (|| {
            // SAFETY: valid pointers, in the child.
            unsafe {
                if slots(CK_FALSE, null_mut(), &mut n) != CKR_CRYPTOKI_NOT_INITIALIZED {
                    return 10;
                }
                if random(h, buf.as_mut_ptr(), 16) != CKR_CRYPTOKI_NOT_INITIALIZED {
                    return 11;
                }
                if init(null_mut()) != CKR_OK {
                    return 12;
                }
                let mut c: CK_SESSION_HANDLE = 0;
                if open(0, CKF_SERIAL_SESSION, null_mut(), None, &mut c) != CKR_OK {
                    return 13;
                }
                if login(c, CKU_USER, pin.as_ptr() as *mut u8, pin.len() as CK_ULONG) != CKR_OK {
                    return 14;
                }
                if random(c, buf.as_mut_ptr(), 16) != CKR_OK {
                    return 15;
                }
            }
            0
        })();
        if code != 0 {
            let log = std::fs::read_to_string(rig.dir().join("kmsbridge.log")).unwrap_or_default();
            eprintln!("child failed at step {code}; module log:\n{log}");
        }
        // SAFETY: leave the child without running the test harness's teardown.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child did not exit normally");
    assert_eq!(libc::WEXITSTATUS(status), 0, "child failed at step {}", libc::WEXITSTATUS(status));
    // The parent's session still works.
    // SAFETY: valid pointers.
    assert_eq!(unsafe { random(h, buf.as_mut_ptr(), 16) }, CKR_OK);
}

/// A bad configuration fails C_Initialize and says which file, field and problem.
#[test]
fn bad_configuration_names_file_and_field() {
    let rig = Rig::new();
    let conf = std::fs::read_to_string(rig.var("KMSBRIDGE_CONF")).expect("read config");
    let cases = [
        (conf.replace("pool_size = 32", "pool_size = 0"), "instance[0].node[0].pool_size"),
        (conf.replace("type = \"hardware\"", "type = \"quantum\""), "(syntax)"),
        (conf.replace("so_pin_hash", "so_pin_hash_typo"), "(syntax)"),
        (conf.replace("libsofthsm2.so", "libnothere.so"), "instance[0].node[0].library"),
        (
            conf.replace(
                "user_pin_hash = \"pbkdf2-sha256$60000$",
                "user_pin_hash = \"pbkdf2-sha256$5$",
            ),
            "instance[0].user_pin_hash",
        ),
    ];
    for (i, (text, field)) in cases.iter().enumerate() {
        let path = rig.dir().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).expect("write config");
        let out = std::process::Command::new(cli_path())
            .arg("slots")
            .env("KMSBRIDGE_CONF", &path)
            .output()
            .expect("run kmsbridge slots");
        assert!(!out.status.success(), "case {i}: a bad config must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(path.to_str().unwrap_or_default()), "case {i}: names the file: {err}");
        assert!(err.contains(field), "case {i}: names {field}: {err}");
        assert!(err.contains("Initialize"), "case {i}: C_Initialize refuses: {err}");
    }
}
