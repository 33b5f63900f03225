"""Markdown tables of `stemsight eval` scores against the model targets.

    python3 scripts/metrics_table.py models/metrics/eval_paper_dose.json [models/metrics/eval_curves.json]
    python3 scripts/metrics_table.py --update models/README.md

`--update` rewrites, in place, every block between `<!-- metrics: FILE -->` and
`<!-- /metrics -->` with the tables of FILE (relative to the README's folder).
"""

import json
import os
import re
import sys

TARGETS = {"vs1_f1": 0.95, "vs2_f1": 0.98, "atom_recall": 0.995, "atom_precision": 0.995, "rmse_pm": 5.0, "poly": 0.97}


def mark(ok):
    return "✓" if ok else "✗"


FALLBACK = {"combined": "gaussian", "gaussian": "centroid", "centroid": "heatmap", "heatmap": "centroid"}


def headline(r):
    o = r["overall"]
    ref = r.get("refinement", "centroid")
    rows = [
        ("atom columns: precision", o["atoms"]["precision"], "≥ 0.995", o["atoms"]["precision"] >= 0.995),
        ("atom columns: recall", o["atoms"]["recall"], "≥ 0.995", o["atoms"]["recall"] >= 0.995),
        (f"atom position RMSE (pm), {ref}", o["atoms"]["rmse_pm"], "≤ 5", o["atoms"]["rmse_pm"] <= 5),
        (f"atom position RMSE (pm), {FALLBACK.get(ref, 'other')}", o["atoms_rmse_alt_pm"], "≤ 5",
         o["atoms_rmse_alt_pm"] <= 5),
    ]
    if "atoms_rmse_registered_pm" in o:
        # Each image's mean offset removed: a rigid shift of the frame (a comatic probe's,
        # for one) is unobservable, so only relative positions can be scored.
        reg = o["atoms_rmse_registered_pm"]
        rows.append((f"atom position RMSE (pm), {ref}, frame offset removed", reg, "≤ 5", reg <= 5))
        rows.append((f"atom position RMSE (pm), {ref}, x only (fast scan)", o["atoms"]["rmse_x_pm"], "", True))
        rows.append((f"atom position RMSE (pm), {ref}, y only (slow scan)", o["atoms"]["rmse_y_pm"], "", True))
    if "atoms_rmse_clean_pm" in o:
        rows.append((f"atom position RMSE (pm), {ref}, true carbon < 3 Å", o["atoms_rmse_clean_pm"], "≤ 5",
                     o["atoms_rmse_clean_pm"] <= 5))
        for site, v in o["atoms_rmse_by_site_pm"].items():
            rows.append((f"atom position RMSE (pm), {ref}, {site} columns", v, "", True))
    rows += [
        ("VS1 F1 (all areas)", o["vs1"]["f1"], "≥ 0.95", o["vs1"]["f1"] >= 0.95),
        ("VS2 F1 (all areas)", o["vs2"]["f1"], "≥ 0.98", o["vs2"]["f1"] >= 0.98),
        ("VS1 F1 (true carbon < 3 Å)", o["vs1_clean"]["f1"], "≥ 0.95", o["vs1_clean"]["f1"] >= 0.95),
        ("VS2 F1 (true carbon < 3 Å)", o["vs2_clean"]["f1"], "≥ 0.98", o["vs2_clean"]["f1"] >= 0.98),
    ]
    if "vs1_analyzed" in o:
        rows += [
            ("VS1 F1 (area the tool's carbon map keeps)", o["vs1_analyzed"]["f1"], "≥ 0.95",
             o["vs1_analyzed"]["f1"] >= 0.95),
            ("VS2 F1 (area the tool's carbon map keeps)", o["vs2_analyzed"]["f1"], "≥ 0.98",
             o["vs2_analyzed"]["f1"] >= 0.98),
        ]
    for k, v in o["polymorph_accuracy"].items():
        if v is not None:
            rows.append((f"polymorph pixel accuracy {k}", v, "≥ 0.97", v >= 0.97))
    rows.append(("carbon thickness MAE (Å)", o["carbon_mae_a"], "", True))
    rows.append(("carbon mask IoU (≥ 3 Å)", o["carbon_iou"], "", True))
    if "kept_fraction" in o:
        rows.append(("share of the material area kept for counting", o["kept_fraction"], "", True))
    if "vs1_density_ratio" in o:
        # The report's VS per S2 site over the truth's: 1 when the kept area is chosen blind
        # to the defects.
        rows.append(("VS1 per S₂ site, report ÷ truth", o["vs1_density_ratio"], "", True))
        rows.append(("VS2 per S₂ site, report ÷ truth", o["vs2_density_ratio"], "", True))
    # 95 % intervals over images (bootstrap in `stemsight eval`), where the eval has them.
    iv = r.get("interval95", {})
    keys = {
        "atom columns: precision": "atoms_precision",
        "atom columns: recall": "atoms_recall",
        f"atom position RMSE (pm), {ref}": "atoms_rmse_pm",
        "VS1 F1 (all areas)": "vs1_f1",
        "VS2 F1 (all areas)": "vs2_f1",
        "VS1 F1 (true carbon < 3 Å)": "vs1c_f1",
        "VS2 F1 (true carbon < 3 Å)": "vs2c_f1",
        "VS1 F1 (area the tool's carbon map keeps)": "vs1a_f1",
        "VS2 F1 (area the tool's carbon map keeps)": "vs2a_f1",
        "VS1 per S₂ site, report ÷ truth": "vs1_density_ratio",
        "VS2 per S₂ site, report ÷ truth": "vs2_density_ratio",
    }
    if iv:
        out = ["| metric | held-out | 95 % interval | target | |", "|---|---|---|---|---|"]
    else:
        out = ["| metric | held-out | target | |", "|---|---|---|---|"]
    for name, v, t, ok in rows:
        if iv:
            lo_hi = iv.get(keys.get(name, ""))
            cell = f"{lo_hi[0]:.4f}–{lo_hi[1]:.4f}" if lo_hi else ""
            out.append(f"| {name} | {v:.4f} | {cell} | {t} | {mark(ok) if t else ''} |")
        else:
            out.append(f"| {name} | {v:.4f} | {t} | {mark(ok) if t else ''} |")
    return "\n".join(out)


def breakdown(r, key, label):
    out = [f"| {label} | images | atom P | atom R | RMSE pm | VS1 F1 | VS2 F1 | VS1 F1 clean | VS2 F1 clean | VS1 F1 kept | VS2 F1 kept | polymorph acc | polymorph acc clean | carbon MAE Å | kept |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for k, s in r[key].items():
        out.append(
            f"| {k} | {s['images']} | {s['atoms']['precision']:.4f} | {s['atoms']['recall']:.4f} | {s['atoms']['rmse_pm']:.2f} | "
            f"{s['vs1']['f1']:.3f} | {s['vs2']['f1']:.3f} | {s['vs1_clean']['f1']:.3f} | {s['vs2_clean']['f1']:.3f} | "
            f"{s.get('vs1_analyzed', {}).get('f1', float('nan')):.3f} | {s.get('vs2_analyzed', {}).get('f1', float('nan')):.3f} | "
            f"{s['polymorph_pixel_accuracy']:.3f} | {s['polymorph_pixel_accuracy_clean']:.3f} | {s['carbon_mae_a']:.2f} | {s.get('kept_fraction', float('nan')):.2f} |"
        )
    return "\n".join(out)


def tables(r):
    parts = [headline(r)]
    for key, label in (("by_dose", "dose e⁻/Å²"), ("by_carbon", "carbon level"), ("by_scan_noise", "scan noise"),
                       ("by_pixel_size", "pixel size"), ("by_chemistry", "compound")):
        if r.get(key) and (key != "by_chemistry" or len(r[key]) > 1):
            parts.append(breakdown(r, key, label))
    return "\n\n".join(parts)


def update(readme):
    base = os.path.dirname(os.path.abspath(readme))
    text = open(readme).read()

    def fill(m):
        r = json.load(open(os.path.join(base, m.group(1))))
        return f"<!-- metrics: {m.group(1)} -->\n{tables(r)}\n<!-- /metrics -->"

    new, n = re.subn(r"<!-- metrics: (\S+) -->.*?<!-- /metrics -->", fill, text, flags=re.S)
    open(readme, "w").write(new)
    print(f"{n} metric blocks rewritten in {readme}")


def main(args):
    if args[:1] == ["--update"]:
        update(args[1])
        return
    for p in args:
        print(f"### {p}\n")
        print(tables(json.load(open(p))) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
