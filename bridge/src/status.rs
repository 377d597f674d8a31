//! What an instance's nodes look like to an operator (`kmsbridge cluster status`,
//! the `CKO_KMSBRIDGE_NODE` objects): defined here so that the provider can show
//! any backend's nodes without knowing the cluster crate.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Serving traffic.
    Up,
    /// Failed; probed in the background.
    Down,
    /// Answering again, being brought up to date; takes writes, not reads.
    Resyncing,
}

/// One node's state, load, last error and lag.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    pub name: String,
    pub state: NodeState,
    /// Calls in flight plus operations holding one of its sessions.
    pub load: usize,
    pub last_error: Option<String>,
    /// Token object writes it missed since it went down (0 once resynced).
    pub lag: u64,
    /// Calls and operations it served since the backend started.
    pub served: u64,
    /// Calls and operations routing gave it to answer since the backend started (not
    /// the replicated writes and resync copies it took): a node answers nothing
    /// while it is away or resyncing, so this stays still until its lag is 0.
    pub routed: u64,
}
