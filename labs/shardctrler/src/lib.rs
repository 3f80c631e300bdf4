//! Lab 5A's shard controller: a replicated service that decides which replica group serves
//! which shard, through numbered configurations.
//!
//! The keys of lab 5's sharded store are split into [`N_SHARDS`] shards; each shard is served
//! by one replica group (its own Raft cluster, crate `shardkv`). The controller keeps the
//! assignment as a sequence of [`Config`]s: `Join` adds groups, `Leave` removes them, `Move`
//! sends one shard to one group, and each makes the next configuration; `Query` reads one.
//! Every configuration is kept, because the groups walk through them one at a time and a
//! group that was down asks for the ones it missed.
//!
//! The service is lab 4's shape on the same `rsm` layer: a state machine ([`Configs`]) that
//! applies the four operations, thin handlers that submit them, and a clerk that retries until
//! a leader answers, each change applied once (the duplicate table).
//!
//! # Reading order
//! 1. `config.rs`: [`Config`] and [`rebalance`], the one rule with a subtlety: move as few
//!    shards as possible, keep the groups within one shard of each other, and compute the same
//!    result on every replica.
//! 2. `store.rs`: the state machine, [`Configs`]: every configuration so far and the duplicate
//!    table.
//! 3. `rpc.rs`, `server.rs`: the RPCs and their handlers.
//! 4. `client.rs`: the clerk.
//!
//! # Threads
//! A server has the `rsm` reader and its Raft peer's threads, and runs its handlers on
//! labrpc's. A clerk has none.

mod client;
mod config;
mod rpc;
mod server;
mod store;

pub use client::Clerk;
pub use config::{Config, N_SHARDS, rebalance};
pub use rpc::{ChangeReply, Err, JoinArgs, LeaveArgs, MoveArgs, QueryArgs, QueryReply};
pub use server::ShardCtrler;
pub use store::{Configs, Op};
