//! Finding the tests to run: build the test binaries of the packages `packages.rs` chose once
//! (`cargo test -p A -p B --no-run --message-format=json`, or `--workspace`), ask each for its
//! tests (`<binary> --list --format terse`), and keep those whose name contains a filter.

use super::packages::Scope;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One test in one binary.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    pub binary: PathBuf,
    pub name: String,
}

/// The tests of `scope` whose name contains any of `filters` (all of them if there are none).
pub fn tests(release: bool, scope: &Scope, filters: &[String]) -> Result<Vec<TestCase>, String> {
    let mut tests = Vec::new();
    for binary in build(release, scope)? {
        for name in list(&binary)? {
            if matches(&name, filters) {
                tests.push(TestCase {
                    binary: binary.clone(),
                    name,
                });
            }
        }
    }
    if tests.is_empty() {
        return Err(format!("no test matches {filters:?}"));
    }
    Ok(tests)
}

fn matches(name: &str, filters: &[String]) -> bool {
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

/// Builds the test binaries of `scope` (cargo's own messages go to our stderr) and returns their
/// paths.
fn build(release: bool, scope: &Scope) -> Result<Vec<PathBuf>, String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("test")
        .args(scope.cargo_args())
        .args(["--no-run", "--message-format=json"]);
    if release {
        cmd.arg("--release");
    }
    eprintln!("stress: building the tests of {scope}");
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err("the build failed".into());
    }
    Ok(test_binaries(&String::from_utf8_lossy(&out.stdout)))
}

/// The executables of the test artifacts in cargo's JSON messages, one message a line.
fn test_binaries(messages: &str) -> Vec<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["profile"]["test"] == true)
        .filter_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .collect()
}

/// The tests in one test binary.
fn list(binary: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(binary)
        .args(["--list", "--format", "terse"])
        .output()
        .map_err(|e| format!("cannot list {}: {e}", binary.display()))?;
    if !out.status.success() {
        return Err(format!("{} --list failed", binary.display()));
    }
    Ok(test_names(&String::from_utf8_lossy(&out.stdout)))
}

/// The names in libtest's terse listing (`name: test` lines; benches and the rest skipped).
fn test_names(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_test_executables_in_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","profile":{"test":true},"executable":"/t/deps/part_a-1"}
{"reason":"compiler-artifact","profile":{"test":true},"executable":null}
{"reason":"compiler-artifact","profile":{"test":false},"executable":"/t/debug/raft"}
{"reason":"build-finished","success":true}
   Compiling raft v0.1.0
{"reason":"compiler-artifact","profile":{"test":true},"executable":"/t/deps/labrpc-2"}"#;
        assert_eq!(
            test_binaries(messages),
            vec![
                PathBuf::from("/t/deps/part_a-1"),
                PathBuf::from("/t/deps/labrpc-2")
            ]
        );
    }

    #[test]
    fn reads_the_terse_listing() {
        let listing = "initial_election_part_a: test\nnet::tests::drops: test\nrpc: benchmark\n";
        assert_eq!(
            test_names(listing),
            vec!["initial_election_part_a", "net::tests::drops"]
        );
    }

    #[test]
    fn filters_select_by_substring() {
        let filters = vec!["part_a".to_string(), "snapshot".to_string()];
        assert!(matches("re_election_part_a", &filters));
        assert!(matches("snapshot_basic_part_d", &filters));
        assert!(!matches("figure8_part_c", &filters));
        assert!(matches("anything", &[]));
    }
}
