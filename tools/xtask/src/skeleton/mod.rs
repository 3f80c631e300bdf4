//! `cargo xtask skeleton --out DIR [--from PART]`: the student skeleton.
//!
//! The reference marks each piece of code a part asks the student to write, in the lab's
//! sources ([`SOURCES`]: Raft's `src/`, lab 4's `labs/rsm/src/` and `labs/kvraft/src/`, lab 5's
//! `labs/shardctrler/src/` and `labs/shardkv/src/`), as a named region
//! of that part, and holds nothing else there for the skeleton:
//!
//! ```text
//! // solution: begin PartB start
//! ...the solution...
//! // solution: end start
//! ```
//!
//! The parts are Raft's PartA-PartD, then lab 4's 4A and 4B and lab 5's 5A and 5B, as the
//! course names them (`// solution: begin 4A submit`); a skeleton from 4A hands out lab 4 on a
//! complete Raft (with lab 5 stubbed too), one from 5A lab 5 on a complete lab 4.
//!
//! The stubs live in `skeleton/stubs/`, one file per lab, keyed by the region's name; the
//! markers are parsed in `skeleton/regions.rs`. A region of PART or a later part becomes the
//! course's placeholder, `// Your code here (PartB).` (`(4A)` in lab 4), and its stub (a few
//! regions go without a trace: the calls that persist, unit tests of stubbed functions); a
//! region of an earlier part keeps its solution, without the markers. A region may hold regions
//! of later parts (the PartA heartbeat sender holds PartB's choice of entries), which a skeleton
//! that keeps it stubs on their own. Every region must have a stub and every stub a region, or
//! nothing is written.
//!
//! The copy in DIR has everything else the project has, but for what needs a finished Raft or
//! service and is not the lab's ([`LEFT_OUT`]). Its README, the note atop each guide and its
//! manifests are its own (`skeleton/prose.rs`), and `tools/xtask/skeleton.txt` marks it as a skeleton.

mod prose;
mod regions;
mod stubs;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use prose::Place;
use regions::Node;
use stubs::{Stub, With};

/// The parts, in the order they are handed out: Raft's, then lab 4's, then lab 5's.
const PARTS: [&str; 8] = ["PartA", "PartB", "PartC", "PartD", "4A", "4B", "5A", "5B"];

/// The first of lab 4's parts: the key/value service, `labs/rsm/` and `labs/kvraft/`.
const LAB4: usize = 4;

/// The first of lab 5's parts: the sharded service, `labs/shardctrler/` and `labs/shardkv/`.
const LAB5: usize = 6;

/// The directories whose `.rs` files hold solution regions.
const SOURCES: [&str; 5] = [
    "src",
    "labs/rsm/src",
    "labs/kvraft/src",
    "labs/shardctrler/src",
    "labs/shardkv/src",
];

/// A part's short name, as `--from` and the guides' file names have it: `A`, `4A`.
fn short(part: usize) -> &'static str {
    let name = PARTS[part];
    name.strip_prefix("Part").unwrap_or(name)
}

/// Writes the student skeleton: the project with the solutions from PART on taken out.
///
/// The copy in DIR has the solution regions of PART and the later parts replaced by
/// `// Your code here (PartX).` and a stub that compiles; the tests of those parts fail.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// The directory to write (it must not exist)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The first part to stub out: A-D (Raft), 4A, 4B (lab 4) or 5A, 5B (lab 5) (also PartA, 3A,
    /// 2A, Part4A, ...)
    #[arg(long, value_name = "PART", default_value = "A", value_parser = part)]
    from: usize,
}

/// `--from`'s value: the part's number from 0.
fn part(name: &str) -> Result<usize, String> {
    part_number(name).ok_or_else(|| format!("unknown part {name:?}"))
}

/// `A`, `PartA`, `parta`, `3A` and `2A` (Raft's names since 2024 and before) all name PartA;
/// `4A`, `Part4A` and `4a` name lab 4's 4A, `5A` lab 5's. A `4` or a `5` never names a Raft
/// part.
fn part_number(name: &str) -> Option<usize> {
    let name = name.trim().to_ascii_uppercase();
    let name = name.strip_prefix("PART").unwrap_or(&name);
    let (lab, letter) = match name.as_bytes() {
        [letter] => (None, *letter),
        [lab, letter] => (Some(*lab), *letter),
        _ => return None,
    };
    let index = usize::from(letter.checked_sub(b'A')?);
    match lab {
        None | Some(b'2' | b'3') if index < LAB4 => Some(index),
        Some(b'4') if LAB4 + index < LAB5 => Some(LAB4 + index),
        Some(b'5') if LAB5 + index < PARTS.len() => Some(LAB5 + index),
        _ => None,
    }
}

/// What a skeleton leaves out of the project, and why. `target` and `.git` may be absent; any
/// other path missing is an error, so that a rename cannot slip a file into the skeleton.
const LEFT_OUT: &[(&str, &str)] = &[
    ("target", "build output"),
    (".git", "the project's history"),
    (".ci", "the project's CI, which checks its solution"),
    (
        "tools/demo",
        "a live cluster of finished Raft peers (`cargo run --release`)",
    ),
    ("benches", "benchmarks of a finished Raft"),
    (
        "cluster",
        "the real cluster (disk journal, TCP and gRPC transports, servers, the etcd comparison), \
         not part of the labs",
    ),
    (
        "labs/kvraft/benches",
        "benchmarks of a finished key/value service",
    ),
    (
        "labs/shardkv/benches",
        "the sharded service's throughput against lab 4's",
    ),
    ("docs/results.md", "the reference solution's test results"),
    (
        "docs/performance.md",
        "the reference solution's benchmark figures (the benchmarks are left out)",
    ),
    (
        "tests/xtask_selftest.rs",
        "the stress runner's own fixture; it needs an elected leader",
    ),
    (
        "tests/levers.rs",
        "tests of the real cluster's PreVote and CheckQuorum, which need elections and commits",
    ),
    (
        "tests/panic_report.rs",
        "checks how the project reports a panicking Raft thread, through an election",
    ),
];

/// Files a skeleton keeps without their unit tests (`#[cfg(test)] mod tests`), which need a
/// finished Raft.
const TESTS_LEFT_OUT: &[(&str, &str)] = &[(
    "tools/labcluster/src/lib.rs",
    "the cluster wiring's test elects, replaces and restarts leaders",
)];

/// The manifests a skeleton rewrites, each with what it must no longer speak of: the crate and
/// the benchmarks left out.
const MANIFEST_LEFT_OUT: &[(&str, &[&str])] = &[
    (
        "Cargo.toml",
        &[
            "demo",
            "grpc",
            "loadgen",
            "netrpc",
            "realcluster",
            "storage",
            "bench",
        ],
    ),
    ("labs/kvraft/Cargo.toml", &["bench"]),
    ("labs/shardkv/Cargo.toml", &["bench", "kvraft"]),
];

/// Written into every skeleton: says it is one, and from which part.
const MARK: &str = "tools/xtask/skeleton.txt";

pub fn run(o: Options) -> Result<ExitCode, String> {
    let root = crate::project_root()?;
    if let Some(from) = skeleton_mark(&root) {
        return Err(format!(
            "this project is a student skeleton ({from}), with no solutions to take out; run \
             `cargo xtask skeleton` in the project it was written from"
        ));
    }
    if o.out.exists() {
        return Err(format!(
            "{} exists already; pick a new directory",
            o.out.display()
        ));
    }
    let plan = plan(&root, o.from)?;
    copy_tree(&root, &root, &o.out, &plan.files)?;
    let mark = o.out.join(MARK);
    let text = format!(
        "from {}\nA student skeleton, written by `cargo xtask skeleton --from {}`: the code of {} \
         and the later parts is stubbed. `cargo xtask skeleton` reads the line above and does not \
         run here.\n",
        PARTS[o.from],
        short(o.from),
        PARTS[o.from]
    );
    std::fs::write(&mark, text).map_err(|e| format!("{}: {e}", mark.display()))?;
    let per_part: Vec<String> = (o.from..PARTS.len())
        .map(|p| format!("{} {}", PARTS[p], plan.stubbed[p]))
        .collect();
    println!(
        "skeleton from {} written to {}: {} regions stubbed ({}), {} kept",
        PARTS[o.from],
        o.out.display(),
        plan.stubbed.iter().sum::<usize>(),
        per_part.join(", "),
        plan.kept
    );
    Ok(ExitCode::SUCCESS)
}

/// The part a skeleton was written from, if `root` is a skeleton.
fn skeleton_mark(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join(MARK)).ok()?;
    Some(text.lines().next().unwrap_or("").to_string())
}

/// What a skeleton from a part holds that the project does not, worked out before anything is
/// written.
struct Plan {
    /// Path relative to the project -> the skeleton's text of that file.
    files: BTreeMap<PathBuf, String>,
    /// Per part, the regions stubbed (regions inside a stubbed one not counted).
    stubbed: [usize; PARTS.len()],
    /// Regions of earlier parts whose solutions stay.
    kept: usize,
}

fn plan(root: &Path, from: usize) -> Result<Plan, String> {
    let io = |e: std::io::Error, p: &Path| format!("{}: {e}", p.display());
    for (path, _) in LEFT_OUT {
        if !matches!(*path, "target" | ".git") && !root.join(path).exists() {
            return Err(format!(
                "{path}, which the skeleton leaves out, is not in the project; update LEFT_OUT \
                 in tools/xtask/src/skeleton/mod.rs"
            ));
        }
    }
    // Every source file's regions, checked against the stubs as a whole.
    let mut sources = Vec::new();
    for path in source_files(root)? {
        let text = std::fs::read_to_string(&path).map_err(|e| io(e, &path))?;
        let rel = path
            .strip_prefix(root)
            .expect("under the root")
            .to_path_buf();
        let nodes = regions::parse(&text).map_err(|e| format!("{}: {e}", rel.display()))?;
        sources.push((rel, nodes));
    }
    let stub_of = check_stubs(&sources, stubs::all())?;
    let mut plan = Plan {
        files: BTreeMap::new(),
        stubbed: [0; PARTS.len()],
        kept: 0,
    };
    let mut places = Vec::new();
    // The crates (their `src/`) with a region stubbed: their `lib.rs` gets the allowance.
    let mut stubbed_crates = Vec::new();
    for (rel, nodes) in &sources {
        plan.kept += regions::regions(nodes)
            .iter()
            .filter(|r| r.part < from)
            .count();
        for region in stubbed_regions(nodes, from) {
            plan.stubbed[region.part] += 1;
            let dir = SOURCES
                .iter()
                .find(|dir| rel.starts_with(dir))
                .expect("a source file");
            if !stubbed_crates.contains(dir) {
                stubbed_crates.push(*dir);
            }
            let stub = stub_of[region.name.as_str()];
            if let With::Code(_) = stub.with {
                places.push(Place {
                    part: region.part,
                    file: rel.display().to_string(),
                    what: stub.what,
                });
            }
        }
        let (text, _) = regions::render(nodes, from, &|name| stub_of.get(name).copied())
            .map_err(|e| format!("{}: {e}", rel.display()))?;
        plan.files.insert(rel.clone(), text);
    }
    for dir in stubbed_crates {
        let rel = Path::new(dir).join("lib.rs");
        let lib = plan
            .files
            .get_mut(&rel)
            .ok_or_else(|| format!("{} has stubs but no lib.rs", dir))?;
        *lib = prose::allow_unused(lib, prose::crate_subject(dir))
            .map_err(|e| format!("{}: {e}", rel.display()))?;
    }
    plan.files
        .insert("README.md".into(), prose::readme(from, &places));
    for part in 0..PARTS.len() {
        let rel = PathBuf::from(prose::guide(part));
        let path = root.join(&rel);
        let guide = std::fs::read_to_string(&path).map_err(|e| io(e, &path))?;
        let note = prose::guide_note(part, from, &places);
        let text =
            prose::with_note(&guide, &note).map_err(|e| format!("{}: {e}", rel.display()))?;
        plan.files.insert(rel, text);
    }
    for (rel, gone) in MANIFEST_LEFT_OUT {
        let path = root.join(rel);
        let manifest = std::fs::read_to_string(&path).map_err(|e| io(e, &path))?;
        let text = prose::manifest(&manifest, gone).map_err(|e| format!("{rel}: {e}"))?;
        plan.files.insert(rel.into(), text);
    }
    for (rel, _) in TESTS_LEFT_OUT {
        let path = root.join(rel);
        let text = std::fs::read_to_string(&path).map_err(|e| io(e, &path))?;
        let text = without_tests(&text).map_err(|e| format!("{rel}: {e}"))?;
        plan.files.insert(rel.into(), text);
    }
    Ok(plan)
}

/// `text` without its top-level `#[cfg(test)] mod tests { ... }`.
fn without_tests(text: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .windows(2)
        .position(|w| w[0] == "#[cfg(test)]" && w[1] == "mod tests {")
        .ok_or("no `#[cfg(test)] mod tests {` to leave out")?;
    let end = start
        + lines[start..]
            .iter()
            .position(|l| *l == "}")
            .ok_or("the tests module does not end")?;
    let mut kept: Vec<&str> = lines[..start].to_vec();
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    kept.extend(&lines[end + 1..]);
    Ok(kept.join("\n") + "\n")
}

/// The regions a skeleton from `from` replaces by their stubs: those of `from` or later, and not
/// inside another such region.
fn stubbed_regions(nodes: &[Node], from: usize) -> Vec<&regions::Region> {
    let mut found = Vec::new();
    for node in nodes {
        if let Node::Region(region) = node {
            if region.part >= from {
                found.push(region);
            } else {
                found.extend(stubbed_regions(region.body(), from));
            }
        }
    }
    found
}

/// Every region has one stub and every stub one region; returns the stubs by name. Lists every
/// mismatch at once.
fn check_stubs<'a>(
    sources: &[(PathBuf, Vec<Node>)],
    stubs: impl Iterator<Item = &'a Stub> + Clone,
) -> Result<HashMap<&'a str, &'a Stub>, String> {
    let mut errors = Vec::new();
    let mut by_name: HashMap<&str, &Stub> = HashMap::new();
    for stub in stubs.clone() {
        if by_name.insert(stub.name, stub).is_some() {
            errors.push(format!("two stubs are named {}", stub.name));
        }
    }
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (rel, nodes) in sources {
        for region in regions::regions(nodes) {
            let at = format!("{}:{}", rel.display(), region.line);
            if let Some(first) = seen.insert(&region.name, at.clone()) {
                errors.push(format!("region {} at {at} and at {first}", region.name));
            }
            if !by_name.contains_key(region.name.as_str()) {
                errors.push(format!(
                    "region {} at {at} has no stub in tools/xtask/src/skeleton/stubs/{}",
                    region.name,
                    stubs::file_for(rel)
                ));
            }
        }
    }
    for stub in stubs {
        if !seen.contains_key(stub.name) {
            errors.push(format!(
                "stub {} has no region in {}/ (`// solution: begin PartX {}`)",
                stub.name,
                SOURCES.join("/, "),
                stub.name
            ));
        }
    }
    if errors.is_empty() {
        Ok(by_name)
    } else {
        Err(format!(
            "the solution regions and their stubs do not match:\n  {}",
            errors.join("\n  ")
        ))
    }
}

/// The `.rs` files under [`SOURCES`], sorted within each.
fn source_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for dir in SOURCES {
        files.extend(rust_files(&root.join(dir))?);
    }
    Ok(files)
}

/// The `.rs` files under `dir`, sorted.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.is_dir() {
            files.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Copies `dir` to `out` but for [`LEFT_OUT`], writing the files of `files` from there instead.
fn copy_tree(
    root: &Path,
    dir: &Path,
    out: &Path,
    files: &BTreeMap<PathBuf, String>,
) -> Result<(), String> {
    let io = |e: std::io::Error, p: &Path| format!("{}: {e}", p.display());
    std::fs::create_dir_all(out).map_err(|e| io(e, out))?;
    for entry in std::fs::read_dir(dir).map_err(|e| io(e, dir))? {
        let path = entry.map_err(|e| io(e, dir))?.path();
        let rel = path.strip_prefix(root).expect("under the root");
        if LEFT_OUT.iter().any(|(left, _)| rel == Path::new(left)) {
            continue;
        }
        let dest = out.join(path.file_name().expect("a named entry"));
        if path.is_dir() {
            copy_tree(root, &path, &dest, files)?;
        } else if let Some(text) = files.get(rel) {
            std::fs::write(&dest, text).map_err(|e| io(e, &dest))?;
        } else {
            std::fs::copy(&path, &dest).map_err(|e| io(e, &path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names() {
        for (name, part) in [
            ("A", 0),
            ("PartC", 2),
            ("parta", 0),
            ("3d", 3),
            ("2A", 0),
            ("Part3B", 1),
            (" D ", 3),
            ("4A", 4),
            ("4b", 5),
            ("Part4A", 4),
            ("part4b", 5),
            ("5A", 6),
            ("Part5b", 7),
        ] {
            assert_eq!(part_number(name), Some(part), "{name}");
            assert_eq!(part_number(short(part)), Some(part), "{}", short(part));
        }
        for name in [
            "E", "3E", "4C", "4D", "5C", "6A", "1A", "4", "5", "Part", "", "AA", "PartA4",
        ] {
            assert_eq!(part_number(name), None, "{name}");
        }
        assert_eq!(short(0), "A");
        assert_eq!(short(LAB4), "4A");
        assert_eq!(short(LAB5), "5A");
    }

    fn root() -> PathBuf {
        crate::project_root().expect("the project's root")
    }

    /// The project's regions and the stubs match, and a skeleton from each part, Raft's and lab
    /// 4's, can be planned: no marker is left, every part has places to write, a later
    /// skeleton keeps more, and a crate gets the allowance for its stubs exactly when it has
    /// some. In a skeleton itself, no region is left in the sources.
    #[test]
    fn every_region_has_its_stub_and_every_skeleton_its_plan() {
        let root = root();
        if let Some(from) = skeleton_mark(&root) {
            for path in source_files(&root).expect("the sources") {
                let text = std::fs::read_to_string(&path).expect("readable");
                assert!(!text.contains("solution:"), "{} ({from})", path.display());
            }
            return;
        }
        let mut kept = Vec::new();
        for (from, from_name) in PARTS.iter().enumerate() {
            let plan = plan(&root, from).unwrap_or_else(|e| panic!("from {from_name}: {e}"));
            for (rel, text) in &plan.files {
                assert!(!text.contains("// solution:"), "{}", rel.display());
            }
            for (part, name) in PARTS.iter().enumerate().skip(from) {
                assert!(
                    plan.stubbed[part] > 0,
                    "from {from_name}: nothing of {name}"
                );
                assert!(
                    plan.files[Path::new("README.md")].contains(&format!("### {name}:")),
                    "the README lists {name}"
                );
            }
            assert!(
                plan.files[Path::new("README.md")]
                    .contains(&format!("Your code here ({from_name})"))
            );
            for (lib, stubbed_from) in [
                ("src/lib.rs", LAB4),
                ("labs/kvraft/src/lib.rs", LAB4 + 1),
                ("labs/rsm/src/lib.rs", LAB5),
                ("labs/shardctrler/src/lib.rs", LAB5 + 1),
                ("labs/shardkv/src/lib.rs", PARTS.len()),
            ] {
                assert_eq!(
                    plan.files[Path::new(lib)].contains("#![allow("),
                    from < stubbed_from,
                    "from {from_name}: {lib}"
                );
            }
            for (rel, text) in &plan.files {
                let placeholder = text.contains("// Your code here (");
                let lab4 = rel.starts_with("labs/rsm/src") || rel.starts_with("labs/kvraft/src");
                let lab5 =
                    rel.starts_with("labs/shardctrler/src") || rel.starts_with("labs/shardkv/src");
                if lab4 || lab5 {
                    assert!(
                        !text.contains("// Your code here (Part"),
                        "{}: a Raft part's placeholder",
                        rel.display()
                    );
                } else if rel.starts_with("src") {
                    assert!(!placeholder || from < LAB4, "{}", rel.display());
                    assert!(!text.contains("// Your code here (4"), "{}", rel.display());
                    assert!(!text.contains("// Your code here (5"), "{}", rel.display());
                }
            }
            for manifest in [
                "Cargo.toml",
                "labs/kvraft/Cargo.toml",
                "labs/shardkv/Cargo.toml",
            ] {
                assert!(
                    !plan.files[Path::new(manifest)].contains("[[bench]]"),
                    "{manifest}"
                );
            }
            kept.push(plan.kept);
        }
        assert_eq!(kept[0], 0);
        assert!(kept.windows(2).all(|w| w[0] < w[1]), "{kept:?}");
    }

    #[test]
    fn unit_tests_left_out() {
        let text = "fn a() {}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n";
        assert_eq!(without_tests(text).expect("has tests"), "fn a() {}\n");
        assert!(without_tests("fn a() {}\n").is_err());
    }

    #[test]
    fn mismatched_stubs_are_errors() {
        let source = |text: &str| {
            (
                PathBuf::from("src/x.rs"),
                regions::parse(text).expect("well formed"),
            )
        };
        let stubs = [
            Stub {
                name: "a",
                what: "",
                with: With::Nothing,
            },
            Stub {
                name: "unused",
                what: "",
                with: With::Nothing,
            },
        ];
        let sources = [
            source("// solution: begin PartA a\n// solution: end a\n"),
            source(
                "// solution: begin PartB a\n// solution: end a\n// solution: begin PartB b\n// solution: end b\n",
            ),
        ];
        let Err(err) = check_stubs(&sources, stubs.iter()) else {
            panic!("mismatched stubs pass");
        };
        assert!(
            err.contains("region a at src/x.rs:1 and at src/x.rs:1"),
            "{err}"
        );
        assert!(
            err.contains(
                "region b at src/x.rs:3 has no stub in tools/xtask/src/skeleton/stubs/raft.rs"
            ),
            "{err}"
        );
        assert!(err.contains("stub unused has no region"), "{err}");
        assert!(check_stubs(&sources[..1], stubs[..1].iter()).is_ok());
    }
}
