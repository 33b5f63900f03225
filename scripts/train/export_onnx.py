"""Export a checkpoint to ONNX for the Rust (tract) inference engine.

    python scripts/train/export_onnx.py --ckpt runs/r1/best.pt --out models/r1 --tile 256 \
        --fixture models/r1/fixture

Writes OUT/model.onnx (opset 17, input "input" [1,1,T,T], one output per head
named after it, softmax/sigmoid applied in-graph so outputs are
probabilities), OUT/model.json (sidecar: normalization, heads, classes,
training provenance, sha256 of model.onnx), OUT/rdf.yaml (bioimage.io-style
description) and OUT/doc.md. --fixture DIR adds raw.npy, input.npy and
expected_<head>.npy for a Rust-side reproduction test.
"""

import argparse
import copy
import datetime
import hashlib
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import yaml

from data import NORMALIZATION, normalize, read_manifest
from heads import CARBON_SCALE_A, HEADS, POLYMORPH_CLASSES
from losses import finite_or_none
from model import ResUNet, activate, config_from_dict, count_params

OPSET = 17
CARBON_ABOVE_FILM_TARGET = (
    f"clip((thickness_A - film_A) / {CARBON_SCALE_A}, 0, 1): carbon above the sample's uniform 0-4 A film "
    "(patches; carbon_head.py or train.py --carbon-above-film), loss = BCE on the soft target; "
    f"output * {CARBON_SCALE_A} = patch thickness in A (saturates at {CARBON_SCALE_A} A)"
)
TOLERANCE = 1e-4


class Probabilities(nn.Module):
    """Model + per-head activation, returning a tuple in head order (ONNX outputs)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        logits = self.model(x)
        return tuple(activate(h, logits[h], HEADS) for h in self.model.head_names)


def load_checkpoint(path):
    if os.path.isdir(path):
        path = os.path.join(path, "best.pt")
    ck = torch.load(path, map_location="cpu")
    model = ResUNet(config_from_dict(ck["model_args"]))
    model.load_state_dict(ck["model"])
    model.eval()  # BN uses running stats, so the exporter folds it into the convs
    return model, ck


def export(model, tile, path):
    wrapped = Probabilities(model).eval()
    x = torch.zeros(1, 1, tile, tile)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated but needs no onnxscript and
        # gives a plain, fully constant-folded graph that tract handles well.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped, (x,), path, dynamo=False, opset_version=OPSET, do_constant_folding=True,
            input_names=["input"], output_names=list(model.head_names),
        )
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    if "BatchNormalization" in ops:
        raise RuntimeError("BatchNormalization left in the graph; export from model.eval()")
    return wrapped, ops


def torch_outputs(wrapped, x):
    with torch.no_grad():
        return [t.numpy() for t in wrapped(torch.from_numpy(x))]


def ort_outputs(path, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = torch.get_num_threads()
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})


def check_match(names, ref, got, what):
    worst = {}
    for n, a, b in zip(names, ref, got):
        if a.shape != b.shape:
            raise RuntimeError(f"{what}: {n} shape {b.shape} != {a.shape}")
        worst[n] = float(np.abs(a - b).max())
    bad = {n: d for n, d in worst.items() if not d <= TOLERANCE}
    if bad:
        raise RuntimeError(f"{what}: onnxruntime differs from torch by more than {TOLERANCE}: {bad}")
    return worst


def synthetic_haadf(size, seed=0, pixel_size=0.1):
    """A plausible raw image (2H-MoS2-like honeycomb, offset, gain, noise) so the
    fixture exercises normalization with realistic statistics."""
    rng = np.random.default_rng(seed)
    a = 3.16 / pixel_size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.zeros((size, size))
    a1, a2 = np.array([a, 0.0]), np.array([a / 2, a * np.sqrt(3) / 2])
    n = int(size / a) + 3
    i, j = np.meshgrid(np.arange(-n, n), np.arange(-n, n))
    base = i.ravel()[:, None] * a1 + j.ravel()[:, None] * a2
    for shift, z in (((0.0, 0.0), 1.0), ((a / 2, a / (2 * np.sqrt(3))), 0.6)):  # Mo, S2
        pts = base + shift
        pts = pts[(pts[:, 0] > -5) & (pts[:, 0] < size + 5) & (pts[:, 1] > -5) & (pts[:, 1] < size + 5)]
        for px, py in pts:
            img += z * np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * 3.0**2))
    img = 37.0 * rng.poisson(img * 20 + 2) / 20 + 100.0
    return img.astype(np.float32)


def write_fixture(wrapped, path_onnx, names, fixture_dir, tile, fixture_data):
    os.makedirs(fixture_dir, exist_ok=True)
    if fixture_data:
        prefix = read_manifest(fixture_data)["shards"][0]["prefix"]
        img = np.load(os.path.join(fixture_data, f"{prefix}.image.npy"), mmap_mode="r")[0]
        if min(img.shape) < tile:
            raise SystemExit(f"--fixture-data images {img.shape} are smaller than the tile {tile}")
        r0, c0 = (img.shape[0] - tile) // 2, (img.shape[1] - tile) // 2
        raw = np.asarray(img[r0 : r0 + tile, c0 : c0 + tile], np.float32)
    else:
        raw = synthetic_haadf(tile)
    x = normalize(raw)[None, None]
    ref = torch_outputs(wrapped, x)
    worst = check_match(names, ref, ort_outputs(path_onnx, x), "fixture")
    np.save(os.path.join(fixture_dir, "raw.npy"), raw)
    np.save(os.path.join(fixture_dir, "input.npy"), x)
    for n, a in zip(names, ref):
        np.save(os.path.join(fixture_dir, f"expected_{n}.npy"), a)
    info = {
        "model": os.path.relpath(path_onnx, fixture_dir),
        "model_sha256": sha256(path_onnx),
        "raw": "raw.npy (float32 [T,T], raw image)",
        "input": "input.npy (float32 [1,1,T,T] = normalize(raw))",
        "outputs": {n: f"expected_{n}.npy" for n in names},
        "tolerance": TOLERANCE,
        "max_abs_diff_onnxruntime": worst,
        "normalization": NORMALIZATION,
    }
    with open(os.path.join(fixture_dir, "fixture.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2, ensure_ascii=False)
    return info


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rdf(args, names, digest, fixture_rel):
    """bioimage.io model RDF (format 0.5 layout); the non-standard normalization is
    described in text because no bioimage.io preprocessing op matches it exactly."""
    t = args.tile
    space = [
        {"type": "space", "id": "y", "size": t, "unit": "angstrom", "scale": args.pixel_size},
        {"type": "space", "id": "x", "size": t, "unit": "angstrom", "scale": args.pixel_size},
    ]
    inp = {
        "id": "input",
        "description": "HAADF-STEM image at ~%g Å/px, normalized: %s" % (args.pixel_size, NORMALIZATION["formula"]),
        "axes": [{"type": "batch"}, {"type": "channel", "channel_names": ["haadf"]}] + copy.deepcopy(space),
    }
    outs = []
    for n in names:
        o = {
            "id": n,
            "description": f"{HEADS[n].activation} probabilities; {HEADS[n].target}",
            "axes": [{"type": "batch"}, {"type": "channel", "channel_names": list(HEADS[n].channels)}] + copy.deepcopy(space),
        }
        if fixture_rel:
            o["test_tensor"] = {"source": f"{fixture_rel}/expected_{n}.npy"}
        outs.append(o)
    if fixture_rel:
        inp["test_tensor"] = {"source": f"{fixture_rel}/input.npy"}
    doc = {
        "format_version": "0.5.3",
        "type": "model",
        "name": args.name,
        "description": "StemSight ResUNet: atom columns, sulfur vacancies, stacking polymorphs and carbon contamination in HAADF-STEM images of MoS2.",
        "authors": [{"name": "StemSight"}],
        "cite": [{"text": "StemSight"}],
        "documentation": "doc.md",
        "tags": ["stem", "haadf", "mos2", "segmentation", "2d-materials", "onnx"],
        "inputs": [inp],
        "outputs": outs,
        "weights": {"onnx": {"source": "model.onnx", "sha256": digest, "opset_version": OPSET}},
        "timestamp": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "config": {"stemsight": {"sidecar": "model.json"}},
    }
    if args.license:
        doc["license"] = args.license
    return doc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True, help="checkpoint .pt, or a run dir (uses best.pt)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--name", default="stemsight-resunet")
    p.add_argument("--pixel-size", type=float, default=0.1, help="Å/px the model expects")
    p.add_argument("--fixture", default=None, help="write a reproduction fixture to this dir")
    p.add_argument("--fixture-data", default=None, help="dataset dir whose first image feeds the fixture (default: synthetic)")
    p.add_argument("--license", default=None, help="SPDX id for rdf.yaml")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    model, ck = load_checkpoint(args.ckpt)
    names = list(model.head_names)
    if args.tile % model.cfg.multiple:
        raise SystemExit(f"--tile must be a multiple of {model.cfg.multiple} (2**depth)")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "model.onnx")
    wrapped, ops = export(model, args.tile, path)

    x = np.random.default_rng(args.seed).standard_normal((1, 1, args.tile, args.tile)).astype(np.float32)
    worst = check_match(names, torch_outputs(wrapped, x), ort_outputs(path, x), "random input")
    print("onnxruntime vs torch max |diff|: " + ", ".join(f"{n} {d:.2e}" for n, d in worst.items()))

    fixture_rel = None
    if args.fixture:
        write_fixture(wrapped, path, names, args.fixture, args.tile, args.fixture_data)
        rel = os.path.relpath(args.fixture, args.out)
        fixture_rel = None if rel.startswith("..") else rel.replace(os.sep, "/")
        print(f"fixture written to {args.fixture}")

    digest = sha256(path)
    cfg = ck.get("config", {})
    # train.py --carbon-above-film (or carbon_head.py): the head estimates the carbon above the film.
    above_film = ck.get("carbon_target") == "above film"
    sidecar = {
        "name": args.name,
        "format": "onnx",
        "file": "model.onnx",
        "opset": OPSET,
        "tile": args.tile,
        "input": {
            "name": "input",
            "axes": "bchw",
            "shape": [1, 1, args.tile, args.tile],
            "dtype": "float32",
            "normalization": ck.get("normalization", NORMALIZATION),
        },
        "pixel_size_angstrom": args.pixel_size,
        "outputs": names,
        "heads": {
            n: {
                "index": i,
                "channels": list(HEADS[n].channels),
                "activation": HEADS[n].activation,
                "target": CARBON_ABOVE_FILM_TARGET if n == "carbon" and above_film else HEADS[n].target,
                **({"scale_angstrom": CARBON_SCALE_A, "above_film": above_film} if n == "carbon" else {}),
            }
            for i, n in enumerate(names)
        },
        "classes": POLYMORPH_CLASSES,
        "architecture": {"type": "ResUNet", **ck["model_args"], "params": count_params(model)},
        "onnx_ops": ops,
        "train": {
            "data": ck.get("train_data", []),
            "val_data": ck.get("val_data", []),
            "seed": cfg.get("seed"),
            "steps": ck["step"],
            "crop": cfg.get("crop"),
            "batch": cfg.get("batch"),
            "lr": cfg.get("lr"),
            "loss_weights": ck.get("loss_weights"),
            "best_val_loss": ck.get("best_val_loss"),
        },
        "metrics": finite_or_none(ck.get("best_metrics") or ck.get("val_metrics") or {}),
        "verification": {"tolerance": TOLERANCE, "max_abs_diff": worst},
        "sha256": digest,
    }
    with open(os.path.join(args.out, "model.json"), "w", encoding="utf-8") as f:
        json.dump(sidecar, f, indent=2, ensure_ascii=False)
    with open(os.path.join(args.out, "rdf.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(rdf(args, names, digest, fixture_rel), f, sort_keys=False, allow_unicode=True)
    with open(os.path.join(args.out, "doc.md"), "w", encoding="utf-8") as f:
        f.write(doc_md(sidecar))
    print(f"wrote {path} (sha256 {digest[:12]}...), model.json, rdf.yaml")


def doc_md(s):
    lines = [
        f"# {s['name']}",
        "",
        f"ResUNet ({s['architecture']['params']} parameters) for HAADF-STEM images of MoS2 at "
        f"{s['pixel_size_angstrom']} Å/px, tile {s['tile']}x{s['tile']}.",
        "",
        "## Input normalization",
        "",
        s["input"]["normalization"]["formula"],
        "",
        s["input"]["normalization"]["quantile"],
        "",
        "## Outputs",
        "",
    ]
    lines += [f"- `{n}` ({h['activation']}; channels {', '.join(h['channels'])}): {h['target']}" for n, h in s["heads"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
