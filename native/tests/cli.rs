//! The `stemsight simulate` and `stemsight dataset` commands, as pipelines call them.

use std::path::Path;

mod common;
use common::{analyze, small_image, stemsight};

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

#[test]
fn absurd_settings_are_refused_at_once_with_their_range() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("never-read.tif");
    std::fs::write(&image, b"not even read").unwrap();
    for (flag, value) in [
        ("--carbon-smoothing", "1e9"),
        ("--polymorph-smoothing", "1e9"),
        ("--threads", "100000"),
        ("--atom-threshold", "2"),
        ("--carbon-threshold", "-1"),
        ("--vacancy-threshold", "NaN"),
        ("--tasks", ","),
    ] {
        let t0 = std::time::Instant::now();
        let arg = format!("{flag}={value}");
        let o = stemsight(&[
            "analyze",
            image.to_str().unwrap(),
            &arg,
            "--out",
            dir.path().join("out").to_str().unwrap(),
        ]);
        let elapsed = t0.elapsed().as_secs_f64();
        assert!(!o.status.success(), "{flag} {value} accepted");
        let stderr = String::from_utf8_lossy(&o.stderr);
        let name = flag.trim_start_matches("--");
        assert!(
            stderr.contains(name) || (name == "tasks" && stderr.contains("no task")),
            "{flag} {value}: {stderr}"
        );
        assert!(elapsed < 1.0, "{flag} {value} took {elapsed:.2} s");
        assert!(
            !dir.path().join("out").exists(),
            "nothing written for {flag}"
        );
    }
}

/// Asserts that `dir` is one whole analysis: every file there, `report.json` parses and
/// its atom and vacancy lists have one row each in the CSVs. Returns the report's text.
fn assert_whole(dir: &Path) -> String {
    for f in [
        "report.json",
        "atoms.csv",
        "vacancies.csv",
        "polymorph.tif",
        "polymorph_probability.tif",
        "carbon.tif",
        "overlay.png",
    ] {
        assert!(dir.join(f).is_file(), "{}: {f} missing", dir.display());
    }
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (list, csv) in [("atoms", "atoms.csv"), ("vacancies", "vacancies.csv")] {
        let rows = std::fs::read_to_string(dir.join(csv))
            .unwrap()
            .lines()
            .count();
        assert_eq!(
            rows,
            r[list].as_array().unwrap().len() + 1,
            "{}: {csv} does not match report.json",
            dir.display()
        );
    }
    text
}

/// Hidden `.<name>.tmp-…` / `.<name>.old-…` folders in `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && (n.contains(".tmp-") || n.contains(".old-")))
        .collect()
}

/// The pid of a process that has ended (and been reaped).
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stemsight"))
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// A partial folder as a killed writer leaves it: half an atoms.csv, no report.
fn partial_folder(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("atoms.csv"), "x,y,x_A,y_A,site\n12.5,3").unwrap();
}

/// Runs after interrupted writes, staged by hand at each point a kill can stop a
/// replacement, end with the destination one whole analysis (old or new, never a mix)
/// and no leftovers; `--skip-existing` keeps only folders with a report.
#[test]
fn analyze_recovers_from_interrupted_writes() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("sample.tif");
    std::fs::copy(small_image(dir.path(), "sim", 11), &image).unwrap();
    let out = dir.path().join("out");
    let res = out.join("sample");
    let run = |skip: bool| {
        let mut args = vec![
            "analyze",
            image.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        if skip {
            args.push("--skip-existing");
        }
        let o = stemsight(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    run(false);
    let first = assert_whole(&res);
    let dead = dead_pid();

    // Killed while writing the replacement: a partial temporary folder. A live
    // process's temporary folder (this test's pid) is another writer's: left alone.
    partial_folder(&out.join(format!(".sample.tmp-{dead}-0")));
    let live = out.join(format!(".sample.tmp-{}-0", std::process::id()));
    partial_folder(&live);
    let stdout = run(true);
    assert!(stdout.contains("already analyzed, skipped"), "{stdout}");
    assert_eq!(
        assert_whole(&res),
        first,
        "a skipped result must stay as it was"
    );
    assert_eq!(
        leftovers(&out),
        vec![live.file_name().unwrap().to_string_lossy()]
    );
    std::fs::remove_dir_all(&live).unwrap();

    // Killed between the two renames: the old result moved aside, the new one complete
    // or not in its temporary folder. The old one is put back, not lost.
    let stage_between_renames = || {
        std::fs::rename(&res, out.join(format!(".sample.old-{dead}-3"))).unwrap();
        partial_folder(&out.join(format!(".sample.tmp-{dead}-4")));
    };
    stage_between_renames();
    let stdout = run(true);
    assert!(stdout.contains("already analyzed, skipped"), "{stdout}");
    assert_eq!(
        assert_whole(&res),
        first,
        "the old result must come back as it was"
    );
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));

    // The same without --skip-existing: analyzed again, and the folder is replaced
    // whole (a file only the old folder had does not survive into the new one).
    stage_between_renames();
    std::fs::write(out.join(format!(".sample.old-{dead}-3/stray.txt")), "old").unwrap();
    run(false);
    assert_whole(&res);
    assert!(!res.join("stray.txt").exists(), "old and new folders mixed");
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));

    // Killed after the new folder went into place, while the old one was being deleted.
    std::fs::create_dir(out.join(format!(".sample.old-{dead}-5"))).unwrap();
    std::fs::write(out.join(format!(".sample.old-{dead}-5/atoms.csv")), "x,y\n").unwrap();
    let before = assert_whole(&res);
    run(true);
    assert_eq!(assert_whole(&res), before);
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));

    // A folder without report.json (an older version's interrupted write) is not a
    // result: --skip-existing analyzes it again.
    std::fs::remove_dir_all(&res).unwrap();
    partial_folder(&res);
    std::fs::write(res.join("report.json.partial"), "{\"atoms\": [").unwrap();
    let stdout = run(true);
    assert!(!stdout.contains("skipped"), "{stdout}");
    assert_whole(&res);
    assert!(!res.join("report.json.partial").exists());
}

/// Killed with SIGKILL (or TerminateProcess) mid-batch, first while creating results and
/// then while replacing them: every destination is a whole analysis or absent (then
/// with its previous result waiting as `.old-…`), and a `--skip-existing` rerun
/// completes the batch with no leftovers.
#[test]
fn analyze_killed_mid_batch_leaves_whole_folders() {
    let dir = tempfile::tempdir().unwrap();
    let image = small_image(dir.path(), "sim", 12);
    let inputs: Vec<String> = (0..24)
        .map(|k| {
            let p = dir.path().join(format!("c{k:02}.tif"));
            std::fs::copy(&image, &p).unwrap();
            p.to_string_lossy().into_owned()
        })
        .collect();
    let out = dir.path().join("out");
    let args = |skip: bool| {
        let mut a = vec!["analyze".to_string()];
        a.extend(inputs.iter().cloned());
        a.extend(["--out".into(), out.to_string_lossy().into_owned()]);
        if skip {
            a.push("--skip-existing".into());
        }
        a
    };
    // Starts a batch and kills it as soon as `seen` holds for the output folder.
    let kill_when = |seen: &dyn Fn(&[String], u32) -> bool| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stemsight"))
            .args(args(false))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t0 = std::time::Instant::now();
        loop {
            let names: Vec<String> = std::fs::read_dir(&out)
                .map(|d| {
                    d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            if seen(&names, child.id()) || child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(t0.elapsed().as_secs() < 120, "the batch never got there");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let _ = child.kill();
        child.wait().unwrap();
    };
    let check = |replacing: bool| {
        let mut whole = 0;
        for k in 0..24 {
            let name = format!("c{k:02}");
            let res = out.join(&name);
            if res.exists() {
                assert_whole(&res);
                whole += 1;
            } else if replacing {
                // Only between the two renames: the previous result waits aside.
                let old: Vec<String> = leftovers(&out)
                    .into_iter()
                    .filter(|n| n.starts_with(&format!(".{name}.old-")))
                    .collect();
                assert_eq!(old.len(), 1, "{name} lost: {:?}", leftovers(&out));
                assert_whole(&out.join(&old[0]));
            }
        }
        whole
    };
    let finish = || {
        let o = stemsight(&args(true).iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for k in 0..24 {
            assert_whole(&out.join(format!("c{k:02}")));
        }
        assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };

    // Creating: killed once the first result folder is in place.
    kill_when(&|names, _| names.iter().any(|n| !n.starts_with('.')));
    let whole = check(false);
    let stdout = finish();
    assert_eq!(stdout.matches("already analyzed, skipped").count(), whole);

    // Replacing: killed as soon as this run writes a replacement.
    kill_when(&|names, pid| names.iter().any(|n| n.contains(&format!(".tmp-{pid}-"))));
    check(true);
    finish();
}

/// Writes `frames` (96×96 each) as a float32 TIFF stack without calibration.
fn write_stack(path: &Path, frames: &[Vec<f32>]) {
    use tiff::encoder::{colortype, TiffEncoder};
    let mut enc = TiffEncoder::new(std::fs::File::create(path).unwrap()).unwrap();
    for f in frames {
        enc.write_image::<colortype::Gray32Float>(96, 96, f)
            .unwrap();
    }
}

/// In a stack each frame is its own unit: a bad frame is one stderr line naming the
/// file and frame, the others are analyzed, the run fails; `--skip-existing` keeps the
/// finished frames and tries the bad one again, and skips a finished stack unread.
#[test]
fn analyze_stack_frames_are_separate_units() {
    let dir = tempfile::tempdir().unwrap();
    let a = read_tiff_f32(&small_image(dir.path(), "a", 21)).2;
    let b = read_tiff_f32(&small_image(dir.path(), "b", 22)).2;
    let stack = dir.path().join("stack.tif");
    write_stack(&stack, &[a.clone(), vec![f32::NAN; 96 * 96], b.clone()]);
    let out = dir.path().join("out");
    let run = |input: &Path| {
        let o = stemsight(&[
            "analyze",
            input.to_str().unwrap(),
            "--pixel-size",
            "0.1",
            "--skip-existing",
            "--out",
            out.to_str().unwrap(),
        ]);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (o.status.success(), text(&o.stdout), text(&o.stderr))
    };
    let frame_lines = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter(|l| l.contains("[frame"))
            .map(str::to_string)
            .collect()
    };
    let res = out.join("stack");

    let (ok, stdout, stderr) = run(&stack);
    assert!(!ok, "a bad frame must fail the run");
    let bad = frame_lines(&stderr);
    assert_eq!(bad.len(), 1, "{stderr}");
    assert!(
        bad[0].contains("stack.tif [frame 1]") && bad[0].contains("NaN"),
        "{stderr}"
    );
    assert!(
        stdout.contains("[frame 0]") && stdout.contains("[frame 2]"),
        "{stdout}"
    );
    let first = assert_whole(&res.join("frame-0000"));
    let third = assert_whole(&res.join("frame-0002"));
    assert!(!res.join("frame-0001").exists());
    let r: serde_json::Value = serde_json::from_str(&third).unwrap();
    assert_eq!(
        (r["image"]["frame"].as_u64(), r["image"]["frames"].as_u64()),
        (Some(2), Some(3))
    );

    // Rerun: the two finished frames are skipped (and say so), the bad one fails again.
    let (ok, stdout, stderr) = run(&stack);
    assert!(!ok);
    for f in [0, 2] {
        assert!(
            stdout.contains(&format!(
                "[frame {f}] {}: already analyzed, skipped",
                stack.display()
            )),
            "{stdout}"
        );
    }
    let bad = frame_lines(&stderr);
    assert_eq!(bad.len(), 1, "{stderr}");
    assert!(bad[0].contains("stack.tif [frame 1]"), "{stderr}");
    assert_eq!(assert_whole(&res.join("frame-0000")), first);
    assert_eq!(assert_whole(&res.join("frame-0002")), third);

    // Once every frame is done the stack is skipped without being read again.
    let good = dir.path().join("good.tif");
    write_stack(&good, &[a, b]);
    let (ok, _, stderr) = run(&good);
    assert!(ok, "{stderr}");
    std::fs::write(&good, b"II*\0no longer a stack").unwrap();
    let (ok, stdout, stderr) = run(&good);
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout.matches("already analyzed, skipped").count(),
        2,
        "{stdout}"
    );
}

/// The CLI's flags and defaults are the engine's settings (`analysis::settings`, which the
/// Java binding and the plugin read through JNI): every numeric setting appears under its
/// flag with the engine's default, and so do the refinement and the task list.
#[test]
fn cli_defaults_are_the_engines_settings() {
    let o = stemsight(&["analyze", "--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout).replace('\n', " ");
    // One entry per flag: from "--flag" to the next "  --".
    let entry = |flag: &str| -> String {
        let start = help
            .find(&format!("--{flag} "))
            .unwrap_or_else(|| panic!("--{flag} missing from the CLI help"));
        let rest = &help[start + 2..];
        rest[..rest.find("  --").unwrap_or(rest.len())].to_string()
    };
    let settings = stemsight::analysis::settings();
    for r in settings["ranges"].as_array().unwrap() {
        let flag = r["flag"].as_str().unwrap();
        let default = r["default"].as_f64().unwrap();
        let e = entry(flag);
        let shown: f64 = e
            .split("[default: ")
            .nth(1)
            .and_then(|t| t.split(']').next())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("--{flag}: no default in '{e}'"));
        assert!(
            (shown - default).abs() < 1e-6,
            "--{flag}: CLI {shown}, engine {default}"
        );
    }
    let defaults = &settings["defaults"];
    assert!(entry("refinement").contains(&format!(
        "[default: {}]",
        defaults["refinement"].as_str().unwrap()
    )));
    assert!(entry("tasks").contains(&format!(
        "[default: {}]",
        defaults["tasks"].as_str().unwrap()
    )));
    // Switches that are on by default are turned off by a --no-… flag.
    for (key, flag) in [
        ("carbon_filter", "no-carbon-filter"),
        ("hollow_check", "no-hollow-check"),
        ("line_correction", "no-line-correction"),
    ] {
        assert_eq!(defaults[key].as_bool(), Some(true), "{key}");
        entry(flag);
    }
}

/// Pixel classes of a polymorph map (`polymorph.tif`, truth or result).
fn class_map(path: &Path) -> Vec<u8> {
    stemsight::io::read_image(path)
        .unwrap()
        .frames
        .remove(0)
        .data
        .iter()
        .map(|&v| v as u8)
        .collect()
}

#[test]
fn the_summary_line_names_sites_in_the_chemistry() {
    let dir = tempfile::tempdir().unwrap();
    let image = small_image(dir.path(), "sim", 7);
    let line = |chemistry: &str| {
        let out = dir.path().join(chemistry);
        let o = stemsight(&[
            "analyze",
            image.to_str().unwrap(),
            "--chemistry",
            chemistry,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let mos2 = line("MoS2");
    assert!(
        mos2.contains(" Mo, ") && mos2.contains(" S2 sites") && mos2.contains("VS1 "),
        "{mos2}"
    );
    let wse2 = line("WSe2");
    assert!(
        wse2.contains(" W, ") && wse2.contains(" Se2 sites") && wse2.contains("VSe1 "),
        "{wse2}"
    );
    assert!(
        !wse2.contains(" Mo, ") && !wse2.contains("S2 site"),
        "{wse2}"
    );
}

#[test]
fn declared_polymorphs_restrict_the_map_and_keep_it_true() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let o = stemsight(&[
        "simulate",
        "--polymorph",
        "2H-1L",
        "--second-polymorph",
        "3R-2L",
        "--size",
        "200",
        "--pixel-size",
        "0.2",
        "--dose",
        "1e5",
        "--seed",
        "21",
        "--out",
        sim.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let image = sim.join("image.tif");
    let truth = class_map(&sim.join("polymorph.tif"));
    let run = |name: &str, allowed: &str| {
        let at = dir.path().join(name);
        let r = analyze(&at, &image, &["--polymorphs", allowed]);
        (r, class_map(&at.join("out/image/polymorph.tif")))
    };
    // The two polymorphs that are there: the map matches the truth on the material.
    let (r, map) = run("both", "2H-1L, 3r-2l");
    assert_eq!(
        r["settings"]["polymorphs"],
        serde_json::json!(["2H-1L", "3R-2L"])
    );
    let material: Vec<usize> = (0..truth.len()).filter(|&i| truth[i] > 0).collect();
    let right = material.iter().filter(|&&i| map[i] == truth[i]).count();
    let accuracy = right as f64 / material.len() as f64;
    assert!(accuracy > 0.9, "pixel accuracy {accuracy}");
    // Only the monolayer allowed: no pixel may hold another polymorph.
    let (r, map) = run("mono", "2H-1L");
    assert_eq!(r["settings"]["polymorphs"], serde_json::json!(["2H-1L"]));
    assert!(map.iter().all(|&c| c <= 1), "classes {:?}", {
        let mut c = map.clone();
        c.sort();
        c.dedup();
        c
    });
    let f = &r["polymorph"]["fractions"];
    assert!((f["2H-1L"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{f}");
    // An unknown name fails before any work, naming the known ones.
    let out = dir.path().join("bad");
    let o = stemsight(&[
        "analyze",
        image.to_str().unwrap(),
        "--polymorphs",
        "2H-1L,2H-4L",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("2H-4L") && stderr.contains("3R-3L"),
        "{stderr}"
    );
}
