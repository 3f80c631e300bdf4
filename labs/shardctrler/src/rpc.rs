//! The controller's RPCs, `ShardCtrler.Join`, `.Leave`, `.Move` and `.Query`: their arguments
//! and replies.

use std::collections::BTreeMap;

use rsm::OpId;
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The outcome of an RPC, with the course's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Err {
    /// Done (Go's `OK`).
    Ok,
    /// This server does not lead, or lost leadership before the operation committed.
    WrongLeader,
    /// A `Move` of a shard that does not exist: retrying will not help.
    NoShard,
}

/// `ShardCtrler.Join`'s arguments: the new groups, gid -> server names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinArgs {
    /// The groups.
    pub servers: BTreeMap<u64, Vec<String>>,
    /// The clerk and its operation's number.
    pub id: OpId,
}

/// `ShardCtrler.Leave`'s arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaveArgs {
    /// The groups that leave.
    pub gids: Vec<u64>,
    /// The clerk and its operation's number.
    pub id: OpId,
}

/// `ShardCtrler.Move`'s arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MoveArgs {
    /// The shard, below [`N_SHARDS`](crate::N_SHARDS).
    pub shard: usize,
    /// The group it goes to.
    pub gid: u64,
    /// The clerk and its operation's number.
    pub id: OpId,
}

/// The reply of `Join`, `Leave` and `Move`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeReply {
    /// `Ok` when the change is in a configuration.
    pub err: Err,
}

/// `ShardCtrler.Query`'s arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryArgs {
    /// The configuration's number; `None` (Go's -1), or one past the latest: the latest.
    pub num: Option<u64>,
}

/// `ShardCtrler.Query`'s reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryReply {
    /// `Ok` when answered.
    pub err: Err,
    /// The configuration (`Config::default()` unless `err` is `Ok`).
    pub config: Config,
}
