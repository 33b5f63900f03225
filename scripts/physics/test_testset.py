"""Checks of testset.py on the library's raw runs: geometry (truth columns on the maxima of
a noise-free image, read from its pixels), dose scaling and the eval folder format.
Needs numpy, tifffile and ase (/work/physics-venv); skips without /work/physics-logs/raw.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
pytest.importorskip("tifffile")
pytest.importorskip("ase")
import tifffile  # noqa: E402
import testset  # noqa: E402

JOBS = {j.cell_name: j for j in testset.library_runs()} if testset.RAW_DIR.is_dir() else {}
pytestmark = pytest.mark.skipif(not JOBS, reason=f"no library runs in {testset.RAW_DIR}")

# Column contents per polymorph, as native/src/crystal.rs's table writes them.
CONTENTS = {"2H-1L": {"Mo", "S2"}, "2H-2L": {"Mo+S2"}, "2H-3L": {"2Mo+S2", "Mo+2S2"},
            "3R-2L": {"Mo", "Mo+S2", "S2"}, "3R-3L": {"Mo+S2"}, "1T": {"Mo", "S"}}


def _run(cell):
    if cell not in JOBS:
        pytest.skip(f"{cell} not in the raw runs")
    return testset.Run(JOBS[cell])


@pytest.mark.parametrize("cell", ["2H-1L_MoS2", "1T-1L_MoS2", "3R-2L_MoS2", "2H-3L_MoS2", "2H-1L_MoS2_VS1+VS2"])
@pytest.mark.parametrize("detector", testset.DETECTORS)
def test_truth_columns_sit_on_the_image_maxima(cell, detector):
    run = _run(cell)
    F = run.coefficients(*detector)
    # 0.1 A pixels: a parabola through 3 pixels places a peak to ~0.01 A, and half a pixel
    # (a wrong pixel-centre convention) is a 0.05 A shift of every column
    g = testset.Geometry(256, 0.1, 23.0, (1.3, 0.7))
    img = testset.render(run, F, g)
    cols, vacs = testset.truth_points(run, g)
    if "VS" in cell:
        assert {v["type"] for v in vacs} == {"VS1", "VS2"}
    errs = []
    for c in cols:
        x, y = c["x"], c["y"]
        if not (4 <= x <= g.size - 5 and 4 <= y <= g.size - 5):
            continue
        r0, c0 = int(round(y)), int(round(x))
        win = img[r0 - 3:r0 + 4, c0 - 3:c0 + 4]
        dr, dc = np.unravel_index(win.argmax(), win.shape)
        assert 1 <= dr <= 5 and 1 <= dc <= 5, (c, "no maximum within 0.15 A")
        r, k = r0 - 3 + dr, c0 - 3 + dc
        py = r + _vertex(img[r - 1, k], img[r, k], img[r + 1, k])
        px = k + _vertex(img[r, k - 1], img[r, k], img[r, k + 1])
        errs.append(((px - x) * g.px, (py - y) * g.px))
    errs = np.array(errs)
    assert len(errs) > 50
    assert np.hypot(*errs.T).max() < testset.PEAK_TOLERANCE, np.hypot(*errs.T).max()
    assert np.hypot(*errs.mean(0)) < 0.02, errs.mean(0)


@pytest.mark.parametrize("cell", ["2H-1L_MoS2", "1T-1L_MoS2", "3R-2L_MoS2", "2H-3L_MoS2", "2H-1L_MoS2_VS1+VS2"])
def test_brighter_contents_on_brighter_columns(cell):
    """Columns are ordered by metal count, then chalcogen count (e.g. 3R-2L: Mo+S2 > Mo > S2),
    which a column content put on the wrong sublattice would break."""
    run = _run(cell)
    F = run.coefficients(40, 160)
    g = testset.Geometry(160, 0.2, 131.0, (0.2, 1.9))
    cols, _ = testset.truth_points(run, g)
    x, y = np.array([c["x"] for c in cols]), np.array([c["y"] for c in cols])
    v = run.value(F, *g.to_cell(x, y))
    by = {}
    for c, val in zip(cols, v):
        by.setdefault(c["site"], []).append(val)
    order = sorted(by, key=lambda c: (_count(c, "Mo"), _count(c, "S")))
    lo = [min(by[c]) for c in order]
    hi = [max(by[c]) for c in order]
    assert all(h < l for h, l in zip(hi, lo[1:])), dict(zip(order, zip(lo, hi)))


def _count(content, unit):
    """Atoms of the metal ('Mo') or the chalcogen ('S') in a Column name like '2Mo+S2'."""
    n = 0
    for part in content.split("+"):
        digits = part[:len(part) - len(part.lstrip("0123456789"))]
        rest = part[len(digits):]
        k = int(digits or 1)
        if unit == "Mo" and rest == "Mo":
            n += k
        elif unit == "S" and rest.startswith("S"):
            n += k * (2 if rest == "S2" else 1)
    return n


def _vertex(m, z, p):
    """Offset of the vertex of the parabola through (-1, m), (0, z), (1, p)."""
    return 0.5 * (m - p) / (m - 2 * z + p)


def test_vertex():
    f = lambda t: 2.0 - (t - 0.3) ** 2
    assert abs(_vertex(f(-1), f(0), f(1)) - 0.3) < 1e-12


@pytest.mark.parametrize("cell", ["2H-1L_MoS2", "2H-2L_MoS2", "2H-3L_MoS2", "3R-2L_MoS2", "3R-3L_MoS2", "1T-1L_MoS2",
                                  "2H-1L_WSe2"])
def test_column_contents_follow_the_engine(cell):
    run = _run(cell)
    assert {c[2] for c in run.columns} == CONTENTS[run.polymorph]


def test_peak_offsets_agree_with_the_pixel_check():
    run = _run("2H-1L_MoS2")
    F = run.coefficients(40, 160)
    g = testset.Geometry(128, 0.2, 71.0, (0.4, 2.2))
    cols, _ = testset.truth_points(run, g)
    off = testset.peak_offsets(run, F, g, [c["x"] for c in cols], [c["y"] for c in cols])
    assert off.max() < testset.PEAK_TOLERANCE
    # a position 0.4 A off a column is not on a maximum
    off = testset.peak_offsets(run, F, g, [c["x"] + 0.4 / g.px for c in cols[:20]], [c["y"] for c in cols[:20]])
    assert np.isinf(off).all() or off.min() > testset.PEAK_TOLERANCE


def test_series_reproduces_the_scan_samples():
    run = _run("2H-1L_MoS2")
    F = run.coefficients(40, 160)
    nx, ny = run.rings.shape[:2]
    i, j = np.mgrid[0:nx, 0:ny]
    v = run.value(F, i * run.unit[0] / nx, j * run.unit[1] / ny).reshape(nx, ny)
    np.testing.assert_allclose(v, run.rings[:, :, 40:160].sum(-1), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dose", testset.DOSES)
def test_dose_scaling(dose):
    run = _run("2H-1L_MoS2")
    F = run.coefficients(66, 192)
    g = testset.Geometry(128, 0.2, 10.0, (0.0, 0.0))
    clean = testset.render(run, F, g)
    counts = testset.to_counts(clean, dose, g.px, np.random.default_rng(1))
    assert counts.dtype == np.float32 and (counts >= 0).all() and (counts == np.round(counts)).all()
    expected = dose * g.px ** 2 * clean.mean()
    assert abs(counts.mean() - expected) < 4 * math.sqrt(expected / counts.size)
    # a column peak is a few % of the beam: about 0.04 x dose x pixel area counts
    assert 0.01 < clean.max() < 0.2


def test_folder_format(tmp_path):
    run = _run("2H-1L_MoS2_VS1+VS2")
    F = run.coefficients(40, 160)
    folder = tmp_path / "group" / "00"
    src = testset.make_folder(run, F, 40, 160, 1e5, folder, seed=5, size=96)
    for name in ("image.tif", "polymorph.tif", "carbon.tif", "truth.json", "source.json"):
        assert (folder / name).is_file(), name
    with tifffile.TiffFile(folder / "image.tif") as tif:
        page = tif.pages[0]
        img = page.asarray()
        xres = page.tags["XResolution"].value
        assert tif.imagej_metadata["unit"] == "angstrom"
    truth = json.loads((folder / "truth.json").read_text())
    px = truth["pixel_size_angstrom"]
    assert img.shape == (96, 96) and img.dtype == np.float32
    assert abs(xres[1] / xres[0] - px) < 1e-6
    assert testset.PIXEL_RANGE[0] <= px <= testset.PIXEL_RANGE[1]
    poly = tifffile.imread(folder / "polymorph.tif")
    carbon = tifffile.imread(folder / "carbon.tif")
    assert poly.dtype == np.uint8 and (poly == testset.CLASSES.index("2H-1L")).all()
    assert carbon.dtype == np.float32 and (carbon == 0).all()
    assert truth["width"] == truth["height"] == 96 and truth["polymorph_classes"] == testset.CLASSES
    p = truth["params"]
    assert (p["width"], p["height"], p["pixel_size_angstrom"]) == (96, 96, px)
    assert p["polymorph"] == "2H-1L" and p["chemistry"] == "MoS2" and p["dose_e_per_angstrom2"] == 1e5
    assert p["clean"] is False and p["carbon"]["level"] == 0 and p["scan"]["jitter_x_angstrom"] == 0
    assert p["probe"]["energy_kv"] == 80 and p["probe"]["convergence_mrad"] == 23
    keys = {"x", "y", "site", "nominal_site", "polymorph", "sublattice", "layers", "metal"}
    for c in truth["columns"]:
        assert set(c) == keys and -0.5 <= c["x"] < 95.5 and -0.5 <= c["y"] < 95.5
        assert c["site"] in {"Mo", "S2", "S"} and c["layers"] == 1 and c["metal"] == (c["site"] == "Mo")
        assert c["nominal_site"] == ("Mo" if c["metal"] else "S2")
    # params place the engine's lattice (crystal.rs Lattice::site_position) on the truth's sublattices
    a, t = p["lattice_a_angstrom"], math.radians(p["rotation_deg"])
    R = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    A = R @ np.array([[a, a / 2], [0, a * math.sqrt(3) / 2]])  # columns a1, a2
    for c in truth["columns"]:
        f = np.linalg.solve(A, np.array([c["x"], c["y"]]) * px - p["origin_angstrom"])
        f -= {"A": 0, "B": 1 / 3, "C": 2 / 3}[c["sublattice"]]
        assert np.abs(f - np.round(f)).max() < 1e-6, c
    # VS1 leaves an 'S' column at its site, VS2 no column
    sites = {(round(c["x"], 6), round(c["y"], 6)): c["site"] for c in truth["columns"]}
    for v in truth["vacancies"]:
        assert sites.get((round(v["x"], 6), round(v["y"], 6))) == ("S" if v["type"] == "VS1" else None)
    # one VS1 and one VS2 per 4 x 2 cell
    area = (96 * px) ** 2
    cell = run.unit[0] * run.unit[1]
    for kind in ("VS1", "VS2"):
        n = sum(v["type"] == kind for v in truth["vacancies"])
        assert abs(n - area / cell) <= 3, (kind, n, area / cell)
    assert src["n_vs1"] + src["n_vs2"] == len(truth["vacancies"])
    # the same folder again is the same bytes
    again = testset.make_folder(run, F, 40, 160, 1e5, tmp_path / "group" / "00", seed=5, size=96)
    assert again == src and np.array_equal(tifffile.imread(folder / "image.tif"), img)
