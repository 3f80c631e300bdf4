//! The real cluster's gRPC transport: tonic and its tokio runtime, kept inside this crate so
//! that everything else stays synchronous.
//!
//! - [`kv`]: the client-facing key/value service of `proto/kv.proto`, which clients in any
//!   language can call. [`GrpcServer::serve_kv`] serves a [`KvHandler`] (plain blocking
//!   methods); [`KvClient`] calls it from blocking code.
//! - [`lab_rpc`]: labrpc calls tunnelled over gRPC (`proto/labrpc.proto`): a call is a labrpc
//!   method name and its labgob-encoded arguments. [`GrpcServer::serve_labrpc`] serves a
//!   [`labrpc::Server`], and [`LabRpcTransport`] is a [`labrpc::Transport`], so a lab's clerks
//!   and servers call each other across processes unchanged. The real cluster's lab 5 servers
//!   are reached this way, by clerks and by the other groups (the hand-overs of shards); Raft
//!   between servers goes over netrpc, and realcluster's `peers` bench measures the two.
//! - [`etcd`]: a client of etcd's own KV API (`proto/etcd.proto`, a minimal copy of etcd's
//!   messages): [`EtcdClient`], for the load generator that measures the cluster against etcd.
//!
//! Every path is bounded: messages at [`MAX_MESSAGE`], requests in flight and open connections
//! per server, and the time a connection may stay silent ([`Options`]); past the bound on
//! requests a call is answered `RESOURCE_EXHAUSTED` at once. TLS is an option on both sides
//! ([`ServerTls`], [`ClientTls`]; rustls).

mod client;
mod server;

pub use client::{ClientError, ClientTls, EtcdClient, KvClient, LabRpcTransport};
pub use server::{GrpcServer, KvHandler, Options, ServerTls};
/// A call's error, as tonic gives it: a code and a message.
pub use tonic::{Code, Status};

/// The largest message either side accepts or sends: as netrpc's frames.
pub const MAX_MESSAGE: usize = 64 << 20;

/// The generated types and stubs of `proto/kv.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod kv {
    tonic::include_proto!("kv.v1");
}

/// The generated types and stubs of `proto/labrpc.proto`. (Not `labrpc`: that is the crate
/// whose calls it carries.)
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod lab_rpc {
    tonic::include_proto!("labrpc.v1");
}

/// The generated types and client stub of `proto/etcd.proto` (etcd's `etcdserverpb.KV`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod etcd {
    tonic::include_proto!("etcdserverpb");
}
