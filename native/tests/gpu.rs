//! GPU inference (feature `cuda`) against the CPU on simulated images: probabilities
//! within 1e-3 and the same detections. Builds without the feature, or machines
//! without a usable GPU, print why the check was skipped and pass.

use std::path::PathBuf;
use stemsight::analysis::Source;
use stemsight::crystal::Polymorph;
use stemsight::nn::normalize::normalize;
use stemsight::nn::tiling::TilePlan;
use stemsight::sim::{simulate, SimRequest};
use stemsight::{Analyzer, Device, Options};

fn analyzer() -> Analyzer {
    Analyzer::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models"))
        .expect("shipped model loads")
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "head count");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len(), "head size");
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

#[test]
fn gpu_matches_cpu_on_simulated_images() {
    let mut gpu = analyzer();
    match gpu.use_device(Device::Cuda) {
        Ok(info) => println!("GPU: {}", info.description),
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    }
    let cpu = analyzer();
    let card = &cpu.network.card;
    let px = card.pixel_size_angstrom;
    let polymorphs = [
        Polymorph::H2Mono,
        Polymorph::H2Bi,
        Polymorph::H2Tri,
        Polymorph::R3Bi,
        Polymorph::R3Tri,
    ];
    let (tile, halo) = (128, 32);
    let mut worst = 0f32;
    for k in 0..10u64 {
        let req = SimRequest {
            polymorph: polymorphs[k as usize % polymorphs.len()],
            width: 192,
            height: 192,
            pixel_size_angstrom: px,
            dose_e_per_angstrom2: 1e5,
            vs1_fraction: 0.04,
            vs2_fraction: 0.015,
            carbon: if k % 3 == 0 { 0.5 } else { 0.0 },
            ..SimRequest::default()
        };
        let sample = simulate(&req, 7100 + k).unwrap();
        let image = &sample.image;

        // Probabilities: every tile of the image as one GPU batch, each also on the CPU.
        let input = normalize(&image.data, &card.input.normalization);
        let plan = TilePlan::with_tile(image.width, image.height, tile, halo);
        let windows: Vec<Vec<f32>> = plan.cores.iter().map(|&c| plan.window(&input, c)).collect();
        assert!(windows.len() > 1, "a batch needs several tiles");
        let on_gpu = gpu.network.run_batch(tile, windows.clone()).unwrap();
        assert_eq!(on_gpu.len(), windows.len());
        for (window, g) in windows.into_iter().zip(&on_gpu) {
            let c = cpu.network.run(tile, window).unwrap();
            worst = worst.max(max_abs_diff(&c, g));
        }

        // Detections through the whole pipeline on each device.
        let options = Options::default();
        let a = cpu
            .analyze(image, px, &Source::default(), &options, &|_, _| true)
            .unwrap();
        let b = gpu
            .analyze(image, px, &Source::default(), &options, &|_, _| true)
            .unwrap();
        let (ra, rb) = (&a.report, &b.report);
        assert_eq!(ra.atoms.len(), rb.atoms.len(), "image {k}: atom count");
        for (p, q) in ra.atoms.iter().zip(&rb.atoms) {
            assert_eq!(p.site, q.site, "image {k}: site at ({}, {})", p.x, p.y);
            assert!(
                (p.x - q.x).abs() < 1e-3 && (p.y - q.y).abs() < 1e-3,
                "image {k}: atom ({}, {}) vs ({}, {})",
                p.x,
                p.y,
                q.x,
                q.y
            );
        }
        assert_eq!(
            ra.vacancies.len(),
            rb.vacancies.len(),
            "image {k}: vacancy count"
        );
        for (p, q) in ra.vacancies.iter().zip(&rb.vacancies) {
            assert_eq!(p.kind, q.kind, "image {k}: vacancy type");
            assert!((p.x - q.x).abs() < 1e-3 && (p.y - q.y).abs() < 1e-3);
        }
    }
    println!("GPU vs CPU probabilities: max |diff| = {worst:e}");
    assert!(worst < 1e-3, "max |diff| {worst}");
}
