//! The simulator's physics, checked against SCIENCE.md on noise-free images.
//! Each test prints its measured value so the numbers can be quoted.

use rand::SeedableRng;
use stemsight::crystal::LATTICE_A_ANGSTROM;
use stemsight::crystal::{Chemistry, Column, Polymorph, Site, VacancyKind};
use stemsight::math::fft::Fft2;
use stemsight::sim::noise::DetectorParams;
use stemsight::sim::{render, simulate, ColumnTruth, Sample, SimParams, SimRequest};

mod measure;
use measure::{median, value_at};

fn clean(polymorph: Polymorph, size: usize, px: f64, seed: u64) -> Sample {
    let req = SimRequest {
        polymorph,
        width: size,
        height: size,
        pixel_size_angstrom: px,
        vs1_fraction: 0.0,
        vs2_fraction: 0.0,
        clean: true,
        ..Default::default()
    };
    simulate(&req, seed).unwrap()
}

fn interior(s: &Sample, margin_px: f64) -> impl Iterator<Item = &ColumnTruth> {
    let (w, h) = (s.image.width as f64, s.image.height as f64);
    s.columns.iter().filter(move |c| {
        c.x > margin_px && c.y > margin_px && c.x < w - 1.0 - margin_px && c.y < h - 1.0 - margin_px
    })
}

/// Median peak value of interior columns matching `pred`.
fn peak(s: &Sample, pred: impl Fn(&ColumnTruth) -> bool) -> f64 {
    median(
        interior(s, 5.0)
            .filter(|c| pred(c))
            .map(|c| value_at(s, c.x, c.y))
            .collect(),
    )
}

#[test]
fn fft_lattice_spacing_matches_a() {
    let (n, px) = (512, 0.1);
    for (seed, rot) in [(1, 0.0), (2, 23.0), (3, 71.5)] {
        let req = SimRequest {
            width: n,
            height: n,
            pixel_size_angstrom: px,
            rotation_deg: Some(rot),
            vs1_fraction: 0.0,
            vs2_fraction: 0.0,
            clean: true,
            ..Default::default()
        };
        let s = simulate(&req, seed).unwrap();
        // Hann window against edge leakage, then the power spectrum.
        let hann = |i: usize| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos();
        let mean = s.image.mean();
        let win: Vec<f32> = (0..n * n)
            .map(|i| ((s.image.data[i] as f64 - mean) * hann(i % n) * hann(i / n)) as f32)
            .collect();
        let f = Fft2::get(n, n);
        let spec = f.forward(&win);
        let power = |c: usize, r: usize| spec[c * n + r].norm_sqr() as f64;
        // {100} reflections at |g| = 2/(√3·a).
        let g_expected = 2.0 / (3f64.sqrt() * LATTICE_A_ANGSTROM) * n as f64 * px;
        let (mut best, mut bc, mut br) = (0.0, 0, 0);
        for c in 1..f.wc() - 1 {
            for r in 1..n - 1 {
                let (fx, fy) = f.freq(c, r);
                let g = ((fx * fx + fy * fy) as f64).sqrt() * n as f64;
                if (g - g_expected).abs() < 0.25 * g_expected && power(c, r) > best {
                    best = power(c, r);
                    (bc, br) = (c, r);
                }
            }
        }
        // Sub-bin peak by parabolas through log-power.
        let para =
            |a: f64, b: f64, c: f64| 0.5 * (a.ln() - c.ln()) / (a.ln() - 2.0 * b.ln() + c.ln());
        let dx = para(power(bc - 1, br), best, power(bc + 1, br));
        let dy = para(power(bc, br - 1), best, power(bc, br + 1));
        let (fx, fy) = f.freq(bc, br);
        let gx = fx as f64 * n as f64 + dx;
        let gy = fy as f64 * n as f64 + dy;
        let g = (gx * gx + gy * gy).sqrt() / (n as f64 * px);
        let a = 2.0 / (3f64.sqrt() * g);
        let err = (a - LATTICE_A_ANGSTROM).abs() / LATTICE_A_ANGSTROM;
        println!(
            "rotation {rot}°: FFT lattice constant {a:.4} Å (error {:.3} %)",
            err * 100.0
        );
        assert!(err < 0.01, "a = {a} Å");
    }
}

/// The clean image is linear in the atoms, so the Mo-only lattice (every S₂ removed)
/// and the difference full − Mo-only split the image into its two sub-lattices; their
/// integrated intensity per column must be the cross-section ratio, and the peak ratio
/// (which probe-tail overlap lowers) must sit in the realistic range.
/// Integrated intensity per metal-containing column over that per chalcogen-only
/// column: the image with every chalcogen removed (VS2 everywhere) isolates the metal.
fn integrated_ratio(base: &SimRequest, seed: u64, tweak: impl Fn(&mut SimParams)) -> (Sample, f64) {
    let draw = |req: &SimRequest| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut p = SimParams::draw(req, &mut rng);
        tweak(&mut p);
        render(&p, &mut rng)
    };
    let full = draw(base);
    let metal_only = draw(&SimRequest {
        vs2_fraction: 1.0,
        ..base.clone()
    });
    let n_m = full.columns.iter().filter(|c| c.metal).count() as f64;
    let n_x = full.columns.len() as f64 - n_m;
    let sum_m: f64 = metal_only.image.data.iter().map(|&v| v as f64).sum();
    let sum_x: f64 = full
        .image
        .data
        .iter()
        .zip(&metal_only.image.data)
        .map(|(&a, &b)| (a - b) as f64)
        .sum();
    let ratio = (sum_m / n_m) / (sum_x / n_x);
    (full, ratio)
}

/// The rendered image carries the response's integrated signal per column (Mo alone,
/// S₂ with its pair gain) at every detector inner angle; column ratios against
/// frozen-phonon multislice are `tests/library.rs`.
#[test]
fn integrated_signal_follows_the_response() {
    let base = SimRequest {
        // A large field of view, so tails crossing the border are a small share.
        width: 640,
        height: 640,
        pixel_size_angstrom: 0.08,
        rotation_deg: Some(10.0),
        vs1_fraction: 0.0,
        vs2_fraction: 0.0,
        clean: true,
        ..Default::default()
    };
    for inner in [40.0, 66.0, 100.0] {
        let (full, integrated) = integrated_ratio(&base, 7, |p| p.adf_inner_mrad = inner);
        let r = full.params.response();
        let (mo, pair) = (
            Polymorph::H2Mono.column(Site::A),
            Polymorph::H2Mono.column(Site::B),
        );
        let expected =
            r.column(Chemistry::MoS2, &mo, 1, false) / r.column(Chemistry::MoS2, &pair, 1, false);
        println!("inner {inner} mrad: Mo/S2 integrated {integrated:.3} vs response {expected:.3}");
        assert!((integrated - expected).abs() / expected < 0.03);
    }
}

/// A low-angle detector turns WSe₂'s contrast round: the Se₂ pair outshines W (multislice,
/// 80 kV, 23 mrad, 0.9 Å disks: W/Se₂ 0.75 at 25–100 mrad, 0.94 at 40–200, 1.28 at 66–192;
/// the JEOL ADF1/ADF2 pair in shared/data/real shows both).
#[test]
fn a_low_angle_detector_shows_selenium_brighter_than_tungsten() {
    let base = SimRequest {
        width: 480,
        height: 480,
        pixel_size_angstrom: 0.1,
        rotation_deg: Some(10.0),
        vs1_fraction: 0.0,
        vs2_fraction: 0.0,
        clean: true,
        chemistry: Chemistry::WSe2,
        ..Default::default()
    };
    let at = |inner: f64| integrated_ratio(&base, 7, |p| p.adf_inner_mrad = inner).1;
    let (low, high) = (at(25.0), at(66.0));
    println!("WSe2 W/Se2 integrated: {low:.3} at 25 mrad, {high:.3} at 66 mrad");
    assert!(low < 0.8 && high > 1.15, "{low} {high}");
}

#[test]
fn vacancy_contrast() {
    let req = SimRequest {
        width: 384,
        height: 384,
        pixel_size_angstrom: 0.1,
        vs1_fraction: 0.08,
        vs2_fraction: 0.04,
        clean: true,
        ..Default::default()
    };
    let s = simulate(&req, 11).unwrap();
    let s2 = peak(&s, |c| c.site == Column::CHALCOGEN_PAIR);
    let vs1 = peak(&s, |c| c.site == Column::CHALCOGEN);
    let vs2 = median(
        s.vacancies
            .iter()
            .filter(|v| {
                v.kind == VacancyKind::VS2 && v.x > 5.0 && v.y > 5.0 && v.x < 378.0 && v.y < 378.0
            })
            .map(|v| value_at(&s, v.x, v.y))
            .collect(),
    );
    // Background at an S site = what neighbours' probe tails leave there = the VS2 level.
    let half = (vs1 - vs2) / (s2 - vs2);
    let max = s.image.data.iter().cloned().fold(0f32, f32::max) as f64;
    let min = s.image.data.iter().cloned().fold(f32::MAX, f32::min) as f64;
    println!(
        "VS1 above background / S2 above background = {half:.3}; VS2 {vs2:.3} vs S2 {s2:.3}, image min {min:.3} max {max:.3}; \
         normalized (S2 = 1): VS1 {:.3}, VS2 {:.3}",
        vs1 / s2,
        vs2 / s2
    );
    // A single S scatters less than half a pair: the pair's channelling gain (1.3–1.5 at
    // 40 mrad) is missing.
    assert!((0.3..0.5).contains(&half), "VS1 level {half}");
    assert!(
        (vs2 - min) / (s2 - min) < 0.3,
        "a VS2 site must be near background"
    );
    assert!(vs2 / s2 < 0.5 && (0.35..0.9).contains(&(vs1 / s2)));
}

#[test]
fn truth_positions_are_image_maxima() {
    for (px, seed) in [(0.1, 8), (0.2, 9)] {
        let s = clean(Polymorph::H2Mono, 256, px, seed);
        let w = s.image.width;
        let g = |c: usize, r: usize| s.image.data[r * w + c] as f64;
        let mut worst: f64 = 0.0;
        let mut n = 0;
        for col in interior(&s, 10.0) {
            // Brightest pixel near the truth, then a parabola through its neighbours.
            let (mut bc, mut br) = (col.x.round() as usize, col.y.round() as usize);
            loop {
                let mut moved = false;
                for (dc, dr) in [
                    (-1i64, 0i64),
                    (1, 0),
                    (0, -1),
                    (0, 1),
                    (-1, -1),
                    (1, 1),
                    (-1, 1),
                    (1, -1),
                ] {
                    let (c, r) = ((bc as i64 + dc) as usize, (br as i64 + dr) as usize);
                    if g(c, r) > g(bc, br) {
                        (bc, br) = (c, r);
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
            let para = |a: f64, b: f64, c: f64| 0.5 * (a - c) / (a - 2.0 * b + c);
            let x = bc as f64 + para(g(bc - 1, br), g(bc, br), g(bc + 1, br));
            let y = br as f64 + para(g(bc, br - 1), g(bc, br), g(bc, br + 1));
            let d = ((x - col.x).powi(2) + (y - col.y).powi(2)).sqrt() * px;
            worst = worst.max(d);
            n += 1;
        }
        println!("{px} Å/px: worst truth-to-maximum distance over {n} columns: {worst:.4} Å");
        assert!(n > 50 && worst < 0.05);
    }
}

#[test]
fn shot_noise_is_poisson_at_the_given_dose() {
    let req = SimRequest {
        dose_e_per_angstrom2: 2.5e5,
        carbon: 0.5,
        scan_noise: 0.5,
        ..Default::default()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
    let mut p = SimParams::draw(&req, &mut rng);
    p.detector = DetectorParams::ideal();
    p.background.amplitude = 0.0;
    p.background.curvature = 0.0;
    let expected = render(
        &SimParams {
            clean: true,
            ..p.clone()
        },
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(5),
    );
    let noisy = render(&p, &mut rand_chacha::ChaCha8Rng::seed_from_u64(5));
    let n = expected.image.data.len() as f64;
    let mean: f64 = expected.image.data.iter().map(|&v| v as f64).sum::<f64>() / n;
    let resid: Vec<f64> = noisy
        .image
        .data
        .iter()
        .zip(&expected.image.data)
        .map(|(&a, &b)| (a - b) as f64)
        .collect();
    let bias = resid.iter().sum::<f64>() / n;
    let var = resid.iter().map(|r| r * r).sum::<f64>() / n;
    println!(
        "dose 2.5e5: mean expected counts {mean:.3}, residual mean {bias:.4}, variance/mean {:.4}",
        var / mean
    );
    assert!((var / mean - 1.0).abs() < 0.03 && bias.abs() < 0.02 * mean);
    // Dose bookkeeping: counts ≈ dose × efficiency × Σ column signals of the response.
    let clean = clean(Polymorph::H2Mono, 256, 0.1, 12);
    let r = clean.params.response();
    let sigma: f64 = clean
        .columns
        .iter()
        .map(|c| {
            let site = if c.site == Column::METAL {
                Site::A
            } else {
                Site::B
            };
            r.column(Chemistry::MoS2, &Polymorph::H2Mono.column(site), 1, false)
        })
        .sum();
    let total: f64 = clean.image.data.iter().map(|&v| v as f64).sum();
    let ratio = total / (clean.params.dose_e_per_angstrom2 * sigma);
    println!("detected / (dose × Σσ) = {ratio:.4}");
    assert!((ratio - 1.0).abs() < 0.03);
}

#[test]
fn same_seed_same_bytes() {
    let req = SimRequest {
        second_polymorph: Some(Polymorph::R3Bi),
        carbon: 0.7,
        scan_noise: 0.8,
        hole_fraction: 0.1,
        adatoms_per_nm2: 0.5,
        mo_vacancy_fraction: 0.02,
        ..Default::default()
    };
    let a = simulate(&req, 99).unwrap();
    let b = simulate(&req, 99).unwrap();
    let c = simulate(&req, 100).unwrap();
    assert_eq!(a.image.data, b.image.data);
    assert_eq!(a.polymorph_map, b.polymorph_map);
    assert_eq!(a.carbon_map, b.carbon_map);
    assert_ne!(a.image.data, c.image.data);
}

/// Carbon must be visible: where a level-1 patch is thick (> 30 Å), the local mean
/// signal exceeds that of lattice under at most a thin film (< 5 Å) by a large fraction, as in real contaminated
/// images; 20 Å patches (the first version) were lost in normalization and a network
/// could not learn to map them.
#[test]
fn thick_carbon_is_visible() {
    let req = SimRequest {
        width: 320,
        height: 320,
        carbon: 1.0,
        dose_e_per_angstrom2: 1e6,
        ..Default::default()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let mut p = SimParams::draw(&req, &mut rng);
    p.detector = DetectorParams::ideal();
    p.background.amplitude = 0.0;
    p.background.curvature = 0.0;
    let s = render(&p, &mut rand_chacha::ChaCha8Rng::seed_from_u64(2));
    let (mut thick, mut nt, mut clean, mut nc) = (0.0, 0usize, 0.0, 0usize);
    for (v, t) in s.image.data.iter().zip(&s.carbon_map) {
        if *t > 30.0 {
            thick += *v as f64;
            nt += 1;
        } else if *t < 5.0 {
            clean += *v as f64;
            nc += 1;
        }
    }
    assert!(
        nt > 1000 && nc > 1000,
        "need both areas: {nt} thick, {nc} thin pixels"
    );
    let ratio = (thick / nt as f64) / (clean / nc as f64);
    println!("mean signal under > 30 Å carbon / under < 5 Å: {ratio:.2}");
    assert!(
        ratio > 1.5,
        "carbon adds only {:.0} % signal",
        (ratio - 1.0) * 100.0
    );
}

#[test]
fn other_chemistries_follow_z_contrast_and_their_lattice_constant() {
    // Same structure, other atoms: the metal/chalcogen integrated ratio must follow the
    // response of that chemistry and the nearest-neighbour distance a/√3 of it.
    for chem in [Chemistry::WS2, Chemistry::MoSe2, Chemistry::WSe2] {
        let base = SimRequest {
            width: 480,
            height: 480,
            pixel_size_angstrom: 0.08,
            rotation_deg: Some(10.0),
            vs1_fraction: 0.0,
            vs2_fraction: 0.0,
            clean: true,
            chemistry: chem,
            ..Default::default()
        };
        let (full, integrated) = integrated_ratio(&base, 11, |_| {});
        let r = full.params.response();
        let (m, pair) = (
            Polymorph::H2Mono.column(Site::A),
            Polymorph::H2Mono.column(Site::B),
        );
        let expected = r.column(chem, &m, 1, false) / r.column(chem, &pair, 1, false);
        // Nearest metal–chalcogen distance in the truth, in Å.
        let px = base.pixel_size_angstrom;
        let metals: Vec<_> = interior(&full, 20.0).filter(|c| c.metal).collect();
        let nn = median(
            metals
                .iter()
                .map(|m| {
                    full.columns
                        .iter()
                        .filter(|c| !c.metal)
                        .map(|c| (c.x - m.x).hypot(c.y - m.y) * px)
                        .fold(f64::INFINITY, f64::min)
                })
                .collect(),
        );
        let a = chem.lattice_a_angstrom();
        println!(
            "{}: metal/X2 integrated {integrated:.3} vs {expected:.3}; nearest M–X2 {nn:.4} Å vs a/√3 = {:.4}",
            chem.name(),
            a / 3f64.sqrt()
        );
        assert!(
            (integrated - expected).abs() / expected < 0.03,
            "{}",
            chem.name()
        );
        assert!((nn - a / 3f64.sqrt()).abs() < 0.01, "{}", chem.name());
    }
}

/// Holes are vacuum a microscopist would call a hole: every vacuum pixel lies in, or
/// within 1 Å of, a vacuum disk of nearly `MIN_HOLE_RADIUS_A`. A speck or neck one column wide would
/// remove a single S₂ column, which looks exactly like a VS2 but was labelled vacuum.
#[test]
fn holes_are_wide_not_single_columns() {
    let px = 0.2;
    // Slack for the opening grid (0.5 Å) and the pixel grid.
    let r = (stemsight::sim::regions::MIN_HOLE_RADIUS_A - 0.75) / px;
    let ri = r.ceil() as isize;
    let (mut vacuum, mut covered) = (0usize, 0usize);
    for seed in 0..4 {
        let req = SimRequest {
            width: 200,
            height: 200,
            pixel_size_angstrom: px,
            hole_fraction: 0.25,
            ..Default::default()
        };
        let s = simulate(&req, 40 + seed).unwrap();
        let (w, h) = (s.image.width as isize, s.image.height as isize);
        let vac = |x: isize, y: isize| {
            x >= 0 && y >= 0 && x < w && y < h && s.polymorph_map[(y * w + x) as usize] == 0
        };
        let in_disk = |dx: isize, dy: isize| (dx * dx + dy * dy) as f64 <= r * r;
        // Centres of vacuum disks of radius r, then every pixel such a disk covers.
        let centre: Vec<bool> = (0..w * h)
            .map(|k| {
                let (x, y) = (k % w, k / w);
                (-ri..=ri).all(|dy| (-ri..=ri).all(|dx| !in_disk(dx, dy) || vac(x + dx, y + dy)))
            })
            .collect();
        // Near the border the disk that makes a hole wide may lie outside the image.
        let m = (2.0 * stemsight::sim::regions::MIN_HOLE_RADIUS_A / px) as isize;
        for k in 0..w * h {
            let (x, y) = (k % w, k / w);
            if !vac(x, y) || x < m || y < m || x >= w - m || y >= h - m {
                continue;
            }
            vacuum += 1;
            // Within 1 Å of such a disk: the field may draw a corner sharper than it.
            let reach = r + 1.0 / px;
            let re = reach.ceil() as isize;
            let hit = (-re..=re).any(|dy| {
                (-re..=re).any(|dx| {
                    let (cx, cy) = (x + dx, y + dy);
                    ((dx * dx + dy * dy) as f64) <= reach * reach
                        && cx >= 0
                        && cy >= 0
                        && cx < w
                        && cy < h
                        && centre[(cy * w + cx) as usize]
                })
            });
            covered += hit as usize;
        }
    }
    let share = covered as f64 / vacuum.max(1) as f64;
    println!(
        "vacuum pixels near a {:.2} Å vacuum disk: {covered}/{vacuum} ({share:.4})",
        r * px
    );
    assert!(vacuum > 5000, "too little vacuum to test: {vacuum}");
    assert_eq!(covered, vacuum, "narrow vacuum");
}
