#!/usr/bin/env python3
"""Markdown table of the frozen-phonon test-set scores written by eval_testset.sh.

Per group (cell, voltage, detector range, dose): polymorph pixel accuracy and what the map
called the area, the fraction flagged as carbon (there is none), column recall/precision,
position RMSE, and VS1/VS2 F1 on the vacancy cell (false calls elsewhere).
Usage: python3 scripts/physics/testset_table.py EVAL_DIR [--dose 1e5 ...] [--before OLD_EVAL_DIR]
With --before, the headline numbers read "old → new".
"""
import argparse
import json
import re
from pathlib import Path

CLASSES = ["vacuum", "2H-1L", "2H-2L", "2H-3L", "3R-2L", "3R-3L", "1T"]
ORDER = ["2H-1L_MoS2", "2H-2L_MoS2", "2H-3L_MoS2", "3R-2L_MoS2", "3R-3L_MoS2", "3R-3L-rev_MoS2",
         "1T-1L_MoS2", "2H-1L_WS2", "2H-1L_MoSe2", "2H-1L_WSe2", "2H-1L_MoS2_VS1+VS2"]


def rows(d: Path):
    out = []
    for f in sorted(d.glob("*.json")):
        m = re.match(r"(.+)_(\d+)kV_(\d+-\d+)mrad_(1e\d)$", f.stem)
        if not m:
            continue
        doc = json.loads(f.read_text())
        e = doc["overall"]
        out.append(dict(cell=m[1], kv=int(m[2]), det=m[3], dose=m[4], n=e["images"],
                        acc=e["polymorph_pixel_accuracy"], flag=1 - e["kept_fraction"],
                        rec=e["atoms"]["recall"], prec=e["atoms"]["precision"], rmse=e["atoms"]["rmse_pm"],
                        vs1=e["vs1"], vs2=e["vs2"], conf=doc["confusion"]))
    out.sort(key=lambda r: (ORDER.index(r["cell"]) if r["cell"] in ORDER else 99, r["kv"], r["det"], r["dose"]))
    return out


def called(r):
    tot = [sum(r["conf"][k][p] for k in range(len(CLASSES))) for p in range(len(CLASSES))]
    s = sum(tot) or 1
    top = sorted(range(len(CLASSES)), key=lambda p: -tot[p])[:2]
    return ", ".join(f"{CLASSES[p]} {tot[p] / s:.2f}" for p in top if tot[p])


def vacancies(r):
    if "VS" in r["cell"]:
        f = lambda v: f"{v['f1']:.2f} ({v['n_true']}/{v['n_pred']})"
        return f"{f(r['vs1'])} / {f(r['vs2'])}"
    return f"false {r['vs1']['n_pred']}/{r['vs2']['n_pred']}"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dir")
    ap.add_argument("--dose", nargs="*", default=["1e5", "1e4", "1e6"])
    ap.add_argument("--before", default=None, help="eval dir of the model to compare against")
    args = ap.parse_args()
    rs = rows(Path(args.dir))
    if args.before:
        old = {(r["cell"], r["kv"], r["det"], r["dose"]): r for r in rows(Path(args.before))}
        print("| cell | kV | detector (mrad) | dose | polymorph accuracy | called | flagged as carbon "
              "| column recall | precision | VS1 / VS2 F1 |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in (r for r in rs if r["dose"] in args.dose):
            o = old.get((r["cell"], r["kv"], r["det"], r["dose"]))
            if o is None:
                continue
            arrow = lambda k, fmt=".2f": f"{o[k]:{fmt}} → {r[k]:{fmt}}"
            vac = (f"{o['vs1']['f1']:.2f}/{o['vs2']['f1']:.2f} → {r['vs1']['f1']:.2f}/{r['vs2']['f1']:.2f}"
                   if "VS" in r["cell"] else f"false {vacancies(o)[6:]} → {vacancies(r)[6:]}")
            print(f"| {r['cell']} | {r['kv']} | {r['det']} | {r['dose']} | {arrow('acc')} | {called(r)} | "
                  f"{arrow('flag')} | {arrow('rec', '.3f')} | {arrow('prec', '.3f')} | {vac} |")
        return
    for dose in args.dose:
        print(f"\n#### {dose} e⁻/Å²\n")
        print("| cell | kV | detector (mrad) | images | polymorph accuracy | called | flagged as carbon "
              "| column recall | precision | RMSE (pm) | VS1 / VS2 F1 (true/found) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in (r for r in rs if r["dose"] == dose):
            print(f"| {r['cell']} | {r['kv']} | {r['det']} | {r['n']} | {r['acc']:.3f} | {called(r)} | {r['flag']:.3f} "
                  f"| {r['rec']:.3f} | {r['prec']:.3f} | {r['rmse']:.1f} | {vacancies(r)} |")


if __name__ == "__main__":
    main()
