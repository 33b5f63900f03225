#!/usr/bin/env python3
"""Frozen-phonon multislice reference library for HAADF/ADF-STEM of TMD polymorphs.

Each run is one (cell, voltage, convergence, defocus, C3) with abTEM's FrozenPhonons
ensemble. The probe scans the periodic repeat unit of the cell and a
FlexibleAnnularDetector stores the scattered intensity in 1 mrad rings, so every
detector range (inner, outer) is integrated afterwards from the same run.

The STEM image is band-limited to 2*alpha/lambda in the probe position (the probe
only carries spatial frequencies inside the aperture), so the coarse periodic scan is
Fourier-interpolated exactly onto a fine grid; column disks, peaks, profiles and the
hollow/bridge signal are measured on that grid.

Outputs (one pair of files per run, written atomically, skipped when present):
  library/runs/<run_id>.sites.csv     one row per (detector range, site tag)
  library/runs/<run_id>.profiles.csv  radial profile 0-2 A per (key range, site tag)
The raw ring-binned signal of each run goes outside the repository (--raw-dir).

Intensities are fractions of the incident beam (abTEM normalizes the probe to 1):
`value`/`peak` are image values, `disk` is the image integrated over a 0.9 A disk
(fraction x A^2). Ratios of `disk` are the integrated column ratios.

Usage:
  python library.py --list                 # show the queue and what is done
  python library.py                        # run the queue (resumable)
  python library.py --only 2H-1L_MoS2      # restrict to run ids containing a string
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "library"

# Electron wavelength [A] for an accelerating voltage [V] (relativistic).
def wavelength(volts: float) -> float:
    h, m0, e, c = 6.62607015e-34, 9.1093837015e-31, 1.602176634e-19, 299792458.0
    p = math.sqrt(2 * m0 * e * volts * (1 + e * volts / (2 * m0 * c * c)))
    return h / p * 1e10


# ---------------------------------------------------------------------------
# Materials: lattice constant a, chalcogen height above/below the metal plane,
# interlayer (metal-metal) spacing, per-direction rms thermal displacement sigma
# (abTEM applies sigma independently along x, y and z; sigma^2 = U_iso).
# See README.md for the sources.
MATERIALS = {
    "MoS2": dict(metal="Mo", chalc="S", a=3.16, h=1.59, d=6.15),
    "WS2": dict(metal="W", chalc="S", a=3.153, h=1.57, d=6.16),
    "MoSe2": dict(metal="Mo", chalc="Se", a=3.288, h=1.67, d=6.46),
    "WSe2": dict(metal="W", chalc="Se", a=3.282, h=1.68, d=6.48),
}
SIGMAS = {"Mo": 0.06, "W": 0.05, "S": 0.07, "Se": 0.06, "C": 0.08}

# Site offsets of the hexagonal A/B/C sub-lattices inside the orthogonal repeat unit
# (a x a*sqrt(3), two lattice points: (0,0) and (a/2, b/2)).
def site_offsets(a: float) -> dict[str, list[tuple[float, float]]]:
    b = a * math.sqrt(3)
    return {
        "A": [(0.0, 0.0), (a / 2, b / 2)],
        "B": [(0.0, b / 3), (a / 2, 5 * b / 6)],
        "C": [(0.0, 2 * b / 3), (a / 2, b / 6)],
    }

# Stacking per polymorph, layers in BEAM ORDER (first layer = entrance surface).
# Each layer: (kind, metal site, chalcogen site(s)). 2H-type layers hold both
# chalcogens at one site; a 1T layer has the entrance-side chalcogen at B and the
# exit-side one at C. The layer sequences follow SCIENCE.md section 2.
POLYMORPHS = {
    "2H-1L": [("H", "A", "B")],
    "2H-2L": [("H", "A", "B"), ("H", "B", "A")],
    "2H-3L": [("H", "A", "B"), ("H", "B", "A"), ("H", "A", "B")],
    "3R-2L": [("H", "A", "B"), ("H", "B", "C")],
    "3R-3L": [("H", "A", "B"), ("H", "B", "C"), ("H", "C", "A")],
    "1T-1L": [("T", "A", "BC")],
    # 3R-3L seen from its other face (the beam enters at the last layer): the column with
    # S2 above a Mo two layers further down exists only this way up
    "3R-3L-rev": [("H", "C", "A"), ("H", "B", "C"), ("H", "A", "B")],
}

VACUUM = 2.0  # A of vacuum above the first and below the last atom plane


@dataclasses.dataclass
class Site:
    tag: str          # e.g. "A:Mo|S2" (site letter, content in beam order)
    kind: str         # column | hollow | bridge | vacancy
    xy: list          # instances [(x, y), ...] inside the scanned unit
    content: str = ""


@dataclasses.dataclass
class Cell:
    atoms: object     # ase.Atoms of the simulation cell
    unit: tuple       # (Lx, Ly) of the scanned periodic repeat unit, origin at 0
    sites: list


def _layer_atoms(mat, stack, a, reps):
    """Positions/symbols of a stack on an orthogonal nx x ny supercell."""
    m = MATERIALS[mat]
    b = a * math.sqrt(3)
    offs = site_offsets(a)
    nx, ny = reps
    n_layers = len(stack)
    z_metal = [VACUUM + m["h"] + i * m["d"] for i in range(n_layers)]
    pos, sym, layer_of = [], [], []
    for li, (kind, ms, xs) in enumerate(stack):
        z0 = z_metal[li]
        for i in range(nx):
            for j in range(ny):
                shift = np.array([i * a, j * b])
                for (x, y) in offs[ms]:
                    pos.append((x + shift[0], y + shift[1], z0)); sym.append(m["metal"]); layer_of.append(li)
                if kind == "H":
                    for (x, y) in offs[xs]:
                        for dz in (-m["h"], m["h"]):
                            pos.append((x + shift[0], y + shift[1], z0 + dz)); sym.append(m["chalc"]); layer_of.append(li)
                else:  # 1T: entrance-side chalcogen at xs[0], exit-side at xs[1]
                    for site, dz in ((xs[0], -m["h"]), (xs[1], m["h"])):
                        for (x, y) in offs[site]:
                            pos.append((x + shift[0], y + shift[1], z0 + dz)); sym.append(m["chalc"]); layer_of.append(li)
    thickness = z_metal[-1] + m["h"] + VACUUM
    return np.array(pos), sym, np.array(layer_of), (nx * a, ny * b, thickness)


def column_label(symbols, layers, zs):
    """Content of one column in beam order, grouped per layer: 'Mo|S2', 'S2|Mo', 'S'."""
    order = np.argsort(zs)
    groups = []
    for k in order:
        if groups and groups[-1][0] == layers[k]:
            groups[-1][1].append(symbols[k])
        else:
            groups.append((layers[k], [symbols[k]]))
    out = []
    for _, syms in groups:
        parts = []
        for s in dict.fromkeys(syms):
            n = syms.count(s)
            parts.append(s + (str(n) if n > 1 else ""))
        out.append("".join(parts))
    return "|".join(out)


def _unit_sites(a, contents, reps=(1, 1)):
    """Columns, hollows and bridges of a perfect crystal, every instance in reps units."""
    offs = site_offsets(a)
    b = a * math.sqrt(3)
    nx, ny = reps
    inst = lambda xy: [(x + i * a, y + j * b) for (x, y) in xy for i in range(nx) for j in range(ny)]
    sites = []
    for s in "ABC":
        if contents.get(s):
            sites.append(Site(f"{s}:{contents[s]}", "column", inst(offs[s]), contents[s]))
        else:
            sites.append(Site(f"{s}:hollow", "hollow", inst(offs[s])))
    for p, q in (("A", "B"), ("B", "C"), ("C", "A")):
        # midpoints of the nearest p-q pairs (q lies b/3 above p along y)
        xy = [(x, (y + b / 6) % b) for (x, y) in offs[p]]
        sites.append(Site(f"{p}{q}:bridge", "bridge", inst(xy)))
    return sites


def build_cell(spec: dict) -> Cell:
    from ase import Atoms

    mat, poly = spec["material"], spec["polymorph"]
    a = MATERIALS[mat]["a"]
    b = a * math.sqrt(3)
    reps = tuple(spec.get("reps", (3, 2)))
    stack = POLYMORPHS[poly]
    pos, sym, layers, box = _layer_atoms(mat, stack, a, reps)
    defects = spec.get("defects")
    carbon = spec.get("carbon", 0.0)

    if not defects and not carbon:
        # column contents from the first repeat unit
        contents = {}
        offs = site_offsets(a)
        for s in "ABC":
            x, y = offs[s][0]
            sel = np.where((np.abs(pos[:, 0] - x) < 1e-3) & (np.abs(pos[:, 1] - y) < 1e-3))[0]
            if len(sel):
                contents[s] = column_label([sym[k] for k in sel], layers[sel], pos[sel, 2])
        atoms = Atoms(sym, positions=pos, cell=box, pbc=True)
        if spec.get("scan_area", "cell") == "unit":
            return Cell(atoms, (a, b), _unit_sites(a, contents))
        # scanning the whole cell averages every column over all its instances, which
        # lowers the frozen-phonon noise per configuration (see README)
        return Cell(atoms, (box[0], box[1]), _unit_sites(a, contents, reps))

    # Supercells with defects or carbon: the whole simulation cell is the repeat unit,
    # every site is measured and tagged individually, then grouped by tag.
    keep = np.ones(len(sym), bool)
    vac_xy = []
    offs = site_offsets(a)
    m = MATERIALS[mat]
    if defects:
        for (kind, ci, cj, inst) in defects:
            x, y = offs["B"][inst]
            x += ci * a; y += cj * b
            sel = np.where((np.abs(pos[:, 0] - x) < 1e-3) & (np.abs(pos[:, 1] - y) < 1e-3)
                           & (np.array(sym) == m["chalc"]))[0]
            sel = sel[np.argsort(pos[sel, 2])]
            if kind == "VS1":
                keep[sel[-1]] = False   # exit-side S missing: column reads 'S' (entrance S kept)
            else:
                keep[sel] = False
            vac_xy.append((kind, x, y))
    pos, layers = pos[keep], layers[keep]
    sym = [s for s, k in zip(sym, keep) if k]

    if carbon:
        rng = np.random.default_rng(spec.get("carbon_seed", 7))
        # amorphous carbon, density 2.0 g/cm3, random positions with a 1.2 A hard-core
        # minimum separation, placed on the entrance side above the TMD
        n_c = int(round(2.0 / 12.011 * 6.02214076e23 * 1e-24 * box[0] * box[1] * carbon))
        cpos = []
        tries = 0
        while len(cpos) < n_c and tries < 200000:
            tries += 1
            p = rng.random(3) * (box[0], box[1], carbon)
            if cpos:
                d = np.array(cpos) - p
                d[:, 0] -= box[0] * np.round(d[:, 0] / box[0])
                d[:, 1] -= box[1] * np.round(d[:, 1] / box[1])
                if (np.einsum("ij,ij->i", d, d) < 1.2 ** 2).any():
                    continue
            cpos.append(p)
        gap = 2.0  # A between the carbon layer and the top chalcogen plane
        shift = carbon + gap
        pos = pos.copy(); pos[:, 2] += shift
        cpos = np.array(cpos); cpos[:, 2] += VACUUM
        pos = np.vstack([cpos, pos])
        sym = ["C"] * len(cpos) + sym
        layers = np.concatenate([np.full(len(cpos), -1), layers])
        box = (box[0], box[1], box[2] + shift)

    atoms = Atoms(sym, positions=pos, cell=box, pbc=True)
    unit = (box[0], box[1])
    # enumerate every A/B/C site of the supercell
    sites = []
    nx, ny = reps
    tmd = layers >= 0
    for s in "ABC":
        for i in range(nx):
            for j in range(ny):
                for (x, y) in offs[s]:
                    x2, y2 = x + i * a, y + j * b
                    sel = np.where(tmd & (np.abs(pos[:, 0] - x2) < 1e-3) & (np.abs(pos[:, 1] - y2) < 1e-3))[0]
                    content = column_label([sym[k] for k in sel], layers[sel], pos[sel, 2]) if len(sel) else ""
                    near = None
                    for (kind, vx, vy) in vac_xy:
                        dx = (x2 - vx + unit[0] / 2) % unit[0] - unit[0] / 2
                        dy = (y2 - vy + unit[1] / 2) % unit[1] - unit[1] / 2
                        dist = math.hypot(dx, dy)
                        if dist < 1e-3:
                            near = ("at", kind)
                        elif dist < 2.0 and near is None:
                            near = ("next", kind)
                    if near and near[0] == "at":
                        tag, kind = f"{s}:{near[1]}({content or 'empty'})", "vacancy"
                    elif content:
                        tag, kind = f"{s}:{content}" + (f"(next to {near[1]})" if near else ""), "column"
                    else:
                        tag, kind = f"{s}:hollow", "hollow"
                    sites.append(Site(tag, kind, [(x2, y2)], content))
    # bridges: one per A site (A-B midpoint), tagged like the perfect crystal
    for (x, y) in offs["A"]:
        for i in range(nx):
            for j in range(ny):
                sites.append(Site("AB:bridge", "bridge", [(x + i * a, (y + j * b + b / 6) % unit[1])]))
    merged = {}
    for st in sites:
        if st.tag in merged:
            merged[st.tag].xy.extend(st.xy)
        else:
            merged[st.tag] = Site(st.tag, st.kind, list(st.xy), st.content)
    return Cell(atoms, unit, list(merged.values()))


# ---------------------------------------------------------------------------
DETECTOR_RANGES = [
    (40, 160), (54, 200), (66, 192), (61, 183), (80, 200), (100, 250),
    (40, 200), (50, 200), (60, 200), (70, 200), (90, 200), (40, 250), (60, 250), (80, 250),
    # Low-angle ADF: just outside a 20-23 mrad bright-field disk, where WSe2's Se2 pair
    # outshines W (a two-detector JEOL recording in shared/data/real shows it).
    (25, 100), (30, 100), (35, 100),
]
PROFILE_RANGES = DETECTOR_RANGES[:6]
# A range is measured only where it starts at least this far (mrad) outside the probe's
# bright-field disk (its convergence semi-angle; the library's probes have no aberrations, so
# the disk's edge is sharp): at the disk's edge the detector sees bright field. The 23 mrad
# runs' 25-100 mrad range (2 mrad out) is the low-angle node the response fit takes at its
# reference probe; the 30 and 35 mrad runs measure nothing at 30 and 35 mrad.
MEASURE_MARGIN_MRAD = 2.0
# The simulator draws a low-angle detector at least this far outside the disk (Rust
# `sim::params::BRIGHT_FIELD_MARGIN_MRAD`), where aberrations and source size no longer bring
# bright field onto it; fit_response.py takes no convergence factor nearer.
BRIGHT_FIELD_MARGIN_MRAD = 5.0
DISK_RADIUS = 0.9
PROFILE_R = np.round(np.arange(0, 2.0001, 0.1), 2)
FINE_SAMPLING = 0.01  # A, Fourier interpolation grid
MAX_ANGLE = 262.0     # mrad the potential sampling must reach: outer 250 plus the antialias taper


def default_numerics(kv: float, conv: float) -> dict:
    lam = wavelength(kv * 1e3)
    # abTEM keeps 2/3 of the Nyquist frequency (antialias): k_max = (2/3)/(2 s)
    pot_s = round((2 / 3) * lam / (2 * MAX_ANGLE * 1e-3), 4)
    nyq = 1 / (2 * 2 * conv * 1e-3 / lam)  # scan Nyquist for a band limit of 2*alpha/lambda
    scan_s = round(min(0.35, 0.75 * nyq), 3)
    return dict(pot_sampling=pot_s, slice=0.5, scan=scan_s, configs=8, seed=1000, reps=(3, 2))


@dataclasses.dataclass
class Job:
    group: str            # 'library' or 'convergence'
    cell: dict            # material, polymorph, reps, defects, carbon
    kv: float
    conv: float
    defocus: float = 0.0  # abTEM 'defocus' [A] (= -C10)
    c3: float = 0.0       # C3 (Cs) [A]
    numerics: dict = None
    tag: str = ""         # extra id for non-default numerics

    @property
    def cell_name(self):
        c = self.cell
        n = f"{c['polymorph']}_{c['material']}"
        if c.get("defects"):
            n += "_" + "+".join(d[0] for d in c["defects"])
        if c.get("carbon"):
            n += f"_C{c['carbon']:g}A"
        return n

    @property
    def run_id(self):
        rid = f"{self.cell_name}_{self.kv:g}kV_{self.conv:g}mrad_df{self.defocus / 10:+g}nm_C3{self.c3 / 1e4:+g}um"
        return rid + (f"__{self.tag}" if self.tag else "")


def full_numerics(job: Job) -> dict:
    n = default_numerics(job.kv, job.conv)
    n["reps"] = tuple(job.cell.get("reps", n["reps"]))
    n.update(job.numerics or {})
    return n


def make_queue() -> list[Job]:
    M = lambda poly, mat="MoS2", **kw: dict(material=mat, polymorph=poly, **kw)
    q = []
    L = lambda *a, **k: q.append(Job("library", *a, **k))
    C = lambda *a, **k: q.append(Job("convergence", *a, **k))
    # (1) 2H-1L MoS2 at the seed paper's conditions, plus the numerics checks on it
    L(M("2H-1L"), 80, 23)
    C(M("2H-1L"), 80, 23, numerics=dict(sigma_scale=0.0, configs=1), tag="nophonon")
    # aberrations of the no-phonon PRISM image 2H-1L_multislice (C1 = -9.2 A, C3 = -0.53 um)
    C(M("2H-1L"), 80, 23, defocus=9.21, c3=-5272.0, numerics=dict(sigma_scale=0.0, configs=1), tag="nophonon")
    # numerics, same seeds (identical displacements) so only the numerics differ
    two = dict(configs=2)
    C(M("2H-1L"), 80, 23, numerics=two, tag="2cfg")
    C(M("2H-1L"), 80, 23, numerics=dict(two, scan=0.2), tag="2cfg_scan0.2")
    C(M("2H-1L"), 80, 23, numerics=dict(two, slice=1.0), tag="2cfg_slice1")
    C(M("2H-1L"), 80, 23, numerics=dict(two, slice=0.25), tag="2cfg_slice0.25")
    C(M("2H-1L"), 80, 23, numerics=dict(two, projection="finite"), tag="2cfg_finite")
    C(M("2H-1L"), 80, 23, numerics=dict(two, pot_sampling=0.04), tag="2cfg_pot0.04")
    # frozen-phonon noise: another set of seeds
    C(M("2H-1L"), 80, 23, numerics=dict(seed=2000), tag="seed2000")
    # cell size for hollow/bridge values: 5x3 cell (15.8 x 16.4 A), one repeat unit scanned
    C(M("2H-1L", reps=(5, 3)), 80, 23, numerics=dict(scan_area="unit", configs=16), tag="cell5x3_unit")
    # sensitivity to the thermal displacements: measured in library/convergence_unitscan
    # (sigma0.1, sigma1.5x against the run without a tag there)
    # (2)-(4) depth-order references
    L(M("2H-2L"), 80, 23)
    L(M("2H-2L"), 60, 23)
    L(M("2H-3L"), 60, 23)
    C(M("2H-3L"), 60, 23, numerics=dict(sigma_scale=0.0, configs=1), tag="nophonon")
    C(M("2H-2L"), 80, 23, numerics=dict(sigma_scale=0.0, configs=1), tag="nophonon")
    # the depth-order contrast in a larger cell
    C(M("2H-2L", reps=(5, 3)), 80, 23, numerics=dict(scan_area="unit", configs=16), tag="cell5x3_unit")
    # (5) other polymorphs
    for p in ("3R-2L", "3R-3L", "1T-1L", "3R-3L-rev"):
        L(M(p), 80, 23)
    # (6) vacancies: VS1 and VS2 in one 4x2 supercell, 8.36 A apart (5.47 A to the nearest periodic image)
    L(M("2H-1L", reps=(4, 2), defects=[("VS1", 0, 0, 0), ("VS2", 2, 0, 1)]), 80, 23)
    # (7) other TMD monolayers
    for mat in ("WSe2", "WS2", "MoSe2"):
        L(M("2H-1L", mat), 80, 23)
    # (8) 2H-1L over instrument conditions
    for kv in (60, 100):
        L(M("2H-1L"), kv, 23)
    for conv in (20, 30, 35):
        L(M("2H-1L"), 80, conv)
    for df in (-50.0, 50.0):
        L(M("2H-1L"), 80, 23, defocus=df)
    for c3 in (-5e4, 5e4):
        L(M("2H-1L"), 80, 23, c3=c3)
    L(M("2H-1L"), 200, 23)  # last of (8): about 7x the cost of 80 kV (finer sampling and scan)
    # (9) carbon overlayers (whole 3x2 cell scanned)
    for t in (5.0, 10.0, 20.0):
        L(M("2H-1L", carbon=t), 80, 23)
    # (10) the rest: TMD bilayers, polymorphs at 60/100 kV and 30 mrad
    for mat in ("WSe2", "WS2", "MoSe2"):
        L(M("2H-2L", mat), 80, 23)
    for kv, conv in ((60, 30), (100, 30), (80, 30)):
        for p in ("2H-2L", "2H-3L", "3R-2L", "3R-3L", "1T-1L", "2H-1L"):
            L(M(p), kv, conv)
    for p in ("2H-3L", "3R-2L", "3R-3L", "1T-1L"):
        L(M(p), 60, 23)
    for mat in ("WSe2", "WS2", "MoSe2"):
        L(M("2H-1L", mat), 60, 23)
    # de-duplicate by run id, keeping the first (highest-value) position
    seen, out = set(), []
    for j in q:
        if j.run_id not in seen:
            seen.add(j.run_id)
            out.append(j)
    return out


# ---------------------------------------------------------------------------
def simulate(job: Job, numerics: dict):
    import abtem
    import dask

    dask.config.set(scheduler="synchronous")
    abtem.config.set({"diagnostics.progress_bar": False, "fftw.threads": 1})

    cell = build_cell(dict(job.cell, reps=numerics["reps"], scan_area=numerics.get("scan_area", "cell")))
    atoms = cell.atoms
    scale = numerics.get("sigma_scale", 1.0)
    present = set(atoms.get_chemical_symbols())
    sigmas = {s: numerics.get("sigma_all", SIGMAS[s]) * scale for s in present}
    n_cfg = numerics["configs"]
    seeds = [numerics["seed"] + i for i in range(n_cfg)]
    fp = abtem.FrozenPhonons(atoms, num_configs=n_cfg, sigmas=sigmas, seed=seeds)
    pot = abtem.Potential(fp, sampling=numerics["pot_sampling"], slice_thickness=numerics["slice"],
                          projection=numerics.get("projection", "infinite"), parametrization="lobato")
    probe = abtem.Probe(energy=job.kv * 1e3, semiangle_cutoff=job.conv, defocus=job.defocus, Cs=job.c3)
    probe.grid.match(pot)
    Lx, Ly = cell.unit
    gx, gy = int(math.ceil(Lx / numerics["scan"] - 1e-9)), int(math.ceil(Ly / numerics["scan"] - 1e-9))
    scan = abtem.GridScan(start=(0.0, 0.0), end=(Lx, Ly), gpts=(gx, gy), endpoint=False)
    det = abtem.FlexibleAnnularDetector(step_size=1.0)
    t0 = time.time()
    meas = probe.scan(pot, scan=scan, detectors=det).compute()
    wall = time.time() - t0
    arr = np.asarray(meas.array)          # (gx, gy, n_bins, 1), 1 mrad rings from 0
    rings = arr.reshape(gx, gy, arr.shape[2], -1).sum(-1).astype(np.float64)
    info = dict(gpts=list(pot.gpts), num_slices=int(pot.num_slices), n_atoms=len(atoms),
                scan_gpts=[gx, gy], seeds=seeds, sigmas=sigmas, wall_s=round(wall, 1),
                max_angle_mrad=float(min(probe.cutoff_angles)), unit=[Lx, Ly])
    return cell, rings, info


def fourier_interpolate(img: np.ndarray, shape: tuple) -> np.ndarray:
    """Band-limited (periodic) interpolation of img onto a finer grid of the same period."""
    nx, ny = img.shape
    Nx, Ny = shape
    F = np.fft.fft2(img)
    G = np.zeros((Nx, Ny), complex)
    hx, hy = nx // 2, ny // 2
    # copy low frequencies; the Nyquist row/col (even n) is split symmetrically
    ix = np.r_[0:hx + (nx % 2), Nx - hx:Nx]
    iy = np.r_[0:hy + (ny % 2), Ny - hy:Ny]
    sx = np.r_[0:hx + (nx % 2), nx - hx:nx]
    sy = np.r_[0:hy + (ny % 2), ny - hy:ny]
    G[np.ix_(ix, iy)] = F[np.ix_(sx, sy)]
    return np.real(np.fft.ifft2(G)) * (Nx * Ny) / (nx * ny)


def measure_sites(img: np.ndarray, unit: tuple, sites: list):
    """Site values, disk integrals, peaks, FWHM and radial profiles from one image."""
    Lx, Ly = unit
    Nx, Ny = int(round(Lx / FINE_SAMPLING)), int(round(Ly / FINE_SAMPLING))
    fine = fourier_interpolate(img, (Nx, Ny))
    dx, dy = Lx / Nx, Ly / Ny
    F = np.fft.fft2(img)
    kx = np.fft.fftfreq(img.shape[0], Lx / img.shape[0])
    ky = np.fft.fftfreq(img.shape[1], Ly / img.shape[1])
    if img.shape[0] % 2 == 0:
        F[img.shape[0] // 2, :] = 0  # drop the unpaired Nyquist terms for point evaluation
    if img.shape[1] % 2 == 0:
        F[:, img.shape[1] // 2] = 0

    def at(x, y):
        ph = np.exp(2j * np.pi * (kx[:, None] * x + ky[None, :] * y))
        return float(np.real((F * ph).sum()) / img.size)

    rmax = PROFILE_R[-1] + 0.05
    wx, wy = int(math.ceil(rmax / dx)) + 1, int(math.ceil(rmax / dy)) + 1
    r_edges = np.arange(0, rmax + 1e-9, 0.01)
    out = []
    gmin = float(fine.min())
    for st in sites:
        vals, disks, peaks, prof_acc = [], [], [], np.zeros(len(r_edges) - 1)
        cnt_acc = np.zeros(len(r_edges) - 1)
        for (x0, y0) in st.xy:
            cx, cy = int(round(x0 / dx)), int(round(y0 / dy))
            ii = np.arange(cx - wx, cx + wx + 1)
            jj = np.arange(cy - wy, cy + wy + 1)
            X = ii[:, None] * dx - x0
            Y = jj[None, :] * dy - y0
            R = np.hypot(X, Y)
            win = fine[np.ix_(ii % Nx, jj % Ny)]
            vals.append(at(x0, y0))
            disks.append(float(win[R <= DISK_RADIUS].sum() * dx * dy))
            peaks.append(float(win[R <= 0.5].max()))
            idx = np.digitize(R.ravel(), r_edges) - 1
            ok = (idx >= 0) & (idx < len(r_edges) - 1)
            prof_acc += np.bincount(idx[ok], win.ravel()[ok], minlength=len(r_edges) - 1)
            cnt_acc += np.bincount(idx[ok], minlength=len(r_edges) - 1)
        prof = prof_acc / np.maximum(cnt_acc, 1)
        rc = 0.5 * (r_edges[1:] + r_edges[:-1])
        fwhm = _half_width(rc, prof, 0.0)
        fwhm_bg = _half_width(rc, prof, gmin)
        coarse = np.interp(PROFILE_R, rc, prof)
        out.append(dict(tag=st.tag, kind=st.kind, n=len(st.xy),
                         value=float(np.mean(vals)), peak=float(np.mean(peaks)),
                         disk=float(np.mean(disks)), disk_sd=float(np.std(disks)),
                         fwhm=fwhm, fwhm_bg=fwhm_bg, profile=coarse))
    return out, float(fine.mean()), gmin, float(fine.max())


def _half_width(r, p, base):
    """Full width at half maximum of a radial profile above a baseline; NaN if it never drops."""
    half = base + 0.5 * (p[0] - base)
    below = np.where(p < half)[0]
    if p[0] <= base or len(below) == 0:
        return float("nan")
    k = below[0]
    if k == 0:
        return float("nan")
    r_half = r[k - 1] + (half - p[k - 1]) * (r[k] - r[k - 1]) / (p[k] - p[k - 1])
    return float(2 * r_half)


# ---------------------------------------------------------------------------
SITE_FIELDS = ["run_id", "polymorph", "material", "kv", "conv_mrad", "defocus_A", "c3_A",
               "configs", "pot_sampling_A", "slice_A", "scan_sampling_A", "reps", "wall_s",
               "inner_mrad", "outer_mrad", "tag", "kind", "n_sites",
               "value", "peak", "disk", "disk_sd", "fwhm_A", "fwhm_bg_A", "unit_mean", "unit_min", "unit_max"]


def _fmt(v):
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def write_atomic(path: Path, text: str):
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run_job(job: Job, out_dir: Path, raw_dir: Path | None, log):
    num = full_numerics(job)
    cell, rings, info = simulate(job, num)
    if raw_dir is not None:
        raw_dir.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(raw_dir / f"{job.run_id}.npz", rings=rings.astype(np.float32),
                            info=json.dumps(info, default=str))
    write_tables(job, num, cell, rings, info, out_dir)
    log(f"done {job.run_id} wall {info['wall_s']} s gpts {info['gpts']} slices {info['num_slices']} "
        f"atoms {info['n_atoms']} scan {info['scan_gpts']} max angle {info['max_angle_mrad']:.0f} mrad")


def remeasure(job: Job, out_dir: Path, raw_dir: Path, log) -> bool:
    """Rewrite a run's tables from its kept ring-binned signal (new detector ranges without
    a new multislice run). False when the raw file is absent."""
    path = raw_dir / f"{job.run_id}.npz"
    if not path.exists():
        log(f"no raw signal for {job.run_id}; kept as it is")
        return False
    raw = np.load(path)
    info = json.loads(str(raw["info"]))
    sites = out_dir / f"{job.run_id}.sites.csv"
    before = sites.read_text()
    keep = {k: sites.with_name(sites.name.replace(".sites.", k)).read_text() for k in (".sites.", ".profiles.")}
    write_tables(job, full_numerics(job), build_cell(job.cell), raw["rings"].astype(np.float64), info, out_dir)
    # The ranges measured before must come out as they were (the raw rings are float32): a run
    # whose cell or scan the current code no longer rebuilds keeps its old tables.
    old = {(r["inner_mrad"], r["outer_mrad"], r["tag"]): float(r["disk"]) for r in csv.DictReader(io.StringIO(before))}
    new = {(r["inner_mrad"], r["outer_mrad"], r["tag"]): float(r["disk"]) for r in csv.DictReader(io.StringIO(sites.read_text()))}
    if any(k not in new or abs(new[k] - v) > 1e-4 * abs(v) + 1e-9 for k, v in old.items()):
        for k, text in keep.items():
            write_atomic(sites.with_name(sites.name.replace(".sites.", k)), text)
        log(f"{job.run_id}: its raw signal does not reproduce its tables; kept as they were")
        return False
    log(f"remeasured {job.run_id}")
    return True


def write_tables(job: Job, num: dict, cell: Cell, rings: np.ndarray, info: dict, out_dir: Path):
    """The run's `.sites.csv` and `.profiles.csv` from its ring-binned signal."""
    nb = rings.shape[2]
    meta = dict(run_id=job.run_id, polymorph=job.cell["polymorph"], material=job.cell["material"],
                kv=job.kv, conv_mrad=job.conv, defocus_A=job.defocus, c3_A=job.c3,
                configs=num["configs"], pot_sampling_A=num["pot_sampling"], slice_A=num["slice"],
                scan_sampling_A=num["scan"], reps="x".join(map(str, num["reps"])), wall_s=info["wall_s"])
    if job.cell.get("defects") or job.cell.get("carbon"):
        meta["polymorph"] = job.cell_name.split("_", 1)[0] + "".join(
            "+" + d[0] for d in job.cell.get("defects") or []) + (
            f"+C{job.cell['carbon']:g}A" if job.cell.get("carbon") else "")
    srows, prows = [], []
    for (lo, hi) in DETECTOR_RANGES:
        if hi > info["max_angle_mrad"] + 1e-6 or hi > nb or lo < job.conv + MEASURE_MARGIN_MRAD:
            continue
        img = rings[:, :, lo:hi].sum(-1)
        res, umean, umin, umax = measure_sites(img, cell.unit, cell.sites)
        for r in res:
            srows.append(dict(meta, inner_mrad=lo, outer_mrad=hi, tag=r["tag"], kind=r["kind"],
                              n_sites=r["n"], value=r["value"], peak=r["peak"], disk=r["disk"],
                              disk_sd=r["disk_sd"], fwhm_A=r["fwhm"], fwhm_bg_A=r["fwhm_bg"],
                              unit_mean=umean, unit_min=umin, unit_max=umax))
            if (lo, hi) in PROFILE_RANGES:
                prows.append([job.run_id, lo, hi, r["tag"]] + [f"{v:.6g}" for v in r["profile"]])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["run_id", "inner_mrad", "outer_mrad", "tag"] + [f"r{r:.1f}" for r in PROFILE_R])
    w.writerows(prows)
    write_atomic(out_dir / f"{job.run_id}.profiles.csv", buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SITE_FIELDS)
    for r in srows:
        w.writerow([_fmt(r[k]) for k in SITE_FIELDS])
    write_atomic(out_dir / f"{job.run_id}.sites.csv", buf.getvalue())


def job_dir(job: Job) -> Path:
    return OUT_DIR / ("runs" if job.group == "library" else "convergence")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print the queue with done/todo and exit")
    ap.add_argument("--only", action="append", default=[], help="run ids containing this string")
    ap.add_argument("--max-runs", type=int, default=0, help="stop after this many runs (0 = all)")
    ap.add_argument("--raw-dir", default="/work/physics-logs/raw",
                    help="where to keep the ring-binned raw signal (outside the repository); '' = none")
    ap.add_argument("--remeasure", action="store_true",
                    help="rewrite the tables of finished runs from their raw signal (new detector ranges)")
    ap.add_argument("--lock", default="/work/physics-logs/library.lock", help="lock file of the runner")
    args = ap.parse_args(argv)

    def log(msg):
        print(time.strftime("%Y-%m-%d %H:%M:%S"), msg, flush=True)

    # one runner at a time: a second instance would redo the same run
    import fcntl
    lock_path = Path(args.lock)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(lock_path, "w")
    if not args.list:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log(f"another library.py holds {lock_path}; exiting")
            return 1

    queue = make_queue()
    if args.only:
        queue = [j for j in queue if any(s in j.run_id for s in args.only)]
    if args.list:
        for i, j in enumerate(queue):
            done = (job_dir(j) / f"{j.run_id}.sites.csv").exists()
            print(f"{i:3d} {'done' if done else 'todo'} {j.group:11s} {j.run_id} {full_numerics(j)}")
        return 0
    n = 0
    raw = Path(args.raw_dir) if args.raw_dir else None
    if args.remeasure:
        done = [j for j in queue if (job_dir(j) / f"{j.run_id}.sites.csv").exists()]
        missing = sum(not remeasure(j, job_dir(j), raw, log) for j in done)
        log(f"remeasured {len(done) - missing} of {len(done)} runs")
        return 1 if missing else 0
    for j in queue:
        d = job_dir(j)
        d.mkdir(parents=True, exist_ok=True)
        if (d / f"{j.run_id}.sites.csv").exists():
            continue
        log(f"start {j.run_id} {full_numerics(j)}")
        try:
            run_job(j, d, raw, log)
        except Exception as e:  # keep going with the rest of the queue
            log(f"FAILED {j.run_id}: {type(e).__name__}: {e}")
            continue
        n += 1
        if args.max_runs and n >= args.max_runs:
            break
    log("queue finished" if not args.max_runs or n < args.max_runs else f"stopped after {n} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
