//! Logging through `tracing`: level from KMSBRIDGE_LOG (else the config, else
//! "warn"), destination from the config (else standard error). Installed once per
//! process; a later C_Initialize keeps the first subscriber.

use crate::config::LogConfig;
use std::sync::Once;

static INIT: Once = Once::new();

pub(crate) fn init(cfg: &LogConfig) {
    INIT.call_once(|| {
        let level = std::env::var("KMSBRIDGE_LOG")
            .ok()
            .or_else(|| cfg.level.clone())
            .unwrap_or_else(|| "warn".into());
        let filter = tracing_subscriber::EnvFilter::try_new(&level)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false);
        let file = cfg.file.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        let _ = match file {
            Some(f) => builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .try_init(),
            None => builder.with_writer(std::io::stderr).try_init(),
        };
    });
}
