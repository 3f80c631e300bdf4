//! `cargo xtask`: the project's debugging tools, with nothing to install.
//!
//! - `cargo xtask stress [FILTER...] -n RUNS -p PARALLEL [--timeout SECS] [--keep-all]
//!   [--out DIR] [--release] [--package PACKAGE...]` runs the lab's tests many times in
//!   parallel and keeps the logs of the runs that failed (`stress/`).
//! - `cargo xtask logs [FILE|-] [-c N] [--just TOPICS] [--ignore TOPICS] [--no-color]
//!   [--width W]` lays a Raft log out by peer, in colour (`logs/`).
//! - `cargo xtask skeleton --out DIR [--from PART]` writes the student skeleton (`skeleton/`).
//! - `cargo xtask cluster up|status|down` runs a real key/value cluster on loopback in the
//!   background (`cluster.rs`).
//! - `cargo xtask versus-etcd [-- LOADGEN-ARGS]` measures the real cluster against etcd on
//!   this machine, installing etcd if it is missing (`versus.rs`, `cluster/loadgen/`).
//! - `cargo xtask completions SHELL` prints a completion script for `cargo-xtask`.
//!
//! The options are clap structs, one per command, each beside the code that uses it; `cargo
//! xtask help COMMAND` (or `COMMAND --help`) describes them.

mod cluster;
mod logs;
mod skeleton;
mod stress;
mod versus;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// The project's tools: the stress runner, the log viewer, the student skeleton, the cluster on
/// loopback, the measurement against etcd.
#[derive(Parser, Debug)]
#[command(name = "cargo-xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Stress(stress::Options),
    Logs(logs::Options),
    Skeleton(skeleton::Options),
    Cluster(cluster::Options),
    VersusEtcd(versus::Options),
    /// Prints a completion script for a shell: bash, zsh, fish, elvish or powershell.
    ///
    /// Cargo's own completion offers `cargo xtask` but not what follows it; for this script,
    /// call the tool by its binary: `cargo build -p xtask` and put `target/debug` on the PATH
    /// as `cargo-xtask`, or source the script and type `cargo-xtask ...`.
    Completions {
        /// The shell to write the script for
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Stress(o) => stress::run(o),
        Command::Logs(o) => logs::run(o),
        Command::Skeleton(o) => skeleton::run(o),
        Command::Cluster(o) => cluster::run(o),
        Command::VersusEtcd(o) => versus::run(o),
        Command::Completions { shell } => {
            let mut cli = Cli::command();
            clap_complete::generate(shell, &mut cli, "cargo-xtask", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::from(2)
        }
    }
}

/// Brings 0 up to 1: a count that must be positive (`-p`, `-c`), as the tools always had it.
/// The project's root folder: xtask lives in `tools/xtask/`.
fn project_root() -> Result<std::path::PathBuf, String> {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .map_err(|e| format!("cannot find the project: {e}"))
}

fn at_least_one(value: &str) -> Result<usize, String> {
    let n: usize = value.parse().map_err(|e| format!("{e}"))?;
    Ok(n.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_and_errors() {
        let help = Cli::try_parse_from(["xtask", "--help"]).expect_err("help exits early");
        assert_eq!(help.exit_code(), 0);
        let help = Cli::try_parse_from(["xtask", "help", "stress"]).expect_err("help exits");
        assert_eq!(help.exit_code(), 0);
        assert_eq!(
            Cli::try_parse_from(["xtask"])
                .expect_err("a command is needed")
                .exit_code(),
            2
        );
        assert!(Cli::try_parse_from(["xtask", "bogus"]).is_err());
        assert!(matches!(
            Cli::try_parse_from(["xtask", "completions", "bash"])
                .expect("valid")
                .command,
            Command::Completions { .. }
        ));
    }

    #[test]
    fn skeleton_options() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["xtask", "skeleton"].iter().chain(args)).map(|cli| cli.command)
        };
        assert!(matches!(
            parse(&["--out", "dir", "--from", "PartC"]),
            Ok(Command::Skeleton(_))
        ));
        assert!(parse(&["--out", "dir"]).is_ok(), "--from defaults to A");
        assert!(parse(&["--from", "B"]).is_err(), "--out is required");
        assert!(parse(&["--out", "dir", "--from", "Z"]).is_err());
        assert!(parse(&["--out", "dir", "extra"]).is_err());
    }

    #[test]
    fn versus_etcd_passes_what_follows_to_loadgen() {
        let cli =
            Cli::try_parse_from(["xtask", "versus-etcd", "--", "--rounds", "1", "--markdown"])
                .expect("valid");
        assert!(matches!(cli.command, Command::VersusEtcd(_)));
        assert!(
            Cli::try_parse_from(["xtask", "versus-etcd"]).is_ok(),
            "no arguments: defaults"
        );
    }

    #[test]
    fn counts_are_at_least_one() {
        assert_eq!(at_least_one("0"), Ok(1));
        assert_eq!(at_least_one("7"), Ok(7));
        assert!(at_least_one("x").is_err());
    }
}
