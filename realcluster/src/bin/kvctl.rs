//! `kvctl`: talk to the real key/value cluster.
//!
//! ```text
//! kvctl --servers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 put greeting hello
//! kvctl --servers ... append greeting ", world"
//! kvctl --servers ... get greeting
//! kvctl --servers ... status
//! ```
//!
//! `get`, `put` and `append` go through lab 4's clerk, which retries until the cluster answers;
//! `--timeout` bounds how long kvctl lets it try.

use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "Talk to the real key/value cluster")]
struct Args {
    /// Every server's address, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    servers: Vec<String>,
    /// Give up after this many seconds without an answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
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
    /// Each server's Raft state, as a table.
    Status,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    let args = Args::parse();
    if let Command::Status = args.command {
        return status(&args.servers);
    }
    let servers = args.servers.clone();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut ck = realcluster::clerk(&servers);
        let output = match args.command {
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
            ExitCode::SUCCESS
        }
        Err(_) => {
            eprintln!(
                "kvctl: no answer within {} s from {} (are the servers running? try kvctl status)",
                args.timeout,
                args.servers.join(", ")
            );
            ExitCode::FAILURE
        }
    }
}

fn status(servers: &[String]) -> ExitCode {
    println!(
        "{:<22} {:>3} {:>9} {:>6} {:>9} {:>9} {:>9} {:>11} {:>10}",
        "server",
        "id",
        "role",
        "term",
        "last log",
        "commit",
        "snapshot",
        "state bytes",
        "snap bytes"
    );
    let mut answered = 0;
    for addr in servers {
        match realcluster::status(addr) {
            Some(s) => {
                answered += 1;
                println!(
                    "{addr:<22} {:>3} {:>9} {:>6} {:>9} {:>9} {:>9} {:>11} {:>10}",
                    s.me,
                    s.role,
                    s.term,
                    s.last_log_index,
                    s.commit_index,
                    s.snapshot_index,
                    s.raft_state_bytes,
                    s.snapshot_bytes
                );
            }
            None => println!("{addr:<22} (no answer)"),
        }
    }
    if answered == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
