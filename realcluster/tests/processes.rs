//! The real binaries as real processes on loopback: clients append while the test kills the
//! leader with SIGKILL and restarts it, over and over; then every acknowledged append is in
//! place, once and in order, the history is linearizable (lab 4's porcupine check), and a full
//! restart of every server from its directory loses nothing. The test stops every process it
//! started and deletes its directory, whatever happens.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tester::linearizability::{self, KvOp, OpLog};

const SERVERS: usize = 3;
const CLIENTS: u32 = 3;
/// How long the clients run while leaders are killed.
const RUN: Duration = Duration::from_secs(8);
/// Time between kills.
const KILL_EVERY: Duration = Duration::from_millis(1500);

/// The servers' processes, killed when dropped.
struct Servers {
    addrs: Vec<String>,
    root: PathBuf,
    children: Vec<Option<Child>>,
}

impl Servers {
    fn start(root: &Path) -> Servers {
        // Ports the kernel hands out now, free a moment later for the servers.
        let addrs = (0..SERVERS)
            .map(|_| {
                let socket = TcpListener::bind("127.0.0.1:0").expect("binds on loopback");
                socket.local_addr().expect("bound").to_string()
            })
            .collect();
        let mut servers = Servers {
            addrs,
            root: root.to_path_buf(),
            children: (0..SERVERS).map(|_| None).collect(),
        };
        for i in 0..SERVERS {
            servers.spawn(i);
        }
        servers
    }

    fn spawn(&mut self, i: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join(format!("kv-{i}.log")))
            .expect("opens the server's log");
        let child = Command::new(env!("CARGO_BIN_EXE_kvserver"))
            .args(["--me", &i.to_string(), "--servers", &self.addrs.join(",")])
            .arg("--data")
            .arg(self.root.join(format!("kv-{i}")))
            .args(["--maxraftstate", "4096"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starts kvserver");
        self.children[i] = Some(child);
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn leader(&self) -> Option<usize> {
        (0..SERVERS).find(|&i| {
            self.children[i].is_some()
                && realcluster::status(&self.addrs[i]).is_some_and(|s| s.role == "Leader")
        })
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for i in 0..SERVERS {
            self.kill(i);
        }
    }
}

#[test]
fn killing_leaders_with_sigkill_loses_no_acknowledged_write() {
    // One directory per process: the stress runner runs copies of a test side by side.
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("processes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("creates the test's directory");
    let _cleanup = RemoveOnDrop(root.clone());
    let mut servers = Servers::start(&root);
    let addrs = servers.addrs.clone();

    let log = Arc::new(OpLog::new());
    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|cli| {
            let (addrs, log, done) = (addrs.clone(), Arc::clone(&log), Arc::clone(&done));
            thread::spawn(move || {
                let mut ck = realcluster::clerk(&addrs);
                let key = format!("k{cli}");
                let mut acknowledged = 0u32;
                while !done.load(Ordering::Relaxed) {
                    let value = format!("x {cli} {acknowledged} y");
                    let start = linearizability::now();
                    ck.append(&key, &value);
                    let end = linearizability::now();
                    log.record(
                        cli,
                        start,
                        end,
                        KvOp::Append {
                            key: key.as_str().into(),
                            value: value.as_str().into(),
                        },
                    );
                    acknowledged += 1;
                }
                (key, acknowledged)
            })
        })
        .collect();

    let t0 = Instant::now();
    let mut kills = 0;
    while t0.elapsed() < RUN {
        thread::sleep(KILL_EVERY);
        if let Some(leader) = servers.leader() {
            servers.kill(leader);
            kills += 1;
            thread::sleep(Duration::from_millis(300));
            servers.spawn(leader);
        }
    }
    done.store(true, Ordering::Relaxed);
    let results: Vec<(String, u32)> = clients
        .into_iter()
        .map(|c| c.join().expect("a client thread"))
        .collect();
    assert!(kills >= 3, "the test killed only {kills} leaders");

    // Every server stops, then all restart from their directories alone.
    for i in 0..SERVERS {
        servers.kill(i);
    }
    for i in 0..SERVERS {
        servers.spawn(i);
    }
    let mut ck = realcluster::clerk(&addrs);
    for (cli, (key, acknowledged)) in results.iter().enumerate() {
        assert!(*acknowledged > 0, "client {cli} made no progress");
        let start = linearizability::now();
        let value = ck.get(key);
        let end = linearizability::now();
        log.record(
            cli as u32,
            start,
            end,
            KvOp::Get {
                key: key.as_str().into(),
                value: value.as_str().into(),
            },
        );
        let expected: String = (0..*acknowledged)
            .map(|j| format!("x {cli} {j} y"))
            .collect();
        // A clerk's Append returns only once it took effect, and each takes effect once.
        assert!(
            value == expected,
            "{key}: {acknowledged} acknowledged appends, but the value is\n{value}"
        );
    }
    linearizability::assert_linearizable(
        "killing_leaders_with_sigkill_loses_no_acknowledged_write",
        &log.read(),
    );
    drop(servers);
}

/// Deletes a directory when dropped, a failed test's included (the servers are stopped first:
/// `Servers` is declared after it, so it is dropped before it).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
