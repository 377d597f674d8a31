//! `Backend` for a cluster of several nodes: session objects and reads are routed
//! to one node; token object writes go to all (`replicate.rs`).

use crate::objects::{Identity, View, ABSENT, UNKNOWN};
use crate::op::{self, ClusterOp};
use crate::replicate::{is_token, sealed_template};
use crate::route::{gone, identity_reqs, no_node};
use crate::{Cluster, Inner};
use cryptoki_sys::*;
use kmsbridge_bridge::backend::DeviceInfo;
use kmsbridge_bridge::pkcs11::Node;
use kmsbridge_bridge::ClusterAdmin;
use kmsbridge_bridge::{
    attr, Attr, AttrReq, Backend, Cipher, Digesting, Error, Mechanism, NodeStatus, ObjectId,
    Output, Result, Signing, Verifying,
};
use std::sync::atomic::Ordering;

const VIEW_ATTRS: [CK_ATTRIBUTE_TYPE; 4] = [
    CKA_EXTRACTABLE,
    CKA_NEVER_EXTRACTABLE,
    CKA_LOCAL,
    CKA_ALWAYS_SENSITIVE,
];

/// Attributes that hold a secret or private key's material.
const KEY_MATERIAL: [CK_ATTRIBUTE_TYPE; 7] = [
    CKA_VALUE,
    CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1,
    CKA_PRIME_2,
    CKA_EXPONENT_1,
    CKA_EXPONENT_2,
    CKA_COEFFICIENT,
];

fn is_secret_or_private(t: &[Attr], default: CK_OBJECT_CLASS) -> bool {
    let class = attr::find(t, CKA_CLASS)
        .and_then(|a| a.as_ulong())
        .unwrap_or(default);
    class == CKO_SECRET_KEY || class == CKO_PRIVATE_KEY
}

fn flag(node: &Node, h: u64, ty: CK_ATTRIBUTE_TYPE) -> Result<bool> {
    let mut r = [AttrReq::new(ty, Some(1))];
    node.get_attributes(h, &mut r)?;
    let [r] = r;
    Ok(r.value()
        .is_some_and(|v| v.first().is_some_and(|b| *b != 0)))
}

/// A CK_ULONG attribute's answered value.
fn ulong_of(r: &AttrReq) -> Option<CK_ULONG> {
    let v: [u8; std::mem::size_of::<CK_ULONG>()] = r.value()?.try_into().ok()?;
    Some(CK_ULONG::from_ne_bytes(v))
}

impl Inner {
    /// A session object made on node `k`.
    fn adopt_session(&self, k: usize, h: u64) -> Result<ObjectId> {
        let m = self.member(k)?;
        m.session_objects.fetch_add(1, Ordering::Relaxed);
        Ok(self
            .table
            .insert(false, &[(k, h)], Some((k, m.epoch())), None, None))
    }

    /// A session key's template: sealed like a token key's when the domain keys are
    /// there, so that a later C_CopyObject into a token object (Java's KeyStore does
    /// that) can replicate it under the domain key. Without them, as asked: such a
    /// copy is refused anyway until `cluster init`.
    fn sealed_session_template(&self, t: &[Attr]) -> Vec<Attr> {
        if self.members.len() > 1 && self.require_domain_keys().is_ok() {
            sealed_template(t).0
        } else {
            t.to_vec()
        }
    }

    /// The cluster id of what node `k` calls `h`, learning it on first sight.
    fn adopt_found(&self, k: usize, node: &Node, h: u64) -> Result<ObjectId> {
        if let Some(id) = self.table.by_handle(k, h) {
            return Ok(id);
        }
        let mut reqs = identity_reqs();
        node.get_attributes(h, &mut reqs)?;
        let (token, ident) = Identity::from_reqs(&reqs).ok_or_else(gone)?;
        if !token {
            return self.adopt_session(k, h);
        }
        if let Some(id) = self.table.by_identity(&ident) {
            // Unless that entry already names another object on this node: objects
            // sharing an identity (the module's lockout markers) are entries apart,
            // or destroying one through the other's entry leaves a stale mapping.
            let known = self.table.get(id).map_or(UNKNOWN, |e| e.handle(k));
            if known == UNKNOWN || known == ABSENT || known == h {
                self.table.learn(id, k, h);
                return Ok(id);
            }
            return Ok(self.table.insert(true, &[(k, h)], None, None, None));
        }
        Ok(self.table.insert(true, &[(k, h)], None, Some(ident), None))
    }

    /// How the application sees an object's extractability; learned once.
    fn view(&self, obj: ObjectId) -> Result<View> {
        let e = self.table.get(obj).ok_or_else(gone)?;
        if let Some(v) = e.view.get() {
            return Ok(*v);
        }
        let (_, (ext, wwt)) = self.route([obj], |_, n, [h]| {
            Ok((
                flag(n, h, CKA_EXTRACTABLE)?,
                flag(n, h, CKA_WRAP_WITH_TRUSTED)?,
            ))
        })?;
        let mut v = View::PLAIN;
        if ext && wwt {
            v.trusted_wrap = true;
            // The generating node alone says LOCAL / ALWAYS_SENSITIVE TRUE; copies
            // were unwrapped. Any node saying so speaks for the key.
            for (k, m) in self.members.iter().enumerate() {
                if !m.is_up() {
                    continue;
                }
                if let (Ok(Some(h)), Ok(node)) = (self.resolve(obj, &e, k), m.node()) {
                    v.local |= flag(&node, h, CKA_LOCAL).unwrap_or(false);
                    v.always_sensitive |= flag(&node, h, CKA_ALWAYS_SENSITIVE).unwrap_or(false);
                }
            }
        }
        let _ = e.view.set(v);
        Ok(v)
    }

    /// A secret key's CKA_VALUE_LEN from whichever node knows it. Copies made by
    /// unwrapping answer 0 on SoftHSM2 2.6 (tests/DEVIATIONS.md SH-12), which refuses
    /// the attribute in the unwrap template; the node that generated or was given the
    /// key knows it. `None` when no node up says more than 0.
    fn value_len_anywhere(&self, obj: ObjectId) -> Option<CK_ULONG> {
        let e = self.table.get(obj)?;
        let mut best = None;
        for (k, m) in self.members.iter().enumerate() {
            if !m.is_up() {
                continue;
            }
            if let (Ok(Some(h)), Ok(node)) = (self.resolve(obj, &e, k), m.node()) {
                let mut r = [AttrReq::new(
                    CKA_VALUE_LEN,
                    Some(std::mem::size_of::<CK_ULONG>()),
                )];
                if node.get_attributes(h, &mut r).is_ok() {
                    let [r] = r;
                    best = best.max(ulong_of(&r).filter(|n| *n > 0));
                }
            }
        }
        best
    }

    /// Destroy a session object on its node.
    fn destroy_session(&self, obj: ObjectId) -> Result<()> {
        let (k, ()) = self.route([obj], |_, n, [h]| n.destroy_object(h))?;
        self.table.remove(obj);
        self.member(k)?
            .session_objects
            .fetch_sub(1, Ordering::Relaxed);
        Ok(())
    }

    fn is_token_obj(&self, obj: ObjectId) -> Result<bool> {
        Ok(self.table.get(obj).ok_or_else(gone)?.token)
    }
}

impl Backend for Cluster {
    fn connect(&self) -> Result<()> {
        let mut last = None;
        for m in &self.inner.members {
            if let Err(e) = m.node().and_then(|n| n.connect()) {
                m.mark_down(&e.to_string());
                last = Some(e);
            }
        }
        if self.inner.members.iter().any(|m| m.is_up()) {
            self.inner.wake_prober();
            return Ok(());
        }
        Err(last.unwrap_or_else(no_node))
    }

    fn shutdown(&self) {
        self.inner.shut.store(true, Ordering::Release);
        self.inner.wake_prober();
        for m in &self.inner.members {
            m.node_ungated().shutdown();
        }
    }

    fn device_info(&self) -> Result<DeviceInfo> {
        Ok(self.inner.route([], |_, n, _| n.device_info())?.1)
    }

    fn mechanisms(&self) -> Result<Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)>> {
        Ok(self.inner.route([], |_, n, _| n.mechanisms())?.1)
    }

    fn random(&self, out: &mut [u8]) -> Result<()> {
        self.inner.route([], |_, n, _| n.random(out)).map(|_| ())
    }

    fn seed_random(&self, seed: &[u8]) -> Result<()> {
        self.inner
            .route([], |_, n, _| n.seed_random(seed))
            .map(|_| ())
    }

    /// Every read goes to a node's token as it is now.
    fn live_reads(&self) -> bool {
        true
    }

    /// A stale node handle is found again by the object's identity.
    fn reads_follow_identity(&self) -> bool {
        true
    }

    fn find(&self, template: &[Attr]) -> Result<Vec<ObjectId>> {
        let inner = &self.inner;
        let (first, mut ids) = inner.route([], |k, n, _| {
            n.find(template)?
                .into_iter()
                .map(|h| inner.adopt_found(k, n, h))
                .collect::<Result<Vec<_>>>()
        })?;
        // Session objects live on their own node: ask the others that hold some.
        if attr::find(template, CKA_TOKEN).and_then(|a| a.as_bool()) != Some(true) {
            let mut t = template.to_vec();
            t.retain(|a| a.ty != CKA_TOKEN);
            t.push(Attr::bool(CKA_TOKEN, false));
            for (k, m) in inner.members.iter().enumerate() {
                if k == first || !m.is_up() || m.session_objects.load(Ordering::Relaxed) == 0 {
                    continue;
                }
                let found = m.call(inner.cfg.call_timeout, |n| n.find(&t));
                match found {
                    Ok(hs) => {
                        ids.extend(hs.into_iter().filter_map(|h| inner.table.by_handle(k, h)))
                    }
                    Err(e) => inner.note_failure(k, &e),
                }
            }
        }
        Ok(ids)
    }

    fn create_object(&self, template: &[Attr]) -> Result<ObjectId> {
        if is_token(template) {
            let _turn = self.inner.write_turn();
            // A key made by value that the application wants kept in reaches every
            // node now, but a node that misses it gets it later by resync, wrapped
            // under the domain key: seal it like a generated key, or that node could
            // never be brought back.
            if is_secret_or_private(template, CKO_DATA) {
                return self.inner.create_token(&sealed_template(template).0);
            }
            return self.inner.create_token(template);
        }
        let (k, h) = self.inner.route([], |_, n, _| n.create_object(template))?;
        self.inner.adopt_session(k, h)
    }

    fn copy_object(&self, obj: ObjectId, template: &[Attr]) -> Result<ObjectId> {
        let inner = &self.inner;
        let src_token = inner.is_token_obj(obj)?;
        let token = attr::find(template, CKA_TOKEN)
            .and_then(|a| a.as_bool())
            .unwrap_or(src_token);
        let mut t = template.to_vec();
        if inner.view(obj)?.trusted_wrap {
            match attr::find(&t, CKA_EXTRACTABLE).and_then(|a| a.as_bool()) {
                Some(true) => {
                    return Err(Error::rv(CKR_ATTRIBUTE_READ_ONLY, "CKA_EXTRACTABLE"));
                }
                // Already FALSE as the application sees it.
                Some(false) => t.retain(|a| a.ty != CKA_EXTRACTABLE),
                None => {}
            }
        }
        let _turn = token.then(|| inner.write_turn());
        match (src_token, token) {
            (true, true) => inner.copy_token(obj, &t),
            (_, false) => {
                let (k, h) = inner.route([obj], |_, n, [h]| n.copy_object(h, &t))?;
                inner.adopt_session(k, h)
            }
            (false, true) => {
                let trusted = inner.view(obj)?.trusted_wrap;
                inner.require_domain_keys()?;
                let (k, h) = inner.route([obj], |_, n, [h]| n.copy_object(h, &t))?;
                inner.adopt_new_key(k, h, trusted)
            }
        }
    }

    fn destroy_object(&self, obj: ObjectId) -> Result<()> {
        let inner = &self.inner;
        if inner.is_token_obj(obj)? {
            let _turn = inner.write_turn();
            return inner.destroy_token(obj);
        }
        inner.destroy_session(obj)
    }

    fn object_size(&self, obj: ObjectId) -> Result<u64> {
        Ok(self.inner.route([obj], |_, n, [h]| n.object_size(h))?.1)
    }

    fn get_attributes(&self, obj: ObjectId, reqs: &mut [AttrReq]) -> Result<CK_RV> {
        // A sealed key is extractable on the nodes, so a node reveals the values of
        // one that is not sensitive; the application asked for a key it cannot
        // extract, whose values are never revealed (PKCS#11 footnote 7). Ask the node
        // only for their lengths, and answer as the spec says.
        let hide =
            reqs.iter().any(|r| KEY_MATERIAL.contains(&r.ty)) && self.inner.view(obj)?.trusted_wrap;
        let mut held = Vec::new();
        if hide {
            for (i, r) in reqs.iter_mut().enumerate() {
                if KEY_MATERIAL.contains(&r.ty) {
                    held.push((i, r.buf.take()));
                }
            }
        }
        let (_, mut rv) = self
            .inner
            .route([obj], |_, n, [h]| n.get_attributes(h, reqs))?;
        for (i, buf) in held {
            let r = reqs
                .get_mut(i)
                .ok_or(Error::rv(CKR_GENERAL_ERROR, "held attribute request"))?;
            r.buf = buf;
            r.len = CK_UNAVAILABLE_INFORMATION;
            if rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL {
                rv = CKR_ATTRIBUTE_SENSITIVE;
            }
        }
        for r in reqs.iter_mut().filter(|r| r.ty == CKA_VALUE_LEN) {
            if ulong_of(r) == Some(0) {
                if let Some(n) = self.inner.value_len_anywhere(obj) {
                    r.answer(&n.to_ne_bytes());
                }
            }
        }
        if reqs.iter().any(|r| VIEW_ATTRS.contains(&r.ty)) {
            let v = self.inner.view(obj)?;
            if v.trusted_wrap {
                for r in reqs.iter_mut() {
                    let answer = match r.ty {
                        CKA_EXTRACTABLE => false,
                        // Never extractable by the application since it was made here.
                        CKA_NEVER_EXTRACTABLE => v.local,
                        CKA_LOCAL => v.local,
                        CKA_ALWAYS_SENSITIVE => v.always_sensitive,
                        _ => continue,
                    };
                    if r.answer(&[answer as u8]) == CKR_BUFFER_TOO_SMALL && rv == CKR_OK {
                        rv = CKR_BUFFER_TOO_SMALL;
                    }
                }
            }
        }
        Ok(rv)
    }

    fn set_attributes(&self, obj: ObjectId, template: &[Attr]) -> Result<()> {
        let inner = &self.inner;
        let mut t = template.to_vec();
        if attr::find(&t, CKA_EXTRACTABLE).is_some() && inner.view(obj)?.trusted_wrap {
            match attr::find(&t, CKA_EXTRACTABLE).and_then(|a| a.as_bool()) {
                Some(false) => t.retain(|a| a.ty != CKA_EXTRACTABLE),
                _ => return Err(Error::rv(CKR_ATTRIBUTE_READ_ONLY, "CKA_EXTRACTABLE")),
            }
            if t.is_empty() {
                return Ok(());
            }
        }
        if inner.is_token_obj(obj)? {
            let _turn = inner.write_turn();
            return inner.set_token(obj, &t);
        }
        inner
            .route([obj], |_, n, [h]| n.set_attributes(h, &t))
            .map(|_| ())
    }

    fn generate_key(&self, mech: &Mechanism, template: &[Attr]) -> Result<ObjectId> {
        let inner = &self.inner;
        if !is_token(template) {
            let t = inner.sealed_session_template(template);
            let (k, h) = inner.route([], |_, n, _| n.generate_key(mech, &t))?;
            return inner.adopt_session(k, h);
        }
        let (t, trusted) = sealed_template(template);
        inner.require_domain_keys()?;
        // From the key's making to its record: a resync's last pass must see it
        // nowhere or everywhere it goes.
        let _turn = inner.write_turn();
        let (k, h) = inner.route([], |_, n, _| n.generate_key(mech, &t))?;
        inner.adopt_new_key(k, h, trusted)
    }

    fn generate_key_pair(
        &self,
        mech: &Mechanism,
        public: &[Attr],
        private: &[Attr],
    ) -> Result<(ObjectId, ObjectId)> {
        let inner = &self.inner;
        let (pu_token, pr_token) = (is_token(public), is_token(private));
        let (pr_t, trusted) = if pr_token {
            sealed_template(private)
        } else {
            (inner.sealed_session_template(private), false)
        };
        if pr_token || pu_token {
            inner.require_domain_keys()?;
        }
        let _turn = (pr_token || pu_token).then(|| inner.write_turn());
        let (k, (pu, pr)) = inner.route([], |_, n, _| n.generate_key_pair(mech, public, &pr_t))?;
        let pu_id = if pu_token {
            match inner.adopt_new_key(k, pu, false) {
                Ok(id) => id,
                Err(e) => {
                    let _ = inner
                        .member(k)
                        .and_then(|m| m.node())
                        .and_then(|n| n.destroy_object(pr));
                    return Err(e);
                }
            }
        } else {
            inner.adopt_session(k, pu)?
        };
        let pr_id = if pr_token {
            match inner.adopt_new_key(k, pr, trusted) {
                Ok(id) => id,
                Err(e) => {
                    // Not through destroy_object: the write turn is held already.
                    let _ = if pu_token {
                        inner.destroy_token(pu_id)
                    } else {
                        inner.destroy_session(pu_id)
                    };
                    return Err(e);
                }
            }
        } else {
            inner.adopt_session(k, pr)?
        };
        Ok((pu_id, pr_id))
    }

    fn wrap_key(
        &self,
        mech: &Mechanism,
        wrapping: ObjectId,
        key: ObjectId,
        mut out: Output,
    ) -> Result<usize> {
        if self.inner.view(key)?.trusted_wrap {
            return Err(Error::rv(
                CKR_KEY_UNEXTRACTABLE,
                "the key is not extractable by the application",
            ));
        }
        Ok(self
            .inner
            .route([wrapping, key], |_, n, [wrapping, key]| {
                n.wrap_key(mech, wrapping, key, out.as_deref_mut())
            })?
            .1)
    }

    fn unwrap_key(
        &self,
        mech: &Mechanism,
        unwrapping: ObjectId,
        wrapped: &[u8],
        template: &[Attr],
    ) -> Result<ObjectId> {
        let inner = &self.inner;
        if !is_token(template) {
            let (k, h) = inner.route([unwrapping], |_, n, [h]| {
                n.unwrap_key(mech, h, wrapped, template)
            })?;
            return inner.adopt_session(k, h);
        }
        let (t, trusted) = if is_secret_or_private(template, CKO_SECRET_KEY) {
            sealed_template(template)
        } else {
            (template.to_vec(), false)
        };
        inner.require_domain_keys()?;
        let _turn = inner.write_turn();
        let (k, h) = inner.route([unwrapping], |_, n, [h]| n.unwrap_key(mech, h, wrapped, &t))?;
        inner.adopt_new_key(k, h, trusted)
    }

    fn derive_key(&self, mech: &Mechanism, base: ObjectId, template: &[Attr]) -> Result<ObjectId> {
        let inner = &self.inner;
        if !is_token(template) {
            let (k, h) = inner.route([base], |_, n, [h]| n.derive_key(mech, h, template))?;
            return inner.adopt_session(k, h);
        }
        let (t, trusted) = sealed_template(template);
        inner.require_domain_keys()?;
        let _turn = inner.write_turn();
        let (k, h) = inner.route([base], |_, n, [h]| n.derive_key(mech, h, &t))?;
        inner.adopt_new_key(k, h, trusted)
    }

    fn material_check(&self, obj: ObjectId, salt: &[u8]) -> Result<[u8; 32]> {
        Ok(self
            .inner
            .route([obj], |_, n, [h]| n.material_check(h, salt))?
            .1)
    }

    fn begin_encrypt(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Cipher>> {
        let op = ClusterOp::begin(&self.inner, op::encrypt, mech, Some(key), 0)?;
        Ok(Box::new(op))
    }

    fn begin_decrypt(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Cipher>> {
        let op = ClusterOp::begin(&self.inner, op::decrypt, mech, Some(key), 0)?;
        Ok(Box::new(op))
    }

    fn begin_sign(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Signing>> {
        let op = ClusterOp::begin(&self.inner, op::sign, mech, Some(key), 0)?;
        Ok(Box::new(op))
    }

    fn begin_verify(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Verifying>> {
        let op = ClusterOp::begin(&self.inner, op::verify, mech, Some(key), 0)?;
        Ok(Box::new(op))
    }

    fn begin_digest(&self, mech: &Mechanism) -> Result<Box<dyn Digesting>> {
        let op = ClusterOp::begin(&self.inner, op::digest, mech, None, 0)?;
        Ok(Box::new(op))
    }
}

impl ClusterAdmin for Cluster {
    fn nodes(&self) -> Vec<NodeStatus> {
        // A process that has not used a node yet has not met its failure: connect
        // (a no-op for a connected node) so that status tells the truth at once.
        let mut fell = false;
        for m in &self.inner.members {
            if m.is_up() {
                if let Err(e) = m.node().and_then(|n| n.connect()) {
                    m.mark_down(&e.to_string());
                    fell = true;
                }
            }
        }
        if fell {
            self.inner.wake_prober();
        }
        self.status()
    }

    fn cluster_init(&self) -> Result<ObjectId> {
        Cluster::cluster_init(self)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The prober holds the cluster while it sleeps: tell it to go.
        self.inner.shut.store(true, Ordering::Release);
        self.inner.wake_prober();
    }
}
