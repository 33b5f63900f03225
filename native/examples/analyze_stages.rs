//! Per-stage timing of the full analysis with engine settings the CLI does not
//! expose (tile size, parallelism mode), for `scripts/bench/bench.py`.
//!
//! ```text
//! cargo run --release --example analyze_stages -- IMAGE OUT_DIR --pixel-size 0.1 \
//!     [--models DIR] [--tile N] [--halo N] [--threads N] [--mode tiles|mt|st] [--repeat K]
//! ```
//! Does what `stemsight analyze` does for one single-frame image (read → analyze →
//! write every output), timing each stage. MODE: `mt` = the engine default (tiles one
//! at a time, each tile's matrix products split over THREADS by tract's executor on
//! rayon's pool); `tiles` = rayon over tiles as well (nested); `st` = one thread.
//! `--repeat K` analyzes the
//! same image K more times in the same process (cached plans: the steady state of a
//! batch or of an open Fiji session). Prints one JSON line.

use std::path::PathBuf;
use std::time::Instant;
use stemsight::analysis::Source;
use stemsight::io::read_image;
use stemsight::report::folder::write_analysis;
use stemsight::{Analyzer, Options};

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let image = PathBuf::from(args.next().expect("IMAGE"));
    let out = PathBuf::from(args.next().expect("OUT_DIR"));
    let mut pixel_size = 0.1;
    let mut models = stemsight::analysis::default_models_dir();
    let mut options = Options::default();
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut mode = "mt".to_string();
    let mut repeat = 0usize;
    while let Some(flag) = args.next() {
        let mut value = || args.next().expect("flag value");
        match flag.as_str() {
            "--pixel-size" => pixel_size = value().parse()?,
            "--models" => models = PathBuf::from(value()),
            "--tile" => options.tile = Some(value().parse()?),
            "--halo" => options.halo = value().parse()?,
            "--threads" => threads = value().parse()?,
            "--mode" => mode = value(),
            "--repeat" => repeat = value().parse()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let pool_threads = if mode == "st" { 1 } else { threads };
    rayon::ThreadPoolBuilder::new()
        .num_threads(pool_threads)
        .build_global()?;
    options.parallel_tiles = mode == "tiles";

    let t = Instant::now();
    let analyzer = Analyzer::load(&models)?;
    let load_ms = ms(t);

    let t = Instant::now();
    let loaded = read_image(&image)?;
    let read_ms = ms(t);
    let frame = &loaded.frames[0];
    let source = Source {
        path: image.display().to_string(),
        acquisition: loaded.acquisition.clone(),
        reader_warnings: loaded.warnings.clone(),
        ..Source::default()
    };

    let run = || analyzer.analyze(frame, pixel_size, &source, &options, &|_, _| true);
    let t = Instant::now();
    let analysis = run()?;
    let analyze_ms = ms(t);
    let first = analysis.report.timing_ms.clone();

    let t = Instant::now();
    write_analysis(&out, &analysis, &frame.data)?;
    let write_ms = ms(t);

    let mut warm: Vec<f64> = Vec::new();
    let mut warm_timing = first.clone();
    for _ in 0..repeat {
        let t = Instant::now();
        let a = run()?;
        warm.push(ms(t));
        warm_timing = a.report.timing_ms.clone();
    }
    let s = &analysis.report.settings;
    let json = serde_json::json!({
        "image": image.display().to_string(),
        "width": frame.width, "height": frame.height,
        "mode": mode, "threads": threads,
        "tile": s.tile, "halo": s.halo, "tiles": s.tiles,
        "load_ms": load_ms, "read_ms": read_ms, "analyze_ms": analyze_ms, "write_ms": write_ms,
        "timing_ms": first,
        "warm_analyze_ms": warm,
        "warm_timing_ms": warm_timing,
        "n_atoms": analysis.report.atoms.len(),
        "n_vacancies": analysis.report.vacancies.len(),
    });
    println!("{json}");
    Ok(())
}
