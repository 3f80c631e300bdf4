//! The stress runner's live display. On a terminal (stderr): an overall bar with its ETA and
//! the failures so far, and a line per test (runs done, failures, mean time). Otherwise (CI, a
//! pipe): a plain line every few seconds, and one when the last run ends.

use super::discover::TestCase;
use super::stats::TestStats;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the plain display prints a line.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    names: Vec<String>,
    bars: Option<Bars>,
    total: usize,
    done: usize,
    failed: usize,
    started: Instant,
    last_line: Instant,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    per_test: Vec<ProgressBar>,
}

impl Progress {
    pub fn new(tests: &[TestCase], runs: usize) -> Progress {
        let names: Vec<String> = tests.iter().map(|t| t.name.clone()).collect();
        let total = tests.len() * runs;
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| Bars::new(&names, total));
        Progress {
            names,
            bars,
            total,
            done: 0,
            failed: 0,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    /// Prints a line above the bars (or plainly).
    pub fn println(&self, line: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// One more run of test `test` ended; `s` is that test's record so far.
    pub fn update(&mut self, test: usize, s: &TestStats, passed: bool) {
        self.done += 1;
        self.failed += usize::from(!passed);
        let (mean, _) = s.mean_sd();
        let line = format!(
            "{}: {} runs, {} failed, mean {mean:.1} s",
            self.names[test], s.done, s.failed
        );
        match &self.bars {
            Some(bars) => {
                bars.overall.inc(1);
                bars.overall.set_message(format!("{} failed", self.failed));
                bars.per_test[test].set_message(line);
            }
            None if self.last_line.elapsed() >= PLAIN_EVERY || self.done == self.total => {
                eprintln!(
                    "[{}/{} runs, {} failed, ETA {} s] {line}",
                    self.done,
                    self.total,
                    self.failed,
                    self.eta().as_secs()
                );
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    /// The plain display's estimate: the time so far per run, times the runs left.
    fn eta(&self) -> Duration {
        let left = self.total.saturating_sub(self.done) as u32;
        (self.started.elapsed() / self.done.max(1) as u32) * left
    }

    pub fn finish(&self) {
        if let Some(bars) = &self.bars {
            bars.overall.finish();
            for line in &bars.per_test {
                line.finish();
            }
        }
    }
}

impl Bars {
    fn new(names: &[String], total: usize) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len} runs, ETA {eta}, {msg}",
            )
            .expect("a valid template"),
        );
        overall.set_message("0 failed");
        let line_style = ProgressStyle::with_template("  {msg}").expect("a valid template");
        let per_test = names
            .iter()
            .map(|name| {
                let line = multi.add(ProgressBar::new_spinner().with_style(line_style.clone()));
                line.set_message(format!("{name}: waiting"));
                line
            })
            .collect();
        // Redraw once a second, so the elapsed time and ETA move between runs.
        overall.enable_steady_tick(Duration::from_secs(1));
        Bars {
            multi,
            overall,
            per_test,
        }
    }
}
