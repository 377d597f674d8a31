//! The cluster domain key (`kmsbridge_bridge::domain`) on every node: looked up once
//! per node, and provisioned by `kmsbridge cluster init` with each node's SO PIN. Its
//! value is made here, used once to create it on each node, and zeroized at once.

use crate::route::gone;
use crate::{Cluster, Inner};
use cryptoki_sys::*;
use kmsbridge_bridge::domain::{create_template, find_template, fresh_value, read_so_pin};
use kmsbridge_bridge::{Backend, Error, ObjectId, Result};
use std::sync::atomic::Ordering;
use zeroize::Zeroizing;

pub use kmsbridge_bridge::domain::DOMAIN_KEY_ID;

/// The log line and error of a multi-node cluster asked to replicate a key
/// without a domain key.
pub fn missing() -> Error {
    tracing::error!("cluster domain key missing: run kmsbridge cluster init");
    Error::rv(CKR_DEVICE_ERROR, "cluster domain key missing")
}

impl Inner {
    /// The domain key's handle on node `n`, looked up once; `None` if it has none.
    pub fn domain_key(&self, n: usize) -> Result<Option<u64>> {
        let slot = self.domain.get(n).ok_or_else(gone)?;
        let h = slot.load(Ordering::Acquire);
        if h != 0 {
            return Ok(Some(h));
        }
        let found = self
            .member(n)?
            .call(self.cfg.call_timeout, |node| node.find(&find_template()))?;
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

    /// Per node: does it hold the domain key? Every node must answer.
    fn domain_presence(&self) -> Result<Vec<bool>> {
        let mut have = Vec::new();
        for (k, m) in self.members.iter().enumerate() {
            // Whatever the node answered, it is a node failure to the caller.
            let unreachable = |e: String| {
                Error::Unavailable(format!("{}: not reachable for cluster init: {e}", m.name()))
            };
            if !m.is_up() {
                let why = m.status().last_error.unwrap_or_else(|| "down".into());
                return Err(unreachable(why));
            }
            // A device-class failure here takes the node out like any call's would,
            // so the prober brings it back (fresh sessions) for the next attempt.
            let failed = |e: Error| {
                self.note_failure(k, &e);
                unreachable(e.to_string())
            };
            m.node().and_then(|n| n.connect()).map_err(failed)?;
            let found = self.domain_key(k).map_err(failed)?;
            have.push(found.is_some());
        }
        Ok(have)
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
        let have = inner.domain_presence()?;
        if have.iter().all(|h| *h) {
            return Ok(());
        }
        if have.iter().any(|h| *h) {
            let on: Vec<&str> = inner
                .members
                .iter()
                .zip(&have)
                .filter(|(_, h)| **h)
                .map(|(m, _)| m.name())
                .collect();
            return Err(Error::Unavailable(format!(
                "the cluster domain key exists on some nodes only ({}); re-initialise those nodes' tokens",
                on.join(", ")
            )));
        }
        let template = create_template(&fresh_value()?);
        let mut made = Vec::new();
        for ((k, m), so_pin) in inner.members.iter().enumerate().zip(so_pins) {
            match m.node().and_then(|n| n.create_as_so(so_pin, &template)) {
                Ok(h) => made.push((k, h)),
                Err(e) => {
                    tracing::error!(node = %m.name(), "cluster init: {e}");
                    for (k, h) in made {
                        let _ = inner
                            .member(k)
                            .and_then(|m| m.node())
                            .and_then(|n| n.destroy_object(h));
                    }
                    return Err(Error::Unavailable(format!(
                        "{}: creating the domain key as SO: {e}",
                        m.name()
                    )));
                }
            }
        }
        drop(template);
        for (k, h) in made {
            if let Some(slot) = inner.domain.get(k) {
                slot.store(h, Ordering::Release);
            }
        }
        tracing::info!("cluster domain key provisioned on {} nodes", so_pins.len());
        Ok(())
    }

    /// `init_domain_key` with the SO PINs of the nodes' `so_credential_file`s.
    pub fn init_domain_key_from_config(&self) -> Result<()> {
        let pins: Vec<Zeroizing<Vec<u8>>> = self
            .inner
            .members
            .iter()
            .map(|m| read_so_pin(m.name(), m.cfg.so_credential_file.as_deref()))
            .collect::<Result<_>>()?;
        let refs: Vec<&[u8]> = pins.iter().map(|p| p.as_slice()).collect();
        self.init_domain_key(&refs)
    }

    /// `kmsbridge cluster init`: the domain key, provisioned first unless every node
    /// has it (then no SO PIN is needed), as the cluster object a find returns.
    pub fn cluster_init(&self) -> Result<ObjectId> {
        if !self.inner.domain_presence()?.iter().all(|h| *h) {
            self.init_domain_key_from_config()?;
        }
        self.find(&find_template())?
            .first()
            .copied()
            .ok_or_else(|| Error::Unavailable("the cluster domain key vanished after init".into()))
    }
}
