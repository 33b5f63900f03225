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

/// Runs `stemsight analyze IMAGE --out DIR/out EXTRA…`, which must succeed, and returns
/// the image's `report.json` (in `DIR/out/<image stem>/`).
#[allow(dead_code)] // not every test file analyzes
pub fn analyze(dir: &Path, image: &Path, extra: &[&str]) -> serde_json::Value {
    let out = dir.join("out");
    let o = run_analyze(&out, image, extra);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stem = image.file_stem().unwrap().to_str().unwrap();
    let text = std::fs::read_to_string(out.join(stem).join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs `stemsight analyze IMAGE --out OUT EXTRA…`, whatever its outcome.
#[allow(dead_code)] // not every test file analyzes
pub fn run_analyze(out: &Path, image: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "analyze",
        image.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    stemsight(&args)
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

/// The report's vacancies as (x, y) in input pixels.
#[allow(dead_code)] // not every test file reads vacancies
pub fn vacancy_positions(report: &serde_json::Value) -> Vec<(f64, f64)> {
    report["vacancies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["x"].as_f64().unwrap(), v["y"].as_f64().unwrap()))
        .collect()
}

/// Whether one of the report's warnings contains `text`.
#[allow(dead_code)] // not every test file reads warnings
pub fn warns(report: &serde_json::Value, text: &str) -> bool {
    report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains(text))
}
