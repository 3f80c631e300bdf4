//! `kvserver`: one server of the real key/value cluster.
//!
//! ```text
//! kvserver --me 0 --servers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 --data target/cluster/kv-0
//! ```
//!
//! Serves Raft and the KV service on its address (`--servers`, at position `--me`), keeps its
//! state in `--data`, and stops cleanly on SIGTERM or Ctrl-C. Log lines go to stderr in the
//! format the log viewer reads; `RUST_LOG=info` (or `debug`) turns them on.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use realcluster::{Node, NodeConfig};

#[derive(Parser)]
#[command(version, about = "One server of the real key/value cluster")]
struct Args {
    /// This server's position in --servers (0, 1, ...).
    #[arg(long)]
    me: usize,
    /// Every server's address, comma-separated, in the same order for every server.
    #[arg(long, value_delimiter = ',', required = true)]
    servers: Vec<String>,
    /// The directory that holds this server's Raft state and snapshot.
    #[arg(long)]
    data: PathBuf,
    /// Snapshot when the Raft state reaches this many bytes (0: never).
    #[arg(long, default_value_t = 1 << 20)]
    maxraftstate: usize,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let config = NodeConfig {
        me: args.me,
        servers: args.servers,
        data_dir: args.data,
        maxraftstate: (args.maxraftstate > 0).then_some(args.maxraftstate),
    };
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    if let Err(err) = ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    }) {
        eprintln!("kvserver: cannot handle SIGTERM and Ctrl-C: {err}");
        return ExitCode::FAILURE;
    }
    let node = match Node::start(&config) {
        Ok(node) => node,
        Err(err) => {
            eprintln!("kvserver: {err}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "kvserver {} serving on {} (state in {})",
        config.me,
        config.servers[config.me],
        config.data_dir.display()
    );
    let _ = stop_rx.recv();
    eprintln!("kvserver {}: stopping", config.me);
    node.stop();
    ExitCode::SUCCESS
}
