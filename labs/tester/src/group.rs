//! The server group: the servers of one replica group on a labrpc network, as the kvraft,
//! shardctrler and shardkv harnesses start, shut down, restart, connect and partition them.
//! A port of the course's 2025 `tester1.ServerGrp` (`group.go`, with `srv.go`), keeping the
//! 2024 `config.go` semantics the lab 4 and 5 tests were written against.
//!
//! A [`ServerGrp`] owns, for each of its `n` servers: the running instance (what its harness's
//! builder returned, a [`Replica`]), its [`Persister`], which outlives the instances, and the
//! names of the ends it calls the group's servers through. Server `i` is the labrpc server
//! `"i"`, or [`servername`]`(gid, i)` in a group with a gid. It calls server `j` through an
//! end of its own, with a fresh name at every start so that an earlier instance's ends reach
//! no one, enabled only while the group connects the two. The group records on the test's
//! [`Timeline`] what it does to each server (one lane per server, from `first_lane`) and,
//! through [`ServerGrp::observe`], what each Raft peer says of itself.
//!
//! What the group does not own: the clerks (it makes their ends, [`ServerGrp::make_ends`]),
//! other ends a server has (shardkv's to the controllers), and the network's reliability.
//!
//! Every method takes `&self` (the group's tables are behind a lock), so a test's threads can
//! share it. The lock is never held across a call into Raft or a service: builders, `kill`
//! and `get_state` run outside it.

use std::sync::Arc;

use labrpc::{ClientEnd, Network, Service};
use parking_lot::Mutex;
use raft::{Persister, Raft};
use rand::RngExt;

use crate::randstring;
use crate::timeline::Timeline;

/// One server as its harness started it (Go's `[]IService`, which the group registers with
/// labrpc and kills).
pub struct Replica {
    /// What the server serves under its labrpc name: the service's own, and its Raft peer's.
    pub services: Vec<Service>,
    /// Its Raft peer, which the group asks whether it leads ([`ServerGrp::leader`]) and what
    /// it shows on the timeline ([`ServerGrp::observe`]).
    pub raft: Raft,
    /// Go's `Kill`: stops the server and its Raft peer; when it returns they send nothing more.
    pub kill: Box<dyn FnOnce() + Send>,
}

/// What starts a server (Go's `FstartServer`): from its ends to the group's servers (the
/// `j`th to server `j`), its index `me` in the group, and its persister.
type Builder = dyn Fn(Vec<ClientEnd>, usize, Arc<Persister>) -> Replica + Send + Sync;

/// A running instance, as the group keeps it once it serves.
struct Running {
    raft: Raft,
    kill: Box<dyn FnOnce() + Send>,
}

/// The group's tables (Go's fields under `cfg.mu`).
struct Servers {
    /// Each server's running instance; `None` before its first start and while shut down.
    running: Vec<Option<Running>>,
    /// Each server's persisted state (Go's `saved`).
    saved: Vec<Arc<Persister>>,
    /// `endnames[i][j]`: the name of the end server `i` calls server `j` through (empty until
    /// `i` first starts).
    endnames: Vec<Vec<String>>,
}

/// Go's `ServerGrp`: `n` servers of one replica group.
pub struct ServerGrp {
    net: Network,
    gid: Option<u64>,
    servernames: Vec<String>,
    build: Box<Builder>,
    timeline: Arc<Timeline>,
    /// The timeline's lane of server 0; server `i` is drawn on lane `first_lane + i`.
    first_lane: usize,
    servers: Mutex<Servers>,
}

/// Go's `ServerName(gid, i)`: `server-<gid>-<i>`, the labrpc name of server `i` of group `gid`.
pub fn servername(gid: u64, i: usize) -> String {
    format!("server-{gid}-{i}")
}

/// Go's `random_handles`: the ends in a random order, for a clerk.
pub fn random_handles(kvh: &[ClientEnd]) -> Vec<ClientEnd> {
    let mut sa = kvh.to_vec();
    let mut rng = rand::rng();
    for i in 0..sa.len() {
        let j = rng.random_range(0..=i);
        sa.swap(i, j);
    }
    sa
}

impl ServerGrp {
    /// Go's `makeSrvGrp`: `n` servers on `net`, none started, each with an empty persister.
    /// With a `gid` the servers are named [`servername`]`(gid, i)`; without (a lone group, as
    /// in lab 4 and the controller's tests) they are named `"0"`, `"1"`, ... `build` starts a
    /// server: it captures what else the server needs (`maxraftstate`, the controllers).
    pub fn new(
        net: &Network,
        gid: Option<u64>,
        n: usize,
        timeline: Arc<Timeline>,
        first_lane: usize,
        build: impl Fn(Vec<ClientEnd>, usize, Arc<Persister>) -> Replica + Send + Sync + 'static,
    ) -> ServerGrp {
        let servernames = (0..n)
            .map(|i| match gid {
                Some(gid) => servername(gid, i),
                None => i.to_string(),
            })
            .collect();
        ServerGrp {
            net: net.clone(),
            gid,
            servernames,
            build: Box::new(build),
            timeline,
            first_lane,
            servers: Mutex::new(Servers {
                running: (0..n).map(|_| None).collect(),
                saved: (0..n).map(|_| Arc::new(Persister::new())).collect(),
                endnames: vec![Vec::new(); n],
            }),
        }
    }

    /// The number of servers.
    pub fn n(&self) -> usize {
        self.servernames.len()
    }

    /// The group's id, if it has one.
    pub fn gid(&self) -> Option<u64> {
        self.gid
    }

    /// Go's `All`: every server.
    pub fn all(&self) -> Vec<usize> {
        (0..self.n()).collect()
    }

    /// A fresh set of ends, the `j`th connected to server `j`, all disabled: the ends of a
    /// server's new instance, or of a clerk.
    pub fn make_ends(&self) -> Vec<ClientEnd> {
        self.servernames
            .iter()
            .map(|servername| {
                let name = randstring(20);
                let end = self.net.make_end(&name);
                self.net.connect(&name, servername);
                end
            })
            .collect()
    }

    /// Go's `StartServer`: starts server `i` from its persisted state, with a fresh set of
    /// ends, not connected until [`connect_all`](Self::connect_all),
    /// [`connect_one`](Self::connect_one) or [`partition`](Self::partition). If the server
    /// runs, shut it down first.
    pub fn start_server(&self, i: usize) {
        let (ends, persister) = {
            let mut s = self.servers.lock();
            // A fresh set of outgoing ClientEnd names, and a fresh set of ClientEnds.
            let ends = self.make_ends();
            s.endnames[i] = ends.iter().map(|end| end.name().to_string()).collect();
            // A fresh persister, so the old instance doesn't overwrite the new instance's
            // persisted state. Give the fresh persister a copy of the old persister's state,
            // so that the spec is that we pass the server the last persisted state.
            s.saved[i] = Arc::new(s.saved[i].copy());
            (ends, Arc::clone(&s.saved[i]))
        };
        let Replica {
            services,
            raft,
            kill,
        } = (self.build)(ends, i, persister);
        let server = labrpc::Server::new();
        for service in services {
            server.add_service(service);
        }
        self.servers.lock().running[i] = Some(Running { raft, kill });
        self.net.add_server(&self.servernames[i], server);
        self.timeline.alive(self.first_lane + i, true);
        self.note(format!("start {}", self.label(i)));
    }

    /// Go's `ShutdownServer`: shuts server `i` down by isolating it, removing it from the
    /// network and killing it; its persisted state stays for [`start_server`](Self::start_server).
    pub fn shutdown_server(&self, i: usize) {
        let running = {
            let mut s = self.servers.lock();
            self.set_links_locked(&s, i, &self.all(), false);
            // Disable client connections to the server. It's important to do this before
            // creating the new Persister in saved[i], to avoid the possibility of the server
            // returning a positive reply to an Append but persisting the result in the
            // superseded Persister.
            self.net.delete_server(&self.servernames[i]);
            // A fresh persister, in case the old instance continues to update the Persister,
            // but copy the old persister's content so that we always pass the server the last
            // persisted state.
            s.saved[i] = Arc::new(s.saved[i].copy());
            s.running[i].take()
        };
        // Killed outside the lock, as Go does: kill joins the server's threads.
        if let Some(running) = running {
            (running.kill)();
        }
        let lane = self.first_lane + i;
        self.timeline.connected(lane, false);
        self.timeline.alive(lane, false);
        self.note(format!("shut down {}", self.label(i)));
    }

    /// Go's `StartServers`: creates a full set of servers, and connects them all.
    pub fn start_servers(&self) {
        for i in 0..self.n() {
            self.start_server(i);
        }
        self.connect_all();
    }

    /// Go's `Shutdown`: shuts every server down.
    pub fn shutdown(&self) {
        for i in 0..self.n() {
            self.shutdown_server(i);
        }
    }

    /// Go's `connectUnlocked` (`enabled`) and `disconnectUnlocked`: attaches server `i` to the
    /// servers in `others`, or detaches it from them, both ways. As in 2024's `config.go`,
    /// whether or not those are connected themselves (2025's `connect` skips the ones it has
    /// disconnected).
    fn set_links_locked(&self, s: &Servers, i: usize, others: &[usize], enabled: bool) {
        // Outgoing socket files.
        for &j in others {
            if let Some(name) = s.endnames[i].get(j) {
                self.net.enable(name, enabled);
            }
        }
        // Incoming socket files.
        for &j in others {
            if let Some(name) = s.endnames[j].get(i) {
                self.net.enable(name, enabled);
            }
        }
    }

    /// Go's `ConnectOne`: attaches server `i` to every server, both ways.
    pub fn connect_one(&self, i: usize) {
        self.set_links_locked(&self.servers.lock(), i, &self.all(), true);
        self.timeline.connected(self.first_lane + i, true);
    }

    /// Go's `ConnectAll`: every server to every server.
    pub fn connect_all(&self) {
        let all = self.all();
        {
            let s = self.servers.lock();
            for &i in &all {
                self.set_links_locked(&s, i, &all, true);
            }
        }
        for i in all {
            self.timeline.connected(self.first_lane + i, true);
        }
        self.note("connect all".into());
    }

    /// Go's `partition`: sets up two partitions with connectivity between the servers in each
    /// partition. On the timeline, the servers outside a majority are drawn cut off.
    pub fn partition(&self, p1: &[usize], p2: &[usize]) {
        {
            let s = self.servers.lock();
            for &i in p1 {
                self.set_links_locked(&s, i, p2, false);
                self.set_links_locked(&s, i, p1, true);
            }
            for &i in p2 {
                self.set_links_locked(&s, i, p1, false);
                self.set_links_locked(&s, i, p2, true);
            }
        }
        let majority = self.n() / 2 + 1;
        for part in [p1, p2] {
            for &i in part {
                self.timeline
                    .connected(self.first_lane + i, part.len() >= majority);
            }
        }
        self.note(format!("partition {p1:?} | {p2:?}"));
    }

    /// The Raft peers of the running servers, by server.
    fn rafts(&self) -> Vec<Option<Raft>> {
        let s = self.servers.lock();
        s.running
            .iter()
            .map(|r| r.as_ref().map(|r| r.raft.clone()))
            .collect()
    }

    /// Go's `Leader`: a server whose Raft peer believes it leads, if any.
    pub fn leader(&self) -> Option<usize> {
        self.rafts()
            .iter()
            .position(|rf| rf.as_ref().is_some_and(|rf| rf.get_state().1))
    }

    /// Go's `make_partition`: two partitions, a majority and a minority, with the current
    /// leader (server 0 if none) in the minority.
    pub fn make_partition(&self) -> (Vec<usize>, Vec<usize>) {
        let n = self.n();
        let l = self.leader().unwrap_or(0);
        let mut p1 = Vec::with_capacity(n / 2 + 1);
        let mut p2 = Vec::with_capacity(n / 2);
        for i in (0..n).filter(|&i| i != l) {
            if p1.len() < n / 2 + 1 {
                p1.push(i);
            } else {
                p2.push(i);
            }
        }
        p2.push(l);
        (p1, p2)
    }

    /// Go's `LogSize`: the largest persisted Raft state among the servers.
    pub fn log_size(&self) -> usize {
        let s = self.servers.lock();
        s.saved
            .iter()
            .map(|p| p.raft_state_size())
            .max()
            .unwrap_or(0)
    }

    /// Go's `SnapshotSize`: the largest snapshot among the servers.
    pub fn snapshot_size(&self) -> usize {
        let s = self.servers.lock();
        s.saved.iter().map(|p| p.snapshot_size()).max().unwrap_or(0)
    }

    /// The Raft state and the snapshot of every server, added up.
    pub fn persisted_size(&self) -> usize {
        let s = self.servers.lock();
        s.saved
            .iter()
            .map(|p| p.raft_state_size() + p.snapshot_size())
            .sum()
    }

    /// Records each running server's `(term, is_leader)` on the timeline: the sampler's step.
    pub fn observe(&self) {
        for (i, rf) in self.rafts().iter().enumerate() {
            if let Some(rf) = rf {
                let (term, leader) = rf.get_state();
                self.timeline.observed(self.first_lane + i, term, leader);
            }
        }
    }

    /// Go's `cleanup`: kills every running server, as they are (nothing disconnected, no
    /// persister copied: the network goes next).
    pub fn cleanup(&self) {
        let running: Vec<Running> = {
            let mut s = self.servers.lock();
            s.running.iter_mut().filter_map(Option::take).collect()
        };
        for r in running {
            (r.kill)();
        }
    }

    /// How the timeline's notes name server `i`: its lane, and its labrpc name if it has a
    /// group's.
    fn label(&self, i: usize) -> String {
        let lane = self.first_lane + i;
        match self.gid {
            Some(_) => format!("S{lane} ({})", self.servernames[i]),
            None => format!("S{lane}"),
        }
    }

    /// A harness action, in the log (`RUST_LOG=test=info`) and on the timeline.
    fn note(&self, text: String) {
        log::info!(target: "test", "{:06} TEST {text}", raft::logging::millis());
        self.timeline.note(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group of `n` servers that are Raft peers killed at birth (nothing runs, nothing
    /// persists behind the test's back), with the persisters they were handed, in order.
    fn idle_group(n: usize) -> (ServerGrp, Arc<Mutex<Vec<Arc<Persister>>>>) {
        let handed = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&handed);
        let group = ServerGrp::new(
            &Network::new(),
            Some(7),
            n,
            Arc::new(Timeline::new(n)),
            0,
            move |ends, me, persister| {
                seen.lock().push(Arc::clone(&persister));
                let (apply_tx, _apply_rx) = crossbeam_channel::unbounded();
                let raft = Raft::make(ends, me, persister, apply_tx);
                raft.kill();
                Replica {
                    services: vec![raft.service()],
                    raft,
                    kill: Box::new(|| {}),
                }
            },
        );
        (group, handed)
    }

    /// Go's `ShutdownServer` copies the persister: what the dead instance writes afterwards
    /// goes to an orphan, and the next start gets what was persisted at the shutdown.
    #[test]
    fn a_shut_down_server_writes_to_an_orphan() {
        let (group, handed) = idle_group(3);
        group.start_server(1);
        let first = Arc::clone(&handed.lock()[0]);
        first.save(first.read_raft_state(), b"snap".to_vec());
        assert_eq!(group.snapshot_size(), 4);
        group.shutdown_server(1);
        first.save(first.read_raft_state(), b"too late".to_vec());
        assert_eq!(group.snapshot_size(), 4);
        group.start_server(1);
        let second = Arc::clone(&handed.lock()[1]);
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(second.read_snapshot(), b"snap");
        assert_eq!(group.persisted_size(), second.raft_state_size() + 4);
        group.cleanup();
    }

    /// Go's `make_partition` with no leader: server 0 goes to the minority.
    #[test]
    fn make_partition_puts_the_leader_in_the_minority() {
        let (group, _) = idle_group(5);
        assert_eq!(group.leader(), None);
        assert_eq!(group.make_partition(), (vec![1, 2, 3], vec![4, 0]));
    }
}
