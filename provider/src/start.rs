//! Backends start at `C_Initialize` (docs/HOST_PROCESS.md): every hardware instance's
//! vendor libraries are loaded, initialised and logged in to then, not inside the
//! application's first crypto call or `C_Login`, where their cost and side effects
//! (threads, files, an OpenSSL start-up) would land mid-handshake. A node that is down
//! fails neither `C_Initialize` nor hangs it: its connection is retried on use, or by
//! the cluster's prober.

use crate::config::{Config, InstanceType};
use crate::provider::Provider;
use kmsbridge_bridge::Backend;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Connects every hardware instance's backend on a module-owned thread and waits for
/// it at most the longest call timeout configured: a hung node's library keeps that
/// thread (and only it) until the node answers; first use then waits for the same
/// connection rather than starting another.
pub(crate) fn start_backends(provider: &Provider, cfg: &Config) {
    let backends: Vec<(String, Arc<dyn Backend>)> = provider
        .instances
        .iter()
        .filter(|i| i.kind == InstanceType::Hardware)
        .map(|i| (i.name.clone(), i.backend.clone()))
        .collect();
    if backends.is_empty() {
        return;
    }
    let wait = cfg
        .instances
        .iter()
        .filter(|i| i.kind == InstanceType::Hardware)
        .map(|i| {
            i.call_timeout_ms.map_or_else(
                || kmsbridge_cluster::ClusterConfig::default().call_timeout,
                Duration::from_millis,
            )
        })
        .max()
        .unwrap_or_default();
    let (done, finished) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("kmsbridge-start".into())
        .spawn(move || {
            connect_all(&backends);
            let _ = done.send(());
        });
    match spawned {
        Ok(thread) => {
            if finished.recv_timeout(wait).is_ok() {
                // Also wait for the thread's exit: the vendor library's OpenSSL runs
                // its thread-exit clean-up there, under OpenSSL's global locks. An
                // application that forks right after C_Initialize (pkcs11-tool
                // --test-fork, a pre-forking server) would otherwise copy a lock held
                // by a thread its child does not have, and the child would hang in
                // its first OpenSSL call. The thread has nothing left but to exit.
                let _ = thread.join();
            } else {
                tracing::warn!(
                    "backends still starting after {wait:?}: C_Initialize returns; \
                     their first use waits for them"
                );
            }
        }
        Err(e) => {
            tracing::warn!("cannot start a thread for the backends ({e}); they start on use");
        }
    }
}

fn connect_all(backends: &[(String, Arc<dyn Backend>)]) {
    for (name, b) in backends {
        match b.connect() {
            Ok(()) => tracing::debug!(instance = %name, "backend started"),
            Err(e) => tracing::warn!(instance = %name, "backend not started: {e}; retried on use"),
        }
    }
}
