//! The one thing a service writes to run on Raft: its state machine.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A service's replicated state: plain data that every replica changes the same way, one
/// committed operation at a time.
///
/// `apply` must be deterministic: the same operations in the same order leave every replica in
/// the same state with the same outputs. Iterate ordered maps (`BTreeMap`), never a
/// `HashMap`'s order, wherever the order shows in the state or an output.
///
/// The whole value is the snapshot: the layer encodes it with labgob when a snapshot is due and
/// decodes it on restart, so everything that must survive (the duplicate table included) is a
/// field that serde sees. A server with no snapshot starts from `Default` ([`Rsm::start`]) or
/// from a state of its own ([`Rsm::start_from`]).
///
/// [`Rsm::start`]: crate::Rsm::start
/// [`Rsm::start_from`]: crate::Rsm::start_from
///
/// Beyond the lab, a snapshot written in the background (`Options::background_snapshots`)
/// starts from a clone taken by the reader, so cloning should be cheap: a persistent map, whose
/// clone shares its nodes until either copy changes them (kvraft's `KvStore`), costs next to
/// nothing however large the state.
pub trait StateMachine: Serialize + DeserializeOwned + Clone + Send + 'static {
    /// An operation as it travels on the log.
    type Op: Serialize + DeserializeOwned + std::fmt::Debug + Send;
    /// What applying an operation answers.
    type Output: Send + 'static;

    /// Applies one committed operation and returns its output.
    fn apply(&mut self, op: Self::Op) -> Self::Output;

    /// The output of `op` from the state as it is, without changing it, if `op` only reads
    /// (`None` otherwise: the default, for every operation). [`Rsm::query`] answers reads with
    /// it when ReadIndex is on; the output must be what `apply` would give.
    ///
    /// [`Rsm::query`]: crate::Rsm::query
    fn query(&self, op: &Self::Op) -> Option<Self::Output> {
        let _ = op;
        None
    }
}
