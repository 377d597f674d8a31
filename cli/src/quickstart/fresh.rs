//! The quickstart's own instance when no KMSBRIDGE_CONF is set.

use crate::module::Error;
use zeroize::Zeroizing;

/// Without KMSBRIDGE_CONF: a fresh software instance in a temporary directory, with
/// random PINs, initialised through the module itself.
pub(super) struct Fresh {
    pub(super) dir: std::path::PathBuf,
    pub(super) so_pin: Zeroizing<String>,
    pub(super) user_pin: Zeroizing<String>,
    pub(super) keep: bool,
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn random_hex(n: usize) -> Result<String, Error> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness: {e}"))?;
    Ok(hex::encode(b))
}

pub(super) fn fresh_instance(keep: bool) -> Result<Fresh, Error> {
    let dir = std::env::temp_dir().join(format!("kmsbridge-quickstart-{}", random_hex(6)?));
    std::fs::create_dir_all(&dir)?;
    let conf = dir.join("kmsbridge.toml");
    let text = format!(
        "[log]\nfile = {:?}\n\n[[instance]]\nname = \"quickstart\"\ntype = \"software\"\nstore = {:?}\n",
        dir.join("kmsbridge.log"),
        dir.join("store")
    );
    std::fs::write(&conf, text)?;
    // Set before the module is loaded, while this process has one thread.
    std::env::set_var("KMSBRIDGE_CONF", &conf);
    Ok(Fresh {
        dir,
        so_pin: Zeroizing::new(random_hex(8)?),
        user_pin: Zeroizing::new(random_hex(8)?),
        keep,
    })
}
