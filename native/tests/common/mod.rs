//! What the CLI test files share: running the built `stemsight` binary.

use std::process::{Command, Output};

/// Runs `stemsight ARGS…` and returns its output.
pub fn stemsight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stemsight"))
        .args(args)
        .output()
        .expect("binary runs")
}
