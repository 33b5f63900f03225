#!/usr/bin/env python3
"""StemSight speed benchmark (issue 6): one run, one machine, one table.

    python3 scripts/bench/bench.py [--sizes 512,1024,2048,4096] [--threads 2] [--out BENCHMARKS.json]

Needs the release binaries (built with `nice -n 10 cargo build --release --bin stemsight
--example time_onnx --example analyze_stages`) and the Python packages of
scripts/train/requirements.txt (torch, onnx, onnxruntime, numpy).

Reports, for simulated 2H-1L images at 0.1 Å/px:
  (a) the full four-task analysis (`stemsight analyze`, one child process per image):
      wall time, peak RSS, per-stage breakdown (read, resample, inference,
      localization/analysis, report writing, process start + model load);
  (b) our ONNX model on onnxruntime (same thread count, same tiles as the engine chose);
  (c) the seed paper's architecture (ResUNet, 5 residual blocks, 32 filters, 7x7,
      256² tiles at 0.1 Å/px, one network per task = 4 networks, untrained weights) on
      onnxruntime and on tract;
  (d) achieved GFLOP/s against the machine's measured float32 matmul peak (numpy/OpenBLAS,
      same thread count);
  and the levers (tile size, executor, halo, threads, canonical pixel size, width/depth,
  shared backbone, ConvTranspose vs Resize). Writes a markdown report to stdout and the raw
  numbers to --out. `--quick` is the CI-sized subset used by tests/test_bench_smoke.py.
"""

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRAIN_DIR = ROOT / "scripts" / "train"
BIN = ROOT / "target" / "release" / "stemsight"
TIME_ONNX = ROOT / "target" / "release" / "examples" / "time_onnx"
STAGES = ROOT / "target" / "release" / "examples" / "analyze_stages"
MODEL_DIR = ROOT / "models" / "stemsight-resunet"
BASELINE = Path(__file__).resolve().parent / "baseline.json"

SEED_HEADS = {"atoms": 2, "vacancy": 3, "polymorph": 7, "carbon": 1}
SEED_TILE = 256
PIXEL_SIZE = 0.1


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- machine


def load_snapshot():
    """Load average and the processes using >= 20 % CPU (other work skews timings)."""
    out = {"loadavg": os.getloadavg()}
    try:
        ps = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
        busy = {}
        for line in ps.splitlines()[1:]:
            cpu, _, cmd = line.strip().partition(" ")
            cmd = cmd.strip()[:80]
            if float(cpu) >= 20 and "bench.py" not in cmd and "ps -eo" not in cmd:
                busy[cmd] = busy.get(cmd, 0) + float(cpu)
        out["busy"] = [f"{cmd} ({cpu:.0f}% CPU)" for cmd, cpu in list(busy.items())[:6]]
    except (OSError, ValueError):
        pass
    return out


def machine_info(threads):
    info = {"platform": platform.platform(), "python": platform.python_version(), "threads": threads}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for key in ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "L2 cache", "L3 cache", "Flags"):
            m = re.search(rf"^{re.escape(key)}:\s*(.+)$", out, re.M)
            if m:
                v = m.group(1).strip()
                if key == "Flags":
                    v = " ".join(f for f in v.split() if f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni"))
                info[key] = v
    except OSError:
        pass
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0]
        info["MemTotal"] = mem.split(":")[1].strip()
    except OSError:
        pass
    info["nproc"] = os.cpu_count()
    return info


PEAK_SNIPPET = r"""
import time, numpy as np, json, sys
n = int(sys.argv[1]); reps = int(sys.argv[2])
a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
b = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
a @ b
best = 1e9
for _ in range(reps):
    t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
res = {"n": n, "best_s": best, "numpy_gflops": 2 * n ** 3 / best / 1e9}
try:  # torch's GEMM uses AVX-512 where OpenBLAS may pick an AVX2 kernel (e.g. on new CPUs)
    import os, torch
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    ta @ tb
    tbest = 1e9
    for _ in range(reps):
        t = time.perf_counter(); ta @ tb; tbest = min(tbest, time.perf_counter() - t)
    res["torch_gflops"] = 2 * n ** 3 / tbest / 1e9
except Exception:
    pass
res["gflops"] = max(res["numpy_gflops"], res.get("torch_gflops", 0.0))
print(json.dumps(res))
"""


def thread_env(threads):
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[k] = str(threads)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def matmul_peak(threads, n=2048, reps=5):
    """float32 GEMM GFLOP/s with `threads` BLAS threads (a fresh process, so the env applies)."""
    out = subprocess.run([sys.executable, "-c", PEAK_SNIPPET, str(n), str(reps)],
                         capture_output=True, text=True, env=thread_env(threads), check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- children


def run_child(cmd, env=None):
    """Runs cmd; returns (wall_s, stdout)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out, err = p.communicate()
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{err[-2000:]}")
    return wall, out


# A small exec'd Python forks the measured command and reports its own ru_maxrss. Reaping
# the command directly from this process would not do: on Linux a child's peak RSS starts
# at its parent's at fork time (kept across exec), and this process holds torch and
# onnxruntime (GBs) by the time the levers run.
RSS_WRAPPER = r"""
import os, sys, time
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
sys.stderr.write("\n@@rss_kb %d wall_s %.6f\n" % (ru.ru_maxrss, time.perf_counter() - t))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(cmd, env=None):
    """Runs cmd as a grandchild through RSS_WRAPPER; returns (wall_s, peak_rss_MB, stdout)."""
    p = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *map(str, cmd)],
                       capture_output=True, text=True, env=env)
    m = re.search(r"@@rss_kb (\d+) wall_s ([0-9.]+)", p.stderr)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return float(m.group(2)), int(m.group(1)) / 1024.0, p.stdout


def snapshot(work):
    """Copies the binaries and the model into WORK/snapshot and uses those copies, so a
    rebuild or a new model landing in the repository mid-run cannot mix versions."""
    global BIN, TIME_ONNX, STAGES, MODEL_DIR
    snap = work / "snapshot"
    if snap.exists():
        shutil.rmtree(snap)
    (snap / "bin").mkdir(parents=True)
    copies = []
    for exe in (BIN, TIME_ONNX, STAGES):
        dst = snap / "bin" / exe.name
        shutil.copy2(exe, dst)
        copies.append(dst)
    BIN, TIME_ONNX, STAGES = copies
    models = snap / "models"
    models.mkdir()
    shutil.copy2(ROOT / "models" / "README.md", models / "README.md")
    shutil.copytree(MODEL_DIR, models / MODEL_DIR.name)
    MODEL_DIR = models / MODEL_DIR.name
    # The engine finds its models through this variable (CONTRACT.md).
    os.environ["STEMSIGHT_MODELS"] = str(models)


def need(path, what):
    if not Path(path).exists():
        sys.exit(f"{path} is missing: build it first ({what})")


# ----------------------------------------------------------------------------- images


def simulate(size, work, seed=7):
    d = work / "images" / f"sim{size}"
    img = d / "image.tif"
    if not img.exists():
        log(f"simulating a {size}² image ...")
        run_child([str(BIN), "simulate", "--polymorph", "2H-1L", "--second-polymorph", "3R-2L",
                   "--size", str(size), "--pixel-size", str(PIXEL_SIZE), "--carbon", "0.3",
                   "--seed", str(seed), "--out", str(d)])
    return img


# ----------------------------------------------------------------------------- (a) full analysis


def analyze_cli(img, out, threads, extra=(), repeats=1):
    """stemsight analyze as a child process; median wall over repeats, max peak RSS."""
    walls, rss, report = [], 0.0, None
    for _ in range(repeats):
        if out.exists():
            shutil.rmtree(out)
        cmd = [str(BIN), "analyze", str(img), "--out", str(out), "--threads", str(threads), *extra]
        wall, peak, _ = run_measured(cmd)
        walls.append(wall)
        rss = max(rss, peak)
        report = json.loads(next(out.glob("*/report.json")).read_text())
    return {"wall_s": statistics.median(walls), "walls_s": walls, "peak_rss_mb": rss,
            "timing_ms": report["timing_ms"], "tile": report["settings"]["tile"],
            "halo": report["settings"]["halo"], "tiles": report["settings"]["tiles"],
            "n_atoms": len(report["atoms"]), "n_vacancies": len(report["vacancies"])}


def analyze_stages(img, out, threads, mode="mt", tile=None, halo=None, repeat=0, pixel_size=PIXEL_SIZE):
    cmd = [str(STAGES), str(img), str(out), "--pixel-size", str(pixel_size), "--threads", str(threads),
           "--mode", mode, "--repeat", str(repeat)]
    if tile:
        cmd += ["--tile", str(tile)]
    if halo is not None:
        cmd += ["--halo", str(halo)]
    wall, rss, stdout = run_measured(cmd)
    r = json.loads(stdout.strip().splitlines()[-1])
    r["wall_s"], r["peak_rss_mb"] = wall, rss
    return r


# ----------------------------------------------------------------------------- ONNX helpers


def retype_onnx(src, dst, tile):
    """A copy of an ONNX file with a fixed [1,1,tile,tile] input and free output H/W."""
    import onnx

    m = onnx.load(str(src))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    for d, v in zip(dims, (1, 1, tile, tile)):
        d.Clear()
        d.dim_value = v
    del m.graph.value_info[:]
    for o in m.graph.output:
        for k, d in enumerate(o.type.tensor_type.shape.dim):
            if k >= 2:
                d.Clear()
                d.dim_param = f"{o.name}_{k}"
    onnx.save(m, str(dst))
    return dst


def onnx_flops(path, tile):
    """Multiply-add FLOPs (2 per MAC) of Conv/ConvTranspose/Gemm for one [1,1,tile,tile] input."""
    import onnx
    from onnx import shape_inference

    with tempfile.TemporaryDirectory() as tmp:
        p = retype_onnx(path, Path(tmp) / "m.onnx", tile)
        m = shape_inference.infer_shapes(onnx.load(str(p)))
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    inits = {i.name: list(i.dims) for i in m.graph.initializer}
    total = 0
    for n in m.graph.node:
        if n.op_type == "Conv":
            w = inits[n.input[1]]  # [Cout, Cin/g, kh, kw]
            out = shapes[n.output[0]]
            total += 2 * w[0] * w[1] * w[2] * w[3] * out[2] * out[3]
        elif n.op_type == "ConvTranspose":
            w = inits[n.input[1]]  # [Cin, Cout/g, kh, kw]
            inp = shapes[n.input[0]]
            total += 2 * w[0] * w[1] * w[2] * w[3] * inp[2] * inp[3]
    return total


def ort_time(path, tile, threads, runs, warmup=1):
    """onnxruntime ms per [1,1,tile,tile] tile, threads intra-op threads, sequential tiles."""
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t = time.perf_counter()
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    session_ms = (time.perf_counter() - t) * 1e3
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((1, 1, tile, tile)).astype(np.float32)
    for _ in range(warmup):
        sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t) * 1e3)
    return {"ms_per_tile": statistics.median(times), "min_ms": min(times), "session_ms": session_ms,
            "runs": runs, "threads": threads, "tile": tile}


def tract_time(path, tile, runs, threads, mode="mt", shape="fixed"):
    out = subprocess.run([str(TIME_ONNX), str(path), str(tile), str(runs), str(threads), mode, shape],
                         capture_output=True, text=True, env=thread_env(threads))
    if out.returncode != 0:
        raise RuntimeError(f"time_onnx failed on {path} @ {tile}: {out.stderr[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def export_net(cfg_kwargs, path, tile=256, upsample=None, seed_paper=False, heads=None):
    """Exports an untrained ResUNet (eval mode, BN folded) to ONNX, for timing only."""
    if path.exists():
        return path
    sys.path.insert(0, str(TRAIN_DIR))
    import warnings

    import torch
    import torch.nn as nn
    from export_onnx import export
    from model import ResUNet, ResUNetConfig, seed_paper_config

    torch.manual_seed(0)
    cfg = seed_paper_config(heads) if seed_paper else ResUNetConfig(**cfg_kwargs, heads=heads or dict(SEED_HEADS))
    model = ResUNet(cfg)
    if upsample:
        # Lever check: Resize (nn.Upsample) + 1x1 conv instead of ConvTranspose(k=2, s=2).
        for i, up in enumerate(model.up):
            model.up[i] = nn.Sequential(
                nn.Upsample(scale_factor=2, mode=upsample, **({"align_corners": False} if upsample == "bilinear" else {})),
                nn.Conv2d(up.in_channels, up.out_channels, 1),
            )
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export(model, tile, str(path))
    return path


# ----------------------------------------------------------------------------- fit


def linear_fit(xs, ys):
    """Least squares y = a + b x; returns a, b, R² and the largest relative residual."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    a = my - b * mx
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys)
    r2 = 1 - ss_res / ss_tot if ss_tot else 1.0
    worst = max(abs(y - a - b * x) / y for x, y in zip(xs, ys)) if ys else 0.0
    # Log-log slope: 1.0 = linear in pixels.
    if n >= 2 and all(x > 0 and y > 0 for x, y in zip(xs, ys)):
        lx = [math.log(x) for x in xs]
        ly = [math.log(y) for y in ys]
        mlx, mly = sum(lx) / n, sum(ly) / n
        slope = sum((u - mlx) * (v - mly) for u, v in zip(lx, ly)) / sum((u - mlx) ** 2 for u in lx)
    else:
        slope = float("nan")
    return {"a_s": a, "b_s_per_mpx": b, "r2": r2, "max_rel_residual": worst, "loglog_slope": slope}


# ----------------------------------------------------------------------------- main


def fmt(v, nd=2):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{nd}f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="512,1024,2048,4096")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="write all numbers here as JSON")
    p.add_argument("--work", default=None, help="scratch dir for images/models (default: a temp dir under /tmp)")
    p.add_argument("--repeats", type=int, default=3, help="CLI runs per size (median wall; 4096² runs once)")
    p.add_argument("--quick", action="store_true", help="CI smoke subset: one size, no seed/levers on tract")
    p.add_argument("--no-seed", action="store_true", help="skip the seed-paper networks")
    p.add_argument("--no-levers", action="store_true", help="skip the lever measurements")
    p.add_argument("--record-baseline", action="store_true",
                   help=f"write the smoke-test ratios to {BASELINE.relative_to(ROOT)}")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    T = args.threads
    need(BIN, "cargo build --release --bin stemsight")
    need(TIME_ONNX, "cargo build --release --example time_onnx")
    need(STAGES, "cargo build --release --example analyze_stages")
    work = Path(args.work or Path(tempfile.gettempdir()) / "stemsight-bench")
    work.mkdir(parents=True, exist_ok=True)
    snapshot(work)
    load_start = load_snapshot()
    res = {"machine": machine_info(T), "sizes": sizes, "threads": T,
           "model": {"dir": "models/" + MODEL_DIR.name,
                     "sha256": json.loads((MODEL_DIR / "model.json").read_text())["sha256"]},
           "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    card = json.loads((MODEL_DIR / "model.json").read_text())
    res["model"]["architecture"] = {k: card["architecture"][k] for k in ("width", "depth", "kernel", "blocks", "params")}
    res["model"]["pixel_size_angstrom"] = card["pixel_size_angstrom"]

    # (d) machine peak.
    log("measuring float32 matmul peak ...")
    res["peak"] = {"threads_1": matmul_peak(1), f"threads_{T}": matmul_peak(T)}
    peak = res["peak"][f"threads_{T}"]["gflops"]

    # (a) full analysis per size.
    full = {}
    for s in sizes:
        img = simulate(s, work)
        log(f"analyzing {s}² ...")
        reps = 1 if s >= 4096 or args.quick else args.repeats
        r = analyze_cli(img, work / "out" / f"cli{s}", T, repeats=reps)
        st = analyze_stages(img, work / "out" / f"stages{s}", T, repeat=0 if args.quick or s >= 4096 else 1)
        r["read_ms"], r["write_ms"], r["load_ms"] = st["read_ms"], st["write_ms"], st["load_ms"]
        r["stages_example"] = st
        t = r["timing_ms"]
        r["other_ms"] = max(0.0, r["wall_s"] * 1e3 - t["total"] - st["read_ms"] - st["write_ms"])
        full[s] = r
    res["full"] = full

    # (b) our model on onnxruntime and tract, same tiles.
    ours = {}
    tiles_used = sorted({full[s]["tile"] for s in sizes})
    for tile in tiles_used:
        (work / "models").mkdir(parents=True, exist_ok=True)
        path = retype_onnx(MODEL_DIR / "model.onnx", work / "models" / f"ours_{tile}.onnx", tile)
        runs = max(3, int(40 * (128 / tile) ** 2)) if not args.quick else 3
        o = {"flops": onnx_flops(MODEL_DIR / "model.onnx", tile)}
        log(f"our model @ {tile}²: onnxruntime ...")
        o["ort"] = ort_time(path, tile, T, runs)
        log(f"our model @ {tile}²: tract ...")
        o["tract_mt"] = tract_time(MODEL_DIR / "model.onnx", tile, runs, T, "mt")
        o["tract_tiles"] = tract_time(MODEL_DIR / "model.onnx", tile, max(runs, 2 * T), T, "tiles")
        best = min(o["tract_mt"]["ms_per_tile"], o["tract_tiles"]["ms_per_tile"])
        o["tract_best_ms"] = best
        o["tract_over_ort"] = best / o["ort"]["ms_per_tile"]
        o["gflops_tract"] = o["flops"] / best / 1e6
        o["gflops_ort"] = o["flops"] / o["ort"]["ms_per_tile"] / 1e6
        ours[tile] = o
    res["ours"] = ours
    for s in sizes:
        r, o = full[s], ours[full[s]["tile"]]
        r["ort_inference_ms"] = r["tiles"] * o["ort"]["ms_per_tile"]
        r["tract_steady_inference_ms"] = r["tiles"] * o["tract_best_ms"]
        r["engine_over_ort"] = r["timing_ms"]["inference_ms"] / r["ort_inference_ms"]
        r["gflops_engine"] = r["tiles"] * o["flops"] / r["timing_ms"]["inference_ms"] / 1e6

    # (c) the seed paper's architecture, 4 networks.
    if not args.no_seed and not args.quick:
        seed = {"nets": {}}
        for head, ch in SEED_HEADS.items():
            path = export_net(None, work / "models" / f"seed_{head}.onnx", SEED_TILE, seed_paper=True, heads={head: ch})
            log(f"seed-paper {head} net: onnxruntime + tract ...")
            n = {"flops": onnx_flops(path, SEED_TILE), "ort": ort_time(path, SEED_TILE, T, 5),
                 "tract_mt": tract_time(path, SEED_TILE, 5, T, "mt"),
                 "tract_tiles": tract_time(path, SEED_TILE, 2 * T, T, "tiles")}
            n["tract_best_ms"] = min(n["tract_mt"]["ms_per_tile"], n["tract_tiles"]["ms_per_tile"])
            seed["nets"][head] = n
        seed["ort_ms_per_tile_4nets"] = sum(n["ort"]["ms_per_tile"] for n in seed["nets"].values())
        seed["tract_ms_per_tile_4nets"] = sum(n["tract_best_ms"] for n in seed["nets"].values())
        seed["flops_per_tile_4nets"] = sum(n["flops"] for n in seed["nets"].values())
        seed["gflops_ort"] = seed["flops_per_tile_4nets"] / seed["ort_ms_per_tile_4nets"] / 1e6
        seed["gflops_tract"] = seed["flops_per_tile_4nets"] / seed["tract_ms_per_tile_4nets"] / 1e6
        for s in sizes:
            # Lower bound for the seed pipeline: non-overlapping 256² tiles at the input pixel
            # size, inference only (no reading, localization or writing).
            nt = math.ceil(s / SEED_TILE) ** 2
            full[s]["seed_tiles"] = nt
            full[s]["seed_ort_s"] = nt * seed["ort_ms_per_tile_4nets"] / 1e3
            full[s]["seed_tract_s"] = nt * seed["tract_ms_per_tile_4nets"] / 1e3
            full[s]["speedup_vs_seed_ort"] = full[s]["seed_ort_s"] / full[s]["wall_s"]
            full[s]["speedup_vs_seed_ort_inference"] = full[s]["seed_ort_s"] / (full[s]["timing_ms"]["inference_ms"] / 1e3)
        res["seed"] = seed

    # Linear fit of wall time against pixel count.
    if len(sizes) >= 2:
        xs = [s * s / 1e6 for s in sizes]
        res["fit_wall"] = linear_fit(xs, [full[s]["wall_s"] for s in sizes])
        res["fit_analysis"] = linear_fit(xs, [full[s]["timing_ms"]["total"] / 1e3 for s in sizes])

    # Levers.
    if not args.no_levers and not args.quick:
        res["levers"] = levers(work, sizes, full, T)

    ratios = smoke_ratios(res)
    res["smoke_ratios"] = ratios
    if args.record_baseline:
        BASELINE.write_text(json.dumps({"recorded": res["started"], "machine": res["machine"].get("Model name"),
                                        "threads": T, "ratios": ratios}, indent=2) + "\n")
        log(f"baseline written to {BASELINE}")
    res["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    res["load"] = {"start": load_start, "end": load_snapshot()}
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(markdown(res))
    return res


def smoke_ratios(res):
    """Machine-independent-ish ratios the CI smoke test compares against (see tests/test_bench_smoke.py)."""
    s = min(res["sizes"])
    r = res["full"][s]
    o = res["ours"][r["tile"]]
    return {
        # Whole `stemsight analyze` child (start, read, analysis, writing) over onnxruntime's
        # time for the same network tiles: catches regressions anywhere in the engine.
        "cli_wall_over_ort_inference": r["wall_s"] * 1e3 / r["ort_inference_ms"],
        # tract steady-state ms per tile over onnxruntime's, at the tile the engine chose.
        "tract_over_ort": o["tract_over_ort"],
        "size": s,
        "tile": r["tile"],
    }


def levers(work, sizes, full, T):
    lv = {}
    onnx_path = MODEL_DIR / "model.onnx"
    # Tile size x executor, per-pixel cost on tract (and onnxruntime for reference).
    log("levers: tile size x executor ...")
    grid = {}
    for tile in (128, 256, 320, 512, 576, 1024):
        runs = max(2, int(32 * (128 / tile) ** 2))
        g = {"st": tract_time(onnx_path, tile, max(2, runs // 2), 1, "st"),
             "mt": tract_time(onnx_path, tile, runs, T, "mt"),
             "tiles": tract_time(onnx_path, tile, max(runs, 2 * T), T, "tiles")}
        if tile == 256:
            g["symbolic_mt"] = tract_time(onnx_path, tile, max(2, runs // 2), T, "mt", "symbolic")
        g["ort"] = ort_time(retype_onnx(onnx_path, work / "models" / f"ours_{tile}.onnx", tile), tile, T, max(3, runs // 2))
        g["ort_1thread"] = ort_time(work / "models" / f"ours_{tile}.onnx", tile, 1, max(3, runs // 2))
        grid[tile] = g
    lv["tile_executor"] = grid

    mid = 1024 if 1024 in sizes else sizes[len(sizes) // 2]
    big = max(sizes)
    img_mid, img_big = simulate(mid, work), simulate(big, work)
    # Engine-level: threads, halo, executor mode, forced tile, canonical pixel size, warm plans.
    log("levers: engine settings ...")
    e = {}
    e[f"cli_threads1_{mid}"] = analyze_cli(img_mid, work / "out" / "lv_t1", 1)
    for halo in (16, 48):
        e[f"cli_halo{halo}_{mid}"] = analyze_cli(img_mid, work / "out" / f"lv_h{halo}", T, extra=["--halo", str(halo)])
    # Canonical pixel size: claiming 0.2 Å/px skips the 2x down-sampling, so the network sees
    # 4x the pixels (what running the model at the input's 0.1 Å/px would cost).
    e[f"cli_pixel0.2_{mid}"] = analyze_cli(img_mid, work / "out" / "lv_px", T, extra=["--pixel-size", "0.2"])
    # (name, image, kwargs of analyze_stages). The default: tiles fitted to the image (one
    # 576² tile = 512 + 2*32 for a 1024² image), one at a time, matmuls over all threads ("mt").
    # Against it: rayon over tiles ("tiles"), the former fixed 128/256/512 tiles, halo 16.
    runs = [
        (f"stages_default_{mid}", img_mid, dict(repeat=1)),
        (f"stages_tiles_{mid}", img_mid, dict(mode="tiles", repeat=1)),
        (f"stages_tile128_{mid}", img_mid, dict(tile=128, repeat=1)),
        (f"stages_tile256_{mid}", img_mid, dict(tile=256, repeat=1)),
        (f"stages_tile256_tiles_{mid}", img_mid, dict(tile=256, mode="tiles", repeat=1)),
        (f"stages_tile544_halo16_{mid}", img_mid, dict(tile=544, halo=16, repeat=1)),
    ]
    if big != mid:
        runs += [
            (f"stages_default_{big}", img_big, {}),
            (f"stages_tiles_{big}", img_big, dict(mode="tiles")),
            (f"stages_tile512_{big}", img_big, dict(tile=512)),
            (f"stages_tile1088_{big}", img_big, dict(tile=1088)),
            (f"stages_halo16_{big}", img_big, dict(halo=16)),
        ]
    for name, img, kw in runs:
        log(f"  {name} ...")
        e[name] = analyze_stages(img, work / "out" / f"lv_{name}", T, **kw)
    lv["engine"] = e

    # Architecture: width/depth, shared backbone vs 4 networks, ConvTranspose vs Resize.
    log("levers: architecture variants ...")
    arch = {}
    variants = {
        "w16_d3": dict(width=16, depth=3, kernel=3),
        "w24_d3 (shipped)": dict(width=24, depth=3, kernel=3),
        "w32_d3": dict(width=32, depth=3, kernel=3),
        "w24_d2": dict(width=24, depth=2, kernel=3),
        "w24_d4": dict(width=24, depth=4, kernel=3),
        "w16_d4": dict(width=16, depth=4, kernel=3),
    }
    for name, kw in variants.items():
        path = export_net(kw, work / "models" / f"arch_{name.split()[0]}.onnx")
        arch[name] = {"flops_256": onnx_flops(path, 256), "tract": tract_time(path, 256, 8, T, "tiles"),
                      "ort": ort_time(path, 256, T, 8)}
    path = export_net(dict(width=24, depth=3, kernel=3), work / "models" / "arch_w24_d3_atoms_only.onnx", heads={"atoms": 2})
    one = tract_time(path, 256, 8, T, "tiles")
    arch["w24_d3, one head (x4 networks)"] = {"flops_256": 4 * onnx_flops(path, 256), "tract": dict(one, ms_per_tile=4 * one["ms_per_tile"])}
    for mode in ("bilinear", "nearest"):
        path = export_net(dict(width=24, depth=3, kernel=3), work / "models" / f"arch_w24_d3_resize_{mode}.onnx", upsample=mode)
        arch[f"w24_d3, Resize({mode})+1x1 instead of ConvTranspose"] = {
            "flops_256": onnx_flops(path, 256), "tract": tract_time(path, 256, 8, T, "tiles"), "ort": ort_time(path, 256, T, 8)}
    lv["architecture"] = arch
    return lv


def markdown(res):
    T = res["threads"]
    m = res["machine"]
    L = []
    L.append(f"## Machine\n\n{m.get('Model name', '?')}, {m.get('CPU(s)', m.get('nproc'))} CPUs "
             f"({m.get('Flags', '')}), {m.get('MemTotal', '?')}; benchmark threads: {T}. "
             f"float32 matmul peak (best of numpy/OpenBLAS and torch, 2048³): "
             f"{res['peak']['threads_1']['gflops']:.0f} GFLOP/s on 1 thread, "
             f"{res['peak'][f'threads_{T}']['gflops']:.0f} GFLOP/s on {T}.\n")
    ld = res.get("load", {})
    if ld:
        busy = sorted(set(ld["start"].get("busy", []) + ld["end"].get("busy", [])))
        L.append(f"Load average at start / end: {', '.join(f'{v:.1f}' for v in ld['start']['loadavg'])} / "
                 f"{', '.join(f'{v:.1f}' for v in ld['end']['loadavg'])}"
                 + (". Other busy processes: " + "; ".join(f"`{b}`" for b in busy) if busy else " (machine otherwise idle)") + ".\n")
    a = res["model"]["architecture"]
    L.append(f"Model: `{res['model']['dir']}` (ResUNet width {a['width']}, depth {a['depth']}, "
             f"{a['kernel']}×{a['kernel']}, {a['params']:,} parameters, 4 heads, canonical "
             f"{res['model']['pixel_size_angstrom']} Å/px), sha256 {res['model']['sha256'][:12]}….\n")
    L.append(f"## (a) Full four-task analysis, `stemsight analyze --threads {T}` (0.1 Å/px input)\n")
    L.append("| image | wall s | peak RSS MB | read ms | resample ms | inference ms | analysis ms | maps ms | write ms | start+load ms | tile × n | Mpx/s |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in res["sizes"]:
        r = res["full"][s]
        t = r["timing_ms"]
        L.append(f"| {s}² | {r['wall_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['read_ms']:.0f} | "
                 f"{t.get('resample_ms', 0):.0f} | {t.get('inference_ms', 0):.0f} | {t.get('analysis_ms', 0):.0f} | "
                 f"{t.get('maps_ms', 0):.0f} | {r['write_ms']:.0f} | {r['other_ms']:.0f} | {r['tile']}² × {r['tiles']} | "
                 f"{s * s / 1e6 / r['wall_s']:.1f} |")
    if "fit_wall" in res:
        f = res["fit_wall"]
        g = res["fit_analysis"]
        L.append(f"\nLinear fit, wall = a + b·Mpx: a = {f['a_s']:.3f} s, b = {f['b_s_per_mpx']:.3f} s/Mpx, "
                 f"R² = {f['r2']:.4f}, largest residual {100 * f['max_rel_residual']:.0f} %, log-log slope "
                 f"{f['loglog_slope']:.2f}. In-engine analysis only (timing total): a = {g['a_s']:.3f} s, "
                 f"b = {g['b_s_per_mpx']:.3f} s/Mpx, R² = {g['r2']:.4f}, log-log slope {g['loglog_slope']:.2f}.\n")
    L.append(f"## (b) Our model: tract vs onnxruntime, {T} threads, same tiles\n")
    L.append("| tile | GFLOP/tile | onnxruntime ms/tile | tract ms/tile (mt executor) | tract ms/tile (rayon over tiles) | tract / ort | GFLOP/s tract | GFLOP/s ort | % of matmul peak (tract) |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    peak = res["peak"][f"threads_{T}"]["gflops"]
    for tile, o in res["ours"].items():
        L.append(f"| {tile}² | {o['flops'] / 1e9:.2f} | {o['ort']['ms_per_tile']:.1f} | {o['tract_mt']['ms_per_tile']:.1f} | "
                 f"{o['tract_tiles']['ms_per_tile']:.1f} | {o['tract_over_ort']:.2f} | {o['gflops_tract']:.0f} | "
                 f"{o['gflops_ort']:.0f} | {100 * o['gflops_tract'] / peak:.0f} % |")
    L.append("\nPer image (engine inference stage, fresh process, incl. plan build, vs the same tiles on onnxruntime):\n")
    L.append("| image | engine inference ms | tract steady-state ms | onnxruntime ms | engine / ort | engine GFLOP/s | % of peak |")
    L.append("|---|---|---|---|---|---|---|")
    for s in res["sizes"]:
        r = res["full"][s]
        L.append(f"| {s}² | {r['timing_ms']['inference_ms']:.0f} | {r['tract_steady_inference_ms']:.0f} | "
                 f"{r['ort_inference_ms']:.0f} | {r['engine_over_ort']:.2f} | {r['gflops_engine']:.0f} | "
                 f"{100 * r['gflops_engine'] / peak:.0f} % |")
    if "seed" in res:
        sd = res["seed"]
        L.append(f"\n## (c) Seed paper architecture (4 networks: ResUNet 5 blocks, 32 filters, 7×7, {SEED_TILE}² tiles at 0.1 Å/px)\n")
        L.append("| network | GFLOP/tile | onnxruntime ms/tile | tract ms/tile (mt) | tract ms/tile (rayon over tiles) |")
        L.append("|---|---|---|---|---|")
        for h, n in sd["nets"].items():
            L.append(f"| {h} | {n['flops'] / 1e9:.1f} | {n['ort']['ms_per_tile']:.0f} | {n['tract_mt']['ms_per_tile']:.0f} | {n['tract_tiles']['ms_per_tile']:.0f} |")
        L.append(f"| **all 4** | {sd['flops_per_tile_4nets'] / 1e9:.1f} | {sd['ort_ms_per_tile_4nets']:.0f} | | {sd['tract_ms_per_tile_4nets']:.0f} (best) |")
        L.append(f"\nAchieved: onnxruntime {sd['gflops_ort']:.0f} GFLOP/s, tract {sd['gflops_tract']:.0f} GFLOP/s "
                 f"({100 * sd['gflops_ort'] / peak:.0f} % / {100 * sd['gflops_tract'] / peak:.0f} % of peak).\n")
        L.append("| image | seed 256² tiles | seed on onnxruntime s (inference only) | seed on tract s | ours, full analysis s | speed-up vs seed/ort (full analysis) | (inference vs inference) |")
        L.append("|---|---|---|---|---|---|---|")
        for s in res["sizes"]:
            r = res["full"][s]
            L.append(f"| {s}² | {r['seed_tiles']} | {r['seed_ort_s']:.1f} | {r['seed_tract_s']:.1f} | {r['wall_s']:.2f} | "
                     f"{r['speedup_vs_seed_ort']:.0f}× | {r['speedup_vs_seed_ort_inference']:.0f}× |")
    if "levers" in res:
        L.append(lever_markdown(res))
    L.append(f"\nSmoke-test ratios: {json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in res['smoke_ratios'].items()})}")
    return "\n".join(L)


def lever_markdown(res):
    lv = res["levers"]
    T = res["threads"]
    L = [f"\n## Levers\n\n### Tile size × executor (our model on tract; ms per Mpx of tile input, {T} threads)\n"]
    L.append("| tile | 1 thread | mt executor | rayon over tiles | symbolic H,W (mt) | onnxruntime | onnxruntime 1 thread | plan build ms |")
    L.append("|---|---|---|---|---|---|---|---|")
    for tile, g in lv["tile_executor"].items():
        sym = g.get("symbolic_mt")
        L.append(f"| {tile}² | {g['st']['ms_per_mpx']:.0f} | {g['mt']['ms_per_mpx']:.0f} | {g['tiles']['ms_per_mpx']:.0f} | "
                 f"{fmt(sym['ms_per_mpx'], 0) if sym else '–'} | {g['ort']['ms_per_tile'] / (int(tile) ** 2 / 1e6):.0f} | "
                 f"{g['ort_1thread']['ms_per_tile'] / (int(tile) ** 2 / 1e6):.0f} | {g['mt']['build_ms']:.0f} |")
    L.append("\n### Engine settings (full analysis)\n")
    L.append("| run | wall s | analyze ms (cold) | analyze ms (warm plans) | inference ms | tile × n | peak RSS MB |")
    L.append("|---|---|---|---|---|---|---|")
    for name, r in lv["engine"].items():
        if name.startswith("cli"):
            L.append(f"| `{name}` | {r['wall_s']:.2f} | {r['timing_ms']['total']:.0f} | – | {r['timing_ms']['inference_ms']:.0f} | "
                     f"{r['tile']}² × {r['tiles']} | {r['peak_rss_mb']:.0f} |")
        else:
            warm = r["warm_analyze_ms"][-1] if r["warm_analyze_ms"] else None
            L.append(f"| `{name}` | {r['wall_s']:.2f} | {r['analyze_ms']:.0f} | {fmt(warm, 0)} | "
                     f"{r['timing_ms']['inference_ms']:.0f} | {r['tile']}² × {r['tiles']} | {r['peak_rss_mb']:.0f} |")
    L.append("\n### Architecture (untrained variants, 256² tiles, rayon over tiles)\n")
    L.append("| variant | GFLOP/tile | tract ms/tile | onnxruntime ms/tile | tract GFLOP/s |")
    L.append("|---|---|---|---|---|")
    for name, a in lv["architecture"].items():
        ort_ms = a.get("ort", {}).get("ms_per_tile")
        L.append(f"| {name} | {a['flops_256'] / 1e9:.2f} | {a['tract']['ms_per_tile']:.1f} | {fmt(ort_ms, 1)} | "
                 f"{a['flops_256'] / a['tract']['ms_per_tile'] / 1e6:.0f} |")
    return "\n".join(L)


if __name__ == "__main__":
    main()
