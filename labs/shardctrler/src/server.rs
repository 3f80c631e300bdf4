//! The server: thin RPC handlers over the `rsm` layer, as in lab 4's.

use std::sync::Arc;

use labrpc::{ClientEnd, Service};
use raft::{Persister, Raft};
use rsm::Rsm;

use crate::config::N_SHARDS;
use crate::rpc::{ChangeReply, Err, JoinArgs, LeaveArgs, MoveArgs, QueryArgs, QueryReply};
use crate::store::{Configs, Op};

/// One controller server and its Raft peer. Clones share them.
#[derive(Clone)]
pub struct ShardCtrler {
    rsm: Rsm<Configs>,
}

impl ShardCtrler {
    /// Go's `StartServer`: server `me` of `servers`, restored from `persister`. The
    /// configurations are small and few, so the controller never snapshots.
    pub fn start(servers: Vec<ClientEnd>, me: usize, persister: Arc<Persister>) -> ShardCtrler {
        ShardCtrler {
            rsm: Rsm::start(servers, me, persister, None),
        }
    }

    /// The labrpc service `"ShardCtrler"`, with methods `Join`, `Leave`, `Move` and `Query`.
    pub fn service(&self) -> Service {
        let mut service = Service::new("ShardCtrler");
        let sc = self.clone();
        service.add_method("Join", move |args: JoinArgs| sc.join(args));
        let sc = self.clone();
        service.add_method("Leave", move |args: LeaveArgs| sc.leave(args));
        let sc = self.clone();
        service.add_method("Move", move |args: MoveArgs| sc.move_shard(args));
        let sc = self.clone();
        service.add_method("Query", move |args: QueryArgs| sc.query(args));
        service
    }

    /// A handle on this server's Raft peer.
    pub fn raft(&self) -> Raft {
        self.rsm.raft()
    }

    /// Stops the server and its Raft peer; handlers still waiting answer `WrongLeader` at
    /// once. Returns promptly; calling it again does nothing.
    pub fn kill(&self) {
        self.rsm.kill();
    }

    /// The `Join` handler.
    pub fn join(&self, args: JoinArgs) -> ChangeReply {
        self.change(Op::Join {
            servers: args.servers,
            id: args.id,
        })
    }

    /// The `Leave` handler.
    pub fn leave(&self, args: LeaveArgs) -> ChangeReply {
        self.change(Op::Leave {
            gids: args.gids,
            id: args.id,
        })
    }

    /// The `Move` handler. A shard that does not exist is refused before it reaches the log.
    pub fn move_shard(&self, args: MoveArgs) -> ChangeReply {
        if args.shard >= N_SHARDS {
            return ChangeReply { err: Err::NoShard };
        }
        self.change(Op::Move {
            shard: args.shard,
            gid: args.gid,
            id: args.id,
        })
    }

    /// The `Query` handler: the read goes through the log.
    pub fn query(&self, args: QueryArgs) -> QueryReply {
        // solution: begin 5A query-handler
        match self.rsm.submit(&Op::Query { num: args.num }) {
            Ok(Some(config)) => QueryReply {
                err: Err::Ok,
                config,
            },
            Ok(None) | Err(_) => QueryReply {
                err: Err::WrongLeader,
                config: Default::default(),
            },
        }
        // solution: end query-handler
    }

    fn change(&self, op: Op) -> ChangeReply {
        // solution: begin 5A change-handler
        let err = match self.rsm.submit(&op) {
            Ok(_) => Err::Ok,
            Err(rsm::Error::WrongLeader | rsm::Error::Killed) => Err::WrongLeader,
        };
        ChangeReply { err }
        // solution: end change-handler
    }
}
