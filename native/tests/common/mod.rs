//! What the CLI test files share: running the built `stemsight` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `stemsight ARGS…` and returns its output.
pub fn stemsight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stemsight"))
        .args(args)
        .output()
        .expect("binary runs")
}

/// A 96×96 simulated 2H-1L image (calibrated 0.1 Å/px) in `dir/<name>/image.tif`.
#[allow(dead_code)] // not every test file simulates
pub fn small_image(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let out = dir.join(name);
    let o = stemsight(&[
        "simulate",
        "--polymorph",
        "2H-1L",
        "--size",
        "96",
        "--pixel-size",
        "0.1",
        "--seed",
        &seed.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out.join("image.tif")
}
