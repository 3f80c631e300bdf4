//! The failure timeline: what a harness did and saw during one test, drawn as an SVG.
//!
//! The harness records its own actions (connect, disconnect, partitions, crashes, restarts,
//! network changes, test phases) and what it observes of each server's Raft peer: a sampler
//! polls every live peer's `get_state` every [`SAMPLE_EVERY`], and the Raft harness's appliers
//! report the first commit of each index. When a test fails, or when `RAFT_TIMELINE=1` is set,
//! [`Timeline::write`] renders one self-contained HTML file, `target/timelines/<test>.html`: a
//! swimlane per peer, coloured by the term it is in, taller where it is leader, hatched while
//! crashed and shaded while disconnected, with commits marked along the top and the harness's
//! actions listed below.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

/// How often the sampler polls each peer's `(term, is_leader)`. A term seldom lasts less than an
/// election timeout (400-800 ms), so each is seen four times or more. Each round wakes a thread
/// and takes every peer's lock, which costs more than it looks on a virtual machine: at 20 ms the
/// sampler had a quarter of the CPU samples of `snapshot_install_part_d`, at 50 ms a sixth of
/// those of `figure8_part_c` (perf, 2026-12-07).
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Starts the sampler, a thread that calls `observe` (which records what the peers say of
/// themselves, such as `tester::group::ServerGrp::observe`) every [`SAMPLE_EVERY`] until
/// `stop`'s sender is dropped.
pub fn spawn_sampler(stop: Receiver<()>, observe: impl Fn() + Send + 'static) -> JoinHandle<()> {
    thread::Builder::new()
        .name("test-sampler".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(SAMPLE_EVERY) {
                observe();
            }
        })
        .expect("spawn the sampler")
}

/// What one peer looked like from a given moment on.
#[derive(Clone, Copy, PartialEq, Eq)]
struct PeerState {
    alive: bool,
    connected: bool,
    term: u64,
    leader: bool,
}

/// Everything recorded, with times in milliseconds since the timeline began.
struct Record {
    /// Per peer: the moments its state changed, oldest first.
    lanes: Vec<Vec<(u64, PeerState)>>,
    /// First commit of each index: (time, index).
    commits: Vec<(u64, u64)>,
    /// The harness's actions: (time, text).
    notes: Vec<(u64, String)>,
}

/// The record of one test, shared by the harness's threads (`Arc<Timeline>`); every method
/// takes `&self`.
pub struct Timeline {
    t0: Instant,
    record: Mutex<Record>,
}

impl Timeline {
    /// A timeline of `n` peers, all crashed and disconnected until the harness says otherwise;
    /// its clock starts now.
    pub fn new(n: usize) -> Timeline {
        let start = PeerState {
            alive: false,
            connected: false,
            term: 0,
            leader: false,
        };
        Timeline {
            t0: Instant::now(),
            record: Mutex::new(Record {
                lanes: vec![vec![(0, start)]; n],
                commits: Vec::new(),
                notes: Vec::new(),
            }),
        }
    }

    fn now(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    /// Applies `change` to peer `i`'s current state, recording it if anything changed.
    fn update(&self, i: usize, change: impl FnOnce(&mut PeerState)) {
        let now = self.now();
        let mut record = self.record.lock().expect("timeline lock");
        let lane = &mut record.lanes[i];
        let mut next = lane.last().expect("lanes start with a state").1;
        change(&mut next);
        if lane.last().map(|&(_, s)| s) != Some(next) {
            lane.push((now, next));
        }
    }

    /// Peer `i` was started (`true`) or crashed (`false`).
    pub fn alive(&self, i: usize, alive: bool) {
        self.update(i, |s| {
            s.alive = alive;
            if !alive {
                s.leader = false;
            }
        });
    }

    /// Peer `i` was connected (`true`) or disconnected (`false`).
    pub fn connected(&self, i: usize, connected: bool) {
        self.update(i, |s| s.connected = connected);
    }

    /// The sampler saw peer `i` in `term`, leading or not.
    pub fn observed(&self, i: usize, term: u64, leader: bool) {
        self.update(i, |s| {
            s.term = term;
            s.leader = leader;
        });
    }

    /// Some peer applied `index` for the first time.
    pub fn committed(&self, index: u64) {
        let now = self.now();
        self.record
            .lock()
            .expect("timeline lock")
            .commits
            .push((now, index));
    }

    /// A harness action worth showing (network changes, test phases).
    pub fn note(&self, text: impl Into<String>) {
        let now = self.now();
        self.record
            .lock()
            .expect("timeline lock")
            .notes
            .push((now, text.into()));
    }

    /// Writes the timeline of test `test` to `target/timelines/<test>.html` (the workspace's
    /// target directory, see [`crate::target_dir`]), or to the path in `RAFT_TIMELINE_PATH`,
    /// with the picture alone beside it (`.svg`); returns the HTML's path.
    pub fn write(&self, test: &str, outcome: &str) -> std::io::Result<PathBuf> {
        // The stress runner names each run's timeline itself.
        let path = match std::env::var_os("RAFT_TIMELINE_PATH") {
            Some(path) => PathBuf::from(path),
            None => crate::target_dir()
                .join("timelines")
                .join(format!("{}.html", crate::file_name(test))),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, self.render(test, outcome))?;
        // The picture alone too, for embedding (the README's example is one).
        let end = self.now().max(1);
        let svg = render_svg(&self.record.lock().expect("timeline lock"), end);
        std::fs::write(path.with_extension("svg"), svg)?;
        Ok(path)
    }

    /// The whole page: a heading with `outcome`, the SVG, and the list of the harness's
    /// actions.
    pub fn render(&self, test: &str, outcome: &str) -> String {
        let end = self.now().max(1);
        let record = self.record.lock().expect("timeline lock");
        let mut html = String::new();
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{test}</title>\
             <style>body{{font-family:sans-serif;margin:1em}}li{{font-family:monospace}}</style>\
             </head><body>\n<h2>{test}: {outcome}</h2>\n<p>{:.1} s, {} peers. Lanes are coloured \
             by term (the number on each stretch); a tall stretch is a leader; hatching: \
             crashed; grey: disconnected; ticks along the top: first commit of an index.</p>\n",
            end as f64 / 1000.0,
            record.lanes.len()
        );
        html.push_str(&render_svg(&record, end));
        html.push_str("<h3>Harness actions</h3>\n<ol>\n");
        for (t, text) in &record.notes {
            let _ = writeln!(
                html,
                "<li>{:>8.3} s &nbsp; {}</li>",
                *t as f64 / 1000.0,
                escape(text)
            );
        }
        html.push_str("</ol></body></html>\n");
        html
    }
}

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 60.0;
const LANE: f64 = 44.0;
const TOP: f64 = 40.0;

fn render_svg(record: &Record, end: u64) -> String {
    let x = |t: u64| LEFT + (WIDTH - LEFT - 10.0) * t as f64 / end as f64;
    let height = TOP + LANE * record.lanes.len() as f64 + 30.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<defs><pattern id=\"crashed\" \
         width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#eee\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#999\" stroke-width=\"2\"/>\
         </pattern></defs>"
    );
    // Time axis: a tick every second.
    for s in 0..=end / 1000 {
        let tx = x(s * 1000);
        let _ = writeln!(
            svg,
            "<line x1=\"{tx:.1}\" y1=\"{TOP}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#666\">{s}s</text>",
            height - 24.0,
            height - 10.0
        );
    }
    // Commits along the top.
    for &(t, index) in &record.commits {
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" y1=\"{1}\" x2=\"{0:.1}\" y2=\"{2}\" stroke=\"#2a7\">\
             <title>index {index} committed at {3:.3} s</title></line>",
            x(t),
            TOP - 18.0,
            TOP - 6.0,
            t as f64 / 1000.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"4\" y=\"{}\" fill=\"#2a7\">commits</text>",
        TOP - 8.0
    );
    for (i, lane) in record.lanes.iter().enumerate() {
        let y = TOP + LANE * i as f64;
        let _ = writeln!(
            svg,
            "<text x=\"4\" y=\"{:.1}\">S{i}</text>",
            y + LANE / 2.0 + 4.0
        );
        for (k, &(from, state)) in lane.iter().enumerate() {
            let to = lane.get(k + 1).map_or(end, |&(t, _)| t);
            svg.push_str(&stretch(x(from), x(to), y, from, to, state));
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// One stretch of a lane during which the peer's state did not change.
fn stretch(x0: f64, x1: f64, y: f64, from: u64, to: u64, s: PeerState) -> String {
    let w = (x1 - x0).max(0.5);
    let tip = format!(
        "{:.3}-{:.3} s: {}{}, term {}",
        from as f64 / 1000.0,
        to as f64 / 1000.0,
        if !s.alive {
            "crashed"
        } else if s.leader {
            "leader"
        } else {
            "follower/candidate"
        },
        if s.alive && !s.connected {
            ", disconnected"
        } else {
            ""
        },
        s.term
    );
    if !s.alive {
        return format!(
            "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" \
             fill=\"url(#crashed)\"><title>{tip}</title></rect>\n",
            y + 8.0,
            LANE - 16.0
        );
    }
    let (top, h) = if s.leader {
        (y + 2.0, LANE - 4.0)
    } else {
        (y + 10.0, LANE - 20.0)
    };
    let fill = term_color(s.term);
    let opacity = if s.connected { 1.0 } else { 0.35 };
    let mut out = format!(
        "<rect x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" \
         fill=\"{fill}\" fill-opacity=\"{opacity}\"{}><title>{tip}</title></rect>\n",
        if s.leader { " stroke=\"#333\"" } else { "" }
    );
    if w > 24.0 {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#222\">{}T{}</text>",
            x0 + 3.0,
            y + LANE / 2.0 + 4.0,
            if s.leader { "L " } else { "" },
            s.term
        );
    }
    out
}

/// A colour per term: hues 67 degrees apart, as `#rrggbb` (HSL saturation 60%, lightness 60%).
fn term_color(term: u64) -> String {
    let h = ((term * 67) % 360) as f64 / 60.0;
    let (l, s) = (0.6, 0.6);
    let c = (1.0 - (2.0 * l - 1.0_f64).abs()) * s;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u64 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let byte = |v: f64| ((v + m) * 255.0).round() as u8;
    format!("#{:02x}{:02x}{:02x}", byte(r), byte(g), byte(b))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
