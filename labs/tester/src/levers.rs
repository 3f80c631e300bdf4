//! Which of the real cluster's levers the lab's tests run with: none unless `LAB_LEVERS` names
//! them, so `cargo test` runs the lab's path.
//! `LAB_LEVERS=group-commit,pipeline,read-index,pre-vote,check-quorum,snapshot-chunks,append-bytes,log-tail,stream-snapshots,background-snapshots cargo test`
//! (or `all`) runs the same tests with the switches on, to show they break nothing.

/// The levers a harness turns on (it maps them onto `raft::Options` and `rsm::Options`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Levers {
    /// Group commit (`raft`'s `group_commit.rs`).
    pub group_commit: bool,
    /// Pipelined AppendEntries (`raft`'s `pipeline.rs`).
    pub pipeline: bool,
    /// ReadIndex reads (`raft`'s `read_index.rs`, `rsm`'s `query`).
    pub read_index: bool,
    /// PreVote (`raft`'s `pre_vote.rs`).
    pub pre_vote: bool,
    /// CheckQuorum (`raft`'s `check_quorum.rs`).
    pub check_quorum: bool,
    /// InstallSnapshot in pieces of [`SNAPSHOT_CHUNK`] bytes (`raft`'s `snapshot.rs`).
    pub snapshot_chunks: bool,
    /// AppendEntries of at most [`APPEND_BYTES`] of commands (`raft`'s `replication.rs`).
    pub append_bytes: bool,
    /// A tail of [`LOG_TAIL`] kept after compaction (`raft`'s `log.rs`).
    pub log_tail: bool,
    /// A service that reads an installed snapshot from the persister as it decodes it
    /// (`raft`'s `apply.rs`, `rsm`'s `decode_installed`); services on `rsm` only.
    pub stream_snapshots: bool,
    /// Snapshots written in the background (`rsm`'s `background.rs`). Not the growth factor
    /// beside it: the lab's tests bound the log at a multiple of `maxraftstate` whatever
    /// the snapshot's size, which a log that must outgrow the snapshot breaks by design.
    pub background_snapshots: bool,
}

/// The piece of a snapshot per InstallSnapshot call under `snapshot-chunks`: small, so that
/// the lab's snapshots (a few hundred bytes to a few kilobytes) go in many pieces, and the
/// unreliable network loses, delays and repeats some of them.
pub const SNAPSHOT_CHUNK: usize = 256;

/// The bytes of commands per AppendEntries under `append-bytes`: a few dozen of the lab's
/// entries, so that a follower far behind (PartB's backup, PartC's Figure 8) catches up in
/// several calls.
pub const APPEND_BYTES: usize = 1024;

/// The log kept after compaction under `log-tail`: a few of the lab's entries, so that some
/// followers behind catch up from the tail and others still need the snapshot.
pub const LOG_TAIL: raft::LogTail = raft::LogTail {
    entries: 20,
    bytes: 4096,
};

/// The environment variable that names the levers.
pub const VARIABLE: &str = "LAB_LEVERS";

impl Levers {
    /// The levers `LAB_LEVERS` names; none if it is unset or empty.
    ///
    /// # Panics
    /// If it names a lever that does not exist: a test run that silently ignored a typo
    /// would claim to have tested something it did not.
    pub fn from_env() -> Levers {
        let names = std::env::var(VARIABLE).unwrap_or_default();
        Levers::parse(&names).unwrap_or_else(|e| panic!("{VARIABLE}: {e}"))
    }

    /// The levers of a comma-separated list: `group-commit`, `pipeline`, `read-index`, `all`.
    pub fn parse(names: &str) -> Result<Levers, String> {
        let mut levers = Levers::default();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "group-commit" => levers.group_commit = true,
                "pipeline" => levers.pipeline = true,
                "read-index" => levers.read_index = true,
                "pre-vote" => levers.pre_vote = true,
                "check-quorum" => levers.check_quorum = true,
                "snapshot-chunks" => levers.snapshot_chunks = true,
                "background-snapshots" => levers.background_snapshots = true,
                "append-bytes" => levers.append_bytes = true,
                "log-tail" => levers.log_tail = true,
                "stream-snapshots" => levers.stream_snapshots = true,
                "all" => {
                    levers = Levers {
                        group_commit: true,
                        pipeline: true,
                        read_index: true,
                        pre_vote: true,
                        check_quorum: true,
                        snapshot_chunks: true,
                        append_bytes: true,
                        log_tail: true,
                        stream_snapshots: true,
                        background_snapshots: true,
                    }
                }
                other => {
                    return Err(format!(
                        "no lever `{other}` (there are group-commit, pipeline, read-index, \
                         pre-vote, check-quorum, snapshot-chunks, append-bytes, \
                         log-tail, stream-snapshots, background-snapshots and all)"
                    ));
                }
            }
        }
        Ok(levers)
    }

    /// Raft's switches for these levers, for a service that reads a snapshot's bytes from
    /// its `ApplyMsg` (Raft's own tests): `stream-snapshots` is left to `rsm`'s services.
    pub fn raft_options(&self) -> raft::Options {
        raft::Options {
            group_commit: self.group_commit,
            pipeline: self.pipeline,
            pre_vote: self.pre_vote,
            check_quorum: self.check_quorum,
            snapshot_chunk: self.snapshot_chunks.then_some(SNAPSHOT_CHUNK),
            append_bytes: self.append_bytes.then_some(APPEND_BYTES),
            log_tail: self.log_tail.then_some(LOG_TAIL),
            stream_snapshots: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_of_levers() {
        assert_eq!(Levers::parse(""), Ok(Levers::default()));
        assert_eq!(
            Levers::parse("read-index"),
            Ok(Levers {
                read_index: true,
                ..Levers::default()
            })
        );
        assert_eq!(
            Levers::parse(
                " group-commit , pipeline,read-index,pre-vote,check-quorum,snapshot-chunks,\
                 append-bytes,log-tail,stream-snapshots,background-snapshots"
            ),
            Levers::parse("all")
        );
        assert!(Levers::parse("group-commit,pipelining").is_err());
    }
}
