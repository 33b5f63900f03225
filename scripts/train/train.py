"""Train a multi-head ResUNet on `stemsight dataset` output.

    python scripts/train/train.py --data data/train --val-data data/val \
        --heads atoms,vacancy,polymorph,carbon --steps 20000 --device cuda --out runs/r1

Writes RUN_DIR/log.csv, RUN_DIR/args.json, RUN_DIR/ckpt.pt (latest) and
RUN_DIR/best.pt (lowest validation loss; the latest one if there is no
validation data). Checkpoints hold model_args, step and best_val_loss so that
export_onnx.py can rebuild the model without any other file.
"""

import argparse
import csv
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch
from torch.utils.data import DataLoader, RandomSampler

from data import NORMALIZATION, StemDataset, read_manifest
from heads import parse_heads
from losses import HeadLosses, Metrics, metric_names
from model import ResUNet, ResUNetConfig, config_from_dict, config_to_dict, count_params, seed_paper_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="training dataset dir(s)")
    p.add_argument("--val-data", nargs="*", default=[], help="validation dataset dir(s)")
    p.add_argument("--heads", default="atoms,vacancy,polymorph,carbon")
    p.add_argument("--loss-weights", default="", help="e.g. atoms=1,vacancy=2 (unlisted heads: 1)")
    p.add_argument("--vacancy-weights", default="1,10,10", help="CE class weights bg,VS1,VS2")
    # model
    p.add_argument("--arch", choices=["resunet", "seed-paper"], default="resunet",
                   help="seed-paper: 5 blocks, 32 filters, 7x7 (ignores --width/--depth/--kernel/--blocks)")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--kernel", type=int, default=3)
    p.add_argument("--blocks", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--down", choices=["maxpool", "conv"], default="maxpool")
    p.add_argument("--skip", choices=["concat", "add"], default="concat")
    # data
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--val-crop", type=int, default=0, help="centre crop for validation (0: same as --crop)")
    p.add_argument("--no-intensity-aug", action="store_true")
    p.add_argument("--floor-clip", type=float, default=0.0,
                   help="probability of subtracting a random low percentile and clipping at 0 (background-corrected frames)")
    p.add_argument("--acquisition", type=float, default=0.0,
                   help="probability of a real acquisition or processing condition per sample (acquisition.py)")
    p.add_argument("--carbon-above-film", action="store_true",
                   help="carbon target = thickness above each sample's uniform film (patches; data.carbon_films)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--workers", type=int, default=4)
    # optimisation
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=None, help="cosine floor (default lr/10)")
    p.add_argument("--warmup", type=int, default=500, help="linear warmup steps (capped at steps/5)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--grad-clip", type=float, default=1.0)
    # run
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (cuda only)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--val-batches", type=int, default=0, help="batches per validation pass (0: all)")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/ckpt.pt")
    p.add_argument("--init", default=None,
                   help="start from these weights (a checkpoint .pt) with a fresh optimizer and schedule: fine-tuning")
    p.add_argument("--freeze-bn", action="store_true",
                   help="keep every BatchNorm in eval mode while training: running statistics stay as loaded "
                        "(not updated, not used from the batch), the affine weight/bias still train. Needed "
                        "when fine-tuning a checkpoint from onnx_to_ckpt.py, whose BN holds identity statistics")
    return p.parse_args(argv)


def parse_weights(text, heads):
    w = {h: 1.0 for h in heads}
    for part in filter(None, (s.strip() for s in text.split(","))):
        k, v = part.split("=")
        if k not in w:
            raise ValueError(f"loss weight for unused head {k!r}")
        w[k] = float(v)
    return w


def lr_at(step, args):
    """Linear warmup then cosine decay to min_lr (nanoGPT schedule)."""
    warmup = min(args.warmup, args.steps // 5)
    min_lr = args.lr / 10 if args.min_lr is None else args.min_lr
    if step < warmup:
        return args.lr * (step + 1) / warmup
    t = (step - warmup) / max(args.steps - warmup, 1)
    return min_lr + 0.5 * (1 + math.cos(math.pi * min(t, 1.0))) * (args.lr - min_lr)


def describe(dirs):
    out = []
    for d in dirs:
        m = read_manifest(d)
        out.append({"dir": os.path.abspath(d), "seed": m.get("seed"), "n": m.get("n"), "size": m.get("size")})
    return out


def train_mode(model, freeze_bn=False):
    """model.train(), except that with freeze_bn every BatchNorm stays in eval mode."""
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
    return model


@torch.no_grad()
def evaluate(model, loader, criterion, heads, loss_weights, device, max_batches, amp, freeze_bn=False):
    model.eval()
    metrics = Metrics(heads, device)
    for i, batch in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(batch["image"])
        logits = {h: v.float() for h, v in logits.items()}
        losses = {h: criterion(h, logits[h], batch[h]) for h in heads}
        metrics.update(logits, batch, losses)
    train_mode(model, freeze_bn)
    return metrics.compute(loss_weights)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    amp = args.amp and device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    os.makedirs(args.out, exist_ok=True)

    heads = parse_heads(args.heads)
    loss_weights = parse_weights(args.loss_weights, heads)
    vac_w = tuple(float(v) for v in args.vacancy_weights.split(","))
    cfg = ResUNetConfig(
        width=args.width, depth=args.depth, kernel=args.kernel, blocks=args.blocks,
        dropout=args.dropout, down=args.down, skip=args.skip, heads=heads,
    ) if args.arch == "resunet" else seed_paper_config(heads)
    model = ResUNet(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)

    start, best_val, best_metrics = 0, None, {}
    ckpt_path, best_path = os.path.join(args.out, "ckpt.pt"), os.path.join(args.out, "best.pt")
    if args.resume:
        ck = torch.load(ckpt_path, map_location=device)
        if config_from_dict(ck["model_args"]) != cfg:
            raise ValueError(f"checkpoint model_args {ck['model_args']} differ from the CLI's")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        start, best_val, best_metrics = ck["step"], ck["best_val_loss"], ck.get("best_metrics", {})
    elif args.init:
        ck = torch.load(args.init, map_location=device, weights_only=False)
        if config_from_dict(ck["model_args"]) != cfg:
            raise ValueError(f"--init model_args {ck['model_args']} differ from the CLI's")
        model.load_state_dict(ck["model"])
        print(f"initialized from {args.init} (step {ck['step']})")

    train_ds = StemDataset(
        args.data, heads, crop=args.crop, train=True,
        intensity=not args.no_intensity_aug, multiple=cfg.multiple, floor_clip=args.floor_clip,
        carbon_above_film=args.carbon_above_film, acquisition=args.acquisition,
    )
    gen = torch.Generator().manual_seed(args.seed + start)  # a resumed run draws fresh samples
    # RandomSampler refuses 0 samples; with no steps left the loop is cut off below.
    n_draw = max(args.steps - start, 1) * args.batch
    sampler = RandomSampler(train_ds, replacement=True, num_samples=n_draw, generator=gen)
    pin = device.type == "cuda"
    train_loader = DataLoader(
        train_ds, batch_size=args.batch, sampler=sampler, num_workers=args.workers,
        pin_memory=pin, drop_last=True, persistent_workers=False,
    )
    val_loader = None
    if args.val_data:
        val_ds = StemDataset(args.val_data, heads, crop=args.val_crop or args.crop, train=False, multiple=cfg.multiple,
                             carbon_above_film=args.carbon_above_film)
        val_loader = DataLoader(val_ds, batch_size=args.batch, shuffle=False, num_workers=args.workers, pin_memory=pin)

    criterion = HeadLosses(vac_w, device)
    meta = {
        "config": vars(args),
        "carbon_target": "above film" if args.carbon_above_film else "total",
        "train_data": describe(args.data),
        "val_data": describe(args.val_data),
        "normalization": NORMALIZATION,
        "loss_weights": loss_weights,
    }
    with open(os.path.join(args.out, "args.json"), "w") as f:
        json.dump(meta, f, indent=2)

    fields = ["step", "time_s", "lr", "loss"] + [f"loss_{h}" for h in heads] + metric_names(heads)
    log_path = os.path.join(args.out, "log.csv")
    new_log = not (args.resume and os.path.exists(log_path))
    log_file = open(log_path, "w" if new_log else "a", newline="")
    log = csv.DictWriter(log_file, fieldnames=fields)
    if new_log:
        log.writeheader()

    def checkpoint(step, val_metrics):
        return {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "model_args": config_to_dict(cfg),
            "step": step,
            "best_val_loss": best_val,
            "val_metrics": val_metrics,
            "best_metrics": best_metrics,
            **meta,
        }

    print(f"model: {count_params(model) / 1e6:.3f} M params, heads {list(heads)}; "
          f"train {len(train_ds)} samples, val {len(val_loader.dataset) if val_loader else 0}")
    t0 = time.time()
    train_mode(model, args.freeze_bn)
    step = start
    for batch in train_loader:
        if step >= args.steps:
            break
        lr = lr_at(step, args)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(batch["image"])
        losses = {h: criterion(h, logits[h], batch[h]) for h in heads}
        loss = sum(loss_weights[h] * losses[h] for h in heads)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        step += 1
        last = step == args.steps

        row = {}
        if step % args.log_every == 0 or last or step == start + 1:
            row = {"loss": loss.item(), **{f"loss_{h}": v.item() for h, v in losses.items()}}
            print(f"step {step:6d} | lr {lr:.2e} | loss {row['loss']:.4f} | "
                  + " ".join(f"{h} {row[f'loss_{h}']:.4f}" for h in heads), flush=True)
        if step % args.eval_every == 0 or last:
            val_metrics = {}
            if val_loader is not None:
                val_metrics = evaluate(model, val_loader, criterion, heads, loss_weights, device, args.val_batches, amp,
                                       args.freeze_bn)
                row.update(val_metrics)
                print(f"step {step:6d} | val " + " ".join(f"{k[4:]} {v:.4f}" for k, v in val_metrics.items()), flush=True)
                if best_val is None or val_metrics["val_loss"] < best_val:
                    best_val, best_metrics = val_metrics["val_loss"], val_metrics
                    torch.save(checkpoint(step, val_metrics), best_path)
            ck = checkpoint(step, val_metrics)
            torch.save(ck, ckpt_path)
            if val_loader is None:
                torch.save(ck, best_path)
        if row:
            row.update(step=step, time_s=round(time.time() - t0, 3), lr=lr)
            log.writerow(row)
            log_file.flush()
    log_file.close()
    if step == start and not args.resume:
        # --steps 0: keep the initial weights, e.g. to export a model for timing only.
        torch.save(checkpoint(step, {}), ckpt_path)
        torch.save(checkpoint(step, {}), best_path)
    print(f"done: {step} steps in {time.time() - t0:.1f} s; best val loss {best_val}")
    return best_val


if __name__ == "__main__":
    main()
