"""CI-sized guard for the speed benchmark (issue 6; full run: scripts/bench/bench.py).

Runs `bench.py --quick` on one 512² image (< 60 s on 2 cores) and fails only on a gross
regression: a ratio more than 3x the one recorded in scripts/bench/baseline.json. The
ratios compare our engine with onnxruntime on the same machine at the same moment, so a
slower or busier CI machine does not trip the guard; a slower engine does:
- cli_wall_over_ort_inference: the whole `stemsight analyze` child process over
  onnxruntime's time for the same network tiles;
- tract_over_ort: tract's ms per tile over onnxruntime's for the shipped model.

Skips (with the reason) when the release binaries are not built yet (scripts/test.sh runs
`cargo test --workspace --release` first, which builds them) or onnxruntime is missing.
"""

import importlib.util
import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "scripts" / "bench" / "bench.py"
BASELINE = ROOT / "scripts" / "bench" / "baseline.json"
FACTOR = 3.0


def load_bench():
    spec = importlib.util.spec_from_file_location("stemsight_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_smoke(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    bench = load_bench()
    for exe, build in ((bench.BIN, "--bin stemsight"), (bench.TIME_ONNX, "--example time_onnx"),
                       (bench.STAGES, "--example analyze_stages")):
        if not exe.exists():
            pytest.skip(f"{exe} not built (cargo build --release {build})")
    baseline = json.loads(BASELINE.read_text())
    t0 = time.perf_counter()
    res = bench.main(["--quick", "--sizes", str(baseline["ratios"]["size"]),
                      "--threads", str(baseline["threads"]), "--work", str(tmp_path)])
    elapsed = time.perf_counter() - t0
    table = capsys.readouterr().out
    assert "Full four-task analysis" in table

    got = res["smoke_ratios"]
    failures = []
    for key, recorded in baseline["ratios"].items():
        if key in ("size", "tile") or not isinstance(recorded, (int, float)):
            continue
        if got[key] > FACTOR * recorded:
            failures.append(f"{key} = {got[key]:.2f} > {FACTOR} x recorded {recorded:.2f}")
    assert not failures, "gross speed regression: " + "; ".join(failures)
    # Sanity of the measurement itself, not a speed target.
    r = res["full"][baseline["ratios"]["size"]]
    assert r["peak_rss_mb"] > 0 and r["wall_s"] > 0 and r["n_atoms"] > 0
    print(f"bench smoke: {elapsed:.1f} s, ratios {got}")
