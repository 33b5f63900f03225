"""scripts/compare_eval.py: timings aside, any changed, missing or extra field is a difference."""
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_eval.py"


def compare(tmp_path, a, b):
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a))
    pb.write_text(json.dumps(b))
    return subprocess.run([sys.executable, str(SCRIPT), str(pa), str(pb)], capture_output=True, text=True)


def test_timings_are_ignored_and_numbers_are_not(tmp_path):
    base = {"overall": {"atoms": {"f1": 0.99, "n_true": 10}}, "timing_ms": {"total": 5.0}}
    same = {"overall": {"atoms": {"f1": 0.99, "n_true": 10}}, "timing_ms": {"total": 7.0}}
    r = compare(tmp_path, base, same)
    assert r.returncode == 0 and "identical" in r.stdout
    moved = {"overall": {"atoms": {"f1": 0.98, "n_true": 10}}, "timing_ms": {"total": 5.0}}
    r = compare(tmp_path, base, moved)
    assert r.returncode == 1 and "/overall/atoms/f1" in r.stdout
    extra = {"overall": {"atoms": {"f1": 0.99, "n_true": 10, "new": 1}}}
    assert compare(tmp_path, base, extra).returncode == 1
