//! Realism check against the independent abTEM multislice images in
//! `../shared/data/multislice/` (skipped when absent): the simulator's randomized
//! contrast range (detector inner angle, per-role factor) must contain the multislice
//! Mo/S₂ and VS1/S₂ ratios. These images have no thermal diffuse scattering, so they check
//! geometry and truth handling; the frozen-phonon comparison is `tests/library.rs`.

use rand::SeedableRng;
use std::path::PathBuf;
use stemsight::crystal::Polymorph;
use stemsight::sim::{render, SimParams, SimRequest};

fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/multislice");
    p.join("2H-1L_multislice.tif").is_file().then_some(p)
}

fn read_f32(path: &std::path::Path) -> (usize, Vec<f32>) {
    use tiff::decoder::{Decoder, DecodingResult};
    let mut d = Decoder::new(std::fs::File::open(path).unwrap()).unwrap();
    let (w, _) = d.dimensions().unwrap();
    match d.read_image().unwrap() {
        DecodingResult::F32(v) => (w as usize, v),
        _ => panic!("expected float32"),
    }
}

/// (Mo/S₂, S/S₂) peak ratios above the image minimum, median over columns.
fn ratios(w: usize, img: &[f32], cols: &[(f64, f64, String)]) -> (f64, f64) {
    let min = img.iter().cloned().fold(f32::MAX, f32::min) as f64;
    let h = img.len() / w;
    let med = |kind: &str| {
        let mut v: Vec<f64> = cols
            .iter()
            .filter(|c| c.2 == kind)
            .filter(|c| {
                c.0 >= 0.0 && c.1 >= 0.0 && (c.0.round() as usize) < w && (c.1.round() as usize) < h
            })
            .map(|c| img[c.1.round() as usize * w + c.0.round() as usize] as f64 - min)
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (med("Mo") / med("S2"), med("S") / med("S2"))
}

#[test]
fn multislice_ratios_lie_inside_the_randomized_range() {
    let Some(dir) = shared() else {
        eprintln!("skipped: ../shared/data/multislice not present");
        return;
    };
    let (w, img) = read_f32(&dir.join("2H-1L_multislice.tif"));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("2H-1L_multislice.json")).unwrap())
            .unwrap();
    let mut cols: Vec<(f64, f64, String)> = truth["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let kind = match c["atoms"].as_str().unwrap() {
                "SS" => "S2",
                other => other,
            };
            (
                c["x"].as_f64().unwrap(),
                c["y"].as_f64().unwrap(),
                kind.to_string(),
            )
        })
        .collect();
    cols.retain(|c| !c.2.is_empty());
    let (ms_mo, ms_vs1) = ratios(w, &img, &cols);

    // Our simulator at the multislice's optics, at both ends of the contrast range.
    let req = SimRequest {
        polymorph: Polymorph::H2Mono,
        width: 320,
        height: 320,
        vs1_fraction: 0.1,
        vs2_fraction: 0.0,
        clean: true,
        ..Default::default()
    };
    let sim = |inner_mrad: f64, jitter: [f64; 2]| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut p = SimParams::draw(&req, &mut rng);
        p.probe.c1_angstrom = truth["params"]["C1_A"].as_f64().unwrap();
        p.probe.c3_angstrom = truth["params"]["C3_A"].as_f64().unwrap();
        p.adf_inner_mrad = inner_mrad;
        p.contrast_jitter = jitter;
        let s = render(&p, &mut rng);
        let cols: Vec<(f64, f64, String)> = s
            .columns
            .iter()
            .map(|c| (c.x, c.y, c.site.name()))
            .collect();
        ratios(s.image.width, &s.image.data, &cols)
    };
    // The draw's extremes: detector inner angle 35–100 mrad, ±10 % per role.
    let (lo_mo, lo_vs1) = sim(35.0, [1.0 / 1.1, 1.1]);
    let (hi_mo, hi_vs1) = sim(100.0, [1.1, 1.0 / 1.1]);
    println!("multislice 2H-1L: Mo/S2 {ms_mo:.3}, VS1/S2 {ms_vs1:.3}");
    println!("simulator range: Mo/S2 {lo_mo:.3} .. {hi_mo:.3}, VS1/S2 {lo_vs1:.3} .. {hi_vs1:.3}");
    assert!(
        lo_mo <= ms_mo && ms_mo <= hi_mo,
        "Mo/S2 of multislice outside the simulated range"
    );
    assert!(
        lo_vs1 <= ms_vs1 + 0.1,
        "VS1 contrast of multislice far below the simulated range"
    );
}
