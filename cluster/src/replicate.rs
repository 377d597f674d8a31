//! Token object writes on every node: reported done once a quorum of nodes has
//! them, undone where they were made otherwise. Keys generated (or unwrapped,
//! derived) on one node reach the others wrapped under the domain key, so their
//! material never leaves the HSMs in clear and is identical everywhere.

use crate::failover::{classify, Backoff, Class};
use crate::objects::{Identity, View, IDENTITY_ATTRS};
use crate::{domain, Inner};
use cryptoki_sys::*;
use kmsbridge_bridge::pkcs11::Node;
use kmsbridge_bridge::{attr, Attr, AttrReq, Backend, Error, Mechanism, ObjectId, Result};
use std::sync::atomic::Ordering;

/// Copies made (node, handle), the origin's facts for the view, the identity.
type Replicated = (Vec<(usize, u64)>, View, Option<Identity>);

/// Attributes carried to a copy: what the application could have set at creation.
const CARRIED: [CK_ATTRIBUTE_TYPE; 26] = [
    CKA_CLASS,
    CKA_KEY_TYPE,
    CKA_ID,
    CKA_LABEL,
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_MODIFIABLE,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_SUBJECT,
    CKA_DERIVE,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_SIGN_RECOVER,
    CKA_VERIFY_RECOVER,
    CKA_SENSITIVE,
    CKA_EXTRACTABLE,
    CKA_WRAP_WITH_TRUSTED,
    // Without it a copy would sign with no context login, and a read routed to
    // a copy would tell the application that none is needed.
    CKA_ALWAYS_AUTHENTICATE,
    CKA_MODULUS,
    CKA_PUBLIC_EXPONENT,
    CKA_EC_PARAMS,
];
/// Public values a public key copy needs besides `CARRIED`.
const PUBLIC_EXTRA: [CK_ATTRIBUTE_TYPE; 1] = [CKA_EC_POINT];
/// Read on the generating node for the application's view.
const ORIGIN_FACTS: [CK_ATTRIBUTE_TYPE; 2] = [CKA_LOCAL, CKA_ALWAYS_SENSITIVE];

fn wrap_mech() -> Mechanism {
    Mechanism::simple(CKM_AES_KEY_WRAP_PAD)
}

fn below_quorum(done: usize, q: usize) -> Error {
    tracing::error!("token object write reached {done} nodes, quorum is {q}; undone");
    Error::rv(CKR_DEVICE_ERROR, "cluster write below quorum")
}

/// Rewrite a secret or private key template so the key can travel under the domain
/// key: one the application wants non-extractable is made extractable only with
/// trusted keys. Returns the backend template and whether that was done.
pub fn sealed_template(t: &[Attr]) -> (Vec<Attr>, bool) {
    let asked = attr::find(t, CKA_EXTRACTABLE).and_then(|a| a.as_bool());
    // Without CKA_EXTRACTABLE the token decides; SoftHSM2 (measured) and most HSMs
    // make the key non-extractable, so that is what the application gets here too.
    if asked == Some(true) {
        return (t.to_vec(), false);
    }
    let mut out: Vec<Attr> = t
        .iter()
        .filter(|a| a.ty != CKA_EXTRACTABLE && a.ty != CKA_WRAP_WITH_TRUSTED)
        .cloned()
        .collect();
    out.push(Attr::bool(CKA_EXTRACTABLE, true));
    out.push(Attr::bool(CKA_WRAP_WITH_TRUSTED, true));
    (out, true)
}

pub fn is_token(t: &[Attr]) -> bool {
    attr::find(t, CKA_TOKEN).and_then(|a| a.as_bool()) == Some(true)
}

/// Read `types` of object `h` on `node`; the answered ones as a template.
fn read_attrs(node: &Node, h: u64, types: &[CK_ATTRIBUTE_TYPE]) -> Result<Vec<Attr>> {
    Ok(read_values(node, h, types)?
        .into_iter()
        .filter_map(|(ty, v)| v.map(|v| Attr::new(ty, v)))
        .collect())
}

/// The values of `types` on object `h`, `None` where the node has none. Lengths are
/// asked first: a fixed buffer would drop a longer value (a secret's record, a
/// certificate) and the copy would be made without it.
pub fn read_values(
    node: &Node,
    h: u64,
    types: &[CK_ATTRIBUTE_TYPE],
) -> Result<Vec<(CK_ATTRIBUTE_TYPE, Option<Vec<u8>>)>> {
    let mut lens: Vec<AttrReq> = types.iter().map(|t| AttrReq::new(*t, None)).collect();
    node.get_attributes(h, &mut lens)?;
    let mut reqs: Vec<AttrReq> = lens
        .iter()
        .map(|r| {
            AttrReq::new(
                r.ty,
                (r.len != CK_UNAVAILABLE_INFORMATION).then_some(r.len as usize),
            )
        })
        .collect();
    node.get_attributes(h, &mut reqs)?;
    Ok(reqs
        .iter()
        .map(|r| (r.ty, r.value().map(<[u8]>::to_vec)))
        .collect())
}

fn identity_of(t: &[Attr]) -> Option<Identity> {
    let reqs: Vec<AttrReq> = IDENTITY_ATTRS
        .iter()
        .map(|ty| {
            let mut r = AttrReq::new(*ty, Some(1024));
            match attr::find(t, *ty) {
                Some(a) => {
                    r.answer(&a.value);
                }
                None => r.len = CK_UNAVAILABLE_INFORMATION,
            }
            r
        })
        .collect();
    Identity::from_reqs(&reqs).map(|(_, i)| i)
}

impl Inner {
    /// Nodes a write goes to now: the up ones; the others (down or resyncing) are
    /// counted as lagging by one write, which their resync brings them.
    fn writable(&self) -> Vec<usize> {
        let mut w = Vec::new();
        for (k, m) in self.members.iter().enumerate() {
            if m.is_up() {
                w.push(k);
            } else {
                m.missed.fetch_add(1, Ordering::Relaxed);
            }
        }
        w
    }

    /// One node's part of a write, retried while the node is only busy.
    fn write_one<T>(&self, k: usize, f: &mut dyn FnMut(&Node) -> Result<T>) -> Result<T> {
        let mut backoff = Backoff::new();
        loop {
            let r = self.member(k)?.call(self.cfg.call_timeout, &mut *f);
            match &r {
                Err(e) if classify(e, &self.cfg.busy_codes) == Class::Transient => {
                    if !backoff.wait() {
                        return r;
                    }
                }
                _ => return r,
            }
        }
    }

    /// A node that missed a write the others took must be brought up to date
    /// before it serves again.
    fn diverged(&self, k: usize, e: &Error) {
        if let Some(m) = self.members.get(k) {
            m.missed.fetch_add(1, Ordering::Relaxed);
            m.mark_down(&format!("missed a replicated write: {e}"));
        }
        self.wake_prober();
    }

    /// Run a write on every writable node. The first node's own answer stands for
    /// the application (a bad template fails the same everywhere); later failures
    /// are the node's. Returns what succeeded where.
    /// The writable nodes holding `obj`, with its handle on each, and how many
    /// writable nodes no longer hold it. Nodes that fail to answer are noted.
    fn holders(&self, obj: ObjectId, e: &crate::objects::Entry) -> (Vec<(usize, ObjectId)>, usize) {
        let mut holders = Vec::new();
        let mut missing = 0;
        for k in self.writable() {
            match self.resolve(obj, e, k) {
                Ok(Some(h)) => holders.push((k, h)),
                Ok(None) => missing += 1,
                Err(err) => self.note_failure(k, &err),
            }
        }
        (holders, missing)
    }

    /// `fanout` over the holders found by `holders`, each call given its handle.
    fn on_holders<T>(
        &self,
        holders: &[(usize, ObjectId)],
        mut f: impl FnMut(&Node, ObjectId) -> Result<T>,
    ) -> Result<Vec<(usize, T)>> {
        let ks: Vec<usize> = holders.iter().map(|(k, _)| *k).collect();
        self.fanout(&ks, |k, n| {
            let h = holders
                .iter()
                .find(|(kk, _)| *kk == k)
                .map(|(_, h)| *h)
                .ok_or_else(crate::route::gone)?;
            f(n, h)
        })
    }

    fn fanout<T>(
        &self,
        nodes: &[usize],
        mut f: impl FnMut(usize, &Node) -> Result<T>,
    ) -> Result<Vec<(usize, T)>> {
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for &k in nodes {
            match self.write_one(k, &mut |n: &Node| f(k, n)) {
                Ok(v) => done.push((k, v)),
                Err(e) => match classify(&e, &self.cfg.busy_codes) {
                    Class::Device => {
                        self.note_failure(k, &e);
                        if let Some(m) = self.members.get(k) {
                            m.missed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ if done.is_empty() && failed.is_empty() => return Err(e),
                    _ => failed.push((k, e)),
                },
            }
        }
        if done.len() >= self.quorum {
            for (k, e) in failed {
                self.diverged(k, &e);
            }
        }
        Ok(done)
    }

    pub fn create_token(&self, template: &[Attr]) -> Result<ObjectId> {
        let nodes = self.writable();
        let done = self.fanout(&nodes, |_, n| n.create_object(template))?;
        if done.len() < self.quorum {
            self.undo_creates(&done);
            return Err(below_quorum(done.len(), self.quorum));
        }
        Ok(self
            .table
            .insert(true, &done, None, identity_of(template), None))
    }

    fn undo_creates(&self, done: &[(usize, u64)]) {
        for (k, h) in done {
            let Some(m) = self.members.get(*k) else {
                continue;
            };
            if let Err(e) = m.node().and_then(|n| n.destroy_object(*h)) {
                tracing::warn!(node = %m.name(), "undo of a create failed: {e}");
            }
        }
    }

    /// C_CopyObject of a token object into a token object, on every node.
    pub fn copy_token(&self, src: ObjectId, template: &[Attr]) -> Result<ObjectId> {
        let e = self.table.get(src).ok_or_else(crate::route::gone)?;
        let view = e.view.get().copied();
        let (holders, _) = self.holders(src, &e);
        let done = self.on_holders(&holders, |n, h| n.copy_object(h, template))?;
        if done.len() < self.quorum {
            self.undo_creates(&done);
            return Err(below_quorum(done.len(), self.quorum));
        }
        Ok(self.table.insert(true, &done, None, None, view))
    }

    pub fn destroy_token(&self, obj: ObjectId) -> Result<()> {
        let e = self.table.get(obj).ok_or_else(crate::route::gone)?;
        let (holders, gone_on) = self.holders(obj, &e);
        let done = self.on_holders(&holders, |n, h| n.destroy_object(h))?;
        self.table.remove(obj);
        if done.len() + gone_on < self.quorum {
            // A destroy cannot be undone; nodes that still hold it are resynced.
            return Err(below_quorum(done.len() + gone_on, self.quorum));
        }
        Ok(())
    }

    pub fn set_token(&self, obj: ObjectId, template: &[Attr]) -> Result<()> {
        let e = self.table.get(obj).ok_or_else(crate::route::gone)?;
        let (holders, _) = self.holders(obj, &e);
        // The values before, to put back if the write misses its quorum.
        let types: Vec<_> = template.iter().map(|a| a.ty).collect();
        let before = match holders.first() {
            Some((k, h)) => self
                .member(*k)
                .and_then(|m| m.call(self.cfg.call_timeout, |n| read_attrs(n, *h, &types)))
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let done = self.on_holders(&holders, |n, h| n.set_attributes(h, template).map(|()| h))?;
        if done.len() < self.quorum {
            for (k, h) in &done {
                let _ = self
                    .member(*k)
                    .and_then(|m| m.node())
                    .and_then(|n| n.set_attributes(*h, &before));
            }
            return Err(below_quorum(done.len(), self.quorum));
        }
        if let Some(old) = e.identity() {
            if template.iter().any(|a| IDENTITY_ATTRS.contains(&a.ty)) {
                let mut t = old.template();
                t.retain(|a| attr::find(template, a.ty).is_none());
                t.extend(
                    template
                        .iter()
                        .filter(|a| IDENTITY_ATTRS.contains(&a.ty))
                        .cloned(),
                );
                if let Some(new) = identity_of(&t) {
                    self.table.rename(obj, new);
                }
            }
        }
        Ok(())
    }

    /// Copy object `h` made on node `origin` to every other writable node (keys
    /// wrapped under the domain key). Returns the handles made, the origin's facts
    /// for the application's view, and the object's identity.
    pub fn replicate_key(&self, origin: usize, h: u64, trusted_wrap: bool) -> Result<Replicated> {
        let om = self.member(origin)?;
        let mut types: Vec<_> = IDENTITY_ATTRS.to_vec();
        types.extend_from_slice(&ORIGIN_FACTS);
        let facts = om.call(self.cfg.call_timeout, |n| read_attrs(n, h, &types))?;
        let flag = |t| attr::find(&facts, t).and_then(|a| a.as_bool()) == Some(true);
        let view = View {
            trusted_wrap,
            local: flag(CKA_LOCAL),
            always_sensitive: flag(CKA_ALWAYS_SENSITIVE),
        };
        let others: Vec<usize> = self
            .writable()
            .into_iter()
            .filter(|k| *k != origin)
            .collect();
        let from = om.node()?;
        let copies = self.fanout(&others, |k, to| copy_between(self, origin, &from, h, k, to))?;
        Ok((copies, view, identity_of(&facts)))
    }

    /// After a token key was made on `origin`: copy it to the others and record it,
    /// or destroy it everywhere when it did not reach the quorum.
    pub fn adopt_new_key(&self, origin: usize, h: u64, trusted_wrap: bool) -> Result<ObjectId> {
        let (copies, view, identity) = match self.replicate_key(origin, h, trusted_wrap) {
            Ok(r) => r,
            Err(e) => {
                self.undo_creates(&[(origin, h)]);
                return Err(match classify(&e, &self.cfg.busy_codes) {
                    Class::Final if e.ck_rv() == CKR_DEVICE_ERROR => e,
                    _ => {
                        tracing::error!("replicating a new key failed: {e}");
                        Error::rv(CKR_DEVICE_ERROR, "cluster key replication")
                    }
                });
            }
        };
        let mut all = vec![(origin, h)];
        all.extend(copies);
        if all.len() < self.quorum {
            self.undo_creates(&all);
            return Err(below_quorum(all.len(), self.quorum));
        }
        Ok(self.table.insert(true, &all, None, identity, Some(view)))
    }

    /// Whether a token key may be made on a multi-node cluster now: it needs the
    /// domain key on every serving node to reach them. Checked before routing, so
    /// the refusal is not taken for a node failure (the lookups are cached).
    pub fn require_domain_keys(&self) -> Result<()> {
        for (k, m) in self.members.iter().enumerate() {
            if !m.is_up() {
                continue;
            }
            match self.domain_key(k) {
                Ok(Some(_)) => {}
                Ok(None) => return Err(domain::missing()),
                Err(e) => self.note_failure(k, &e),
            }
        }
        Ok(())
    }
}

/// Attributes of objects other than keys that a copy needs.
const OTHER_EXTRA: [CK_ATTRIBUTE_TYPE; 6] = [
    CKA_APPLICATION,
    CKA_OBJECT_ID,
    CKA_CERTIFICATE_TYPE,
    CKA_ISSUER,
    CKA_SERIAL_NUMBER,
    CKA_VALUE,
];

/// Copy object `h` of node `r` (`from`) to node `k` (`to`): secret and private keys
/// wrapped under the domain key, anything else by its (public) attribute values.
pub fn copy_between(
    inner: &Inner,
    r: usize,
    from: &Node,
    h: u64,
    k: usize,
    to: &Node,
) -> Result<u64> {
    let mut types: Vec<_> = CARRIED.to_vec();
    types.extend_from_slice(&PUBLIC_EXTRA);
    let head = read_attrs(from, h, &[CKA_CLASS])?;
    let class = attr::find(&head, CKA_CLASS).and_then(|a| a.as_ulong());
    let keyish = matches!(class, Some(CKO_SECRET_KEY) | Some(CKO_PRIVATE_KEY));
    if !keyish {
        types.extend_from_slice(&OTHER_EXTRA);
    }
    let mut carried = read_attrs(from, h, &types)?;
    if !keyish {
        return to.create_object(&carried);
    }
    // Private keys carry their public values inside the wrapped blob.
    carried.retain(|a| {
        !PUBLIC_EXTRA.contains(&a.ty)
            && !matches!(a.ty, CKA_MODULUS | CKA_PUBLIC_EXPONENT | CKA_EC_PARAMS)
    });
    let dom_r = inner.domain_key(r)?.ok_or_else(domain::missing)?;
    let dom_k = inner.domain_key(k)?.ok_or_else(domain::missing)?;
    let m = wrap_mech();
    let len = from.wrap_key(&m, dom_r, h, None)?;
    let mut blob = vec![0u8; len];
    let len = from.wrap_key(&m, dom_r, h, Some(&mut blob))?;
    blob.truncate(len);
    to.unwrap_key(&m, dom_k, &blob, &carried)
}
