//! The skeleton's own text and manifests: its README, a note atop each guide, the manifests
//! without the crates and benchmarks left out, and the allowance in a stubbed crate's `lib.rs`
//! for what the stubs leave unused. Each speaks to the student who receives the skeleton.

use super::{LAB4, LAB5, PARTS, short};

/// A place where the student writes code: a region the skeleton stubs.
pub(super) struct Place {
    pub part: usize,
    /// The file, as `src/election.rs` or `labs/rsm/src/rsm.rs`.
    pub file: String,
    pub what: &'static str,
}

/// Each part's subject, as the course names it.
const SUBJECTS: [&str; PARTS.len()] = [
    "leader election",
    "log replication",
    "persistence",
    "log compaction",
    "a key/value service without snapshots",
    "a key/value service with snapshots",
    "the shard controller and static sharding",
    "shard movement, with both challenges",
];

/// The heading of a part's list in the README: its subject, the course's number of a Raft part
/// (3A for PartA; lab 4's parts are named so already), its guide.
fn heading(part: usize) -> String {
    let course = if part < LAB4 {
        format!("3{}; ", short(part))
    } else {
        String::new()
    };
    format!(
        "{}: {} ({course}guide: `{}`)",
        PARTS[part],
        SUBJECTS[part],
        guide(part)
    )
}

/// A part's guide: `docs/part-a.md`, `docs/part-4a.md`.
pub(super) fn guide(part: usize) -> String {
    format!("docs/part-{}.md", short(part).to_ascii_lowercase())
}

/// The filter of a part's tests: `part_a` (Raft's test names end in it), `4a`.
fn filter(part: usize) -> String {
    if part < LAB4 {
        format!("part_{}", short(part).to_ascii_lowercase())
    } else {
        short(part).to_ascii_lowercase()
    }
}

/// What the code of a crate's `src/` makes, for the allowance in its `lib.rs`.
pub(super) fn crate_subject(dir: &str) -> &'static str {
    match dir {
        "labs/rsm/src" => "your rsm layer",
        "labs/kvraft/src" => "your key/value service",
        "labs/shardctrler/src" => "your shard controller",
        "labs/shardkv/src" => "your sharded key/value service",
        _ => "your Raft",
    }
}

/// "PartA", "PartA and PartB", "PartB, PartC and PartD".
fn list(parts: impl Iterator<Item = usize>) -> String {
    let names: Vec<&str> = parts.map(|p| PARTS[p]).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// The skeleton's README: what the student has, what they write (`places`, in the order of
/// the source), and how they test and debug it.
pub(super) fn readme(from: usize, places: &[Place]) -> String {
    let todo = list(from..PARTS.len());
    let mut s = String::new();
    s.push_str(&format!(
        "# Raft and key/value labs in Rust: {todo}\n\n\
         The Raft lab of MIT's distributed systems course (6.5840, labs 3A-3D; 2A-2D before\n\
         2024), the key/value service on it (lab 4A-4B; 3A-3B before 2024) and the sharded\n\
         service on that (lab 5A-5B; 4A-4B before 2024), in synchronous, thread-based Rust: OS\n\
         threads, mutexes, condvars to wake threads, crossbeam channels between the layers; no\n\
         async runtime. Your Raft is the root crate, in `src/`; the services on it are in `labs/`.\n\
         The key/value service is two crates: `labs/rsm/`, the replicated-state-machine layer\n\
         between a service and its Raft peer (the course's `rsm` package), and `labs/kvraft/`, the\n\
         key/value server and its clerk; the sharded service is two more on `labs/rsm/`:\n\
         `labs/shardctrler/`, the controller that assigns shards to replica groups, and\n\
         `labs/shardkv/`, the groups and their clerk.\n\n"
    ));
    if from > 0 {
        s.push_str(&format!(
            "{} {} done: that code is in place and its tests pass.\n",
            list(0..from),
            if from == 1 { "is" } else { "are" }
        ));
    }
    s.push_str(&format!(
        "You write {todo}, in the places marked\n`// Your code here ({}).` (and so on for each part), \
         in the order of the parts.\n\n",
        PARTS[from]
    ));
    s.push_str(
        "## What you have\n\n\
         - `labrpc/`, `labgob/`: the simulated network and the encoding, as the course's Go packages.\n\
         - `src/persister.rs`: the `Persister`; `src/rpc.rs`: every RPC's arguments and reply (Figures 2\n  \
         and 13).\n\
         - The API the tests call, in `src/raft.rs`: `Raft::make`, `start`, `get_state`, `snapshot`, `kill`,\n  \
         `service`, and `ApplyMsg`. Keep its signatures; `cargo doc --open` documents it.\n",
    );
    if from < LAB4 {
        s.push_str(
            "- A start on the rest, yours to use, change or replace: `RaftState` with Figure 2's fields and the\n  \
             election timer (`src/state.rs`), a record per other peer for `next_index`, `match_index`\n  \
             and the rest (`src/progress.rs`), the log and its index arithmetic across a snapshot\n  \
             (`src/log.rs`), threads that make the RPC calls (`src/sender.rs`), the logging macro\n  \
             (`src/logging.rs`), and `make` and `kill` with the threads they start and join.\n",
        );
    }
    s.push_str(
        "- Lab 4's API, which its tests call: `KvServer::start`, `service`, `raft`, `kill`\n  \
         (`labs/kvraft/src/server.rs`); the `Clerk`'s `new`, `get`, `put`, `append`\n  \
         (`labs/kvraft/src/client.rs`); `Rsm::start`, `submit`, `raft`, `last_applied`, `inspect`,\n  \
         `kill` and the `StateMachine` trait (`labs/rsm/src/`). Lab 5's: `ShardCtrler` and its\n  \
         `Clerk` (`labs/shardctrler/src/`), `ShardKv`, its `Clerk` and `key2shard`\n  \
         (`labs/shardkv/src/`). Keep their signatures.\n\
         - Lab 5's `Config` and `N_SHARDS` (`labs/shardctrler/src/config.rs`), the RPCs (`rpc.rs` in\n  \
         each), a shard's states (`labs/shardkv/src/shard.rs`) and the operations on each group's log\n  \
         (`Op`).\n\
         - `labs/kvraft/src/rpc.rs`: the service's RPCs and the course's error names;\n  \
         `labs/kvraft/src/store.rs`: its operations on the log (`Op`).\n\
         - A start on the rest of lab 4, yours to use, change or replace: the fields of the wait table\n  \
         (`labs/rsm/src/waiters.rs`) and of the duplicate table (`labs/rsm/src/sessions.rs`), the\n  \
         snapshot's encoding (`labs/rsm/src/snapshot.rs`), `Rsm::start` and `kill` with the reader\n  \
         thread they start and join, the store's and the clerk's fields.\n\
         - `tests/` (and each crate's `tests/`): the lab's tests, line by line the course's, and their\n  \
         harnesses (`tests/common/`, the course's config.go; `labs/tester/`, what they share, with the\n  \
         linearizability checker).\n\
         - `docs/`: a guide per part; `assets/`: diagrams of the roles, the threads, a command's path, the\n  \
         log, and an operation's path through the service.\n\
         - `tools/xtask/`: the debugging tools (below).\n\n\
         ## What you write\n\n\
         Each stub compiles and keeps its server running and stoppable, and does nothing more: the part's\n\
         tests fail until you replace it. The signatures around the stubs are a suggestion; only the API\n\
         is fixed. A part's list names the places marked for it; what a later part adds inside a\n\
         function you write whole for an earlier one (",
    );
    s.push_str(if from < LAB4 {
        "an InstallSnapshot for a follower that lags\n\
         behind the snapshot, in your replicator"
    } else if from < LAB5 {
        "the snapshot a 4B server takes when its Raft\n\
         state has grown, in your `apply_command`"
    } else {
        "the shards 5B moves between groups, in\n\
         your store's `apply`"
    });
    s.push_str(
        ") is yours to add when you get there, and the part's\n\
         guide says where.\n",
    );
    for part in from..PARTS.len() {
        s.push_str(&format!("\n### {}\n\n", heading(part)));
        let mut files: Vec<&str> = Vec::new();
        for place in places.iter().filter(|p| p.part == part) {
            if !files.contains(&place.file.as_str()) {
                files.push(&place.file);
            }
        }
        for file in files {
            s.push_str(&format!("- `{file}`:\n"));
            for place in places.iter().filter(|p| p.part == part && p.file == file) {
                s.push_str(&format!("  - {}\n", place.what));
            }
        }
    }
    let (one, first) = if from < LAB4 {
        ("backup_part_b", "       ")
    } else if from < LAB5 {
        ("basic_4a     ", "           ")
    } else {
        ("join_leave_5b", "           ")
    };
    s.push_str(&format!(
        "\n## Testing\n\n\
         ```sh\n\
         cargo test {filter}{first}        # a part's tests: part_a ... part_d, 4a, 4b, 5a or 5b\n\
         cargo test {one}        # one test, by its Go name in snake case\n\
         cargo test --workspace          # everything: labgob, labrpc, the tools, your unit tests, all parts\n\
         ```\n\n\
         Each test is the course's Go test of the same name in snake case (`TestBackup3B` is\n\
         `backup_part_b`, `TestBasic4A` is `basic_4a`, and the rsm package's is `rsm_basic_4a`) and\n\
         prints the same lines, which you can compare with the lab page's. {state}\n\
         The tests of a part count on the parts before it, so pass them in order.\n\n",
        filter = filter(from),
        state = if from == 0 {
            "Until\nyou write a part, its tests fail; everything else passes."
        } else {
            "The tests of\nthe parts done pass already; those of the parts you write fail until you write them."
        },
    ));
    s.push_str(
        "## Debugging\n\n\
         **Logs.** Off by default. `RUST_LOG=raft=debug` turns on the lines of `rlog!` (`src/logging.rs`),\n\
         `rsm=debug` the rsm layer's (`labs/rsm/src/logging.rs`), `test=info` the harness's; each line reads\n\
         `<ms> <TOPIC> S<peer> T<term> <message>`.\n\n\
         **Log viewer.** `cargo xtask logs` lays a log out with one column per peer and a colour per topic.\n\n\
         ```sh\n\
         RUST_LOG=raft=debug,test=info cargo test backup_part_b -- --nocapture 2>&1 | cargo xtask logs -c 5\n\
         ```\n\n\
         **Stress runner.** `cargo xtask stress` runs tests many times, several at a time, each as its own\n\
         process, keeps the log of every failed run (under `target/stress/`) with its labrpc seed, and\n\
         ends with a table of failures and times.\n\n\
         ```sh\n\
         cargo xtask stress part_c -n 30 -p 4                  # PartC, 30 times, 4 at a time\n\
         ```\n\n\
         **Deadlocks.** `cargo test --features deadlock-detect part_c` checks for lock cycles once a second\n\
         and prints the threads in one, instead of hanging until the test's 120 s limit.\n\n\
         `cargo xtask help` lists the tools' options.\n",
    );
    s
}

/// The note atop a part's guide: which of the code it describes the student writes.
pub(super) fn guide_note(part: usize, from: usize, places: &[Place]) -> String {
    let (code, finished) = if part < LAB4 {
        ("`src/`", "Raft")
    } else if part < LAB5 {
        ("`labs/rsm/` and `labs/kvraft/`", "service")
    } else {
        ("`labs/shardctrler/` and `labs/shardkv/`", "service")
    };
    if part < from {
        return format!(
            "> **In your skeleton** {} is done: its code is in {code} as this guide describes it,\n\
             > and `cargo test {}` passes.\n",
            PARTS[part],
            filter(part)
        );
    }
    let mut files: Vec<&str> = Vec::new();
    for place in places.iter().filter(|p| p.part == part) {
        if !files.contains(&place.file.as_str()) {
            files.push(&place.file);
        }
    }
    let files: Vec<String> = files.iter().map(|f| format!("`{f}`")).collect();
    format!(
        "> **In your skeleton** you write {part_name}, in the places marked\n\
         > `// Your code here ({part_name}).` (the README lists them) in {files}.\n\
         > This guide describes one finished {finished}. The files it names exist already, with what\n\
         > is given in place, and its function names are that {finished}'s, which you may keep or\n\
         > change. Where it says how the code avoids a pitfall, it names a place where yours\n\
         > must.\n",
        part_name = PARTS[part],
        files = files.join(", "),
    )
}

/// A guide with its note after the title line.
pub(super) fn with_note(guide: &str, note: &str) -> Result<String, String> {
    let (title, rest) = guide
        .split_once('\n')
        .filter(|(title, _)| title.starts_with("# "))
        .ok_or("a guide must open with a `# ` title line")?;
    Ok(format!("{title}\n\n{note}{rest}"))
}

/// A crate's `lib.rs` with the allowance that keeps the stubbed crate's build quiet, until
/// `subject` ("your Raft") is done.
pub(super) fn allow_unused(lib: &str, subject: &str) -> Result<String, String> {
    let lines: Vec<&str> = lib.lines().collect();
    let docs = lines
        .iter()
        .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
        .count();
    if docs == 0 {
        return Err("expected the crate's `//!` docs first".into());
    }
    let mut out: Vec<String> = lines[..docs].iter().map(|l| l.to_string()).collect();
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out.push(String::new());
    out.push(format!(
        "// The stubs leave given helpers and their arguments unused; drop this once {subject} is done."
    ));
    out.push("#![allow(dead_code, unused_imports, unused_mut, unused_variables)]".into());
    out.push(String::new());
    out.extend(lines[docs..].iter().map(|l| l.to_string()));
    Ok(out.join("\n") + "\n")
}

/// One line of the manifest with the comment lines above it.
struct Item {
    comments: Vec<String>,
    line: String,
}

impl Item {
    /// The table a header line opens (`workspace`, `[bench]`), if it is one.
    fn header(&self) -> Option<&str> {
        let line = self.line.trim();
        line.strip_prefix('[')?.strip_suffix(']')
    }

    fn key(&self) -> Option<&str> {
        let (key, _) = self.line.split_once('=')?;
        Some(key.trim())
    }
}

/// The workspace manifest without what the skeleton leaves out (`gone`: a crate's name, or
/// `bench` for the benchmarks): workspace members, dependencies on a crate, `[[bench]]` tables.
/// Comments go with the line below them, a comment that speaks of what is gone goes on its own,
/// and a table left empty goes too. Understands the manifest's shape as it is (one line per
/// key), and says so when a mention of what is gone remains.
pub(super) fn manifest(text: &str, gone: &[&str]) -> Result<String, String> {
    let mut items: Vec<Item> = Vec::new();
    let mut comments = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            comments.push(line.to_string());
        } else {
            items.push(Item {
                comments: std::mem::take(&mut comments),
                line: line.to_string(),
            });
        }
    }
    // The tables: each header with the items up to the next one (the first has no header).
    let mut tables: Vec<Vec<Item>> = vec![Vec::new()];
    for item in items {
        if item.header().is_some() {
            tables.push(Vec::new());
        }
        tables.last_mut().expect("one table at least").push(item);
    }
    let mut out: Vec<String> = Vec::new();
    for table in tables {
        let name = table
            .first()
            .and_then(Item::header)
            .unwrap_or("")
            .to_string();
        if name == "[bench]" {
            continue;
        }
        let mut kept: Vec<String> = Vec::new();
        let mut keys = 0;
        for item in &table {
            if item.header().is_some() || item.line.trim().is_empty() {
                kept.extend(item.comments.iter().cloned());
                kept.push(item.line.clone());
                continue;
            }
            let Some(key) = item.key() else {
                return Err(format!("cannot read {:?}", item.line));
            };
            let crate_key = gone
                .iter()
                .any(|c| key == *c || key.starts_with(&format!("{c}.")));
            let line = if name == "workspace" && (key == "members" || key == "default-members") {
                let array = without(&item.line, gone)?;
                if key == "default-members" && array.ends_with("[\".\"]") {
                    continue; // the root package is the default anyway
                }
                array
            } else if crate_key {
                continue;
            } else {
                item.line.clone()
            };
            keys += 1;
            if !item
                .comments
                .iter()
                .any(|c| gone.iter().any(|g| c.contains(g)))
            {
                kept.extend(item.comments.iter().cloned());
            }
            kept.push(line);
        }
        if keys > 0 || name.is_empty() {
            out.extend(kept);
        }
    }
    // No two blank lines in a row, none at the end.
    let mut text = String::new();
    for line in &out {
        if line.trim().is_empty() && (text.is_empty() || text.ends_with("\n\n")) {
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    while text.ends_with("\n\n") {
        text.pop();
    }
    for mention in gone {
        if text.contains(mention) {
            return Err(format!(
                "the manifest still mentions {mention} once the skeleton leaves it out; teach \
                 tools/xtask/src/skeleton/prose.rs (manifest) about the line"
            ));
        }
    }
    Ok(text)
}

/// `key = ["a", "b"]` without the `crates`.
/// A member goes when its folder's name (`"cluster/grpc"`: `grpc`) is among `crates`.
fn without(line: &str, crates: &[&str]) -> Result<String, String> {
    let (key, value) = line.split_once('=').expect("a key line");
    let inner = value
        .trim()
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| format!("expected a one-line array in {line:?}"))?;
    let kept: Vec<&str> = inner
        .split(',')
        .map(str::trim)
        .filter(|m| {
            let folder = m.trim_matches('"').rsplit('/').next().unwrap_or_default();
            !m.is_empty() && !crates.contains(&folder)
        })
        .collect();
    Ok(format!("{}= [{}]", key, kept.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"[workspace]
members = [".", "tools/demo", "tools/labcluster", "labgob"]
# Only for the demo.
default-members = [".", "tools/demo"]
resolver = "3"

[workspace.dependencies]
log = "0.4"
labcluster = { path = "tools/labcluster" }

[package]
name = "raft"

[dev-dependencies]
# The benchmark's wiring.
labcluster.workspace = true
# Not gone.
log.workspace = true

[[bench]]
name = "agreement"
harness = false

# Quicker tests.
[profile.dev]
opt-level = 1
"#;

    #[test]
    fn the_manifest_loses_the_crates_left_out_and_the_benchmarks() {
        let text = manifest(MANIFEST, &["demo", "bench"]).expect("rewritten");
        assert_eq!(
            text,
            "[workspace]\nmembers = [\".\", \"tools/labcluster\", \"labgob\"]\nresolver = \"3\"\n\n\
             [workspace.dependencies]\nlog = \"0.4\"\nlabcluster = { path = \"tools/labcluster\" }\n\n\
             [package]\nname = \"raft\"\n\n[dev-dependencies]\nlabcluster.workspace = true\n\
             # Not gone.\nlog.workspace = true\n\n# Quicker tests.\n[profile.dev]\nopt-level = 1\n"
        );
        let text = manifest(MANIFEST, &["demo", "bench", "labcluster"]).expect("rewritten");
        assert!(!text.contains("labcluster") && text.contains("[dev-dependencies]\n# Not gone."));
    }

    #[test]
    fn a_mention_left_behind_is_an_error() {
        let text = format!("{MANIFEST}\n[features]\nextra = [\"demo/x\"]\n");
        let err = manifest(&text, &["demo", "bench"]).expect_err("a mention is left");
        assert!(err.contains("demo"), "{err}");
    }

    #[test]
    fn the_lib_gets_its_allowance_after_the_crate_docs() {
        let lib = "//! Raft.\n//!\n//! More.\n\nmod apply;\n";
        assert_eq!(
            allow_unused(lib, crate_subject("src")).expect("docs first"),
            "//! Raft.\n//!\n//! More.\n\n// The stubs leave given helpers and their arguments \
             unused; drop this once your Raft is done.\n\
             #![allow(dead_code, unused_imports, unused_mut, unused_variables)]\n\nmod apply;\n"
        );
        assert!(
            allow_unused(lib, crate_subject("labs/rsm/src"))
                .expect("docs first")
                .contains("drop this once your rsm layer is done.\n")
        );
        assert!(allow_unused("mod apply;\n", "your Raft").is_err());
    }

    #[test]
    fn the_prose_speaks_to_the_student() {
        let places = [
            Place {
                part: 1,
                file: "src/raft.rs".into(),
                what: "`Raft::start`",
            },
            Place {
                part: 3,
                file: "src/snapshot.rs".into(),
                what: "`snapshot`",
            },
            Place {
                part: 4,
                file: "labs/rsm/src/rsm.rs".into(),
                what: "`Rsm::submit`",
            },
            Place {
                part: 5,
                file: "labs/rsm/src/snapshot.rs".into(),
                what: "`is_due`",
            },
        ];
        let readme = readme(1, &places);
        assert!(readme.starts_with(
            "# Raft and key/value labs in Rust: PartB, PartC, PartD, 4A, 4B, 5A and 5B\n"
        ));
        assert!(readme.contains("PartA is done"));
        assert!(readme.contains("### PartB: log replication (3B; guide: `docs/part-b.md`)"));
        assert!(readme.contains("- `src/raft.rs`:\n  - `Raft::start`\n"));
        assert!(readme.contains("cargo test part_b "));
        assert!(readme.contains(
            "### 4A: a key/value service without snapshots (guide: `docs/part-4a.md`)\n\n\
             - `labs/rsm/src/rsm.rs`:\n  - `Rsm::submit`\n"
        ));
        assert!(readme.contains("in your replicator"));
        let lab4 = super::readme(4, &places[2..]);
        assert!(lab4.starts_with("# Raft and key/value labs in Rust: 4A, 4B, 5A and 5B\n"));
        assert!(lab4.contains("PartA, PartB, PartC and PartD are done"));
        assert!(lab4.contains("`// Your code here (4A).`"));
        assert!(lab4.contains("cargo test 4a   ") && lab4.contains("in your `apply_command`"));
        assert!(!lab4.contains("### PartD") && !lab4.contains("`RaftState`"));
        for text in [&readme, &lab4] {
            for wrong in ["reference", "solution"] {
                assert!(!text.to_lowercase().contains(wrong), "{wrong}");
            }
        }
        assert!(
            guide_note(4, 5, &places)
                .contains("4A is done: its code is in `labs/rsm/` and `labs/kvraft/`")
        );
        assert!(guide_note(4, 5, &places).contains("`cargo test 4a` passes"));
        assert!(guide_note(5, 4, &places).contains("one finished service."));
        assert!(guide_note(0, 1, &places).contains("PartA is done"));
        assert!(guide_note(3, 1, &places).contains(
            "`// Your code here (PartD).` (the README lists them) in `src/snapshot.rs`.\n"
        ));
        let guide = with_note("# PartD: log compaction\n\nText.\n", "> Note.\n").expect("titled");
        assert_eq!(guide, "# PartD: log compaction\n\n> Note.\n\nText.\n");
        assert!(with_note("No title\n", "> Note.\n").is_err());
    }
}
