//! `kvctl`: talk to the real cluster's client services (gRPC): lab 4's key/value servers
//! (`--servers`), or lab 5's shard controllers and, through them, the sharded store
//! (`--ctrlers`).
//!
//! ```text
//! kvctl --servers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 put greeting hello
//! kvctl --servers ... append greeting ", world"
//! kvctl --servers ... get greeting
//! kvctl --servers ... status
//!
//! kvctl --ctrlers 127.0.0.1:7300,127.0.0.1:7301,127.0.0.1:7302 join 100=127.0.0.1:7500,...
//! kvctl --ctrlers ... query            # the latest configuration (query N: number N)
//! kvctl --ctrlers ... move 3 101       # shard 3 to group 101
//! kvctl --ctrlers ... leave 100
//! kvctl --ctrlers ... put greeting hello      # get, put, append on the sharded store
//! ```
//!
//! `get`, `put` and `append` go through the labs' clerks, which retry until the cluster
//! answers; `--timeout` bounds how long kvctl lets them try. With `--ca` (and `--domain`),
//! kvctl speaks TLS to key/value servers and trusts only those whose certificate that CA
//! signed.

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use clap::{ArgGroup, Parser, Subcommand};
use realcluster::ClientTls;
use shardctrler::{Config, N_SHARDS};

#[derive(Parser)]
#[command(version, about = "Talk to the real cluster")]
#[command(group(ArgGroup::new("cluster").required(true).args(["servers", "ctrlers"])))]
struct Args {
    /// Every key/value server's client address, comma-separated.
    #[arg(long, value_delimiter = ',')]
    servers: Vec<String>,
    /// Every shard controller's client address, comma-separated: the sharded store.
    #[arg(long, value_delimiter = ',')]
    ctrlers: Vec<String>,
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
    /// Each server's Raft state and counters, as a table (key/value servers).
    Status,
    /// Print configuration NUM of the shard controller (the latest without NUM).
    Query { num: Option<u64> },
    /// Groups join, each as GID=ADDR,ADDR,... (its servers' client addresses).
    Join {
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// The groups GID... leave (their shards go to the groups that stay).
    Leave {
        #[arg(required = true)]
        gids: Vec<u64>,
    },
    /// Move SHARD to group GID.
    Move { shard: usize, gid: u64 },
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
    if !args.ctrlers.is_empty() {
        return sharded(args);
    }
    if matches!(
        args.command,
        Command::Query { .. } | Command::Join { .. } | Command::Leave { .. } | Command::Move { .. }
    ) {
        return Err(
            "query, join, leave and move speak to shard controllers: give --ctrlers".into(),
        );
    }
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
    let mut ck = realcluster::clerk(&args.servers, tls.as_ref()).map_err(|e| e.to_string())?;
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
            _ => unreachable!("handled above"),
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
        "{:<21} {:>2} {:>9} {:>5} {:>8} {:>8} {:>8} {:>10} {:>9} {:>8} {:>8} {:>6} {:>7} {:>7} {:>5} {:>8} {:>5} {:>6} {:>13}",
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
        "fsync µs",
        "snaps",
        "snap s",
        "sending snap"
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
                // Followers being sent the snapshot, and how much of it they have.
                let sending = if s.snapshots_sending == 0 {
                    "-".to_string()
                } else {
                    format!(
                        "{} at {} MiB",
                        s.snapshots_sending,
                        s.snapshot_bytes_sent >> 20
                    )
                };
                println!(
                    "{addr:<21} {:>2} {:>9} {:>5} {:>8} {:>8} {:>8} {:>10} {:>9} {:>8} {:>8} {:>6} {:>7} {:>7} {:>5} {:>8.0} {:>5} {:>6.2} {:>13}",
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
                    fsync_micros,
                    s.snapshots_taken,
                    s.last_snapshot_seconds,
                    sending
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

/// Every address in `addrs` is host:port.
fn check_addrs(addrs: &[String]) -> Result<(), String> {
    for addr in addrs {
        addr.to_socket_addrs()
            .map_err(|e| format!("'{addr}' is not a server address (host:port): {e}"))?;
    }
    Ok(())
}

/// `GID=ADDR,ADDR,...` as a gid and its servers.
fn parse_group(spec: &str) -> Result<(u64, Vec<String>), String> {
    let (gid, addrs) = spec
        .split_once('=')
        .ok_or_else(|| format!("'{spec}': a group is GID=ADDR,ADDR,..."))?;
    let gid: u64 = gid
        .trim()
        .parse()
        .ok()
        .filter(|&g| g > 0)
        .ok_or_else(|| format!("'{spec}': the gid must be a number above 0"))?;
    let addrs: Vec<String> = addrs.split(',').map(|a| a.trim().to_string()).collect();
    check_addrs(&addrs)?;
    Ok((gid, addrs))
}

/// Runs `f` on a thread of its own for at most `timeout` seconds (the clerks retry forever).
fn within<T: Send + 'static>(
    timeout: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = done_tx.send(f());
    });
    done_rx
        .recv_timeout(Duration::from_secs(timeout))
        .map_err(|_| format!("no answer within {timeout} s from {what}"))
}

fn print_config(config: &Config) {
    println!("configuration {}", config.num);
    for (gid, servers) in &config.groups {
        let shards: Vec<String> = config.shards_of(*gid).map(|s| s.to_string()).collect();
        println!(
            "group {gid}: shards [{}], servers {}",
            shards.join(" "),
            servers.join(",")
        );
    }
    let orphans: Vec<String> = config.shards_of(0).map(|s| s.to_string()).collect();
    if !orphans.is_empty() {
        println!("no group: shards [{}]", orphans.join(" "));
    }
}

/// The commands on the shard controllers at `args.ctrlers` and the sharded store.
fn sharded(args: Args) -> Result<ExitCode, String> {
    use realcluster::sharded::{ctrler_clerk, sharded_clerk};
    check_addrs(&args.ctrlers)?;
    let ctrlers = args.ctrlers.clone();
    let what = format!("the controllers at {}", args.ctrlers.join(", "));
    let latest = |ctrlers: Vec<String>| {
        within(args.timeout, &what, move || {
            ctrler_clerk(&ctrlers).query(None)
        })
    };
    match args.command {
        Command::Status => {
            return Err(
                "status speaks to key/value servers (--servers); for the controllers, try query"
                    .into(),
            );
        }
        Command::Query { num } => {
            let config = within(args.timeout, &what, move || {
                ctrler_clerk(&ctrlers).query(num)
            })?;
            print_config(&config);
        }
        Command::Join { groups } => {
            let groups = groups
                .iter()
                .map(|spec| parse_group(spec))
                .collect::<Result<_, _>>()?;
            within(args.timeout, &what, move || {
                ctrler_clerk(&ctrlers).join(groups)
            })?;
            print_config(&latest(args.ctrlers)?);
        }
        Command::Leave { gids } => {
            let config = latest(ctrlers.clone())?;
            if let Some(gid) = gids.iter().find(|g| !config.groups.contains_key(g)) {
                return Err(format!(
                    "group {gid} is not in configuration {}",
                    config.num
                ));
            }
            if config.groups.keys().all(|g| gids.contains(g)) {
                return Err(
                    "that would leave no group to hold the data; join another first".into(),
                );
            }
            within(args.timeout, &what, move || {
                ctrler_clerk(&ctrlers).leave(&gids)
            })?;
            print_config(&latest(args.ctrlers)?);
        }
        Command::Move { shard, gid } => {
            if shard >= N_SHARDS {
                return Err(format!(
                    "there are {N_SHARDS} shards, 0 to {}",
                    N_SHARDS - 1
                ));
            }
            let config = latest(ctrlers.clone())?;
            if !config.groups.contains_key(&gid) {
                return Err(format!(
                    "group {gid} is not in configuration {}",
                    config.num
                ));
            }
            within(args.timeout, &what, move || {
                ctrler_clerk(&ctrlers).move_shard(shard, gid)
            })?;
            print_config(&latest(args.ctrlers)?);
        }
        Command::Get { key } => {
            let value = within(args.timeout, &what, move || {
                sharded_clerk(&ctrlers).get(&key)
            })?;
            println!("{value}");
        }
        Command::Put { key, value } => {
            within(args.timeout, &what, move || {
                sharded_clerk(&ctrlers).put(&key, &value)
            })?;
        }
        Command::Append { key, value } => {
            within(args.timeout, &what, move || {
                sharded_clerk(&ctrlers).append(&key, &value)
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
