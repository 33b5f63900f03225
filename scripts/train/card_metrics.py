"""Copy the held-out scores of `stemsight eval` into a model's card.

    python scripts/train/card_metrics.py models/stemsight-resunet models/metrics/eval_paper_dose.json \
        models/metrics/eval_curves.json

Writes `heldout_metrics` into model.json and `config.stemsight.heldout_metrics`
into rdf.yaml (the ONNX file and its sha256 are untouched), so the card carries
the numbers a user should trust, with the command that produced them.
"""

import json
import os
import sys

import yaml


def summarize(path):
    r = json.load(open(path))
    o = r["overall"]
    out = {
        "source": os.path.relpath(path, start=os.path.dirname(os.path.dirname(os.path.abspath(path)))),
        "images": o["images"],
        "atoms": {k: o["atoms"][k] for k in ("precision", "recall", "f1", "rmse_pm", "rmse_x_pm", "rmse_y_pm")
                  if k in o["atoms"]},
        "atoms_rmse_registered_pm": o.get("atoms_rmse_registered_pm"),
        "vs1": {k: o["vs1"][k] for k in ("precision", "recall", "f1")},
        "vs2": {k: o["vs2"][k] for k in ("precision", "recall", "f1")},
        "vs1_clean_f1": o["vs1_clean"]["f1"],
        "vs2_clean_f1": o["vs2_clean"]["f1"],
        "vs1_analyzed_f1": o.get("vs1_analyzed", {}).get("f1"),
        "vs2_analyzed_f1": o.get("vs2_analyzed", {}).get("f1"),
        "atoms_rmse_clean_pm": o.get("atoms_rmse_clean_pm"),
        "atoms_rmse_by_site_pm": o.get("atoms_rmse_by_site_pm"),
        "polymorph_accuracy": o["polymorph_accuracy"],
        "polymorph_accuracy_clean": o["polymorph_accuracy_clean"],
        "carbon_mae_angstrom": o["carbon_mae_a"],
        "carbon_iou": o["carbon_iou"],
        "by_dose": {k: {"vs1_f1": v["vs1"]["f1"], "vs2_f1": v["vs2"]["f1"], "atoms_recall": v["atoms"]["recall"],
                        "atoms_rmse_pm": v["atoms"]["rmse_pm"], "polymorph_pixel_accuracy": v["polymorph_pixel_accuracy"]}
                    for k, v in r["by_dose"].items()},
        "by_carbon": {k: {"vs1_f1": v["vs1"]["f1"], "vs2_f1": v["vs2"]["f1"], "atoms_recall": v["atoms"]["recall"],
                          "polymorph_pixel_accuracy": v["polymorph_pixel_accuracy"],
                          "polymorph_pixel_accuracy_clean": v["polymorph_pixel_accuracy_clean"]}
                      for k, v in r["by_carbon"].items()},
    }
    return out


def main(argv):
    model_dir, evals = argv[0], argv[1:]
    metrics = {os.path.splitext(os.path.basename(p))[0]: summarize(p) for p in evals}
    metrics["command"] = "bash scripts/eval.sh"
    card_path = os.path.join(model_dir, "model.json")
    card = json.load(open(card_path))
    card["heldout_metrics"] = metrics
    with open(card_path, "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2, ensure_ascii=False)
    rdf_path = os.path.join(model_dir, "rdf.yaml")
    rdf = yaml.safe_load(open(rdf_path))
    rdf.setdefault("config", {}).setdefault("stemsight", {})["heldout_metrics"] = metrics
    with open(rdf_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(rdf, f, sort_keys=False, allow_unicode=True)
    print(f"metrics from {len(evals)} eval files written to {card_path} and {rdf_path}")


if __name__ == "__main__":
    main(sys.argv[1:])
