"""Retrain only the carbon head of a trained ResUNet, everything else frozen.

    python3 scripts/train/carbon_head.py --ckpt scripts/train/runs/chem_ft/best.pt \
        --data data/train2 data/train3 --val-data data/val2 data/val3 \
        --steps 3000 --out scripts/train/runs/carbon_head

The carbon head is one 1x1 convolution over the features every head shares, so
retraining it leaves the atom, vacancy and polymorph outputs bit for bit as they
were. The target is the carbon above each sample's uniform film (`--above-film`,
default on): patches, which spoil the other heads' calls, rather than a film the
image cannot show. Writes OUT/best.pt in train.py's checkpoint format (so
export_onnx.py takes it) and OUT/log.csv.
"""

import argparse
import csv
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, RandomSampler

from data import StemDataset
from heads import CARBON_SCALE_A
from model import Branch, ResUNet, config_from_dict, config_to_dict

# Patch thickness (Å above the film) from which a pixel counts as contaminated in the
# validation IoU: where vacancy calls start to suffer.
PATCH_A = 5.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--val-data", nargs="*", default=[])
    p.add_argument("--total-carbon", action="store_true", help="keep the film in the target (train.py's target)")
    p.add_argument("--branch", type=int, default=0,
                   help="replace the 1x1 head by a fresh model.Branch of this width (0: retrain the 1x1 conv)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--val-crop", type=int, default=160)
    p.add_argument("--val-batches", type=int, default=32)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


@torch.no_grad()
def validate(model, loader, max_batches):
    """BCE, MAE (Å) and the IoU of the patch masks (truth vs prediction ≥ PATCH_A)."""
    bce, mae, n, inter, union = 0.0, 0.0, 0, 0, 0
    for b, batch in enumerate(loader):
        if b >= max_batches:
            break
        logits = model.heads["carbon"](model.features(batch["image"]))
        t = batch["carbon"]
        bce += F.binary_cross_entropy_with_logits(logits, t, reduction="sum").item()
        p = torch.sigmoid(logits)
        mae += (p - t).abs().sum().item() * CARBON_SCALE_A
        n += t.numel()
        tm, pm = t >= PATCH_A / CARBON_SCALE_A, p >= PATCH_A / CARBON_SCALE_A
        inter += (tm & pm).sum().item()
        union += (tm | pm).sum().item()
    return {"val_bce": bce / max(n, 1), "val_mae_A": mae / max(n, 1),
            "val_patch_iou": inter / union if union else float("nan")}


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    ck = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    model = ResUNet(config_from_dict(ck["model_args"]))
    model.load_state_dict(ck["model"])
    if args.branch:
        model.cfg.branches = {**model.cfg.branches, "carbon": args.branch}
        model.heads["carbon"] = Branch(model.heads["carbon"].in_channels, args.branch, 1)
        ck = dict(ck, model_args=config_to_dict(model.cfg))
    model.eval()  # frozen batch-norm statistics: the shared features must not move
    for p in model.parameters():
        p.requires_grad_(False)
    head = model.heads["carbon"]
    for p in head.parameters():
        p.requires_grad_(True)

    above = not args.total_carbon
    train = StemDataset(args.data, ["carbon"], crop=args.crop, train=True, carbon_above_film=above)
    loader = DataLoader(train, batch_size=args.batch, num_workers=1,
                        sampler=RandomSampler(train, replacement=True, num_samples=args.steps * args.batch))
    val_loader = None
    if args.val_data:
        val = StemDataset(args.val_data, ["carbon"], crop=args.val_crop, train=False, carbon_above_film=above)
        val_loader = DataLoader(val, batch_size=args.batch, num_workers=1, shuffle=False)

    opt = torch.optim.Adam(head.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps, eta_min=args.lr / 10)
    log = open(os.path.join(args.out, "log.csv"), "w", newline="")
    writer = csv.writer(log)
    writer.writerow(["step", "time_s", "loss", "val_bce", "val_mae_A", "val_patch_iou"])
    best, start, running = float("inf"), time.time(), []
    if val_loader is not None:
        v = validate(model, val_loader, args.val_batches)
        print(f"step 0 (as trained) {v}", flush=True)
        writer.writerow([0, 0.0, "", v["val_bce"], v["val_mae_A"], v["val_patch_iou"]])
    for step, batch in enumerate(loader, start=1):
        with torch.no_grad():
            feats = model.features(batch["image"])
        loss = F.binary_cross_entropy_with_logits(head(feats), batch["carbon"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running.append(loss.item())
        if step % args.eval_every == 0 or step == args.steps:
            v = validate(model, val_loader, args.val_batches) if val_loader is not None else {}
            writer.writerow([step, round(time.time() - start, 1), np.mean(running)] +
                            [v.get(k, "") for k in ("val_bce", "val_mae_A", "val_patch_iou")])
            log.flush()
            print(f"step {step} loss {np.mean(running):.4f} {v}", flush=True)
            running = []
            score = v.get("val_bce", -step)
            if score < best:
                best = score
                out = dict(ck)
                out["model"] = model.state_dict()
                out["optimizer"] = None
                out["carbon_target"] = "above film" if above else "total"
                out["carbon_head"] = {"from": args.ckpt, "step": step, "target": "above film" if above else "total",
                                      "data": args.data, "val_data": args.val_data, **v}
                torch.save(out, os.path.join(args.out, "best.pt"))
    log.close()


if __name__ == "__main__":
    main()
