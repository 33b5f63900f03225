"""ResUNet with one shared backbone and several 1x1-conv heads.

Only ops that tract runs fast are used: Conv, BatchNorm (folded into Conv on
export), ReLU, MaxPool / strided Conv, ConvTranspose, Concat / Add. No
Resize/Upsample: tract's Resize is slow, so upsampling is ConvTranspose2d(k=2, s=2).
"""

from dataclasses import dataclass, field, asdict

import torch
import torch.nn as nn

from heads import DEFAULT_HEADS


@dataclass
class ResUNetConfig:
    in_channels: int = 1
    width: int = 16  # channels at the first level; doubled at each down level
    depth: int = 3  # number of down-sampling levels; input size must be a multiple of 2**depth
    kernel: int = 3  # odd; 7 mimics the seed paper
    blocks: int = 1  # residual blocks per level (encoder, bridge and decoder alike)
    dropout: float = 0.0  # Dropout2d inside each residual block
    down: str = "maxpool"  # "maxpool" | "conv" (2x2 stride-2 conv)
    skip: str = "concat"  # "concat" | "add"
    heads: dict = field(default_factory=lambda: dict(DEFAULT_HEADS))  # name -> channels, order = output order
    # name -> width: that head reads the shared features through a small U-shaped branch
    # (three 2x poolings) instead of one 1x1 conv, to see ~3x farther (carbon patches).
    branches: dict = field(default_factory=dict)

    @property
    def multiple(self):
        return 2 ** (self.depth + (3 if self.branches else 0))


class ResBlock(nn.Module):
    """conv-BN-ReLU-(dropout)-conv-BN + shortcut, then ReLU (ResNet v1 basic block)."""

    def __init__(self, cin, cout, k, dropout=0.0):
        super().__init__()
        p = k // 2
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, k, padding=p, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(cout, cout, k, padding=p, bias=False),
            nn.BatchNorm2d(cout),
        )
        # 1x1 projection only where the channel count changes, as in ResNet.
        self.short = (
            nn.Identity()
            if cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + self.short(x))


def _stage(cin, cout, cfg):
    layers = [ResBlock(cin, cout, cfg.kernel, cfg.dropout)]
    layers += [ResBlock(cout, cout, cfg.kernel, cfg.dropout) for _ in range(cfg.blocks - 1)]
    return nn.Sequential(*layers)


class Branch(nn.Module):
    """A head with its own wide view: conv, three pool-conv levels down, ConvTranspose +
    add back up, then a 1x1 conv. Plain Conv/ReLU/MaxPool/ConvTranspose/Add only, so
    the Rust graph interpreter and tract run it as they run the backbone."""

    def __init__(self, cin, width, cout, levels=3):
        super().__init__()
        self.inp = nn.Conv2d(cin, width, 3, padding=1)
        self.down = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(levels))
        self.up = nn.ModuleList(nn.ConvTranspose2d(width, width, 2, stride=2) for _ in range(levels))
        self.pool = nn.MaxPool2d(2)
        self.out = nn.Conv2d(width, cout, 1)

    def forward(self, x):
        x = torch.relu(self.inp(x))
        skips = [x]
        for conv in self.down:
            x = torch.relu(conv(self.pool(x)))
            skips.append(x)
        skips.pop()
        for up in self.up:
            x = torch.relu(up(x)) + skips.pop()
        return self.out(x)


class ResUNet(nn.Module):
    def __init__(self, cfg: ResUNetConfig):
        super().__init__()
        if cfg.kernel % 2 != 1:
            raise ValueError("kernel must be odd so 'same' padding keeps the size")
        if cfg.down not in ("maxpool", "conv") or cfg.skip not in ("concat", "add"):
            raise ValueError(f"bad down={cfg.down!r} or skip={cfg.skip!r}")
        if not cfg.heads:
            raise ValueError("at least one head is needed")
        self.cfg = cfg
        w = [cfg.width * 2**i for i in range(cfg.depth + 1)]

        self.enc = nn.ModuleList()
        self.down = nn.ModuleList()
        cin = cfg.in_channels
        for i in range(cfg.depth):
            self.enc.append(_stage(cin, w[i], cfg))
            self.down.append(
                nn.MaxPool2d(2) if cfg.down == "maxpool" else nn.Conv2d(w[i], w[i], 2, stride=2)
            )
            cin = w[i]
        self.bridge = _stage(w[-2] if cfg.depth else cin, w[-1], cfg)

        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in reversed(range(cfg.depth)):
            self.up.append(nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2))
            self.dec.append(_stage(2 * w[i] if cfg.skip == "concat" else w[i], w[i], cfg))

        self.head_names = list(cfg.heads)
        self.heads = nn.ModuleDict({
            n: Branch(w[0], cfg.branches[n], c) if n in cfg.branches else nn.Conv2d(w[0], c, 1)
            for n, c in cfg.heads.items()
        })

    def forward(self, x):
        """Returns {head: logits [B, C, H, W]} in cfg.heads order."""
        x = self.features(x)
        return {n: self.heads[n](x) for n in self.head_names}

    def features(self, x):
        """The last decoder stage's output, which every head reads."""
        skips = []
        for enc, down in zip(self.enc, self.down):
            x = enc(x)
            skips.append(x)
            x = down(x)
        x = self.bridge(x)
        for up, dec, s in zip(self.up, self.dec, reversed(skips)):
            x = up(x)
            x = torch.cat([x, s], dim=1) if self.cfg.skip == "concat" else x + s
            x = dec(x)
        return x


def activate(name, logits, heads_spec):
    """Logits -> probabilities the way the exported graph does it."""
    if heads_spec[name].activation == "softmax":
        return torch.softmax(logits, dim=1)
    return torch.sigmoid(logits)


def seed_paper_config(heads=None):
    """The seed paper's network, for timing comparisons: ResUNet with 5 residual
    blocks, 32 first-layer filters, 7x7 kernels, one head.

    5 blocks = 2 encoder + 1 bridge + 2 decoder, i.e. depth 2 with one block per
    level (our block count is (2 * depth + 1) * blocks).
    """
    return ResUNetConfig(width=32, depth=2, kernel=7, blocks=1, heads=heads or {"atoms": 2})


def seed_paper_resunet(heads=None):
    return ResUNet(seed_paper_config(heads))


def config_from_dict(d):
    return ResUNetConfig(**d)


def config_to_dict(cfg):
    return asdict(cfg)


def count_params(model):
    return sum(p.numel() for p in model.parameters())
