//! One HSM node: a token in a vendor library, connected lazily, with a session pool.

use super::calls::{self, raw_template};
use super::discover::{self, RsaAes, TokenName};
use super::library::Library;
use super::oaep::OaepParams;
use super::op::{begin_signature, NodeOp};
use super::pool::{Lease, Pool};
use super::{fixups, kinds, oaep, softhsm26, unwrap};
use crate::admin::ClusterAdmin;
use crate::backend::{Backend, DeviceInfo, ObjectId, Output};
use crate::domain;
use crate::error::{check, Error, Result};
use crate::op::{Cipher, Digesting, Signing, Verifying};
use crate::{Attr, AttrReq, Mechanism, NodeState, NodeStatus};
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use zeroize::Zeroizing;

#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// For logs: "<instance>/node<k>".
    pub name: String,
    pub library: PathBuf,
    pub token_label: Option<String>,
    pub token_serial: Option<String>,
    /// A file holding the node's user PIN.
    pub credential_file: PathBuf,
    /// A file holding the node's SO PIN: only cluster provisioning (the domain key) needs it.
    pub so_credential_file: Option<PathBuf>,
    pub pool_size: usize,
    pub pool_wait: Duration,
    /// One call at a time into this node's library (the cluster enforces it): for
    /// client libraries that cannot be trusted with concurrent calls when their
    /// server fails (docs/CLUSTER.md).
    pub serial_calls: bool,
}

pub struct Node {
    cfg: NodeConfig,
    conn: OnceLock<Connected>,
    shut: AtomicBool,
    connecting: Mutex<()>,
}

struct Connected {
    pool: Arc<Pool>,
    slot: CK_SLOT_ID,
    mechanisms: Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)>,
    /// The library lacks `CKM_ECDSA_SHA*`; they are hashed here over raw ECDSA.
    composed_ecdsa: bool,
    /// General-length MACs the library lacks, truncated here from its full-length MAC.
    composed_macs: Vec<CK_MECHANISM_TYPE>,
    /// SoftHSM2 ≤ 2.6 writes a wrong length into RFC 5649 blobs of keys that are not
    /// whole 8-byte blocks (tests/DEVIATIONS.md SH-11); such wraps are refused.
    kwp_wrap_broken: bool,
    /// SoftHSM2 ≤ 2.6 answers CKA_VALUE_LEN 0 for keys it unwrapped (SH-12): the
    /// node answers it (`softhsm26.rs`).
    unwrapped: Option<softhsm26::Unwrapped>,
    rsa_aes: RsaAes,
}

fn ptr(b: &[u8]) -> *mut u8 {
    b.as_ptr() as *mut u8
}

impl Node {
    pub fn new(cfg: NodeConfig) -> Node {
        Node {
            cfg,
            conn: OnceLock::new(),
            shut: AtomicBool::new(false),
            connecting: Mutex::new(()),
        }
    }

    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// The node was lost: forget its sessions without closing them (behind a
    /// restarted server, or after re-initialising the library, their numbers name
    /// other sessions) and lend none again. This `Node` is then done with; a
    /// fresh one reconnects.
    pub fn forget_sessions(&self) {
        if let Some(c) = self.conn.get() {
            c.pool.abandon();
        }
    }

    /// `C_Finalize` + `C_Initialize` of this node's library, if this node had
    /// connected through it (a library never connected is initialised afresh by
    /// the next connection). Call `forget_sessions` first; touches no other library.
    pub fn reinitialize_library(&self) -> Result<()> {
        match self.conn.get() {
            Some(c) => c.pool.lib.reinitialize(),
            None => Ok(()),
        }
    }

    /// The connection, made on first use; on the hot path two plain loads.
    fn conn(&self) -> Result<&Connected> {
        if self.shut.load(Ordering::Acquire) {
            return Err(Error::rv(CKR_CRYPTOKI_NOT_INITIALIZED, "backend shut down"));
        }
        if let Some(c) = self.conn.get() {
            return Ok(c);
        }
        let _lock = self.connecting.lock();
        if let Some(c) = self.conn.get() {
            return Ok(c);
        }
        let mut tries = 0;
        let c = loop {
            match self.open()? {
                Some(c) => break c,
                None if tries < OPEN_RETRIES => {
                    tries += 1;
                    tracing::debug!(node = %self.cfg.name, "node login answered a transient error; loading the library again");
                    std::thread::sleep(OPEN_RETRY_PAUSE);
                }
                None => {
                    return Err(Error::Unavailable(format!(
                        "{}: node login failed {} times (CKR_USER_PIN_NOT_INITIALIZED or CKR_GENERAL_ERROR)",
                        self.cfg.name,
                        OPEN_RETRIES + 1
                    )))
                }
            }
        };
        Ok(self.conn.get_or_init(|| c))
    }

    /// Connects, or `None` when the node answered its login "user PIN not
    /// initialised" or "general error" — neither a verdict on the PIN: SoftHSM2 gives
    /// them, the first for good, in a process that read its token file while another
    /// process rewrote it (every login rewrites it). Dropping the connection finalises
    /// the library if nothing else holds it, and the next load reads the file afresh.
    fn open(&self) -> Result<Option<Connected>> {
        let lib = Library::get(&self.cfg.library)?;
        let token = TokenName {
            node: &self.cfg.name,
            label: self.cfg.token_label.as_deref(),
            serial: self.cfg.token_serial.as_deref(),
        };
        let slot = discover::find_slot(&lib, &token)?;
        let pool = Arc::new(Pool::new(
            lib.clone(),
            slot,
            self.cfg.name.clone(),
            self.cfg.pool_size,
            self.cfg.pool_wait,
        ));
        // The first session anchors the login; the pool keeps it open until finalize.
        let s = pool.get()?;
        match self.login_rv(&lib, s.handle())? {
            CKR_OK | CKR_USER_ALREADY_LOGGED_IN => {}
            CKR_USER_PIN_NOT_INITIALIZED | CKR_GENERAL_ERROR => return Ok(None),
            rv => return Err(login_failed(&self.cfg.name, "node login", rv)),
        }
        pool.reauth.set_credential(self.cfg.credential_file.clone());
        let (mut mechanisms, composed_ecdsa, rsa_aes) = discover::read_mechanisms(&lib, slot)?;
        let composed_macs = super::truncate::compose(&mut mechanisms);
        let kwp_wrap_broken = discover::is_softhsm_up_to_2_6(&lib);
        drop(s);
        tracing::info!(node = %self.cfg.name, slot, "node connected");
        Ok(Some(Connected {
            pool,
            slot,
            mechanisms,
            composed_ecdsa,
            composed_macs,
            kwp_wrap_broken,
            unwrapped: kwp_wrap_broken.then(softhsm26::Unwrapped::default),
            rsa_aes,
        }))
    }

    /// Create an object in an SO session: for objects only the SO may make, such as
    /// a cluster's `CKA_TRUSTED` domain key. PKCS#11 login state is per application
    /// and token, so this logs the node's user out, the SO in, creates, and logs the
    /// user back in: an administrative step, to run while the node serves nothing else.
    pub fn create_as_so(&self, so_pin: &[u8], template: &[Attr]) -> Result<ObjectId> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let h = s.handle();
        logout(&s);
        let rv = s.lib().call(
            |l| l.C_Login,
            // SAFETY: the library reads `so_pin.len()` bytes at `so_pin`, which lives
            // for the call.
            |f| unsafe { f(h, CKU_SO, ptr(so_pin), so_pin.len() as CK_ULONG) },
        );
        let created = check(rv, "C_Login(SO)").and_then(|()| calls::create(&s, template));
        logout(&s);
        // The pool's sessions must be the user's again whatever happened above.
        self.user_login(s.lib(), h, "user login after SO work")?;
        created
    }

    /// Log the node's user in on session `h` with the PIN of its credential file
    /// (read now, zeroized after); already logged in is fine.
    fn user_login(&self, lib: &Library, h: CK_SESSION_HANDLE, what: &str) -> Result<()> {
        match self.login_rv(lib, h)? {
            CKR_OK | CKR_USER_ALREADY_LOGGED_IN => Ok(()),
            rv => Err(login_failed(&self.cfg.name, what, rv)),
        }
    }

    /// C_Login of the node's user; the library's answer.
    fn login_rv(&self, lib: &Library, h: CK_SESSION_HANDLE) -> Result<CK_RV> {
        let pin = Zeroizing::new(std::fs::read(&self.cfg.credential_file).map_err(|e| {
            Error::Unavailable(format!(
                "{}: credential file {}: {e}",
                self.cfg.name,
                self.cfg.credential_file.display()
            ))
        })?);
        let pin = pin.trim_ascii_end();
        let rv = lib.call(
            |l| l.C_Login,
            // SAFETY: the library reads `pin.len()` bytes at `pin`, which lives for
            // the call.
            |f| unsafe { f(h, CKU_USER, ptr(pin), pin.len() as CK_ULONG) },
        );
        Ok(rv)
    }

    /// Sessions opened and in use, for status and tests.
    pub fn pool_usage(&self) -> Option<(usize, usize)> {
        self.conn.get().map(|c| c.pool.usage())
    }
}

fn login_failed(node: &str, what: &str, rv: CK_RV) -> Error {
    Error::Unavailable(format!(
        "{node}: {what} failed: {}",
        crate::error::rv_name(rv)
    ))
}

/// Extra connection attempts after a node login answered a transient error (see
/// `Node::open`), and the pause before each: a token that truly has no user PIN fails in ~0.1 s.
const OPEN_RETRIES: usize = 3;
const OPEN_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(30);

/// C_Logout on `s`; its outcome does not matter (not logged in is fine).
fn logout(s: &Lease<&Pool>) {
    let _ = s.lib().call(
        |l| l.C_Logout,
        // SAFETY: a handle only; no buffer is passed.
        |f| unsafe { f(s.handle()) },
    );
}

impl Backend for Node {
    fn connect(&self) -> Result<()> {
        self.conn().map(|_| ())
    }

    fn shutdown(&self) {
        let _g = self.connecting.lock();
        self.shut.store(true, Ordering::Release);
        // Idle sessions close now; sessions of operations still in flight close when
        // the node is dropped, and the library is finalised with it.
        if let Some(c) = self.conn.get() {
            c.pool.close_idle();
        }
    }

    fn device_info(&self) -> Result<DeviceInfo> {
        let c = self.conn()?;
        let ti = discover::token_info(&c.pool.lib, c.slot)?;
        #[allow(clippy::unnecessary_cast)] // CK_ULONG is 32 bits on some targets
        let mem = |v: CK_ULONG| {
            (v != CK_UNAVAILABLE_INFORMATION && v != CK_EFFECTIVELY_INFINITE).then_some(v as u64)
        };
        Ok(DeviceInfo {
            manufacturer: discover::trim(&ti.manufacturerID),
            model: discover::trim(&ti.model),
            hardware_version: (ti.hardwareVersion.major, ti.hardwareVersion.minor),
            firmware_version: (ti.firmwareVersion.major, ti.firmwareVersion.minor),
            total_public_memory: mem(ti.ulTotalPublicMemory),
            free_public_memory: mem(ti.ulFreePublicMemory),
            total_private_memory: mem(ti.ulTotalPrivateMemory),
            free_private_memory: mem(ti.ulFreePrivateMemory),
        })
    }

    fn mechanisms(&self) -> Result<Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)>> {
        Ok(self.conn()?.mechanisms.clone())
    }

    fn random(&self, out: &mut [u8]) -> Result<()> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let rv = s.lib().call(
            |l| l.C_GenerateRandom,
            // SAFETY: the library writes `out.len()` bytes to `out`, which lives for
            // the call.
            |f| unsafe { f(s.handle(), out.as_mut_ptr(), out.len() as CK_ULONG) },
        );
        check(rv, "C_GenerateRandom")
    }

    fn seed_random(&self, seed: &[u8]) -> Result<()> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let rv = s.lib().call(
            |l| l.C_SeedRandom,
            // SAFETY: the library reads `seed.len()` bytes at `seed`, which lives for
            // the call.
            |f| unsafe { f(s.handle(), ptr(seed), seed.len() as CK_ULONG) },
        );
        check(rv, "C_SeedRandom")
    }

    /// The vendor library reads the token itself.
    fn live_reads(&self) -> bool {
        true
    }

    fn find(&self, template: &[Attr]) -> Result<Vec<ObjectId>> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let h = s.handle();
        let mut t = raw_template(template);
        let rv = s.lib().call(
            |l| l.C_FindObjectsInit,
            // SAFETY: the library reads `t.len()` attributes at `t`, each pointing into
            // `template` for its stated length; all live for the call.
            |f| unsafe { f(h, t.as_mut_ptr(), t.len() as CK_ULONG) },
        );
        check(rv, "C_FindObjectsInit")?;
        let mut found = Vec::new();
        let mut batch = [0 as CK_OBJECT_HANDLE; 256];
        let res = loop {
            let mut n: CK_ULONG = 0;
            let rv = s.lib().call(
                |l| l.C_FindObjects,
                // SAFETY: the library writes at most `batch.len()` handles to `batch`
                // and their count to `n`; both live for the call.
                |f| unsafe { f(h, batch.as_mut_ptr(), batch.len() as CK_ULONG, &mut n) },
            );
            if rv != CKR_OK {
                break Err(Error::rv(rv, "C_FindObjects"));
            }
            let Some(got) = batch.get(..n as usize) else {
                break Err(Error::rv(CKR_GENERAL_ERROR, "C_FindObjects count"));
            };
            found.extend_from_slice(got);
            if got.len() < batch.len() {
                break Ok(());
            }
        };
        let rv = s.lib().call(
            |l| l.C_FindObjectsFinal,
            // SAFETY: a handle only; no buffer is passed.
            |f| unsafe { f(h) },
        );
        res?;
        check(rv, "C_FindObjectsFinal")?;
        Ok(found)
    }

    fn create_object(&self, template: &[Attr]) -> Result<ObjectId> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        calls::create(&s, template)
    }

    fn copy_object(&self, obj: ObjectId, template: &[Attr]) -> Result<ObjectId> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let mut t = raw_template(template);
        let mut new = 0;
        let rv = s.lib().call(
            |l| l.C_CopyObject,
            // SAFETY: the library reads `t.len()` attributes at `t`, each pointing into
            // `template` for its stated length, and writes the new handle to `new`;
            // all live for the call.
            |f| unsafe {
                f(
                    s.handle(),
                    obj,
                    t.as_mut_ptr(),
                    t.len() as CK_ULONG,
                    &mut new,
                )
            },
        );
        check(rv, "C_CopyObject")?;
        Ok(new)
    }

    fn destroy_object(&self, obj: ObjectId) -> Result<()> {
        let c = self.conn()?;
        c.pool.reauth.forget(obj);
        let s = c.pool.lend()?;
        let rv = s.lib().call(
            |l| l.C_DestroyObject,
            // SAFETY: handles only; no buffer is passed.
            |f| unsafe { f(s.handle(), obj) },
        );
        if let (CKR_OK, Some(u)) = (rv, &c.unwrapped) {
            u.forget(obj);
        }
        check(rv, "C_DestroyObject")
    }

    fn object_size(&self, obj: ObjectId) -> Result<u64> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let mut n: CK_ULONG = 0;
        let rv = s.lib().call(
            |l| l.C_GetObjectSize,
            // SAFETY: the library writes the size to `n`, which lives for the call.
            |f| unsafe { f(s.handle(), obj, &mut n) },
        );
        check(rv, "C_GetObjectSize")?;
        Ok(n as u64)
    }

    fn get_attributes(&self, obj: ObjectId, reqs: &mut [AttrReq]) -> Result<CK_RV> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let mut t: Vec<CK_ATTRIBUTE> = reqs
            .iter_mut()
            .map(|r| {
                let (p, n) = match r.buf.as_mut() {
                    Some(b) => (b.as_mut_ptr(), b.len()),
                    None => (std::ptr::null_mut(), 0),
                };
                CK_ATTRIBUTE {
                    type_: r.ty,
                    pValue: p as *mut _,
                    ulValueLen: n as CK_ULONG,
                }
            })
            .collect();
        let rv = s.lib().call(
            |l| l.C_GetAttributeValue,
            // SAFETY: the library writes into `t.len()` attributes at `t`: at most
            // `ulValueLen` bytes to each one's buffer (a request's own, or none when
            // NULL) and the value's length; `t` and `reqs` live for the call.
            |f| unsafe { f(s.handle(), obj, t.as_mut_ptr(), t.len() as CK_ULONG) },
        );
        match rv {
            CKR_OK
            | CKR_ATTRIBUTE_SENSITIVE
            | CKR_ATTRIBUTE_TYPE_INVALID
            | CKR_BUFFER_TOO_SMALL => {
                for (r, a) in reqs.iter_mut().zip(&t) {
                    r.len = a.ulValueLen;
                }
                if let Some(u) = &c.unwrapped {
                    u.mend(&s, obj, reqs);
                }
                Ok(rv)
            }
            _ => Err(Error::rv(rv, "C_GetAttributeValue")),
        }
    }

    fn set_attributes(&self, obj: ObjectId, template: &[Attr]) -> Result<()> {
        let c = self.conn()?;
        c.pool.reauth.forget(obj);
        let s = c.pool.lend()?;
        let mut t = raw_template(template);
        let rv = s.lib().call(
            |l| l.C_SetAttributeValue,
            // SAFETY: the library reads `t.len()` attributes at `t`, each pointing into
            // `template` for its stated length; all live for the call.
            |f| unsafe { f(s.handle(), obj, t.as_mut_ptr(), t.len() as CK_ULONG) },
        );
        check(rv, "C_SetAttributeValue")
    }

    fn generate_key(&self, mech: &Mechanism, template: &[Attr]) -> Result<ObjectId> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let mut t = raw_template(template);
        let mut obj = 0;
        let rv = mech.with_raw(|m| {
            s.lib().call(
                |l| l.C_GenerateKey,
                // SAFETY: the library reads the mechanism `m` and `t.len()` attributes
                // at `t` (each pointing into `template` for its stated length), and
                // writes the new handle to `obj`; all live for the call.
                |f| unsafe { f(s.handle(), m, t.as_mut_ptr(), t.len() as CK_ULONG, &mut obj) },
            )
        });
        check(rv, "C_GenerateKey")?;
        Ok(obj)
    }

    fn generate_key_pair(
        &self,
        mech: &Mechanism,
        public: &[Attr],
        private: &[Attr],
    ) -> Result<(ObjectId, ObjectId)> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let mut pu = raw_template(public);
        let mut pr = raw_template(private);
        let (mut hpu, mut hpr) = (0, 0);
        let rv = mech.with_raw(|m| {
            s.lib().call(
                |l| l.C_GenerateKeyPair,
                // SAFETY: the library reads the mechanism `m`, `pu.len()` attributes at
                // `pu` and `pr.len()` at `pr` (each pointing into `public` or `private`
                // for its stated length), and writes the new handles to `hpu` and
                // `hpr`; all live for the call.
                |f| unsafe {
                    f(
                        s.handle(),
                        m,
                        pu.as_mut_ptr(),
                        pu.len() as CK_ULONG,
                        pr.as_mut_ptr(),
                        pr.len() as CK_ULONG,
                        &mut hpu,
                        &mut hpr,
                    )
                },
            )
        });
        check(rv, "C_GenerateKeyPair")?;
        Ok((hpu, hpr))
    }

    fn wrap_key(
        &self,
        mech: &Mechanism,
        wrapping: ObjectId,
        key: ObjectId,
        mut out: Output,
    ) -> Result<usize> {
        if mech.ty == CKM_AES_KEY_WRAP_PAD && self.conn()?.kwp_wrap_broken {
            softhsm26::refuse_partial_block_kwp(self, key)?;
        }
        if mech.ty == CKM_RSA_AES_KEY_WRAP {
            return Err(Error::rv(
                CKR_MECHANISM_INVALID,
                "CKM_RSA_AES_KEY_WRAP is offered for unwrapping only",
            ));
        }
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let (p, mut n) = match out.as_mut() {
            Some(b) => (b.as_mut_ptr(), b.len() as CK_ULONG),
            None => (std::ptr::null_mut(), 0),
        };
        let rv = mech.with_raw(|m| {
            s.lib().call(
                |l| l.C_WrapKey,
                // SAFETY: the library reads the mechanism `m`, writes at most `n` bytes
                // to `p` (none when NULL: a length query) and the blob's length to
                // `n`; all live for the call.
                |f| unsafe { f(s.handle(), m, wrapping, key, p, &mut n) },
            )
        });
        match rv {
            CKR_OK => Ok(n as usize),
            CKR_BUFFER_TOO_SMALL => Err(Error::BufferTooSmall(n as usize)),
            _ => Err(Error::rv(rv, "C_WrapKey")),
        }
    }

    fn unwrap_key(
        &self,
        mech: &Mechanism,
        unwrapping: ObjectId,
        wrapped: &[u8],
        template: &[Attr],
    ) -> Result<ObjectId> {
        let c = self.conn()?;
        let native_oaep;
        let mut mech = mech;
        match mech.ty {
            CKM_RSA_AES_KEY_WRAP => match c.rsa_aes {
                RsaAes::Native => {}
                RsaAes::Composed => {
                    return unwrap::rsa_aes(&c.pool, mech, unwrapping, wrapped, template)
                }
                RsaAes::Absent => {
                    return Err(Error::rv(
                        CKR_MECHANISM_INVALID,
                        "the node lacks RSA-OAEP or AES key wrap with padding",
                    ))
                }
            },
            CKM_RSA_PKCS_OAEP => match OaepParams::composed(mech)? {
                Some(p) => return unwrap::oaep(&c.pool, &p, unwrapping, wrapped, template),
                // The same parameters in the one form SoftHSM2 accepts.
                None => {
                    native_oaep = unwrap::native_oaep();
                    mech = &native_oaep;
                }
            },
            _ => {}
        }
        let s = c.pool.lend()?;
        let obj = calls::unwrap(&s, mech, unwrapping, wrapped, template).map_err(|rv| {
            let rv = fixups::correct_unwrap(&s, mech.ty, unwrapping, wrapped.len(), rv);
            Error::rv(rv, "C_UnwrapKey")
        })?;
        if let Some(u) = &c.unwrapped {
            u.note(mech.ty, template, wrapped.len(), obj);
        }
        Ok(obj)
    }

    fn derive_key(&self, mech: &Mechanism, base: ObjectId, template: &[Attr]) -> Result<ObjectId> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let mut t = raw_template(template);
        let mut obj = 0;
        let rv = mech.with_raw(|m| {
            s.lib().call(
                |l| l.C_DeriveKey,
                // SAFETY: the library reads the mechanism `m` (and its parameter) and
                // `t.len()` attributes at `t` (each pointing into `template` for its
                // stated length), and writes the new handle to `obj`; all live for the
                // call.
                |f| unsafe {
                    f(
                        s.handle(),
                        m,
                        base,
                        t.as_mut_ptr(),
                        t.len() as CK_ULONG,
                        &mut obj,
                    )
                },
            )
        });
        check(rv, "C_DeriveKey")?;
        Ok(obj)
    }

    fn material_check(&self, obj: ObjectId, salt: &[u8]) -> Result<[u8; 32]> {
        super::material_check::material_check(&self.conn()?.pool, obj, salt)
    }

    fn begin_encrypt(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Cipher>> {
        oaep::begin_cipher::<kinds::Encrypt>(&self.conn()?.pool, mech, key)
    }

    fn begin_decrypt(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Cipher>> {
        oaep::begin_cipher::<kinds::Decrypt>(&self.conn()?.pool, mech, key)
    }

    fn begin_sign(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Signing>> {
        let c = self.conn()?;
        if c.composed_macs.contains(&mech.ty) {
            return Ok(Box::new(super::truncate::begin(&c.pool, mech, key)?));
        }
        let op = begin_signature::<kinds::Sign>(&c.pool, c.composed_ecdsa, mech, key)?;
        Ok(Box::new(op))
    }

    fn begin_verify(&self, mech: &Mechanism, key: ObjectId) -> Result<Box<dyn Verifying>> {
        let c = self.conn()?;
        if c.composed_macs.contains(&mech.ty) {
            return Ok(Box::new(super::truncate::begin(&c.pool, mech, key)?));
        }
        let op = begin_signature::<kinds::Verify>(&c.pool, c.composed_ecdsa, mech, key)?;
        Ok(Box::new(op))
    }

    fn begin_digest(&self, mech: &Mechanism) -> Result<Box<dyn Digesting>> {
        let s = self.conn()?.pool.get()?;
        let op = NodeOp::<kinds::Digest>::begin(s, mech, CK_INVALID_HANDLE, None)?;
        Ok(Box::new(op))
    }
}

impl ClusterAdmin for Node {
    /// A one-node instance: up when it connects and its token answers. Calls served
    /// are not counted: a shared counter would be written by every call.
    fn nodes(&self) -> Vec<NodeStatus> {
        let answer = self.connect().and_then(|()| self.device_info());
        let (state, last_error) = match answer {
            Ok(_) => (NodeState::Up, None),
            Err(e) => (NodeState::Down, Some(e.to_string())),
        };
        vec![NodeStatus {
            name: self.cfg.name.clone(),
            state,
            load: self.pool_usage().map_or(0, |(_, in_use)| in_use),
            last_error,
            lag: 0,
            served: 0,
            routed: 0,
        }]
    }

    /// The domain key on this one node, made by its SO if it has none yet.
    fn cluster_init(&self) -> Result<ObjectId> {
        if let Some(h) = self.find(&domain::find_template())?.first() {
            return Ok(*h);
        }
        let name = &self.cfg.name;
        let so_pin = domain::read_so_pin(name, self.cfg.so_credential_file.as_deref())?;
        let template = domain::create_template(&domain::fresh_value()?);
        let h = self.create_as_so(&so_pin, &template).map_err(|e| {
            Error::Unavailable(format!("{name}: creating the domain key as SO: {e}"))
        })?;
        tracing::info!(node = %name, "cluster domain key provisioned");
        Ok(h)
    }
}
