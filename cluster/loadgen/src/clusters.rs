//! The two clusters under test, each three servers on loopback started by this process with
//! their data under one directory: ours (`kvserver`, lab 4's service on the real cluster) and
//! etcd (Debian's `etcd-server`). Both fsync as they do by default. Also: which server leads,
//! SIGKILL and restart, and the servers' CPU time and peak memory from `/proc`.
//!
//! The servers' standard error is discarded, unless [`SERVER_LOGS`] names a directory: then each
//! server appends it to `<system>-<me>.log` there, kept after the run (with `RUST_LOG=raft=debug`
//! in the environment, which the servers inherit, ours log every step of their Raft).

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use grpc::EtcdClient;
use kvraft::Clerk;

use crate::workload::Store;

/// The environment variable that names a directory for the servers' standard error.
pub const SERVER_LOGS: &str = "LOADGEN_SERVER_LOGS";

/// How long a cluster may take to elect a leader and answer.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// How long an etcd client waits for one member before it tries the next.
const ETCD_DEADLINE: Duration = Duration::from_secs(1);

/// Linux's USER_HZ: the unit of `utime` and `stime` in `/proc/<pid>/stat`, fixed at 100 by
/// the kernel's interface whatever the kernel's own tick.
const USER_HZ: f64 = 100.0;

/// Which cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum System {
    /// Ours: three `kvserver` processes.
    Ours,
    /// Three `etcd` members.
    Etcd,
}

impl System {
    /// The name in tables and file names.
    pub fn name(self) -> &'static str {
        match self {
            System::Ours => "ours",
            System::Etcd => "etcd",
        }
    }
}

/// A server process: how to start it, and the one running, if any.
struct Server {
    program: PathBuf,
    args: Vec<String>,
    /// Where its standard error goes ([`SERVER_LOGS`]); `None`: nowhere.
    log: Option<PathBuf>,
    process: Option<Child>,
}

impl Server {
    fn spawn(&mut self) -> Result<(), String> {
        let stderr = match &self.log {
            Some(path) => fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(Stdio::from)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?,
            None => Stdio::null(),
        };
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.program.display()))?;
        self.process = Some(child);
        Ok(())
    }
}

/// What the servers used: CPU seconds (user and system) and peak resident memory, summed over
/// the servers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// CPU seconds since the servers started.
    pub cpu_seconds: f64,
    /// The sum of each server's peak resident set (`VmHWM`), in bytes.
    pub peak_rss_bytes: u64,
}

/// A running cluster; its servers are killed and its directory removed when dropped.
pub struct Cluster {
    dir: PathBuf,
    servers: Vec<Server>,
    connector: Connector,
}

/// What a client needs to reach a cluster: which system, and each server's client address.
#[derive(Clone, Debug)]
pub struct Connector {
    system: System,
    clients: Vec<String>,
}

impl Connector {
    /// A connector to running servers at `clients` (`host:port` each).
    pub fn new(system: System, clients: Vec<String>) -> Result<Connector, String> {
        if clients.is_empty() {
            return Err("no servers to drive".to_string());
        }
        if let Some(bad) = clients
            .iter()
            .find(|a| a.parse::<std::net::SocketAddr>().is_err())
        {
            return Err(format!("{bad} is not an address (host:port, numeric)"));
        }
        Ok(Connector { system, clients })
    }

    /// A client of the cluster; `client` (its number) spreads etcd's clients over the members.
    pub fn store(&self, client: usize) -> Box<dyn Store + Send> {
        match self.system {
            System::Ours => Box::new(OursStore(
                realcluster::clerk(&self.clients, None).expect("checked addresses"),
            )),
            System::Etcd => Box::new(EtcdStore {
                members: self
                    .clients
                    .iter()
                    .map(|a| EtcdClient::new(a).expect("checked addresses"))
                    .collect(),
                current: client % self.clients.len(),
            }),
        }
    }
}

/// `n` distinct free loopback ports, as `127.0.0.1:port`. All `n` are held until all are
/// chosen: a port released early can be handed out again by the next bind.
fn free_ports(n: usize) -> Result<Vec<String>, String> {
    let sockets = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("no free loopback port: {e}"))?;
    sockets
        .iter()
        .map(|s| s.local_addr().map(|a| a.to_string()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

impl Cluster {
    /// Starts three servers of `system` with their data in a fresh `dir`, and waits until they
    /// answer. `kvserver` is looked for in `bin_dir`; `etcd` on the `PATH`.
    /// `ours_args` are added to every `kvserver`'s.
    pub fn start(
        system: System,
        dir: &Path,
        bin_dir: &Path,
        ours_args: &[String],
    ) -> Result<Cluster, String> {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut peers = free_ports(6)?;
        let clients = peers.split_off(3);
        let logs = std::env::var_os(SERVER_LOGS).map(PathBuf::from);
        if let Some(logs) = &logs {
            fs::create_dir_all(logs)
                .map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
        }
        let servers = (0..3)
            .map(|me| {
                let data = dir.join(format!("{}-{me}", system.name()));
                let data = data.display().to_string();
                let log = logs
                    .as_ref()
                    .map(|logs| logs.join(format!("{}-{me}.log", system.name())));
                match system {
                    System::Ours => Server {
                        program: bin_dir.join("kvserver"),
                        args: vec![
                            "--cluster".into(),
                            "versus".into(),
                            "--me".into(),
                            me.to_string(),
                            "--peers".into(),
                            peers.join(","),
                            "--client".into(),
                            clients[me].clone(),
                            "--data".into(),
                            data,
                        ]
                        .into_iter()
                        .chain(ours_args.iter().cloned())
                        .collect(),
                        log,
                        process: None,
                    },
                    System::Etcd => Server {
                        program: PathBuf::from("etcd"),
                        args: etcd_args(me, &peers, &clients, &data),
                        log,
                        process: None,
                    },
                }
            })
            .collect();
        let mut cluster = Cluster {
            dir: dir.to_path_buf(),
            servers,
            connector: Connector::new(system, clients)?,
        };
        for server in &mut cluster.servers {
            server.spawn()?;
        }
        cluster.wait_ready()?;
        Ok(cluster)
    }

    /// Waits until a put through a fresh client succeeds.
    fn wait_ready(&mut self) -> Result<(), String> {
        let system = self.connector.system;
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            for (i, server) in self.servers.iter_mut().enumerate() {
                if let Some(Ok(Some(status))) = server.process.as_mut().map(Child::try_wait) {
                    return Err(format!(
                        "{} server {i} exited at start ({status}); run `{} {}` to see why",
                        system.name(),
                        server.program.display(),
                        server.args.join(" ")
                    ));
                }
            }
            // Our clerk retries until it succeeds: ask it only once a server answers.
            let clients = &self.connector.clients;
            let answered = (system == System::Etcd
                || clients.iter().any(|a| realcluster::status(a, None).is_ok()))
                && self.connector.store(0).put("ready", "yes").is_ok();
            if answered {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not answer within {READY_WITHIN:?}",
                    system.name()
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// What clients need to reach the cluster.
    pub fn connector(&self) -> Connector {
        self.connector.clone()
    }

    /// The server that leads now, if one does and answers.
    pub fn leader(&self) -> Option<usize> {
        let clients = &self.connector.clients;
        (0..self.servers.len()).find(|&i| {
            self.servers[i].process.is_some()
                && match self.connector.system {
                    System::Ours => {
                        realcluster::status(&clients[i], None).is_ok_and(|s| s.role == "Leader")
                    }
                    System::Etcd => etcd_is_leader(&clients[i]),
                }
        })
    }

    /// Server `i`'s process id, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.servers[i].process.as_ref().map(Child::id)
    }

    /// Where the servers keep their data.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How far server `i` has applied the log: our commit index (`kvctl status`), etcd's
    /// `etcd_server_proposals_applied_total`.
    pub fn applied_index(&self, i: usize) -> Option<u64> {
        self.figure(i, |s| s.commit_index, "etcd_server_proposals_applied_total")
    }

    /// Elections as server `i` counts them: our Raft term; etcd's
    /// `etcd_server_leader_changes_seen_total` (its term is not on its metrics page).
    pub fn elections(&self, i: usize) -> Option<u64> {
        self.figure(i, |s| s.term, "etcd_server_leader_changes_seen_total")
    }

    /// A figure of running server `i`: `ours` of our status, or etcd's metric `etcd`.
    fn figure(
        &self,
        i: usize,
        ours: impl Fn(&realcluster::StatusReply) -> u64,
        etcd: &str,
    ) -> Option<u64> {
        self.servers[i].process.as_ref()?;
        let addr = &self.connector.clients[i];
        match self.connector.system {
            System::Ours => realcluster::status(addr, None).ok().map(|s| ours(&s)),
            System::Etcd => etcd_metric(addr, etcd).map(|v| v as u64),
        }
    }

    /// SIGKILLs server `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.servers[i].process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts server `i` again on its data.
    pub fn restart(&mut self, i: usize) -> Result<(), String> {
        self.kill(i);
        self.servers[i].spawn()
    }

    /// What the running servers have used since they started.
    pub fn usage(&self) -> Usage {
        let mut usage = Usage::default();
        for child in self.servers.iter().filter_map(|s| s.process.as_ref()) {
            let proc = PathBuf::from(format!("/proc/{}", child.id()));
            if let Some(ticks) = fs::read_to_string(proc.join("stat"))
                .ok()
                .and_then(|s| cpu_ticks(&s))
            {
                usage.cpu_seconds += ticks as f64 / USER_HZ;
            }
            if let Some(kb) = fs::read_to_string(proc.join("status"))
                .ok()
                .and_then(|s| peak_rss_kb(&s))
            {
                usage.peak_rss_bytes += kb * 1024;
            }
        }
        usage
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The CPU seconds (user and system) this process has used so far: the clients' share of the
/// machine.
pub fn own_cpu_seconds() -> f64 {
    fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| cpu_ticks(&s))
        .map_or(0.0, |ticks| ticks as f64 / USER_HZ)
}

/// etcd's flags for member `me`: everything on loopback, defaults otherwise (fsync on, etcd's
/// snapshot count), logging only errors.
fn etcd_args(me: usize, peers: &[String], clients: &[String], data: &str) -> Vec<String> {
    let initial: Vec<String> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| format!("m{i}=http://{p}"))
        .collect();
    let (peer, client) = (
        format!("http://{}", peers[me]),
        format!("http://{}", clients[me]),
    );
    [
        "--name",
        &format!("m{me}"),
        "--data-dir",
        data,
        "--listen-peer-urls",
        &peer,
        "--initial-advertise-peer-urls",
        &peer,
        "--listen-client-urls",
        &client,
        "--advertise-client-urls",
        &client,
        "--initial-cluster",
        &initial.join(","),
        "--initial-cluster-token",
        "versus",
        "--initial-cluster-state",
        "new",
        "--logger",
        "zap",
        "--log-level",
        "error",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Whether the etcd member serving clients at `addr` says it leads (`etcd_server_is_leader 1`
/// on its `/metrics` page, which it serves on the client port).
fn etcd_is_leader(addr: &str) -> bool {
    etcd_metric(addr, "etcd_server_is_leader") == Some(1.0)
}

/// The value of the unlabelled metric `name` on the `/metrics` page of the etcd member serving
/// clients at `addr`.
fn etcd_metric(addr: &str, name: &str) -> Option<f64> {
    let page = (|| -> std::io::Result<String> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
        let mut page = String::new();
        stream.read_to_string(&mut page)?;
        Ok(page)
    })()
    .ok()?;
    page.lines().find_map(|line| {
        let (metric, value) = line.trim().split_once(' ')?;
        (metric == name).then(|| value.parse().ok())?
    })
}

/// `VmRSS` (resident set now, kB) from a `/proc/<pid>/status` page.
pub fn rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `utime + stime` from a `/proc/<pid>/stat` line (fields 14 and 15, counted after the
/// command's closing parenthesis, which may itself hold spaces).
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (the state).
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// `VmHWM` (peak resident set, kB) from a `/proc/<pid>/status` page.
pub fn peak_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Our cluster through the product's clerk, which finds the leader and retries inside (so it
/// reports no errors: a failed attempt shows as latency).
struct OursStore(Clerk);

impl Store for OursStore {
    fn put(&mut self, key: &str, value: &str) -> Result<(), String> {
        self.0.put(key, value);
        Ok(())
    }

    fn get(&mut self, key: &str) -> Result<(), String> {
        self.0.get(key);
        Ok(())
    }
}

/// etcd through its gRPC API, one member at a time; after a failed attempt the next call goes
/// to the next member, as etcd's client balancer does.
struct EtcdStore {
    members: Vec<EtcdClient>,
    current: usize,
}

impl EtcdStore {
    fn attempt<T>(
        &mut self,
        call: impl Fn(&EtcdClient) -> Result<T, grpc::Status>,
    ) -> Result<(), String> {
        match call(&self.members[self.current]) {
            Ok(_) => Ok(()),
            Err(status) => {
                self.current = (self.current + 1) % self.members.len();
                Err(status.message().to_string())
            }
        }
    }
}

impl Store for EtcdStore {
    fn put(&mut self, key: &str, value: &str) -> Result<(), String> {
        self.attempt(|m| m.put(key.as_bytes(), value.as_bytes(), ETCD_DEADLINE))
    }

    fn get(&mut self, key: &str) -> Result<(), String> {
        self.attempt(|m| m.get(key.as_bytes(), ETCD_DEADLINE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_read_past_a_command_with_spaces() {
        let stat = "4242 (etcd (m 0)) S 1 4242 4242 0 -1 4194560 2710 0 0 0 153 47 0 0 20 0 \
                    12 0 9518 1153404928 9000 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(200));
        assert_eq!(cpu_ticks("no parenthesis"), None);
        assert_eq!(cpu_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn peak_rss_from_status() {
        let status = "Name:\tetcd\nVmPeak:\t 1000 kB\nVmHWM:\t   34512 kB\nVmRSS:\t 30000 kB\n";
        assert_eq!(peak_rss_kb(status), Some(34512));
        assert_eq!(peak_rss_kb("Name:\tx\n"), None);
    }

    #[test]
    fn etcd_members_know_each_other_and_listen_on_loopback() {
        let peers = ["127.0.0.1:1".to_string(), "127.0.0.1:2".to_string()];
        let clients = ["127.0.0.1:3".to_string(), "127.0.0.1:4".to_string()];
        let args = etcd_args(1, &peers, &clients, "/d");
        let at = |flag: &str| &args[args.iter().position(|a| a == flag).expect(flag) + 1];
        assert_eq!(at("--name"), "m1");
        assert_eq!(at("--listen-client-urls"), "http://127.0.0.1:4");
        assert_eq!(at("--listen-peer-urls"), "http://127.0.0.1:2");
        assert_eq!(
            at("--initial-cluster"),
            "m0=http://127.0.0.1:1,m1=http://127.0.0.1:2"
        );
    }
}
