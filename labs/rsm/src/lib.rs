//! The replicated-state-machine layer under the lab's services (lab 4's `kvraft`, lab 5's
//! `shardctrler` and `shardkv`): the plumbing between a service and its Raft peer, written
//! once. The course's 2025 labs give it the same name and shape (`rsm`).
//!
//! A service is a [`StateMachine`]: plain data with `apply(op) -> output`, no locks, no
//! threads, no Raft. [`Rsm::start`] puts it on a Raft peer, and [`Rsm::submit`] runs one
//! operation through the log:
//!
//! 1. the operation is labgob-encoded and handed to [`raft::Raft::start`];
//! 2. the handler waits at the index `start` returned ([`waiters`]);
//! 3. the reader thread receives every committed entry from `apply_ch`, in log order, decodes
//!    it, applies it to the state machine on *every* replica, and hands the output to the
//!    handler waiting at that index, if the entry there is the one it submitted;
//! 4. when the persisted Raft state reaches `maxraftstate` bytes, the reader snapshots the
//!    state machine ([`snapshot`]) and calls [`raft::Raft::snapshot`]; a restarted server
//!    restores the snapshot, and Raft replays the log after it.
//!
//! Beyond the lab, [`Rsm::query`] answers a read-only operation: through the log as
//! [`Rsm::submit`] does, or, with [`Options::read_index`] (the real cluster's default), by
//! ReadIndex ([`raft::Raft::read_index`]) with no log entry. And snapshots that scale
//! (`background.rs`): with [`Options::background_snapshots`] a writer thread encodes a clone of
//! the state machine into the persister a piece at a time while the reader goes on applying,
//! and with [`Options::snapshot_growth`] one is due only once the log has outgrown the last.
//!
//! Exactly-once execution is the service's part, with [`Sessions`]: each clerk numbers its
//! operations and the state machine skips what it has already applied. The table is part of
//! the replicated state, saved in every snapshot.
//!
//! # Reading order
//! 1. `machine.rs`: the [`StateMachine`] trait a service implements.
//! 2. `sessions.rs`: the duplicate table, clerk id -> last applied sequence number.
//! 3. `waiters.rs`: the wait table, index -> (term, waiter), and the rule that tells a
//!    handler its operation lost its index.
//! 4. `snapshot.rs`: what a snapshot holds and when one is due.
//! 5. `rsm.rs`: [`Rsm`]: `start`, `submit`, `kill`, and the reader thread.
//! 6. `background.rs`, beyond the lab: snapshots written in the background, and when.
//!
//! # Threads
//! | thread | lifetime | woken by | exits on `kill` |
//! |---|---|---|---|
//! | reader `rsm<me>-reader` | the server's | `apply_ch`, the kill channel | sees the kill channel close; joined |
//! | snapshot writer `rsm<me>-snapshotter`, with [`Options::background_snapshots`] | the server's | a condvar: a clone of the state to write, `kill` | sees `stopping`; a snapshot being written stops at its next piece; joined |
//! | RPC handlers (in [`Rsm::submit`], [`Rsm::query`]) | one operation | its waiter's channel, every [`TERM_CHECK`] to ask Raft whether it still leads | its waiter is dropped: returns [`Error::Killed`] at once |
//!
//! # Locks, and the deadlock this layer cannot have
//! One mutex guards the state machine, the wait table and `last_applied`. Nothing holds it
//! while calling into Raft (`start`, `get_state`, `snapshot`, `kill`), sending on a channel or
//! joining a thread. Raft, for its part, never holds its own lock while sending on `apply_ch`.
//! So no thread ever waits for one lock while holding the other, and the classic four-way
//! deadlock of this lab (a handler holding the service's lock inside `Raft::start`, Raft's
//! applier blocked sending on `apply_ch`, the apply loop waiting for the service's lock, and
//! `Raft::snapshot` called from the apply loop with the service's lock held) has no edge to
//! start from.
//!
//! # Logging
//! Lines in the project's format (see [`raft::logging`]) at debug level with target `rsm`:
//! `<ms> <TOPIC> S<me> T<term> <message>`, topics SUBM (submitted), DONE (the handler got its
//! output), LOST (its index went to another entry, or it stopped leading), SSNP (a snapshot
//! taken, installed, or ignored as older than the applied state), KILL (the layer stopped, its
//! reader joined; logged with term 0). `RUST_LOG=rsm=debug` turns them on.

mod background;
mod logging;
mod machine;
mod rsm;
mod sessions;
pub mod snapshot;
pub mod waiters;

pub use background::{SnapshotStats, has_grown};
pub use machine::StateMachine;
pub use rsm::{Error, Options, Rsm, TERM_CHECK};
pub use sessions::{OpId, Sessions};
