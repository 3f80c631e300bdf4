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

use parking_lot::Mutex;
use tester::linearizability::{self, KvOp, OpLog};

const SERVERS: usize = 3;
const CLIENTS: u32 = 3;
/// How long the clients run while leaders are killed.
const RUN: Duration = Duration::from_secs(8);
/// Time between kills.
const KILL_EVERY: Duration = Duration::from_millis(1500);
/// A run that takes longer than this has hung (a clerk retries for ever when no server
/// answers): the watchdog stops the servers, deletes the directory and fails the test.
const HUNG: Duration = Duration::from_secs(120);

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
    let servers = Arc::new(Mutex::new(Servers::start(&root)));
    let addrs = servers.lock().addrs.clone();
    let _stop = StopOnDrop(Arc::clone(&servers));
    let finished = Arc::new(AtomicBool::new(false));
    watchdog(Arc::clone(&servers), root.clone(), Arc::clone(&finished));

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
        let leader = servers.lock().leader();
        if let Some(leader) = leader {
            servers.lock().kill(leader);
            kills += 1;
            thread::sleep(Duration::from_millis(300));
            servers.lock().spawn(leader);
        }
    }
    done.store(true, Ordering::Relaxed);
    let results: Vec<(String, u32)> = clients
        .into_iter()
        .map(|c| c.join().expect("a client thread"))
        .collect();
    assert!(kills >= 3, "the test killed only {kills} leaders");

    // Every server stops, then all restart from their directories alone.
    {
        let mut servers = servers.lock();
        for i in 0..SERVERS {
            servers.kill(i);
        }
        for i in 0..SERVERS {
            servers.spawn(i);
        }
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
    finished.store(true, Ordering::Relaxed);
}

/// Stops every server when dropped, a failed test's included (the watchdog holds the servers
/// too, so their own `Drop` would come too late). Declared after [`RemoveOnDrop`], so dropped
/// before it.
struct StopOnDrop(Arc<Mutex<Servers>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let mut servers = self.0.lock();
        for i in 0..SERVERS {
            servers.kill(i);
        }
    }
}

/// Fails the test, after stopping every server and deleting `root`, if it has not finished
/// within [`HUNG`].
fn watchdog(servers: Arc<Mutex<Servers>>, root: PathBuf, finished: Arc<AtomicBool>) {
    thread::spawn(move || {
        let t0 = Instant::now();
        while !finished.load(Ordering::Relaxed) {
            if t0.elapsed() > HUNG {
                let mut servers = servers.lock();
                for i in 0..SERVERS {
                    servers.kill(i);
                }
                let _ = std::fs::remove_dir_all(&root);
                eprintln!("the test hung for {HUNG:?}: servers stopped, directory deleted");
                std::process::exit(101);
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
}

/// Deletes a directory when dropped, a failed test's included.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
