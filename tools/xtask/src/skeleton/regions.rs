//! The solution regions of one source file: parsing their markers, and writing the file as the
//! skeleton has it.
//!
//! ```text
//! fn request_vote(&self, args: RequestVoteArgs) -> RequestVoteReply {
//!     // solution: begin PartA request-vote-handler
//!     ...the solution...
//!         // solution: begin PartC persist-vote
//!         self.persist_locked(&st);
//!         // solution: end persist-vote
//!     ...
//!     // solution: end request-vote-handler
//! }
//! ```
//!
//! A region is named, belongs to one part, and may hold regions of later parts: a skeleton
//! that keeps the outer region's solution still stubs the inner one. The markers are whole
//! lines; any other line starting with `// solution:` is an error, so a mistyped marker cannot
//! leave a solution in a skeleton.

use super::PARTS;
use super::stubs::{Stub, With};

const MARKER: &str = "// solution:";
const BEGIN: &str = "// solution: begin ";
const END: &str = "// solution: end ";

/// A file as lines and the regions among them.
#[derive(Debug)]
pub(super) enum Node {
    Line(String),
    Region(Region),
}

#[derive(Debug)]
pub(super) struct Region {
    pub name: String,
    /// Its index in `PARTS`: 0 for PartA ... 3 for PartD, 4 for 4A, 5 for 4B.
    pub part: usize,
    /// The line of its begin marker, from 1.
    pub line: usize,
    /// The begin marker's indentation, which the stub takes.
    indent: String,
    body: Vec<Node>,
}

impl Region {
    /// What the region holds: lines, and regions of later parts.
    pub fn body(&self) -> &[Node] {
        &self.body
    }
}

/// Parses a file's markers. Errors name the line.
pub(super) fn parse(text: &str) -> Result<Vec<Node>, String> {
    // The regions being read, innermost last, each with what it holds so far.
    let mut open: Vec<Region> = Vec::new();
    let mut top: Vec<Node> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let trimmed = line.trim_start();
        let node = if let Some(rest) = trimmed.strip_prefix(BEGIN) {
            let (part, name) = rest
                .trim()
                .split_once(' ')
                .ok_or_else(|| format!("line {n}: expected `{BEGIN}PartX name`"))?;
            let part = PARTS
                .iter()
                .position(|p| *p == part)
                .ok_or_else(|| format!("line {n}: unknown part {part:?}"))?;
            check_name(name).map_err(|e| format!("line {n}: {e}"))?;
            if let Some(outer) = open.last()
                && part <= outer.part
            {
                return Err(format!(
                    "line {n}: region {name} ({}) inside {} ({}): an inner region must belong to a later part",
                    PARTS[part], outer.name, PARTS[outer.part]
                ));
            }
            open.push(Region {
                name: name.to_string(),
                part,
                line: n,
                indent: line[..line.len() - trimmed.len()].to_string(),
                body: Vec::new(),
            });
            continue;
        } else if let Some(name) = trimmed.strip_prefix(END) {
            let region = open
                .pop()
                .ok_or_else(|| format!("line {n}: `{trimmed}` outside a region"))?;
            if name.trim() != region.name {
                return Err(format!(
                    "line {n}: `{trimmed}` ends region {} (from line {})",
                    region.name, region.line
                ));
            }
            Node::Region(region)
        } else if trimmed.starts_with(MARKER) {
            return Err(format!(
                "line {n}: unknown marker `{trimmed}` (expected `{BEGIN}PartX name` or `{END}name`)"
            ));
        } else {
            Node::Line(line.to_string())
        };
        match open.last_mut() {
            Some(region) => region.body.push(node),
            None => top.push(node),
        }
    }
    match open.pop() {
        None => Ok(top),
        Some(region) => Err(format!(
            "region {} from line {} is not ended",
            region.name, region.line
        )),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "region name {name:?}: use lower-case letters, digits and '-'"
        ))
    }
}

/// Every region in `nodes`, nested ones included, outer before inner.
pub(super) fn regions(nodes: &[Node]) -> Vec<&Region> {
    let mut found = Vec::new();
    for node in nodes {
        if let Node::Region(region) = node {
            found.push(region);
            found.extend(regions(&region.body));
        }
    }
    found
}

/// Writes the file as a skeleton from part `from` has it: a region of `from` or a later part
/// becomes its stub (`stub_of` finds it by name), a region of an earlier part keeps its lines,
/// and no marker is left. Returns the text and the number of regions stubbed.
pub(super) fn render<'a>(
    nodes: &[Node],
    from: usize,
    stub_of: &impl Fn(&str) -> Option<&'a Stub>,
) -> Result<(String, usize), String> {
    let mut out = Vec::new();
    let stubbed = render_into(nodes, from, stub_of, &mut out)?;
    while out.last().is_some_and(|l: &String| l.trim().is_empty()) {
        out.pop();
    }
    let mut text = out.join("\n");
    text.push('\n');
    Ok((text, stubbed))
}

fn render_into<'a>(
    nodes: &[Node],
    from: usize,
    stub_of: &impl Fn(&str) -> Option<&'a Stub>,
    out: &mut Vec<String>,
) -> Result<usize, String> {
    let mut stubbed = 0;
    // A region that went without a trace: the blank line after it, if it doubles the one before.
    let mut removed = false;
    for node in nodes {
        match node {
            Node::Line(line) => {
                let blank = line.trim().is_empty();
                let after_blank = out.last().is_some_and(|l| l.trim().is_empty());
                let after_open = out.last().is_none_or(|l| l.trim_end().ends_with('{'));
                if removed && blank && (after_blank || after_open) {
                    // no doubled blank line, and none at the start of a block or the file
                } else {
                    if removed && after_blank && line.trim_start().starts_with('}') {
                        out.pop(); // no blank line before a closing brace
                    }
                    out.push(line.clone());
                }
                removed = false;
            }
            Node::Region(region) if region.part < from => {
                stubbed += render_into(&region.body, from, stub_of, out)?;
            }
            Node::Region(region) => {
                let stub = stub_of(&region.name)
                    .ok_or_else(|| format!("region {} has no stub", region.name))?;
                stubbed += 1;
                match stub.with {
                    With::Code(code) => {
                        let indent = &region.indent;
                        out.push(format!(
                            "{indent}// Your code here ({}).",
                            PARTS[region.part]
                        ));
                        for line in code.lines() {
                            out.push(if line.is_empty() {
                                String::new()
                            } else {
                                format!("{indent}{line}")
                            });
                        }
                        removed = false;
                    }
                    With::Nothing => removed = true,
                }
            }
        }
    }
    Ok(stubbed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
fn a() -> bool {
    // solution: begin PartA secret
    let secret = 41;
    // solution: begin PartC save
    save(secret);
    // solution: end save
    secret + 1 == 42
    // solution: end secret
}

// solution: begin PartB helper
fn helper() {}
// solution: end helper

fn c() {
    // solution: begin PartC persist
    persist();
    // solution: end persist
}
";

    const STUBS: &[Stub] = &[
        Stub {
            name: "secret",
            what: "",
            with: With::Code("false"),
        },
        Stub {
            name: "save",
            what: "",
            with: With::Nothing,
        },
        Stub {
            name: "helper",
            what: "",
            with: With::Nothing,
        },
        Stub {
            name: "persist",
            what: "",
            with: With::Code("let _ = 1;\n\nlet _ = 2;"),
        },
    ];

    fn stub_of(name: &str) -> Option<&'static Stub> {
        STUBS.iter().find(|s| s.name == name)
    }

    fn skeleton(text: &str, from: usize) -> (String, usize) {
        let nodes = parse(text).expect("well formed");
        render(&nodes, from, &stub_of).expect("every region has a stub")
    }

    #[test]
    fn stubs_the_chosen_part_onwards_and_keeps_earlier() {
        let (from_a, n) = skeleton(SAMPLE, 0);
        assert_eq!(n, 3, "the inner region goes with its outer one");
        assert_eq!(
            from_a,
            "fn a() -> bool {\n    // Your code here (PartA).\n    false\n}\n\n\
             fn c() {\n    // Your code here (PartC).\n    let _ = 1;\n\n    let _ = 2;\n}\n"
        );
        assert!(!from_a.contains("secret") && !from_a.contains("persist()"));

        let (from_b, n) = skeleton(SAMPLE, 1);
        assert_eq!(n, 3, "helper, and inside the kept secret, save; persist");
        assert!(from_b.contains("let secret = 41;\n    secret + 1 == 42\n"));
        assert!(!from_b.contains("save(") && !from_b.contains("helper"));

        let (from_d, n) = skeleton(SAMPLE, 3);
        assert_eq!(n, 0);
        assert_eq!(
            from_d,
            SAMPLE
                .lines()
                .filter(|l| !l.contains("solution:"))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        );
    }

    /// Lab 4's parts come after Raft's, and their placeholder names them as the course does.
    #[test]
    fn lab_4_regions_follow_rafts() {
        let text = "\
fn submit() -> bool {
    // solution: begin 4A secret
    let secret = 41;
    // solution: begin 4B save
    save(secret);
    // solution: end save
    secret + 1 == 42
    // solution: end secret
}
";
        let (from_d, n) = skeleton(text, 3);
        assert_eq!(n, 1);
        assert_eq!(
            from_d,
            "fn submit() -> bool {\n    // Your code here (4A).\n    false\n}\n"
        );
        let (from_4b, n) = skeleton(text, 5);
        assert_eq!(n, 1);
        assert!(from_4b.contains("let secret = 41;\n    secret + 1 == 42\n"));
        let err = parse("// solution: begin 4B x\n// solution: begin 4A y\n// solution: end y\n// solution: end x\n")
            .expect_err("4A inside 4B");
        assert!(err.contains("later part"), "{err}");
    }

    #[test]
    fn a_region_removed_without_a_trace_leaves_no_doubled_blank_line() {
        let text = "mod m {\n    fn a() {}\n\n    // solution: begin PartB helper\n    fn helper() {}\n    // solution: end helper\n}\n";
        assert_eq!(skeleton(text, 0).0, "mod m {\n    fn a() {}\n}\n");
        let text = "// solution: begin PartB helper\nfn helper() {}\n// solution: end helper\n\nfn b() {}\n";
        assert_eq!(skeleton(text, 0).0, "fn b() {}\n");
    }

    #[test]
    fn malformed_markers_are_errors() {
        let cases = [
            ("// solution: begin PartA x\nbody\n", "not ended"),
            ("// solution: end x\n", "outside a region"),
            (
                "// solution: begin PartZ x\n// solution: end x\n",
                "unknown part",
            ),
            ("// solution: begin PartA\n// solution: end\n", "expected"),
            (
                "// solution: begin PartA Bad_Name\n// solution: end Bad_Name\n",
                "region name",
            ),
            (
                "// solution: begin PartA x\n// solution: end y\n",
                "ends region x",
            ),
            ("// solution: stub\n", "unknown marker"),
            (
                "// solution: begin PartB x\n// solution: begin PartA y\n// solution: end y\n// solution: end x\n",
                "later part",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_region_without_a_stub_is_an_error() {
        let nodes = parse("// solution: begin PartA nameless\nx\n// solution: end nameless\n")
            .expect("well formed");
        let err = render(&nodes, 0, &stub_of).expect_err("no stub");
        assert!(err.contains("nameless"), "{err}");
        assert!(
            render(&nodes, 1, &stub_of).is_ok(),
            "a region kept needs no stub"
        );
    }

    #[test]
    fn regions_lists_nested_ones() {
        let nodes = parse(SAMPLE).expect("well formed");
        let names: Vec<_> = regions(&nodes).iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["secret", "save", "helper", "persist"]);
        assert_eq!(regions(&nodes)[1].line, 4);
    }
}
