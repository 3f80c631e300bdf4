//! Choosing what to build: only the packages whose tests the filters can match, so that
//! `cargo xtask stress part_a` builds Raft's tests and not the real cluster's (tonic, rustls:
//! minutes on a small machine).
//!
//! A test's name is its module path and its function's name (`log::tests::slice_after`,
//! `initial_election_part_a`), so a filter can only match a test of a package whose sources
//! name a `fn` or a module (`mod`, a file, a directory) holding each piece of the filter
//! between its `::`s. The scan reads the Rust files under the directory of each of the
//! package's test targets (from `cargo metadata --no-deps`) as words, not as Rust: a name in a
//! comment or a string, or a helper's, only builds a package more, never one less. Without
//! filters, or when no package's sources can match, the whole workspace is built; `--package`
//! chooses instead of the scan.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What `cargo test --no-run` builds.
#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    /// Every member's tests: `--workspace`.
    Workspace,
    /// These packages' tests: `-p A -p B`.
    Packages(Vec<String>),
}

impl Scope {
    /// The arguments that select this scope on cargo's command line.
    pub fn cargo_args(&self) -> Vec<String> {
        match self {
            Scope::Workspace => vec!["--workspace".into()],
            Scope::Packages(names) => names
                .iter()
                .flat_map(|n| ["-p".into(), n.clone()])
                .collect(),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Scope::Workspace => write!(f, "the whole workspace"),
            Scope::Packages(names) => write!(f, "{}", names.join(", ")),
        }
    }
}

/// What to build for `filters`: the `explicit` packages (`--package`) if any, else the
/// packages whose sources can name a matching test, else the whole workspace (saying why).
pub fn choose(explicit: &[String], filters: &[String]) -> Result<Scope, String> {
    if explicit.is_empty() && filters.is_empty() {
        eprintln!("stress: no filter, so every test of the workspace");
        return Ok(Scope::Workspace);
    }
    let members = packages(&metadata()?)?;
    if !explicit.is_empty() {
        check_members(&members, explicit)?;
        return Ok(Scope::Packages(explicit.to_vec()));
    }
    let mut scanned = Vec::new();
    for package in members {
        let mut names = BTreeSet::new();
        for dir in &package.dirs {
            names_under(dir, &mut names)?;
        }
        scanned.push((package.name, names));
    }
    let chosen = select(&scanned, filters);
    if chosen.is_empty() {
        eprintln!(
            "stress: no package's sources name a test that {filters:?} can match; building the \
             whole workspace"
        );
        return Ok(Scope::Workspace);
    }
    Ok(Scope::Packages(chosen))
}

/// A workspace member and the directories of its test targets' sources.
#[derive(Debug, PartialEq)]
struct Package {
    name: String,
    dirs: Vec<PathBuf>,
}

/// `cargo metadata --no-deps --format-version 1`'s output: the workspace's members.
fn metadata() -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err("cargo metadata failed".into());
    }
    String::from_utf8(out.stdout).map_err(|e| format!("cargo metadata's output: {e}"))
}

/// The packages in cargo metadata's JSON, each with the directories of its targets that
/// `cargo test` builds as tests (`"test": true`: the lib, the bins, `tests/`; not the benches
/// or the build script), a directory inside another left out.
fn packages(metadata: &str) -> Result<Vec<Package>, String> {
    let bad = |what: &str| format!("cargo metadata's output: {what}");
    let json: serde_json::Value =
        serde_json::from_str(metadata).map_err(|e| bad(&e.to_string()))?;
    let members = json["packages"]
        .as_array()
        .ok_or_else(|| bad("no package list"))?;
    let mut packages = Vec::new();
    for member in members {
        let name = member["name"]
            .as_str()
            .ok_or_else(|| bad("a package without a name"))?;
        let targets = member["targets"]
            .as_array()
            .ok_or_else(|| bad(&format!("{name} has no target list")))?;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for target in targets.iter().filter(|t| t["test"] == true) {
            let src = target["src_path"]
                .as_str()
                .ok_or_else(|| bad(&format!("a target of {name} without a src_path")))?;
            if let Some(dir) = Path::new(src).parent() {
                dirs.push(dir.to_path_buf());
            }
        }
        dirs.sort();
        dirs.dedup();
        let mut outermost: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            if !outermost.iter().any(|outer| dir.starts_with(outer)) {
                outermost.push(dir);
            }
        }
        packages.push(Package {
            name: name.to_string(),
            dirs: outermost,
        });
    }
    Ok(packages)
}

/// Every name of `explicit` is a workspace member's (cargo would take a dependency's too).
fn check_members(members: &[Package], explicit: &[String]) -> Result<(), String> {
    let names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
    match explicit.iter().find(|name| !names.contains(&name.as_str())) {
        Some(name) => Err(format!(
            "--package {name}: no such package in the workspace (its packages: {})",
            names.join(", ")
        )),
        None => Ok(()),
    }
}

/// Adds the names of `dir`'s Rust sources, recursively: each file's stem and each directory's
/// name (modules), and what [`names_in`] finds in the text. Build output, hidden directories
/// and other packages (a directory with a `Cargo.toml`) are skipped.
fn names_under(dir: &Path, names: &mut BTreeSet<String>) -> Result<(), String> {
    let io = |e: std::io::Error, p: &Path| format!("cannot read {}: {e}", p.display());
    for entry in std::fs::read_dir(dir).map_err(|e| io(e, dir))? {
        let path = entry.map_err(|e| io(e, dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if path.is_dir() {
            if name == "target" || name.starts_with('.') || path.join("Cargo.toml").exists() {
                continue;
            }
            names.insert(name.to_string());
            names_under(&path, names)?;
        } else if let Some(stem) = name.strip_suffix(".rs") {
            names.insert(stem.to_string());
            let text = std::fs::read(&path).map_err(|e| io(e, &path))?;
            names.extend(names_in(&String::from_utf8_lossy(&text)).map(str::to_string));
        }
    }
    Ok(())
}

/// The words that follow `fn` or `mod` in Rust source: the functions' and inline modules'
/// names (and a few false ones, from comments or `fn(u32)` types: harmless here).
fn names_in(text: &str) -> impl Iterator<Item = &str> {
    let words = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty());
    words
        .clone()
        .zip(words.skip(1))
        .filter(|(keyword, _)| matches!(*keyword, "fn" | "mod"))
        .map(|(_, name)| name)
}

/// Whether a test named after `names` (its module path and function) can contain `filter`:
/// each piece of the filter between colons lies within one name.
fn can_match(names: &BTreeSet<String>, filter: &str) -> bool {
    filter
        .split(':')
        .filter(|piece| !piece.is_empty())
        .all(|piece| names.iter().any(|name| name.contains(piece)))
}

/// The packages, in their order, whose names can match one of `filters`.
fn select(scanned: &[(String, BTreeSet<String>)], filters: &[String]) -> Vec<String> {
    scanned
        .iter()
        .filter(|(_, names)| filters.iter().any(|f| can_match(names, f)))
        .map(|(package, _)| package.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn reads_the_members_and_their_test_directories() {
        let metadata = r#"{"packages": [
            {"name": "raft", "targets": [
                {"kind": ["lib"], "src_path": "/w/src/lib.rs", "test": true},
                {"kind": ["test"], "src_path": "/w/tests/part_a.rs", "test": true},
                {"kind": ["test"], "src_path": "/w/tests/part_b.rs", "test": true},
                {"kind": ["bench"], "src_path": "/w/benches/agreement.rs", "test": false}]},
            {"name": "realcluster", "targets": [
                {"kind": ["lib"], "src_path": "/w/rc/src/lib.rs", "test": true},
                {"kind": ["bin"], "src_path": "/w/rc/src/bin/kvctl.rs", "test": true},
                {"kind": ["custom-build"], "src_path": "/w/rc/build.rs", "test": false}]},
            {"name": "quiet", "targets": [
                {"kind": ["lib"], "src_path": "/w/q/src/lib.rs", "test": false}]}
        ], "workspace_members": []}"#;
        assert_eq!(
            packages(metadata).expect("well formed"),
            vec![
                Package {
                    name: "raft".into(),
                    dirs: vec!["/w/src".into(), "/w/tests".into()],
                },
                Package {
                    name: "realcluster".into(),
                    dirs: vec!["/w/rc/src".into()],
                },
                Package {
                    name: "quiet".into(),
                    dirs: vec![],
                },
            ]
        );
    }

    #[test]
    fn malformed_metadata_is_an_error() {
        for bad in [
            "not json",
            "{}",
            r#"{"packages": [{"targets": []}]}"#,
            r#"{"packages": [{"name": "a"}]}"#,
            r#"{"packages": [{"name": "a", "targets": [{"test": true}]}]}"#,
        ] {
            let err = packages(bad).expect_err(bad);
            assert!(err.starts_with("cargo metadata's output: "), "{err}");
        }
    }

    #[test]
    fn finds_function_and_module_names() {
        let text = "mod common;\n\
                    #[test]\n\
                    fn initial_election() {\n    let f: fn(u32) = g;\n}\n\
                    pub(crate) fn helper<T>(x: T) {}\n\
                    #[cfg(test)]\nmod tests {\n    async fn later() {}\n}\n\
                    // a fn named here; my_fn, fnord, mode\n";
        assert_eq!(
            names_in(text).collect::<Vec<_>>(),
            vec![
                "common",
                "initial_election",
                "u32",
                "helper",
                "tests",
                "later",
                "named"
            ]
        );
        assert_eq!(names_in("fn").count(), 0);
        assert_eq!(names_in("").count(), 0);
    }

    #[test]
    fn a_filter_matches_a_name_or_a_module_path() {
        let names = set(&["log", "tests", "slice_after", "initial_election_part_a"]);
        for filter in [
            "part_a",
            "election",
            "log::tests::slice",
            "g::tes",
            "tests::",
            "::slice_after",
            "::",
        ] {
            assert!(can_match(&names, filter), "{filter}");
        }
        for filter in ["part_b", "log::part_b", "raft::log", "slice_before"] {
            assert!(!can_match(&names, filter), "{filter}");
        }
    }

    #[test]
    fn selects_the_packages_some_filter_can_match() {
        let scanned = vec![
            ("raft".to_string(), set(&["initial_election_part_a", "log"])),
            ("kvraft".to_string(), set(&["basic_4a", "store", "tests"])),
            (
                "shardkv".to_string(),
                set(&["challenge1_delete_5b", "tests"]),
            ),
        ];
        let select = |filters: &[&str]| {
            let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
            select(&scanned, &filters)
        };
        assert_eq!(select(&["part_a"]), vec!["raft"]);
        assert_eq!(select(&["5b", "4a"]), vec!["kvraft", "shardkv"]);
        assert_eq!(select(&["tests::"]), vec!["kvraft", "shardkv"]);
        assert!(select(&["part_z"]).is_empty());
    }

    #[test]
    fn explicit_packages_are_members() {
        let members = ["raft", "kvraft"].map(|name| Package {
            name: name.into(),
            dirs: vec![],
        });
        let explicit = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert!(check_members(&members, &explicit(&["kvraft", "raft"])).is_ok());
        assert_eq!(
            check_members(&members, &explicit(&["raft", "nom"])),
            Err(
                "--package nom: no such package in the workspace (its packages: raft, kvraft)"
                    .into()
            )
        );
    }

    #[test]
    fn scopes_on_the_command_line() {
        assert_eq!(Scope::Workspace.cargo_args(), vec!["--workspace"]);
        let two = Scope::Packages(vec!["raft".into(), "kvraft".into()]);
        assert_eq!(two.cargo_args(), vec!["-p", "raft", "-p", "kvraft"]);
        assert_eq!(two.to_string(), "raft, kvraft");
        assert_eq!(Scope::Workspace.to_string(), "the whole workspace");
    }
}
