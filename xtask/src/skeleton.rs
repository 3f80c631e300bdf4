//! `cargo xtask skeleton --out DIR [--from PART]`: the student skeleton.
//!
//! The reference solution marks its solution regions in `src/`:
//!
//! ```text
//! // solution: begin PartB
//! ...the solution...
//! // solution: stub
//! // ...what keeps the skeleton compiling, commented out...
//! // solution: end
//! ```
//!
//! The generator copies the project to DIR (everything but `target/` and `.git/`). In `src/`, in
//! regions of PART and later parts it writes the course's placeholder, `// Your code here (PartB).`, and
//! the stub lines uncommented; in regions of earlier parts it keeps the solution and drops the
//! markers. labrpc, labgob, the harness, the tests and the tools are copied as they are.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const BEGIN: &str = "// solution: begin ";
const STUB: &str = "// solution: stub";
const END: &str = "// solution: end";
const PARTS: [&str; 4] = ["PartA", "PartB", "PartC", "PartD"];

/// Writes the student skeleton: the project with the solutions from PART on taken out.
///
/// The copy in DIR has the solution regions of PART and the later parts replaced by
/// `// Your code here (PartX).` and a stub that compiles; the tests of those parts fail.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// The directory to write (it must not exist)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The first part to stub out: A-D (also PartA, 3A, 2A, ...)
    #[arg(long, value_name = "PART", default_value = "A", value_parser = part)]
    from: usize,
}

/// `--from`'s value: the part's number from 0.
fn part(name: &str) -> Result<usize, String> {
    part_number(name).ok_or_else(|| format!("unknown part {name:?}"))
}

/// `A`, `PartA`, `parta`, `3A` and `2A` all name PartA.
fn part_number(name: &str) -> Option<usize> {
    let letter = name.trim().chars().last()?.to_ascii_uppercase();
    ('A'..='D').position(|c| c == letter)
}

pub fn run(o: Options) -> Result<ExitCode, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root
        .canonicalize()
        .map_err(|e| format!("cannot find the project: {e}"))?;
    if o.out.exists() {
        return Err(format!(
            "{} exists already; pick a new directory",
            o.out.display()
        ));
    }
    let mut stubbed = 0;
    copy_tree(&root, &root, &o.out, o.from, &mut stubbed)?;
    println!(
        "skeleton from {} written to {} ({stubbed} solution regions replaced)",
        PARTS[o.from],
        o.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn copy_tree(
    root: &Path,
    dir: &Path,
    out: &Path,
    from: usize,
    stubbed: &mut usize,
) -> Result<(), String> {
    let io = |e: std::io::Error, p: &Path| format!("{}: {e}", p.display());
    std::fs::create_dir_all(out).map_err(|e| io(e, out))?;
    for entry in std::fs::read_dir(dir).map_err(|e| io(e, dir))? {
        let entry = entry.map_err(|e| io(e, dir))?;
        let path = entry.path();
        let name = entry.file_name();
        if dir == root && (name == "target" || name == ".git") {
            continue;
        }
        let dest = out.join(&name);
        if path.is_dir() {
            copy_tree(root, &path, &dest, from, stubbed)?;
        } else if path.starts_with(root.join("src")) && path.extension().is_some_and(|e| e == "rs")
        {
            let text = std::fs::read_to_string(&path).map_err(|e| io(e, &path))?;
            let (text, n) = strip(&text, from).map_err(|e| format!("{}: {e}", path.display()))?;
            *stubbed += n;
            std::fs::write(&dest, text).map_err(|e| io(e, &dest))?;
        } else {
            std::fs::copy(&path, &dest).map_err(|e| io(e, &path))?;
        }
    }
    Ok(())
}

/// Where a line is relative to the markers.
enum State {
    Outside,
    Solution { part: usize, start: usize },
    Stub { part: usize, start: usize },
}

/// Rewrites one file: regions of part `from` or later become placeholder + stub; earlier
/// regions keep their solution. Returns the text and the number of regions replaced.
pub fn strip(text: &str, from: usize) -> Result<(String, usize), String> {
    let mut out = String::with_capacity(text.len());
    let mut state = State::Outside;
    let mut replaced = 0;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        state = match state {
            State::Outside => {
                if let Some(name) = trimmed.strip_prefix(BEGIN) {
                    let part = PARTS
                        .iter()
                        .position(|p| *p == name.trim())
                        .ok_or_else(|| format!("line {}: unknown part {name:?}", n + 1))?;
                    if part >= from {
                        out.push_str(&format!("{indent}// Your code here ({}).\n", PARTS[part]));
                        replaced += 1;
                    }
                    State::Solution { part, start: n + 1 }
                } else if trimmed.starts_with(STUB) || trimmed.starts_with(END) {
                    return Err(format!(
                        "line {}: {trimmed:?} outside a solution region",
                        n + 1
                    ));
                } else {
                    out.push_str(line);
                    out.push('\n');
                    State::Outside
                }
            }
            State::Solution { part, start } => {
                if trimmed.starts_with(STUB) {
                    State::Stub { part, start }
                } else if trimmed.starts_with(BEGIN) || trimmed.starts_with(END) {
                    return Err(format!(
                        "line {}: region from line {start} has no stub",
                        n + 1
                    ));
                } else {
                    if part < from {
                        out.push_str(line);
                        out.push('\n');
                    }
                    State::Solution { part, start }
                }
            }
            State::Stub { part, start } => {
                if trimmed.starts_with(END) {
                    State::Outside
                } else if trimmed.starts_with(BEGIN) || trimmed.starts_with(STUB) {
                    return Err(format!(
                        "line {}: region from line {line} is not ended",
                        n + 1
                    ));
                } else {
                    let code = trimmed
                        .strip_prefix("// ")
                        .or_else(|| trimmed.strip_prefix("//"))
                        .ok_or_else(|| format!("line {}: stub lines must be comments", n + 1))?;
                    if part >= from {
                        out.push_str(&format!("{indent}{code}\n"));
                    }
                    State::Stub { part, start }
                }
            }
        };
    }
    match state {
        State::Outside => Ok((out, replaced)),
        State::Solution { start, .. } | State::Stub { start, .. } => {
            Err(format!("the region from line {start} is not ended"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
fn a() -> bool {
    // solution: begin PartA
    let secret = 41;
    secret + 1 == 42
    // solution: stub
    // false
    // solution: end
}
fn c() {
    // solution: begin PartC
    persist();
    // solution: stub
    // solution: end
}
";

    #[test]
    fn stubs_the_chosen_part_onwards_and_keeps_earlier() {
        let (from_a, n) = strip(SAMPLE, 0).expect("well formed");
        assert_eq!(n, 2);
        assert_eq!(
            from_a,
            "fn a() -> bool {\n    // Your code here (PartA).\n    false\n}\n\
             fn c() {\n    // Your code here (PartC).\n}\n"
        );
        assert!(
            !from_a.contains("secret") && !from_a.contains("persist"),
            "no solution survives"
        );

        let (from_c, n) = strip(SAMPLE, 2).expect("well formed");
        assert_eq!(n, 1);
        assert!(from_c.contains("secret + 1 == 42") && !from_c.contains("solution:"));
        assert!(!from_c.contains("persist()") && from_c.contains("Your code here (PartC)"));
    }

    #[test]
    fn malformed_regions_are_errors() {
        assert!(
            strip("// solution: begin PartA\nx\n", 0).is_err(),
            "not ended"
        );
        assert!(
            strip("// solution: begin PartA\nx\n// solution: end\n", 0).is_err(),
            "no stub"
        );
        assert!(strip("// solution: end\n", 0).is_err(), "stray end");
        assert!(
            strip("// solution: begin PartZ\n", 0).is_err(),
            "unknown part"
        );
        let bad_stub =
            "// solution: begin PartB\nx\n// solution: stub\nnot a comment\n// solution: end\n";
        assert!(strip(bad_stub, 0).is_err());
    }

    #[test]
    fn part_names() {
        assert_eq!(part_number("A"), Some(0));
        assert_eq!(part_number("PartC"), Some(2));
        assert_eq!(part_number("3d"), Some(3));
        assert_eq!(part_number("E"), None);
    }

    /// Every region in the reference solution is well formed, and the skeleton from PartA
    /// keeps none of the code between the markers.
    #[test]
    fn the_reference_solution_is_well_marked() {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../src");
        let mut regions = 0;
        for entry in std::fs::read_dir(src).expect("src/") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            let (stripped, n) =
                strip(&text, 0).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!stripped.contains("solution:"), "{}", path.display());
            regions += n;
        }
        assert!(regions >= 8, "only {regions} regions marked");
    }
}
