//! The `stemsight simulate` and `stemsight dataset` commands, as pipelines call them.

use std::path::Path;
use std::process::Command;

fn stemsight(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stemsight"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn read_tiff_f32(path: &Path) -> (u32, u32, Vec<f32>, f64) {
    use tiff::decoder::{Decoder, DecodingResult};
    use tiff::tags::Tag;
    let mut d = Decoder::new(std::fs::File::open(path).unwrap()).unwrap();
    let (w, h) = d.dimensions().unwrap();
    let res = match d.get_tag(Tag::XResolution).unwrap() {
        tiff::decoder::ifd::Value::Rational(n, den) => n as f64 / den as f64,
        other => panic!("XResolution must be rational, got {other:?}"),
    };
    let desc = d.get_tag_ascii_string(Tag::ImageDescription).unwrap();
    assert!(
        desc.contains("unit=angstrom"),
        "ImageJ calibration missing: {desc}"
    );
    match d.read_image().unwrap() {
        DecodingResult::F32(v) => (w, h, v, 1.0 / res),
        _ => panic!("image.tif must be float32"),
    }
}

#[test]
fn simulate_writes_the_contract_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s");
    let o = stemsight(&[
        "simulate",
        "--polymorph",
        "2H-1L",
        "--second-polymorph",
        "3R-2L",
        "--size",
        "128",
        "--pixel-size",
        "0.12",
        "--vs1-fraction",
        "0.05",
        "--vs2-fraction",
        "0.02",
        "--dose",
        "1e5",
        "--carbon",
        "0.5",
        "--scan-noise",
        "0.5",
        "--png",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (w, h, data, px) = read_tiff_f32(&out.join("image.tif"));
    assert_eq!((w, h), (128, 128));
    assert!((px - 0.12).abs() < 1e-6, "pixel size read back {px}");
    assert!(data.iter().all(|v| v.is_finite()));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("truth.json")).unwrap()).unwrap();
    assert_eq!(truth["width"], 128);
    assert_eq!(truth["polymorph_classes"][1], "2H-1L");
    assert!(truth["columns"].as_array().unwrap().len() > 50);
    let c = &truth["columns"][0];
    for key in ["x", "y", "site", "layers"] {
        assert!(!c[key].is_null(), "column field {key}");
    }
    assert!(truth["params"]["probe"]["c1_angstrom"].is_number());
    for f in ["polymorph.tif", "carbon.tif", "image.png"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
}

#[test]
fn simulate_refuses_bad_input_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let o = stemsight(&[
        "simulate",
        "--polymorph",
        "4H",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown polymorph"));
    let o = stemsight(&[
        "simulate",
        "--polymorph",
        "1T",
        "--pixel-size",
        "5",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("pixel size"));
}

#[test]
fn dataset_shards_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.json");
    std::fs::write(&cfg, r#"{"size": 64, "shard_size": 3}"#).unwrap();
    let run = |name: &str, threads: &str| {
        let out = dir.path().join(name);
        let o = stemsight(&[
            "dataset",
            "--n",
            "5",
            "--seed",
            "7",
            "--config",
            cfg.to_str().unwrap(),
            "--threads",
            threads,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let a = run("a", "1");
    let b = run("b", "2");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["n"], 5);
    assert_eq!(manifest["shards"].as_array().unwrap().len(), 2);
    for kind in ["image", "polymorph", "carbon", "vacancy", "atoms"] {
        let f = format!("shard-00001.{kind}.npy");
        let bytes = std::fs::read(a.join(&f)).unwrap();
        assert_eq!(
            bytes,
            std::fs::read(b.join(&f)).unwrap(),
            "{f} differs between thread counts"
        );
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[2, 64, 64]);
    }
    let meta = std::fs::read_to_string(a.join("shard-00000.meta.jsonl")).unwrap();
    assert_eq!(meta.lines().count(), 3);
}

/// `stemsight analyze` writes every contract file per input, reads the pixel size
/// from the calibration, finds the shipped models by itself, and keeps going
/// past a bad input while exiting non-zero with a one-line reason.
#[test]
fn analyze_writes_the_contract_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let o = stemsight(&[
        "simulate",
        "--polymorph",
        "2H-1L",
        "--size",
        "160",
        "--pixel-size",
        "0.1",
        "--dose",
        "1e5",
        "--seed",
        "4",
        "--out",
        sim.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let bad = dir.path().join("broken.tif");
    std::fs::write(&bad, b"II*\0garbage").unwrap();
    let out = dir.path().join("out");
    let image = sim.join("image.tif");
    let o = stemsight(&[
        "analyze",
        image.to_str().unwrap(),
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success(), "a broken input must fail the run");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("broken.tif"), "{stderr}");
    let res = out.join("image");
    for f in [
        "report.json",
        "atoms.csv",
        "vacancies.csv",
        "polymorph.tif",
        "carbon.tif",
        "overlay.png",
    ] {
        assert!(res.join(f).is_file(), "{f} missing");
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(res.join("report.json")).unwrap()).unwrap();
    for key in [
        "tool_version",
        "models",
        "image",
        "atoms",
        "vacancies",
        "polymorph",
        "carbon",
        "summary",
        "timing_ms",
    ] {
        assert!(r.get(key).is_some(), "report lacks {key}");
    }
    assert!((r["image"]["pixel_size_angstrom"].as_f64().unwrap() - 0.1).abs() < 1e-6);
    for key in [
        "n_mo",
        "n_s2_sites",
        "n_vs1",
        "n_vs2",
        "vs_per_s2_site",
        "missing_s_per_s2_site",
        "vacancies_per_nm2",
        "analyzed_area_nm2",
        "excluded_area_nm2",
    ] {
        assert!(r["summary"].get(key).is_some(), "summary lacks {key}");
    }
    let atom = &r["atoms"][0];
    for key in [
        "x",
        "y",
        "x_A",
        "y_A",
        "site",
        "intensity",
        "normalized_intensity",
    ] {
        assert!(atom.get(key).is_some(), "atom lacks {key}");
    }
    assert!(r["atoms"].as_array().unwrap().len() > 40);
    assert!(r["timing_ms"]["total"].as_f64().unwrap() > 0.0);
    let csv = std::fs::read_to_string(res.join("atoms.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        r["atoms"].as_array().unwrap().len() + 1
    );

    // Without calibration and without --pixel-size: refused with a clear message.
    let png = dir.path().join("plain.png");
    let o = stemsight(&[
        "simulate",
        "--polymorph",
        "2H-1L",
        "--size",
        "64",
        "--seed",
        "1",
        "--png",
        "--out",
        dir.path().join("p").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    std::fs::copy(dir.path().join("p/image.png"), &png).unwrap();
    let o = stemsight(&[
        "analyze",
        png.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--pixel-size"));
    let o = stemsight(&[
        "analyze",
        png.to_str().unwrap(),
        "--pixel-size",
        "0.1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `--device cuda` where CUDA cannot be used (no `cuda` feature, driver, cuDNN or GPU)
/// warns once on stderr and gives the same results as `--device cpu`.
#[test]
fn analyze_on_cuda_falls_back_to_cpu() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/mos2_2H-1L.tif");
    let dir = tempfile::tempdir().unwrap();
    let run = |device: &str| {
        let out = dir.path().join(device);
        let o = stemsight(&[
            "analyze",
            sample.to_str().unwrap(),
            "--device",
            device,
            "--out",
            out.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "--device {device}: {stderr}");
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("mos2_2H-1L/report.json")).unwrap(),
        )
        .unwrap();
        (stderr, report)
    };
    let (cpu_err, cpu) = run("cpu");
    let (cuda_err, cuda) = run("cuda");
    assert!(!cpu_err.contains("CUDA"), "{cpu_err}");
    if stemsight::cuda_status().is_err() {
        let warnings: Vec<&str> = cuda_err.lines().filter(|l| l.contains("CUDA")).collect();
        assert_eq!(warnings.len(), 1, "{cuda_err}");
        assert!(
            warnings[0].starts_with("warning: CUDA unavailable (")
                && warnings[0].ends_with("); running on CPU"),
            "{cuda_err}"
        );
    }
    for key in ["n_mo", "n_s2_sites", "n_vs1", "n_vs2"] {
        assert_eq!(cpu["summary"][key], cuda["summary"][key], "summary.{key}");
    }
    for list in ["atoms", "vacancies"] {
        assert_eq!(
            cpu[list].as_array().unwrap().len(),
            cuda[list].as_array().unwrap().len(),
            "{list}"
        );
    }

    let o = stemsight(&[
        "analyze",
        sample.to_str().unwrap(),
        "--device",
        "tpu",
        "--out",
        dir.path().join("tpu").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown device 'tpu'"));
}
