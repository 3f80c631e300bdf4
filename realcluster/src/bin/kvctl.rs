//! `kvctl`: talk to the real key/value cluster's client services (gRPC).
//!
//! ```text
//! kvctl --servers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 put greeting hello
//! kvctl --servers ... append greeting ", world"
//! kvctl --servers ... get greeting
//! kvctl --servers ... status
//! ```
//!
//! `get`, `put` and `append` go through lab 4's clerk, which retries until the cluster answers;
//! `--timeout` bounds how long kvctl lets it try. With `--ca` (and `--domain`), kvctl speaks
//! TLS and trusts only servers whose certificate that CA signed.

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use clap::{Parser, Subcommand};
use realcluster::ClientTls;

#[derive(Parser)]
#[command(version, about = "Talk to the real key/value cluster")]
struct Args {
    /// Every server's client address, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    servers: Vec<String>,
    /// Give up after this many seconds without an answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Speak TLS, trusting the CA in this file (PEM).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// The name in the servers' certificates.
    #[arg(long, default_value = "localhost", requires = "ca")]
    domain: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the value of KEY ("" if it has none).
    Get { key: String },
    /// Set KEY to VALUE.
    Put { key: String, value: String },
    /// Append VALUE to the value of KEY.
    Append { key: String, value: String },
    /// Each server's Raft state and counters, as a table.
    Status,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("kvctl: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    for addr in &args.servers {
        addr.to_socket_addrs()
            .map_err(|e| format!("'{addr}' is not a server address (host:port): {e}"))?;
    }
    let tls = match &args.ca {
        Some(path) => Some(ClientTls {
            ca_pem: std::fs::read(path)
                .map_err(|e| format!("cannot read the CA {}: {e}", path.display()))?,
            domain: args.domain.clone(),
            identity: None,
        }),
        None => None,
    };
    if let Command::Status = args.command {
        return Ok(status(&args.servers, tls.as_ref()));
    }
    let mut ck = realcluster::clerk(&args.servers, tls.as_ref())?;
    let (done_tx, done_rx) = mpsc::channel();
    let command = args.command;
    thread::spawn(move || {
        let output = match command {
            Command::Get { key } => Some(ck.get(&key)),
            Command::Put { key, value } => {
                ck.put(&key, &value);
                None
            }
            Command::Append { key, value } => {
                ck.append(&key, &value);
                None
            }
            Command::Status => unreachable!("handled above"),
        };
        let _ = done_tx.send(output);
    });
    match done_rx.recv_timeout(Duration::from_secs(args.timeout)) {
        Ok(output) => {
            if let Some(value) = output {
                println!("{value}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(_) => Err(format!(
            "no answer within {} s from {} (are the servers running? try kvctl status)",
            args.timeout,
            args.servers.join(", ")
        )),
    }
}

fn status(servers: &[String], tls: Option<&ClientTls>) -> ExitCode {
    println!(
        "{:<21} {:>2} {:>9} {:>5} {:>8} {:>8} {:>8} {:>10} {:>9} {:>8} {:>8} {:>6} {:>7} {:>7} {:>5} {:>8}",
        "server",
        "id",
        "role",
        "term",
        "last log",
        "commit",
        "snapshot",
        "state B",
        "snap B",
        "gets",
        "writes",
        "errors",
        "p50 µs",
        "p99 µs",
        "conns",
        "fsync µs"
    );
    let mut answered = 0;
    for addr in servers {
        match realcluster::status(addr, tls) {
            Ok(s) => {
                answered += 1;
                let fsync_micros = if s.fsyncs == 0 {
                    0.0
                } else {
                    s.fsync_seconds * 1e6 / s.fsyncs as f64
                };
                println!(
                    "{addr:<21} {:>2} {:>9} {:>5} {:>8} {:>8} {:>8} {:>10} {:>9} {:>8} {:>8} {:>6} {:>7} {:>7} {:>5} {:>8.0}",
                    s.me,
                    s.role,
                    s.term,
                    s.last_log_index,
                    s.commit_index,
                    s.snapshot_index,
                    s.raft_state_bytes,
                    s.snapshot_bytes,
                    s.gets,
                    s.put_appends,
                    s.errors,
                    s.p50_micros,
                    s.p99_micros,
                    s.open_connections,
                    fsync_micros
                );
            }
            Err(err) => println!("{addr:<21} (no answer: {err})"),
        }
    }
    if answered == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
