"""Dataset over `stemsight dataset` output directories.

Layout of a directory (see README.md): manifest.json plus, per shard prefix P,
P.image.npy, P.polymorph.npy, P.carbon.npy, P.vacancy.npy, P.atoms.npy and
P.meta.jsonl. Arrays are memory-mapped so datasets larger than RAM work and
crops read only the bytes they need.
"""

import json
import re
import os

import numpy as np
import torch
from torch.utils.data import Dataset

from acquisition import random_acquisition
from heads import ATOM_SIGMA_A, CARBON_SCALE_A, POLYMORPH_CLASSES

# ---------------------------------------------------------------------------
# Input normalization. The Rust inference code must reproduce this exactly;
# export_onnx.py copies NORMALIZATION into the model.json sidecar.

NORM_LOW_PCT = 0.5
NORM_HIGH_PCT = 99.5
NORM_EPS = 1e-6

NORMALIZATION = {
    "method": "median_percentile_range",
    "center_percentile": 50.0,
    "low_percentile": NORM_LOW_PCT,
    "high_percentile": NORM_HIGH_PCT,
    "eps": NORM_EPS,
    "quantile": (
        "sort the N pixel values ascending as v[0..N-1] (float64); for percentile p: "
        "h = (N - 1) * p / 100, i = floor(h), j = min(i + 1, N - 1), "
        "q(p) = v[i] + (h - i) * (v[j] - v[i])  (linear interpolation, Hyndman-Fan type 7, numpy's default)"
    ),
    "formula": "out = float32((x - q(50)) / max(q(99.5) - q(0.5), 1e-6)), arithmetic in float64",
    "scope": "whole image (after resampling to the model pixel size), computed once before tiling",
}


def quantiles(x, pcts):
    """Type-7 quantiles of all values of x, written out so Rust can mirror it line by line."""
    v = np.sort(np.asarray(x, dtype=np.float64).ravel())
    n = v.size
    out = []
    for p in pcts:
        h = (n - 1) * p / 100.0
        i = int(np.floor(h))
        j = min(i + 1, n - 1)
        out.append(v[i] + (h - i) * (v[j] - v[i]))
    return out


def normalize(img):
    """Per-image robust standardization of a raw HAADF image.

    Exact definition (mirrored in Rust, see NORMALIZATION):
        v      = all pixels of the whole image, as float64, sorted ascending, N = len(v)
        q(p)   = v[i] + (h - i) * (v[j] - v[i]),  h = (N-1)*p/100, i = floor(h), j = min(i+1, N-1)
        spread = max(q(99.5) - q(0.5), 1e-6)
        out    = float32((x - q(50)) / spread)

    The median removes the detector offset; the 0.5-99.5 % range is set by the
    atom-column peaks rather than by a few hot pixels, and unlike a MAD it does
    not collapse on vacuum-dominated images whose background is nearly flat.
    """
    lo, med, hi = quantiles(img, (NORM_LOW_PCT, 50.0, NORM_HIGH_PCT))
    spread = max(hi - lo, NORM_EPS)
    return ((np.asarray(img, dtype=np.float64) - med) / spread).astype(np.float32)


# ---------------------------------------------------------------------------
# Targets


def atom_heatmaps(x, y, channel, shape, sigma, n_channels=2):
    """Gaussian peaks (height 1, std `sigma` px) at sub-pixel points (x = column, y = row).

    Overlaps are combined by max so the target stays in [0, 1] for BCE. Each
    point only touches a (2r+1)^2 window, r = ceil(3 sigma), all points at once.
    """
    h, w = shape
    heat = np.zeros((n_channels, h, w), np.float32)
    r = int(np.ceil(3 * sigma))
    keep = (x > -r - 1) & (x < w + r) & (y > -r - 1) & (y < h + r)
    x, y, channel = x[keep], y[keep], channel[keep]
    if x.size == 0:
        return heat
    d = np.arange(-r, r + 1)
    px = np.rint(x).astype(np.int64)[:, None] + d  # (K, P)
    py = np.rint(y).astype(np.int64)[:, None] + d
    gx = np.exp(-((px - x[:, None]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((py - y[:, None]) ** 2) / (2 * sigma**2))
    val = (gy[:, :, None] * gx[:, None, :]).astype(np.float32)  # (K, P, P)
    valid = ((py >= 0) & (py < h))[:, :, None] & ((px >= 0) & (px < w))[:, None, :]
    flat = channel[:, None, None] * (h * w) + py[:, :, None] * w + px[:, None, :]
    np.maximum.at(heat.reshape(-1), flat[valid], val[valid])
    return heat


def carbon_target(thickness):
    return np.clip(thickness / CARBON_SCALE_A, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------
# Dataset


_FILM = re.compile(rb'"film_thickness_angstrom":\s*([-0-9.eE+]+)')


def carbon_films(dirs, shards):
    """Uniform carbon film (Å) of every sample, films[dir][shard][k], from the meta lines.

    The simulator lays a 0-4 Å film under every contaminated sample. So little carbon
    is invisible under shot noise (≈ 1 % of a Mo column per Å²), and as part of the
    target it only teaches the head to answer ~3 Å everywhere; above the film, the
    target is the patches, which are what spoil vacancy and polymorph calls.
    """
    films = []
    for d, prefixes in zip(dirs, shards):
        per_dir = []
        for p in prefixes:
            with open(os.path.join(d, f"{p}.meta.jsonl"), "rb") as f:
                per_dir.append(np.array([float(m.group(1)) if (m := _FILM.search(line)) else 0.0
                                         for line in f], np.float32))
        films.append(per_dir)
    return films


def read_manifest(d):
    with open(os.path.join(d, "manifest.json")) as f:
        m = json.load(f)
    if list(m.get("classes", POLYMORPH_CLASSES)) != POLYMORPH_CLASSES:
        raise ValueError(f"{d}: classes {m['classes']} differ from {POLYMORPH_CLASSES}")
    return m


def _line_offsets(path):
    with open(path, "rb") as f:
        data = f.read()
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))
    starts = np.concatenate([[0], ends[:-1] + 1]) if ends.size else np.zeros(0, np.int64)
    return starts.astype(np.int64)


_ARRAY_OF_HEAD = {"vacancy": "vacancy", "polymorph": "polymorph", "carbon": "carbon"}


class StemDataset(Dataset):
    """Samples crops with targets for the requested heads.

    train=True: random crop position, random rot90 x k and flip (identical for
    image and every target), optional intensity augmentation. train=False:
    deterministic centre crop, no augmentation. crop=None uses the largest
    centred square that is a multiple of `multiple`.
    """

    def __init__(self, dirs, heads, crop=None, train=True, intensity=True, multiple=1, floor_clip=0.0,
                 carbon_above_film=False, acquisition=0.0):
        self.dirs = [os.fspath(d) for d in dirs]
        # Carbon target above each sample's uniform film (see carbon_films).
        self.carbon_above_film = carbon_above_film
        self.heads = list(heads)
        self.train = train
        self.intensity = intensity
        # Probability of a background-subtracted, zero-clipped input (see random_floor_clip).
        self.floor_clip = floor_clip
        # Probability of a real acquisition or processing condition (see acquisition.py).
        self.acquisition = acquisition
        self.manifests = [read_manifest(d) for d in self.dirs]
        self.shards = [[s["prefix"] for s in m["shards"]] for m in self.manifests]

        sizes = {tuple(m["size"]) for m in self.manifests}
        min_side = min(min(s) for s in sizes)
        if crop is None:
            if len(sizes) != 1:
                raise ValueError("full-image mode needs all dirs to share one image size; pass crop")
            crop = (min_side // multiple) * multiple
        if crop % multiple or crop > min_side or crop <= 0:
            raise ValueError(f"crop {crop} must be a positive multiple of {multiple} and <= {min_side}")
        self.crop = crop

        items = []
        for di, m in enumerate(self.manifests):
            for si, s in enumerate(m["shards"]):
                n = int(s["n"])
                items.append(np.stack([np.full(n, di), np.full(n, si), np.arange(n)], 1))
        self.items = np.concatenate(items).astype(np.int64) if items else np.zeros((0, 3), np.int64)

        # Byte offsets of each meta line so a sample's columns are parsed on demand.
        self.meta_offsets = {}
        if "atoms" in self.heads:
            for di, prefixes in enumerate(self.shards):
                for si, p in enumerate(prefixes):
                    self.meta_offsets[di, si] = _line_offsets(self._path(di, si, "meta.jsonl"))
        self._arrays = {}
        self.films = carbon_films(self.dirs, self.shards) if carbon_above_film else None

    def __getstate__(self):
        # Memory maps are reopened in each DataLoader worker instead of pickled.
        state = self.__dict__.copy()
        state["_arrays"] = {}
        return state

    def __len__(self):
        return len(self.items)

    def _path(self, di, si, suffix):
        return os.path.join(self.dirs[di], f"{self.shards[di][si]}.{suffix}")

    def _array(self, di, si, kind):
        key = (di, si, kind)
        if key not in self._arrays:
            self._arrays[key] = np.load(self._path(di, si, f"{kind}.npy"), mmap_mode="r")
        return self._arrays[key]

    def meta(self, i):
        di, si, j = self.items[i]
        with open(self._path(di, si, "meta.jsonl"), "rb") as f:
            f.seek(self.meta_offsets[di, si][j])
            return json.loads(f.readline())

    def __getitem__(self, i):
        di, si, j = (int(v) for v in self.items[i])
        # Seeded from torch so DataLoader workers and --seed give reproducible streams.
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))

        img = np.asarray(self._array(di, si, "image")[j], dtype=np.float32)
        h, w = img.shape
        c = self.crop
        if self.train:
            r0, c0 = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        else:
            r0, c0 = (h - c) // 2, (w - c) // 2
        sl = (slice(r0, r0 + c), slice(c0, c0 + c))

        if self.train and self.intensity and rng.random() < 0.3:
            img = random_gamma(img, rng)
        if self.train and self.acquisition > 0:
            img, _ = random_acquisition(img, rng, self.acquisition)
        if self.train and self.floor_clip > 0 and rng.random() < self.floor_clip:
            img = random_floor_clip(img, rng)
        x = normalize(img)[sl]
        if self.train and self.intensity and rng.random() < 0.8:
            # Post-normalization affine: tolerance to small normalization mismatches on real data.
            x = x * np.float32(np.exp(rng.uniform(np.log(0.8), np.log(1.25)))) + np.float32(rng.uniform(-0.2, 0.2))

        out = {"image": x[None]}
        for head in self.heads:
            if head == "atoms":
                out[head] = self._atom_target(i, r0, c0)
            elif head == "carbon":
                t = np.asarray(self._array(di, si, "carbon")[j][sl])
                if self.films is not None:
                    t = t - self.films[di][si][j]
                out[head] = carbon_target(t)[None]
            else:
                out[head] = np.asarray(self._array(di, si, _ARRAY_OF_HEAD[head])[j][sl]).astype(np.int64)

        if self.train:
            k, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
            for key, a in out.items():
                a = np.rot90(a, k, axes=(-2, -1))
                out[key] = np.ascontiguousarray(a[..., ::-1] if flip else a)
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}

    def _atom_target(self, i, r0, c0):
        m = self.meta(i)
        cols = m.get("columns", [])
        x = np.array([col["x"] for col in cols], np.float64) - c0
        y = np.array([col["y"] for col in cols], np.float64) - r0
        ch = np.array([0 if col["metal"] else 1 for col in cols], np.int64)
        sigma = ATOM_SIGMA_A / float(m["pixel_size_angstrom"])
        return atom_heatmaps(x, y, ch, (self.crop, self.crop), sigma)


def random_floor_clip(img, rng, lo=5.0, hi=60.0):
    """Subtracts a random low percentile of the image and clips at zero: what acquisition
    software that "corrects" frames by removing their background floor delivers (flat,
    zero-valued space between columns). Without it the carbon head reads such clean
    frames as contaminated."""
    floor = np.percentile(img, rng.uniform(lo, hi))
    return np.maximum(img - np.float32(floor), 0).astype(np.float32)


def random_gamma(img, rng, lo=0.85, hi=1.18):
    """Gamma on the min-max-scaled raw image: mimics the per-sample detector
    non-linearity that a later affine normalization cannot undo."""
    a, b = float(img.min()), float(img.max())
    x01 = (img - a) / max(b - a, 1e-12)
    return (x01 ** np.exp(rng.uniform(np.log(lo), np.log(hi)))).astype(np.float32)
