//! The fault schedule: what goes wrong, and when, as fractions of the run.
//!
//! The leader is isolated and the network healed; a follower crashes and restarts from its
//! persisted state (it may catch up by InstallSnapshot); a minority is partitioned away, runs
//! elections it cannot win, and rejoins; unless the whole run is unreliable, the network turns
//! unreliable for a stretch. The victims are drawn from the run's seeded random source.

use rand::RngExt;
use rand::rngs::StdRng;

use crate::wiring::Demo;

/// When each step of the schedule happens, as a fraction of the run.
pub const STEPS: [f64; 8] = [0.10, 0.22, 0.32, 0.45, 0.52, 0.64, 0.72, 0.86];

/// Carries out step `step` (an index into [`STEPS`]).
pub fn step(demo: &Demo, rng: &mut StdRng, step: usize, unreliable: bool) {
    let n = demo.n();
    let cluster = &demo.cluster;
    match step {
        0 => {
            if let Some((l, _, _)) = cluster.leader() {
                cluster.disconnect(l);
                demo.event(format!("leader S{l} isolated"));
            }
        }
        1 => {
            (0..n).for_each(|i| cluster.connect(i));
            demo.event("network healed");
        }
        2 => {
            let leader = cluster.leader().map(|(l, _, _)| l);
            let victim = (0..n)
                .filter(|&i| Some(i) != leader)
                .nth(rng.random_range(0..n - 1));
            if let Some(v) = victim {
                demo.crash(v);
            }
        }
        3 => {
            let crashed: Vec<usize> = (0..n).filter(|&i| demo.is_crashed(i)).collect();
            crashed.into_iter().for_each(|i| demo.restart(i));
        }
        4 => {
            let minority = (n - 1) / 2;
            let start = rng.random_range(0..n);
            let cut: Vec<usize> = (0..minority).map(|k| (start + k) % n).collect();
            cut.iter().for_each(|&i| cluster.disconnect(i));
            demo.event(format!("minority {cut:?} partitioned away"));
        }
        5 => {
            (0..n).for_each(|i| cluster.connect(i));
            demo.event("partition healed");
        }
        6 if !unreliable => {
            cluster.net().set_reliable(false);
            demo.event("network unreliable: delays, 10% of requests and replies lost");
        }
        7 if !unreliable => {
            cluster.net().set_reliable(true);
            demo.event("network reliable again");
        }
        _ => {}
    }
}
