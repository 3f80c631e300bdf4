//! Lab 4 (the course's 4A and 4B): a fault-tolerant key/value service on Raft, linearizable,
//! each operation applied exactly once.
//!
//! A [`Clerk`] sends `Get`, `Put` and `Append` to the [`KvServer`] it believes leads; the server
//! turns the request into an [`Op`], runs it through the log with the [`rsm`] layer, and
//! answers with what applying it returned. Every server applies every committed operation to
//! its own [`KvStore`], so any of them can take over.
//!
//! # Reading order
//! 1. `rpc.rs`: the RPC arguments and replies, with the course's error names.
//! 2. `store.rs`: the state machine: the map, the duplicate table, `apply`.
//! 3. `server.rs`: the RPC handlers: a request in, an op through `rsm`, a reply out.
//! 4. `client.rs`: the clerk's retry loop.
//!
//! The hard part (waiting at an index, noticing a lost leadership, snapshots, restart) is in
//! the `rsm` crate, shared with lab 5's services.
//!
//! # Linearizable reads
//! A `Get` goes through the log like a write: it is answered only once an entry submitted by
//! the current leader in its current term commits, so a server cut off in a minority (which may
//! still believe it leads) can never answer it with a stale value.
//!
//! # Threads
//! A server has the `rsm` reader and its Raft peer's threads, and runs its handlers on
//! labrpc's. A clerk has none: it calls from the caller's thread.

mod client;
mod rpc;
mod server;
mod store;

pub use client::Clerk;
pub use rpc::{Err, GetArgs, GetReply, PutAppendArgs, PutAppendReply, PutOrAppend};
pub use server::KvServer;
pub use store::{KvStore, Op};
