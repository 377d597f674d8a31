//! One HSM node: a token in a vendor library, connected lazily, with a session pool.

use super::calls::raw_template;
use super::library::{p11, Library};
use super::oaep::{OaepOp, OaepParams};
use super::op::NodeOp;
use super::pool::Pool;
use super::{fixups, prehash, unwrap};
use crate::backend::{Backend, DeviceInfo, ObjectId, OpKind, Operation, Output};
use crate::domain;
use crate::error::{check, Error, Result};
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
    /// SoftHSM2 ≤ 2.6 writes a wrong length into RFC 5649 blobs of keys that are not
    /// whole 8-byte blocks (tests/DEVIATIONS.md SH-11); such wraps are refused.
    kwp_wrap_broken: bool,
    rsa_aes: RsaAes,
}

/// How the node serves `CKM_RSA_AES_KEY_WRAP` unwraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RsaAes {
    /// The library has it.
    Native,
    /// Composed from its OAEP and `CKM_AES_KEY_WRAP_PAD` (`unwrap.rs`).
    Composed,
    Absent,
}

fn trim(field: &[u8]) -> String {
    String::from_utf8_lossy(field)
        .trim_end_matches([' ', '\0'])
        .to_string()
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
        let c = self.open()?;
        Ok(self.conn.get_or_init(|| c))
    }

    /// The node's slot. A token can be missing for a moment: SoftHSM2 rewrites its
    /// token file when another process logs in, and a library that loads the token
    /// from a half-written file leaves it out until it is initialised again. So look
    /// again for ~0.6 s, re-initialising the library in between when nothing else in
    /// this process uses it yet, before giving up.
    fn find_slot(&self, lib: &Arc<Library>) -> Result<CK_SLOT_ID> {
        let mut pause = std::time::Duration::from_millis(20);
        for _ in 0..5 {
            if let Some(slot) = self.matching_slot(lib)? {
                return Ok(slot);
            }
            std::thread::sleep(pause);
            pause *= 2;
            if Arc::strong_count(lib) == 1 {
                lib.reinitialize()?;
            }
        }
        if let Some(slot) = self.matching_slot(lib)? {
            return Ok(slot);
        }
        Err(Error::Unavailable(format!(
            "{}: no token with label {:?} serial {:?} in {}",
            self.cfg.name,
            self.cfg.token_label,
            self.cfg.token_serial,
            self.cfg.library.display()
        )))
    }

    fn matching_slot(&self, lib: &Library) -> Result<Option<CK_SLOT_ID>> {
        let slots = two_call_list("C_GetSlotList", |p, n| {
            p11!(lib, C_GetSlotList(CK_TRUE, p, n))
        })?;
        for slot in slots {
            let mut ti = CK_TOKEN_INFO::default();
            if p11!(lib, C_GetTokenInfo(slot, &mut ti)) != CKR_OK {
                continue;
            }
            let label_ok = self
                .cfg
                .token_label
                .as_deref()
                .is_none_or(|l| trim(&ti.label) == l);
            let serial_ok = self
                .cfg
                .token_serial
                .as_deref()
                .is_none_or(|s| trim(&ti.serialNumber) == s);
            if label_ok && serial_ok {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    fn open(&self) -> Result<Connected> {
        let lib = Library::get(&self.cfg.library)?;
        let slot = self.find_slot(&lib)?;
        let pool = Arc::new(Pool::new(
            lib.clone(),
            slot,
            self.cfg.name.clone(),
            self.cfg.pool_size,
            self.cfg.pool_wait,
        ));
        // The first session anchors the login; the pool keeps it open until finalize.
        let s = pool.get()?;
        self.user_login(&lib, s.handle(), "node login")?;
        let (mechanisms, composed_ecdsa, rsa_aes) = read_mechanisms(&lib, slot)?;
        let kwp_wrap_broken = is_softhsm_up_to_2_6(&lib);
        drop(s);
        tracing::info!(node = %self.cfg.name, slot, "node connected");
        Ok(Connected {
            pool,
            slot,
            mechanisms,
            composed_ecdsa,
            kwp_wrap_broken,
            rsa_aes,
        })
    }

    /// Create an object in an SO session: for objects only the SO may make, such as
    /// a cluster's `CKA_TRUSTED` domain key. PKCS#11 login state is per application
    /// and token, so this logs the node's user out, the SO in, creates, and logs the
    /// user back in: an administrative step, to run while the node serves nothing else.
    pub fn create_as_so(&self, so_pin: &[u8], template: &[Attr]) -> Result<ObjectId> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let h = s.handle();
        let _ = p11!(s.lib(), C_Logout(h));
        let rv = p11!(
            s.lib(),
            C_Login(h, CKU_SO, ptr(so_pin), so_pin.len() as CK_ULONG)
        );
        let created = check(rv, "C_Login(SO)").and_then(|()| {
            let mut t = raw_template(template);
            let mut obj = 0;
            check(
                p11!(
                    s.lib(),
                    C_CreateObject(h, t.as_mut_ptr(), t.len() as CK_ULONG, &mut obj)
                ),
                "C_CreateObject",
            )
            .map(|()| obj)
        });
        let _ = p11!(s.lib(), C_Logout(h));
        // The pool's sessions must be the user's again whatever happened above.
        self.user_login(s.lib(), h, "user login after SO work")?;
        created
    }

    /// Log the node's user in on session `h` with the PIN of its credential file
    /// (read now, zeroized after); already logged in is fine.
    fn user_login(&self, lib: &Library, h: CK_SESSION_HANDLE, what: &str) -> Result<()> {
        let pin = Zeroizing::new(std::fs::read(&self.cfg.credential_file).map_err(|e| {
            Error::Unavailable(format!(
                "{}: credential file {}: {e}",
                self.cfg.name,
                self.cfg.credential_file.display()
            ))
        })?);
        let len = pin
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        let rv = p11!(lib, C_Login(h, CKU_USER, ptr(&pin[..len]), len as CK_ULONG));
        if rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN {
            return Err(Error::Unavailable(format!(
                "{}: {what} failed: {}",
                self.cfg.name,
                crate::error::rv_name(rv)
            )));
        }
        Ok(())
    }

    /// Sessions opened and in use, for status and tests.
    pub fn pool_usage(&self) -> Option<(usize, usize)> {
        self.conn.get().map(|c| c.pool.usage())
    }
}

fn is_softhsm_up_to_2_6(lib: &Library) -> bool {
    let mut info = CK_INFO::default();
    if p11!(lib, C_GetInfo(&mut info)) != CKR_OK {
        return false;
    }
    let v = info.libraryVersion;
    trim(&info.manufacturerID).starts_with("SoftHSM") && (v.major, v.minor) <= (2, 6)
}

/// A list by the spec's two calls: the count, then the items.
fn two_call_list<T: Copy + Default>(
    func: &'static str,
    call: impl Fn(*mut T, *mut CK_ULONG) -> CK_RV,
) -> Result<Vec<T>> {
    let mut n: CK_ULONG = 0;
    check(call(std::ptr::null_mut(), &mut n), func)?;
    let mut items = vec![T::default(); n as usize];
    check(call(items.as_mut_ptr(), &mut n), func)?;
    items.truncate(n as usize);
    Ok(items)
}

type MechList = Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)>;

fn read_mechanisms(lib: &Library, slot: CK_SLOT_ID) -> Result<(MechList, bool, RsaAes)> {
    let types = two_call_list("C_GetMechanismList", |p, n| {
        p11!(lib, C_GetMechanismList(slot, p, n))
    })?;
    let mut out = Vec::new();
    for ty in types {
        if crate::mech::param_kind(ty).is_none() {
            continue;
        }
        let mut info = CK_MECHANISM_INFO::default();
        if p11!(lib, C_GetMechanismInfo(slot, ty, &mut info)) == CKR_OK {
            out.push((ty, info));
        }
    }
    let raw = out.iter().find(|(t, _)| *t == CKM_ECDSA).map(|(_, i)| *i);
    let mut composed = false;
    if let Some(raw) = raw {
        for ty in prehash::COMPOSED_ECDSA {
            if !out.iter().any(|(t, _)| *t == ty) {
                composed = true;
                let info = CK_MECHANISM_INFO {
                    flags: raw.flags
                        & (CKF_SIGN
                            | CKF_VERIFY
                            | CKF_HW
                            | CKF_EC_F_P
                            | CKF_EC_OID
                            | CKF_EC_UNCOMPRESS),
                    ..raw
                };
                out.push((ty, info));
            }
        }
    }
    let rsa_aes = rsa_aes_support(&mut out);
    out.sort_by_key(|(t, _)| *t);
    Ok((out, composed, rsa_aes))
}

/// `CKM_RSA_AES_KEY_WRAP`, native or composed, listed for unwrapping only: kmsbridge
/// serves it for imports and does not wrap with it.
fn rsa_aes_support(mechs: &mut MechList) -> RsaAes {
    let find = |ty| mechs.iter().position(|(t, _)| *t == ty);
    if let Some(i) = find(CKM_RSA_AES_KEY_WRAP) {
        mechs[i].1.flags &= CKF_UNWRAP | CKF_HW;
        return RsaAes::Native;
    }
    let unwraps = |i: Option<usize>| i.filter(|i| mechs[*i].1.flags & CKF_UNWRAP != 0);
    match (
        unwraps(find(CKM_RSA_PKCS_OAEP)),
        unwraps(find(CKM_AES_KEY_WRAP_PAD)),
    ) {
        (Some(oaep), Some(_)) => {
            let info = CK_MECHANISM_INFO {
                flags: CKF_UNWRAP,
                ..mechs[oaep].1
            };
            mechs.push((CKM_RSA_AES_KEY_WRAP, info));
            RsaAes::Composed
        }
        _ => RsaAes::Absent,
    }
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
        let mut ti = CK_TOKEN_INFO::default();
        check(
            p11!(c.pool.lib, C_GetTokenInfo(c.slot, &mut ti)),
            "C_GetTokenInfo",
        )?;
        #[allow(clippy::unnecessary_cast)] // CK_ULONG is 32 bits on some targets
        let mem = |v: CK_ULONG| {
            (v != CK_UNAVAILABLE_INFORMATION && v != CK_EFFECTIVELY_INFINITE).then_some(v as u64)
        };
        Ok(DeviceInfo {
            manufacturer: trim(&ti.manufacturerID),
            model: trim(&ti.model),
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
        check(
            p11!(
                s.lib(),
                C_GenerateRandom(s.handle(), out.as_mut_ptr(), out.len() as CK_ULONG)
            ),
            "C_GenerateRandom",
        )
    }

    fn seed_random(&self, seed: &[u8]) -> Result<()> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        check(
            p11!(
                s.lib(),
                C_SeedRandom(s.handle(), ptr(seed), seed.len() as CK_ULONG)
            ),
            "C_SeedRandom",
        )
    }

    fn find(&self, template: &[Attr]) -> Result<Vec<ObjectId>> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let h = s.handle();
        let mut t = raw_template(template);
        check(
            p11!(
                s.lib(),
                C_FindObjectsInit(h, t.as_mut_ptr(), t.len() as CK_ULONG)
            ),
            "C_FindObjectsInit",
        )?;
        let mut found = Vec::new();
        let mut batch = [0 as CK_OBJECT_HANDLE; 256];
        let res = loop {
            let mut n: CK_ULONG = 0;
            let rv = p11!(
                s.lib(),
                C_FindObjects(h, batch.as_mut_ptr(), batch.len() as CK_ULONG, &mut n)
            );
            if rv != CKR_OK {
                break Err(Error::rv(rv, "C_FindObjects"));
            }
            found.extend_from_slice(&batch[..n as usize]);
            if (n as usize) < batch.len() {
                break Ok(());
            }
        };
        let rv = p11!(s.lib(), C_FindObjectsFinal(h));
        res?;
        check(rv, "C_FindObjectsFinal")?;
        Ok(found)
    }

    fn create_object(&self, template: &[Attr]) -> Result<ObjectId> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let mut t = raw_template(template);
        let mut obj = 0;
        check(
            p11!(
                s.lib(),
                C_CreateObject(s.handle(), t.as_mut_ptr(), t.len() as CK_ULONG, &mut obj)
            ),
            "C_CreateObject",
        )?;
        Ok(obj)
    }

    fn copy_object(&self, obj: ObjectId, template: &[Attr]) -> Result<ObjectId> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let mut t = raw_template(template);
        let mut new = 0;
        check(
            p11!(
                s.lib(),
                C_CopyObject(
                    s.handle(),
                    obj,
                    t.as_mut_ptr(),
                    t.len() as CK_ULONG,
                    &mut new
                )
            ),
            "C_CopyObject",
        )?;
        Ok(new)
    }

    fn destroy_object(&self, obj: ObjectId) -> Result<()> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        check(
            p11!(s.lib(), C_DestroyObject(s.handle(), obj)),
            "C_DestroyObject",
        )
    }

    fn object_size(&self, obj: ObjectId) -> Result<u64> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let mut n: CK_ULONG = 0;
        check(
            p11!(s.lib(), C_GetObjectSize(s.handle(), obj, &mut n)),
            "C_GetObjectSize",
        )?;
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
        let rv = p11!(
            s.lib(),
            C_GetAttributeValue(s.handle(), obj, t.as_mut_ptr(), t.len() as CK_ULONG)
        );
        match rv {
            CKR_OK
            | CKR_ATTRIBUTE_SENSITIVE
            | CKR_ATTRIBUTE_TYPE_INVALID
            | CKR_BUFFER_TOO_SMALL => {
                for (r, a) in reqs.iter_mut().zip(&t) {
                    r.len = a.ulValueLen;
                }
                Ok(rv)
            }
            _ => Err(Error::rv(rv, "C_GetAttributeValue")),
        }
    }

    fn set_attributes(&self, obj: ObjectId, template: &[Attr]) -> Result<()> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let mut t = raw_template(template);
        check(
            p11!(
                s.lib(),
                C_SetAttributeValue(s.handle(), obj, t.as_mut_ptr(), t.len() as CK_ULONG)
            ),
            "C_SetAttributeValue",
        )
    }

    fn generate_key(&self, mech: &Mechanism, template: &[Attr]) -> Result<ObjectId> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let mut t = raw_template(template);
        let mut obj = 0;
        let rv = mech.with_raw(|m| {
            p11!(
                s.lib(),
                C_GenerateKey(s.handle(), m, t.as_mut_ptr(), t.len() as CK_ULONG, &mut obj)
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
            p11!(
                s.lib(),
                C_GenerateKeyPair(
                    s.handle(),
                    m,
                    pu.as_mut_ptr(),
                    pu.len() as CK_ULONG,
                    pr.as_mut_ptr(),
                    pr.len() as CK_ULONG,
                    &mut hpu,
                    &mut hpr
                )
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
            let mut req = [AttrReq::new(
                CKA_VALUE_LEN,
                Some(std::mem::size_of::<CK_ULONG>()),
            )];
            self.get_attributes(key, &mut req)?;
            let len = req[0]
                .value()
                .and_then(|v| v.try_into().ok())
                .map(CK_ULONG::from_ne_bytes);
            if len.is_some_and(|n| n % 8 != 0) {
                return Err(Error::rv(
                    CKR_KEY_NOT_WRAPPABLE,
                    "RFC 5649 wrap of a partial block on SoftHSM2 2.6",
                ));
            }
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
        let rv =
            mech.with_raw(|m| p11!(s.lib(), C_WrapKey(s.handle(), m, wrapping, key, p, &mut n)));
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
        super::calls::unwrap(&s, mech, unwrapping, wrapped, template).map_err(|rv| {
            let rv = fixups::correct_unwrap(&s, mech.ty, unwrapping, wrapped.len(), rv);
            Error::rv(rv, "C_UnwrapKey")
        })
    }

    fn derive_key(&self, mech: &Mechanism, base: ObjectId, template: &[Attr]) -> Result<ObjectId> {
        let c = self.conn()?;
        let s = c.pool.lend()?;
        let mut t = raw_template(template);
        let mut obj = 0;
        let rv = mech.with_raw(|m| {
            p11!(
                s.lib(),
                C_DeriveKey(
                    s.handle(),
                    m,
                    base,
                    t.as_mut_ptr(),
                    t.len() as CK_ULONG,
                    &mut obj
                )
            )
        });
        check(rv, "C_DeriveKey")?;
        Ok(obj)
    }

    fn material_check(&self, obj: ObjectId, salt: &[u8]) -> Result<[u8; 32]> {
        super::material_check::material_check(&self.conn()?.pool, obj, salt)
    }

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

    fn begin(
        &self,
        kind: OpKind,
        mech: &Mechanism,
        key: Option<ObjectId>,
    ) -> Result<Box<dyn Operation>> {
        let c = self.conn()?;
        if mech.ty == CKM_RSA_PKCS_OAEP && matches!(kind, OpKind::Encrypt | OpKind::Decrypt) {
            if let Some(params) = OaepParams::composed(mech)? {
                let k = key.ok_or(Error::rv(CKR_KEY_HANDLE_INVALID, "OAEP"))?;
                let raw = Mechanism::simple(CKM_RSA_X_509);
                let inner = NodeOp::begin(c.pool.get()?, kind, &raw, key, None)?;
                let len = inner.modulus_len(k).ok_or(Error::rv(
                    CKR_KEY_TYPE_INCONSISTENT,
                    "OAEP needs an RSA key",
                ))?;
                return Ok(Box::new(OaepOp::new(
                    inner,
                    kind == OpKind::Decrypt,
                    params,
                    len,
                )));
            }
        }
        if c.composed_ecdsa && matches!(kind, OpKind::Sign | OpKind::Verify) {
            if let Some(hash) = prehash::hash_for(mech.ty) {
                let raw = Mechanism::simple(CKM_ECDSA);
                return Ok(Box::new(NodeOp::begin(
                    c.pool.get()?,
                    kind,
                    &raw,
                    key,
                    Some(hash),
                )?));
            }
        }
        Ok(Box::new(NodeOp::begin(
            c.pool.get()?,
            kind,
            mech,
            key,
            None,
        )?))
    }
}
