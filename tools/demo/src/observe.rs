//! What the demo sees: each peer's `Raft::status` a few times a second, and the events it
//! derives from one look to the next.
//!
//! - `S2 leads term 4`: the connected peer leading the highest term changed.
//! - `S3 rejoined at term 6 (3 when cut off: elections it could not win)`: a peer
//!   came back with a higher term than it left with. A peer cut off from the others hears
//!   from no leader, so its election timer fires again and again, and each election raises
//!   its term (§5.2) without ever finding a majority.
//! - `S0, leader of term 3, steps down: S3 rejoined with term 6 (§5.1)`: a peer that was
//!   leader is no longer, with the cause found among the other peers: one that rejoined with
//!   a higher term (its first RPC or reply carries that term, and "if RPC request or response
//!   contains term T > currentTerm: set currentTerm = T, convert to follower"), one that stood
//!   for election in a higher term (`S2 stands for term 5`), or the leader itself rejoining
//!   after it was cut off (`S1, leader of term 2 while cut off, steps down for term 3`): it
//!   goes on believing it leads its term until it hears of a newer one.
//!
//! It also keeps the run's figures: the terms that had a leader, the longest time without one.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use raft::{Role, Status};

use crate::wiring::Demo;

/// How long a rejoin counts as the cause of a leader's stepping down: a rejoined peer's term
/// reaches the leader with its next RPC, within an election timeout (at most 800 ms).
const REJOIN_EXPLAINS: Duration = Duration::from_secs(3);

/// One peer at one look: `None` in a [`Sample`] while it is crashed.
#[derive(Clone, Copy, Debug)]
pub struct PeerView {
    pub status: Status,
    pub connected: bool,
}

/// Every peer at one look.
pub type Sample = Vec<Option<PeerView>>;

/// Looks at every peer now.
pub fn sample(demo: &Demo) -> Sample {
    (0..demo.n())
        .map(|i| {
            let rf = demo.cluster.raft(i)?;
            Some(PeerView {
                status: rf.status(),
                connected: demo.cluster.is_connected(i),
            })
        })
        .collect()
}

pub struct Observer {
    /// Whether there was a look before: the first one shows no change.
    looked: bool,
    last: Sample,
    /// The connected peer leading the highest term when last seen, and the term.
    leader: Option<(usize, u64)>,
    /// Per peer, while it is cut off (disconnected or crashed): its term when first seen so.
    left_at: Vec<Option<u64>>,
    /// Per peer: the term it rejoined with and when, until it explains a step-down.
    rejoined: Vec<Option<(u64, Instant)>>,
    /// Every term in which a leader was seen.
    pub terms_led: BTreeSet<u64>,
    no_leader_since: Option<Instant>,
    /// The longest time without a connected leader.
    pub longest_gap: Duration,
}

fn is_leader(view: &PeerView) -> bool {
    view.status.role == Role::Leader
}

impl Observer {
    pub fn new(n: usize) -> Observer {
        Observer {
            looked: false,
            last: vec![None; n],
            leader: None,
            left_at: vec![None; n],
            rejoined: vec![None; n],
            terms_led: BTreeSet::new(),
            no_leader_since: None,
            longest_gap: Duration::ZERO,
        }
    }

    /// Takes in the look `now` and returns the events it shows, in order.
    pub fn observe(&mut self, now: Instant, sample: Sample) -> Vec<String> {
        let mut events = Vec::new();
        if self.looked {
            self.rejoins(now, &sample, &mut events);
            self.step_downs(now, &sample, &mut events);
        }
        self.looked = true;
        self.leadership(now, &sample, &mut events);
        self.last = sample;
        events
    }

    /// Peers cut off since the last look, and peers back since it.
    fn rejoins(&mut self, now: Instant, sample: &Sample, events: &mut Vec<String>) {
        for (i, view) in sample.iter().enumerate() {
            let was_connected = self.last[i].is_some_and(|v| v.connected);
            match view {
                Some(v) if v.connected && !was_connected => {
                    let term = v.status.term;
                    if let Some(left) = self.left_at[i].take()
                        && term > left
                    {
                        events.push(format!(
                            "S{i} rejoined at term {term} ({left} when cut off: elections it \
                             could not win)"
                        ));
                    }
                    self.rejoined[i] = Some((term, now));
                }
                Some(v) if !v.connected && self.left_at[i].is_none() => {
                    self.left_at[i] = Some(v.status.term);
                }
                None if self.left_at[i].is_none() => {
                    self.left_at[i] = self.last[i].map(|v| v.status.term);
                }
                _ => {}
            }
        }
    }

    /// Leaders at the last look that lead no more, each with its cause.
    fn step_downs(&mut self, now: Instant, sample: &Sample, events: &mut Vec<String>) {
        for i in 0..sample.len() {
            let (Some(was), Some(is)) = (self.last[i], sample[i]) else {
                continue;
            };
            if !is_leader(&was) || is_leader(&is) {
                continue;
            }
            let (old, new) = (was.status.term, is.status.term);
            let recent = |r: Option<(u64, Instant)>| {
                r.filter(|&(_, at)| now.duration_since(at) <= REJOIN_EXPLAINS)
            };
            // Another peer that rejoined with a term above this leader's.
            let rejoined = (0..sample.len())
                .filter(|&j| j != i)
                .filter_map(|j| Some((j, recent(self.rejoined[j])?.0)))
                .filter(|&(_, term)| term > old)
                .max_by_key(|&(_, term)| term);
            // A peer standing for election in a term above this leader's.
            let candidate = sample.iter().enumerate().find_map(|(j, v)| {
                let v = v.as_ref()?;
                (j != i && v.status.role == Role::Candidate && v.status.term > old)
                    .then_some((j, v.status.term))
            });
            // This leader itself rejoined, still leading the term it led while cut off.
            let led_while_cut_off = recent(self.rejoined[i]).is_some_and(|(term, _)| term == old);
            let event = if led_while_cut_off {
                self.rejoined[i] = None;
                format!("S{i}, leader of term {old} while cut off, steps down for term {new}")
            } else if let Some((j, term)) = rejoined {
                self.rejoined[j] = None;
                format!("S{i}, leader of term {old}, steps down: S{j} rejoined with term {term}")
            } else if let Some((j, term)) = candidate {
                format!("S{i}, leader of term {old}, steps down: S{j} stands for term {term}")
            } else if new > old {
                format!("S{i}, leader of term {old}, steps down: it saw term {new}")
            } else {
                continue;
            };
            events.push(format!("{event} (§5.1)"));
        }
    }

    /// The connected leader of the highest term, and the time without one.
    fn leadership(&mut self, now: Instant, sample: &Sample, events: &mut Vec<String>) {
        let leader = sample
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let v = v.as_ref()?;
                (v.connected && is_leader(v)).then_some((i, v.status.term))
            })
            .max_by_key(|&(_, term)| term);
        match leader {
            Some((l, term)) => {
                self.terms_led.insert(term);
                if self.leader != Some((l, term)) {
                    events.push(format!("S{l} leads term {term}"));
                }
                if let Some(since) = self.no_leader_since.take() {
                    self.longest_gap = self.longest_gap.max(now.duration_since(since));
                }
            }
            None => {
                self.no_leader_since.get_or_insert(now);
            }
        }
        // Kept through a stretch without a leader: the same leader back in the same term is no
        // news.
        self.leader = leader.or(self.leader);
    }

    /// Ends the figures at `now`: a stretch without a leader still open counts too.
    pub fn finish(&mut self, now: Instant) {
        if let Some(since) = self.no_leader_since.take() {
            self.longest_gap = self.longest_gap.max(now.duration_since(since));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(role: Role, term: u64, connected: bool) -> Option<PeerView> {
        Some(PeerView {
            status: Status {
                term,
                role,
                last_log_index: 0,
                commit_index: 0,
                snapshot_index: 0,
                snapshots_sending: 0,
                snapshot_bytes_sent: 0,
            },
            connected,
        })
    }

    const F: Role = Role::Follower;
    const C: Role = Role::Candidate;
    const L: Role = Role::Leader;

    /// Feeds `looks` 100 ms apart; returns the events of each.
    fn run(n: usize, looks: Vec<Sample>) -> Vec<Vec<String>> {
        let mut o = Observer::new(n);
        let t0 = Instant::now();
        looks
            .into_iter()
            .enumerate()
            .map(|(k, s)| o.observe(t0 + Duration::from_millis(100 * k as u64), s))
            .collect()
    }

    /// The case the demo shows after `partition healed`: S0 leads term 3 while S3 and S4 are cut
    /// off; their elections take them to terms 6 and 5; S3's term deposes S0 when they rejoin.
    #[test]
    fn a_minority_rejoining_with_a_higher_term_deposes_the_leader() {
        let events = run(
            5,
            vec![
                vec![
                    peer(L, 3, true),
                    peer(F, 3, true),
                    peer(F, 3, true),
                    peer(F, 3, true),
                    peer(F, 3, true),
                ],
                vec![
                    peer(L, 3, true),
                    peer(F, 3, true),
                    peer(F, 3, true),
                    peer(F, 3, false),
                    peer(F, 3, false),
                ],
                vec![
                    peer(L, 3, true),
                    peer(F, 3, true),
                    peer(F, 3, true),
                    peer(C, 6, false),
                    peer(C, 5, false),
                ],
                vec![
                    peer(L, 3, true),
                    peer(F, 3, true),
                    peer(F, 3, true),
                    peer(C, 6, true),
                    peer(C, 5, true),
                ],
                vec![
                    peer(F, 6, true),
                    peer(F, 6, true),
                    peer(F, 6, true),
                    peer(C, 6, true),
                    peer(F, 6, true),
                ],
                vec![
                    peer(F, 7, true),
                    peer(L, 7, true),
                    peer(F, 7, true),
                    peer(F, 7, true),
                    peer(F, 7, true),
                ],
            ],
        );
        assert_eq!(events[0], vec!["S0 leads term 3"]);
        assert!(events[1].is_empty() && events[2].is_empty(), "{events:?}");
        assert_eq!(
            events[3],
            vec![
                "S3 rejoined at term 6 (3 when cut off: elections it could not win)",
                "S4 rejoined at term 5 (3 when cut off: elections it could not win)",
            ]
        );
        assert_eq!(
            events[4],
            vec!["S0, leader of term 3, steps down: S3 rejoined with term 6 (§5.1)"]
        );
        assert_eq!(events[5], vec!["S1 leads term 7"]);
    }

    /// The isolated leader keeps believing it leads its old term; on rejoining it steps down.
    #[test]
    fn an_isolated_leader_steps_down_on_rejoining() {
        let events = run(
            3,
            vec![
                vec![peer(L, 1, true), peer(F, 1, true), peer(F, 1, true)],
                vec![peer(L, 1, false), peer(F, 1, true), peer(F, 1, true)],
                vec![peer(L, 1, false), peer(L, 2, true), peer(F, 2, true)],
                vec![peer(L, 1, true), peer(L, 2, true), peer(F, 2, true)],
                vec![peer(F, 2, true), peer(L, 2, true), peer(F, 2, true)],
            ],
        );
        assert_eq!(events[2], vec!["S1 leads term 2"]);
        assert!(events[3].is_empty(), "no rise in S0's term: {events:?}");
        assert_eq!(
            events[4],
            vec!["S0, leader of term 1 while cut off, steps down for term 2 (§5.1)"]
        );
    }

    #[test]
    fn a_candidate_on_a_lossy_network_deposes_the_leader() {
        let events = run(
            3,
            vec![
                vec![peer(L, 4, true), peer(F, 4, true), peer(F, 4, true)],
                vec![peer(F, 5, true), peer(F, 5, true), peer(C, 5, true)],
            ],
        );
        assert_eq!(
            events[1],
            vec!["S0, leader of term 4, steps down: S2 stands for term 5 (§5.1)"]
        );
    }

    #[test]
    fn a_crash_and_restart_count_as_leaving_and_rejoining() {
        let mut o = Observer::new(3);
        let t0 = Instant::now();
        o.observe(
            t0,
            vec![peer(L, 2, true), peer(F, 2, true), peer(F, 2, true)],
        );
        o.observe(t0, vec![peer(L, 2, true), peer(F, 2, true), None]);
        assert_eq!(o.left_at[2], Some(2));
        let back = o.observe(
            t0,
            vec![peer(L, 2, true), peer(F, 2, true), peer(F, 2, true)],
        );
        assert!(back.is_empty(), "{back:?}");
        assert!(o.rejoined[2].is_some() && o.left_at[2].is_none());
    }

    #[test]
    fn the_longest_stretch_without_a_leader_is_kept() {
        let mut o = Observer::new(1);
        let t0 = Instant::now();
        o.observe(t0, vec![peer(F, 1, true)]);
        o.observe(t0 + Duration::from_millis(700), vec![peer(L, 1, true)]);
        o.observe(t0 + Duration::from_millis(800), vec![peer(F, 2, true)]);
        o.finish(t0 + Duration::from_millis(1000));
        assert_eq!(o.longest_gap, Duration::from_millis(700));
        assert_eq!(o.terms_led.iter().copied().collect::<Vec<_>>(), vec![1]);
    }
}
