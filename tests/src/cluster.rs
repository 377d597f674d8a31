//! Module tests over a multi-node rig (`RigOptions { nodes, .. }`): the cluster domain
//! key provisioned on every node before the module loads, and looks at one node's
//! token straight through its PKCS#11 library, past kmsbridge.

use crate::kms::{
    get_ulong, node_class, CKA_KMSBRIDGE_NODE_INDEX, CKA_KMSBRIDGE_NODE_LAG,
    CKA_KMSBRIDGE_NODE_STATE, KMSBRIDGE_NODE_UP,
};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use cryptoki_sys::CK_ULONG;
use kmsbridge_testkit::module::{find_slot, login};
use kmsbridge_testkit::rig::Rig;
use std::ffi::{c_void, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::Command;

/// Client threads of the node-loss load tests, as many as issue 5 asks.
pub const THREADS: usize = 32;
/// Issue 5's timeline, in seconds from the start of the load: node 1 is lost at
/// 10 s and back at 20 s; the load runs 30 s.
pub const LOSE_AT: u64 = 10;
/// See [`LOSE_AT`].
pub const RETURN_AT: u64 = 20;
/// See [`LOSE_AT`].
pub const END_AT: u64 = 30;

/// CKA_ID of the cluster domain key on every node (`kmsbridge_cluster::DOMAIN_KEY_ID`).
pub const DOMAIN_KEY_ID: &[u8] = b"kmsbridge.svc.cluster.domain";

/// The library that reaches node `k`'s token without kmsbridge and without the fault
/// shim: SoftHSM2 itself in an in-process rig (all node tokens share its store,
/// `SOFTHSM2_CONF`), else the node's own library (its p11-kit client copy).
fn direct_library(rig: &Rig, k: usize) -> PathBuf {
    if rig.in_process() {
        PathBuf::from(rig.var("SOFTHSM2_MODULE"))
    } else {
        rig.node_library(k)
    }
}

/// The PIN in the rig's file `name` (`nodeK.pin`, `nodeK.so.pin`).
fn pin_file(rig: &Rig, name: &str) -> AuthPin {
    let path = rig.dir().join(name);
    let pin =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    AuthPin::new(pin.trim().to_string().into())
}

/// The node tokens of a rig, each reached straight through its library.
///
/// In an in-process rig SoftHSM2 is shared with the shims the module loaded: while
/// the module runs it is already initialised (`CKR_CRYPTOKI_ALREADY_INITIALIZED`
/// counts as success here) and this must not finalise it; `finish` does so only when
/// this opened it first. Open it before the module loads or after `C_Finalize` of the
/// module, so that the module's pools are not disturbed.
pub struct NodeTokens<'r> {
    rig: &'r Rig,
    /// Per node: its library and slot.
    nodes: Vec<(Pkcs11, Slot)>,
    /// Libraries this initialised (finalised by `finish`).
    owned: Vec<Pkcs11>,
}

impl<'r> NodeTokens<'r> {
    /// Every node of `rig`.
    pub fn open(rig: &'r Rig) -> NodeTokens<'r> {
        assert!(rig.nodes() > 0, "a rig made with `nodes`");
        let mut libs: Vec<(PathBuf, Pkcs11)> = Vec::new();
        let mut owned = Vec::new();
        let mut nodes = Vec::new();
        for k in 0..rig.nodes() {
            let path = direct_library(rig, k);
            let ctx = match libs.iter().find(|(p, _)| *p == path) {
                Some((_, ctx)) => ctx.clone(),
                None => {
                    let ctx = Pkcs11::new(&path)
                        .unwrap_or_else(|e| panic!("load {}: {e}", path.display()));
                    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
                        Ok(()) => owned.push(ctx.clone()),
                        Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
                        Err(e) => panic!("C_Initialize of {}: {e}", path.display()),
                    }
                    libs.push((path, ctx.clone()));
                    ctx
                }
            };
            let label = rig.node_token_label(k);
            let slot = find_slot(&ctx, label)
                .unwrap_or_else(|| panic!("no slot holds node {k}'s token {label}"));
            nodes.push((ctx, slot));
        }
        NodeTokens { rig, nodes, owned }
    }

    /// A read/write session on node `k`'s token, logged in as `user` with the PIN
    /// of the rig's node PIN file.
    pub fn session(&self, k: usize, user: UserType) -> Session {
        let (ctx, slot) = &self.nodes[k];
        let s = ctx.open_rw_session(*slot).expect("C_OpenSession on a node");
        let pin = match user {
            UserType::So => pin_file(self.rig, &format!("node{k}.so.pin")),
            _ => pin_file(self.rig, &format!("node{k}.pin")),
        };
        login(&s, user, &pin);
        s
    }

    /// Finalise the libraries this opened (sessions must be gone).
    pub fn finish(self) {
        for ctx in self.owned {
            let _ = ctx.finalize();
        }
    }
}

/// Which objects [`count_on_node`] counts: those with every attribute given.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// CKA_CLASS.
    pub class: Option<ObjectClass>,
    /// CKA_ID.
    pub id: Option<Vec<u8>>,
    /// CKA_LABEL.
    pub label: Option<String>,
}

impl Query {
    /// Objects with CKA_ID `id`.
    pub fn id(id: &[u8]) -> Query {
        Query { id: Some(id.to_vec()), ..Default::default() }
    }

    /// Objects with CKA_LABEL `label`.
    pub fn label(label: &str) -> Query {
        Query { label: Some(label.into()), ..Default::default() }
    }

    /// Objects of class `class`.
    pub fn class(class: ObjectClass) -> Query {
        Query { class: Some(class), ..Default::default() }
    }

    fn arg(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.class {
            parts.push(format!("class={}", cryptoki_sys::CK_OBJECT_CLASS::from(c)));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id={}", hex::encode(id)));
        }
        if let Some(l) = &self.label {
            assert!(!l.contains(','), "a label without ','");
            parts.push(format!("label={l}"));
        }
        assert!(!parts.is_empty(), "a query names something");
        parts.join(",")
    }
}

/// How many objects on node `k`'s token match each of `queries` (logged in as the
/// node's user), read straight through SoftHSM2 over the node's own store in a child
/// process (`src/bin/node-objects.rs`): not through kmsbridge, the fault shim or
/// p11-kit, so it works while the node is lost and while the module runs here.
pub fn count_on_node(rig: &Rig, k: usize, queries: &[Query]) -> Vec<usize> {
    // The node's store: one shared by all in-process nodes, else the node's own.
    let conf = if rig.in_process() {
        rig.dir().join("softhsm2.conf")
    } else {
        rig.dir().join(format!("node{k}/softhsm2.conf"))
    };
    // Cargo builds the package's binaries beside the test binaries' `deps/`.
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("node-objects"))
        .filter(|b| b.exists())
        .unwrap_or_else(|| panic!("node-objects is not built beside {}", exe.display()));
    let out = Command::new(&bin)
        .env("SOFTHSM2_CONF", &conf)
        .arg(rig.var("SOFTHSM2_MODULE"))
        .arg(rig.node_token_label(k))
        .arg(rig.dir().join(format!("node{k}.pin")))
        .args(queries.iter().map(Query::arg))
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "node-objects on node {k}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: Vec<usize> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse().expect("a count per line"))
        .collect();
    assert_eq!(counts.len(), queries.len(), "one count per query");
    counts
}

/// How many of `rig`'s nodes hold an object matching `q`, node by node.
pub fn count_on_nodes(rig: &Rig, q: &Query) -> Vec<usize> {
    (0..rig.nodes()).map(|k| count_on_node(rig, k, std::slice::from_ref(q))[0]).collect()
}

/// A token AES key made by value: written to every node, no domain key needed (and
/// no AES key wrap, which p11-kit nodes lack).
pub fn token_aes(s: &Session, id: &[u8], value: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Value(value.to_vec()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Id(id.to_vec()),
    ])
}

/// Provisions the cluster domain key on every node of `rig`, as
/// `Cluster::init_domain_key` does (cluster/src/domain.rs): one AES-256 value, made
/// here and dropped at once, created on each node by its SO, `CKA_TRUSTED`, usable
/// only to wrap and unwrap. Call it before the module loads.
pub fn provision_domain_key(rig: &Rig) {
    let nodes = NodeTokens::open(rig);
    let mut value = vec![0u8; 32];
    {
        let s = nodes.session(0, UserType::So);
        s.generate_random_slice(&mut value).expect("C_GenerateRandom");
    }
    for k in 0..rig.nodes() {
        let s = nodes.session(k, UserType::So);
        let key: ObjectHandle = s
            .create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Value(value.clone()),
                Attribute::Id(DOMAIN_KEY_ID.to_vec()),
                Attribute::Label(DOMAIN_KEY_ID.to_vec()),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Modifiable(false),
                Attribute::Trusted(true),
                Attribute::Wrap(true),
                Attribute::Unwrap(true),
                Attribute::Encrypt(false),
                Attribute::Decrypt(false),
                Attribute::Sign(false),
                Attribute::Verify(false),
                Attribute::Derive(false),
            ])
            .unwrap_or_else(|e| panic!("create the domain key on node {k}: {e}"));
        let _ = key;
    }
    value.iter_mut().for_each(|b| *b = 0);
    nodes.finish();
}

/// C_FindObjectsInit calls the fault shims of nodes `0..n` of the in-process rig in the
/// environment (`KMSBRIDGE_NODE<k>_LIBRARY`, as the rig exports it to its children)
/// passed to their tokens in this process so far: each is a scan of the token on
/// SoftHSM2. 0 for a node whose shim this process has not loaded.
pub fn finds_on_nodes(n: usize) -> u64 {
    shim_count(n, c"kmsbridge_faultshim_finds")
}

/// C_GetAttributeValue calls the nodes' shims passed, as [`finds_on_nodes`] counts.
pub fn reads_on_nodes(n: usize) -> u64 {
    shim_count(n, c"kmsbridge_faultshim_reads")
}

fn shim_count(n: usize, name: &std::ffi::CStr) -> u64 {
    (0..n)
        .map(|k| {
            let path = std::env::var(format!("KMSBRIDGE_NODE{k}_LIBRARY"))
                .expect("an in-process rig's node library in the environment");
            let c_path = CString::new(path).expect("library path");
            // SAFETY: RTLD_NOLOAD only finds the copy the module loaded (NULL when it
            // did not), taking a reference that is never dropped, so the function found
            // in it stays valid.
            let lib = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
            if lib.is_null() {
                return 0;
            }
            // SAFETY: `lib` is a live handle; the name is NUL-terminated.
            let sym = unsafe { libc::dlsym(lib, name.as_ptr()) };
            assert!(!sym.is_null(), "node {k}'s shim has no {name:?}");
            // SAFETY: the shim exports it as `extern "C" fn() -> u64` (faultshim/src/lib.rs).
            let count = unsafe { std::mem::transmute::<*mut c_void, extern "C" fn() -> u64>(sym) };
            count()
        })
        .sum()
}

/// Node `k` of an in-process rig seen from both sides: the operation calls its fault
/// shim passed to its token, and its state and lag as the module reports them.
pub struct NodeWatch {
    /// `kmsbridge_faultshim_operations` of the shim copy the module loaded for node k.
    operations: extern "C" fn() -> u64,
    /// Node k's `CKO_KMSBRIDGE_NODE` object.
    object: ObjectHandle,
}

/// One look at a node: its shim's operation count, then its state and lag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeSample {
    pub operations: u64,
    pub state: CK_ULONG,
    pub lag: CK_ULONG,
}

impl NodeSample {
    /// Up with lag 0: resynced, allowed to serve.
    pub fn serving(&self) -> bool {
        self.state == KMSBRIDGE_NODE_UP && self.lag == 0
    }
}

impl NodeWatch {
    /// Node `k` of `rig` (in-process, its module loaded and the node reached once),
    /// its object found through `s`.
    pub fn new(rig: &Rig, s: &Session, k: usize) -> NodeWatch {
        assert!(rig.in_process(), "the shim's count is read in this process");
        let path = rig.node_library(k);
        let c_path = CString::new(path.as_os_str().as_bytes()).expect("library path");
        // SAFETY: RTLD_NOLOAD only finds the copy the module loaded (NULL when it did
        // not), taking a reference that is never dropped: the library stays loaded
        // for the process, so the function found in it stays valid.
        let lib = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
        assert!(!lib.is_null(), "node {k}'s shim {} is not loaded", path.display());
        // SAFETY: `lib` is a live handle; the name is NUL-terminated.
        let sym = unsafe { libc::dlsym(lib, c"kmsbridge_faultshim_operations".as_ptr()) };
        assert!(!sym.is_null(), "node {k}'s shim has no kmsbridge_faultshim_operations");
        // SAFETY: the shim exports it as `extern "C" fn() -> u64` (faultshim/src/lib.rs).
        let operations = unsafe { std::mem::transmute::<*mut c_void, extern "C" fn() -> u64>(sym) };
        let object = s
            .find_objects(&[node_class()])
            .expect("C_FindObjects of the node objects")
            .into_iter()
            .find(|&o| get_ulong(s, o, CKA_KMSBRIDGE_NODE_INDEX) == k as CK_ULONG)
            .unwrap_or_else(|| panic!("no node object for node {k}"));
        NodeWatch { operations, object }
    }

    /// Operation calls (encrypt, decrypt, sign, verify: Init, Update, single-part,
    /// Final) the node's shim passed to its token so far; not the key and object
    /// calls that replication and resync make.
    pub fn operations(&self) -> u64 {
        (self.operations)()
    }

    /// The shim's count first, then the module's state and lag: a call counted was
    /// routed to an up, resynced node, so state and lag read after it are not older
    /// (the module publishes them before the node is routed a call).
    pub fn sample(&self, s: &Session) -> NodeSample {
        let operations = self.operations();
        NodeSample {
            operations,
            state: get_ulong(s, self.object, CKA_KMSBRIDGE_NODE_STATE),
            lag: get_ulong(s, self.object, CKA_KMSBRIDGE_NODE_LAG),
        }
    }
}
