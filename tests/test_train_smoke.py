"""Smoke test of the PyTorch training pipeline in scripts/train/.

Builds a tiny fake dataset in the `stemsight dataset` format, trains 3 steps on
CPU, exports ONNX at tile 64 and checks onnxruntime against torch.
"""

import csv
import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[1]
TRAIN_DIR = ROOT / "scripts" / "train"
sys.path.insert(0, str(TRAIN_DIR))

from data import StemDataset, atom_heatmaps, normalize, random_floor_clip  # noqa: E402
from export_onnx import Probabilities, load_checkpoint  # noqa: E402
from heads import HEADS, POLYMORPH_CLASSES  # noqa: E402
from model import ResBlock, ResUNet, seed_paper_config  # noqa: E402

torch.set_num_threads(1)
HEAD_NAMES = ["atoms", "vacancy", "polymorph", "carbon"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def make_dataset(out, n, size, seed, shard_sizes):
    """Fake `stemsight dataset` output. Labels are built from the same columns
    as the image so augmentation consistency can be checked: bright image
    blobs = atom columns = polymorph class 1 disks; carbon > 0 exactly on the
    vacancy disks."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    shards, k = [], 0
    for s, ns in enumerate(shard_sizes):
        prefix = f"shard-{s:05d}"
        arr = {
            "image": np.zeros((ns, size, size), np.float32),
            "polymorph": np.zeros((ns, size, size), np.uint8),
            "carbon": np.zeros((ns, size, size), np.float32),
            "vacancy": np.zeros((ns, size, size), np.uint8),
            "atoms": np.zeros((ns, size, size), np.uint8),
        }
        metas = []
        for i in range(ns):
            ps = float(rng.uniform(0.08, 0.12))
            ncol = 6
            cx = rng.uniform(4, size - 4, ncol)
            cy = rng.uniform(4, size - 4, ncol)
            metal = np.arange(ncol) % 2 == 0
            img = np.zeros((size, size))
            for x, y, m in zip(cx, cy, metal):
                d2 = (xx - x) ** 2 + (yy - y) ** 2
                img += (1.0 if m else 0.6) * np.exp(-d2 / (2 * 3.0**2))
                arr["atoms"][i][d2 <= (0.5 / ps) ** 2] = 1 if m else 2
                arr["polymorph"][i][d2 <= 4.0**2] = 1
            vac = []
            for t, (x, y) in enumerate(zip(rng.uniform(8, size - 8, 2), rng.uniform(8, size - 8, 2))):
                disk = (xx - x) ** 2 + (yy - y) ** 2 <= (0.95 / ps) ** 2
                arr["vacancy"][i][disk] = t + 1
                arr["carbon"][i][disk] = 5.0
                vac.append({"x": float(x), "y": float(y), "type": f"VS{t + 1}"})
            gain, offset = rng.uniform(10, 50), rng.uniform(-5, 100)
            arr["image"][i] = (gain * (img + 0.05 * rng.standard_normal(img.shape)) + offset).astype(np.float32)
            cols = [
                {"x": float(x), "y": float(y), "site": "Mo" if m else "S2", "metal": bool(m)}
                for x, y, m in zip(cx, cy, metal)
            ]
            metas.append({"pixel_size_angstrom": ps, "columns": cols, "vacancies": vac, "params": {"k": k}})
            k += 1
        for kind, a in arr.items():
            np.save(out / f"{prefix}.{kind}.npy", a)
        with open(out / f"{prefix}.meta.jsonl", "w") as f:
            f.writelines(json.dumps(m) + "\n" for m in metas)
        shards.append({"prefix": prefix, "n": ns})
    manifest = {"n": n, "seed": seed, "size": [size, size], "classes": POLYMORPH_CLASSES, "shards": shards, "config": {}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("stemsight")
    train = make_dataset(base / "train", 6, 64, 1000, [4, 2])
    val = make_dataset(base / "val", 2, 64, 500000, [2])
    return base, train, val


def run(script, *args):
    cmd = [sys.executable, str(TRAIN_DIR / script), *map(str, args)]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{script} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def test_normalize_matches_documented_formula():
    x = np.random.default_rng(0).gamma(2.0, 10.0, (37, 53)).astype(np.float32) + 3
    lo, med, hi = np.percentile(x.astype(np.float64), [0.5, 50, 99.5])
    np.testing.assert_allclose(normalize(x), (x - med) / (hi - lo), rtol=1e-6, atol=1e-6)
    assert normalize(np.full((8, 8), 5.0, np.float32)).max() == 0.0  # flat image: no division by zero


def test_heatmap_peaks_at_columns():
    heat = atom_heatmaps(np.array([10.3, 40.0]), np.array([20.0, 5.6]), np.array([0, 1]), (48, 64), 4.0)
    assert heat.shape == (2, 48, 64)
    assert heat[0, 20, 10] > 0.99 and heat[1, 6, 40] > 0.99
    assert heat[0].max() <= 1.0 and heat[1, 20, 10] < 1e-3


def test_floor_clip_mimics_background_corrected_frames():
    rng = np.random.default_rng(1)
    img = rng.gamma(3.0, 10.0, (40, 40)).astype(np.float32) + 50
    out = random_floor_clip(img, rng)
    assert out.dtype == np.float32 and out.min() == 0.0
    assert 0.04 <= (out == 0).mean() <= 0.62  # the floor is a 5-60 % percentile
    kept = out > 0
    diff = (img - out)[kept]
    np.testing.assert_allclose(diff, diff[0], rtol=1e-5)  # one constant removed, contrast kept


def test_dataset_targets_and_augmentation_consistency(dirs):
    _, train, _ = dirs
    val_ds = StemDataset([train], HEAD_NAMES, crop=32, train=False, multiple=4)
    item = val_ds[0]
    assert item["image"].shape == (1, 32, 32) and item["image"].dtype == torch.float32
    assert item["atoms"].shape == (2, 32, 32) and item["carbon"].shape == (1, 32, 32)
    assert item["vacancy"].dtype == torch.int64 and item["polymorph"].dtype == torch.int64
    col = val_ds.meta(0)["columns"][0]
    r, c = round(col["y"]) - 16, round(col["x"]) - 16  # centre crop of 64 -> 32 starts at 16
    if 0 <= r < 32 and 0 <= c < 32:
        assert item["atoms"][0 if col["metal"] else 1, r, c] > 0.9

    torch.manual_seed(0)
    ds = StemDataset([train], HEAD_NAMES, crop=64, train=True, intensity=False, multiple=4)
    for i in range(len(ds)):
        it = ds[i]
        img, heat = it["image"][0].numpy(), it["atoms"].max(0).values.numpy()
        assert np.corrcoef(img.ravel(), heat.ravel())[0, 1] > 0.8  # image and heatmap rotated together
        assert ((it["carbon"][0] > 0) == (it["vacancy"] > 0)).all()
        assert it["polymorph"][torch.from_numpy(heat > 0.9)].min() == 1


def test_model_shapes_and_seed_paper():
    cfg = seed_paper_config()
    model = ResUNet(cfg).eval()
    assert sum(isinstance(m, ResBlock) for m in model.modules()) == 5
    assert cfg.width == 32 and cfg.kernel == 7 and len(cfg.heads) == 1
    banned = (torch.nn.Upsample,)
    assert not any(isinstance(m, banned) for m in model.modules())
    with torch.no_grad():
        out = model(torch.zeros(1, 1, 32, 32))
    assert out["atoms"].shape == (1, 2, 32, 32)


def test_train_export_roundtrip(dirs):
    base, train, val = dirs
    runs = base / "run"
    stdout = run(
        "train.py", "--data", train, "--val-data", val, "--heads", ",".join(HEAD_NAMES),
        "--width", 4, "--depth", 2, "--kernel", 3, "--crop", 64, "--batch", 2, "--steps", 3,
        "--lr", 1e-3, "--device", "cpu", "--threads", 1, "--workers", 0, "--out", runs,
        "--seed", 1, "--eval-every", 3, "--log-every", 1,
    )
    assert "done: 3 steps" in stdout
    rows = list(csv.DictReader(open(runs / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert all(math.isfinite(float(r["loss"])) for r in rows)
    assert rows[-1]["val_loss"] and rows[-1]["val_vacancy_f1_VS1"] and rows[-1]["val_carbon_mae_A"]

    ck = torch.load(runs / "best.pt", map_location="cpu")
    assert ck["step"] == 3 and math.isfinite(ck["best_val_loss"])
    assert ck["model_args"]["heads"] == {h: len(HEADS[h].channels) for h in HEAD_NAMES}
    assert (runs / "ckpt.pt").exists()

    export = base / "export"
    fixture = export / "fixture"
    run("export_onnx.py", "--ckpt", runs / "best.pt", "--out", export, "--tile", 64,
        "--fixture", fixture, "--threads", 1)

    onnx_path = export / "model.onnx"
    side = json.loads((export / "model.json").read_text())
    assert side["sha256"] == hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    assert side["tile"] == 64 and side["input"]["axes"] == "bchw"
    assert side["outputs"] == HEAD_NAMES and side["classes"] == POLYMORPH_CLASSES
    assert side["input"]["normalization"]["method"] == "median_percentile_range"
    assert (export / "rdf.yaml").exists()

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == HEAD_NAMES
    assert sess.get_inputs()[0].shape == [1, 1, 64, 64]

    model, _ = load_checkpoint(str(runs / "best.pt"))
    wrapped = Probabilities(model).eval()
    x = np.random.default_rng(7).standard_normal((1, 1, 64, 64)).astype(np.float32)
    with torch.no_grad():
        ref = [t.numpy() for t in wrapped(torch.from_numpy(x))]
    got = sess.run(None, {"input": x})
    for name, a, b in zip(HEAD_NAMES, ref, got):
        assert b.shape == (1, len(HEADS[name].channels), 64, 64)
        np.testing.assert_allclose(b, a, atol=1e-4, rtol=0, err_msg=name)
    np.testing.assert_allclose(got[1].sum(1), 1.0, atol=1e-5)  # vacancy softmax in-graph

    fx = np.load(fixture / "input.npy")
    np.testing.assert_allclose(fx[0, 0], normalize(np.load(fixture / "raw.npy")), atol=0)
    for name, b in zip(HEAD_NAMES, sess.run(None, {"input": fx})):
        np.testing.assert_allclose(b, np.load(fixture / f"expected_{name}.npy"), atol=1e-4, rtol=0)


def test_carbon_above_film_target_and_head_retraining(dirs):
    """The film-relative carbon target drops each sample's uniform film, and
    carbon_head.py retrains only the carbon head (here as a branch) into a
    checkpoint that exports with `above_film` on the card."""
    base, train, val = dirs
    films = base / "films"
    make_dataset(films, 6, 64, 2000, [4, 2])
    for prefix in ("shard-00000", "shard-00001"):
        carbon = np.load(films / f"{prefix}.carbon.npy")
        lines = [json.loads(l) for l in open(films / f"{prefix}.meta.jsonl")]
        for i, m in enumerate(lines):
            film = 0.5 * (i + 1)
            m["params"]["carbon"] = {"film_thickness_angstrom": film}
            carbon[i] += film  # the film lies everywhere, the 5 Å patches on top of it
        np.save(films / f"{prefix}.carbon.npy", carbon)
        with open(films / f"{prefix}.meta.jsonl", "w") as f:
            f.writelines(json.dumps(m) + "\n" for m in lines)

    total = StemDataset([films], ["carbon"], crop=64, train=False)
    above = StemDataset([films], ["carbon"], crop=64, train=False, carbon_above_film=True)
    for i in range(len(above)):
        t, a = total[i]["carbon"], above[i]["carbon"]
        assert t.min() > 0  # the film everywhere
        assert a.min() == 0 and torch.allclose(a.max(), torch.tensor(0.5))  # 5 Å patches / 10 Å scale

    runs = base / "carbon_run"
    run("train.py", "--data", train, "--heads", ",".join(HEAD_NAMES), "--width", 4, "--depth", 2,
        "--kernel", 3, "--crop", 64, "--batch", 2, "--steps", 1, "--device", "cpu", "--threads", 1,
        "--workers", 0, "--out", runs, "--seed", 1, "--eval-every", 1, "--log-every", 1)
    head_run = base / "carbon_head"
    run("carbon_head.py", "--ckpt", runs / "best.pt", "--data", films, "--val-data", films, "--branch", 4,
        "--steps", 2, "--batch", 2, "--crop", 64, "--val-crop", 64, "--val-batches", 1, "--eval-every", 2,
        "--threads", 1, "--out", head_run)
    before = torch.load(runs / "best.pt", map_location="cpu")["model"]
    ck = torch.load(head_run / "best.pt", map_location="cpu", weights_only=False)
    assert ck["carbon_target"] == "above film" and ck["model_args"]["branches"] == {"carbon": 4}
    for k, v in before.items():  # every other weight untouched
        if not k.startswith("heads.carbon."):
            assert torch.equal(v, ck["model"][k]), k

    export = base / "carbon_export"
    run("export_onnx.py", "--ckpt", head_run / "best.pt", "--out", export, "--tile", 64, "--threads", 1)
    side = json.loads((export / "model.json").read_text())
    assert side["heads"]["carbon"]["above_film"] is True
    assert side["architecture"]["branches"] == {"carbon": 4}
    assert set(side["onnx_ops"]) <= {"Add", "Concat", "Conv", "ConvTranspose", "MaxPool", "Relu", "Sigmoid",
                                     "Softmax"}
