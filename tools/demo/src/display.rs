//! What the demo prints: on a terminal, the screen redrawn a few times a second (a row per
//! peer, then the latest events); otherwise plain event lines as they happen. And the summary
//! at the end.

use std::time::Duration;

use crate::observe::{Observer, Sample};
use crate::wiring::Demo;

/// How many of the latest events the screen shows.
const EVENTS_SHOWN: usize = 10;

/// Clears the screen and draws the peers as `sample` saw them, then the latest events.
pub fn draw(demo: &Demo, sample: &Sample) {
    let mut out = String::from("\x1b[2J\x1b[H");
    out.push_str(&format!(
        "Raft demo, {:.1} s\n\npeer  role       term   log  commit  snapshot  applied\n",
        demo.t0.elapsed().as_secs_f64()
    ));
    let applied: Vec<u64> = demo.services.lock().applied.iter().map(|a| a.0).collect();
    for (i, view) in sample.iter().enumerate() {
        match view {
            Some(v) => {
                let st = v.status;
                out.push_str(&format!(
                    "S{i}    {:<10} {:>4} {:>5} {:>7} {:>9} {:>8}{}\n",
                    st.role,
                    st.term,
                    st.last_log_index,
                    st.commit_index,
                    st.snapshot_index,
                    applied[i],
                    if v.connected { "" } else { "  (disconnected)" }
                ));
            }
            None => out.push_str(&format!("S{i}    crashed\n")),
        }
    }
    out.push_str("\nevents\n");
    let count = demo.event_count();
    for (at, text) in demo.events_from(count.saturating_sub(EVENTS_SHOWN)) {
        out.push_str(&event_line(at, &text));
    }
    print!("{out}");
}

/// Prints the events from the `printed`-th on, one a line; returns how many there are now.
pub fn print_events(demo: &Demo, printed: usize) -> usize {
    let events = demo.events_from(printed);
    for (at, text) in &events {
        print!("{}", event_line(*at, text));
    }
    printed + events.len()
}

fn event_line(at: Duration, text: &str) -> String {
    format!("{:>6.2}s  {text}\n", at.as_secs_f64())
}

/// The figures of the run, then the self-check's verdict: `errors` (none if it passed).
pub fn summary(demo: &Demo, observer: &Observer, errors: &[String]) {
    let s = demo.services.lock();
    println!("\nsummary");
    println!("  terms with a leader      {}", observer.terms_led.len());
    println!("  commands committed       {}", s.committed());
    println!(
        "  longest without a leader {:.2} s",
        observer.longest_gap.as_secs_f64()
    );
    println!("  snapshots installed      {}", s.snapshots_installed);
    println!("  restarts                 {}", demo.restarts());
    if errors.is_empty() {
        println!(
            "  check                    every peer applied the same commands in the same order"
        );
    }
    for e in errors {
        println!("  ERROR {e}");
    }
}
