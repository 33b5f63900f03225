//! The shipped models: each loads in tract, its card's checksum matches the file
//! (and the rdf.yaml says the same), Rust's normalization reproduces Python's on
//! the fixture, and tract reproduces PyTorch's outputs on the fixture within 1e-4.
//! A graph that disagrees with its card (names, channel counts, non-finite outputs)
//! is a `Model` error at load, and tiling never indexes past a head's outputs.

use std::path::{Path, PathBuf};
use stemsight::nn::card::sha256_file;
use stemsight::nn::network::Network;

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
        let ours = stemsight::nn::normalize::normalize(&raw, &net.card.input.normalization);
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
    let tmp = copy_model();
    let card = tmp.path().join("model.json");
    let text = std::fs::read_to_string(&card).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["sha256"] = serde_json::json!("0".repeat(64));
    std::fs::write(&card, v.to_string()).unwrap();
    let err = Network::load(tmp.path()).unwrap_err();
    assert_eq!(err.kind, stemsight::ErrorKind::Model);
    assert!(err.message.contains("checksum"), "{}", err.message);
}

/// A copy of the first shipped model's files in a fresh temporary folder.
fn copy_model() -> tempfile::TempDir {
    let dir = &model_dirs()[0];
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, tmp.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    tmp
}

/// Rewrites the copied card through `edit`.
fn edit_card(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let card = dir.join("model.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&card).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&card, v.to_string()).unwrap();
}

/// Loading must fail with a `Model` error naming the ONNX file and containing `what`.
fn assert_refused(dir: &Path, what: &str) -> stemsight::Error {
    let err = Network::load(dir).unwrap_err();
    assert_eq!(err.kind, stemsight::ErrorKind::Model, "{err}");
    assert!(err.message.contains(what), "{err}");
    assert_eq!(err.path.as_deref(), Some(dir.join("model.onnx").as_path()));
    err
}

#[test]
fn shipped_models_pass_the_load_check() {
    for dir in model_dirs() {
        let t0 = std::time::Instant::now();
        let net = Network::load(&dir).unwrap();
        let load = t0.elapsed();
        let mut checks = Vec::new();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            net.verify().unwrap();
            checks.push(t.elapsed().as_secs_f64() * 1e3);
        }
        checks.sort_by(f64::total_cmp);
        eprintln!(
            "{}: load {:.1} ms, of which the card check (names, channels, test pass, weights) \
             takes {:.1} ms (median of 3: {checks:.1?})",
            dir.display(),
            load.as_secs_f64() * 1e3,
            checks[1]
        );
    }
}

#[test]
fn card_with_other_channel_count_is_refused() {
    let tmp = copy_model();
    // Only the card changes, so its sha256 still matches the ONNX file.
    edit_card(tmp.path(), |v| {
        v["heads"]["vacancy"]["channels"] = serde_json::json!(["bg", "VS1", "VS2", "X", "Y"]);
    });
    let err = assert_refused(
        tmp.path(),
        "head 'vacancy' has 3 channels in the graph, 5 in the card",
    );
    eprintln!("{err}");
}

#[test]
fn card_with_other_input_or_output_names_is_refused() {
    let tmp = copy_model();
    edit_card(tmp.path(), |v| {
        v["input"]["name"] = serde_json::json!("image")
    });
    assert_refused(
        tmp.path(),
        "input is named 'input' in the graph, 'image' in the card",
    );

    let tmp = copy_model();
    edit_card(tmp.path(), |v| {
        v["outputs"] = serde_json::json!(["vacancy", "atoms", "polymorph", "carbon"])
    });
    assert_refused(
        tmp.path(),
        "outputs are [\"atoms\", \"vacancy\", \"polymorph\", \"carbon\"] in the graph",
    );

    let tmp = copy_model();
    edit_card(tmp.path(), |v| {
        let heads = v["heads"].as_object_mut().unwrap();
        let carbon = heads.remove("carbon").unwrap();
        heads.insert("thickness".into(), carbon);
    });
    assert_refused(tmp.path(), "output 'carbon' has no head in the card");
}

/// The ONNX file with every weight of the convolution that feeds `output` set to NaN
/// (its raw little-endian floats patched in place, so the protobuf stays valid).
fn nan_weights(onnx: &Path, output: &str) -> String {
    use tract_onnx::prelude::Framework;
    let proto = tract_onnx::onnx().proto_model_for_path(onnx).unwrap();
    let graph = proto.graph.as_ref().unwrap();
    let producer = |t: &str| {
        graph
            .node
            .iter()
            .find(|n| n.output.iter().any(|o| o == t))
            .unwrap_or_else(|| panic!("nothing computes '{t}'"))
    };
    let mut node = producer(output);
    while node.op_type != "Conv" {
        node = producer(&node.input[0]);
    }
    let weights = &node.input[1];
    let init = graph
        .initializer
        .iter()
        .find(|t| &t.name == weights)
        .unwrap();
    let raw: &[u8] = &init.raw_data;
    assert!(raw.len() >= 16, "'{weights}' has no raw float data");
    let mut bytes = std::fs::read(onnx).unwrap();
    let at: Vec<usize> = bytes
        .windows(raw.len())
        .enumerate()
        .filter(|(_, w)| *w == raw)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "the raw data of '{weights}' is not unique");
    for chunk in bytes[at[0]..at[0] + raw.len()].chunks_exact_mut(4) {
        chunk.copy_from_slice(&f32::NAN.to_le_bytes());
    }
    std::fs::write(onnx, bytes).unwrap();
    weights.clone()
}

/// A copy of the shipped model whose `head` convolution has NaN weights, with a card
/// whose checksum matches the patched file: only the load check can catch it.
fn model_with_nan_weights(head: &str) -> (tempfile::TempDir, String) {
    let tmp = copy_model();
    let onnx = tmp.path().join("model.onnx");
    let weights = nan_weights(&onnx, head);
    let digest = sha256_file(&onnx).unwrap();
    edit_card(tmp.path(), |v| v["sha256"] = serde_json::json!(digest));
    (tmp, weights)
}

#[test]
fn nan_weights_are_refused() {
    // Softmax heads pass NaN on: the test pass sees it.
    let (tmp, weights) = model_with_nan_weights("vacancy");
    let err = assert_refused(
        tmp.path(),
        "non-finite outputs: head 'vacancy' gives 3072 NaN or infinite values of 3072",
    );
    eprintln!("NaN in '{weights}': {err}");
    // tract's sigmoid clamps its input, so NaN weights before it give saturated,
    // finite maps (the "100 % contaminated" report): the weights themselves are checked.
    let (tmp, weights) = model_with_nan_weights("carbon");
    let err = assert_refused(
        tmp.path(),
        &format!("non-finite weights: initializer '{weights}' holds 24 NaN"),
    );
    eprintln!("NaN in '{weights}': {err}");
}

/// Even a card edited after load (so the load check passed) never makes tiling
/// index past a head's outputs: the run is a `Model` error, not a panic.
#[test]
fn tiling_refuses_outputs_that_disagree_with_the_card() {
    use stemsight::nn::tiling::{run_tiled, TilePlan};
    let mut net = Network::load(&model_dirs()[0]).unwrap();
    let (w, h) = (80, 70);
    let image: Vec<f32> = (0..w * h).map(|i| ((i % 13) as f32 - 6.0) * 0.1).collect();
    let plan = TilePlan::choose(w, h, 16, &[64]).unwrap();
    let ok = run_tiled(&net, &image, &plan, false, 1, &|_, _| true).unwrap();
    assert_eq!(ok.head("vacancy").unwrap().channels, 3);

    let vacancy = net.card.heads.get_mut("vacancy").unwrap();
    vacancy.channels.extend(["X".to_string(), "Y".to_string()]);
    for views in [1, 2] {
        let err = run_tiled(&net, &image, &plan, true, views, &|_, _| true).unwrap_err();
        assert_eq!(err.kind, stemsight::ErrorKind::Model, "{err}");
        assert!(
            err.message
                .contains("head 'vacancy' has 3 channels in the graph, 5 in the card"),
            "{err}"
        );
    }
    // Outputs from any backend are checked the same way before they are copied.
    let t = 64;
    let short: Vec<Vec<f32>> = [2, 3, 7, 1].iter().map(|c| vec![0.0; c * t * t]).collect();
    let err = net.check_output(t, &short).unwrap_err();
    assert_eq!(err.kind, stemsight::ErrorKind::Model, "{err}");
    assert!(err.message.contains("head 'vacancy' returned"), "{err}");
}
