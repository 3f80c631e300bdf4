//! What the tests assert with: Go's `checkOneLeader`, `checkTerms`, `checkNoLeader`,
//! `nCommitted`, `wait` and `one`, and the checks every harness call makes first (an apply
//! error, a killed instance still sending, the 120 s limit).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use tester::{TEST_TIME_LIMIT, rand_int};

use super::Cmd;
use super::config::Config;

impl Config {
    /// Panics with the first apply error any applier recorded (Go's appliers die at once), or
    /// that a killed instance's zombie showed.
    pub(crate) fn check_apply_errors(&self) {
        if let Some(err) = self.apply_error() {
            panic!("{err}");
        }
    }

    /// The first apply error, as the panic message; checks the zombies first.
    pub(crate) fn apply_error(&self) -> Option<String> {
        self.check_zombies();
        let logs = self.logs.lock();
        let err = logs.apply_err.iter().flatten().next()?;
        Some(format!("apply error: {err}"))
    }

    /// Records an apply error for each message a killed instance offers on its `apply_ch`, and
    /// forgets the zombies whose senders are gone.
    fn check_zombies(&self) {
        let mut zombies = self.zombies.lock();
        zombies.retain(|zombie| match zombie.check() {
            Ok(alive) => alive,
            Err(err) => {
                self.logs.lock().record_error(zombie.server, err);
                true
            }
        });
    }

    pub(crate) fn check_timeout(&self) {
        if let Some(err) = self.timeout_error() {
            panic!("{err}");
        }
    }

    pub(crate) fn timeout_error(&self) -> Option<String> {
        (self.start.elapsed() > TEST_TIME_LIMIT)
            .then(|| "test took longer than 120 seconds".to_string())
    }

    /// One connected peer is leader, and no term has two; returns it. Tries ten times, as
    /// elections may still be under way.
    pub fn check_one_leader(&self) -> usize {
        for _ in 0..10 {
            thread::sleep(Duration::from_millis(450 + rand_int(100)));
            let mut leaders: HashMap<u64, Vec<usize>> = HashMap::new();
            for i in 0..self.n {
                if !self.is_connected(i) {
                    continue;
                }
                if let Some(rf) = self.try_raft(i) {
                    let (term, leader) = rf.get_state();
                    if leader {
                        leaders.entry(term).or_default().push(i);
                    }
                }
            }
            for (term, ids) in &leaders {
                if ids.len() > 1 {
                    panic!("term {term} has {} (>1) leaders", ids.len());
                }
            }
            if let Some(last) = leaders.keys().max() {
                let leader = leaders[last][0];
                tlog!("check_one_leader: S{leader} in term {last}");
                return leader;
            }
        }
        panic!("expected one leader, got none");
    }

    /// All connected peers are in the same term; returns it.
    pub fn check_terms(&self) -> u64 {
        let mut term = None;
        for i in 0..self.n {
            if !self.is_connected(i) {
                continue;
            }
            let (xterm, _) = self.raft(i).get_state();
            match term {
                None => term = Some(xterm),
                Some(t) if t != xterm => panic!("servers disagree on term"),
                Some(_) => {}
            }
        }
        term.unwrap_or(0)
    }

    /// No connected peer thinks it is leader.
    pub fn check_no_leader(&self) {
        for i in 0..self.n {
            if self.is_connected(i) && self.raft(i).get_state().1 {
                panic!("expected no leader among connected servers, but {i} claims to be leader");
            }
        }
    }

    /// How many peers have applied `index`, and the command there. Panics on an apply error
    /// or if two peers applied different commands at `index`.
    pub fn n_committed(&self, index: u64) -> (usize, Option<Cmd>) {
        self.check_apply_errors();
        let logs = self.logs.lock();
        let mut count = 0;
        let mut cmd: Option<&Cmd> = None;
        for log in &logs.logs {
            if let Some(cmd1) = log.get(&index) {
                if let Some(cmd) = cmd
                    && cmd != cmd1
                {
                    panic!("committed values do not match: index {index}, {cmd}, {cmd1}");
                }
                count += 1;
                cmd = Some(cmd1);
            }
        }
        (count, cmd.cloned())
    }

    /// Waits for at least `n` peers to apply `index`, backing off to about 31 s in all. Returns
    /// `None` early if a peer has moved past `start_term` (the command may never commit).
    pub fn wait(&self, index: u64, n: usize, start_term: Option<u64>) -> Option<Cmd> {
        let mut to = Duration::from_millis(10);
        for _ in 0..30 {
            if self.n_committed(index).0 >= n {
                break;
            }
            thread::sleep(to);
            if to < Duration::from_secs(1) {
                to *= 2;
            }
            if let Some(start_term) = start_term {
                let rafts = self.peers.lock().rafts.clone();
                for rf in rafts.iter().flatten() {
                    if rf.get_state().0 > start_term {
                        // Someone has moved on; the command may never be committed.
                        return None;
                    }
                }
            }
        }
        let (nd, cmd) = self.n_committed(index);
        if nd < n {
            panic!("only {nd} decided for index {index}; wanted {n}");
        }
        cmd
    }

    /// Go's `one` with an integer command.
    pub fn one(&self, cmd: i64, expected_servers: usize, retry: bool) -> u64 {
        self.one_cmd(Cmd::Int(cmd), expected_servers, retry)
    }

    /// A complete agreement on `cmd`: find a leader (trying the connected peers in turn), then
    /// wait up to 2 s for `expected_servers` peers to apply it; with `retry`, submit again, for
    /// up to 10 s in all. Returns the index.
    pub fn one_cmd(&self, cmd: Cmd, expected_servers: usize, retry: bool) -> u64 {
        let t0 = Instant::now();
        let command = labgob::encode(&cmd);
        let mut starts = 0;
        while t0.elapsed() < Duration::from_secs(10) && !self.finished.load(Ordering::Relaxed) {
            let mut index = None;
            for _ in 0..self.n {
                starts = (starts + 1) % self.n;
                let rf = {
                    let p = self.peers.lock();
                    if p.connected[starts] {
                        p.rafts[starts].clone()
                    } else {
                        None
                    }
                };
                if let Some(rf) = rf {
                    let (index1, _, ok) = rf.start(command.clone());
                    if ok {
                        index = Some(index1);
                        break;
                    }
                }
            }
            match index {
                Some(index) => {
                    // Somebody claimed to be the leader and to have submitted our command.
                    let t1 = Instant::now();
                    while t1.elapsed() < Duration::from_secs(2) {
                        let (nd, cmd1) = self.n_committed(index);
                        if nd > 0 && nd >= expected_servers && cmd1.as_ref() == Some(&cmd) {
                            return index;
                        }
                        thread::sleep(Duration::from_millis(20));
                    }
                    if !retry {
                        panic!("one({cmd}) failed to reach agreement");
                    }
                }
                None => thread::sleep(Duration::from_millis(50)),
            }
        }
        panic!("one({cmd}) failed to reach agreement");
    }
}
