#!/usr/bin/env python3
"""Key column ratios from the multislice reference library (library/runs/*.sites.csv).

For every run and detector range it prints the 0.9 A disk-integrated intensity of each
column relative to the run's reference column (REFERENCE, with the run's metal and
chalcogen), the peak ratios, the hollow/bridge values relative to the reference
column's value, and the FWHM of the columns. Standard library only, so CI can use it.

  python summary.py                      # key detector ranges, library runs
  python summary.py --all-ranges --convergence
"""
from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIB = HERE / "library"
KEY_RANGES = [(40, 160), (54, 200), (66, 192), (61, 183), (80, 200), (100, 250)]

# reference column per polymorph (ratios are column / reference)
REFERENCE = {
    "2H-1L": "B:S2",
    "2H-2L": "A:Mo|S2",
    "2H-3L": "B:S2|Mo|S2",
    "3R-2L": "C:S2",
    "3R-3L": "A:Mo|S2",
    "1T-1L": "B:S",
}


def load(group: str = "runs") -> dict:
    """{run_id: {(inner, outer): {tag: row}}} from library/<group>/*.sites.csv."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    for p in sorted((LIB / group).glob("*.sites.csv")):
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                out[r["run_id"]][(int(r["inner_mrad"]), int(r["outer_mrad"]))][r["tag"]] = r
    return out


ELEMENTS = {"MoS2": ("Mo", "S"), "WS2": ("W", "S"), "MoSe2": ("Mo", "Se"), "WSe2": ("W", "Se")}


def ref_tag(polymorph: str, material: str, tags) -> str | None:
    """The reference column of a run, with Mo/S replaced by the run's metal/chalcogen."""
    t = REFERENCE.get(polymorph.split("+", 1)[0])
    if t is None:
        return None
    metal, chalc = ELEMENTS.get(material, ("Mo", "S"))
    t = t.replace("Mo", "{M}").replace("S", chalc).replace("{M}", metal)
    return t if t in tags else None


def ratios(rows_by_tag: dict) -> dict:
    """Column disk ratios, hollow value ratio, FWHM for one (run, range)."""
    any_row = next(iter(rows_by_tag.values()))
    ref = ref_tag(any_row["polymorph"], any_row["material"], rows_by_tag)
    if ref is None:
        return {}
    rd, rv = float(rows_by_tag[ref]["disk"]), float(rows_by_tag[ref]["value"])
    res = {"ref": ref, "cols": {}, "hollow": {}, "fwhm": {}, "peak": {}}
    for tag, r in rows_by_tag.items():
        if r["kind"] in ("column", "vacancy"):
            res["cols"][tag] = float(r["disk"]) / rd
            res["peak"][tag] = float(r["peak"]) / float(rows_by_tag[ref]["peak"])
            res["fwhm"][tag] = float(r["fwhm_A"])
        elif r["kind"] in ("hollow", "bridge"):
            res["hollow"][tag] = float(r["value"]) / rv
    return res


def markdown(groups, ranges=((40, 160), (66, 192))):
    """Per run: column ratios, hollow/reference value and column FWHM at two ranges."""
    hdr = " | ".join(f"{lo}-{hi}: columns / ref" for lo, hi in ranges)
    print(f"| run | ref | {hdr} | hollow / ref ({ranges[0][0]}-{ranges[0][1]}) | FWHM A | s |")
    print("|---|---|" + "---|" * len(ranges) + "---|---|---|")
    for g in groups:
        for rid, by_range in load(g).items():
            res = [ratios(by_range[r]) if r in by_range else {} for r in ranges]
            if not res[0]:
                continue
            any_row = next(iter(by_range[ranges[0]].values()))
            cells = [", ".join(f"{t.replace('|', '/')} {v:.3f}" for t, v in x.get("cols", {}).items()
                               if t != x["ref"]) if x else "" for x in res]
            hol = ", ".join(f"{t.split(':')[0]} {v:.3f}" for t, v in res[0]["hollow"].items()
                            if "hollow" in t) or "-"
            fw = "/".join(f"{v:.2f}" for v in res[0]["fwhm"].values() if not math.isnan(v))
            print(f"| {rid} | {res[0]['ref'].replace('|', '/')} | " + " | ".join(cells)
                  + f" | {hol} | {fw} | {any_row['wall_s']} |")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all-ranges", action="store_true")
    ap.add_argument("--convergence", action="store_true", help="also the numerics checks")
    ap.add_argument("--markdown", action="store_true", help="one compact markdown table (40-160, 66-192)")
    args = ap.parse_args(argv)
    if args.markdown:
        return markdown(groups=["runs"] + (["convergence"] if args.convergence else []))
    groups = ["runs"] + (["convergence"] if args.convergence else [])
    for g in groups:
        data = load(g)
        if not data:
            print(f"no tables in {LIB / g}")
            continue
        print(f"== {g}: integrated column ratio (0.9 A disk) / reference; peak ratio; "
              f"site value / reference value; FWHM [A]")
        for rid, by_range in data.items():
            any_row = next(iter(next(iter(by_range.values())).values()))
            print(f"\n{rid}  ({any_row['configs']} configs, {any_row['wall_s']} s)")
            for rng in sorted(by_range):
                if not args.all_ranges and rng not in KEY_RANGES:
                    continue
                res = ratios(by_range[rng])
                if not res:
                    continue
                cols = "  ".join(f"{t}={v:.3f}" for t, v in res["cols"].items() if t != res["ref"])
                pk = "  ".join(f"{v:.3f}" for t, v in res["peak"].items() if t != res["ref"])
                hol = "  ".join(f"{t.split(':')[0]}={v:.3f}" for t, v in res["hollow"].items())
                fw = " ".join(f"{v:.2f}" if not math.isnan(v) else "nan" for v in res["fwhm"].values())
                print(f"  {rng[0]:3d}-{rng[1]:3d}  ref {res['ref']}: {cols} | peak {pk} | sites {hol} | fwhm {fw}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
