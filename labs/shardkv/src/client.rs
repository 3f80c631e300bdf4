//! The clerk: finds the group that serves a key's shard in the latest configuration it knows,
//! and asks the controller again when the group says it does not (or cannot be reached).

use std::thread;
use std::time::Duration;

use labrpc::ClientEnd;
use rsm::OpId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shardctrler::Config;

use crate::rpc::{Err, GetArgs, GetReply, PutAppendArgs, PutAppendReply, PutOrAppend};
use crate::server::Ends;
use crate::{MakeEnd, key2shard};

/// The pause after asking a whole group without an answer, before asking the controller for
/// the latest configuration (Go's 100 ms).
const ROUND_BACKOFF: Duration = Duration::from_millis(100);

/// A client of the sharded service. One operation at a time (`&mut self`), each retried until
/// it is done, and applied exactly once however often it is sent, whichever groups it is sent
/// to.
pub struct Clerk {
    ctrler: shardctrler::Clerk,
    /// The latest configuration this clerk knows.
    config: Config,
    ends: Ends,
    /// This clerk's id in the shards' duplicate tables.
    clerk_id: u64,
    /// The number of this clerk's last write.
    seq: u64,
}

impl Clerk {
    /// Go's `MakeClerk`: a clerk that asks the controllers `ctrlers` for configurations and
    /// reaches the groups' servers through `make_end`.
    pub fn new(ctrlers: Vec<ClientEnd>, make_end: MakeEnd) -> Clerk {
        Clerk {
            ctrler: shardctrler::Clerk::new(ctrlers),
            config: Config::default(),
            ends: Ends::new(make_end),
            clerk_id: rand::random(),
            seq: 0,
        }
    }

    /// The value of `key`, `""` if it was never written.
    pub fn get(&mut self, key: &str) -> String {
        let args = GetArgs { key: key.into() };
        let reply: GetReply = self.call(key, "ShardKV.Get", &args, |reply: &GetReply| reply.err);
        reply.value
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &str, value: &str) {
        self.put_append(key, value, PutOrAppend::Put);
    }

    /// Appends `value` to `key`'s value (to `""` if it was never written).
    pub fn append(&mut self, key: &str, value: &str) {
        self.put_append(key, value, PutOrAppend::Append);
    }

    fn put_append(&mut self, key: &str, value: &str, op: PutOrAppend) {
        self.seq += 1;
        let args = PutAppendArgs {
            key: key.into(),
            value: value.into(),
            op,
            id: OpId {
                clerk: self.clerk_id,
                seq: self.seq,
            },
        };
        let _: PutAppendReply =
            self.call(key, "ShardKV.PutAppend", &args, |reply: &PutAppendReply| {
                reply.err
            });
    }

    /// Calls `method` on the servers of the group that serves `key` until one answers `Ok`
    /// (or `NoKey`). On `WrongGroup`, or when no server of the group answers, it pauses and
    /// asks the controller for the latest configuration.
    fn call<A: Serialize, R: DeserializeOwned>(
        &mut self,
        key: &str,
        method: &str,
        args: &A,
        err: impl Fn(&R) -> Err,
    ) -> R {
        // solution: begin 5A shardkv-clerk-call
        let shard = key2shard(key);
        loop {
            let gid = self.config.shards[shard];
            if let Some(servers) = self.config.groups.get(&gid) {
                for name in servers {
                    let Some(reply) = self.ends.to(name).call::<A, R>(method, args) else {
                        continue;
                    };
                    match err(&reply) {
                        Err::Ok | Err::NoKey => return reply,
                        Err::WrongGroup => break,
                        Err::WrongLeader | Err::NotReady => {}
                    }
                }
            }
            thread::sleep(ROUND_BACKOFF);
            self.config = self.ctrler.query(None);
        }
        // solution: end shardkv-clerk-call
    }
}
