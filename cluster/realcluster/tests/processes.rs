//! The real binaries as real processes on loopback: clients append for 30 s while the test, in
//! turn, kills the leader with SIGKILL and restarts it, does the same to a follower, cuts the
//! leader off from the other servers (the leader in a minority), cuts a follower off, and
//! cuts every link (no majority anywhere); then every acknowledged append is in place, once and in order,
//! the history is linearizable (lab 4's porcupine check), and a full restart of every server
//! from its directory loses nothing. The test stops every process it started and deletes its
//! directory, whatever happens.
//!
//! Partitions need no privileges: server `i` reaches server `j` through a TCP proxy of the
//! test's for the link `i -> j`, which the test can cut (closing its connections and refusing
//! new ones) and heal. Clients reach every server's client port directly, so a clerk can still
//! call a leader that has been cut off, which must then fail to commit rather than answer.

mod common;

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Procs, TestDir, free_addrs, recorded, watchdog};
use parking_lot::Mutex;
use tester::linearizability::{self, KvOp, OpLog};

const SERVERS: usize = 3;
const CLIENTS: u32 = 3;
/// How long the clients run while the faults come.
const RUN: Duration = Duration::from_secs(30);
/// Time between faults.
const FAULT_EVERY: Duration = Duration::from_millis(1000);
/// A run that takes longer than this has hung (a clerk retries for ever when no server
/// answers): the watchdog stops the servers, deletes the directory and fails the test.
const HUNG: Duration = Duration::from_secs(120);

/// The servers: their processes, and the proxies of the links between them.
struct Servers {
    /// Each server's client address.
    clients: Vec<String>,
    /// `proxies[i][j]`: the link from server `i` to server `j` (`None` for `i == j`).
    proxies: Vec<Vec<Option<Proxy>>>,
    /// Server `i` is process `i`. Shared with the watchdog, which holds it weakly: dropping
    /// the servers kills them.
    procs: Arc<Mutex<Procs>>,
}

/// A TCP proxy for one link between servers, which can be cut and healed.
struct Proxy {
    addr: String,
    cut: Arc<AtomicBool>,
    /// The streams of the connections it carries, to close them when it is cut.
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(to: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds on loopback");
        let addr = listener.local_addr().expect("bound").to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (cut_for_accept, open_for_accept) = (Arc::clone(&cut), Arc::clone(&open));
        thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { continue };
                if cut_for_accept.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let Ok(outbound) = TcpStream::connect(&to) else {
                    continue;
                };
                let mut open = open_for_accept.lock();
                for stream in [&inbound, &outbound] {
                    if let Ok(clone) = stream.try_clone() {
                        open.push(clone);
                    }
                }
                drop(open);
                pipe(&inbound, &outbound);
                pipe(&outbound, &inbound);
            }
        });
        Proxy { addr, cut, open }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
        if cut {
            for stream in self.open.lock().drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Copies `from` to `to` on a thread of its own until either closes.
fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

impl Servers {
    fn start(dir: &TestDir) -> Servers {
        let (peers, clients) = (free_addrs(SERVERS), free_addrs(SERVERS));
        let proxies: Vec<Vec<Option<Proxy>>> = (0..SERVERS)
            .map(|i| {
                (0..SERVERS)
                    .map(|j| (i != j).then(|| Proxy::start(peers[j].clone())))
                    .collect()
            })
            .collect();
        let mut procs = Procs::default();
        for i in 0..SERVERS {
            // Its own address, and the others through the proxies of its links.
            let view: Vec<&str> = (0..SERVERS)
                .map(|j| match &proxies[i][j] {
                    Some(proxy) => proxy.addr.as_str(),
                    None => peers[i].as_str(),
                })
                .collect();
            let args = [
                "--cluster",
                "processes",
                "--me",
                &i.to_string(),
                "--peers",
                &view.join(","),
                "--client",
                &clients[i],
                "--data",
                &dir.join(format!("kv-{i}")).display().to_string(),
                "--maxraftstate",
                "4096",
            ];
            let log = dir.join(format!("kv-{i}.log"));
            let args = args.map(String::from).to_vec();
            procs.add(env!("CARGO_BIN_EXE_kvserver"), args, Some(log));
        }
        Servers {
            clients,
            proxies,
            procs: Arc::new(Mutex::new(procs)),
        }
    }

    /// SIGKILLs server `i`, and waits for the process to be gone.
    fn kill(&self, i: usize) {
        self.procs.lock().kill(i);
    }

    /// Starts server `i` again, on its directory.
    fn spawn(&self, i: usize) {
        self.procs.lock().spawn(i);
    }

    /// Cuts (or heals) every link to and from server `i`.
    fn isolate(&self, i: usize, cut: bool) {
        for j in (0..SERVERS).filter(|&j| j != i) {
            for proxy in [&self.proxies[i][j], &self.proxies[j][i]]
                .into_iter()
                .flatten()
            {
                proxy.set_cut(cut);
            }
        }
    }

    /// Cuts (or heals) every link between servers.
    fn split_all(&self, cut: bool) {
        for proxy in self.proxies.iter().flatten().flatten() {
            proxy.set_cut(cut);
        }
    }

    /// A running server that says it leads (asked without the processes' lock held).
    fn leader(&self) -> Option<usize> {
        (0..SERVERS).find(|&i| {
            let running = self.procs.lock().is_running(i);
            running && realcluster::status(&self.clients[i], None).is_ok_and(|s| s.role == "Leader")
        })
    }
}

#[test]
fn sigkill_and_partitions_lose_no_acknowledged_write() {
    let dir = TestDir::new("processes");
    let servers = Servers::start(&dir);
    watchdog(&servers.procs, &dir, HUNG);
    let addrs = servers.clients.clone();

    let log = Arc::new(OpLog::new());
    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|cli| {
            let (addrs, log, done) = (addrs.clone(), Arc::clone(&log), Arc::clone(&done));
            thread::spawn(move || {
                let mut ck = realcluster::clerk(&addrs, None).expect("addresses");
                let key = format!("k{cli}");
                let mut acknowledged = 0u32;
                while !done.load(Ordering::Relaxed) {
                    let value = format!("x {cli} {acknowledged} y");
                    recorded(
                        &log,
                        cli,
                        || ck.append(&key, &value),
                        |_| KvOp::Append {
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
    // Leaders killed, followers killed, leaders cut off, followers cut off, every link cut.
    let mut faults = [0; 5];
    let mut round = 0;
    while t0.elapsed() < RUN {
        thread::sleep(FAULT_EVERY);
        let Some(leader) = servers.leader() else {
            continue;
        };
        let follower = (leader + 1) % SERVERS;
        match round % faults.len() {
            0 | 1 => {
                let victim = if round % faults.len() == 0 {
                    leader
                } else {
                    follower
                };
                servers.kill(victim);
                thread::sleep(Duration::from_millis(300));
                servers.spawn(victim);
            }
            2 | 3 => {
                let victim = if round % faults.len() == 2 {
                    leader
                } else {
                    follower
                };
                servers.isolate(victim, true);
                thread::sleep(Duration::from_millis(1000));
                servers.isolate(victim, false);
            }
            _ => {
                servers.split_all(true);
                thread::sleep(Duration::from_millis(1000));
                servers.split_all(false);
            }
        }
        faults[round % faults.len()] += 1;
        round += 1;
    }
    done.store(true, Ordering::Relaxed);
    let results: Vec<(String, u32)> = clients
        .into_iter()
        .map(|c| c.join().expect("a client thread"))
        .collect();
    assert!(
        faults.iter().all(|&n| n >= 1),
        "leaders killed, followers killed, leaders cut off, followers cut off, all cut: {faults:?}"
    );

    // Every server stops, then all restart from their directories alone.
    {
        let mut procs = servers.procs.lock();
        procs.kill_all();
        for i in 0..SERVERS {
            procs.spawn(i);
        }
    }
    let mut ck = realcluster::clerk(&addrs, None).expect("addresses");
    for (cli, (key, acknowledged)) in results.iter().enumerate() {
        assert!(*acknowledged > 0, "client {cli} made no progress");
        let value = recorded(
            &log,
            cli as u32,
            || ck.get(key),
            |value| KvOp::Get {
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
        "sigkill_and_partitions_lose_no_acknowledged_write",
        &log.read(),
    );
}
