"""Rebuild a train.py checkpoint from an exported model.onnx + model.json.

    python scripts/train/onnx_to_ckpt.py --model models/stemsight-resunet --out shipped.pt

The PyTorch checkpoints of the shipped network are not in the repository; only
the ONNX graph (batch norm folded into the convolutions by export_onnx.py) and
its card are. This script builds the ResUNet that model.json's `architecture`
describes (model.ResUNet, exactly as train.py builds it), copies every Conv /
ConvTranspose weight of the graph into it and writes a checkpoint in
train.py's format, so that

    python scripts/train/train.py --init OUT.pt --freeze-bn --width 24 --depth 3 ...

fine-tunes the shipped weights (and export_onnx.py exports them again).

Folded Conv+BN pairs: the folded weight goes into the (bias-free) Conv, and the
BatchNorm becomes the identity plus the folded bias (weight 1, bias b,
running_mean 0, running_var 1 - eps), so eval-mode BN(x) = x + b exactly. Those
identity statistics are not the statistics of the features, so fine-tune with
train.py --freeze-bn (BN kept in eval mode; its affine parameters still train).

Mapping ONNX nodes to modules: a node whose weight initializer is named
`model.<module>.weight` binds to that module; the others bind in execution
order (the TorchScript exporter writes nodes in trace order), with op type,
weight shape and conv attributes checked, and the node's scope name
(`/model/.../body.0/Conv`) checked against the module name where present.
Then every mapped layer's output is compared with onnxruntime's, and the four
head outputs with onnxruntime and with the fixture's expected outputs; any
difference above --tolerance (1e-4) exits non-zero.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
from onnx import numpy_helper

from data import NORMALIZATION
from export_onnx import sha256
from heads import HEADS
from model import ResUNet, activate, config_from_dict, config_to_dict, count_params

TOLERANCE = 1e-4
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MODEL = os.path.join(REPO, "models", "stemsight-resunet")


class ConversionError(RuntimeError):
    pass


# ---------------------------------------------------------------------------
# Model from the card


def config_from_card(card):
    arch = dict(card["architecture"])
    if arch.pop("type", "ResUNet") != "ResUNet":
        raise ConversionError(f"architecture type {card['architecture']['type']!r} is not ResUNet")
    params = arch.pop("params", None)
    cfg = config_from_dict(arch)  # TypeError on unknown keys: the card is newer than model.py
    if list(cfg.heads) != list(card.get("outputs", cfg.heads)):
        raise ConversionError(f"architecture heads {list(cfg.heads)} != card outputs {card['outputs']}")
    return cfg, params


# ---------------------------------------------------------------------------
# Torch side: conv modules in execution order, each with the BatchNorm that follows it


def conv_modules_in_order(model):
    """[(name, conv, bn_name, bn)] in the order forward() calls the convs."""
    names = {m: n for n, m in model.named_modules()}
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    order, calls = [], {}

    def hook(mod, _inp, _out):
        calls[mod] = calls.get(mod, 0) + 1
        order.append(mod)

    handles = [m.register_forward_hook(hook) for m in convs]
    try:
        side = model.cfg.multiple
        with torch.no_grad():
            model(torch.zeros(1, model.cfg.in_channels, side, side))
    finally:
        for h in handles:
            h.remove()
    never = [names[m] for m in convs if m not in calls]
    twice = [names[m] for m, c in calls.items() if c > 1]
    if never or twice:
        raise ConversionError(f"conv modules not called once per forward: never {never}, repeatedly {twice}")

    # The BatchNorm folded into a conv is its next sibling in the same nn.Sequential.
    following = {}
    for parent_name, parent in model.named_modules():
        if isinstance(parent, nn.Sequential):
            kids = list(parent.named_children())
            for (_, a), (bn_key, b) in zip(kids, kids[1:]):
                if isinstance(a, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(b, nn.BatchNorm2d):
                    following[a] = (f"{parent_name}.{bn_key}" if parent_name else bn_key, b)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    if len(following) != n_bn:
        raise ConversionError(f"{n_bn} BatchNorm2d modules but only {len(following)} directly follow a conv")
    return [(names[m], m, *following.get(m, (None, None))) for m in order]


# ---------------------------------------------------------------------------
# ONNX side


def conv_nodes(graph):
    init = {t.name: t for t in graph.initializer}
    ops = {n.op_type for n in graph.node}
    if "BatchNormalization" in ops:
        raise ConversionError("the graph still has BatchNormalization nodes; this script expects BN folded into Conv")
    out = []
    for node in graph.node:
        if node.op_type not in ("Conv", "ConvTranspose"):
            continue
        if len(node.input) < 2 or node.input[1] not in init:
            raise ConversionError(f"{node.name}: weight {node.input[1:2]} is not a constant initializer")
        w = numpy_helper.to_array(init[node.input[1]])
        b = None
        if len(node.input) > 2 and node.input[2]:
            if node.input[2] not in init:
                raise ConversionError(f"{node.name}: bias {node.input[2]} is not a constant initializer")
            b = numpy_helper.to_array(init[node.input[2]])
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        out.append({"node": node, "name": node.name, "op": node.op_type, "w_name": node.input[1],
                    "weight": w, "bias": b, "attrs": attrs, "output": node.output[0]})
    return out


def check_attrs(entry, mod, tname):
    a, k = entry["attrs"], mod.kernel_size
    pads = list(a.get("pads", [0] * 4))
    want = {
        "kernel_shape": (list(a.get("kernel_shape", entry["weight"].shape[2:])), list(k)),
        "strides": (list(a.get("strides", [1, 1])), list(mod.stride)),
        "dilations": (list(a.get("dilations", [1, 1])), list(mod.dilation)),
        "group": (a.get("group", 1), mod.groups),
        "pads": (pads, list(mod.padding) * 2),
    }
    if isinstance(mod, nn.ConvTranspose2d):
        want["output_padding"] = (list(a.get("output_padding", [0, 0])), list(mod.output_padding))
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ConversionError(f"{entry['name']} -> {tname}: auto_pad {a['auto_pad']!r} not supported")
    bad = {key: v for key, v in want.items() if v[0] != v[1]}
    if bad:
        raise ConversionError(f"{entry['name']} -> {tname}: attributes (onnx, torch) differ: {bad}")


def scope_hint_ok(node_name, tname):
    """'/model/enc.0/enc.0.0/body/body.0/Conv' names module '...body.0'; the last scope
    segment must be a dotted suffix of the torch name (ModuleDicts drop out of scopes)."""
    parts = [p for p in node_name.split("/") if p]
    if len(parts) < 3 or parts[0] != "model":
        return True  # no scope information to check
    leaf = parts[-2]
    return tname == leaf or tname.endswith("." + leaf)


def map_nodes(nodes, torch_convs):
    """{torch conv name: onnx entry}; named initializers first, then execution order."""
    by_tname = {t[0]: t for t in torch_convs}
    mapping, how = {}, {}
    for e in nodes:
        w = e["w_name"]
        if w.startswith("model.") and w.endswith(".weight"):
            tname = w[len("model."):-len(".weight")]
            if tname in by_tname:
                if tname in mapping:
                    raise ConversionError(f"two nodes name module {tname}")
                mapping[tname], how[tname] = e, "name"
    rest_nodes = [e for e in nodes if all(e is not v for v in mapping.values())]
    rest_torch = [t for t in torch_convs if t[0] not in mapping]
    if len(rest_nodes) != len(rest_torch):
        raise ConversionError(f"{len(nodes)} Conv/ConvTranspose nodes in the graph but {len(torch_convs)} conv "
                              f"modules in the model ({len(mapping)} bound by name)")
    for e, t in zip(rest_nodes, rest_torch):
        mapping[t[0]], how[t[0]] = e, "order"

    # The named bindings must sit where execution order puts them too: otherwise the
    # graph's order is not trace order and the order-bound ones cannot be trusted.
    for (tname, *_), e in zip(torch_convs, nodes):
        if "order" in how.values() and mapping[tname] is not e:
            raise ConversionError(f"graph order disagrees with execution order at {tname}: "
                                  f"node {e['name']} ({e['w_name']}) vs {mapping[tname]['name']}")
    for tname, mod, bn_name, bn in torch_convs:
        e = mapping[tname]
        want_op = "ConvTranspose" if isinstance(mod, nn.ConvTranspose2d) else "Conv"
        if e["op"] != want_op:
            raise ConversionError(f"{e['name']} is {e['op']} but {tname} is {type(mod).__name__}")
        if tuple(e["weight"].shape) != tuple(mod.weight.shape):
            raise ConversionError(f"{e['name']} -> {tname}: weight shape {e['weight'].shape} != {tuple(mod.weight.shape)}")
        if e["bias"] is not None and e["bias"].shape != (mod.weight.shape[1 if want_op == "ConvTranspose" else 0],):
            raise ConversionError(f"{e['name']} -> {tname}: bias shape {e['bias'].shape}")
        check_attrs(e, mod, tname)
        if not scope_hint_ok(e["name"], tname):
            raise ConversionError(f"node {e['name']} bound to {tname}: scope name disagrees")
    return mapping, how


def load_weights(model, torch_convs, mapping):
    """Copies the folded weights; returns the state-dict keys written."""
    written = set()
    with torch.no_grad():
        for tname, mod, bn_name, bn in torch_convs:
            e = mapping[tname]
            w = torch.from_numpy(np.array(e["weight"], dtype=np.float32))
            cout = mod.weight.shape[1] if isinstance(mod, nn.ConvTranspose2d) else mod.weight.shape[0]
            b = torch.zeros(cout) if e["bias"] is None else torch.from_numpy(np.array(e["bias"], dtype=np.float32))
            mod.weight.copy_(w)
            written.add(f"{tname}.weight")
            if bn is not None:
                if mod.bias is not None:
                    raise ConversionError(f"{tname} has a bias and a BatchNorm; cannot place the folded bias")
                if not bn.affine or not bn.track_running_stats:
                    raise ConversionError(f"{bn_name}: needs affine=True and running stats")
                bn.weight.fill_(1.0)
                bn.bias.copy_(b)
                bn.running_mean.zero_()
                # eval: (x - 0) / sqrt((1 - eps) + eps) * 1 + b = x + b
                bn.running_var.fill_(1.0 - bn.eps)
                bn.num_batches_tracked.zero_()
                written |= {f"{bn_name}.{k}" for k in ("weight", "bias", "running_mean", "running_var",
                                                       "num_batches_tracked")}
            elif mod.bias is not None:
                mod.bias.copy_(b)
                written.add(f"{tname}.bias")
            elif e["bias"] is not None and np.any(e["bias"] != 0):
                raise ConversionError(f"{tname} has no bias and no BatchNorm, but node {e['name']} has a bias")
    missing = set(model.state_dict()) - written
    if missing:
        raise ConversionError(f"state-dict entries with no ONNX source: {sorted(missing)}")
    return written


# ---------------------------------------------------------------------------
# Verification


def ort_session(model_bytes, threads, optimize=True):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    if not optimize:  # keep every node's output as a graph value (per-layer comparison)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def per_layer_diffs(model, onnx_model, torch_convs, mapping, x, threads):
    """Max |diff| of each conv(+BN) output, relative to max(1, max |onnx|)."""
    m = onnx.ModelProto()
    m.CopyFrom(onnx_model)
    known = {o.name for o in m.graph.output}
    for tname, *_ in torch_convs:
        name = mapping[tname]["output"]
        if name not in known:
            m.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort_session(m.SerializeToString(), threads, optimize=False)
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: x})))

    captured, handles = {}, []
    for tname, mod, bn_name, bn in torch_convs:
        target = bn if bn is not None else mod
        handles.append(target.register_forward_hook(
            lambda _m, _i, out, key=tname: captured.__setitem__(key, out.detach().numpy().copy())))
    try:
        with torch.no_grad():
            model(torch.from_numpy(x))
    finally:
        for h in handles:
            h.remove()
    diffs = {}
    for tname, *_ in torch_convs:
        ref = got[mapping[tname]["output"]]
        if ref.shape != captured[tname].shape:
            raise ConversionError(f"{tname}: output shape {captured[tname].shape} != onnx {ref.shape}")
        diffs[tname] = float(np.abs(ref - captured[tname]).max() / max(1.0, float(np.abs(ref).max())))
    return diffs


def head_outputs(model, x):
    with torch.no_grad():
        logits = model(torch.from_numpy(x))
    return {h: activate(h, logits[h], HEADS).numpy() for h in model.head_names}


def compare(names, ref, got):
    out = {}
    for n in names:
        if ref[n].shape != got[n].shape:
            raise ConversionError(f"{n}: shape {got[n].shape} != {ref[n].shape}")
        out[n] = float(np.abs(ref[n] - got[n]).max())
    return out


# ---------------------------------------------------------------------------


def convert(model_dir, onnx_path=None, card_path=None, fixture_dir=None, threads=1, tolerance=TOLERANCE,
            verbose=True):
    """Returns (checkpoint dict, report dict); raises ConversionError on any mismatch."""
    onnx_path = onnx_path or os.path.join(model_dir, "model.onnx")
    card_path = card_path or os.path.join(model_dir, "model.json")
    if fixture_dir is None and model_dir and os.path.isdir(os.path.join(model_dir, "fixture")):
        fixture_dir = os.path.join(model_dir, "fixture")
    say = print if verbose else (lambda *a, **k: None)

    with open(card_path, encoding="utf-8") as f:
        card = json.load(f)
    digest = sha256(onnx_path)
    if card.get("sha256") and card["sha256"] != digest:
        raise ConversionError(f"{onnx_path} sha256 {digest} != card's {card['sha256']}")
    cfg, card_params = config_from_card(card)
    model = ResUNet(cfg).eval()
    if card_params is not None and count_params(model) != card_params:
        raise ConversionError(f"model has {count_params(model)} parameters, the card says {card_params}")

    onnx_model = onnx.load(onnx_path)
    graph = onnx_model.graph
    out_names = [o.name for o in graph.output]
    if out_names != list(cfg.heads):
        raise ConversionError(f"graph outputs {out_names} != heads {list(cfg.heads)}")
    torch_convs = conv_modules_in_order(model)
    nodes = conv_nodes(graph)
    mapping, how = map_nodes(nodes, torch_convs)
    load_weights(model, torch_convs, mapping)
    model.eval()
    n_named = sum(v == "name" for v in how.values())
    say(f"mapped {len(mapping)} Conv/ConvTranspose nodes: {n_named} by initializer name, "
        f"{len(mapping) - n_named} by execution order; "
        f"{sum(bn is not None for *_, bn in torch_convs)} folded BatchNorms set to identity + bias")

    # Verification input: the fixture's (else a deterministic random tile of the card's size).
    report = {"onnx": os.path.abspath(onnx_path), "onnx_sha256": digest, "tolerance": tolerance}
    if fixture_dir:
        x = np.load(os.path.join(fixture_dir, "input.npy")).astype(np.float32)
        report["input"] = os.path.join(os.path.abspath(fixture_dir), "input.npy")
    else:
        shape = card.get("input", {}).get("shape") or [1, cfg.in_channels, card.get("tile", 128), card.get("tile", 128)]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        report["input"] = f"standard normal, seed 0, {shape}"

    layers = per_layer_diffs(model, onnx_model, torch_convs, mapping, x, threads)
    worst_layer = max(layers, key=layers.get)
    report["max_layer_rel_diff"] = {"layer": worst_layer, "diff": layers[worst_layer]}
    say(f"per-layer conv(+BN) outputs vs onnxruntime: worst {worst_layer} {layers[worst_layer]:.2e} "
        f"(relative to max(1, max|out|)) over {len(layers)} layers")

    torch_out = head_outputs(model, x)
    sess = ort_session(onnx_model.SerializeToString(), threads)
    ort_out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {sess.get_inputs()[0].name: x})))
    names = list(cfg.heads)
    report["max_abs_diff_onnxruntime"] = compare(names, ort_out, torch_out)
    say("torch (rebuilt) vs onnxruntime, max |diff|: "
        + ", ".join(f"{n} {d:.2e}" for n, d in report["max_abs_diff_onnxruntime"].items()))
    if fixture_dir:
        expected = {n: np.load(os.path.join(fixture_dir, f"expected_{n}.npy")) for n in names}
        report["max_abs_diff_fixture"] = compare(names, expected, torch_out)
        say("torch (rebuilt) vs fixture expected_<head>.npy, max |diff|: "
            + ", ".join(f"{n} {d:.2e}" for n, d in report["max_abs_diff_fixture"].items()))

    bad = {f"{what}:{n}": d for what in ("max_abs_diff_onnxruntime", "max_abs_diff_fixture")
           for n, d in report.get(what, {}).items() if not d <= tolerance}
    if layers[worst_layer] > tolerance:
        bad[f"layer:{worst_layer}"] = layers[worst_layer]
    if bad:
        raise ConversionError(f"differences above {tolerance}: {bad}")

    train = card.get("train", {})
    heads_card = card.get("heads", {})
    above_film = bool(heads_card.get("carbon", {}).get("above_film"))
    ck = {
        # train.py's checkpoint layout (train.py --init reads model, model_args, step).
        "model": model.state_dict(),
        "optimizer": None,
        "model_args": config_to_dict(cfg),
        "step": int(train.get("steps") or 0),
        "best_val_loss": train.get("best_val_loss"),
        "val_metrics": card.get("metrics", {}),
        "best_metrics": card.get("metrics", {}),
        "config": {"seed": train.get("seed"), "crop": train.get("crop"), "batch": train.get("batch"),
                   "lr": train.get("lr"), "carbon_above_film": above_film},
        "carbon_target": "above film" if above_film else "total",
        "train_data": train.get("data", []),
        "val_data": train.get("val_data", []),
        "normalization": card.get("input", {}).get("normalization", NORMALIZATION),
        "loss_weights": train.get("loss_weights"),
        "converted_from_onnx": {
            "onnx": os.path.abspath(onnx_path),
            "sha256": digest,
            "card": os.path.abspath(card_path),
            "name": card.get("name"),
            "pixel_size_angstrom": card.get("pixel_size_angstrom"),
            "tile": card.get("tile"),
            "batchnorm": "folded: conv weight = folded weight, BN = identity statistics + folded bias; "
                         "fine-tune with train.py --freeze-bn",
            **{k: report[k] for k in ("max_abs_diff_onnxruntime", "max_abs_diff_fixture") if k in report},
        },
    }
    return ck, report


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, help="model dir holding model.onnx, model.json, fixture/")
    p.add_argument("--onnx", default=None, help="ONNX file (default MODEL/model.onnx)")
    p.add_argument("--card", default=None, help="model card (default MODEL/model.json)")
    p.add_argument("--fixture", default=None, help="fixture dir (default MODEL/fixture if present)")
    p.add_argument("--out", default="shipped.pt", help="checkpoint to write")
    p.add_argument("--tolerance", type=float, default=TOLERANCE)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    out = os.path.abspath(args.out)
    if out == REPO or out.startswith(REPO + os.sep):
        raise SystemExit(f"--out {out} is inside the repository; write the checkpoint elsewhere")
    try:
        ck, report = convert(args.model, args.onnx, args.card, args.fixture, args.threads, args.tolerance)
    except ConversionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    torch.save(ck, out)
    print(f"wrote {out} (model_args width {ck['model_args']['width']}, depth {ck['model_args']['depth']}, "
          f"heads {list(ck['model_args']['heads'])}; step {ck['step']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
