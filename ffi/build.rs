//! Links libkmsbridge.so (and the fault shim, whose Cargo.toml names this script) with
//! `-Bsymbolic` on ELF targets: the module's references to
//! its own exported functions (the `C_*` entries of its function lists) bind to itself,
//! never to a same-named function of another PKCS#11 module or of p11-kit that came
//! first in the process's global scope (docs/ARCHITECTURE.md, "Inside the host process").
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
