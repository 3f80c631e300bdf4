//! The clerk: finds the leader, and retries each operation until a server has applied it.

use std::thread;
use std::time::Duration;

use labrpc::ClientEnd;
use rsm::OpId;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::rpc::{Err, GetArgs, GetReply, PutAppendArgs, PutAppendReply, PutOrAppend};

/// The pause after asking every server once without an answer (during an election, say), so
/// a clerk does not flood a cluster that has no leader.
const ROUND_BACKOFF: Duration = Duration::from_millis(100);

/// A client of the service. One operation at a time (`&mut self`), each retried until it is
/// done, and applied exactly once however often it is sent.
pub struct Clerk {
    servers: Vec<ClientEnd>,
    /// The server that answered last: tried first next time.
    leader: usize,
    /// This clerk's id in the servers' duplicate tables.
    clerk_id: u64,
    /// The number of this clerk's last write.
    seq: u64,
}

impl Clerk {
    /// Go's `MakeClerk`: a clerk of the servers behind `servers`, in any order.
    pub fn new(servers: Vec<ClientEnd>) -> Clerk {
        Clerk {
            servers,
            leader: 0,
            clerk_id: rand::random(),
            seq: 0,
        }
    }

    /// The value of `key`, `""` if it was never written.
    pub fn get(&mut self, key: &str) -> String {
        let args = GetArgs { key: key.into() };
        let reply: GetReply = self.call("KVServer.Get", &args, |reply: &GetReply| {
            matches!(reply.err, Err::Ok | Err::NoKey)
        });
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
        // solution: begin 4A clerk-seq
        self.seq += 1;
        // solution: end clerk-seq
        let args = PutAppendArgs {
            key: key.into(),
            value: value.into(),
            op,
            // solution: begin 4A clerk-op-id
            id: OpId {
                clerk: self.clerk_id,
                seq: self.seq,
            },
            // solution: end clerk-op-id
        };
        let _: PutAppendReply = self.call("KVServer.PutAppend", &args, |reply: &PutAppendReply| {
            reply.err == Err::Ok
        });
    }

    /// Calls `method` with `args` until a server's reply is `done`: the last leader first,
    /// then each server in turn on a wrong-leader reply, a timeout or a lost call, pausing
    /// after every full round.
    fn call<A: Serialize, R: DeserializeOwned>(
        &mut self,
        method: &str,
        args: &A,
        done: impl Fn(&R) -> bool,
    ) -> R {
        // solution: begin 4A clerk-call
        let n = self.servers.len();
        loop {
            for i in 0..n {
                let server = (self.leader + i) % n;
                if let Some(reply) = self.servers[server].call::<A, R>(method, args)
                    && done(&reply)
                {
                    self.leader = server;
                    return reply;
                }
            }
            thread::sleep(ROUND_BACKOFF);
        }
        // solution: end clerk-call
    }
}
