#!/usr/bin/env python3
"""Frozen-phonon multislice test set for `stemsight eval`, made from the library's raw runs.

library.py scanned one periodic cell (3 x 2 orthogonal units, 4 x 2 for the vacancy
cell) of each TMD with abTEM FrozenPhonons and kept the scattered intensity in 1 mrad
rings (/work/physics-logs/raw/<run_id>.npz). The STEM image is band-limited and the
cell periodic, so the cell's Fourier series gives the image exactly at any position:
this script evaluates it on rotated, shifted pixel grids covering many cells
(256 x 256 px at 0.19-0.21 A/px, about 50 x 50 A), sums the rings over a detector range
(40-160 and 66-192 mrad), turns the fraction of the beam into Poisson counts at a dose
of 1e4, 1e5 and 1e6 e-/A^2 (counts per pixel = dose x pixel area x image value), and
writes `stemsight simulate`-style folders with exact truth (CONTRACT.md): every column
inside the image with its content and layer count, the vacancies of the vacancy cell,
a polymorph map that is the one polymorph everywhere, and a carbon map of zeros.

Runs used: every perfect crystal of the library at 23 mrad, no defocus, no C3 (the six
MoS2 polymorphs, 3R-3L also upside down once its run exists, and WS2, MoSe2 and WSe2
2H-1L; 60/80/100 kV where present), and the 2H-1L MoS2 cell holding one VS1 and one VS2.

These images are TILED PERIODIC CELLS: perfect crystals, and a periodic vacancy lattice
(1 VS1 + 1 VS2 per 16 S2 sites; each VS1 5.5 A from the nearest VS2, 10.9 A from the
next VS1). They are not independent large cells. What they test: the engine's columns,
column contents and polymorph call on multislice contrast (channelling, thermal diffuse
scattering, the real probe and detector response, other TMDs) instead of its own
simulator's, at known dose, and how it reads a VS1/VS2 in a multislice image. What they
do not test: the frozen-phonon noise is that of 8 configurations of one small cell,
repeated in every cell (the image maxima sit 2-4 pm rms, up to 7 pm, from the lattice
sites the truth gives: that is the set's own floor on position RMSE; the runs share
their seeds); isolated vacancies, realistic vacancy densities and the variety of
vacancy surroundings; boundaries, holes, carbon, strain, scan distortions, aberrations
and detector artefacts (none are present).

Each folder holds image.tif (float32 counts, calibrated), truth.json, polymorph.tif,
carbon.tif and source.json (run, detector, dose, geometry, seed); index.csv lists them.
Folders are grouped <cell>_<kV>kV_<inner>-<outer>mrad_<dose>/<k>, so `stemsight eval
--data` can score each group. Seeds are fixed: image k of a group uses the seed
(--seed, crc32 of its folder name).

Usage:
  /work/physics-venv/bin/python scripts/physics/testset.py [--out DIR] [--n 4] [--only STR]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import zlib
from pathlib import Path

import numpy as np
import tifffile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import library  # noqa: E402

RAW_DIR = Path("/work/physics-logs/raw")
OUT_DIR = Path("/work/physics-logs/fp_testset")
DETECTORS = [(40, 160), (66, 192)]
DOSES = [1e4, 1e5, 1e6]
CELLS = ["2H-1L_MoS2", "2H-2L_MoS2", "2H-3L_MoS2", "3R-2L_MoS2", "3R-3L_MoS2", "3R-3L-rev_MoS2", "1T-1L_MoS2",
         "2H-1L_WS2", "2H-1L_MoSe2", "2H-1L_WSe2", "2H-1L_MoS2_VS1+VS2"]
CLASSES = ["vacuum", "2H-1L", "2H-2L", "2H-3L", "3R-2L", "3R-3L", "1T"]
SIZE = 256
PIXEL_RANGE = (0.19, 0.21)
PEAK_TOLERANCE = 0.1  # A: a truth column must sit this close to the image maximum


def engine_polymorph(poly: str) -> str:
    """Library stacking name -> the engine's class ('3R-3L-rev' is 3R-3L upside down)."""
    return {"1T-1L": "1T", "3R-3L-rev": "3R-3L"}.get(poly, poly)


def column_name(label: str, material: str) -> str:
    """Library content ('Mo|S2', 'S2W') -> the engine's Column name in MoS2 symbols ('Mo+S2')."""
    metal = library.MATERIALS[material]["metal"]
    metals = chalcogens = 0
    for sym, n in re.findall(r"([A-Z][a-z]?)(\d*)", label):
        if sym == metal:
            metals += int(n or 1)
        else:
            chalcogens += int(n or 1)
    parts = [] if metals == 0 else ["Mo" if metals == 1 else f"{metals}Mo"]
    pairs = chalcogens // 2
    if pairs:
        parts.append("S2" if pairs == 1 else f"{pairs}S2")
    if chalcogens % 2:
        parts.append("S")
    return "+".join(parts) or "empty"


class Run:
    """One library run: the cell's sites and the Fourier coefficients of its ring images."""

    def __init__(self, job: library.Job, raw_dir: Path = RAW_DIR):
        self.job = job
        num = library.full_numerics(job)
        cell = library.build_cell(dict(job.cell, reps=num["reps"], scan_area=num.get("scan_area", "cell")))
        data = np.load(raw_dir / f"{job.run_id}.npz")
        self.rings = data["rings"].astype(np.float64)
        info = json.loads(str(data["info"]))
        self.unit = cell.unit
        assert np.allclose(info["unit"], self.unit) and list(self.rings.shape[:2]) == info["scan_gpts"], job.run_id
        self.max_mrad = min(info["max_angle_mrad"], self.rings.shape[2])
        mat = job.cell["material"]
        self.material, self.polymorph = mat, engine_polymorph(job.cell["polymorph"])
        self.layers = len(library.POLYMORPHS[job.cell["polymorph"]])
        # columns: (x, y, content, nominal content, sublattice); vacancies: (x, y, type)
        self.columns, self.vacancies = [], []
        for s in cell.sites:
            vac = re.match(r"[ABC]:(VS[12])\(", s.tag)
            if s.kind == "column" or vac:
                for (x, y) in s.xy:
                    if s.content:
                        nominal = "S2" if vac else column_name(s.content, mat)
                        self.columns.append((x, y, column_name(s.content, mat), nominal, s.tag[0]))
                    if vac:
                        self.vacancies.append((x, y, vac.group(1)))
        nx, ny = self.rings.shape[:2]
        self.kx = np.fft.fftfreq(nx, self.unit[0] / nx)
        self.ky = np.fft.fftfreq(ny, self.unit[1] / ny)

    def coefficients(self, inner: int, outer: int) -> np.ndarray:
        assert outer <= self.max_mrad, (self.job.run_id, outer)
        img = self.rings[:, :, inner:outer].sum(-1)
        return np.fft.fft2(img) / img.size

    def value(self, F: np.ndarray, ux: np.ndarray, uy: np.ndarray, chunk: int = 32768) -> np.ndarray:
        """The image (fraction of the beam) at cell coordinates (ux, uy) in A, by its Fourier
        series. The real part splits an even grid's Nyquist terms symmetrically, as
        library.fourier_interpolate does."""
        ux, uy = np.ravel(ux), np.ravel(uy)
        out = np.empty(ux.size)
        for s in range(0, ux.size, chunk):
            ex = np.exp(2j * np.pi * np.outer(ux[s:s + chunk], self.kx))
            ey = np.exp(2j * np.pi * np.outer(uy[s:s + chunk], self.ky))
            out[s:s + chunk] = np.real(np.einsum("pb,pb->p", ex @ F, ey))
        return out


class Geometry:
    """Where the cell lies in the image: pixel (row r, column c) sees the specimen point
    (c, r) * px; cell point u lies at origin + R(rotation) u."""

    def __init__(self, size: int, px: float, rotation_deg: float, origin: tuple):
        self.size, self.px, self.rotation_deg, self.origin = size, px, rotation_deg, np.asarray(origin, float)
        t = math.radians(rotation_deg)
        self.R = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])

    def to_cell(self, x_px, y_px):
        p = np.stack([np.ravel(x_px) * self.px, np.ravel(y_px) * self.px]) - self.origin[:, None]
        u = self.R.T @ p
        return u[0], u[1]

    def to_pixels(self, ux, uy):
        p = self.R @ np.stack([np.ravel(ux), np.ravel(uy)]) + self.origin[:, None]
        return p[0] / self.px, p[1] / self.px

    def tiles(self, unit):
        """Cell translations (i, j) whose sites may fall inside the image."""
        e = self.size * self.px
        corners = np.array([[0, 0], [e, 0], [0, e], [e, e]], float) - self.origin
        u = corners @ self.R  # rows: R^T (corner - origin)
        i0, i1 = math.floor(u[:, 0].min() / unit[0]) - 1, math.ceil(u[:, 0].max() / unit[0]) + 1
        j0, j1 = math.floor(u[:, 1].min() / unit[1]) - 1, math.ceil(u[:, 1].max() / unit[1]) + 1
        return [(i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]


def render(run: Run, F: np.ndarray, g: Geometry) -> np.ndarray:
    """Noise-free image (fraction of the beam), shape (rows, columns)."""
    r, c = np.mgrid[0:g.size, 0:g.size]
    return run.value(F, *g.to_cell(c, r)).reshape(g.size, g.size)


def _inside(x, y, size):
    return (x >= -0.5) & (y >= -0.5) & (x < size - 0.5) & (y < size - 0.5)


def truth_points(run: Run, g: Geometry):
    """Columns and vacancies of the tiled cell inside the image, in pixels."""
    cols, vacs = [], []
    for (i, j) in g.tiles(run.unit):
        du, dv = i * run.unit[0], j * run.unit[1]
        for (x, y, content, nominal, sub) in run.columns:
            px, py = g.to_pixels(x + du, y + dv)
            if _inside(px[0], py[0], g.size):
                cols.append(dict(x=float(px[0]), y=float(py[0]), site=content, nominal_site=nominal,
                                 polymorph=run.polymorph, sublattice=sub, layers=run.layers,
                                 metal="Mo" in content))
        for (x, y, kind) in run.vacancies:
            px, py = g.to_pixels(x + du, y + dv)
            if _inside(px[0], py[0], g.size):
                vacs.append(dict(x=float(px[0]), y=float(py[0]), type=kind))
    return cols, vacs


def peak_offsets(run: Run, F: np.ndarray, g: Geometry, xs, ys, half=0.16, step=0.02) -> np.ndarray:
    """Distance (A) from each pixel position to the image maximum on a local grid around it
    (inf where the maximum lies on the grid's rim: no local maximum within `half`)."""
    d = np.arange(-half, half + 1e-9, step) / g.px
    dx, dy = np.meshgrid(d, d, indexing="ij")
    n = dx.size
    X = (np.asarray(xs)[:, None] + dx.ravel()).ravel()
    Y = (np.asarray(ys)[:, None] + dy.ravel()).ravel()
    v = run.value(F, *g.to_cell(X, Y)).reshape(-1, n)
    k = v.argmax(1)
    rim = (np.abs(dx.ravel()[k]) >= d[-1] - 1e-9) | (np.abs(dy.ravel()[k]) >= d[-1] - 1e-9)
    dist = np.hypot(dx.ravel()[k], dy.ravel()[k]) * g.px
    return np.where(rim, np.inf, dist)


def sim_params(run: Run, g: Geometry, dose: float) -> dict:
    """A full `SimParams` (native/src/sim/params.rs) describing the image: nominal optics of
    the run (abTEM's coherent probe: no source size, no focal spread), no degradations.
    `clean` is false so that eval bins the image by its dose. The engine's lattice
    (crystal.rs `Lattice`: a1 along the rotation, B at (a1 + a2) / 3) lies on the truth's
    sublattices when turned by 180 degrees more than the library cell (whose B is at -(a1 + a2) / 3)."""
    count = lambda kind: sum(1 for v in run.vacancies if v[2] == kind)
    s2_sites = sum(1 for c in run.columns if c[3] == "S2") + count("VS2")
    frac = lambda kind: count(kind) / max(s2_sites, 1)
    return {
        "width": g.size, "height": g.size, "pixel_size_angstrom": g.px, "clean": False,
        "polymorph": run.polymorph, "second_polymorph": None, "boundary": None,
        "chemistry": run.material, "lattice_a_angstrom": library.MATERIALS[run.material]["a"],
        "strain": [0.0, 0.0, 0.0], "rotation_deg": (g.rotation_deg + 180.0) % 360.0, "origin_angstrom": list(map(float, g.origin)),
        "vs1_fraction": frac("VS1"), "vs2_fraction": frac("VS2"), "mo_vacancy_fraction": 0.0,
        "adatoms_per_nm2": 0.0, "hole_fraction": 0.0, "hole_correlation_angstrom": 0.0,
        "probe": {"energy_kv": float(run.job.kv), "convergence_mrad": float(run.job.conv),
                  "c1_angstrom": -run.job.defocus, "c3_angstrom": run.job.c3,
                  "a1_angstrom": 0.0, "a1_angle_rad": 0.0, "b2_angstrom": 0.0, "b2_angle_rad": 0.0,
                  "a2_angstrom": 0.0, "a2_angle_rad": 0.0, "source_fwhm_angstrom": 0.0,
                  "focal_spread_angstrom": 0.0},
        "zn_exponent": 1.7, "sigma_mo_angstrom2": 0.045, "column_coupling": 0.0, "detector_efficiency": 1.0,
        "dose_e_per_angstrom2": dose,
        "carbon": {"level": 0.0, "max_thickness_angstrom": 0.0, "film_thickness_angstrom": 0.0,
                   "coverage": 0.0, "correlation_angstrom": 0.0},
        "scan": {"jitter_x_angstrom": 0.0, "jitter_y_angstrom": 0.0, "drift_x_px_per_row": 0.0,
                 "drift_y_fraction": 0.0, "flyback_amplitude_px": 0.0, "flyback_decay_px": 0.0},
        "background": {"amplitude": 0.0, "angle_rad": 0.0, "curvature": 0.0},
        "detector": {"gain": 1.0, "offset": 0.0, "readout_sigma_counts": 0.0, "contrast": 1.0,
                     "brightness": 0.0, "gamma": 1.0},
    }


def to_counts(clean: np.ndarray, dose: float, px: float, rng) -> np.ndarray:
    return rng.poisson(dose * px * px * np.clip(clean, 0.0, None)).astype(np.float32)


def write_tif(path: Path, data: np.ndarray, px: float):
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / px, 1 / px), metadata={"unit": "angstrom"})


def make_folder(run: Run, F, inner: int, outer: int, dose: float, folder: Path, seed: int,
                size: int = SIZE, check: bool = True) -> dict:
    """One eval folder; returns its source record."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{folder.parent.name}/{folder.name}".encode())])
    g = Geometry(size, float(rng.uniform(*PIXEL_RANGE)), float(rng.uniform(0, 360)),
                 (float(rng.uniform(0, run.unit[0])), float(rng.uniform(0, run.unit[1]))))
    clean = render(run, F, g)
    cols, vacs = truth_points(run, g)
    if check:
        off = peak_offsets(run, F, g, [c["x"] for c in cols], [c["y"] for c in cols])
        assert off.max() < PEAK_TOLERANCE, (folder, float(off.max()))
    image = to_counts(clean, dose, g.px, rng)
    folder.mkdir(parents=True, exist_ok=True)
    write_tif(folder / "image.tif", image, g.px)
    write_tif(folder / "polymorph.tif", np.full((size, size), CLASSES.index(run.polymorph), np.uint8), g.px)
    write_tif(folder / "carbon.tif", np.zeros((size, size), np.float32), g.px)
    truth = dict(pixel_size_angstrom=g.px, width=size, height=size, polymorph_classes=CLASSES,
                 columns=cols, vacancies=vacs, distractors=[], params=sim_params(run, g, dose))
    (folder / "truth.json").write_text(json.dumps(truth, indent=1))
    source = dict(folder=f"{folder.parent.name}/{folder.name}", run_id=run.job.run_id,
                  polymorph=run.polymorph, material=run.material, kv=run.job.kv, inner_mrad=inner,
                  outer_mrad=outer, dose=dose, pixel_size_angstrom=g.px, rotation_deg=g.rotation_deg,
                  origin_x_angstrom=g.origin[0], origin_y_angstrom=g.origin[1], seed=seed,
                  n_columns=len(cols), n_vs1=sum(v["type"] == "VS1" for v in vacs),
                  n_vs2=sum(v["type"] == "VS2" for v in vacs), mean_counts=float(image.mean()),
                  expected_mean_counts=float(dose * g.px ** 2 * clean.mean()))
    (folder / "source.json").write_text(json.dumps(source, indent=1))
    return source


def library_runs(raw_dir: Path = RAW_DIR):
    """Library jobs of the wanted cells at the reference optics whose raw signal exists."""
    return [j for j in library.make_queue()
            if j.group == "library" and j.cell_name in CELLS and j.conv == 23 and j.defocus == 0
            and j.c3 == 0 and (raw_dir / f"{j.run_id}.npz").exists()]


def group_name(job: library.Job, inner: int, outer: int, dose: float) -> str:
    return f"{job.cell_name}_{job.kv:g}kV_{inner}-{outer}mrad_1e{round(math.log10(dose))}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw-dir", type=Path, default=RAW_DIR)
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--n", type=int, default=4, help="images per run x detector x dose")
    ap.add_argument("--seed", type=int, default=31000)
    ap.add_argument("--only", action="append", default=[], help="run ids containing this string")
    args = ap.parse_args(argv)
    if HERE.parent.parent in [args.out.resolve(), *args.out.resolve().parents]:
        ap.error("--out must lie outside the repository")
    jobs = [j for j in library_runs(args.raw_dir) if not args.only or any(s in j.run_id for s in args.only)]
    rows = []
    for job in jobs:
        run = Run(job, args.raw_dir)
        for (inner, outer) in DETECTORS:
            F = run.coefficients(inner, outer)
            for dose in DOSES:
                group = group_name(job, inner, outer, dose)
                for k in range(args.n):
                    rows.append(make_folder(run, F, inner, outer, dose, args.out / group / f"{k:02d}", args.seed))
                print(f"{group}: {args.n} images, {rows[-1]['n_columns']} columns, "
                      f"{rows[-1]['n_vs1']} VS1, {rows[-1]['n_vs2']} VS2 in the last", flush=True)
    with open(args.out / "index.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} folders in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
