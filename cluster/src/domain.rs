//! The cluster domain key: one AES-256 key with the same value on every node,
//! `CKA_TRUSTED` (set by the SO), under which keys that must not leave an HSM
//! travel between nodes. Its value is made here, used once to create it on each
//! node, and zeroized at once.

use crate::route::gone;
use crate::{Cluster, Inner};
use cryptoki_sys::*;
use kmsbridge_bridge::{Attr, Backend, Error, Result};
use std::sync::atomic::Ordering;
use zeroize::Zeroizing;

/// The domain key's CKA_ID on every node (a service key: never an application's).
pub const DOMAIN_KEY_ID: &[u8] = b"kmsbridge.svc.cluster.domain";

/// The log line and error of a multi-node cluster asked to replicate a key
/// without a domain key.
pub fn missing() -> Error {
    tracing::error!("cluster domain key missing: run kmsbridge cluster init");
    Error::rv(CKR_DEVICE_ERROR, "cluster domain key missing")
}

fn find_template() -> Vec<Attr> {
    vec![
        Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
        Attr::new(CKA_ID, DOMAIN_KEY_ID.to_vec()),
    ]
}

impl Inner {
    /// The domain key's handle on node `n`, looked up once; `None` if it has none.
    pub fn domain_key(&self, n: usize) -> Result<Option<u64>> {
        let slot = self.domain.get(n).ok_or_else(gone)?;
        let h = slot.load(Ordering::Acquire);
        if h != 0 {
            return Ok(Some(h));
        }
        let found =
            self.members[n].call(self.cfg.call_timeout, |node| node.find(&find_template()))?;
        Ok(found.first().map(|h| {
            slot.store(*h, Ordering::Release);
            *h
        }))
    }

    pub fn forget_domain_key(&self, n: usize) {
        if let Some(slot) = self.domain.get(n) {
            slot.store(0, Ordering::Release);
        }
    }
}

impl Cluster {
    /// Provision the domain key on every node (`kmsbridge cluster init`), logging in
    /// as each node's SO with `so_pins[k]`. Nothing is done when every node already
    /// has one; a cluster where only some nodes have one is refused (the value cannot
    /// be copied: it never leaves an HSM).
    pub fn init_domain_key(&self, so_pins: &[&[u8]]) -> Result<()> {
        let inner = &self.inner;
        if so_pins.len() != inner.members.len() {
            return Err(Error::rv(CKR_ARGUMENTS_BAD, "one SO PIN per node"));
        }
        let mut have = Vec::new();
        for (k, m) in inner.members.iter().enumerate() {
            m.node().connect()?;
            have.push(inner.domain_key(k)?.is_some());
        }
        if have.iter().all(|h| *h) {
            return Ok(());
        }
        if have.iter().any(|h| *h) {
            return Err(Error::Unavailable(
                "the cluster domain key exists on some nodes only; re-initialise those nodes"
                    .into(),
            ));
        }
        let mut value = Zeroizing::new(vec![0u8; 32]);
        getrandom::fill(&mut value)
            .map_err(|e| Error::Unavailable(format!("no randomness for the domain key: {e}")))?;
        let template = vec![
            Attr::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attr::ulong(CKA_KEY_TYPE, CKK_AES),
            Attr::new(CKA_VALUE, value.to_vec()),
            Attr::new(CKA_ID, DOMAIN_KEY_ID.to_vec()),
            Attr::new(CKA_LABEL, DOMAIN_KEY_ID.to_vec()),
            Attr::bool(CKA_TOKEN, true),
            // The SO cannot make private objects; the key is still useless to others:
            // it cannot encrypt or decrypt, so what it wraps never comes out in clear.
            Attr::bool(CKA_PRIVATE, false),
            Attr::bool(CKA_SENSITIVE, true),
            Attr::bool(CKA_EXTRACTABLE, false),
            Attr::bool(CKA_MODIFIABLE, false),
            Attr::bool(CKA_TRUSTED, true),
            Attr::bool(CKA_WRAP, true),
            Attr::bool(CKA_UNWRAP, true),
            Attr::bool(CKA_ENCRYPT, false),
            Attr::bool(CKA_DECRYPT, false),
            Attr::bool(CKA_SIGN, false),
            Attr::bool(CKA_VERIFY, false),
            Attr::bool(CKA_DERIVE, false),
        ];
        drop(value);
        let mut made = Vec::new();
        for (k, m) in inner.members.iter().enumerate() {
            match m.node().create_as_so(so_pins[k], &template) {
                Ok(h) => made.push((k, h)),
                Err(e) => {
                    tracing::error!(node = %m.name(), "cluster init: {e}");
                    for (k, h) in made {
                        let _ = inner.members[k].node().destroy_object(h);
                    }
                    return Err(e);
                }
            }
        }
        for (k, h) in made {
            inner.domain[k].store(h, Ordering::Release);
        }
        tracing::info!("cluster domain key provisioned on {} nodes", so_pins.len());
        Ok(())
    }

    /// `init_domain_key` with the SO PINs of the nodes' `so_credential_file`s.
    pub fn init_domain_key_from_config(&self) -> Result<()> {
        let mut pins = Vec::new();
        for m in &self.inner.members {
            let file = m.cfg.so_credential_file.as_ref().ok_or_else(|| {
                Error::Unavailable(format!("{}: no so_credential_file configured", m.name()))
            })?;
            let pin = Zeroizing::new(std::fs::read(file).map_err(|e| {
                Error::Unavailable(format!("{}: {}: {e}", m.name(), file.display()))
            })?);
            let len = pin
                .iter()
                .rposition(|b| !b.is_ascii_whitespace())
                .map_or(0, |i| i + 1);
            pins.push(Zeroizing::new(pin[..len].to_vec()));
        }
        let refs: Vec<&[u8]> = pins.iter().map(|p| p.as_slice()).collect();
        self.init_domain_key(&refs)
    }
}
