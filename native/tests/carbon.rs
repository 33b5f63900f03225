//! The contamination call on images whose truth is known: the simulator's own default
//! image (clean, one vacancy, a blurred probe and a background gradient that the carbon
//! map alone took for carbon on all of it), a simulated image under thick carbon, and,
//! when `../shared/data/real` is present (skipped otherwise), the real images that the
//! data README calls visibly clean or contaminated.

use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::{analyze, stemsight, warns};

fn simulate(dir: &Path, args: &[&str]) -> (PathBuf, Value) {
    let out = dir.join("sim");
    let mut all = vec!["simulate"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = stemsight(&all);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let truth = std::fs::read_to_string(out.join("truth.json")).unwrap();
    (out.join("image.tif"), serde_json::from_str(&truth).unwrap())
}

fn fraction(report: &Value) -> f64 {
    report["carbon"]["contaminated_fraction"].as_f64().unwrap()
}

/// The default simulated image (seed 7): carbon-free, so at most 5 % may be flagged, and
/// its one vacancy is counted; the map alone flags nearly all of it.
#[test]
fn the_simulators_clean_default_image_reads_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (image, truth) = simulate(
        dir.path(),
        &[
            "--polymorph",
            "2H-1L",
            "--size",
            "256",
            "--pixel-size",
            "0.1",
            "--seed",
            "7",
        ],
    );
    assert_eq!(truth["params"]["carbon"]["level"].as_f64(), Some(0.0));
    let r = analyze(dir.path(), &image, &[]);
    assert!(fraction(&r) <= 0.05, "flagged {}", fraction(&r));
    let counted = r["summary"]["n_vs1"].as_u64().unwrap() + r["summary"]["n_vs2"].as_u64().unwrap();
    let truth_vacancies = truth["vacancies"].as_array().unwrap().len() as u64;
    assert_eq!(counted, truth_vacancies, "{}", r["summary"]);
    // Every true 2H-1L column within the counted area is a Mo or an S₂ site.
    let sites =
        r["summary"]["n_mo"].as_u64().unwrap() + r["summary"]["n_s2_sites"].as_u64().unwrap();
    assert!(sites >= 100, "{}", r["summary"]);
    assert!(r["carbon"]["hollow_sites"].as_u64().unwrap() > 50);

    let map_only = analyze(dir.path(), &image, &["--no-hollow-check"]);
    assert!(
        fraction(&map_only) > 0.5,
        "map alone {}",
        fraction(&map_only)
    );
    assert_eq!(
        map_only["carbon"]["cleared_by_hollows_fraction"].as_f64(),
        Some(0.0)
    );
    let cleared = r["carbon"]["cleared_by_hollows_fraction"].as_f64().unwrap();
    assert!((cleared + fraction(&r) - fraction(&map_only)).abs() < 1e-9);
}

/// Under heavy simulated carbon (36 % of the area under more than 20 Å) the flagged
/// area holds the carbon: its mean true thickness is more than twice the kept area's
/// (measured 32 Å against 13 Å; the map alone flags 69 %, the hollows keep the parts
/// whose hollows read clean, some of them under thick simulated carbon).
#[test]
fn heavy_carbon_is_still_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = simulate(
        dir.path(),
        &[
            "--polymorph",
            "2H-1L",
            "--size",
            "512",
            "--pixel-size",
            "0.1",
            "--carbon",
            "0.8",
            "--seed",
            "11",
        ],
    );
    let r = analyze(dir.path(), &image, &[]);
    assert!(fraction(&r) > 0.1, "flagged {}", fraction(&r));
    let calls = stemsight::io::read_image(&dir.path().join("out/image/contamination.tif"))
        .unwrap()
        .frames
        .remove(0);
    let carbon = stemsight::io::read_image(&dir.path().join("sim/carbon.tif"))
        .unwrap()
        .frames
        .remove(0);
    let mean = |flagged: bool| {
        let v: Vec<f64> = calls
            .data
            .iter()
            .zip(&carbon.data)
            .filter(|(&c, _)| stemsight::analysis::carbon::Call::excluded_code(c as u8) == flagged)
            .map(|(_, &t)| t as f64)
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let (dirty, clean) = (mean(true), mean(false));
    assert!(
        dirty > 2.0 * clean,
        "flagged {dirty:.1} Å, kept {clean:.1} Å"
    );
}

/// The real images: the visibly clean ones read clean, the contaminated WS₂ does not.
#[test]
fn real_images_flag_carbon_where_there_is_carbon() {
    let real = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/real");
    let cases: [(&str, &[&str], f64, f64); 4] = [
        (
            "fully_converted_images_superscan__haadf__14_corrected.tif",
            &[],
            0.0,
            0.10,
        ),
        (
            "partially_converted_images_superscan__haadf__10_corrected.tif",
            &[],
            0.0,
            0.10,
        ),
        (
            "wse2_cr_doped_9.tif",
            &["--pixel-size", "lattice", "--chemistry", "WSe2"],
            0.0,
            0.10,
        ),
        (
            "ws2_monolayer_contaminated.tif",
            &["--chemistry", "WS2"],
            0.3,
            0.8,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, extra, lo, hi) in cases {
        let path = real.join(name);
        if !path.exists() {
            eprintln!("{} absent: skipped", path.display());
            continue;
        }
        let r = analyze(dir.path(), &path, extra);
        let f = fraction(&r);
        assert!((lo..=hi).contains(&f), "{name}: {:.1} % flagged", 100.0 * f);
        if hi <= 0.10 {
            assert!(
                r["summary"]["n_s2_sites"].as_u64().unwrap() > 0,
                "{name}: empty statistics"
            );
        }
        // The WS₂ frame's two sublattices compare as 0.81, which no WS₂ monolayer gives at
        // any detector: read as the stack its contrast fits, its stacked columns are its
        // chalcogen sites. Declared a monolayer, 24 columns are labelled chalcogen to 2660
        // metal, and the report says the chalcogen columns are not resolved (or not told
        // from the metal ones); the Nion monolayers resolve theirs.
        if name.starts_with("ws2") {
            assert!(!unresolved(&r), "{name}: {}", r["warnings"]);
            assert!(r["summary"]["n_s2_sites"].as_u64().unwrap() > 500, "{name}");
            let mut declared = extra.to_vec();
            declared.extend_from_slice(&["--polymorphs", "2H-1L"]);
            let out = tempfile::tempdir().unwrap();
            let r = analyze(out.path(), &path, &declared);
            assert!(unresolved(&r), "{name} declared: {}", r["warnings"]);
        } else if name.contains("converted") {
            assert!(!unresolved(&r), "{name}: {}", r["warnings"]);
        }
    }
}

fn unresolved(report: &Value) -> bool {
    warns(report, "chalcogen columns are not resolved")
}
