//! Capabilities some backends have beyond [`crate::Backend`], each a trait of its
//! own: a backend implements those it has, and the provider holds each instance's
//! capabilities beside its backend.

use crate::backend::ObjectId;
use crate::status::NodeStatus;
use crate::Result;
use cryptoki_sys::{CK_FLAGS, CK_USER_TYPE};

/// A token that keeps its own PINs and initialisation (a software store); without
/// it, the provider keeps the instance's PINs itself.
pub trait TokenAdmin: Send + Sync {
    /// The token's own PIN and initialisation state, for CK_TOKEN_INFO.
    fn token_state(&self) -> Result<TokenState>;

    /// Log `user` in with the token's own PIN.
    fn login(&self, user: CK_USER_TYPE, pin: &[u8]) -> Result<()>;

    /// Forget what a login unlocked.
    fn logout(&self);

    /// C_InitToken: (re)initialise with a new SO PIN and label, destroying every object.
    fn init_token(&self, so_pin: &[u8], label: &str) -> Result<()>;

    /// C_InitPIN by the logged-in SO.
    fn init_pin(&self, pin: &[u8]) -> Result<()>;

    /// C_SetPIN of `user`.
    fn set_pin(&self, user: CK_USER_TYPE, old: &[u8], new: &[u8]) -> Result<()>;

    /// The token's data key, unlocked by the current login, sealed under `kek` for the
    /// access-point credential `credential`: what that credential's login opens.
    fn seal_for_credential(&self, kek: &[u8; 32], credential: &[u8]) -> Result<Vec<u8>>;

    /// Log the user in with a credential's sealed data key; false if `slot` does not
    /// open under `kek` (a wrong key, or a slot of an earlier token generation).
    fn login_credential(&self, kek: &[u8; 32], credential: &[u8], slot: &[u8]) -> Result<bool>;
}

/// A token that keeps its own PINs: what CK_TOKEN_INFO reports of them.
#[derive(Clone, Debug, Default)]
pub struct TokenState {
    pub initialized: bool,
    pub label: Option<String>,
    pub user_pin_initialized: bool,
    /// CKF_USER_PIN_* and CKF_SO_PIN_* flags (count low, final try, locked, to be changed).
    pub pin_flags: CK_FLAGS,
}

/// HSM nodes behind a backend (a cluster, or one node as a cluster of one).
pub trait ClusterAdmin: Send + Sync {
    /// The nodes, for `kmsbridge cluster status`.
    fn nodes(&self) -> Vec<NodeStatus>;

    /// Provision the cluster domain key on every node with each node's
    /// `so_credential_file` (`kmsbridge cluster init`) and return it; an existing key
    /// present on every node is returned as it is.
    fn cluster_init(&self) -> Result<ObjectId>;
}
