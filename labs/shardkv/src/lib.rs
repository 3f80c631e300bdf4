//! Lab 5's sharded key/value service (the course's 5A and 5B, with both challenges): replica
//! groups, each its own Raft cluster, that serve the shards the controller (crate
//! `shardctrler`) assigns them, and hand shards to each other when the assignment changes,
//! without losing or repeating an operation.
//!
//! A [`Clerk`] sends each operation to the group that serves the key's shard
//! ([`key2shard`]) in the latest configuration it knows. Each group is lab 4's service on the
//! `rsm` layer, with more state in its state machine ([`ShardStore`]): the configuration it
//! has applied, and each shard's data, duplicate table and [`ShardState`].
//!
//! # Configuration changes
//! Each group's leader polls the controller, and moves the group through the configurations
//! one at a time, in order, each as an operation on the group's log (`reconfig.rs`). Applying
//! one changes only the shards that move (`shard.rs`, drawn in `assets/shard-states.svg`):
//!
//! | the shard | before | after `Configure` | then |
//! |---|---|---|---|
//! | arrives from group G | (not held) | `Pulling`: not served | `Pull` from G, `Insert`: `Collecting`, served |
//! | | | | `Delete` at G, `Collected`: `Serving` |
//! | leaves to group G | `Serving` | `HandingOff`: not served, kept | G's `Delete`: gone (challenge 1) |
//! | new (no owner before) | (not held) | `Serving`, empty | |
//! | stays | `Serving` | `Serving` | (challenge 2: served throughout) |
//!
//! The next configuration is applied only once every shard is `Serving` again. A group serves
//! a key only if, when the operation is applied, it owns the key's shard in the configuration
//! it has applied and the shard's data is here; otherwise it answers `WrongGroup`, and the
//! clerk asks the controller again.
//!
//! # Reading order
//! 1. `shard.rs`: a shard's states and the rule that changes them.
//! 2. `store.rs`: the state machine: client operations, `Configure`, and the hand-over steps
//!    `Insert`, `Delete`, `Collected`.
//! 3. `rpc.rs`, `server.rs`: the RPCs and their handlers.
//! 4. `reconfig.rs`: the leader's thread that polls and carries out hand-overs.
//! 5. `client.rs`: the clerk.
//!
//! # Threads
//! A server has the `rsm` reader, its Raft peer's threads and its reconfiguration thread
//! (which, during a hand-over, runs one short-lived thread per other group involved), and runs
//! its handlers on labrpc's. A clerk has none.
//!
//! # Logging
//! At debug level with target `shardkv`, in the project's format, through one macro
//! (`logging.rs`): `<ms> CONF S<me> G<gid> ...` (a configuration submitted), `PULL` (shards
//! pulled). `RUST_LOG=shardkv=debug,rsm=debug`.

mod client;
mod logging;
mod reconfig;
mod rpc;
mod server;
mod shard;
mod store;

use std::sync::Arc;

pub use client::Clerk;
pub use reconfig::POLL_EVERY;
pub use rpc::{
    DeleteArgs, DeleteReply, Err, GetArgs, GetReply, PullArgs, PullReply, PutAppendArgs,
    PutAppendReply, PutOrAppend,
};
pub use server::ShardKv;
pub use shard::{Change, Shard, ShardData, ShardState, change};
pub use shardctrler::N_SHARDS;
pub use store::{Op, Output, Plan, ShardStore, Transfer};

/// Makes an end to the server of the given name (Go's `make_end`).
pub type MakeEnd = Arc<dyn Fn(&str) -> labrpc::ClientEnd + Send + Sync>;

/// Which shard a key belongs to: its first byte modulo [`N_SHARDS`]; `""` is in shard 0.
pub fn key2shard(key: &str) -> usize {
    key.as_bytes()
        .first()
        .map_or(0, |&b| usize::from(b) % N_SHARDS)
}
