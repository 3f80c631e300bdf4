//! Raft, as MIT 6.5840's labs ask for it (PartA-D, the course's 3A-3D), in synchronous,
//! thread-based Rust: OS threads, one `parking_lot` mutex per peer, condvars to wake threads,
//! and a crossbeam channel to the service. No async runtime.
//!
//! # The API
//! The service (or the test harness) creates a peer with [`Raft::make`], registers
//! [`Raft::service`] with a `labrpc::Server`, submits commands with [`Raft::start`], polls
//! [`Raft::get_state`], trims the log with [`Raft::snapshot`] and stops the peer with
//! [`Raft::kill`]. Committed commands and installed snapshots arrive on the `apply_ch` given to
//! `make`, as [`ApplyMsg`]. State survives crashes in a [`Persister`]. [`Raft::status`], outside
//! the lab's API, gives displays and debugging tools a peer's whole picture at once.
//!
//! # Reading order
//! 1. `rpc.rs`: the RPC arguments and replies of Figures 2 and 13.
//! 2. `state.rs`: `RaftState` in Figure 2's groups, and the role transitions; `progress.rs`:
//!    what a peer keeps per other peer (`next_index`, `match_index`, its vote, the calls to it).
//! 3. `election.rs` (PartA): the election ticker, RequestVote and the §5.4.1 check.
//! 4. `log.rs` (PartB/D): the log and its snapshot offset, with all index arithmetic.
//! 5. `replication.rs` (PartB): replicators, AppendEntries, fast backup, the commit rule.
//! 6. `apply.rs` (PartB/D): the applier.
//! 7. `persist.rs` (PartC): what is saved, and when.
//! 8. `snapshot.rs` (PartD): `snapshot()` and InstallSnapshot.
//! 9. `sender.rs`: the threads that make the RPC calls, a few per other peer.
//! 10. `raft.rs`: the handle that ties them together, `make` and `kill`; `peer.rs`: the shared
//!     core behind it, the lock, the condvars and the long-lived threads.
//! 11. Beyond the lab, for the real cluster ([`Options`], off in the lab): `group_commit.rs`
//!     (one save for many `start`s), `pipeline.rs` (more AppendEntries before the first is
//!     answered), `read_index.rs` ([`Raft::read_index`], reads without log entries, Raft
//!     thesis §6.4), `pre_vote.rs` (no term raised without a majority that would vote, §9.6)
//!     and `check_quorum.rs` (a leader no majority answers steps down, §6.2).
//!
//! Diagrams of the roles, the threads, the path of a command and the log are in the
//! repository's `assets/` folder and its README.
//!
//! # Threads of one peer
//! | thread | lifetime | woken by | exits on `kill` |
//! |---|---|---|---|
//! | election ticker `raft<me>-ticker` | the peer's | its deadline (`wait_until`; a leader's ends a CheckQuorum period), `election_wake` | sees `dead`, joined |
//! | replicator `raft<me>-repl<to>-t<term>` | one term as leader, one per follower | its own `replicate_wake[to]` (a call to `to` returned, owes no call at once, and moved the deadline the replicator sleeps to earlier or freed the sender it waits for; a new commit index while no call to `to` awaits a reply) and all of them (step-down, `kill`), its heartbeat deadline | sees `dead` or a new term, joined |
//! | applier `raft<me>-applier` | the peer's | `apply_wake` (commit, installed snapshot) | sees `dead`, or the kill channel while sending; joined |
//! | syncer `raft<me>-syncer` (group commit only) | the peer's | `sync_wake` (`start` appended unsaved) | sees `dead`, joined |
//! | sender `raft<me>-send<to>-<k>` | the peer's; at most 8 per other peer, started on demand | a call queued for `to`; after a reply, makes the next call to `to` itself when one is owed at once (`after_call`) | its queue closes; exits once its call returns, not joined |
//! | RPC handlers | one call | labrpc | labrpc's worker threads; a dead peer answers without acting |
//!
//! No thread holds the lock across an RPC call, a send on `apply_ch`, a sleep or a join, and
//! none is started under it.
//!
//! # Logging
//! Off by default; `RUST_LOG=raft=debug` turns it on once [`init_logging`] (or any `log`
//! backend) is installed. The line format is described in [`logging`].

mod apply;
mod check_quorum;
mod deadlock;
mod election;
mod group_commit;
mod log;
pub mod logging;
mod peer;
mod persist;
mod persister;
mod pipeline;
mod pre_vote;
mod progress;
mod raft;
mod read_index;
mod replication;
mod rpc;
mod sender;
mod snapshot;
mod state;

pub use crossbeam_channel;
pub use log::LogTail;
pub use logging::init_logging;
pub use peer::spawn_aborting;
pub use persister::{
    Journal, Persister, Restored, SnapshotChunk, SnapshotFile, SnapshotLocation, SnapshotWriter,
    WrittenSnapshot,
};
pub use raft::{ApplyMsg, Options, Raft, Status};
pub use state::Role;
