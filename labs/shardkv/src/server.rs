//! The server: thin RPC handlers over the `rsm` layer (the clerk's Get and PutAppend, and the
//! other groups' Pull and Delete), and the start and kill of a group member with its
//! reconfiguration thread (`reconfig.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use labrpc::{ClientEnd, Service};
use parking_lot::Mutex;
use raft::{Persister, Raft};
use rsm::Rsm;

use crate::MakeEnd;
use crate::reconfig;
use crate::rpc::{
    DeleteArgs, DeleteReply, Err, GetArgs, GetReply, PullArgs, PullReply, PutAppendArgs,
    PutAppendReply, PutOrAppend,
};
use crate::store::{Op, Output, ShardStore};

/// One server of a replica group, and its Raft peer. Clones share them.
#[derive(Clone)]
pub struct ShardKv {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) rsm: Rsm<ShardStore>,
    pub(crate) me: usize,
    pub(crate) gid: u64,
    /// Ends to the other groups' servers, by name.
    pub(crate) ends: Ends,
    /// Dropped by `kill`, which wakes the reconfiguration thread.
    stop: Mutex<Option<Sender<()>>>,
    /// The reconfiguration thread, joined by `kill`.
    reconfig: Mutex<Option<JoinHandle<()>>>,
}

/// Ends to servers named in configurations, made once per name with the harness's `make_end`
/// (Go's clerk makes a new end at every call; the network would keep them all).
pub(crate) struct Ends {
    make_end: MakeEnd,
    made: Mutex<HashMap<String, ClientEnd>>,
}

impl Ends {
    pub(crate) fn new(make_end: MakeEnd) -> Ends {
        Ends {
            make_end,
            made: Mutex::new(HashMap::new()),
        }
    }

    /// The end to server `name`.
    pub(crate) fn to(&self, name: &str) -> ClientEnd {
        let mut made = self.made.lock();
        made.entry(name.to_string())
            .or_insert_with(|| (self.make_end)(name))
            .clone()
    }
}

impl ShardKv {
    /// Go's `StartServer`: server `me` of group `gid`, whose members are `servers`, restored
    /// from `persister`; it snapshots when the persisted Raft state reaches `maxraftstate`
    /// bytes (`None`: never). It asks the controllers `ctrlers` for configurations, and reaches
    /// the other groups' servers through `make_end`.
    pub fn start(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Arc<Persister>,
        maxraftstate: Option<usize>,
        gid: u64,
        ctrlers: Vec<ClientEnd>,
        make_end: MakeEnd,
    ) -> ShardKv {
        let rsm = Rsm::start_from(servers, me, persister, maxraftstate, ShardStore::new(gid));
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        let kv = ShardKv {
            inner: Arc::new(Inner {
                rsm,
                me,
                gid,
                ends: Ends::new(make_end),
                stop: Mutex::new(Some(stop_tx)),
                reconfig: Mutex::new(None),
            }),
        };
        let ctrler = shardctrler::Clerk::new(ctrlers);
        let thread = {
            let kv = kv.clone();
            raft::spawn_aborting(format!("shardkv{gid}-{me}-reconfig"), move || {
                reconfig::run(&kv, ctrler, &stop_rx)
            })
        };
        *kv.inner.reconfig.lock() = Some(thread);
        kv
    }

    /// The labrpc service `"ShardKV"`: `Get` and `PutAppend` for clerks, `Pull` and `Delete`
    /// for the other groups.
    pub fn service(&self) -> Service {
        let mut service = Service::new("ShardKV");
        let kv = self.clone();
        service.add_method("Get", move |args: GetArgs| kv.get(args));
        let kv = self.clone();
        service.add_method("PutAppend", move |args: PutAppendArgs| kv.put_append(args));
        let kv = self.clone();
        service.add_method("Pull", move |args: PullArgs| kv.pull(args));
        let kv = self.clone();
        service.add_method("Delete", move |args: DeleteArgs| kv.delete(args));
        service
    }

    /// A handle on this server's Raft peer.
    pub fn raft(&self) -> Raft {
        self.inner.rsm.raft()
    }

    /// This server's group.
    pub fn gid(&self) -> u64 {
        self.inner.gid
    }

    /// Runs `f` on the group's state as this server has applied it (for status displays and
    /// tests; not a linearizable read).
    pub fn inspect<T>(&self, f: impl FnOnce(&ShardStore) -> T) -> T {
        self.inner.rsm.inspect(f)
    }

    /// Stops the server, its Raft peer and its reconfiguration thread; handlers still waiting
    /// answer `WrongLeader` at once. Returns promptly; calling it again does nothing.
    pub fn kill(&self) {
        self.inner.rsm.kill();
        self.inner.stop.lock().take();
        let thread = self.inner.reconfig.lock().take();
        if let Some(thread) = thread {
            thread
                .join()
                .expect("the reconfiguration thread aborts the process if it panics");
        }
    }

    /// The `Get` handler: the read goes through the group's log, and is answered only if the
    /// group serves the key's shard when the read is applied.
    pub fn get(&self, args: GetArgs) -> GetReply {
        // solution: begin 5A shardkv-get-handler
        let (err, value) = match self.inner.rsm.submit(&Op::Get { key: args.key }) {
            Ok(Output::Done(Some(value))) => (Err::Ok, value),
            Ok(Output::Done(None)) => (Err::NoKey, String::new()),
            Ok(Output::WrongGroup | Output::NotReady) => (Err::WrongGroup, String::new()),
            Err(_) => (Err::WrongLeader, String::new()),
        };
        GetReply { err, value }
        // solution: end shardkv-get-handler
    }

    /// The `PutAppend` handler.
    pub fn put_append(&self, args: PutAppendArgs) -> PutAppendReply {
        // solution: begin 5A shardkv-put-append-handler
        let PutAppendArgs { key, value, op, id } = args;
        let op = match op {
            PutOrAppend::Put => Op::Put { key, value, id },
            PutOrAppend::Append => Op::Append { key, value, id },
        };
        let err = match self.inner.rsm.submit(&op) {
            Ok(Output::Done(_)) => Err::Ok,
            Ok(Output::WrongGroup | Output::NotReady) => Err::WrongGroup,
            Err(_) => Err::WrongLeader,
        };
        PutAppendReply { err }
        // solution: end shardkv-put-append-handler
    }

    /// The `Pull` handler: the shards this group handed off in configuration `args.num`. Any
    /// server that has applied that configuration answers: the shards are frozen then, the
    /// same on every replica, so the read need not go through the log.
    pub fn pull(&self, args: PullArgs) -> PullReply {
        // solution: begin 5B pull-handler
        match self.inspect(|store| store.handed_off(args.num, &args.shards)) {
            Some(shards) => PullReply {
                err: Err::Ok,
                shards,
            },
            None => PullReply {
                err: Err::NotReady,
                shards: Default::default(),
            },
        }
        // solution: end pull-handler
    }

    /// The `Delete` handler: the new owner has the shards, so this group deletes its copies,
    /// through its log.
    pub fn delete(&self, args: DeleteArgs) -> DeleteReply {
        // solution: begin 5B delete-handler
        let op = Op::Delete {
            num: args.num,
            shards: args.shards,
        };
        let err = match self.inner.rsm.submit(&op) {
            Ok(Output::Done(_)) => Err::Ok,
            Ok(Output::WrongGroup | Output::NotReady) => Err::NotReady,
            Err(_) => Err::WrongLeader,
        };
        DeleteReply { err }
        // solution: end delete-handler
    }
}
