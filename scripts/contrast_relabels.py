#!/usr/bin/env python3
"""Where the column contrast relabels a 2H class on simulated images analyzed with their own
chemistry given (`stemsight eval` analyzes every image with one chemistry, MoS₂ unless told).

    python3 scripts/contrast_relabels.py [--bin target/release/stemsight] [--out out/relabels]
                                         [SET ...]      (default: data/eval_chem data/eval_laadf)

Each folder of a held-out set (`scripts/eval.sh` makes them) is analyzed with
`--chemistry <its truth's chemistry>`; prints, per set and chemistry, the images whose
report relabels a class by its contrast (`polymorph.column_contrast[].relabelled_to`), with
the measured ratio and the polymorphs the truth holds. Analyses already under --out are reused.
"""

import argparse
import collections
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "stemsight"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "relabels"))
    ap.add_argument("sets", nargs="*", default=[os.path.join(ROOT, "data", s) for s in ("eval_chem", "eval_laadf")])
    args = ap.parse_args()
    print("| set | chemistry | images | relabelled (image: class → to, ratio; truth) |")
    print("|---|---|---|---|")
    for root in args.sets:
        name = os.path.basename(os.path.normpath(root))
        by_chemistry = collections.defaultdict(list)
        for d in sorted(os.listdir(root)):
            truth = os.path.join(root, d, "truth.json")
            if os.path.exists(truth):
                with open(truth) as f:
                    params = json.load(f)["params"]
                by_chemistry[params.get("chemistry", "MoS2")].append((d, params))
        for chemistry, folders in sorted(by_chemistry.items()):
            out = os.path.join(args.out, name, chemistry)
            links = os.path.join(args.out, name, f"{chemistry}-images")
            os.makedirs(links, exist_ok=True)
            images = []
            for d, _ in folders:
                link = os.path.join(links, f"{d}.tif")
                if not os.path.lexists(link):
                    os.symlink(os.path.abspath(os.path.join(root, d, "image.tif")), link)
                images.append(link)
            subprocess.run([args.bin, "analyze", "--chemistry", chemistry, "--skip-existing", "--out", out] + images,
                           check=True, capture_output=True)
            moved = []
            for d, params in folders:
                with open(os.path.join(out, d, "report.json")) as f:
                    report = json.load(f)
                truth = " + ".join(p for p in (params["polymorph"], params.get("second_polymorph")) if p)
                for c in report["polymorph"].get("column_contrast", []):
                    if c.get("relabelled_to"):
                        moved.append(f"{d}: {c['polymorph']} → {c['relabelled_to']}, {c['ratio']:.2f}; {truth}")
            print(f"| {name} | {chemistry} | {len(folders)} | {'; '.join(moved) or 'none'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
