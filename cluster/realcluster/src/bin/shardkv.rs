//! `shardkv`: one server of a replica group of the real cluster's sharded store (lab 5).
//!
//! ```text
//! shardkv --gid 100 --me 0 --peers 127.0.0.1:7600,127.0.0.1:7601,127.0.0.1:7602 \
//!     --client 127.0.0.1:7500 --ctrlers 127.0.0.1:7300,127.0.0.1:7301,127.0.0.1:7302 \
//!     --data target/cluster/group-100-0
//! ```
//!
//! Serves Raft to its group's other members on its address in `--peers` (position `--me`),
//! and the group's RPCs over gRPC on `--client`: Get and PutAppend for clerks, Pull and
//! Delete for the other groups. The group is the controller's `--gid`: it serves what the
//! controllers at `--ctrlers` assign to that gid once it has joined (`kvctl join`), under the
//! names (client addresses) given there. Keeps its state in `--data`; stops cleanly on
//! SIGTERM or Ctrl-C. `RUST_LOG=info` (or `debug`) turns on its log lines, on stderr.

use std::process::ExitCode;

use clap::Parser;
use realcluster::ServerArgs;
use realcluster::sharded::{Role, ShardNodeConfig};

#[derive(Parser)]
#[command(
    version,
    about = "One server of a replica group of the real cluster's sharded store"
)]
struct Args {
    /// The group's id at the controller (not 0); join it there under the members' --client
    /// addresses.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    gid: u64,
    /// The group's members' id: members admit only members that give the same one
    /// (default: group-<gid>).
    #[arg(long)]
    cluster: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
    /// The controllers' client addresses, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    ctrlers: Vec<String>,
    /// Snapshot when the Raft state reaches this many bytes (0: never).
    #[arg(long, default_value_t = 1 << 20)]
    maxraftstate: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    realcluster::sharded::serve_until_stopped(
        "shardkv",
        &ShardNodeConfig {
            cluster: args
                .cluster
                .unwrap_or_else(|| format!("group-{}", args.gid)),
            me: args.server.me,
            peers: args.server.peers,
            client_addr: args.server.client,
            data_dir: args.server.data,
            maxraftstate: (args.maxraftstate > 0).then_some(args.maxraftstate),
            role: Role::Group {
                gid: args.gid,
                ctrlers: args.ctrlers,
            },
        },
    )
}
