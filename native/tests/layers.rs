//! The 2H layer count and carbon read from the absolute signal (`--dose`), on frozen-phonon
//! multislice images the network alone misreads or misses: 128² crops of four groups' first
//! image (`tests/data/frozen_phonon/README.md`), Poisson counts at 1e5 e⁻/Å²; a dose the
//! signal contradicts; without the dose, a simulated monolayer read as a stack that the
//! depth of its vacancies relabels; and the column contrast against the simulator's
//! (`analysis::contrast`): at the fixtures' own optics, and over every detector for WS₂,
//! whose monolayer and bilayer it tells apart.

use std::path::PathBuf;

mod common;
use common::{analyze, run_analyze, warns};

/// (file stem, chemistry, kV, detector, the stack it holds)
const CASES: [(&str, &str, &str, &str, &str); 3] = [
    (
        "2H-2L_MoS2_60kV_66-192mrad_1e5",
        "MoS2",
        "60",
        "66-192",
        "2H-2L",
    ),
    (
        "2H-3L_MoS2_60kV_40-160mrad_1e5",
        "MoS2",
        "60",
        "40-160",
        "2H-3L",
    ),
    (
        "2H-1L_WSe2_80kV_40-160mrad_1e5",
        "WSe2",
        "80",
        "40-160",
        "2H-1L",
    ),
];

fn fixture(stem: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/frozen_phonon")
        .join(format!("{stem}.tif"))
}

/// A simulated WSe₂ frame (384², 0.12 Å/px, 5 % VS1, 2 % VS2) of the `polymorphs` flags and
/// `seed`, in `dir`/sim: the folder and its truth.
fn wse2_with_vacancies(
    dir: &std::path::Path,
    polymorphs: &[&str],
    seed: &str,
) -> (PathBuf, serde_json::Value) {
    let sim = dir.join("sim");
    let mut args = vec!["simulate"];
    args.extend_from_slice(polymorphs);
    args.extend_from_slice(&[
        "--chemistry",
        "WSe2",
        "--size",
        "384",
        "--pixel-size",
        "0.12",
        "--vs1-fraction",
        "0.05",
        "--vs2-fraction",
        "0.02",
        "--seed",
        seed,
        "--out",
        sim.to_str().unwrap(),
    ]);
    let o = common::stemsight(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let truth =
        serde_json::from_str(&std::fs::read_to_string(sim.join("truth.json")).unwrap()).unwrap();
    (sim, truth)
}

fn fraction(report: &serde_json::Value, polymorph: &str) -> f64 {
    report["polymorph"]["fractions"][polymorph]
        .as_f64()
        .unwrap_or(0.0)
}

#[test]
fn the_dose_gives_the_layer_count_the_contrast_cannot() {
    let dir = tempfile::tempdir().unwrap();
    for (stem, chemistry, kv, detector, truth) in CASES {
        let image = fixture(stem);
        let alone = analyze(dir.path(), &image, &["--chemistry", chemistry]);
        assert!(alone["polymorph"].get("layer_count").is_none());
        let with_dose = analyze(
            dir.path(),
            &image,
            &[
                "--chemistry",
                chemistry,
                "--dose",
                "1e5",
                "--kv",
                kv,
                "--detector-mrad",
                detector,
            ],
        );
        let count = &with_dose["polymorph"]["layer_count"];
        let measured = count["measured_fraction"].as_f64().unwrap();
        let reference = count["reference_fraction"][truth].as_f64().unwrap();
        println!(
            "{stem}: {truth} {:.3} from the contrast alone, {:.3} with the dose; \
             measured {measured:.5} of the beam, simulated {truth} {reference:.5}",
            fraction(&alone, truth),
            fraction(&with_dose, truth)
        );
        assert!(fraction(&with_dose, truth) >= 0.95, "{stem}: {count}");
        assert!(
            (measured / reference - 1.0).abs() < 0.12,
            "{stem}: the simulator's {truth} is {reference}, multislice {measured}"
        );
        assert_eq!(count["kv"].as_f64().unwrap(), kv.parse::<f64>().unwrap());
        assert_eq!(count["dose_mismatch"].as_bool(), Some(false));
    }
}

/// A dose that does not fit the image (here 100× the true one, as for an image scaled to
/// another range) is said so, and neither recounts the layers nor flags carbon.
#[test]
fn a_dose_the_signal_contradicts_is_warned_about_and_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let (stem, chemistry, kv, detector, _) = CASES[0];
    let image = fixture(stem);
    let plain = analyze(dir.path(), &image, &["--chemistry", chemistry]);
    let wrong = analyze(
        dir.path(),
        &image,
        &[
            "--chemistry",
            chemistry,
            "--dose",
            "1e7",
            "--kv",
            kv,
            "--detector-mrad",
            detector,
        ],
    );
    let count = &wrong["polymorph"]["layer_count"];
    assert_eq!(count["dose_mismatch"].as_bool(), Some(true), "{count}");
    assert_eq!(count["relabelled_fraction"].as_f64(), Some(0.0));
    assert_eq!(
        wrong["polymorph"]["fractions"],
        plain["polymorph"]["fractions"]
    );
    assert_eq!(
        wrong["carbon"]["signal_excess_fraction"].as_f64(),
        Some(0.0)
    );
    assert!(
        warns(&wrong, "not in detected electrons at that dose"),
        "{}",
        wrong["warnings"]
    );
}

#[test]
fn a_dose_without_the_optics_is_refused_naming_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let image = fixture(CASES[0].0);
    let out = dir.path().join("out");
    let run = |extra: &[&str]| run_analyze(&out, &image, extra);
    let o = run(&["--dose", "1e5", "--detector-mrad", "66-192"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--kv"));
    let o = run(&["--dose", "1e5", "--kv", "60"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--detector-mrad"));
    let o = run(&["--dose", "5", "--kv", "60", "--detector-mrad", "66-192"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--dose"));
    let o = run(&["--dose", "1e5", "--kv", "60", "--detector-mrad", "192-66"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("outer angle"));
}

/// Without the dose, a monolayer the network reads as a stack is told by the depth of its
/// vacancies (`analysis::vacancy_depth`): a simulated WSe₂ monolayer (384², 0.12 Å/px, 5 %
/// VS1, 2 % VS2) that the network alone reads as 2H-3L 56 % / 2H-2L 29 % / 2H-1L 15 %;
/// its calls there read 0.30 of a Se₂ column (a bilayer's VS1 would read 0.74–0.83).
#[test]
fn vacancies_deep_as_a_monolayers_relabel_a_stack() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, truth) = wse2_with_vacancies(dir.path(), &["--polymorph", "2H-1L"], "6");
    let report = analyze(dir.path(), &sim.join("image.tif"), &["--chemistry", "WSe2"]);
    let depth = &report["polymorph"]["vacancy_depth"];
    eprintln!("{depth}");
    assert!(
        depth["relabelled_fraction"].as_f64().unwrap() > 0.5,
        "{depth}"
    );
    assert!(depth["median_depth"].as_f64().unwrap() < 0.6, "{depth}");
    // The truth: a monolayer whose vacancies are found.
    assert!(
        fraction(&report, "2H-1L") >= 0.95,
        "{}",
        report["polymorph"]
    );
    let found: Vec<(f64, f64)> = common::vacancy_positions(&report);
    let true_sites = truth["vacancies"].as_array().unwrap();
    let hit = true_sites
        .iter()
        .filter(|v| {
            let (x, y) = (v["x"].as_f64().unwrap(), v["y"].as_f64().unwrap());
            found
                .iter()
                .any(|&(a, b)| (a - x).hypot(b - y) <= 0.6 / 0.12)
        })
        .count();
    assert!(
        hit * 10 >= true_sites.len() * 8,
        "{hit} of {} found",
        true_sites.len()
    );
    // Each call's own depth is reported: VS1 leave about half a column, VS2 none.
    let median_depth = |kind: &str| {
        let mut d: Vec<f64> = report["vacancies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["type"] == kind)
            .filter_map(|v| v["depth"].as_f64())
            .collect();
        assert!(d.len() >= 2, "{kind}: {} depths", d.len());
        d.sort_by(f64::total_cmp);
        d[d.len() / 2]
    };
    let (vs1, vs2) = (median_depth("VS1"), median_depth("VS2"));
    eprintln!("median depth VS1 {vs1:.2}, VS2 {vs2:.2}");
    assert!(vs1 > 0.15 && vs1 < 0.6, "VS1 {vs1}");
    assert!(vs2 < 0.25, "VS2 {vs2}");
}

/// With the dose known, a carbon patch is found by the signal it adds: a 128² crop of a
/// frozen-phonon 2H-1L MoS₂ image under a 20 Å patch (80 kV, 40–160 mrad, 1e5 e⁻/Å²) with its
/// carbon truth. The map and the hollows flag none of the patch; the signal flags most of it
/// and none of the carbon-free lattice 5 Å or more from it. (The crop's corners, where too
/// few hollows stand to check the map, are left out by the map: code 2, not the signal's.)
#[test]
fn the_dose_finds_a_carbon_patch_by_its_signal() {
    use stemsight::analysis::carbon::Call;
    let stem = "2H-1L_MoS2_C20A-patch_80kV_40-160mrad_1e5";
    let image = fixture(stem);
    let read = |path: &std::path::Path| {
        stemsight::io::read_image(path)
            .unwrap()
            .frames
            .remove(0)
            .data
    };
    let truth = read(&fixture(&format!("{stem}.carbon")));
    let dir = tempfile::tempdir().unwrap();
    let analyze_codes = |extra: &[&str]| -> (serde_json::Value, Vec<u8>) {
        let out = dir.path().join(extra.len().to_string());
        let o = run_analyze(&out, &image, extra);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let folder = out.join(stem);
        let report = std::fs::read_to_string(folder.join("report.json")).unwrap();
        let codes = read(&folder.join("contamination.tif"));
        let codes = codes.iter().map(|&c| c as u8).collect();
        (serde_json::from_str(&report).unwrap(), codes)
    };
    // The patch (≥ 10 Å of carbon), and the carbon-free pixels ≥ 5 Å from any carbon (as
    // `scripts/physics/testset.py` scores them).
    let px = 0.2094;
    let carbon: Vec<bool> = truth.iter().map(|&c| c > 0.0).collect();
    let d2 = stemsight::math::distance::squared_distance(&carbon, 128, 128);
    let patch: Vec<usize> = (0..truth.len()).filter(|&i| truth[i] >= 10.0).collect();
    let far: Vec<usize> = (0..truth.len())
        .filter(|&i| d2[i].sqrt() * px >= 5.0)
        .collect();
    let share = |pixels: &[usize], hit: &dyn Fn(u8) -> bool, codes: &[u8]| {
        pixels.iter().filter(|&&i| hit(codes[i])).count() as f64 / pixels.len() as f64
    };
    let excluded = |c: u8| Call::excluded_code(c);
    let by_signal = |c: u8| c == Call::Signal as u8;
    let plain = ["--chemistry", "MoS2"];
    let dose = ["--dose", "1e5", "--kv", "80", "--detector-mrad", "40-160"];
    let (alone, without) = analyze_codes(&plain);
    let (report, with) = analyze_codes(&[&plain[..], &dose[..]].concat());
    let before = share(&patch, &excluded, &without);
    let after = share(&patch, &excluded, &with);
    let false_signal = share(&far, &by_signal, &with);
    let signal = report["carbon"]["signal_excess_fraction"].as_f64().unwrap();
    println!(
        "patch flagged {before:.3} -> {after:.3} with the dose; carbon-free pixels 5 Å away \
         flagged by the signal {false_signal:.3}; signal excess {signal:.3} of the material"
    );
    assert_eq!(
        alone["carbon"]["signal_excess_fraction"].as_f64(),
        Some(0.0)
    );
    assert!(after >= 0.7, "patch {after:.3}");
    assert!(false_signal <= 0.02, "carbon-free {false_signal:.3}");
    assert!(signal > 0.1, "{}", report["carbon"]);
}

/// The column contrast at known optics (voltage and detector, no dose) counts the layers
/// where the simulator's layer counts differ: the 2H-2L MoS₂ crop (60 kV, 66–192 mrad) the
/// network reads as 2H-3L measures 0.76 against the simulator's 2H-2L 0.75 and 2H-3L 0.69,
/// and is relabelled; so is the WSe₂ monolayer it reads as 2H-2L (80 kV, 40–160 mrad:
/// 0.92 against the simulator's 2H-1L 0.94, 2H-3L 0.95, 2H-2L 0.96).
#[test]
fn the_column_contrast_counts_layers_at_known_optics() {
    let dir = tempfile::tempdir().unwrap();
    let (stem, chemistry, _, _, truth) = CASES[0];
    let image = fixture(stem);
    let alone = analyze(dir.path(), &image, &["--chemistry", chemistry]);
    assert!(fraction(&alone, truth) < 0.5, "{}", alone["polymorph"]);
    let entry = &alone["polymorph"]["column_contrast"][0];
    assert_eq!(entry["optics_known"], false);
    assert!(entry.get("relabelled_to").is_none());
    // The case analyzed with its voltage and detector: the report and its first contrast entry.
    let at_optics = |(stem, chemistry, kv, detector, stack): (&str, &str, &str, &str, &str)| {
        let optics = [
            "--chemistry",
            chemistry,
            "--kv",
            kv,
            "--detector-mrad",
            detector,
        ];
        let report = analyze(dir.path(), &fixture(stem), &optics);
        let entry = report["polymorph"]["column_contrast"][0].clone();
        eprintln!("{stem}: {entry}");
        assert_eq!(entry["relabelled_to"], stack, "{entry}");
        (report, entry)
    };
    let (known, entry) = at_optics(CASES[0]);
    let ratio = entry["ratio"].as_f64().unwrap();
    let simulated = entry["simulated"][truth][0].as_f64().unwrap();
    assert!((ratio / simulated).ln().abs() < 0.03, "{entry}");
    assert!(fraction(&known, truth) >= 0.95, "{}", known["polymorph"]);
    assert!(known["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("relabelled 2H-2L")));
    let (known, _) = at_optics(CASES[2]);
    assert!(
        fraction(&known, CASES[2].4) >= 0.95,
        "{}",
        known["polymorph"]
    );
}

/// Over every annular detector the simulator holds, a WS₂ monolayer's S₂ / W (0.14–0.39)
/// and a bilayer's two columns (0.55–0.97) do not meet: a simulated WS₂ bilayer declared a
/// monolayer is warned about, a simulated monolayer is not.
#[test]
fn a_ws2_bilayer_read_as_a_monolayer_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let contrast_of = |polymorph: &str| {
        let sim = dir.path().join(polymorph);
        let o = common::stemsight(&[
            "simulate",
            "--polymorph",
            polymorph,
            "--chemistry",
            "WS2",
            "--size",
            "320",
            "--pixel-size",
            "0.1",
            "--seed",
            "11",
            "--out",
            sim.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        analyze(
            dir.path(),
            &sim.join("image.tif"),
            &["--chemistry", "WS2", "--polymorphs", "2H-1L"],
        )
    };
    let warned = |r: &serde_json::Value| {
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("two column kinds"))
    };
    let mono = contrast_of("2H-1L");
    let entry = &mono["polymorph"]["column_contrast"][0];
    eprintln!("monolayer: {entry}");
    assert_eq!(entry["polymorph"], "2H-1L");
    assert_eq!(entry["fits"], true, "{entry}");
    assert!(!warned(&mono));
    let bi = contrast_of("2H-2L");
    let entry = &bi["polymorph"]["column_contrast"][0];
    eprintln!("bilayer: {entry}");
    assert_eq!(entry["fits"], false, "{entry}");
    assert!(entry["fitting"]
        .as_array()
        .unwrap()
        .iter()
        .any(|q| q == "2H-2L"));
    assert!(warned(&bi));
}

/// A true stack beside a monolayer keeps its reading (`analysis::vacancy_depth`, the
/// columns' signal): a simulated WSe₂ 2H-1L | 2H-2L junction (384², 0.12 Å/px, 5 % VS1,
/// 2 % VS2 on both sides) whose monolayer is one by its own calls, so the bilayer is
/// compared with it, and its columns (each W + Se₂) stand clear of the monolayer's. Measured:
/// truth 2H-1L 62 % / 2H-2L 38 % of the columns, map 2H-1L 61 % / 2H-2L 39 %.
#[test]
fn a_true_stack_beside_a_monolayer_stays_a_stack() {
    let dir = tempfile::tempdir().unwrap();
    let junction = [
        "--polymorph",
        "2H-1L",
        "--second-polymorph",
        "2H-2L",
        "--boundary",
        "straight",
    ];
    let (sim, truth) = wse2_with_vacancies(dir.path(), &junction, "1");
    let columns = truth["columns"].as_array().unwrap();
    let bilayer =
        columns.iter().filter(|c| c["polymorph"] == "2H-2L").count() as f64 / columns.len() as f64;
    let report = analyze(dir.path(), &sim.join("image.tif"), &["--chemistry", "WSe2"]);
    let depth = &report["polymorph"]["vacancy_depth"];
    eprintln!(
        "truth 2H-2L {bilayer:.2}; {depth}; {}",
        report["polymorph"]["fractions"]
    );
    // The monolayer was confirmed (a reference exists) and the stack was asked about.
    assert!(depth["signal_limit"].as_f64().is_some(), "{depth}");
    assert!(depth["areas"].as_u64().unwrap() >= 1, "{depth}");
    assert_eq!(depth["signal_areas"].as_u64().unwrap(), 0, "{depth}");
    let stacked = fraction(&report, "2H-2L") + fraction(&report, "2H-3L");
    assert!(
        (stacked - bilayer).abs() < 0.1,
        "stacks {stacked:.2} against {bilayer:.2} in the truth"
    );
}
