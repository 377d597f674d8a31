//! Loading libkmsbridge.so the way any application does.

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use std::path::PathBuf;

pub type Error = Box<dyn std::error::Error>;

/// KMSBRIDGE_MODULE, else libkmsbridge.so beside this binary.
pub fn path() -> PathBuf {
    if let Some(p) = std::env::var_os("KMSBRIDGE_MODULE") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    exe.with_file_name("libkmsbridge.so")
}

pub fn load() -> Result<Pkcs11, Error> {
    let path = path();
    let p11 = Pkcs11::new(&path).map_err(|e| format!("cannot load {}: {e}", path.display()))?;
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    Ok(p11)
}
