//! The stubs of lab 5, the sharded service (5A, 5B): the solution regions of
//! `labs/shardctrler/src/` (the configurations, the controller and its clerk) and `labs/shardkv/src/`
//! (the shards, the groups' servers, reconfiguration, the clerk), under a comment naming each
//! file.

use super::Stub;
use super::With::{Code, Nothing};

/// Lab 5's stubs, file by file.
pub(super) const STUBS: &[Stub] = &[
    // labs/shardctrler/src/config.rs
    Stub {
        name: "rebalance",
        what: "`rebalance`: the shards over the groups, balanced, moving as few as possible, the \
               same on every replica (the stub moves none)",
        with: Code("*shards"),
    },
    Stub {
        name: "rebalance-tests",
        what: "the unit tests of `rebalance`",
        with: Nothing,
    },
    // labs/shardctrler/src/store.rs
    Stub {
        name: "configs-apply",
        what: "`Configs::apply`: Join, Leave, Move and Query, each change once, each making the \
               next configuration",
        with: Code("None"),
    },
    Stub {
        name: "configs-tests",
        what: "the unit tests of the controller's state machine",
        with: Nothing,
    },
    // labs/shardctrler/src/server.rs
    Stub {
        name: "query-handler",
        what: "`ShardCtrler::query`: the `Query` handler, through the log",
        with: Code(
            "\
QueryReply {
    err: Err::WrongLeader,
    config: Default::default(),
}",
        ),
    },
    Stub {
        name: "change-handler",
        what: "`ShardCtrler::change`: the `Join`, `Leave` and `Move` handlers' common part",
        with: Code("ChangeReply { err: Err::WrongLeader }"),
    },
    // labs/shardctrler/src/client.rs
    Stub {
        name: "ctrler-clerk-round",
        what: "`Clerk::round`: ask each controller once, the last leader first, until one's reply \
               is done (the stub asks the first and takes what it says)",
        with: Code("self.servers.first().and_then(|end| end.call::<A, R>(method, args))"),
    },
    // labs/shardkv/src/shard.rs
    Stub {
        name: "shard-change",
        what: "`change`: what a new configuration does to one shard (the stub, as a 5A server \
               would: a shard that becomes this group's is created empty, nothing is handed over)",
        with: Code(
            "\
if was != gid && now == gid {
    Change::Create
} else {
    Change::Unchanged
}",
        ),
    },
    Stub {
        name: "shard-change-tests",
        what: "the unit tests of `change`",
        with: Nothing,
    },
    // labs/shardkv/src/store.rs
    Stub {
        name: "shard-store-apply",
        what: "`ShardStore::apply`: Get, Put and Append on the shards this group serves, each write \
               once, and `Configure`",
        with: Code("Output::WrongGroup"),
    },
    Stub {
        name: "shard-store-hand-over",
        what: "`ShardStore::apply`: the hand-over's steps, `Insert`, `Delete` and `Collected`",
        with: Code(
            "Op::Insert { .. } | Op::Delete { .. } | Op::Collected { .. } => Output::NotReady,",
        ),
    },
    Stub {
        name: "shard-store-tests",
        what: "the unit tests of the shard store's hand-over",
        with: Nothing,
    },
    Stub {
        name: "shard-store-handed-off",
        what: "`ShardStore::handed_off`: the shards handed off in a configuration, if they are here",
        with: Code("None"),
    },
    Stub {
        name: "shard-store-plan",
        what: "`ShardStore::plan`: what the leader does next: poll, or pull and collect (the stub \
               always polls)",
        with: Code(
            "\
Plan::Poll {
    next: self.config.num + 1,
}",
        ),
    },
    Stub {
        name: "shard-store-configure",
        what: "`ShardStore::configure`: apply the next configuration, one at a time, in order",
        with: Code(""),
    },
    Stub {
        name: "shard-store-configure-hand-over",
        what: "`ShardStore::configure`: shards that arrive start `Pulling`, shards that leave \
               `HandingOff`",
        with: Code("Change::Pull { .. } | Change::HandOff => {}"),
    },
    // labs/shardkv/src/server.rs
    Stub {
        name: "shardkv-get-handler",
        what: "`ShardKv::get`: the `Get` handler, through the log",
        with: Code(
            "\
GetReply {
    err: Err::WrongLeader,
    value: String::new(),
}",
        ),
    },
    Stub {
        name: "shardkv-put-append-handler",
        what: "`ShardKv::put_append`: the `PutAppend` handler",
        with: Code("PutAppendReply { err: Err::WrongLeader }"),
    },
    Stub {
        name: "pull-handler",
        what: "`ShardKv::pull`: another group's `Pull`: the shards handed off to it",
        with: Code(
            "\
PullReply {
    err: Err::NotReady,
    shards: Default::default(),
}",
        ),
    },
    Stub {
        name: "delete-handler",
        what: "`ShardKv::delete`: another group's `Delete`: drop the copies it has received",
        with: Code("DeleteReply { err: Err::NotReady }"),
    },
    // labs/shardkv/src/reconfig.rs
    Stub {
        name: "reconfig-run",
        what: "`run`: the leader's thread: poll the controller, submit each next configuration, \
               carry out the hand-overs (the stub only waits for `kill`)",
        with: Code("let _ = stop.recv();"),
    },
    Stub {
        name: "reconfig-hand-over",
        what: "`run`: a hand-over under way: pull and collect, for each other group at once",
        with: Code("Plan::HandOver { .. } => {}"),
    },
    Stub {
        name: "reconfig-pull",
        what: "`pull_from`: pull shards from their previous owner, and submit them",
        with: Code(""),
    },
    Stub {
        name: "reconfig-collect",
        what: "`collect_from`: have the previous owner delete its copies, then submit `Collected`",
        with: Code(""),
    },
    // labs/shardkv/src/client.rs
    Stub {
        name: "shardkv-clerk-call",
        what: "`Clerk::call`: find the group serving the key, retry across its servers, ask the \
               controller again on a wrong group (the stub asks the first server of the group once \
               per configuration it fetches)",
        with: Code(
            "\
loop {
    self.config = self.ctrler.query(None);
    let servers = self.config.groups.get(&self.config.shards[key2shard(key)]);
    if let Some(name) = servers.and_then(|servers| servers.first())
        && let Some(reply) = self.ends.to(name).call::<A, R>(method, args)
    {
        return reply;
    }
    thread::sleep(ROUND_BACKOFF);
}",
        ),
    },
];
