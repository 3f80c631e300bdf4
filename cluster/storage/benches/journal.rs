//! What a durable save costs: `cargo bench -p storage`. In a directory under `target/`, on the
//! machine's disk: saves in parts of one 100-byte entry (Raft's `persist_locked` after an
//! append), and whole saves with a new snapshot (Raft's `snapshot`), each the median of many.

use std::path::PathBuf;
use std::time::Instant;

use raft::Journal;

fn median_micros(samples: usize, mut f: impl FnMut()) -> f64 {
    let mut micros: Vec<f64> = (0..samples)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    micros.sort_by(f64::total_cmp);
    micros[samples / 2]
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("journal-bench");
    let _ = std::fs::remove_dir_all(&dir);
    let (_, mut journal) = storage::DiskJournal::open(&dir).expect("opens");
    let entry = [7u8; 100];
    let mut body = 0;
    let parts = median_micros(2_000, || {
        journal
            .save_raft_state_in_parts(&[1; 40], body, &entry)
            .expect("saves");
        body += entry.len();
    });
    println!("save in parts, one 100-byte entry:      median {parts:>8.1} µs");
    for size in [1_000usize, 100_000] {
        let snapshot = vec![9u8; size];
        let whole = median_micros(200, || journal.save(&[1; 40], &snapshot).expect("saves"));
        println!("save with a new snapshot of {size:>7} bytes: median {whole:>8.1} µs");
    }
    drop(journal);
    std::fs::remove_dir_all(&dir).expect("cleans up");
}
