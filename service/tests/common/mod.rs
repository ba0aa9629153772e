//! Helpers shared by the tests that run the `zkr` binary as a process.
// Each test binary uses its own subset.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output};

/// Runs `zkr args` to its end and returns what it printed.
pub fn zkr(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_zkr")).args(args).output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run zkr: {e}"),
    }
}

/// `zkr` with none of the caller's `ZKR_*` variables (CI sets some for the
/// test suite) and no `NO_COLOR`, so that only what a test sets applies.
pub fn zkr_clean() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkr"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ZKR_") || key == "NO_COLOR" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A process's standard error, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A process's standard output, as trimmed text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Tells that the running test did not run, and why, in a line that
/// `cargo test` shows (libtest captures `eprintln!`, not the handle).
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {}: {reason}",
        thread.name().unwrap_or("a test")
    );
}
