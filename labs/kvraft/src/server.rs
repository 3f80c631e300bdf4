//! The server: thin RPC handlers over the `rsm` layer. A handler translates a request into an
//! [`Op`], submits it, and translates the output (or why there is none) into a reply; it
//! holds no lock and keeps no state of its own.

use std::sync::Arc;

use labrpc::{ClientEnd, Service};
use raft::{Persister, Raft};
use rsm::Rsm;

use crate::rpc::{Err, GetArgs, GetReply, PutAppendArgs, PutAppendReply, PutOrAppend};
use crate::store::{KvStore, Op};

/// One key/value server and its Raft peer. Clones share them.
#[derive(Clone)]
pub struct KvServer {
    rsm: Rsm<KvStore>,
}

impl KvServer {
    /// Go's `StartKVServer`: server `me` of `servers`, restored from `persister`; it snapshots
    /// when the persisted Raft state reaches `maxraftstate` bytes (`None`: never).
    pub fn start(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Arc<Persister>,
        maxraftstate: Option<usize>,
    ) -> KvServer {
        KvServer::start_with(
            servers,
            me,
            persister,
            maxraftstate,
            rsm::Options::default(),
        )
    }

    /// [`KvServer::start`] with the `rsm` layer's switches beyond the lab (the real cluster's
    /// group commit and ReadIndex); `start` leaves them off.
    pub fn start_with(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Arc<Persister>,
        maxraftstate: Option<usize>,
        options: rsm::Options,
    ) -> KvServer {
        KvServer {
            rsm: Rsm::start_with(
                servers,
                me,
                persister,
                maxraftstate,
                KvStore::default(),
                options,
            ),
        }
    }

    /// The labrpc service `"KVServer"`, with methods `Get` and `PutAppend`.
    pub fn service(&self) -> Service {
        let mut service = Service::new("KVServer");
        let kv = self.clone();
        service.add_method("Get", move |args: GetArgs| kv.get(args));
        let kv = self.clone();
        service.add_method("PutAppend", move |args: PutAppendArgs| kv.put_append(args));
        service
    }

    /// A handle on this server's Raft peer.
    pub fn raft(&self) -> Raft {
        self.rsm.raft()
    }

    /// The snapshots this server has written in the background (not in the lab: `None`
    /// without `rsm::Options::background_snapshots`).
    pub fn snapshot_stats(&self) -> Option<rsm::SnapshotStats> {
        self.rsm.snapshot_stats()
    }

    /// Stops the server and its Raft peer; handlers still waiting answer `WrongLeader` at
    /// once. Returns promptly; calling it again does nothing.
    pub fn kill(&self) {
        self.rsm.kill();
    }

    /// The `Get` handler: the read goes through the log (see the crate's docs), or, with
    /// ReadIndex on (outside the lab), is answered once Raft confirms this server leads.
    pub fn get(&self, args: GetArgs) -> GetReply {
        // solution: begin 4A get-handler
        match self.rsm.query(&Op::Get { key: args.key }) {
            Ok(Some(value)) => GetReply {
                err: Err::Ok,
                value,
            },
            Ok(None) => GetReply {
                err: Err::NoKey,
                value: String::new(),
            },
            Err(err) => GetReply {
                err: reply_err(err),
                value: String::new(),
            },
        }
        // solution: end get-handler
    }

    /// The `PutAppend` handler.
    pub fn put_append(&self, args: PutAppendArgs) -> PutAppendReply {
        // solution: begin 4A put-append-handler
        let PutAppendArgs { key, value, op, id } = args;
        let op = match op {
            PutOrAppend::Put => Op::Put { key, value, id },
            PutOrAppend::Append => Op::Append { key, value, id },
        };
        let err = match self.rsm.submit(&op) {
            Ok(_) => Err::Ok,
            Err(err) => reply_err(err),
        };
        PutAppendReply { err }
        // solution: end put-append-handler
    }
}

/// The reply for an operation that has no output (yet): the clerk tries again elsewhere.
fn reply_err(err: rsm::Error) -> Err {
    match err {
        rsm::Error::WrongLeader | rsm::Error::Killed => Err::WrongLeader,
    }
}
