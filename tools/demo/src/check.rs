//! The self-check at the end of a run: with the clients stopped, every fault repaired (the
//! network reliable, every crashed peer restarted, every peer connected), every peer must
//! reach the same last index with the same running hash within [`CATCH_UP`], and no service
//! may have seen a disagreement or an out-of-order delivery on the way (`service.rs`).

use std::thread;
use std::time::{Duration, Instant};

use crate::wiring::Demo;

/// How long the peers get to converge once the faults are repaired.
const CATCH_UP: Duration = Duration::from_secs(10);

/// Repairs every fault and waits for the peers to converge; whether they did.
pub fn wind_down(demo: &Demo) -> bool {
    demo.cluster.net().set_reliable(true);
    for i in 0..demo.n() {
        if demo.is_crashed(i) {
            demo.restart(i);
        }
        demo.cluster.connect(i);
    }
    let deadline = Instant::now() + CATCH_UP;
    loop {
        if demo.services.lock().converged() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Everything the check found wrong; empty if the run passed.
pub fn errors(demo: &Demo, converged: bool) -> Vec<String> {
    let s = demo.services.lock();
    let mut errors = s.errors.clone();
    if !converged {
        errors.push(format!(
            "peers did not converge within {} s: {:?}",
            CATCH_UP.as_secs(),
            s.applied
        ));
    }
    errors
}
