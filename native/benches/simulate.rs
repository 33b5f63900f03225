//! Simulator speed: one 256×256 image at 0.1 Å/px with every degradation on, on one
//! thread (the budget is ≤ 20 ms). Run: `cargo bench --bench simulate`.

use std::time::Instant;
use stemsight::crystal::Polymorph;
use stemsight::sim::{simulate, SimRequest};

fn main() {
    let requests = [
        (
            "2H-1L, vacancies, carbon, scan noise, holes",
            Polymorph::H2Mono,
            None,
        ),
        (
            "3R-2L | 2H-2L boundary, carbon, scan noise",
            Polymorph::R3Bi,
            Some(Polymorph::H2Bi),
        ),
    ];
    for (label, polymorph, second) in requests {
        let req = SimRequest {
            polymorph,
            second_polymorph: second,
            width: 256,
            height: 256,
            pixel_size_angstrom: 0.1,
            vs1_fraction: 0.05,
            vs2_fraction: 0.02,
            mo_vacancy_fraction: 0.01,
            adatoms_per_nm2: 0.2,
            hole_fraction: 0.1,
            dose_e_per_angstrom2: 2.5e5,
            carbon: 1.0,
            scan_noise: 1.0,
            strain: 0.02,
            ..Default::default()
        };
        // Warm the FFT plan cache, as a dataset run would.
        for seed in 0..5 {
            simulate(&req, seed).unwrap();
        }
        let n = 200;
        let mut times: Vec<f64> = (0..n)
            .map(|seed| {
                let t = Instant::now();
                std::hint::black_box(simulate(&req, 1000 + seed).unwrap());
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let mean = times.iter().sum::<f64>() / n as f64;
        println!(
            "simulate 256² {label}: mean {mean:.2} ms, median {:.2} ms, p95 {:.2} ms (one thread, {n} images)",
            times[n as usize / 2],
            times[n as usize * 95 / 100]
        );
    }
}
