//! Links libkmsbridge_faultshim.so with `-Bsymbolic` on ELF targets: the module's reference to
//! its own exported function (the `C_GetFunctionList` entry of its function list) binds to itself,
//! never to a same-named function of another PKCS#11 module or of p11-kit that came
//! first in the process's global scope (as ffi/build.rs does for libkmsbridge.so).
//! The module exports functions only, so no data symbol can be split by copy relocation.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let elf = [
        "linux",
        "android",
        "freebsd",
        "netbsd",
        "openbsd",
        "dragonfly",
        "solaris",
        "illumos",
    ];
    if elf.contains(&os.as_str()) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
