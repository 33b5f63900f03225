//! The shipped models: each loads in tract, its card's checksum matches the file
//! (and the rdf.yaml says the same), Rust's normalization reproduces Python's on
//! the fixture, and tract reproduces PyTorch's outputs on the fixture within 1e-4.

use std::path::{Path, PathBuf};
use stemsight::network::{sha256_file, Network};

fn model_dirs() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("models/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

#[test]
fn at_least_one_model_is_shipped() {
    assert!(
        !model_dirs().is_empty(),
        "no model directory with model.json under models/"
    );
}

#[test]
fn cards_match_files() {
    for dir in model_dirs() {
        let card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).unwrap())
                .unwrap();
        let file = dir.join(card["file"].as_str().unwrap());
        let digest = sha256_file(&file).unwrap();
        assert_eq!(
            digest,
            card["sha256"].as_str().unwrap(),
            "{}",
            dir.display()
        );
        let rdf = std::fs::read_to_string(dir.join("rdf.yaml")).unwrap();
        assert!(
            rdf.contains(&digest),
            "rdf.yaml of {} lacks the sha256",
            dir.display()
        );
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(
            size <= 20 * 1024 * 1024,
            "{} is {size} bytes (> 20 MB)",
            file.display()
        );
    }
}

#[test]
fn tract_reproduces_pytorch_on_fixture() {
    for dir in model_dirs() {
        let net = Network::load(&dir).unwrap();
        let fixture = dir.join("fixture");
        let (shape, input) = read_npy(&fixture.join("input.npy"));
        let tile = shape[3] as usize;
        // Rust normalization of the raw fixture must equal Python's.
        let (_, raw) = read_npy(&fixture.join("raw.npy"));
        let ours = stemsight::normalize::normalize(&raw, &net.card.input.normalization);
        let worst_norm = ours
            .iter()
            .zip(&input)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst_norm < 1e-5, "normalization differs by {worst_norm}");

        let out = net.run(tile, input).unwrap();
        for (k, name) in net.card.outputs.iter().enumerate() {
            let (_, expected) = read_npy(&fixture.join(format!("expected_{name}.npy")));
            assert_eq!(out[k].len(), expected.len(), "{name}");
            let worst = out[k]
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 1e-4,
                "{}: {name} differs by {worst}",
                dir.display()
            );
        }
    }
}

#[test]
fn checksum_mismatch_is_refused() {
    let dir = &model_dirs()[0];
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, tmp.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    let card = tmp.path().join("model.json");
    let text = std::fs::read_to_string(&card).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["sha256"] = serde_json::json!("0".repeat(64));
    std::fs::write(&card, v.to_string()).unwrap();
    let err = Network::load(tmp.path()).unwrap_err();
    assert_eq!(err.kind, stemsight::ErrorKind::Model);
    assert!(err.message.contains("checksum"), "{}", err.message);
}
