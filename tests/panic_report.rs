//! A failure a student can see: when a Raft thread panics, the process aborts (as a panicking
//! goroutine ends a Go test binary), and an abort skips the harness's `Drop`, where an ordinary
//! failure prints its labrpc seed and timeline. This checks that the report still comes out.
//!
//! The test runs this binary again as a child, selecting a test that only acts when
//! [`CHILD`] is set: a two-peer cluster whose peer 1 is replaced by a labrpc server whose
//! `Raft.RequestVote` handler panics. Peer 0's next election sends it a RequestVote from one
//! of its threads (`raft0-...`); labrpc raises the handler's panic again on that thread, which
//! aborts. The parent then reads the child's stderr.

mod common;

use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Set in the child's environment: makes [`panicking_request_vote_handler`] run.
const CHILD: &str = "RAFT_PANIC_REPORT_CHILD";

/// What the fake peer's handler panics with.
const MESSAGE: &str = "RequestVote handler panicked on purpose";

#[test]
fn a_raft_thread_panic_reports_its_thread_message_and_seed() {
    let exe = std::env::current_exe().expect("the test binary's path");
    let child = Command::new(exe)
        .args(["--exact", "panicking_request_vote_handler"])
        .env(CHILD, "1")
        .env("LABRPC_SEED", "4242")
        // The stress runner's timeline path is for this process's own test.
        .env_remove("RAFT_TIMELINE_PATH")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(
        !child.status.success(),
        "the child should have aborted; it exited with {}; stderr:\n{stderr}",
        child.status
    );
    // The Raft thread's last words, from its abort (src/raft.rs): named after peer 0, whose
    // call to peer 1 it was making (`raft0-vote1-t<term>` or `raft0-send1-<k>`, depending on
    // how the Raft sends its RPCs), with labrpc's context and the handler's message.
    let handler =
        format!("labrpc: handler of Raft.RequestVote on server \"1\" panicked: {MESSAGE}");
    let last_words = stderr.lines().find(|line| line.contains(&handler));
    assert!(
        last_words.is_some_and(|line| line.starts_with("thread 'raft0-")),
        "the child's stderr lacks a line \"thread 'raft0-...' panicked: {handler}\":\n{stderr}"
    );
    // The harness's report, from its panic hook.
    for expected in [
        "panicking_request_vote_handler: thread 'labrpc-handler' panicked",
        "labrpc seed: 4242 (rerun with LABRPC_SEED=4242)",
        "timeline: ",
    ] {
        assert!(
            stderr.contains(expected),
            "the child's stderr lacks {expected:?}:\n{stderr}"
        );
    }
}

/// The shape of the lab's RequestVote arguments (Figure 2), for the fake handler to decode.
#[derive(Serialize, Deserialize)]
struct RequestVoteArgs {
    term: u64,
    candidate_id: usize,
    last_log_index: u64,
    last_log_term: u64,
}

/// Only in the child (see the module's doc); passes at once otherwise.
#[test]
fn panicking_request_vote_handler() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    // The lab's path whatever LAB_LEVERS says: with PreVote, peer 0 would call another handler.
    let cfg = common::make_config_with(2, false, false, raft::Options::default());
    // Long before the first election timeout, so peer 0 has not been elected yet.
    cfg.crash1(1);
    let mut service = labrpc::Service::new("Raft");
    service.add_method("RequestVote", |_: RequestVoteArgs| -> bool {
        panic!("{MESSAGE}")
    });
    let fake = labrpc::Server::new();
    fake.add_service(service);
    cfg.net().add_server("1", fake);
    cfg.connect(1);
    // Peer 0's next election (400-800 ms away) aborts the process long before this ends.
    std::thread::sleep(Duration::from_secs(10));
    panic!("peer 0 never called the panicking RequestVote handler");
}
