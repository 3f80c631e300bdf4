//! The state machine the tests replicate (Go's `server.go`, `rsmSrv.DoOp`): a counter.

use rsm::StateMachine;
use serde::{Deserialize, Serialize};

/// An operation on the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Add one; answers the new count.
    Inc,
    /// Never applied: the partition test submits it only to a leader cut off in a minority,
    /// where it must never commit.
    Dec,
    /// Changes nothing; answers nothing.
    Null,
}

/// What applying an operation answers (Go's `IncRep` and `NullRep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The count after the increment.
    Inc {
        /// Go's `IncRep.N`.
        n: u64,
    },
    /// A `Null` was applied.
    Null,
}

/// One server's replicated counter; the snapshot is this struct.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Counter {
    /// Go's `rsmSrv.counter`.
    pub n: u64,
}

impl StateMachine for Counter {
    type Op = Op;
    type Output = Reply;

    /// # Panics
    /// On `Dec`, as Go's `log.Fatalf("DoOp should execute only Inc and not ...")`: the reader
    /// thread that applies it aborts the test process, and the panic hook reports the test.
    fn apply(&mut self, op: Op) -> Reply {
        match op {
            Op::Inc => {
                self.n += 1;
                Reply::Inc { n: self.n }
            }
            Op::Null => Reply::Null,
            Op::Dec => panic!(
                "DoOp should execute only Inc and Null, not Dec (counter {})",
                self.n
            ),
        }
    }
}
