//! The wiring of a Raft cluster on one labrpc network, written once for the programs that run
//! one outside the lab's tests: the demo (`cargo run --release`) and the agreement benchmark
//! (`benches/agreement.rs`). It is not part of the reference solution: Raft itself is in `src/`.
//!
//! A [`Cluster`] of `n` peers does what Go's `config.go` does with its network: peer `i` is the
//! labrpc server `"i"`; it calls peer `j` through an end of its own, connected to server `"j"`,
//! with a fresh name at every start so that a crashed instance's ends can reach no one; each
//! peer keeps a [`Persister`] across crashes; and [`Cluster::connect`] and
//! [`Cluster::disconnect`] enable and disable a peer's ends in both directions. What a program
//! does with the committed commands is its own business: [`Cluster::start`] hands back the
//! peer's `apply_ch` for the caller to read, and the snapshot it restarts from.
//!
//! ```
//! let cluster = labcluster::Cluster::new(3);
//! for i in 0..3 {
//!     let started = cluster.start(i);
//!     std::thread::spawn(move || for _msg in started.apply_ch {});
//! }
//! (0..3).for_each(|i| cluster.connect(i));
//! // ... cluster.leader(), cluster.crash(1), cluster.start(1), cluster.net().set_reliable(false)
//! ```
//!
//! Dropping the cluster kills every peer and shuts the network down.
//!
//! The test harness (`tests/common`) is a port of Go's `config.go` and keeps its shape (its own
//! tables, its appliers, its timeline and log lines at every step); it shares the two steps that
//! are the same everywhere: [`connect_ends`] and [`serve`].

use std::sync::Arc;

use labrpc::{Network, Server};
use parking_lot::Mutex;
use raft::crossbeam_channel::{self, Receiver};
use raft::{ApplyMsg, Persister, Raft};

/// New ends called `names`, the `j`th connected to server `"j"` (still disabled, as every new
/// end is): the ends one peer calls the others through.
pub fn connect_ends(net: &Network, names: &[String]) -> Vec<labrpc::ClientEnd> {
    names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let end = net.make_end(name);
            net.connect(name, &j.to_string());
            end
        })
        .collect()
}

/// Makes `raft`'s RPC handlers reachable as server `"i"`, replacing whatever served there.
pub fn serve(net: &Network, i: usize, raft: &Raft) {
    let server = Server::new();
    server.add_service(raft.service());
    net.add_server(&i.to_string(), server);
}

/// `n` Raft peers on one labrpc network. Every method takes `&self`: share it in an `Arc`.
pub struct Cluster {
    n: usize,
    net: Network,
    peers: Mutex<Peers>,
}

/// The peers and their wiring, changed by `start`, `crash`, `connect` and `disconnect`.
struct Peers {
    /// The running instance of each peer; `None` before its first start and while crashed.
    rafts: Vec<Option<Raft>>,
    connected: Vec<bool>,
    /// Each peer's persisted state, which outlives its instances.
    persisters: Vec<Arc<Persister>>,
    /// `end_names[i][j]`: the name of the end peer `i` calls peer `j` through (empty until
    /// `i` first starts).
    end_names: Vec<Vec<String>>,
    /// Starts so far, of all peers: numbers each start, which makes every end name new.
    starts: u64,
}

/// A peer that [`Cluster::start`] has just started.
pub struct Started {
    /// The new instance.
    pub raft: Raft,
    /// Its `apply_ch`, for the caller to read as the service would; Raft blocks on it (it is
    /// unbuffered), so read it in a thread of its own until it closes, at `kill`.
    pub apply_ch: Receiver<ApplyMsg>,
    /// The snapshot the peer starts from (empty at its first start): the service restores its
    /// state from it, as a KV server would, before it reads `apply_ch`.
    pub snapshot: Vec<u8>,
    /// Which start this is, counting every peer's from 1. A thread that still serves a crashed
    /// instance can tell from it that the peer has moved on to a newer one.
    pub generation: u64,
}

impl Cluster {
    /// `n` peers, none started, on a new reliable network (seeded from `LABRPC_SEED` if set).
    pub fn new(n: usize) -> Cluster {
        Cluster {
            n,
            net: Network::new(),
            peers: Mutex::new(Peers {
                rafts: vec![None; n],
                connected: vec![false; n],
                persisters: (0..n).map(|_| Arc::new(Persister::new())).collect(),
                end_names: vec![Vec::new(); n],
                starts: 0,
            }),
        }
    }

    /// How many peers the cluster has.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The network, for its knobs (`set_reliable`, `set_long_delays`, ...) and its counts.
    pub fn net(&self) -> &Network {
        &self.net
    }

    /// Starts peer `i` from its persisted state, crashing its running instance first (Go's
    /// `start1`). It has new ends to every peer and is disconnected until [`Cluster::connect`].
    pub fn start(&self, i: usize) -> Started {
        self.crash(i);
        let (generation, end_names, persister) = {
            let mut p = self.peers.lock();
            p.starts += 1;
            let generation = p.starts;
            p.end_names[i] = (0..self.n)
                .map(|j| format!("{i}->{j}#{generation}"))
                .collect();
            // A copy, so the state this instance writes is its own from here on.
            p.persisters[i] = Arc::new(p.persisters[i].copy());
            (
                generation,
                p.end_names[i].clone(),
                Arc::clone(&p.persisters[i]),
            )
        };
        let ends = connect_ends(&self.net, &end_names);
        let snapshot = persister.read_snapshot();
        let (apply_tx, apply_ch) = crossbeam_channel::bounded(0);
        let raft = Raft::make(ends, i, persister, apply_tx);
        self.peers.lock().rafts[i] = Some(raft.clone());
        serve(&self.net, i, &raft);
        Started {
            raft,
            apply_ch,
            snapshot,
            generation,
        }
    }

    /// Crashes peer `i` (Go's `crash1`): cuts it off, removes its server and kills it; its
    /// persisted state stays for the next [`Cluster::start`]. Does nothing to a crashed peer.
    pub fn crash(&self, i: usize) {
        self.disconnect(i);
        self.net.delete_server(&i.to_string());
        let raft = {
            let mut p = self.peers.lock();
            // Whatever the dying instance still writes goes to an orphan copy.
            p.persisters[i] = Arc::new(p.persisters[i].copy());
            p.rafts[i].take()
        };
        if let Some(raft) = raft {
            raft.kill();
        }
    }

    /// Attaches peer `i` to every connected peer, both ways.
    pub fn connect(&self, i: usize) {
        self.set_links(i, true);
    }

    /// Detaches peer `i` from every peer, both ways.
    pub fn disconnect(&self, i: usize) {
        self.set_links(i, false);
    }

    fn set_links(&self, i: usize, up: bool) {
        let mut p = self.peers.lock();
        p.connected[i] = up;
        for j in 0..self.n {
            if up && !p.connected[j] {
                continue;
            }
            if let Some(name) = p.end_names[i].get(j) {
                self.net.enable(name, up);
            }
            if let Some(name) = p.end_names[j].get(i) {
                self.net.enable(name, up);
            }
        }
    }

    /// Whether peer `i` is attached to the network (a crashed peer is not).
    pub fn is_connected(&self, i: usize) -> bool {
        self.peers.lock().connected[i]
    }

    /// Peer `i`'s running instance, unless it is crashed or not started yet.
    pub fn raft(&self, i: usize) -> Option<Raft> {
        self.peers.lock().rafts[i].clone()
    }

    /// Peer `i`'s persisted state (of its running instance, if any).
    pub fn persister(&self, i: usize) -> Arc<Persister> {
        Arc::clone(&self.peers.lock().persisters[i])
    }

    /// The connected peer that is leader in the highest term, if any: its index, its handle
    /// and the term. A leader cut off from the others may still believe it leads an older term;
    /// it is not the one clients should talk to.
    pub fn leader(&self) -> Option<(usize, Raft, u64)> {
        let peers: Vec<(usize, Raft)> = {
            let p = self.peers.lock();
            (0..self.n)
                .filter(|&i| p.connected[i])
                .filter_map(|i| Some((i, p.rafts[i].clone()?)))
                .collect()
        };
        peers
            .into_iter()
            .filter_map(|(i, raft)| {
                let (term, leader) = raft.get_state();
                leader.then_some((i, raft, term))
            })
            .max_by_key(|&(_, _, term)| term)
    }

    /// Kills every peer and shuts the network down (also done on drop). Harmless to repeat.
    pub fn shutdown(&self) {
        let rafts: Vec<Raft> = self.peers.lock().rafts.iter().flatten().cloned().collect();
        for raft in rafts {
            raft.kill();
        }
        self.net.cleanup();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;
    use std::time::{Duration, Instant};

    /// Reads a peer's `apply_ch` until it closes.
    fn drain(started: Started) -> thread::JoinHandle<()> {
        thread::spawn(move || for _msg in started.apply_ch {})
    }

    fn wait_for_leader(cluster: &Cluster) -> (usize, Raft, u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(leader) = cluster.leader() {
                return leader;
            }
            assert!(Instant::now() < deadline, "no leader within 10 s");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The wiring works end to end: an election, a cut-off leader replaced, a restart that
    /// keeps the persisted state, and fresh generations and end names at each start.
    #[test]
    fn elects_replaces_a_cut_off_leader_and_restarts() {
        let cluster = Cluster::new(3);
        let appliers: Vec<_> = (0..3).map(|i| drain(cluster.start(i))).collect();
        (0..3).for_each(|i| cluster.connect(i));
        let (first, _, term) = wait_for_leader(&cluster);

        cluster.disconnect(first);
        assert!(!cluster.is_connected(first));
        let deadline = Instant::now() + Duration::from_secs(10);
        let (second, _, second_term) = loop {
            match cluster.leader() {
                Some(l) if l.0 != first => break l,
                _ => assert!(Instant::now() < deadline, "no new leader within 10 s"),
            }
            thread::sleep(Duration::from_millis(20));
        };
        assert!(second_term > term);

        let (_, _, ok) = cluster
            .raft(second)
            .expect("the leader runs")
            .start(vec![1]);
        assert!(ok);
        cluster.crash(second);
        assert!(cluster.raft(second).is_none() && !cluster.is_connected(second));
        let restarted = cluster.start(second);
        assert_eq!(restarted.generation, 4, "three first starts, then this one");
        assert!(cluster.persister(second).raft_state_size() > 0);
        let (term_after, _) = restarted.raft.get_state();
        assert!(term_after >= second_term, "the term survives the restart");
        let restarted = drain(restarted);
        // Dropping the cluster kills every instance, which closes every apply_ch.
        drop(cluster);
        for applier in appliers.into_iter().chain([restarted]) {
            applier.join().expect("applier");
        }
    }
}
