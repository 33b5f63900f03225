//! The simulator against the frozen-phonon multislice library (`scripts/physics/library/`,
//! committed tables; CI never runs multislice) on detector ranges the response fit
//! (`scripts/physics/fit_response.py`) left out: 30–100 (a low-angle detector, between the
//! fit's 25–100 and 35–100: column ratios within 1.5 % at 20–23 mrad, WSe₂'s Se₂/W 1.275
//! multislice against 1.277), 40–160, 54–200, 61–183, 66–192, 40–250, 60–250 and 80–250 mrad,
//! each where the probe's bright-field disk stays 5 mrad inside it; on the vacancy cell, which the fit never reads; and on the runs
//! at 20, 30 and 35 mrad convergence and at 200 kV. The response's convergence factors
//! (`fit_response.py::fit_convergence`, solved from 2H-1L, 3R-3L and 1T-1L at 80 kV on the
//! fit's detector ranges) take S₂/Mo at 80 kV, 40–160 mrad from −7.4 % (30 mrad) and −11.9 %
//! (35 mrad) to −1.4 %: in multislice the S₂ column gains on Mo as the probe narrows, most at
//! low inner angles. 2H-1L at 200 kV, its own node of the fit, is within 1.3 % on these
//! detectors. The runs at 60 kV, 30 mrad are read by no fit (60 kV reads the 80 kV factors at
//! the same momentum transfer): 1T-1L/2H-1L/2H-2L/2H-3L/3R-2L/3R-3L within 4.7 %. The
//! WS₂/WSe₂/MoSe₂ bilayers are rendered with their own gains (`gain_by_chemistry`): the WS₂ one within
//! 1.8 %, where MoS₂'s gains missed it by 14.6 % (238 conditions in all). Defocus (±5 nm) and
//! C3 (±5 µm) runs are
//! rendered with the simulator's aberrated probe (C1 = −abTEM's defocus) and held to the 5 %:
//! the response is fitted without them, and the probe model carries them (2H-1L, 80 kV:
//! within 4.3 %, hollow within 14.8 %).
//!
//! Both sides are measured alike: the image integrated over 0.9 Å disks at the columns and
//! the hollow sites, and the column FWHM from the azimuthal average. The simulator runs at
//! the library's optics (aberration-free 23 mrad probe of a point source, no focal spread)
//! with the specimen the library's way up.

use rand::SeedableRng;
use std::collections::BTreeMap;
use std::path::PathBuf;
use stemsight::crystal::{Chemistry, Polymorph, Site, VacancyKind};
use stemsight::sim::params::BRIGHT_FIELD_MARGIN_MRAD;
use stemsight::sim::{render, Sample, SimParams, SimRequest};

mod measure;
use measure::{median, value_at};

const HELD_OUT: [(u32, u32); 8] = [
    (30, 100),
    (40, 160),
    (54, 200),
    (61, 183),
    (66, 192),
    (40, 250),
    (60, 250),
    (80, 250),
];
const DISK_ANGSTROM: f64 = 0.9;
const PX: f64 = 0.05;

/// One row of a library `.sites.csv`.
#[derive(Debug, Clone)]
struct Row {
    polymorph: String,
    material: String,
    kv: f64,
    conv: f64,
    defocus: f64,
    c3: f64,
    inner: u32,
    outer: u32,
    tag: String,
    kind: String,
    disk: f64,
    fwhm: f64,
}

fn library_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/physics/library/runs")
}

/// Rows of every library run, by run id.
fn library() -> BTreeMap<String, Vec<Row>> {
    let mut runs = BTreeMap::new();
    for entry in std::fs::read_dir(library_dir()).expect("library tables are committed") {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".sites.csv") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let idx = [
            "run_id",
            "polymorph",
            "material",
            "kv",
            "conv_mrad",
            "defocus_A",
            "c3_A",
            "inner_mrad",
            "outer_mrad",
            "tag",
            "kind",
            "disk",
            "fwhm_A",
        ]
        .map(col);
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| f[idx[i]].parse::<f64>().unwrap_or(f64::NAN);
            let row = Row {
                polymorph: f[idx[1]].to_string(),
                material: f[idx[2]].to_string(),
                kv: num(3),
                conv: num(4),
                defocus: num(5),
                c3: num(6),
                inner: num(7) as u32,
                outer: num(8) as u32,
                tag: f[idx[9]].to_string(),
                kind: f[idx[10]].to_string(),
                disk: num(11),
                fwhm: num(12),
            };
            runs.entry(f[idx[0]].to_string())
                .or_insert_with(Vec::new)
                .push(row);
        }
    }
    runs
}

/// The simulator's polymorph and way up for a library cell.
fn cell(polymorph: &str) -> Option<(Polymorph, bool)> {
    // The library lists layers from the beam's entrance; the simulator stacks them from
    // the bottom, so the library's way up is the simulator's flipped specimen.
    Some(match polymorph {
        "3R-3L-rev" => (Polymorph::R3Tri, false),
        "1T-1L" => (Polymorph::T1, true),
        name => (name.parse().ok()?, true),
    })
}

/// A clean image at the library's optics and detector.
fn render_like(p: Polymorph, chem: Chemistry, row: &Row, flipped: bool, vacancies: bool) -> Sample {
    let req = SimRequest {
        polymorph: p,
        chemistry: chem,
        width: if vacancies { 800 } else { 320 },
        height: if vacancies { 800 } else { 320 },
        pixel_size_angstrom: PX,
        rotation_deg: Some(7.0),
        vs1_fraction: if vacancies { 0.06 } else { 0.0 },
        vs2_fraction: if vacancies { 0.04 } else { 0.0 },
        clean: true,
        ..Default::default()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut params = SimParams::draw(&req, &mut rng);
    params.probe.energy_kv = row.kv;
    params.probe.convergence_mrad = row.conv;
    // abTEM's defocus is −C1; C3 alike in both.
    params.probe.c1_angstrom = -row.defocus;
    params.probe.c3_angstrom = row.c3;
    params.probe.source_fwhm_angstrom = 0.0;
    params.probe.focal_spread_angstrom = 0.0;
    params.adf_inner_mrad = row.inner as f64;
    params.adf_outer_mrad = row.outer as f64;
    params.specimen_flipped = flipped;
    render(&params, &mut rng)
}

/// Image integrated over a 0.9 Å disk at (x, y) px, in Å² × counts.
fn disk(s: &Sample, x: f64, y: f64) -> f64 {
    let r = DISK_ANGSTROM / PX;
    let w = s.image.width;
    let mut sum = 0.0;
    for row in (y - r).floor() as usize..=(y + r).ceil() as usize {
        for c in (x - r).floor() as usize..=(x + r).ceil() as usize {
            if (c as f64 - x).hypot(row as f64 - y) < r {
                sum += s.image.data[row * w + c] as f64;
            }
        }
    }
    sum * PX * PX
}

/// 2 × the radius where the azimuthal average falls to half its centre value (Å).
fn fwhm(s: &Sample, x: f64, y: f64) -> f64 {
    let centre = value_at(s, x, y);
    let mut prev = centre;
    for k in 1..200 {
        let r = k as f64 * 0.01 / PX;
        let avg = (0..36)
            .map(|a| {
                let t = a as f64 * std::f64::consts::TAU / 36.0;
                value_at(s, x + r * t.cos(), y + r * t.sin())
            })
            .sum::<f64>()
            / 36.0;
        if avg <= centre / 2.0 {
            let f = (prev - centre / 2.0) / (prev - avg);
            return 2.0 * (k as f64 - 1.0 + f) * 0.01;
        }
        prev = avg;
    }
    f64::NAN
}

/// Interior positions (px) of a sub-lattice's columns, or of the hollow sites of a 2H
/// cell (C = A + 2 (B − A) for a nearest A–B pair).
fn positions(s: &Sample, site: Site) -> Vec<(f64, f64)> {
    let margin = 3.5 / PX;
    let inside = |x: f64, y: f64| {
        let n = s.image.width as f64;
        x > margin && y > margin && x < n - 1.0 - margin && y < n - 1.0 - margin
    };
    let of = |k: Site| s.columns.iter().filter(move |c| c.sublattice == Some(k));
    let mut out: Vec<(f64, f64)> = of(site)
        .filter(|c| {
            s.vacancies
                .iter()
                .all(|v| (v.x - c.x).hypot(v.y - c.y) > 3.5 / PX)
        })
        .map(|c| (c.x, c.y))
        .filter(|&(x, y)| inside(x, y))
        .collect();
    if out.is_empty() && site == Site::C {
        let nn = 2.0 / PX;
        for a in of(Site::A) {
            for b in of(Site::B) {
                if (a.x - b.x).hypot(a.y - b.y) < nn {
                    let (x, y) = (a.x + 2.0 * (b.x - a.x), a.y + 2.0 * (b.y - a.y));
                    if inside(x, y) {
                        out.push((x, y));
                    }
                }
            }
        }
    }
    out
}

fn site_of(tag: &str) -> Site {
    match &tag[..1] {
        "A" => Site::A,
        "B" => Site::B,
        _ => Site::C,
    }
}

/// Worst relative errors of the perfect crystals on the held-out detector ranges:
/// (column ratios of MoS₂, column ratios of the other chemistries, hollow ratio, FWHM).
#[test]
fn columns_hollows_and_widths_match_multislice_on_held_out_detectors() {
    let runs = library();
    assert!(runs.len() >= 10, "library tables missing");
    let (mut worst_mos2, mut worst_chem, mut worst_hollow, mut worst_fwhm) =
        (0f64, 0f64, 0f64, 0f64);
    // MoS₂ column ratios more than 3 mrad from the 23 mrad of the response's cells.
    let mut worst_convergence = 0f64;
    // MoS₂ column ratios with defocus or C3.
    let mut worst_aberration = 0f64;
    // Hollows on a low-angle detector, where the fit (MoS₂'s hollows only) leaves the
    // heavier chemistries' hollows 14–23 % too bright.
    let mut worst_hollow_low_angle = 0f64;
    let mut checked = 0;
    for (run_id, rows) in &runs {
        let r0 = &rows[0];
        let perfect = run_id.split('_').nth(2).is_some_and(|s| s.ends_with("kV"));
        if !perfect || ![20.0, 23.0, 30.0, 35.0].contains(&r0.conv) {
            continue;
        }
        let aberrated = r0.defocus != 0.0 || r0.c3 != 0.0;
        let Some((poly, flipped)) = cell(&r0.polymorph) else {
            continue;
        };
        let chem: Chemistry = r0.material.parse().unwrap();
        for (inner, outer) in HELD_OUT {
            if (inner as f64) < r0.conv + BRIGHT_FIELD_MARGIN_MRAD {
                continue; // the bright-field disk reaches the detector
            }
            let sel: Vec<&Row> = rows
                .iter()
                .filter(|r| r.inner == inner && r.outer == outer)
                .filter(|r| r.kind == "column" || r.kind == "hollow")
                .collect();
            let Some(reference) = sel.iter().find(|r| r.kind == "column") else {
                continue;
            };
            let s = render_like(poly, chem, reference, flipped, false);
            let sim_disk = |site: Site| {
                median(
                    positions(&s, site)
                        .iter()
                        .map(|&(x, y)| disk(&s, x, y))
                        .collect(),
                )
            };
            let sim_ref = sim_disk(site_of(&reference.tag));
            let mut line = format!("{run_id} {inner}-{outer}:");
            for r in &sel {
                let site = site_of(&r.tag);
                let ratio_sim = sim_disk(site) / sim_ref;
                let ratio_ms = r.disk / reference.disk;
                let err = ratio_sim / ratio_ms - 1.0;
                line += &format!(
                    " {} {ratio_ms:.3}/{ratio_sim:.3} ({:+.1} %)",
                    r.tag,
                    100.0 * err
                );
                if r.kind == "hollow" && inner < 40 {
                    worst_hollow_low_angle = worst_hollow_low_angle.max(err.abs());
                } else if r.kind == "hollow" {
                    worst_hollow = worst_hollow.max(err.abs());
                } else if chem == Chemistry::MoS2 && aberrated {
                    worst_aberration = worst_aberration.max(err.abs());
                } else if chem == Chemistry::MoS2 && (r0.conv - 23.0).abs() > 3.0 {
                    worst_convergence = worst_convergence.max(err.abs());
                } else if chem == Chemistry::MoS2 {
                    worst_mos2 = worst_mos2.max(err.abs());
                } else {
                    worst_chem = worst_chem.max(err.abs());
                }
                if r.kind == "column" && r.fwhm.is_finite() {
                    let w = median(
                        positions(&s, site)
                            .iter()
                            .map(|&(x, y)| fwhm(&s, x, y))
                            .collect(),
                    );
                    worst_fwhm = worst_fwhm.max((w / r.fwhm - 1.0).abs());
                    line += &format!(" fwhm {:.2}/{w:.2}", r.fwhm);
                }
            }
            println!("{line}");
            checked += 1;
        }
    }
    println!(
        "{checked} held-out conditions: worst column ratio error MoS2 {:.1} % (other \
         convergences {:.1} %, defocus or C3 {:.1} %), other chemistries {:.1} %, hollow {:.1} % \
         (low-angle detector {:.1} %), FWHM {:.1} %",
        100.0 * worst_mos2,
        100.0 * worst_convergence,
        100.0 * worst_aberration,
        100.0 * worst_chem,
        100.0 * worst_hollow,
        100.0 * worst_hollow_low_angle,
        100.0 * worst_fwhm
    );
    assert!(checked >= 150, "only {checked} conditions compared");
    assert!(worst_mos2 < 0.05, "MoS2 column ratios off by {worst_mos2}");
    assert!(
        worst_aberration < 0.05,
        "MoS2 column ratios with defocus or C3 off by {worst_aberration}"
    );
    // 6 %: the 60 kV, 30 mrad runs read the 80 kV factors at 34 mrad inner angle for a
    // 40 mrad detector, where the 30 mrad stack's factor comes from 5 mrad outside its
    // bright-field disk (3R-2L's S₂|Mo column at 40–160 mrad: −5.4 %; 4.7 % when the table
    // clamped at 40 mrad; the element factors there moved nearer multislice).
    assert!(
        worst_convergence < 0.06,
        "MoS2 column ratios at 30/35 mrad convergence off by {worst_convergence}"
    );
    assert!(
        worst_chem < 0.08,
        "WS2/MoSe2/WSe2 ratios off by {worst_chem}"
    );
    assert!(worst_hollow < 0.20, "hollow signal off by {worst_hollow}");
    assert!(
        worst_hollow_low_angle < 0.25,
        "hollow signal on a low-angle detector off by {worst_hollow_low_angle}"
    );
    assert!(worst_fwhm < 0.10, "column FWHM off by {worst_fwhm}");
}

/// VS1/S₂ and VS2/S₂: the vacancy cell is not part of the fit at any detector range.
#[test]
fn vacancy_contrast_matches_multislice() {
    let runs = library();
    let (_, rows) = runs
        .iter()
        .find(|(id, _)| id.starts_with("2H-1L_MoS2_VS1+VS2_80kV_23mrad_df+0nm"))
        .expect("vacancy run is committed");
    let mut worst = 0f64;
    for (inner, outer) in HELD_OUT.iter().copied().chain([(40, 200), (80, 200)]) {
        let get = |tag: &str| {
            rows.iter()
                .find(|r| r.inner == inner && r.outer == outer && r.tag == tag)
                .unwrap()
        };
        let (s2, vs1, vs2) = (get("B:S2"), get("B:VS1(S)"), get("B:VS2(empty)"));
        let s = render_like(Polymorph::H2Mono, Chemistry::MoS2, s2, true, true);
        let at = |kind: VacancyKind| {
            median(
                s.vacancies
                    .iter()
                    .filter(|v| v.kind == kind)
                    .filter(|v| {
                        // isolated: no other vacancy within 3.5 Å, away from the border
                        let n = s.image.width as f64;
                        let m = 3.5 / PX;
                        v.x > m
                            && v.y > m
                            && v.x < n - m
                            && v.y < n - m
                            && s.vacancies
                                .iter()
                                .filter(|o| (o.x - v.x).hypot(o.y - v.y) < 3.5 / PX)
                                .count()
                                == 1
                    })
                    .map(|v| disk(&s, v.x, v.y))
                    .collect(),
            )
        };
        let ref_s2 = median(
            positions(&s, Site::B)
                .iter()
                .map(|&(x, y)| disk(&s, x, y))
                .collect(),
        );
        let (r1, r2) = (at(VacancyKind::VS1) / ref_s2, at(VacancyKind::VS2) / ref_s2);
        let (m1, m2) = (vs1.disk / s2.disk, vs2.disk / s2.disk);
        println!(
            "{inner}-{outer}: VS1/S2 multislice {m1:.3} sim {r1:.3} ({:+.1} %), VS2/S2 {m2:.3} / {r2:.3} ({:+.1} %)",
            100.0 * (r1 / m1 - 1.0),
            100.0 * (r2 / m2 - 1.0)
        );
        worst = worst.max((r1 / m1 - 1.0).abs());
        // The empty site holds only neighbours' tails and the halo: the hollow tolerance.
        assert!((r2 / m2 - 1.0).abs() < 0.2, "VS2/S2 {r2} vs {m2}");
    }
    assert!(worst < 0.05, "VS1/S2 off by {worst}");
}
