//! The stubs of lab 3, Raft (PartA-PartD): the solution regions of `src/`, under a comment
//! naming each file.

use super::Stub;
use super::With::{Code, Nothing};

/// Frees the sender slot of a call that returned: the one duty of a reply path (`sender.rs`).
const CALL_RETURNED: &str = "\
let mut st = self.state.lock();
self.call_finished_locked(&mut st, to);";

/// Raft's stubs, file by file.
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
        name: "replication-call",
        what: "`replication_call_locked`: the call a follower is owed now",
        with: Code("self.append_entries_call_locked(st, to)"),
    },
    Stub {
        name: "replicator-snapshot",
        what: "`replication_call_locked`: an InstallSnapshot for a follower that needs entries \
               the log no longer holds",
        with: Nothing,
    },
    Stub {
        name: "after-call",
        what: "`after_call`: after a reply, the next call at once if one is owed (the stub: \
               wake the replicator)",
        with: Code("self.replicate_wake[to].notify_all();\nNone"),
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
        with: Code("self.call_to(to, |_| {})"),
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
        name: "log-tests-tail",
        what: "the unit tests of the tail the log keeps after compaction (beyond the lab)",
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
        name: "snapshot-saved",
        what: "`snapshot_saved_locked`: what follows saving a new snapshot",
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
        name: "snapshot-acceptable",
        what: "`snapshot_acceptable_locked`: whether the service may snapshot through an index",
        with: Code("false"),
    },
    Stub {
        name: "install-snapshot-call",
        what: "`install_snapshot_call_locked`: an InstallSnapshot for a follower, as a call",
        with: Code("self.call_to(to, |_| {})"),
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
    Stub {
        name: "snapshot-covered",
        what: "`covered_locked`: a snapshot that adds nothing to the log",
        with: Code("false"),
    },
    Stub {
        name: "install",
        what: "`install_locked`: install a snapshot (Figure 13, steps 6-8)",
        with: Code(""),
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
        name: "applier-read-snapshot",
        what: "`run_applier`: read an installed snapshot from the persister",
        with: Code("Batch::Snapshot { .. } => Vec::new(),"),
    },
    Stub {
        name: "applier-snapshot-wait",
        what: "`run_applier`: an installed snapshot to deliver",
        with: Code(""),
    },
    Stub {
        name: "next-batch",
        what: "`next_batch_locked`: the committed commands to deliver next",
        with: Code("Batch::Commands(Vec::new())"),
    },
    Stub {
        name: "next-batch-snapshot",
        what: "`next_batch_locked`: a snapshot goes to the service before any later command",
        with: Code(""),
    },
];
