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
vacancy surroundings; holes, strain, scan distortions, aberrations and detector artefacts
(none are present), and boundaries and carbon beyond the approximate junctions and
patches below.

Each folder holds image.tif (float32 counts, calibrated), truth.json, polymorph.tif,
carbon.tif and source.json (run, detector, dose, geometry, seed); index.csv lists them.
Folders are grouped <cell>_<kV>kV_<inner>-<outer>mrad_<dose>/<k>, so `stemsight eval
--data` can score each group. Seeds are fixed: image k of a group uses the seed
(--seed, crc32 of its folder name).

Junctions and carbon patches (--groups pairs): two runs of the same lattice (material, 3 x 2
cell, kV, 23 mrad, same origin) blended in one image, same pixel grids, detectors, doses and
seeding as above.
- Lateral junctions 2H-1L|2H-2L (60 and 80 kV) and 2H-1L|3R-2L (80 kV), groups
  `2H-1L+2H-2L_MoS2_...` and `2H-1L+3R-2L_MoS2_...`. The library lists layers in beam order
  and the first (entrance-side) layer of 2H-2L and 3R-2L is the 2H-1L layer itself (Mo at A,
  S2 at B, same height), so at a common origin the monolayer continues as the bilayer's
  entrance-side layer and the second layer starts at the boundary (on the exit side). The
  boundary is a straight line through a point within 5 A of the centre at a random angle;
  the bilayer lies where (p - point) . (cos a, sin a) > 0, as the engine's BoundaryParams
  (written to params.boundary, with params.second_polymorph). The image is a blend of the two
  Fourier-series images, (1 - w) I_1L + w I_2L, with w a smooth partition among the lattice
  sites (junction_weight): every column is wholly its own side's, and w changes between
  columns (0.7 A, 10-90 %), along a staircase of sites within about 1 A of the line. This
  is an APPROXIMATION of an interface: no edge physics (no relaxation, no edge
  reconstruction or edge atoms, no channelling across the boundary, and the probe tails
  across it follow the blend, not a multislice of the junction). Truth: each column is the
  run's on the side of the line it lies on (the side its site counts for in w), so the
  truth holds exactly the columns of the image (every maximum within 0.1 A, checked);
  polymorph.tif is the second polymorph where w >= 0.5; no carbon.
- Carbon patches on 2H-1L MoS2 (80 kV): groups `2H-1L_MoS2_C5A-patch_...` (also C10A, C20A),
  the clean 2H-1L run with one or two irregular patches (10-20 A mean diameter, outline
  r0 (1 + small 2nd/3rd harmonics)) where the image is the carbon-covered run's (the same
  cell under 5/10/20 A of amorphous carbon, itself periodic: the same carbon in every cell),
  blended across a 1.5 A raised-cosine ramp along the radius. Truth: the clean cell's columns
  (the carbon run holds the same, checked), carbon.tif = thickness x w (the full thickness
  inside, 0 outside, the blend read as a film thinning over the ramp), params.carbon with
  the thickness and the patch cover. Every column outside the patches is checked to lie on
  an image maximum; under a patch and its ramp the offset is only recorded (source.json).

Scoring of these groups (pixel maps that `stemsight eval` does not split): --link-images DIR
symlinks every image as DIR/<group>__<k>.tif, `stemsight analyze DIR/*.tif --out ANALYSIS`
writes the engine's maps, and --score ANALYSIS [--eval-dir EVAL] prints per group the
polymorph accuracy of each junction side >= 5 A from the boundary, the share of the
carbon-free area (and of the patch) flagged as carbon (contamination.tif codes 1, 2 and 4, as eval
counts), with column recall/precision from eval_testset.sh's JSONs.

Usage:
  /work/physics-venv/bin/python scripts/physics/testset.py [--out DIR] [--n 4] [--only STR]
                                                           [--groups cells|pairs|all]
  /work/physics-venv/bin/python scripts/physics/testset.py --out SET --link-images LINKS
  /work/physics-venv/bin/python scripts/physics/testset.py --out SET --score ANALYSIS [--eval-dir EVAL]
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
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
    return image_peak_offsets(lambda X, Y: run.value(F, *g.to_cell(X, Y)), g, xs, ys, half, step)


def image_peak_offsets(image, g: Geometry, xs, ys, half=0.16, step=0.02) -> np.ndarray:
    """peak_offsets for any noise-free image given as image(x_px, y_px) -> values."""
    d = np.arange(-half, half + 1e-9, step) / g.px
    dx, dy = np.meshgrid(d, d, indexing="ij")
    n = dx.size
    X = (np.asarray(xs)[:, None] + dx.ravel()).ravel()
    Y = (np.asarray(ys)[:, None] + dy.ravel()).ravel()
    v = np.asarray(image(X, Y)).reshape(-1, n)
    k = v.argmax(1)
    rim = (np.abs(dx.ravel()[k]) >= d[-1] - 1e-9) | (np.abs(dy.ravel()[k]) >= d[-1] - 1e-9)
    dist = np.hypot(dx.ravel()[k], dy.ravel()[k]) * g.px
    return np.where(rim, np.inf, dist)


def sim_params(run: Run, g: Geometry, dose: float, **changes) -> dict:
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
    } | changes


def to_counts(clean: np.ndarray, dose: float, px: float, rng) -> np.ndarray:
    return rng.poisson(dose * px * px * np.clip(clean, 0.0, None)).astype(np.float32)


def write_tif(path: Path, data: np.ndarray, px: float):
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / px, 1 / px), metadata={"unit": "angstrom"})


def folder_key(folder: Path) -> str:
    """A folder's name within the set, <group>/<k>: its record name and its noise seed."""
    return f"{folder.parent.name}/{folder.name}"


def folder_rng(folder: Path, seed: int):
    return np.random.default_rng([seed, zlib.crc32(folder_key(folder).encode())])


def write_scene(folder: Path, g: Geometry, size: int, image, polymorph, carbon, cols, vacs, params: dict):
    """A folder's image, its polymorph and carbon maps, and truth.json (CONTRACT.md)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_tif(folder / "image.tif", image, g.px)
    write_tif(folder / "polymorph.tif", polymorph, g.px)
    write_tif(folder / "carbon.tif", carbon, g.px)
    truth = dict(pixel_size_angstrom=g.px, width=size, height=size, polymorph_classes=CLASSES,
                 columns=cols, vacancies=vacs, distractors=[], params=params)
    (folder / "truth.json").write_text(json.dumps(truth, indent=1))


def make_folder(run: Run, F, inner: int, outer: int, dose: float, folder: Path, seed: int,
                size: int = SIZE, check: bool = True) -> dict:
    """One eval folder; returns its source record."""
    rng = folder_rng(folder, seed)
    g = Geometry(size, float(rng.uniform(*PIXEL_RANGE)), float(rng.uniform(0, 360)),
                 (float(rng.uniform(0, run.unit[0])), float(rng.uniform(0, run.unit[1]))))
    clean = render(run, F, g)
    cols, vacs = truth_points(run, g)
    if check:
        off = peak_offsets(run, F, g, [c["x"] for c in cols], [c["y"] for c in cols])
        assert off.max() < PEAK_TOLERANCE, (folder, float(off.max()))
    image = to_counts(clean, dose, g.px, rng)
    write_scene(folder, g, size, image, np.full((size, size), CLASSES.index(run.polymorph), np.uint8),
                np.zeros((size, size), np.float32), cols, vacs, sim_params(run, g, dose))
    source = dict(folder=folder_key(folder), run_id=run.job.run_id,
                  polymorph=run.polymorph, material=run.material, kv=run.job.kv, inner_mrad=inner,
                  outer_mrad=outer, dose=dose, pixel_size_angstrom=g.px, rotation_deg=g.rotation_deg,
                  origin_x_angstrom=g.origin[0], origin_y_angstrom=g.origin[1], seed=seed,
                  n_columns=len(cols), n_vs1=sum(v["type"] == "VS1" for v in vacs),
                  n_vs2=sum(v["type"] == "VS2" for v in vacs), mean_counts=float(image.mean()),
                  expected_mean_counts=float(dose * g.px ** 2 * clean.mean()))
    (folder / "source.json").write_text(json.dumps(source, indent=1))
    return source


# ---------------------------------------------------------------------------
# Lateral junctions and carbon patches: two runs of one lattice in one image.

JUNCTIONS = [("2H-1L_MoS2", "2H-2L_MoS2"), ("2H-1L_MoS2", "3R-2L_MoS2")]
CARBON_CELLS = ["2H-1L_MoS2_C5A", "2H-1L_MoS2_C10A", "2H-1L_MoS2_C20A"]
JUNCTION_SIGMA = 0.55     # A: Gaussian of the partition of the image among the lattice sites
JUNCTION_CUTOFF = 3.0     # A: sites farther than this from a point have no say there
BOUNDARY_OFFSET = 5.0     # A: the boundary line passes this close to the image centre at most
PATCH_DIAMETER = (10.0, 20.0)  # A: mean diameter of a carbon patch
PATCH_HARMONICS = (2, 3)  # angular harmonics of a patch's outline, amplitude up to PATCH_WOBBLE each
PATCH_WOBBLE = 0.08
PATCH_RAMP = 1.5          # A: width of the raised-cosine ramp across a patch's edge
PATCH_MARGIN = 5.0        # A: patches stay this far inside the image
SCORE_MARGIN = 5.0        # A: junction sides are scored this far from the boundary


@dataclasses.dataclass
class Pair:
    """A group made of two runs of the same lattice (material, cell, kV, optics): a lateral
    junction (`first` behind the boundary, `second` beyond it) or carbon patches (`first` the
    clean run, `second` the carbon-covered one)."""
    cell: str
    kind: str  # "junction" or "carbon-patch"
    first: library.Job
    second: library.Job


def reference_jobs(raw_dir: Path = RAW_DIR) -> dict:
    """(cell name, kV) -> library job at the reference optics whose raw signal exists."""
    return {(j.cell_name, j.kv): j for j in library.make_queue()
            if j.group == "library" and j.conv == 23 and j.defocus == 0 and j.c3 == 0
            and (raw_dir / f"{j.run_id}.npz").exists()}


def pairs(raw_dir: Path = RAW_DIR) -> list:
    """The junction and carbon-patch groups whose two runs both exist, at every voltage."""
    jobs = reference_jobs(raw_dir)
    kvs = sorted({kv for (_, kv) in jobs})
    out = []
    for a, b in JUNCTIONS:
        name = f"{a.split('_')[0]}+{b}"
        out += [Pair(name, "junction", jobs[a, kv], jobs[b, kv]) for kv in kvs if (a, kv) in jobs and (b, kv) in jobs]
    for c in CARBON_CELLS:
        clean = c.rsplit("_", 1)[0]
        out += [Pair(f"{c}-patch", "carbon-patch", jobs[clean, kv], jobs[c, kv])
                for kv in kvs if (clean, kv) in jobs and (c, kv) in jobs]
    return out


def carbon_thickness(job: library.Job) -> float:
    return float(job.cell.get("carbon") or 0.0)


def lattice_sites(run: Run, g: Geometry, margin: float = 4.0):
    """Every A, B and C site (columns and hollows) of the tiled cell within `margin` A of the
    image, in pixels (x, y)."""
    a = library.MATERIALS[run.material]["a"]
    nx, ny = round(run.unit[0] / a), round(run.unit[1] / (a * math.sqrt(3)))
    b = a * math.sqrt(3)
    base = np.array([(x + i * a, y + j * b) for offs in library.site_offsets(a).values()
                     for (x, y) in offs for i in range(nx) for j in range(ny)])
    shifts = np.array(g.tiles(run.unit), float) * np.asarray(run.unit)
    u = (shifts[:, None, :] + base[None]).reshape(-1, 2)
    x, y = g.to_pixels(u[:, 0], u[:, 1])
    m = margin / g.px
    keep = (x > -0.5 - m) & (y > -0.5 - m) & (x < g.size - 0.5 + m) & (y < g.size - 0.5 + m)
    return x[keep], y[keep]


class Boundary:
    """A straight boundary as the engine's BoundaryParams: the second run lies where
    (p - point) . (cos angle, sin angle) > 0, p the specimen point in A ((x, y) px x pixel size)."""

    def __init__(self, point, angle_rad: float):
        self.point, self.angle_rad = np.asarray(point, float), float(angle_rad)

    def signed(self, g: Geometry, x_px, y_px) -> np.ndarray:
        """Signed distance (A) of pixel positions from the line, positive on the second run's side."""
        return ((np.ravel(x_px) * g.px - self.point[0]) * math.cos(self.angle_rad)
                + (np.ravel(y_px) * g.px - self.point[1]) * math.sin(self.angle_rad))


def junction_weight(g: Geometry, boundary: Boundary, sites, xs, ys, sigma: float = JUNCTION_SIGMA,
                    cutoff: float = JUNCTION_CUTOFF) -> np.ndarray:
    """Weight of the second run at pixel positions (xs, ys): a partition of unity among the
    lattice sites (a Gaussian of `sigma` around each, cut at `cutoff`), each site counting for
    the side of the line it lies on. Every column therefore belongs wholly to one run (the
    weight is within 0.02 of 0 or 1 on a column, and flat there), the change from one run to
    the other happens between columns (10-90 % over 0.7 A between two neighbouring sites
    1.8 A apart), following the lattice (a staircase within about 1 A of the line), and the
    weight is exactly 0 or 1 farther than `cutoff` from the line."""
    xs, ys = np.ravel(xs).astype(float), np.ravel(ys).astype(float)
    s = boundary.signed(g, xs, ys)
    w = (s > 0).astype(float)
    band = np.flatnonzero(np.abs(s) < cutoff)
    ss = boundary.signed(g, *sites)
    near = np.abs(ss) < 2 * cutoff
    sx, sy, side = sites[0][near] * g.px, sites[1][near] * g.px, (ss[near] > 0).astype(float)
    for chunk in np.array_split(band, len(band) // 4096 + 1):
        d2 = (xs[chunk, None] * g.px - sx) ** 2 + (ys[chunk, None] * g.px - sy) ** 2
        k = np.where(d2 < cutoff ** 2, np.exp(-d2 / (2 * sigma ** 2)), 0.0)
        w[chunk] = np.clip((k @ side) / k.sum(1), 0.0, 1.0)
    return w


def draw_patches(rng, g: Geometry) -> list:
    """One or two carbon patches: (centre x, centre y, mean radius, [(harmonic, amplitude,
    phase)]) in A, inside the image by PATCH_MARGIN."""
    extent = g.size * g.px
    out = []
    for _ in range(int(rng.integers(1, 3))):
        r0 = float(rng.uniform(*PATCH_DIAMETER)) / 2
        # (an image too small for the margins gets its patch in the middle)
        lo = min(r0 * (1 + PATCH_WOBBLE * len(PATCH_HARMONICS)) + PATCH_MARGIN, extent / 2)
        hi = extent - lo
        cx, cy = float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))
        harm = [(k, float(rng.uniform(0, PATCH_WOBBLE)), float(rng.uniform(0, 2 * math.pi))) for k in PATCH_HARMONICS]
        out.append((cx, cy, r0, harm))
    return out


def patch_weight(g: Geometry, patches, xs, ys, ramp: float = PATCH_RAMP) -> np.ndarray:
    """Weight of the carbon run at pixel positions: 1 inside a patch, 0 outside, a raised-cosine
    ramp of width `ramp` across the edge r(phi) = r0 (1 + sum a_k cos(k phi + phase_k)) (along
    the radius); overlapping patches take the larger weight."""
    x, y = np.ravel(xs) * g.px, np.ravel(ys) * g.px
    w = np.zeros(x.shape)
    for (cx, cy, r0, harm) in patches:
        dx, dy = x - cx, y - cy
        phi = np.arctan2(dy, dx)
        edge = r0 * (1 + sum(a * np.cos(k * phi + ph) for (k, a, ph) in harm))
        t = np.clip((np.hypot(dx, dy) - edge) / ramp, -0.5, 0.5)
        w = np.maximum(w, 0.5 - 0.5 * np.sin(np.pi * t))
    return w


def _select_columns(cols, keep):
    return [c for c, k in zip(cols, keep) if k]


def pair_scene(pair: Pair, runs, Fs, rng, size: int = SIZE, check: bool = True) -> dict:
    """The noise-free image and truth of a junction or carbon-patch image: the geometry drawn
    as in make_folder, then the boundary (a line through a point within BOUNDARY_OFFSET of the
    centre, at a random angle) or the patches. Returns g, weight (the second run's weight as
    a function of pixel positions), w and clean (per pixel), cols, poly, carbon, params
    (changes to sim_params), extra (for source.json) and off (each column's peak offset)."""
    run1, run2 = runs
    F1, F2 = Fs
    assert run1.material == run2.material and np.allclose(run1.unit, run2.unit)
    g = Geometry(size, float(rng.uniform(*PIXEL_RANGE)), float(rng.uniform(0, 360)),
                 (float(rng.uniform(0, run1.unit[0])), float(rng.uniform(0, run1.unit[1]))))
    r, c = np.mgrid[0:size, 0:size]
    cols1, vacs1 = truth_points(run1, g)
    cols2, vacs2 = truth_points(run2, g)
    assert not vacs1 and not vacs2
    if pair.kind == "junction":
        centre = (size - 1) / 2 * g.px
        rad, phi = BOUNDARY_OFFSET * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi)
        boundary = Boundary((centre + rad * math.cos(phi), centre + rad * math.sin(phi)), rng.uniform(0, 2 * math.pi))
        sites = lattice_sites(run1, g)
        weight = lambda X, Y: junction_weight(g, boundary, sites, X, Y)
        # each column is the run's on its side of the line, as the partition assigns its site
        beyond = lambda cols: boundary.signed(g, [q["x"] for q in cols], [q["y"] for q in cols]) > 0
        cols = _select_columns(cols1, ~beyond(cols1)) + _select_columns(cols2, beyond(cols2))
        params = dict(second_polymorph=run2.polymorph,
                      boundary={"point_angstrom": list(map(float, boundary.point)),
                                "normal_angle_rad": boundary.angle_rad,
                                "irregularity_angstrom": 0.0, "correlation_angstrom": 0.0})
        extra = dict(second_polymorph=run2.polymorph, boundary_x_angstrom=float(boundary.point[0]),
                     boundary_y_angstrom=float(boundary.point[1]), boundary_angle_rad=boundary.angle_rad,
                     n_columns_second=int(beyond(cols2).sum()), junction_sigma_angstrom=JUNCTION_SIGMA)
    else:
        t = carbon_thickness(run2.job)
        key = lambda q: (round(q["x"], 6), round(q["y"], 6), q["site"])
        assert sorted(map(key, cols1)) == sorted(map(key, cols2)), "the carbon run's lattice differs"
        patches = draw_patches(rng, g)
        weight = lambda X, Y: patch_weight(g, patches, X, Y)
        cols = cols1
    w = weight(c, r).reshape(size, size)
    clean = (1 - w) * render(run1, F1, g) + w * render(run2, F2, g)

    def image(X, Y):
        wv = weight(X, Y)
        u = g.to_cell(X, Y)
        return (1 - wv) * run1.value(F1, *u) + wv * run2.value(F2, *u)

    xs, ys = np.array([q["x"] for q in cols]), np.array([q["y"] for q in cols])
    off = image_peak_offsets(image, g, xs, ys) if check else np.zeros(len(cols))
    # a patch's carbon (and its ramp) may move a maximum off its column, as real carbon does:
    # there the offset is recorded, not checked
    checked = weight(xs, ys) == 0 if pair.kind == "carbon-patch" else np.ones(len(cols), bool)
    assert off[checked].max(initial=0) < PEAK_TOLERANCE, float(off[checked].max())
    if pair.kind == "junction":
        poly = np.where(w >= 0.5, CLASSES.index(run2.polymorph), CLASSES.index(run1.polymorph)).astype(np.uint8)
        carbon = np.zeros((size, size), np.float32)
    else:
        poly = np.full((size, size), CLASSES.index(run1.polymorph), np.uint8)
        # the blend of the clean and the covered image reads as a film thinning across the ramp
        carbon = (t * w).astype(np.float32)
        under = weight(xs, ys) > 0
        covered = float((w >= 0.5).mean())
        params = dict(carbon={"level": min(1.0, t / 60), "max_thickness_angstrom": t, "film_thickness_angstrom": 0.0,
                              "coverage": covered, "correlation_angstrom": float(np.mean([2 * p[2] for p in patches]))})
        extra = dict(carbon_angstrom=t, n_patches=len(patches), patch_diameters_angstrom=[2 * p[2] for p in patches],
                     patch_centres_angstrom=[[p[0], p[1]] for p in patches], carbon_fraction=covered,
                     n_columns_under_carbon=int(under.sum()),
                     max_peak_offset_under_carbon_angstrom=float(off[under].max(initial=0)))
    return dict(g=g, weight=weight, w=w, clean=clean, cols=cols, poly=poly, carbon=carbon, params=params,
                extra=extra, off=off)


def make_pair_folder(pair: Pair, runs, Fs, inner: int, outer: int, dose: float, folder: Path, seed: int,
                     size: int = SIZE, check: bool = True) -> dict:
    """One eval folder of a junction or carbon-patch group (pair_scene, then Poisson noise as
    make_folder); returns its source record."""
    run1, run2 = runs
    rng = folder_rng(folder, seed)
    sc = pair_scene(pair, runs, Fs, rng, size, check)
    g, clean, cols, off, extra = sc["g"], sc["clean"], sc["cols"], sc["off"], sc["extra"]
    poly, carbon, params = sc["poly"], sc["carbon"], sc["params"]
    image_counts = to_counts(clean, dose, g.px, rng)
    write_scene(folder, g, size, image_counts, poly, carbon, cols, [], sim_params(run1, g, dose, **params))
    source = dict(folder=folder_key(folder), kind=pair.kind, run_id=run1.job.run_id,
                  second_run_id=run2.job.run_id, polymorph=run1.polymorph, material=run1.material, kv=run1.job.kv,
                  inner_mrad=inner, outer_mrad=outer, dose=dose, pixel_size_angstrom=g.px, rotation_deg=g.rotation_deg,
                  origin_x_angstrom=g.origin[0], origin_y_angstrom=g.origin[1], seed=seed, n_columns=len(cols),
                  n_vs1=0, n_vs2=0, mean_counts=float(image_counts.mean()),
                  expected_mean_counts=float(dose * g.px ** 2 * clean.mean()),
                  max_peak_offset_angstrom=float(off.max(initial=0)), **extra)
    (folder / "source.json").write_text(json.dumps(source, indent=1))
    return source


def library_runs(raw_dir: Path = RAW_DIR):
    """Library jobs of the wanted cells at the reference optics whose raw signal exists."""
    return [j for j in library.make_queue()
            if j.group == "library" and j.cell_name in CELLS and j.conv == 23 and j.defocus == 0
            and j.c3 == 0 and (raw_dir / f"{j.run_id}.npz").exists()]


def group_name(job: library.Job, inner: int, outer: int, dose: float, cell: str | None = None) -> str:
    return f"{cell or job.cell_name}_{job.kv:g}kV_{inner}-{outer}mrad_1e{round(math.log10(dose))}"


# ---------------------------------------------------------------------------
# Scoring the junction and carbon-patch groups on the maps `stemsight analyze` writes.

def link_images(set_dir: Path, link_dir: Path) -> int:
    """Symlinks <group>__<k>.tif -> <set>/<group>/<k>/image.tif, so that one `stemsight analyze
    LINKS/*.tif --out ANALYSIS` writes ANALYSIS/<group>__<k>/ for every image."""
    link_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for img in sorted(set_dir.glob("*/*/image.tif")):
        link = link_dir / f"{img.parent.parent.name}__{img.parent.name}.tif"
        if not link.exists():
            link.symlink_to(img.resolve())
        n += 1
    return n


def distance_outside(mask: np.ndarray, px: float) -> np.ndarray:
    """Distance (A) from every pixel outside `mask` to the nearest pixel inside it (0 inside,
    inf when the mask is empty)."""
    from scipy import ndimage
    if not mask.any():
        return np.full(mask.shape, np.inf)
    return ndimage.distance_transform_edt(~mask) * px


def score_folder(folder: Path, analysis: Path, margin: float = SCORE_MARGIN) -> dict:
    """Pixel scores of one junction or carbon-patch folder against the engine's maps in
    `analysis` (polymorph.tif, contamination.tif: codes 1, 2 and 4 are the pixels the report
    leaves out as carbon, as `stemsight eval` counts them). Junction: accuracy of each side's
    class over the pixels at least `margin` A from the other side (distance from pixel centre
    to pixel centre), and the share of each side flagged as carbon (there is none). Carbon patch: the share of the carbon-free pixels flagged (all, and those
    at least `margin` A from the carbon), of the carbon pixels (true thickness >= 3 A, eval's
    threshold) flagged, and the polymorph accuracy."""
    src = json.loads((folder / "source.json").read_text())
    px = src["pixel_size_angstrom"]
    truth = tifffile.imread(folder / "polymorph.tif")
    pred = tifffile.imread(analysis / "polymorph.tif")
    flagged = np.isin(tifffile.imread(analysis / "contamination.tif"), (1, 2, 4))
    assert pred.shape == truth.shape == flagged.shape, (folder, analysis)
    out = dict(kind=src["kind"], flagged=float(flagged.mean()), polymorph_accuracy=float((pred == truth).mean()))
    if src["kind"] == "junction":
        for side, name in (("first", src["polymorph"]), ("second", src["second_polymorph"])):
            k = CLASSES.index(name)
            inside = (truth == k) & (distance_outside(truth != k, px) >= margin)
            called = np.bincount(pred[inside], minlength=len(CLASSES))
            out[side] = dict(polymorph=name, pixels=int(inside.sum()), correct=int(called[k]),
                             called={CLASSES[i]: int(n) for i, n in enumerate(called) if n},
                             side_pixels=int((truth == k).sum()), side_flagged=int((flagged & (truth == k)).sum()))
    else:
        carbon = tifffile.imread(folder / "carbon.tif")
        free = carbon == 0
        far = free & (distance_outside(carbon > 0, px) >= margin)
        dirty = carbon >= 3.0
        out.update(free_pixels=int(free.sum()), free_flagged=int((flagged & free).sum()),
                   far_pixels=int(far.sum()), far_flagged=int((flagged & far).sum()),
                   carbon_pixels=int(dirty.sum()), carbon_flagged=int((flagged & dirty).sum()))
    return out


def score_pairs(set_dir: Path, analysis_dir: Path, eval_dir: Path | None = None, margin: float = SCORE_MARGIN):
    """Per group of `set_dir` made by make_pair_folder: pooled pixel scores from score_folder
    (analysis as `link_images` names it: ANALYSIS/<group>__<k>/), and the column recall and
    precision of the group's `stemsight eval` JSON in eval_dir (eval_testset.sh) when given.
    Returns a list of dicts, one per group."""
    rows = []
    for gdir in sorted(p for p in set_dir.iterdir() if p.is_dir()):
        folders = sorted(f for f in gdir.iterdir() if (f / "source.json").is_file())
        scores = []
        for f in folders:
            src = json.loads((f / "source.json").read_text())
            a = analysis_dir / f"{gdir.name}__{f.name}"
            if src.get("kind") not in ("junction", "carbon-patch") or not (a / "polymorph.tif").is_file():
                continue
            scores.append(score_folder(f, a, margin))
        if not scores:
            continue
        m = re.match(r"(.+)_(\d+)kV_(\d+-\d+)mrad_(1e\d)$", gdir.name)
        row = dict(group=gdir.name, cell=m[1], kv=int(m[2]), det=m[3], dose=m[4], kind=scores[0]["kind"],
                   images=len(scores), flagged=float(np.mean([s["flagged"] for s in scores])))
        if row["kind"] == "junction":
            for side in ("first", "second"):
                n = sum(s[side]["pixels"] for s in scores)
                row[side] = scores[0][side]["polymorph"]
                row[f"{side}_accuracy"] = sum(s[side]["correct"] for s in scores) / max(n, 1)
                row[f"{side}_min_image"] = min(s[side]["correct"] / max(s[side]["pixels"], 1) for s in scores)
                called = {}
                for s in scores:
                    for k, v in s[side]["called"].items():
                        called[k] = called.get(k, 0) + v
                row[f"{side}_called"] = {k: v / max(n, 1) for k, v in sorted(called.items(), key=lambda kv: -kv[1])}
                row[f"{side}_flagged"] = (sum(s[side]["side_flagged"] for s in scores)
                                          / max(sum(s[side]["side_pixels"] for s in scores), 1))
        else:
            tot = lambda k: sum(s[k] for s in scores)
            row.update(free_flagged=tot("free_flagged") / max(tot("free_pixels"), 1),
                       far_flagged=tot("far_flagged") / max(tot("far_pixels"), 1),
                       carbon_flagged=tot("carbon_flagged") / max(tot("carbon_pixels"), 1),
                       max_free_flagged=max(s["free_flagged"] / max(s["free_pixels"], 1) for s in scores),
                       polymorph_accuracy=float(np.mean([s["polymorph_accuracy"] for s in scores])))
        if eval_dir is not None and (eval_dir / f"{gdir.name}.json").is_file():
            e = json.loads((eval_dir / f"{gdir.name}.json").read_text())["overall"]
            row.update(recall=e["atoms"]["recall"], precision=e["atoms"]["precision"], rmse_pm=e["atoms"]["rmse_pm"],
                       eval_polymorph_accuracy=e["polymorph_pixel_accuracy"], eval_flagged=1 - e["kept_fraction"])
        rows.append(row)
    return rows


def score_table(rows) -> str:
    """Markdown tables of score_pairs rows: junctions, then carbon patches."""
    f = lambda r, k, fmt=".3f": format(r[k], fmt) if k in r else "-"
    called = lambda d: ", ".join(f"{k} {v:.2f}" for k, v in list(d.items())[:2])
    out = [f"Junctions: polymorph pixel accuracy per side, pixels >= {SCORE_MARGIN:g} A from the boundary "
           "(pooled; worst image), what the map called there; columns from stemsight eval.", "",
           "| group | images | 2H-1L side | called | second side | called | column recall | precision | RMSE (pm) "
           "| flagged as carbon (2H-1L / second side) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in rows if r["kind"] == "junction"):
        out.append(f"| {r['group']} | {r['images']} | {r['first_accuracy']:.3f} ({r['first_min_image']:.3f}) "
                   f"| {called(r['first_called'])} | {r['second']} {r['second_accuracy']:.3f} ({r['second_min_image']:.3f}) "
                   f"| {called(r['second_called'])} | {f(r, 'recall')} | {f(r, 'precision')} | {f(r, 'rmse_pm', '.1f')} "
                   f"| {r['first_flagged']:.3f} / {r['second_flagged']:.3f} |")
    out += ["", f"Carbon patches: share of the carbon-free pixels flagged as carbon (all; >= {SCORE_MARGIN:g} A from "
            "the carbon; worst image), of the carbon pixels (>= 3 A) flagged; polymorph accuracy; columns from stemsight eval.", "",
            "| group | images | carbon-free flagged | >= 5 A away | worst image | patch flagged | polymorph accuracy "
            "| column recall | precision | RMSE (pm) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in rows if r["kind"] == "carbon-patch"):
        out.append(f"| {r['group']} | {r['images']} | {r['free_flagged']:.3f} | {r['far_flagged']:.3f} "
                   f"| {r['max_free_flagged']:.3f} | {r['carbon_flagged']:.3f} | {r['polymorph_accuracy']:.3f} "
                   f"| {f(r, 'recall')} | {f(r, 'precision')} | {f(r, 'rmse_pm', '.1f')} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw-dir", type=Path, default=RAW_DIR)
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--n", type=int, default=4, help="images per run x detector x dose")
    ap.add_argument("--seed", type=int, default=31000)
    ap.add_argument("--only", action="append", default=[],
                    help="run ids (or junction/patch group cell names) containing this string")
    ap.add_argument("--groups", choices=["cells", "pairs", "all"], default="cells",
                    help="single cells (default), the junction and carbon-patch groups, or both")
    ap.add_argument("--link-images", type=Path, metavar="DIR",
                    help="only symlink every image of --out as DIR/<group>__<k>.tif (for stemsight analyze)")
    ap.add_argument("--score", type=Path, metavar="ANALYSIS",
                    help="only score the junction/patch groups of --out on ANALYSIS/<group>__<k>/ maps")
    ap.add_argument("--eval-dir", type=Path, help="with --score: eval_testset.sh's JSONs for the column scores")
    args = ap.parse_args(argv)
    if args.link_images:
        print(f"{link_images(args.out, args.link_images)} images linked in {args.link_images}")
        return 0
    if args.score:
        rows = score_pairs(args.out, args.score, args.eval_dir)
        print(score_table(rows))
        (args.score / "pair_scores.json").write_text(json.dumps(rows, indent=1))
        return 0
    if HERE.parent.parent in [args.out.resolve(), *args.out.resolve().parents]:
        ap.error("--out must lie outside the repository")
    wanted = lambda *names: not args.only or any(s in n for s in args.only for n in names)
    jobs = [j for j in library_runs(args.raw_dir) if wanted(j.run_id)] if args.groups != "pairs" else []
    todo = [p for p in pairs(args.raw_dir) if wanted(p.cell, p.first.run_id, p.second.run_id)] \
        if args.groups != "cells" else []
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
    cache = {}
    for pair in todo:
        runs = [cache.setdefault(j.run_id, Run(j, args.raw_dir)) for j in (pair.first, pair.second)]
        for (inner, outer) in DETECTORS:
            Fs = [r.coefficients(inner, outer) for r in runs]
            for dose in DOSES:
                group = group_name(pair.first, inner, outer, dose, pair.cell)
                for k in range(args.n):
                    rows.append(make_pair_folder(pair, runs, Fs, inner, outer, dose, args.out / group / f"{k:02d}",
                                                 args.seed))
                print(f"{group}: {args.n} images, {rows[-1]['n_columns']} columns in the last, "
                      f"max peak offset {max(r['max_peak_offset_angstrom'] for r in rows[-args.n:]):.3f} A"
                      + (f" ({max(r['max_peak_offset_under_carbon_angstrom'] for r in rows[-args.n:]):.3f} A under "
                         "carbon)" if pair.kind == "carbon-patch" else ""), flush=True)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(args.out / "index.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, restval="")
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} folders in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
