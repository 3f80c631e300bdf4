//! The stubs of lab 4, the key/value service (4A, 4B): the solution regions of `labs/rsm/src/`
//! (the replicated state machine's plumbing) and `labs/kvraft/src/` (the clerk, the server, the
//! store), under a comment naming each file.

use super::Stub;
use super::With::{Code, Nothing};

/// Lab 4's stubs, file by file.
pub(super) const STUBS: &[Stub] = &[
    // labs/rsm/src/rsm.rs
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
    // labs/rsm/src/waiters.rs
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
    // labs/rsm/src/sessions.rs
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
    // labs/rsm/src/snapshot.rs
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
    // labs/kvraft/src/client.rs
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
    // labs/kvraft/src/server.rs
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
    // labs/kvraft/src/store.rs
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
];
