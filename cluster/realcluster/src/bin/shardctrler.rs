//! `shardctrler`: one server of the real cluster's shard controller (lab 5A).
//!
//! ```text
//! shardctrler --me 0 --peers 127.0.0.1:7400,127.0.0.1:7401,127.0.0.1:7402 \
//!     --client 127.0.0.1:7300 --data target/cluster/ctrler-0
//! ```
//!
//! Serves Raft to the other controllers on its address in `--peers` (position `--me`), and
//! the controller's RPCs (Join, Leave, Move, Query; `kvctl query`, `join`, `leave`, `move`)
//! over gRPC on `--client`; keeps its state in `--data`; stops cleanly on SIGTERM or Ctrl-C.
//! `RUST_LOG=info` (or `debug`) turns on its log lines, on stderr.

use std::process::ExitCode;

use clap::Parser;
use realcluster::ServerArgs;
use realcluster::sharded::{Role, ShardNodeConfig};

#[derive(Parser)]
#[command(version, about = "One server of the real cluster's shard controller")]
struct Args {
    /// The controllers' id: members admit only members that give the same one.
    #[arg(long, default_value = "ctrler")]
    cluster: String,
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    realcluster::sharded::serve_until_stopped(
        "shardctrler",
        &ShardNodeConfig {
            cluster: args.cluster,
            me: args.server.me,
            peers: args.server.peers,
            client_addr: args.server.client,
            data_dir: args.server.data,
            maxraftstate: None,
            role: Role::Ctrler,
        },
    )
}
