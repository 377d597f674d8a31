//! SoftHSM2 tokens made straight with `softhsm2-util`, for tests that load SoftHSM2
//! (or the fault shim in front of it) themselves, without a kmsbridge config.
//! SoftHSM2 reads `SOFTHSM2_CONF` once per process, so a test binary holds one store.

use std::path::{Path, PathBuf};
use std::process::Command;

/// SoftHSM2's PKCS#11 library as the distribution installs it.
pub const SOFTHSM2_LIBRARY: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// An isolated SoftHSM2 token store in a temporary directory, removed on drop.
#[derive(Debug)]
pub struct Tokens {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

/// One initialised token, and its PINs also written to files (for configs that
/// name a credential file).
#[derive(Debug, Clone)]
pub struct Token {
    /// The token label.
    pub label: String,
    /// The user PIN.
    pub user_pin: String,
    /// The SO PIN.
    pub so_pin: String,
    /// A file holding the user PIN.
    pub pin_file: PathBuf,
    /// A file holding the SO PIN.
    pub so_pin_file: PathBuf,
}

impl Tokens {
    /// An empty store in a new directory named `prefix…`, and `SOFTHSM2_CONF`
    /// pointing at it for this process.
    pub fn new(prefix: &str) -> Tokens {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().expect("temp dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir_all(&tokens).expect("token dir");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                 slots.removable = false\n",
                tokens.display()
            ),
        )
        .expect("softhsm2.conf");
        std::env::set_var("SOFTHSM2_CONF", &conf);
        Tokens { dir, conf }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Initialises a token labelled `label` in a free slot, with its PINs, and
    /// writes the PINs to `DIR/LABEL.pin` and `DIR/LABEL.so.pin`.
    pub fn init_token(&self, label: &str, so_pin: &str, user_pin: &str) -> Token {
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", so_pin, "--pin", user_pin])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("run softhsm2-util");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let pin_file = self.dir().join(format!("{label}.pin"));
        let so_pin_file = self.dir().join(format!("{label}.so.pin"));
        std::fs::write(&pin_file, user_pin).expect("pin file");
        std::fs::write(&so_pin_file, so_pin).expect("SO pin file");
        Token {
            label: label.to_string(),
            user_pin: user_pin.to_string(),
            so_pin: so_pin.to_string(),
            pin_file,
            so_pin_file,
        }
    }
}
