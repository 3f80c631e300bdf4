//! The clerk: finds the leader, and retries each operation until a server has applied it.

use std::collections::BTreeMap;
use std::thread;
use std::time::Duration;

use labrpc::ClientEnd;
use rsm::OpId;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{Config, N_SHARDS};
use crate::rpc::{ChangeReply, Err, JoinArgs, LeaveArgs, MoveArgs, QueryArgs, QueryReply};

/// The pause after asking every server once without an answer (Go's 100 ms).
const ROUND_BACKOFF: Duration = Duration::from_millis(100);

/// A client of the controller. One operation at a time (`&mut self`), each retried until it is
/// done, and applied exactly once however often it is sent.
pub struct Clerk {
    servers: Vec<ClientEnd>,
    /// The server that answered last: tried first next time.
    leader: usize,
    /// This clerk's id in the servers' duplicate table.
    clerk_id: u64,
    /// The number of this clerk's last change.
    seq: u64,
}

impl Clerk {
    /// Go's `MakeClerk`: a clerk of the controllers behind `servers`, in any order.
    pub fn new(servers: Vec<ClientEnd>) -> Clerk {
        Clerk {
            servers,
            leader: 0,
            clerk_id: rand::random(),
            seq: 0,
        }
    }

    /// Configuration `num`; `None`, or a number past the latest: the latest.
    pub fn query(&mut self, num: Option<u64>) -> Config {
        loop {
            if let Some(config) = self.query_once(num) {
                return config;
            }
            thread::sleep(ROUND_BACKOFF);
        }
    }

    /// [`Clerk::query`], but asking each server once only: `None` if none answered. For a
    /// caller that must not block for as long as the controllers are out of reach (a shardkv
    /// server's poller, which must see its own `kill`).
    pub fn query_once(&mut self, num: Option<u64>) -> Option<Config> {
        let args = QueryArgs { num };
        self.round("ShardCtrler.Query", &args, |reply: &QueryReply| {
            reply.err == Err::Ok
        })
        .map(|reply| reply.config)
    }

    /// New groups join: gid -> the names of their servers.
    pub fn join(&mut self, servers: BTreeMap<u64, Vec<String>>) {
        let id = self.next_id();
        self.change("ShardCtrler.Join", &JoinArgs { servers, id });
    }

    /// The groups `gids` leave.
    pub fn leave(&mut self, gids: &[u64]) {
        let id = self.next_id();
        let gids = gids.to_vec();
        self.change("ShardCtrler.Leave", &LeaveArgs { gids, id });
    }

    /// Shard `shard` goes to group `gid`.
    ///
    /// # Panics
    /// If `shard` is not below [`N_SHARDS`].
    pub fn move_shard(&mut self, shard: usize, gid: u64) {
        assert!(shard < N_SHARDS, "shard {shard} of {N_SHARDS}");
        let id = self.next_id();
        self.change("ShardCtrler.Move", &MoveArgs { shard, gid, id });
    }

    fn next_id(&mut self) -> OpId {
        self.seq += 1;
        OpId {
            clerk: self.clerk_id,
            seq: self.seq,
        }
    }

    fn change<A: Serialize>(&mut self, method: &str, args: &A) {
        loop {
            let done = |reply: &ChangeReply| reply.err != Err::WrongLeader;
            if self.round(method, args, done).is_some() {
                return;
            }
            thread::sleep(ROUND_BACKOFF);
        }
    }

    /// Asks each server once, the last leader first, until one's reply is `done`.
    fn round<A: Serialize, R: DeserializeOwned>(
        &mut self,
        method: &str,
        args: &A,
        done: impl Fn(&R) -> bool,
    ) -> Option<R> {
        // solution: begin 5A ctrler-clerk-round
        let n = self.servers.len();
        for i in 0..n {
            let server = (self.leader + i) % n;
            if let Some(reply) = self.servers[server].call::<A, R>(method, args)
                && done(&reply)
            {
                self.leader = server;
                return Some(reply);
            }
        }
        None
        // solution: end ctrler-clerk-round
    }
}
