//! The reconfiguration thread of each server: while its peer leads the group, it moves the
//! group through the controller's configurations, one at a time, and carries out each
//! hand-over. Every decision it takes is an operation on the group's log, so a new leader
//! picks up where the last one stopped.
//!
//! Every [`POLL_EVERY`], if this server leads:
//! - the hand-over is over (every shard `Serving`): ask the controller for the next
//!   configuration and submit it (`Configure`);
//! - else, for each group that owned shards this group now owns, at once: `Pull` the shards
//!   still `Pulling` and submit them (`Insert`); `Delete` the old copies of those `Collecting`
//!   and, once gone, submit `Collected`.
//!
//! Each RPC asks every server of the other group once per round; a group that is down holds up
//! only its own shards, which is challenge 2's point.

use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use shardctrler::Config;

use crate::logging::glog;
use crate::rpc::{DeleteArgs, DeleteReply, Err, PullArgs, PullReply};
use crate::server::ShardKv;
use crate::store::{Op, Plan, Transfer};

/// How often the leader looks for work (Go's lab: poll the controller about every 100 ms).
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// The thread's body, until `stop` closes.
pub(crate) fn run(kv: &ShardKv, mut ctrler: shardctrler::Clerk, stop: &Receiver<()>) {
    // solution: begin 5A reconfig-run
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(POLL_EVERY) {
        if !kv.raft().get_state().1 {
            continue;
        }
        match kv.inspect(|store| store.plan()) {
            Plan::Poll { next } => {
                if let Some(config) = ctrler.query_once(Some(next))
                    && config.num == next
                {
                    configure(kv, config);
                }
            }
            // solution: begin 5B reconfig-hand-over
            Plan::HandOver { num, pull, collect } => thread::scope(|s| {
                for transfer in &pull {
                    s.spawn(move || pull_from(kv, num, transfer));
                }
                for transfer in &collect {
                    s.spawn(move || collect_from(kv, num, transfer));
                }
            }),
            // solution: end reconfig-hand-over
        }
    }
    // solution: end reconfig-run
}

fn configure(kv: &ShardKv, config: Config) {
    glog!(
        CONF,
        kv.inner.me,
        kv.inner.gid,
        "configuration {}: {:?}",
        config.num,
        config.shards
    );
    let _ = kv.inner.rsm.submit(&Op::Configure { config });
}

/// Pulls `transfer`'s shards from their previous owner and submits them.
fn pull_from(kv: &ShardKv, num: u64, transfer: &Transfer) {
    // solution: begin 5B reconfig-pull
    let args = PullArgs {
        num,
        shards: transfer.shards.clone(),
    };
    for name in &transfer.servers {
        let reply: Option<PullReply> = kv.inner.ends.to(name).call("ShardKV.Pull", &args);
        if let Some(reply) = reply
            && reply.err == Err::Ok
        {
            glog!(
                PULL,
                kv.inner.me,
                kv.inner.gid,
                "configuration {num}: shards {:?} from G{}",
                transfer.shards,
                transfer.from
            );
            let op = Op::Insert {
                num,
                shards: reply.shards,
            };
            let _ = kv.inner.rsm.submit(&op);
            return;
        }
    }
    // solution: end reconfig-pull
}

/// Has the previous owner delete its copies of `transfer`'s shards, then submits `Collected`.
fn collect_from(kv: &ShardKv, num: u64, transfer: &Transfer) {
    // solution: begin 5B reconfig-collect
    let args = DeleteArgs {
        num,
        shards: transfer.shards.clone(),
    };
    for name in &transfer.servers {
        let reply: Option<DeleteReply> = kv.inner.ends.to(name).call("ShardKV.Delete", &args);
        if let Some(reply) = reply
            && reply.err == Err::Ok
        {
            let op = Op::Collected {
                num,
                shards: transfer.shards.clone(),
            };
            let _ = kv.inner.rsm.submit(&op);
            return;
        }
    }
    // solution: end reconfig-collect
}
