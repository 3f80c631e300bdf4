//! `cargo xtask cluster up|status|down`: a real key/value cluster on loopback, in the
//! background, for trying `kvctl` by hand.
//!
//! `up` builds `realcluster`'s binaries (release), starts `kvserver`s on `127.0.0.1`, server
//! `i` with its client port at `--base-port + i`, its Raft port 100 above and its `/metrics`
//! 200 above, with their state and logs under `target/cluster/`, waits until every one
//! answers `kvctl status`, and prints the addresses and a `kvctl` line to try. `status` prints
//! `kvctl status`; `down` stops the servers with SIGTERM and waits for them (`--wipe` also
//! deletes their state). The servers' process ids are kept in `target/cluster/pids`.

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
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .map_err(|e| format!("cannot find the project: {e}"))?;
    let dir = root.join("target").join("cluster");
    match o.action {
        Action::Up { servers, base_port } => up(&root, &dir, servers, base_port),
        Action::Status => {
            let servers = read(&dir.join("servers"))?;
            kvctl(&root, &servers, &["status"])
        }
        Action::Down { wipe } => down(&dir, wipe),
    }
}

fn up(root: &Path, dir: &Path, n: usize, base_port: u16) -> Result<ExitCode, String> {
    if n == 0 {
        return Err("a cluster needs at least one server".to_string());
    }
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
    let ports = |offset: usize| -> Result<Vec<String>, String> {
        (0..n)
            .map(|i| {
                let port = usize::from(base_port) + offset + i;
                u16::try_from(port)
                    .map(|port| format!("127.0.0.1:{port}"))
                    .map_err(|_| format!("port {port} is past 65535: lower --base-port"))
            })
            .collect()
    };
    let (clients, peers, metrics) = (ports(0)?, ports(100)?, ports(200)?);
    let joined = clients.join(",");
    let mut children = Vec::new();
    for i in 0..n {
        let log_path = dir.join(format!("kv-{i}.log"));
        let log = fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let child = Command::new(root.join("target/release/kvserver"))
            .args(["--me", &i.to_string(), "--peers", &peers.join(",")])
            .args(["--client", &clients[i], "--metrics", &metrics[i], "--data"])
            .arg(dir.join(format!("kv-{i}")))
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".to_string()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start kvserver {i}: {e}"))?;
        children.push((child, log_path));
    }
    let pids: Vec<String> = children.iter().map(|(c, _)| c.id().to_string()).collect();
    fs::write(dir.join("pids"), pids.join("\n") + "\n").map_err(|e| e.to_string())?;
    fs::write(dir.join("servers"), &joined).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    loop {
        for (i, (child, log_path)) in children.iter_mut().enumerate() {
            if let Ok(Some(status)) = child.try_wait() {
                let log = fs::read_to_string(&*log_path).unwrap_or_default();
                let _ = down(dir, false);
                return Err(format!(
                    "kvserver {i} exited ({status}) at start; its log ({}):\n{log}",
                    log_path.display()
                ));
            }
        }
        let answered = Command::new(root.join("target/release/kvctl"))
            .args(["--servers", &joined, "status"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if answered {
            break;
        }
        if t0.elapsed() > WAIT {
            let _ = down(dir, false);
            return Err(format!("the servers did not answer within {WAIT:?}"));
        }
        thread::sleep(Duration::from_millis(200));
    }
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

fn down(dir: &Path, wipe: bool) -> Result<ExitCode, String> {
    let pids = live_pids(dir).unwrap_or_default();
    for pid in &pids {
        let _ = Command::new("kill").args(["-TERM", pid]).status();
    }
    let t0 = Instant::now();
    while pids.iter().any(|pid| alive(pid)) {
        if t0.elapsed() > WAIT {
            for pid in pids.iter().filter(|pid| alive(pid)) {
                eprintln!("kvserver {pid} did not stop within {WAIT:?}: killing it");
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

fn kvctl(root: &Path, servers: &str, args: &[&str]) -> Result<ExitCode, String> {
    let status = Command::new(root.join("target/release/kvctl"))
        .args(["--servers", servers])
        .args(args)
        .status()
        .map_err(|e| format!("cannot run kvctl: {e}"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
