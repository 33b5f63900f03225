"""Per-head losses and validation metrics."""

import math

import torch
import torch.nn.functional as F

from heads import CARBON_SCALE_A, HEADS


def dice_loss(logits, target, classes):
    """1 - soft Dice over the batch for the given (rare) classes; +1 smoothing
    makes an absent class that is also not predicted cost ~0 instead of NaN."""
    n = logits.shape[1]
    p = torch.softmax(logits, dim=1)
    onehot = F.one_hot(target, n).permute(0, 3, 1, 2).to(p.dtype)
    inter = (p * onehot).sum((0, 2, 3))
    denom = p.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    dice = (2 * inter + 1) / (denom + 1)
    return 1 - dice[list(classes)].mean()


class HeadLosses:
    """Loss per head. Atoms and carbon: BCE on soft targets in [0, 1] (pairs
    with the sigmoid of the exported graph, and unlike MSE after a sigmoid its
    gradient does not vanish on saturated outputs). Vacancy: class-weighted CE
    (VS1/VS2 disks are ~1 % of pixels) + soft Dice on VS1/VS2. Polymorph: CE."""

    def __init__(self, vacancy_weights=(1.0, 10.0, 10.0), device="cpu"):
        self.vac_w = torch.tensor(vacancy_weights, dtype=torch.float32, device=device)

    def __call__(self, name, logits, target):
        logits = logits.float()
        if name in ("atoms", "carbon"):
            return F.binary_cross_entropy_with_logits(logits, target)
        if name == "polymorph":
            return F.cross_entropy(logits, target)
        if name == "vacancy":
            return F.cross_entropy(logits, target, weight=self.vac_w) + dice_loss(logits, target, (1, 2))
        raise KeyError(name)


def metric_names(heads):
    names = ["val_loss"] + [f"val_loss_{h}" for h in heads]
    if "vacancy" in heads:
        names += [f"val_vacancy_f1_{c}" for c in HEADS["vacancy"].channels]
    if "polymorph" in heads:
        names += ["val_polymorph_acc"] + [f"val_polymorph_acc_{c}" for c in HEADS["polymorph"].channels]
    if "carbon" in heads:
        names += ["val_carbon_mae_A"]
    return names


class Metrics:
    """Accumulates pixel confusion matrices and loss sums over a validation pass.

    vacancy: per-class F1 over pixels; polymorph: per-class accuracy (recall)
    and overall pixel accuracy; carbon: MAE in Å against the clipped target;
    atoms: its loss. Classes with no support report NaN.
    """

    def __init__(self, heads, device):
        self.heads = list(heads)
        self.conf = {
            h: torch.zeros(len(HEADS[h].channels) ** 2, dtype=torch.int64, device=device)
            for h in self.heads
            if HEADS[h].activation == "softmax"
        }
        self.loss_sum = {h: 0.0 for h in self.heads}
        self.batches = 0
        self.carbon_abs = 0.0
        self.carbon_n = 0

    @torch.no_grad()
    def update(self, logits, targets, losses):
        self.batches += 1
        for h in self.heads:
            self.loss_sum[h] += float(losses[h])
        for h, conf in self.conf.items():
            c = len(HEADS[h].channels)
            pred = logits[h].argmax(1)
            conf += torch.bincount((targets[h] * c + pred).flatten(), minlength=c * c)
        if "carbon" in self.heads:
            err = (torch.sigmoid(logits["carbon"].float()) - targets["carbon"]).abs() * CARBON_SCALE_A
            self.carbon_abs += float(err.sum())
            self.carbon_n += err.numel()

    def compute(self, loss_weights):
        out = {f"val_loss_{h}": self.loss_sum[h] / max(self.batches, 1) for h in self.heads}
        out["val_loss"] = sum(loss_weights[h] * out[f"val_loss_{h}"] for h in self.heads)
        nan = float("nan")
        for h, flat in self.conf.items():
            names = HEADS[h].channels
            m = flat.view(len(names), len(names)).double().cpu()  # rows = truth, cols = prediction
            tp, support, predicted = m.diag(), m.sum(1), m.sum(0)
            if h == "vacancy":
                for i, c in enumerate(names):
                    d = support[i] + predicted[i]
                    out[f"val_vacancy_f1_{c}"] = float(2 * tp[i] / d) if d > 0 else nan
            else:
                out["val_polymorph_acc"] = float(tp.sum() / m.sum()) if m.sum() > 0 else nan
                for i, c in enumerate(names):
                    out[f"val_polymorph_acc_{c}"] = float(tp[i] / support[i]) if support[i] > 0 else nan
        if "carbon" in self.heads:
            out["val_carbon_mae_A"] = self.carbon_abs / self.carbon_n if self.carbon_n else nan
        return out


def finite_or_none(d):
    """JSON-safe copy (NaN -> None)."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}
