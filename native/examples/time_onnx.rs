//! Times one ONNX network on tract, for `scripts/bench/bench.py`.
//!
//! ```text
//! cargo run --release --example time_onnx -- MODEL.onnx TILE RUNS THREADS [MODE] [SHAPE]
//! ```
//! MODE (how THREADS > 1 are used):
//! - `mt` (default): tiles one after another, each matmul split over THREADS by
//!   tract's multithread-mm executor (`Executor::multithread(THREADS)`);
//! - `tiles`: THREADS tiles at once (rayon over tiles), each on a single-thread tract;
//! - `st`: one thread, tiles one after another (THREADS is ignored).
//!
//! SHAPE: `fixed` (default: the plan is typed for `[1,1,TILE,TILE]`) or `symbolic`
//! (the plan is optimized for `[1,1,16·S,16·R]` with symbols, and run on TILE² inputs).
//!
//! Prints one JSON line: plan build time, steady-state ms per tile (throughput:
//! wall time of RUNS tiles / RUNS, after one warm-up tile per thread) and ms per
//! megapixel of tile input.

use std::time::Instant;
use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::prelude::*;

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: time_onnx MODEL.onnx TILE RUNS THREADS [mt|tiles|st] [fixed|symbolic]");
        std::process::exit(2);
    }
    let path = &args[1];
    let tile: usize = args[2].parse()?;
    let runs: usize = args[3].parse()?;
    let threads: usize = args[4].parse::<usize>()?.max(1);
    let mode = args.get(5).map(String::as_str).unwrap_or("mt").to_string();
    let shape = args
        .get(6)
        .map(String::as_str)
        .unwrap_or("fixed")
        .to_string();

    let t0 = Instant::now();
    let model = tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .model_for_path(path)?;
    let parse_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let model = if shape == "symbolic" {
        // H = 16·S, W = 16·R: a plain symbol for H trips tract's ConvTranspose
        // shape check ((H)/4 vs 2·(H)/8), a multiple of 2^depth does not.
        let h = model.symbols.sym("S").to_dim() * 16;
        let w = model.symbols.sym("R").to_dim() * 16;
        let fact = f32::fact([1.to_dim(), 1.to_dim(), h, w]);
        model.with_input_fact(0, fact.into())?
    } else {
        model.with_input_fact(0, f32::fact([1, 1, tile, tile]).into())?
    };
    let plan = model.into_optimized()?.into_runnable()?;
    let build_ms = t1.elapsed().as_secs_f64() * 1e3;

    let input = || -> TValue {
        let data: Vec<f32> = (0..tile * tile)
            .map(|i| ((i * 7919 % 1000) as f32) / 1000.0 - 0.5)
            .collect();
        Tensor::from(tract_ndarray::Array4::from_shape_vec((1, 1, tile, tile), data).unwrap())
            .into()
    };
    let run_one = || -> TractResult<()> {
        let out = plan.run(tvec!(input()))?;
        std::hint::black_box(out);
        Ok(())
    };

    let (first_ms, wall_ms, effective_threads) = match mode.as_str() {
        "st" => {
            let t = Instant::now();
            run_one()?;
            let first = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            for _ in 0..runs {
                run_one()?;
            }
            (first, t.elapsed().as_secs_f64() * 1e3, 1)
        }
        "mt" => {
            let exec = Executor::multithread(threads);
            multithread_tract_scope(exec, || -> TractResult<(f64, f64, usize)> {
                let t = Instant::now();
                run_one()?;
                let first = t.elapsed().as_secs_f64() * 1e3;
                let t = Instant::now();
                for _ in 0..runs {
                    run_one()?;
                }
                Ok((first, t.elapsed().as_secs_f64() * 1e3, threads))
            })?
        }
        "tiles" => {
            use rayon::prelude::*;
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()?;
            pool.install(|| -> TractResult<(f64, f64, usize)> {
                let t = Instant::now();
                (0..threads).into_par_iter().try_for_each(|_| run_one())?;
                let first = t.elapsed().as_secs_f64() * 1e3;
                let t = Instant::now();
                (0..runs).into_par_iter().try_for_each(|_| run_one())?;
                Ok((first, t.elapsed().as_secs_f64() * 1e3, threads))
            })?
        }
        other => {
            eprintln!("unknown mode '{other}' (mt, tiles or st)");
            std::process::exit(2);
        }
    };
    let per_tile = wall_ms / runs.max(1) as f64;
    let mpx = (tile * tile) as f64 / 1e6;
    println!(
        "{{\"model\": \"{}\", \"tile\": {tile}, \"runs\": {runs}, \"threads\": {effective_threads}, \
         \"mode\": \"{mode}\", \"shape\": \"{shape}\", \"parse_ms\": {parse_ms:.1}, \
         \"build_ms\": {build_ms:.1}, \"first_ms\": {first_ms:.2}, \"ms_per_tile\": {per_tile:.3}, \
         \"ms_per_mpx\": {:.2}}}",
        path.replace('\\', "/").replace('"', "'"),
        per_tile / mpx
    );
    Ok(())
}
