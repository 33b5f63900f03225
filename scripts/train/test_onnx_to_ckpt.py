"""onnx_to_ckpt.py and train.py --freeze-bn: the way back from the shipped ONNX to fine-tuning.

Converts models/stemsight-resunet/model.onnx into a train.py checkpoint, checks the
rebuilt PyTorch model against onnxruntime and the fixture (1e-4 per head), that
export_onnx.py exports it again, and that one train.py --init ... --freeze-bn step on
random data leaves every BatchNorm's running statistics as they were (while the
affine parameters and the convs train). One CPU thread, about 15 s.

    python -m pytest scripts/train/test_onnx_to_ckpt.py -q
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TRAIN_DIR = Path(__file__).resolve().parent
ROOT = TRAIN_DIR.parents[1]
SHIPPED = ROOT / "models" / "stemsight-resunet"
sys.path.insert(0, str(TRAIN_DIR))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import onnx_to_ckpt  # noqa: E402
import train  # noqa: E402
from export_onnx import export, load_checkpoint  # noqa: E402
from heads import POLYMORPH_CLASSES  # noqa: E402

torch.set_num_threads(1)
TOL = 1e-4
BN_STATS = ("running_mean", "running_var", "num_batches_tracked")

if not (SHIPPED / "model.onnx").is_file() or (SHIPPED / "model.onnx").stat().st_size < 10_000:
    pytest.skip("shipped model.onnx not present", allow_module_level=True)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx_to_ckpt") / "shipped.pt"
    assert onnx_to_ckpt.main(["--model", str(SHIPPED), "--out", str(out), "--threads", "1"]) == 0
    return out


def random_dataset(out, n=2, size=64, seed=0):
    """Random data in the `stemsight dataset` layout (manifest + one shard)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True)
    shape = (n, size, size)
    np.save(out / "s.image.npy", rng.gamma(2.0, 10.0, shape).astype(np.float32))
    np.save(out / "s.vacancy.npy", rng.integers(0, 3, shape).astype(np.uint8))
    np.save(out / "s.polymorph.npy", rng.integers(0, len(POLYMORPH_CLASSES), shape).astype(np.uint8))
    np.save(out / "s.carbon.npy", rng.uniform(0, 20, shape).astype(np.float32))
    np.save(out / "s.atoms.npy", np.zeros(shape, np.uint8))
    with open(out / "s.meta.jsonl", "w") as f:
        for _ in range(n):
            cols = [{"x": float(x), "y": float(y), "metal": bool(m)}
                    for x, y, m in zip(rng.uniform(0, size, 8), rng.uniform(0, size, 8), rng.random(8) < 0.5)]
            f.write(json.dumps({"pixel_size_angstrom": 0.2, "columns": cols}) + "\n")
    manifest = {"n": n, "seed": seed, "size": [size, size], "classes": POLYMORPH_CLASSES,
                "shards": [{"prefix": "s", "n": n}]}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def fine_tune(ck_path, data, out, *extra):
    a = json.loads(json.dumps(torch.load(ck_path, map_location="cpu", weights_only=False)["model_args"]))
    argv = ["--data", str(data), "--init", str(ck_path), "--heads", ",".join(a["heads"]),
            "--width", a["width"], "--depth", a["depth"], "--kernel", a["kernel"], "--blocks", a["blocks"],
            "--crop", 64, "--batch", 2, "--steps", 1, "--lr", 1e-3, "--warmup", 0, "--device", "cpu",
            "--threads", 1, "--workers", 0, "--out", str(out), "--seed", 3, "--eval-every", 1, *extra]
    train.main([str(v) for v in argv])
    return torch.load(out / "ckpt.pt", map_location="cpu", weights_only=False)["model"]


def bn_prefixes(state):
    return sorted(k[: -len(".running_mean")] for k in state if k.endswith(".running_mean"))


def test_converted_model_reproduces_onnx_and_fixture(shipped):
    ck = torch.load(shipped, map_location="cpu")  # plain types only: export_onnx's torch.load takes it
    card = json.loads((SHIPPED / "model.json").read_text())
    assert set(ck) >= {"model", "model_args", "step", "best_val_loss", "normalization"}
    assert ck["model_args"]["width"] == card["architecture"]["width"]
    assert list(ck["model_args"]["heads"]) == card["outputs"]
    report = ck["converted_from_onnx"]
    assert report["sha256"] == card["sha256"]
    for what in ("max_abs_diff_onnxruntime", "max_abs_diff_fixture"):
        assert set(report[what]) == set(card["outputs"])
        assert all(d <= TOL for d in report[what].values()), (what, report[what])
    for p in bn_prefixes(ck["model"]):  # identity statistics, the folded bias in BN.bias
        assert torch.all(ck["model"][f"{p}.running_mean"] == 0) and torch.all(ck["model"][f"{p}.weight"] == 1)

    # Independently of the converter: the rebuilt model, as export_onnx.py loads it, on the fixture.
    model, _ = load_checkpoint(str(shipped))
    x = torch.from_numpy(np.load(SHIPPED / "fixture" / "input.npy"))
    with torch.no_grad():
        logits = model(x)
    for name in card["outputs"]:
        act = torch.softmax if card["heads"][name]["activation"] == "softmax" else (lambda t, dim: torch.sigmoid(t))
        got = act(logits[name], dim=1).numpy()
        want = np.load(SHIPPED / "fixture" / f"expected_{name}.npy")
        assert np.abs(got - want).max() <= TOL, name


def test_corrupted_graph_fails_loudly(tmp_path):
    """Two same-shape conv weights swapped: shapes still map, the numbers must not."""
    import onnx

    m = onnx.load(SHIPPED / "model.onnx")
    by_name = {n.name: n for n in m.graph.node}
    a = by_name["/model/enc.0/enc.0.0/body/body.4/Conv"]
    b = by_name["/model/dec.2/dec.2.0/body/body.4/Conv"]
    a.input[1], b.input[1] = b.input[1], a.input[1]
    onnx.save(m, tmp_path / "model.onnx")
    card = json.loads((SHIPPED / "model.json").read_text())
    card["sha256"] = onnx_to_ckpt.sha256(tmp_path / "model.onnx")
    (tmp_path / "model.json").write_text(json.dumps(card))
    out = tmp_path / "bad.pt"
    assert onnx_to_ckpt.main(["--model", str(tmp_path), "--fixture", str(SHIPPED / "fixture"),
                              "--out", str(out)]) == 1
    assert not out.exists()


def test_converted_model_exports_again(shipped, tmp_path):
    model, _ = load_checkpoint(str(shipped))
    path = tmp_path / "model.onnx"
    _, ops = export(model, 128, str(path))
    assert "BatchNormalization" not in ops
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    x = np.load(SHIPPED / "fixture" / "input.npy")
    got = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"input": x})
    for name, g in zip(model.head_names, got):
        assert np.abs(g - np.load(SHIPPED / "fixture" / f"expected_{name}.npy")).max() <= TOL, name


def test_freeze_bn_keeps_running_stats(shipped, tmp_path):
    data = random_dataset(tmp_path / "data")
    before = torch.load(shipped, map_location="cpu")["model"]
    after = fine_tune(shipped, data, tmp_path / "frozen", "--freeze-bn")
    prefixes = bn_prefixes(before)
    assert prefixes
    for p in prefixes:
        for s in BN_STATS:
            assert torch.equal(before[f"{p}.{s}"], after[f"{p}.{s}"]), f"{p}.{s} moved under --freeze-bn"
    # The affine BN parameters and the convs still train.
    assert any(not torch.equal(before[f"{p}.bias"], after[f"{p}.bias"]) for p in prefixes)
    assert any(not torch.equal(before[f"{p}.weight"], after[f"{p}.weight"]) for p in prefixes)
    assert not torch.equal(before["enc.0.0.body.0.weight"], after["enc.0.0.body.0.weight"])

    # Control: without the flag the same step replaces the identity statistics.
    free = fine_tune(shipped, data, tmp_path / "free")
    assert any(not torch.equal(before[f"{p}.running_mean"], free[f"{p}.running_mean"]) for p in prefixes)


def test_train_mode_helper():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Dropout(0.5))
    train.train_mode(model, freeze_bn=True)
    assert model.training and model[0].training and model[2].training and not model[1].training
    train.train_mode(model)
    assert model[1].training
