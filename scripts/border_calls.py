#!/usr/bin/env python3
"""Vacancy calls by distance from the image border, on simulated WSe₂ monolayers with exact
truth: whether the band along the border (where the real images' labels stop) holds more false
calls than the interior.

    python3 scripts/border_calls.py [--bin target/release/stemsight] [--out out/border]
                                    [--pixel-sizes 0.26,0.4] [--seeds 1-8]

Each frame: `stemsight simulate --polymorph 2H-1L --chemistry WSe2 --size 512` (the simulator's
random optics, noise and degradations), analyzed with `--chemistry WSe2 --no-carbon-filter`;
calls matched one-to-one to true vacancies within half a column spacing. Prints true and false
calls, missed vacancies and chalcogen sites per band (Å from the nearest border; the report
calls none within 1 Å). Frames already simulated and analyzed under --out are reused.
"""

import argparse
import json
import math
import os
import subprocess
import sys

from eval_real import WSE2_COLUMN_SPACING_A, match

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANDS = [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0), (4.0, 6.0), (6.0, math.inf)]


def band_of(x, y, w, h, px):
    edge = min(x, y, w - 1 - x, h - 1 - y) * px
    return next(i for i, (_, hi) in enumerate(BANDS) if edge < hi)


def frame(binary, out, px, seed):
    sim = os.path.join(out, f"wse2_{px}_{seed}")
    if not os.path.exists(os.path.join(sim, "truth.json")):
        subprocess.run([binary, "simulate", "--polymorph", "2H-1L", "--chemistry", "WSe2", "--size", "512",
                        "--pixel-size", str(px), "--seed", str(seed), "--out", sim], check=True, capture_output=True)
    report = os.path.join(sim, "analysis", "image", "report.json")
    if not os.path.exists(report):
        subprocess.run([binary, "analyze", "--chemistry", "WSe2", "--no-carbon-filter", "--out",
                        os.path.join(sim, "analysis"), os.path.join(sim, "image.tif")], check=True, capture_output=True)
    with open(os.path.join(sim, "truth.json")) as f, open(report) as g:
        return json.load(f), json.load(g)


def tally(truth, report, px, counts):
    w, h = truth["width"], truth["height"]
    radius = 0.5 * WSE2_COLUMN_SPACING_A / px
    calls = [(v["x"], v["y"]) for v in report["vacancies"]]
    true_vac = [(v["x"], v["y"]) for v in truth["vacancies"]]
    true_calls, found = match(calls, true_vac, radius)
    for i, (x, y) in enumerate(calls):
        counts[band_of(x, y, w, h, px)]["true" if i in true_calls else "false"] += 1
    for j, (x, y) in enumerate(true_vac):
        if j not in found:
            counts[band_of(x, y, w, h, px)]["missed"] += 1
    for c in truth["columns"]:
        if not c["metal"]:
            counts[band_of(c["x"], c["y"], w, h, px)]["sites"] += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "stemsight"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "border"))
    ap.add_argument("--pixel-sizes", default="0.26,0.4")
    ap.add_argument("--seeds", default="1-8", help="first-last, inclusive")
    args = ap.parse_args()
    first, last = (int(v) for v in args.seeds.split("-"))
    print("| Å/px | band (Å from the border) | chalcogen sites | true calls | false calls | missed |")
    print("|---|---|---|---|---|---|")
    for px in (float(v) for v in args.pixel_sizes.split(",")):
        counts = [{"true": 0, "false": 0, "missed": 0, "sites": 0} for _ in BANDS]
        for seed in range(first, last + 1):
            tally(*frame(args.bin, args.out, px, seed), px, counts)
        for (lo, hi), c in zip(BANDS, counts):
            band = f"{lo:g}–{hi:g}" if math.isfinite(hi) else f"≥ {lo:g}"
            print(f"| {px:g} | {band} | {c['sites']} | {c['true']} | {c['false']} | {c['missed']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
