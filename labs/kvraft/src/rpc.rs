//! The service's RPCs, `KVServer.Get` and `KVServer.PutAppend`: their arguments and replies.

use rsm::OpId;
use serde::{Deserialize, Serialize};

/// The outcome of an RPC, with the course's names (`OK`, `ErrNoKey`, `ErrWrongLeader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Err {
    /// Done (Go's `OK`).
    Ok,
    /// A `Get` of a key that was never written; its value is `""`.
    NoKey,
    /// This server does not lead, or lost leadership before the operation committed: try
    /// another.
    WrongLeader,
}

/// `KVServer.Get`'s arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetArgs {
    /// The key to read.
    pub key: String,
}

/// `KVServer.Get`'s reply.
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
    /// Add to the end of the value (of `""` for a new key).
    Append,
}

/// `KVServer.PutAppend`'s arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutAppendArgs {
    /// The key to write.
    pub key: String,
    /// The value to put or append.
    pub value: String,
    /// Put or Append.
    pub op: PutOrAppend,
    /// The clerk and its operation's number, for the duplicate table.
    pub id: OpId,
}

/// `KVServer.PutAppend`'s reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutAppendReply {
    /// `Ok` when done.
    pub err: Err,
}
