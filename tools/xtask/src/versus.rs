//! `cargo xtask versus-etcd [LOADGEN-ARGS...]`: our real cluster against etcd on this machine,
//! in one command from a fresh clone.
//!
//! Installs Debian's `etcd-server` when no `etcd` is on the `PATH` (as root, with apt-get;
//! otherwise it says what to run), builds `kvserver` and `loadgen` (release), and runs
//! `loadgen compare` with the arguments given (`cargo xtask versus-etcd -- --help` lists them):
//! both clusters, three servers each on loopback with their data under `target/versus-etcd/`,
//! measured in alternating rounds, one table at the end. With `--scale`, it runs `loadgen scale`
//! instead: values to fresh keys until the data reaches a size (1 GiB by default), a follower
//! down from a tenth to nine tenths of it, a table per tenth for each system.

use std::env;
use std::path::Path;
use std::process::{Command, ExitCode};

/// Measure our cluster against etcd: install etcd if missing, build, run `loadgen compare`.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// Run `loadgen scale` (the data grown to a size, a follower down) instead of `compare`
    #[arg(long)]
    scale: bool,
    /// Arguments for `loadgen compare` or `loadgen scale` (after `--`), such as `--rounds 3
    /// --markdown` or `--bytes 268435456`
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub fn run(o: Options) -> Result<ExitCode, String> {
    let root = crate::project_root()?;
    if !on_path("etcd") {
        install_etcd()?;
    }
    cargo(
        &root,
        &["build", "--release", "-p", "realcluster", "-p", "loadgen"],
    )?;
    let status = Command::new(root.join("target/release/loadgen"))
        .arg(if o.scale { "scale" } else { "compare" })
        .args(&o.args)
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cannot run loadgen: {e}"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Whether `program` is an executable file in a directory of the `PATH`.
fn on_path(program: &str) -> bool {
    env::var_os("PATH")
        .is_some_and(|path| env::split_paths(&path).any(|dir| is_executable(&dir.join(program))))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `apt-get install etcd-server`, which needs root: run as root, or say what to run.
fn install_etcd() -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    if !root {
        return Err(
            "etcd is not installed: run `sudo apt-get install etcd-server` (Debian's, 3.4.x), \
             then this again"
                .to_string(),
        );
    }
    eprintln!("xtask: installing etcd-server with apt-get");
    for args in [
        &["update"][..],
        &["install", "-y", "--no-install-recommends", "etcd-server"][..],
    ] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("cannot run apt-get: {e}"))?;
        if !status.success() {
            return Err(format!("`apt-get {}` failed", args.join(" ")));
        }
    }
    if on_path("etcd") {
        Ok(())
    } else {
        Err("etcd-server is installed but no `etcd` is on the PATH".to_string())
    }
}

fn cargo(root: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed", args.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_the_path_only_when_executable() {
        assert!(on_path("sh"), "every machine of this kind has /bin/sh");
        assert!(!on_path("no-such-program-anywhere"));
        assert!(!is_executable(Path::new("/etc/passwd")));
        assert!(!is_executable(Path::new("/")));
    }
}
