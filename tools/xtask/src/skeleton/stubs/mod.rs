//! What stands in for each solution region of the lab's sources in a skeleton, keyed by the
//! region's name. The reference source holds only the markers; the stubs live here, one file
//! per lab, named after the course's lab pages:
//! - `raft.rs`: lab 3's, for `src/`;
//! - `kvraft.rs`: lab 4's, for `labs/rsm/src/` and `labs/kvraft/src/`;
//! - `shard.rs`: lab 5's, for `labs/shardctrler/src/` and `labs/shardkv/src/`.
//!
//! This file owns what a stub is ([`Stub`], [`With`]) and the one list of them all the
//! skeleton sees ([`all`]).
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

mod kvraft;
mod raft;
mod shard;

use std::path::Path;

/// The stub of one region.
pub(super) struct Stub {
    /// The region's name, as in `// solution: begin PartA <name>` or `// solution: begin 4A <name>`.
    pub name: &'static str,
    /// What the student writes there, for the skeleton's README (a region removed without a
    /// trace says what it held, for the reader of the stubs).
    pub what: &'static str,
    pub with: With,
}

pub(super) enum With {
    /// `// Your code here (PartX).`, then these lines.
    Code(&'static str),
    /// Nothing at all.
    Nothing,
}

/// Every stub: Raft's, then lab 4's, then lab 5's.
pub(super) fn all() -> impl Iterator<Item = &'static Stub> + Clone {
    [raft::STUBS, kvraft::STUBS, shard::STUBS]
        .into_iter()
        .flatten()
}

/// The file of `tools/xtask/src/skeleton/stubs/` that holds the stubs of a source file's regions
/// (`source` relative to the project).
pub(super) fn file_for(source: &Path) -> &'static str {
    if source.starts_with("labs/rsm") || source.starts_with("labs/kvraft") {
        "kvraft.rs"
    } else if source.starts_with("labs/shardctrler") || source.starts_with("labs/shardkv") {
        "shard.rs"
    } else {
        "raft.rs"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lab_has_its_file() {
        assert_eq!(file_for(Path::new("src/election.rs")), "raft.rs");
        assert_eq!(file_for(Path::new("labs/rsm/src/rsm.rs")), "kvraft.rs");
        assert_eq!(
            file_for(Path::new("labs/kvraft/src/server.rs")),
            "kvraft.rs"
        );
        assert_eq!(
            file_for(Path::new("labs/shardctrler/src/config.rs")),
            "shard.rs"
        );
        assert_eq!(
            file_for(Path::new("labs/shardkv/src/client.rs")),
            "shard.rs"
        );
        assert_eq!(
            file_for(Path::new("labs/shardkvx/src/a.rs")),
            "raft.rs",
            "whole components"
        );
    }
}
