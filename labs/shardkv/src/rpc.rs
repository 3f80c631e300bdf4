//! The service's RPCs: the clerk's `ShardKV.Get` and `ShardKV.PutAppend`, and the two a group
//! sends another during a hand-over, `ShardKV.Pull` and `ShardKV.Delete`.

use std::collections::BTreeMap;

use rsm::OpId;
use serde::{Deserialize, Serialize};

use crate::shard::ShardData;

/// The outcome of an RPC, with the course's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Err {
    /// Done (Go's `OK`).
    Ok,
    /// A `Get` of a key never written; its value is `""`.
    NoKey,
    /// The key's shard is not served by this group now: ask the controller again.
    WrongGroup,
    /// This server does not lead, or lost leadership before the operation committed.
    WrongLeader,
    /// A hand-over step for a configuration this group has not reached yet: try again later.
    NotReady,
}

/// `ShardKV.Get`'s arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetArgs {
    /// The key.
    pub key: String,
}

/// `ShardKV.Get`'s reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetReply {
    /// `Ok` or `NoKey` when answered.
    pub err: Err,
    /// The value; `""` unless `err` is `Ok`.
    pub value: String,
}

/// Which write a `PutAppend` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PutOrAppend {
    /// Replace the value.
    Put,
    /// Add to the end of the value.
    Append,
}

/// `ShardKV.PutAppend`'s arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutAppendArgs {
    /// The key.
    pub key: String,
    /// The value to put or append.
    pub value: String,
    /// Put or Append.
    pub op: PutOrAppend,
    /// The clerk and its operation's number, for the shard's duplicate table.
    pub id: OpId,
}

/// `ShardKV.PutAppend`'s reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutAppendReply {
    /// `Ok` when done.
    pub err: Err,
}

/// `ShardKV.Pull`'s arguments: the new owner asks the previous one for shards.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullArgs {
    /// The configuration the asker is pulling for.
    pub num: u64,
    /// The shards.
    pub shards: Vec<usize>,
}

/// `ShardKV.Pull`'s reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullReply {
    /// `Ok` with every shard asked for, or `NotReady` (this server has not handed them off
    /// in that configuration yet) with none.
    pub err: Err,
    /// Shard -> its data and duplicate table.
    pub shards: BTreeMap<usize, ShardData>,
}

/// `ShardKV.Delete`'s arguments: the new owner has the shards; the previous one deletes its
/// copies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteArgs {
    /// The configuration the shards were handed off in.
    pub num: u64,
    /// The shards.
    pub shards: Vec<usize>,
}

/// `ShardKV.Delete`'s reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteReply {
    /// `Ok` once the copies are gone.
    pub err: Err,
}
