//! `cargo xtask cluster up|status|down`: a real key/value cluster on loopback, in the
//! background, for trying `kvctl` by hand; `up --sharded`, lab 5's sharded store instead.
//!
//! `up` builds `realcluster`'s binaries (release), starts `kvserver`s on `127.0.0.1`, server
//! `i` with its client port at `--base-port + i`, its Raft port 100 above and its `/metrics`
//! 200 above, with their state and logs under `target/cluster/`, waits until every one
//! answers `kvctl status`, and prints the addresses and a `kvctl` line to try. `status` prints
//! `kvctl status`; `down` stops the servers with SIGTERM and waits for them (`--wipe` also
//! deletes their state). The servers' process ids are kept in `target/cluster/pids`.
//!
//! `up --sharded` starts 3 `shardctrler`s (client ports `--base-port + 300 + i`, Raft ports
//! 100 above those) and 2 replica groups of 3 `shardkv`s, gids 100 and 101 (group `g`'s server
//! `i`: client port `--base-port + 500 + 10 g + i`, Raft 100 above), joins both groups at the
//! controller, and prints the configuration and `kvctl --ctrlers` lines to try; `status` then
//! prints the controller's latest configuration.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Start, inspect or stop a key/value cluster on loopback.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Build the servers and start them in the background.
    Up {
        /// How many servers.
        #[arg(long, default_value_t = 3)]
        servers: usize,
        /// The first server's client port; the others follow it (Raft ports are 100 above,
        /// metrics 200 above).
        #[arg(long, default_value_t = 7000)]
        base_port: u16,
        /// Lab 5's sharded store instead: 3 controllers and 2 groups of 3 (`--servers` is
        /// ignored).
        #[arg(long)]
        sharded: bool,
    },
    /// Each server's role, term, log and commit index.
    Status,
    /// Stop the servers.
    Down {
        /// Also delete their state.
        #[arg(long)]
        wipe: bool,
    },
}

/// How long `up` waits for the servers to answer, and `down` for them to exit.
const WAIT: Duration = Duration::from_secs(10);

pub fn run(o: Options) -> Result<ExitCode, String> {
    let root = crate::project_root()?;
    let dir = root.join("target").join("cluster");
    match o.action {
        Action::Up {
            base_port,
            sharded: true,
            ..
        } => up_sharded(&root, &dir, base_port),
        Action::Up {
            servers, base_port, ..
        } => up(&root, &dir, servers, base_port),
        Action::Status => match fs::read_to_string(dir.join("ctrlers")) {
            Ok(ctrlers) => kvctl(&root, &["--ctrlers", &ctrlers, "query"]),
            Err(_) => {
                let servers = read(&dir.join("servers"))?;
                kvctl(&root, &["--servers", &servers, "status"])
            }
        },
        Action::Down { wipe } => down(&dir, wipe),
    }
}

/// Refuses to start over a cluster that runs; builds the binaries; makes `dir`.
fn prepare(root: &Path, dir: &Path) -> Result<(), String> {
    if live_pids(dir).is_some_and(|pids| !pids.is_empty()) {
        return Err(format!(
            "a cluster is up already (process ids in {}); `cargo xtask cluster down` first",
            dir.join("pids").display()
        ));
    }
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "realcluster", "--bins"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !built.success() {
        return Err("building realcluster failed".to_string());
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // The last cluster's kind: `status` reads it.
    let _ = fs::remove_file(dir.join("ctrlers"));
    let _ = fs::remove_file(dir.join("servers"));
    Ok(())
}

/// `n` loopback addresses from port `base + offset`.
fn ports(base: u16, offset: usize, n: usize) -> Result<Vec<String>, String> {
    (0..n)
        .map(|i| {
            let port = usize::from(base) + offset + i;
            u16::try_from(port)
                .map(|port| format!("127.0.0.1:{port}"))
                .map_err(|_| format!("port {port} is past 65535: lower --base-port"))
        })
        .collect()
}

/// A server started in the background, logging to `<name>.log` in the cluster's directory.
struct Child {
    name: String,
    process: std::process::Child,
    log: PathBuf,
}

/// Starts `target/release/<binary> <args>` as `name`.
fn spawn(
    root: &Path,
    dir: &Path,
    binary: &str,
    name: String,
    args: &[String],
) -> Result<Child, String> {
    let log_path = dir.join(format!("{name}.log"));
    let log = fs::File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let process = Command::new(root.join("target/release").join(binary))
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or("info".to_string()),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    Ok(Child {
        name,
        process,
        log: log_path,
    })
}

/// Records the children's process ids, then waits until `kvctl <check>` succeeds; a child
/// that exits, or no answer within [`WAIT`], stops them all.
fn wait_up(root: &Path, dir: &Path, children: &mut [Child], check: &[&str]) -> Result<(), String> {
    let pids: Vec<String> = children
        .iter()
        .map(|c| c.process.id().to_string())
        .collect();
    fs::write(dir.join("pids"), pids.join("\n") + "\n").map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    loop {
        for child in children.iter_mut() {
            if let Ok(Some(status)) = child.process.try_wait() {
                let log = fs::read_to_string(&child.log).unwrap_or_default();
                let _ = down(dir, false);
                return Err(format!(
                    "{} exited ({status}) at start; its log ({}):\n{log}",
                    child.name,
                    child.log.display()
                ));
            }
        }
        let answered = Command::new(root.join("target/release/kvctl"))
            .args(check)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if answered {
            return Ok(());
        }
        if t0.elapsed() > WAIT {
            let _ = down(dir, false);
            return Err(format!("the servers did not answer within {WAIT:?}"));
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn up(root: &Path, dir: &Path, n: usize, base_port: u16) -> Result<ExitCode, String> {
    if n == 0 {
        return Err("a cluster needs at least one server".to_string());
    }
    prepare(root, dir)?;
    let clients = ports(base_port, 0, n)?;
    let peers = ports(base_port, 100, n)?;
    let metrics = ports(base_port, 200, n)?;
    let joined = clients.join(",");
    let mut children = Vec::new();
    for i in 0..n {
        let args = [
            "--me".to_string(),
            i.to_string(),
            "--peers".into(),
            peers.join(","),
            "--client".into(),
            clients[i].clone(),
            "--metrics".into(),
            metrics[i].clone(),
            "--data".into(),
            dir.join(format!("kv-{i}")).display().to_string(),
        ];
        children.push(spawn(root, dir, "kvserver", format!("kv-{i}"), &args)?);
    }
    fs::write(dir.join("servers"), &joined).map_err(|e| e.to_string())?;
    wait_up(root, dir, &mut children, &["--servers", &joined, "status"])?;
    println!("cluster up: {n} servers, clients on {joined}");
    println!(
        "metrics on http://{}/metrics and the next ports",
        metrics[0]
    );
    println!("state and logs in {}", dir.display());
    println!("try:");
    println!("  target/release/kvctl --servers {joined} put greeting hello");
    println!("  target/release/kvctl --servers {joined} get greeting");
    println!("  cargo xtask cluster status");
    println!("  cargo xtask cluster down");
    Ok(ExitCode::SUCCESS)
}

/// The gids of `up --sharded`'s groups.
const GIDS: [u64; 2] = [100, 101];

fn up_sharded(root: &Path, dir: &Path, base_port: u16) -> Result<ExitCode, String> {
    prepare(root, dir)?;
    let ctrler_clients = ports(base_port, 300, 3)?;
    let ctrler_peers = ports(base_port, 400, 3)?;
    let ctrlers = ctrler_clients.join(",");
    let mut children = Vec::new();
    for (i, client) in ctrler_clients.iter().enumerate() {
        let args = [
            "--me".to_string(),
            i.to_string(),
            "--peers".into(),
            ctrler_peers.join(","),
            "--client".into(),
            client.clone(),
            "--data".into(),
            dir.join(format!("ctrler-{i}")).display().to_string(),
        ];
        children.push(spawn(
            root,
            dir,
            "shardctrler",
            format!("ctrler-{i}"),
            &args,
        )?);
    }
    let mut joins = Vec::new();
    for (g, gid) in GIDS.iter().enumerate() {
        let clients = ports(base_port, 500 + 10 * g, 3)?;
        let peers = ports(base_port, 600 + 10 * g, 3)?;
        for (i, client) in clients.iter().enumerate() {
            let args = [
                "--gid".to_string(),
                gid.to_string(),
                "--me".into(),
                i.to_string(),
                "--peers".into(),
                peers.join(","),
                "--client".into(),
                client.clone(),
                "--ctrlers".into(),
                ctrlers.clone(),
                "--data".into(),
                dir.join(format!("group-{gid}-{i}")).display().to_string(),
            ];
            children.push(spawn(
                root,
                dir,
                "shardkv",
                format!("group-{gid}-{i}"),
                &args,
            )?);
        }
        joins.push(format!("{gid}={}", clients.join(",")));
    }
    fs::write(dir.join("ctrlers"), &ctrlers).map_err(|e| e.to_string())?;
    let mut join = vec!["--ctrlers", &ctrlers, "join"];
    join.extend(joins.iter().map(String::as_str));
    wait_up(root, dir, &mut children, &join)?;
    println!("sharded cluster up: 3 controllers on {ctrlers}; groups {GIDS:?} joined");
    kvctl(root, &["--ctrlers", &ctrlers, "query"])?;
    println!("state and logs in {}", dir.display());
    println!("try:");
    println!("  target/release/kvctl --ctrlers {ctrlers} put greeting hello");
    println!("  target/release/kvctl --ctrlers {ctrlers} get greeting");
    println!("  target/release/kvctl --ctrlers {ctrlers} move 0 101");
    println!("  target/release/kvctl --ctrlers {ctrlers} leave 100");
    println!("  cargo xtask cluster status");
    println!("  cargo xtask cluster down");
    Ok(ExitCode::SUCCESS)
}

fn down(dir: &Path, wipe: bool) -> Result<ExitCode, String> {
    let pids = live_pids(dir).unwrap_or_default();
    for pid in &pids {
        let _ = Command::new("kill").args(["-TERM", pid]).status();
    }
    let t0 = Instant::now();
    while pids.iter().any(|pid| alive(pid)) {
        if t0.elapsed() > WAIT {
            for pid in pids.iter().filter(|pid| alive(pid)) {
                eprintln!("server {pid} did not stop within {WAIT:?}: killing it");
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = fs::remove_file(dir.join("pids"));
    println!("cluster down ({} servers stopped)", pids.len());
    if wipe && dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("cannot delete {}: {e}", dir.display()))?;
        println!("deleted {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The recorded process ids that still run, if any were recorded.
fn live_pids(dir: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(dir.join("pids")).ok()?;
    Some(
        text.lines()
            .map(str::trim)
            .filter(|pid| !pid.is_empty() && alive(pid))
            .map(String::from)
            .collect(),
    )
}

/// Whether process `pid` runs (and is not a zombie).
fn alive(pid: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.split_whitespace().nth(2).is_none_or(|s| s != "Z"))
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| {
        format!(
            "no cluster is up ({}: {e}); `cargo xtask cluster up` starts one",
            path.display()
        )
    })
}

fn kvctl(root: &Path, args: &[&str]) -> Result<ExitCode, String> {
    let status = Command::new(root.join("target/release/kvctl"))
        .args(args)
        .status()
        .map_err(|e| format!("cannot run kvctl: {e}"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
