//! What stands in for each solution region of the lab's sources (`src/`, `rsm/src/`,
//! `kvraft/src/`, `shardctrler/src/`, `shardkv/src/`) in a skeleton, keyed by the region's name. The reference source holds only
//! the markers; the stubs live here.
//!
//! A stub must compile, keep the peer or server running (every long-lived thread still exits
//! on `kill`, which joins it; no panics), and leave its part's tests failing while the earlier
//! parts' tests pass. Most stubs do the least their signature allows: a handler refuses, a
//! sender only frees its sender slot, a thread waits for `kill`. Their lines are indented as at
//! the region's begin marker.
//!
//! `With::Nothing` removes a region without a trace: the calls of `persist_locked` (PartC asks
//! where to persist as much as how, so a placeholder at each call would give it away), an item
//! only the solution uses, and the unit tests of the functions a part stubs.

/// The stub of one region.
pub(super) struct Stub {
    /// The region's name, as in `// solution: begin PartA <name>` or `// solution: begin 4A <name>`.
    pub name: &'static str,
    /// What the student writes there, for the skeleton's README (a region removed without a
    /// trace says what it held, for this file's reader).
    pub what: &'static str,
    pub with: With,
}

pub(super) enum With {
    /// `// Your code here (PartX).`, then these lines.
    Code(&'static str),
    /// Nothing at all.
    Nothing,
}

use With::{Code, Nothing};

/// Frees the sender slot of a call that returned: the one duty of a reply path (`sender.rs`).
const CALL_RETURNED: &str = "\
let mut st = self.state.lock();
self.call_finished_locked(&mut st, to);";

pub(super) const STUBS: &[Stub] = &[
    // src/election.rs
    Stub {
        name: "up-to-date-check",
        what: "`is_log_up_to_date`: the election restriction (§5.4.1)",
        with: Code("false"),
    },
    Stub {
        name: "election-ticker",
        what: "`run_election_ticker`: start an election when the election timeout passes without \
               word from a leader (the stub only waits for `kill`)",
        with: Code(
            "\
let mut st = peer.state.lock();
while !st.dead {
    peer.election_wake.wait(&mut st);
}",
        ),
    },
    Stub {
        name: "start-election",
        what: "`start_election_locked`: become a candidate, and the RequestVotes to send",
        with: Code("Vec::new()"),
    },
    Stub {
        name: "send-request-vote",
        what: "`send_request_vote`: send one RequestVote and process its reply",
        with: Code(CALL_RETURNED),
    },
    Stub {
        name: "request-vote-reply",
        what: "`handle_request_vote_reply_locked`: count a vote; a majority makes a leader",
        with: Code("false"),
    },
    Stub {
        name: "request-vote-handler",
        what: "`request_vote`: the RequestVote handler (Figure 2)",
        with: Code("RequestVoteReply::default()"),
    },
    Stub {
        name: "persist-vote",
        what: "saving a granted vote",
        with: Nothing,
    },
    Stub {
        name: "election-tests",
        what: "the unit test of `is_log_up_to_date`",
        with: Nothing,
    },
    // src/state.rs
    Stub {
        name: "observe-term",
        what: "`maybe_observe_term_locked`: a newer term makes any peer a follower (§5.1)",
        with: Code("false"),
    },
    Stub {
        name: "become-follower",
        what: "`become_follower_locked`",
        with: Code(""),
    },
    Stub {
        name: "persist-term",
        what: "saving a new term",
        with: Nothing,
    },
    Stub {
        name: "become-candidate",
        what: "`become_candidate_locked`",
        with: Code(""),
    },
    Stub {
        name: "persist-candidate",
        what: "saving a candidate's term and vote",
        with: Nothing,
    },
    Stub {
        name: "become-leader",
        what: "`become_leader_locked`",
        with: Code(""),
    },
    // src/raft.rs
    Stub {
        name: "get-state",
        what: "`Raft::get_state`",
        with: Code("(0, false)"),
    },
    Stub {
        name: "start",
        what: "`Raft::start`: append a command to the leader's log",
        with: Code(
            "\
let st = self.peer.state.lock();
(0, st.current_term, false)",
        ),
    },
    Stub {
        name: "persist-start",
        what: "saving the log after `start` appended to it",
        with: Nothing,
    },
    Stub {
        name: "corrupt-state-test",
        what: "the unit test of `make` on corrupt persisted state",
        with: Nothing,
    },
    Stub {
        name: "raft-tests",
        what: "the unit tests of `kill`, which need an election, a commit and the applier",
        with: Nothing,
    },
    // src/replication.rs
    Stub {
        name: "majority-match-index",
        what: "`majority_match_index`: the index a majority holds",
        with: Code("0"),
    },
    Stub {
        name: "leader-commit-index",
        what: "`leader_commit_index`: the leader's commit rule (§5.3, §5.4, Figure 8)",
        with: Code("commit_index"),
    },
    Stub {
        name: "fast-backup-leader",
        what: "`next_index_after_rejection`: fast backup, the leader's side",
        with: Code("0"),
    },
    Stub {
        name: "start-replicators",
        what: "`start_replicators`: the new leader's threads that send AppendEntries",
        with: Code(""),
    },
    Stub {
        name: "replicator",
        what: "`run_replicator`: a leader's thread per follower, which sends it AppendEntries \
               (heartbeats first)",
        with: Code(""),
    },
    Stub {
        name: "replicator-snapshot",
        what: "`run_replicator`: an InstallSnapshot for a follower that needs entries the log \
               no longer holds",
        with: Code("let call = peer.append_entries_call_locked(&mut st, to);"),
    },
    Stub {
        name: "next-send-at",
        what: "`next_send_at`: when a follower is owed entries or the commit index (the stub: \
               at its heartbeats only)",
        with: Code("st.progress[to].heartbeat_due"),
    },
    Stub {
        name: "append-entries-call",
        what: "`append_entries_call_locked`: an AppendEntries for a follower, as a call",
        with: Code("Box::new(|| {})"),
    },
    Stub {
        name: "append-entries-args",
        what: "`append_entries_call_locked`: the entries from `next_index`, and the commit index \
               (the stub: a bare heartbeat)",
        with: Code(
            "\
let args = AppendEntriesArgs {
    term: st.current_term,
    leader_id: st.me,
    prev_log_index: 0,
    prev_log_term: 0,
    entries: Vec::new(),
    leader_commit: 0,
};",
        ),
    },
    Stub {
        name: "send-append-entries",
        what: "`send_append_entries`: send one AppendEntries and process its reply",
        with: Code(CALL_RETURNED),
    },
    Stub {
        name: "append-entries-reply",
        what: "`handle_append_entries_reply_locked`: a newer term, a stale reply",
        with: Code(""),
    },
    Stub {
        name: "append-entries-reply-log",
        what: "`handle_append_entries_reply_locked`: `match_index` and `next_index`, fast backup",
        with: Code(""),
    },
    Stub {
        name: "advance-commit-index",
        what: "`advance_commit_index_locked`: commit what a majority holds",
        with: Code(""),
    },
    Stub {
        name: "append-entries-handler",
        what: "`append_entries`: the AppendEntries handler: terms, and hearing from the leader",
        with: Code("AppendEntriesReply::default()"),
    },
    Stub {
        name: "append-entries-log",
        what: "`append_entries`: the log check with the fast-backup hint, appending, and the \
               commit index (Figure 2, steps 2-5)",
        with: Code(""),
    },
    Stub {
        name: "append-entries-snapshot-boundary",
        what: "`append_entries`: a `prev_log_index` inside the snapshot",
        with: Code(""),
    },
    Stub {
        name: "persist-append",
        what: "saving the log after AppendEntries changed it",
        with: Nothing,
    },
    Stub {
        name: "accept-leader",
        what: "`accept_leader_locked`: a valid AppendEntries from the leader of the term",
        with: Code(""),
    },
    Stub {
        name: "replication-tests",
        what: "the unit tests of the commit rule and fast backup",
        with: Nothing,
    },
    // src/read_index.rs
    Stub {
        name: "read-index-test",
        what: "the test of `Raft::read_index` on a cluster (it needs elections and commits)",
        with: Nothing,
    },
    // src/log.rs
    Stub {
        name: "log-merge",
        what: "`Log::merge`: AppendEntries receiver steps 3 and 4",
        with: Code("false"),
    },
    Stub {
        name: "first-index-of-term",
        what: "`Log::first_index_of_term`: fast backup, the follower's side",
        with: Code("index"),
    },
    Stub {
        name: "last-index-of-term",
        what: "`Log::last_index_of_term`: fast backup, the leader's side",
        with: Code("None"),
    },
    Stub {
        name: "compact-to",
        what: "`Log::compact_to`: discard the log through a snapshot's index",
        with: Code(""),
    },
    Stub {
        name: "install-snapshot-log",
        what: "`Log::install_snapshot`: Figure 13, steps 6 and 7",
        with: Code(""),
    },
    Stub {
        name: "log-tests-snapshot-index",
        what: "the unit tests of the index mapping after `compact_to`",
        with: Nothing,
    },
    Stub {
        name: "log-tests-merge",
        what: "the unit test of `Log::merge`",
        with: Nothing,
    },
    Stub {
        name: "log-tests-compaction",
        what: "the unit tests of merge and fast backup after a snapshot, and of `install_snapshot`",
        with: Nothing,
    },
    Stub {
        name: "log-tests-committed",
        what: "the unit test that `Log::merge` never truncates a committed entry",
        with: Nothing,
    },
    // src/persist.rs
    Stub {
        name: "persist-header",
        what: "the solution's encoding ahead of the log's entries",
        with: Nothing,
    },
    Stub {
        name: "encode-state",
        what: "`encode_state`: Figure 2's persistent state, with labgob",
        with: Code("Vec::new()"),
    },
    Stub {
        name: "decode-state",
        what: "`decode_state`: the state `make` restores, checked",
        with: Code("Ok(None)"),
    },
    Stub {
        name: "persist",
        what: "`persist_locked`: save the persistent state, and call it wherever it changes",
        with: Code(""),
    },
    Stub {
        name: "persist-incremental",
        what: "the solution's saving in parts, which copies only what changed",
        with: Nothing,
    },
    Stub {
        name: "persist-snapshot",
        what: "`persist_snapshot_locked`: save state and snapshot together",
        with: Code(""),
    },
    Stub {
        name: "persist-tests",
        what: "the unit tests of the encoding",
        with: Nothing,
    },
    Stub {
        name: "persist-test-compaction",
        what: "the unit test of the encoding after the log changes, snapshots included",
        with: Nothing,
    },
    Stub {
        name: "persist-test-incremental",
        what: "the unit test of saving in parts",
        with: Nothing,
    },
    // src/snapshot.rs
    Stub {
        name: "snapshot",
        what: "`snapshot`: the service's snapshot; compact the log and save both",
        with: Code(""),
    },
    Stub {
        name: "install-snapshot-call",
        what: "`install_snapshot_call_locked`: an InstallSnapshot for a follower, as a call",
        with: Code("Box::new(|| {})"),
    },
    Stub {
        name: "send-install-snapshot",
        what: "`send_install_snapshot`: send one InstallSnapshot and process its reply",
        with: Code(CALL_RETURNED),
    },
    Stub {
        name: "install-snapshot-reply",
        what: "`handle_install_snapshot_reply_locked`",
        with: Code(""),
    },
    Stub {
        name: "install-snapshot-handler",
        what: "`install_snapshot`: the InstallSnapshot handler (Figure 13)",
        with: Code("InstallSnapshotReply::default()"),
    },
    // src/apply.rs
    Stub {
        name: "applier",
        what: "`run_applier`: the one thread that sends committed commands on `apply_ch` (the \
               stub only waits for `kill`)",
        with: Code(
            "\
let mut st = peer.state.lock();
while !st.dead {
    peer.apply_wake.wait(&mut st);
}",
        ),
    },
    Stub {
        name: "applier-snapshot-wait",
        what: "`run_applier`: an installed snapshot to deliver",
        with: Code(""),
    },
    Stub {
        name: "next-batch",
        what: "`next_batch_locked`: the committed commands to deliver next",
        with: Code("Vec::new()"),
    },
    Stub {
        name: "next-batch-snapshot",
        what: "`next_batch_locked`: a snapshot goes to the service before any later command",
        with: Code(""),
    },
    // rsm/src/rsm.rs
    Stub {
        name: "submit",
        what: "`Rsm::submit`: hand an operation to Raft, wait at its index, answer with its output \
               or why there is none",
        with: Code("Err(Error::WrongLeader)"),
    },
    Stub {
        name: "restore",
        what: "`restore`: the state machine and its last index from a snapshot",
        with: Code("None"),
    },
    Stub {
        name: "wait",
        what: "`Inner::wait`: a handler's wait for its entry, until it lost its term",
        with: Code("Err(Error::WrongLeader)"),
    },
    Stub {
        name: "reader",
        what: "`Inner::read`: the reader thread, which takes everything Raft commits, in order \
               (the stub drops it), until `kill`",
        with: Code(
            "\
loop {
    crossbeam_channel::select! {
        recv(apply_rx) -> msg => if msg.is_err() { return },
        recv(kill_rx) -> _ => return,
    }
}",
        ),
    },
    Stub {
        name: "apply-command",
        what: "`Inner::apply_command`: apply a committed operation, answer the handler waiting \
               at its index",
        with: Code(""),
    },
    Stub {
        name: "snapshot-trigger",
        what: "`Inner::apply_command`: a snapshot of the state machine once the Raft state has \
               grown to `maxraftstate`",
        with: Code("let snapshot: Option<Vec<u8>> = None;"),
    },
    Stub {
        name: "install-snapshot",
        what: "`Inner::install_snapshot`: a snapshot from the leader replaces the state machine, \
               unless it is older",
        with: Code(""),
    },
    // rsm/src/waiters.rs
    Stub {
        name: "waiters-starting",
        what: "`Waiters::starting`: a handler goes into `Raft::start`",
        with: Code(""),
    },
    Stub {
        name: "waiters-started",
        what: "`Waiters::started`: a handler is back from `Raft::start`; its entry may be applied \
               already",
        with: Code("None"),
    },
    Stub {
        name: "waiters-insert",
        what: "`Waiters::insert`: wait at an index; a reused index displaces the older waiter",
        with: Code("None"),
    },
    Stub {
        name: "waiters-applied",
        what: "`Waiters::applied`: the verdict for the waiter at an applied index",
        with: Code("None"),
    },
    Stub {
        name: "waiters-covered",
        what: "`Waiters::covered`: the waiters an installed snapshot covers",
        with: Code("Vec::new()"),
    },
    Stub {
        name: "waiters-remove",
        what: "`Waiters::remove`: a handler that stopped waiting takes its waiter back",
        with: Code("None"),
    },
    Stub {
        name: "waiters-drain",
        what: "`Waiters::drain`: every waiter, at `kill`",
        with: Code("Vec::new()"),
    },
    Stub {
        name: "waiters-tests",
        what: "the unit tests of the wait table",
        with: Nothing,
    },
    Stub {
        name: "waiters-test-covered",
        what: "the unit test of `Waiters::covered`",
        with: Nothing,
    },
    // rsm/src/sessions.rs
    Stub {
        name: "sessions-is-duplicate",
        what: "`Sessions::is_duplicate`: was this clerk's operation applied already?",
        with: Code("false"),
    },
    Stub {
        name: "sessions-record",
        what: "`Sessions::record`: remember a clerk's last operation (the stub remembers nothing)",
        with: Code("true"),
    },
    Stub {
        name: "sessions-tests",
        what: "the unit tests of the duplicate table",
        with: Nothing,
    },
    // rsm/src/snapshot.rs
    Stub {
        name: "snapshot-is-due",
        what: "`is_due`: when the service snapshots",
        with: Code("false"),
    },
    Stub {
        name: "snapshot-is-due-test",
        what: "the unit test of `is_due`",
        with: Nothing,
    },
    // kvraft/src/client.rs
    Stub {
        name: "clerk-seq",
        what: "`Clerk::put_append`: number the clerk's writes",
        with: Code(""),
    },
    Stub {
        name: "clerk-op-id",
        what: "`Clerk::put_append`: the write's id for the duplicate table",
        with: Code("id: OpId { clerk: 0, seq: 0 },"),
    },
    Stub {
        name: "clerk-call",
        what: "`Clerk::call`: retry until a server has done the operation: the last leader first, \
               then the others (the stub asks the first server until it answers)",
        with: Code(
            "\
loop {
    if let Some(reply) = self.servers[self.leader].call::<A, R>(method, args) {
        return reply;
    }
    thread::sleep(ROUND_BACKOFF);
}",
        ),
    },
    // kvraft/src/server.rs
    Stub {
        name: "get-handler",
        what: "`KvServer::get`: the `Get` handler, through the log",
        with: Code(
            "\
GetReply {
    err: Err::WrongLeader,
    value: String::new(),
}",
        ),
    },
    Stub {
        name: "put-append-handler",
        what: "`KvServer::put_append`: the `PutAppend` handler",
        with: Code("PutAppendReply { err: Err::WrongLeader }"),
    },
    // kvraft/src/store.rs
    Stub {
        name: "store-apply",
        what: "`KvStore::apply`: the state machine's `Get`, `Put` and `Append`, each write once",
        with: Code("None"),
    },
    Stub {
        name: "store-tests",
        what: "the unit tests of the store",
        with: Nothing,
    },
    // shardctrler/src/config.rs
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
    // shardctrler/src/store.rs
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
    // shardctrler/src/server.rs
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
    // shardctrler/src/client.rs
    Stub {
        name: "ctrler-clerk-round",
        what: "`Clerk::round`: ask each controller once, the last leader first, until one's reply \
               is done (the stub asks the first and takes what it says)",
        with: Code("self.servers.first().and_then(|end| end.call::<A, R>(method, args))"),
    },
    // shardkv/src/shard.rs
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
    // shardkv/src/store.rs
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
    // shardkv/src/server.rs
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
    // shardkv/src/reconfig.rs
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
    // shardkv/src/client.rs
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
