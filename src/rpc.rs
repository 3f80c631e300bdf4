//! Every RPC's arguments and reply (PartA: RequestVote; PartB: AppendEntries; PartD:
//! InstallSnapshot), as Figure 2 and Figure 13 define them. The structs cross the labrpc network
//! encoded with labgob; their senders and handlers live in `election.rs`, `replication.rs` and
//! `snapshot.rs`.

use serde::{Deserialize, Serialize};

use crate::log::Entry;

/// RequestVote RPC arguments (Figure 2): invoked by candidates to gather votes (§5.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestVoteArgs {
    /// Candidate's term.
    pub term: u64,
    /// Candidate requesting the vote.
    pub candidate_id: usize,
    /// Index of the candidate's last log entry (§5.4).
    pub last_log_index: u64,
    /// Term of the candidate's last log entry (§5.4).
    pub last_log_term: u64,
}

/// RequestVote RPC reply (Figure 2).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RequestVoteReply {
    /// `current_term`, for the candidate to update itself.
    pub term: u64,
    /// True means the candidate received the vote.
    pub vote_granted: bool,
}

/// AppendEntries RPC arguments (Figure 2): invoked by the leader to replicate log entries (§5.3);
/// also used as heartbeat (§5.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppendEntriesArgs {
    /// Leader's term.
    pub term: u64,
    /// So the follower can redirect clients.
    pub leader_id: usize,
    /// Index of the log entry immediately preceding the new ones.
    pub prev_log_index: u64,
    /// Term of the `prev_log_index` entry.
    pub prev_log_term: u64,
    /// Log entries to store (empty for heartbeat).
    pub entries: Vec<Entry>,
    /// Leader's `commit_index`.
    pub leader_commit: u64,
}

/// AppendEntries RPC reply (Figure 2), with the fast-backup hint of the course (not in Figure 2;
/// the paper sketches it at the end of §5.3, the lab calls the fields XTerm, XIndex and XLen).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AppendEntriesReply {
    /// `current_term`, for the leader to update itself.
    pub term: u64,
    /// True if the follower contained an entry matching `prev_log_index` and `prev_log_term`.
    pub success: bool,
    /// Course's XTerm: the term of the follower's conflicting entry at `prev_log_index`, if it has
    /// one there.
    pub x_term: Option<u64>,
    /// Course's XIndex: the first index the follower holds with term `x_term`.
    pub x_index: u64,
    /// Course's XLen: the follower's log length, i.e. its last index + 1.
    pub x_len: u64,
}

/// InstallSnapshot RPC arguments (Figure 13): invoked by the leader to send a snapshot to a
/// follower that needs entries the leader has discarded.
///
/// The lab sends the whole snapshot in one RPC (`offset` 0, `done`). Beyond the lab, with
/// `Options::snapshot_chunk`, it goes in pieces as Figure 13 has it (`snapshot.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstallSnapshotArgs {
    /// Leader's term.
    pub term: u64,
    /// So the follower can redirect clients.
    pub leader_id: usize,
    /// The snapshot replaces all entries up through and including this index.
    pub last_included_index: u64,
    /// Term of `last_included_index`.
    pub last_included_term: u64,
    /// Byte offset where `data` is positioned in the snapshot.
    pub offset: u64,
    /// The snapshot's bytes from `offset` (the whole snapshot in the lab).
    #[serde(with = "labgob::bytes")]
    pub data: Vec<u8>,
    /// True if this is the last piece.
    pub done: bool,
}

/// InstallSnapshot RPC reply (Figure 13).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InstallSnapshotReply {
    /// `current_term`, for the leader to update itself.
    pub term: u64,
    /// Not in Figure 13: the offset of the piece the follower wants next, so that the leader
    /// resumes a transfer where the follower stands after a lost piece, a duplicate, or a
    /// follower that started over.
    pub next_offset: u64,
    /// Not in Figure 13: the follower's commit index already reaches the snapshot's last
    /// index, so it needs no more of it.
    pub covered: bool,
}
