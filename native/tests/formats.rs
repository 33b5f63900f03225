//! The files microscopes write, end to end through `stemsight analyze`: real DM3/DM4,
//! SER/EMI and MRC files from `../shared/data` (skipped cleanly when absent), and the
//! calibration checked against the crystal lattice on simulated images with known truth.

use std::path::{Path, PathBuf};
use stemsight::io::read_image;

mod common;
use common::stemsight;

fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipped: {} not present", p.display());
        None
    }
}

fn report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    serde_json::from_str(&text).unwrap()
}

fn simulate(out: &Path, chemistry: &str, pixel_size: f64, seed: u64) {
    let o = stemsight(&[
        "simulate",
        "--polymorph",
        "2H-1L",
        "--chemistry",
        chemistry,
        "--size",
        "256",
        "--pixel-size",
        &pixel_size.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The simulated image written again with another calibration (`None`: uncalibrated).
fn recalibrated(sim: &Path, to: &Path, pixel_size: Option<f64>) {
    let f = read_image(&sim.join("image.tif")).unwrap().frames.remove(0);
    stemsight::io::tiff::write_f32(to, f.width, f.height, &f.data, pixel_size).unwrap();
}

#[test]
fn microscope_files_give_their_shape_calibration_and_acquisition() {
    let Some(dm4) = shared("real/wse2_ti_doped_adf1_2.dm4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (Some(spectrum), Some(ser)) = (
        shared("formats/08_carbon.dm3"),
        shared("formats/16_STOimage.emi"),
    ) else {
        return;
    };
    // A spectrum first: refused with one line, and the images after it still analyzed.
    let o = stemsight(&[
        "analyze",
        spectrum.to_str().unwrap(),
        dm4.to_str().unwrap(),
        ser.to_str().unwrap(),
        "--chemistry",
        "WSe2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success(), "the spectrum must fail the run");
    let stderr = String::from_utf8_lossy(&o.stderr);
    let spectrum_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("08_carbon.dm3"))
        .collect();
    assert_eq!(spectrum_lines.len(), 1, "{stderr}");

    let r = report(&out.join("wse2_ti_doped_adf1_2"));
    assert_eq!(
        (r["image"]["width"].as_u64(), r["image"]["height"].as_u64()),
        (Some(512), Some(512))
    );
    let px = r["image"]["pixel_size_angstrom"].as_f64().unwrap();
    assert!((px - 0.3988).abs() < 2e-4, "DM4 pixel size {px}");
    assert_eq!(r["image"]["pixel_size_source"], "file");
    let acq = &r["image"]["acquisition"];
    assert!(acq.is_object(), "{acq}");
    // The lattice says ≈ 0.383 Å/px (shared/data/README.md): 4 % off, so a warning.
    let a = r["lattice"]["a_angstrom"]
        .as_f64()
        .expect("a lattice constant");
    let implied = r["lattice"]["implied_pixel_size_angstrom"]
        .as_f64()
        .unwrap();
    eprintln!("Ti-doped WSe2 DM4: a = {a:.3} Å at the file's calibration, lattice implies {implied:.4} Å/px");
    assert!((implied - 0.383).abs() < 0.006, "implied {implied}");
    assert_eq!(r["lattice"]["calibration_suspect"], true);
    assert!(r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("lattice implies")));

    let r = report(&out.join("16_STOimage"));
    assert_eq!(
        (r["image"]["width"].as_u64(), r["image"]["height"].as_u64()),
        (Some(1024), Some(1024))
    );
    let px = r["image"]["pixel_size_angstrom"].as_f64().unwrap();
    assert!((px - 0.10013).abs() < 1e-4, "SER pixel size {px}");
}

#[test]
fn refused_files_say_why_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (file, why) in [
        (
            "formats/dmTest_float32_nonSquare_diffPixelSize.dm4",
            "square",
        ),
        ("formats/dmTest_3D_int16_64,65,66.dm3", "square"),
        ("formats/08_carbon.dm3", "spectrum"),
        // 3 × 128² float32 at 2 Å/px: read, and refused as far too coarse for atoms.
        ("formats/temp.mrc", "outside 0.03–0.5"),
    ] {
        let Some(path) = shared(file) else {
            return;
        };
        let o = stemsight(&[
            "analyze",
            path.to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        assert!(!o.status.success(), "{file} must be refused");
        let stderr = String::from_utf8_lossy(&o.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        // One line for the file, one for the run's total.
        assert_eq!(lines.len(), 2, "{file}: {stderr}");
        assert!(
            lines[0].to_lowercase().contains(why),
            "{file}: {}",
            lines[0]
        );
    }
}

#[test]
fn dm4_gives_the_result_of_its_tiff_export() {
    let Some(dm4) = shared("real/wse2_ti_doped_adf2_2.dm4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let f = read_image(&dm4).unwrap().frames.remove(0);
    let tif = dir.path().join("wse2_ti_doped_adf2_2.tif");
    stemsight::io::tiff::write_f32(&tif, f.width, f.height, &f.data, f.pixel_size_angstrom)
        .unwrap();
    // The TIFF keeps the calibration as pixels per Å in a rational of 6 digits.
    let px = f.pixel_size_angstrom.unwrap();
    let back = read_image(&tif).unwrap().frames[0]
        .pixel_size_angstrom
        .unwrap();
    assert!((back / px - 1.0).abs() < 1e-6, "{back} vs {px}");
    let (a, b) = (dir.path().join("from_dm4"), dir.path().join("from_tif"));
    let o = stemsight(&[
        "analyze",
        dm4.to_str().unwrap(),
        "--out",
        a.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The DM4's calibration to the last bit (Rust prints f64 so it parses back exactly).
    let o = stemsight(&[
        "analyze",
        tif.to_str().unwrap(),
        "--pixel-size",
        &px.to_string(),
        "--out",
        b.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (ra, rb) = (
        report(&a.join("wse2_ti_doped_adf2_2")),
        report(&b.join("wse2_ti_doped_adf2_2")),
    );
    for key in [
        "atoms",
        "vacancies",
        "summary",
        "polymorph",
        "carbon",
        "lattice",
    ] {
        assert_eq!(ra[key], rb[key], "{key} differs between DM4 and TIFF");
    }
    assert!(!ra["atoms"].as_array().unwrap().is_empty());
    assert_eq!(
        ra["image"]["pixel_size_angstrom"],
        rb["image"]["pixel_size_angstrom"]
    );
}

#[test]
fn every_real_image_reports_its_lattice_constant() {
    let Some(dir) = shared("README.md").map(|p| p.parent().unwrap().join("real")) else {
        return;
    };
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("tif") | Some("dm4") | Some("emd")
            )
        })
        .collect();
    inputs.sort();
    let out = tempfile::tempdir().unwrap();
    for input in &inputs {
        // The Cr-doped WSe2 TIFF has no calibration: its lattice gives it.
        let uncalibrated = read_image(input).unwrap().frames[0]
            .pixel_size_angstrom
            .is_none();
        let mut args = vec![
            "analyze",
            input.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ];
        if uncalibrated {
            args.extend(["--pixel-size", "lattice"]);
        }
        let name = input.file_name().unwrap().to_string_lossy().to_lowercase();
        args.extend([
            "--chemistry",
            if name.contains("ws2") { "WS2" } else { "WSe2" },
        ]);
        let o = stemsight(&args);
        assert!(
            o.status.success(),
            "{}: {}",
            input.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let r = report(&out.path().join(input.file_stem().unwrap()));
        let a = r["lattice"]["a_angstrom"].as_f64();
        let px = r["image"]["pixel_size_angstrom"].as_f64().unwrap();
        eprintln!(
            "{}: {:.4} Å/px ({}), a = {a:?} Å, lattice implies {:?} Å/px",
            input.display(),
            px,
            r["image"]["pixel_size_source"],
            r["lattice"]["implied_pixel_size_angstrom"].as_f64()
        );
        assert!(
            a.is_some_and(|a| a > 2.5 && a < 4.0),
            "{}: a = {a:?}",
            input.display()
        );
    }
}

#[test]
fn a_calibration_five_percent_off_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    simulate(&sim, "MoS2", 0.1, 21);
    let right = dir.path().join("right.tif");
    let wrong = dir.path().join("wrong.tif");
    recalibrated(&sim, &right, Some(0.1));
    recalibrated(&sim, &wrong, Some(0.105));
    let out = dir.path().join("out");
    let o = stemsight(&[
        "analyze",
        right.to_str().unwrap(),
        wrong.to_str().unwrap(),
        "--chemistry",
        "MoS2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let r = report(&out.join("right"));
    assert_eq!(
        r["lattice"]["calibration_suspect"], false,
        "{}",
        r["lattice"]
    );
    let a = r["lattice"]["a_angstrom"].as_f64().unwrap();
    assert!((a / 3.16 - 1.0).abs() < 0.01, "a = {a}");
    let r = report(&out.join("wrong"));
    assert_eq!(
        r["lattice"]["calibration_suspect"], true,
        "{}",
        r["lattice"]
    );
    let implied = r["lattice"]["implied_pixel_size_angstrom"]
        .as_f64()
        .unwrap();
    assert!((implied / 0.1 - 1.0).abs() < 0.01, "implied {implied}");
    assert!(
        stdout.contains("warning: the columns' lattice constant"),
        "{stdout}"
    );
}

#[test]
fn the_lattice_calibrates_an_uncalibrated_image_of_each_chemistry() {
    let dir = tempfile::tempdir().unwrap();
    for (k, (chemistry, px)) in [
        ("MoS2", 0.1),
        ("WS2", 0.13),
        ("MoSe2", 0.085),
        ("WSe2", 0.16),
    ]
    .into_iter()
    .enumerate()
    {
        let sim = dir.path().join(chemistry);
        simulate(&sim, chemistry, px, 40 + k as u64);
        let bare = dir.path().join(format!("{chemistry}.tif"));
        recalibrated(&sim, &bare, None);
        let out = dir.path().join("out");
        let o = stemsight(&[
            "analyze",
            bare.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            !o.status.success(),
            "an uncalibrated image needs a pixel size"
        );
        let o = stemsight(&[
            "analyze",
            bare.to_str().unwrap(),
            "--pixel-size",
            "lattice",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            !o.status.success(),
            "lattice calibration needs the chemistry"
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains("--chemistry"));
        let o = stemsight(&[
            "analyze",
            bare.to_str().unwrap(),
            "--pixel-size",
            "lattice",
            "--chemistry",
            chemistry,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r = report(&out.join(chemistry));
        let got = r["image"]["pixel_size_angstrom"].as_f64().unwrap();
        eprintln!(
            "{chemistry}: true {px} Å/px, lattice {got:.5} Å/px ({:+.2} %), spectrum {:?}",
            (got / px - 1.0) * 100.0,
            r["lattice"]["spectrum_pixel_size_angstrom"].as_f64()
        );
        assert_eq!(r["image"]["pixel_size_source"], "lattice");
        assert!((got / px - 1.0).abs() < 0.01, "{chemistry}: {got} vs {px}");
    }
}
