//! `kvserver`: one server of the real key/value cluster.
//!
//! ```text
//! kvserver --me 0 --peers 127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7102 \
//!     --client 127.0.0.1:7000 --metrics 127.0.0.1:7200 --data target/cluster/kv-0
//! ```
//!
//! Serves Raft to the other members on its address in `--peers` (position `--me`), clients
//! over gRPC on `--client`, and `/metrics` on `--metrics`; keeps its state in `--data`; stops
//! cleanly on SIGTERM or Ctrl-C. Log lines go to stderr in the format the log viewer reads;
//! `RUST_LOG=info` (or `debug`) turns them on. `--tls-cert` and `--tls-key` serve clients over
//! TLS; with `--tls-ca` too, Raft between servers goes over TLS, each member checking that the
//! other's certificate comes from that CA.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use realcluster::{Node, NodeConfig, ServerArgs};

#[derive(Parser)]
#[command(version, about = "One server of the real key/value cluster")]
struct Args {
    /// The cluster's id: members admit only members that give the same one.
    #[arg(long, default_value = "kv")]
    cluster: String,
    #[command(flatten)]
    server: ServerArgs,
    /// The address to serve /metrics on (Prometheus' text format).
    #[arg(long)]
    metrics: Option<String>,
    /// Snapshot when the Raft state reaches this many bytes (0: never); see also
    /// --snapshot-growth.
    #[arg(long, default_value_t = 1 << 20)]
    maxraftstate: usize,
    /// Serve clients over TLS with this certificate (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The CA (PEM) that signed every member's certificate: talk to the other members over TLS
    /// with --tls-cert, and admit only members whose certificate it signed.
    #[arg(long, requires = "tls_cert")]
    tls_ca: Option<PathBuf>,
    /// The name in the members' certificates.
    #[arg(long, default_value = "localhost")]
    tls_name: String,
    /// Save each command before `start` returns, one fsync each, as the lab does (group
    /// commit, one fsync for all the commands that arrive meanwhile, is the default).
    #[arg(long)]
    no_group_commit: bool,
    /// Send a follower one batch of entries per round trip, as the lab does (pipelined
    /// AppendEntries, more batches before the first is answered, is the default).
    #[arg(long)]
    no_pipeline: bool,
    /// Read through the log, one entry per Get, as the lab does (ReadIndex, no entry, is the
    /// default).
    #[arg(long)]
    no_read_index: bool,
    /// Stand for election at once when the election timer fires, as the lab does (PreVote,
    /// first asking whether a majority would vote, is the default).
    #[arg(long)]
    no_pre_vote: bool,
    /// Stay leader until a higher term is heard, as the lab does (CheckQuorum, stepping down
    /// when no majority has answered within an election timeout, is the default).
    #[arg(long)]
    no_check_quorum: bool,
    /// Send a snapshot to a follower in pieces of this many bytes, each its own call (0: the
    /// whole snapshot in one call, as the lab does, which fails past 64 MiB).
    #[arg(long, default_value_t = realcluster::SNAPSHOT_CHUNK)]
    snapshot_chunk: usize,
    /// Send a follower at most this many bytes of commands per AppendEntries (0: every entry
    /// it lacks in one call, as the lab does, which a follower far behind never receives).
    #[arg(long, default_value_t = realcluster::APPEND_BYTES)]
    append_bytes: usize,
    /// Keep this many of the entries a snapshot covers, in memory, for followers a little
    /// behind, at most 64 MiB of them (0: none, as the lab does, so that a follower a single
    /// entry behind the snapshot is sent the whole snapshot).
    #[arg(long, default_value_t = realcluster::LOG_TAIL.entries)]
    log_tail: usize,
    /// Read an installed snapshot into memory whole before decoding it, as the lab does
    /// (decoding it as it is read from disk is the default).
    #[arg(long)]
    no_stream_snapshots: bool,
    /// Snapshot only once the Raft state has also grown to this percentage of the last
    /// snapshot's size (0: at --maxraftstate alone, as the lab does, which writes the whole
    /// data set again every --maxraftstate bytes).
    #[arg(long, default_value_t = realcluster::SNAPSHOT_GROWTH)]
    snapshot_growth: u32,
    /// Encode snapshots on the thread that applies commands, which waits meanwhile, as the lab
    /// does (writing them in the background from a copy of the state is the default).
    #[arg(long)]
    no_background_snapshots: bool,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}

fn config(args: Args) -> Result<NodeConfig, String> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(grpc::ServerTls {
            cert_pem: read(cert, "certificate")?,
            key_pem: read(key, "key")?,
            client_ca_pem: None,
        }),
        _ => None,
    };
    let peer_tls = match (&tls, &args.tls_ca) {
        (Some(tls), Some(ca)) => Some(
            netrpc::Tls::from_pem(
                &read(ca, "CA")?,
                &tls.cert_pem,
                &tls.key_pem,
                &args.tls_name,
            )
            .map_err(|e| format!("TLS between members: {e}"))?,
        ),
        _ => None,
    };
    Ok(NodeConfig {
        cluster: args.cluster,
        me: args.server.me,
        peers: args.server.peers,
        client_addr: args.server.client,
        metrics_addr: args.metrics,
        data_dir: args.server.data,
        maxraftstate: (args.maxraftstate > 0).then_some(args.maxraftstate),
        tls,
        peer_tls,
        levers: rsm::Options {
            raft: raft::Options {
                group_commit: !args.no_group_commit,
                pipeline: !args.no_pipeline,
                pre_vote: !args.no_pre_vote,
                check_quorum: !args.no_check_quorum,
                snapshot_chunk: (args.snapshot_chunk > 0).then_some(args.snapshot_chunk),
                append_bytes: (args.append_bytes > 0).then_some(args.append_bytes),
                log_tail: (args.log_tail > 0).then_some(raft::LogTail {
                    entries: args.log_tail,
                    ..realcluster::LOG_TAIL
                }),
                stream_snapshots: !args.no_stream_snapshots,
            },
            read_index: !args.no_read_index,
            snapshot_growth: (args.snapshot_growth > 0).then_some(args.snapshot_growth),
            background_snapshots: !args.no_background_snapshots,
        },
    })
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let config = match config(Args::parse()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("kvserver: {err}");
            return ExitCode::FAILURE;
        }
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
        "kvserver {} of cluster '{}' serving clients on {} (state in {})",
        config.me,
        config.cluster,
        config.client_addr,
        config.data_dir.display()
    );
    let _ = stop_rx.recv();
    eprintln!("kvserver {}: stopping", config.me);
    node.stop();
    ExitCode::SUCCESS
}
