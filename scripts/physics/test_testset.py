"""Checks of testset.py on the library's raw runs: geometry (truth columns on the maxima of
a noise-free image, read from its pixels), dose scaling and the eval folder format, and the
junction and carbon-patch images (blend weights, truth per side, scoring).
Needs numpy, tifffile and ase (/work/physics-venv); skips without /work/physics-logs/raw.
"""
from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
pytest.importorskip("tifffile")
pytest.importorskip("ase")
import tifffile  # noqa: E402
import library  # noqa: E402
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


# --- junctions and carbon patches ---------------------------------------------------------

PAIRS = {(p.cell, p.first.kv): p for p in testset.pairs()} if testset.RAW_DIR.is_dir() else {}


def _pair(cell, kv=80):
    if (cell, kv) not in PAIRS:
        pytest.skip(f"{cell} at {kv} kV: runs missing")
    p = PAIRS[cell, kv]
    runs = [testset.Run(p.first), testset.Run(p.second)]
    return p, runs


def test_pair_groups_follow_the_naming_scheme():
    names = {c for (c, _) in PAIRS}
    assert {"2H-1L+2H-2L_MoS2", "2H-1L+3R-2L_MoS2"} <= names
    assert {"2H-1L_MoS2_C5A-patch", "2H-1L_MoS2_C10A-patch", "2H-1L_MoS2_C20A-patch"} & names
    for (cell, kv), p in PAIRS.items():
        assert p.first.kv == p.second.kv == kv and p.first.conv == p.second.conv == 23
        assert p.first.cell["material"] == p.second.cell["material"]
        group = testset.group_name(p.first, 66, 192, 1e5, p.cell)
        assert group == f"{cell}_{kv}kV_66-192mrad_1e5"
        # eval_testset.sh reads the chemistry as the second '_' field, testset_table the rest
        assert group.split("_")[1] == "MoS2"
        assert re.match(r"(.+)_(\d+)kV_(\d+-\d+)mrad_(1e\d)$", group)[1] == cell


@pytest.mark.parametrize("second", ["2H-2L", "3R-2L"])
def test_monolayer_continues_as_the_bilayers_entrance_layer(second):
    """The library lists layers in beam order: the bilayer's first layer is the 2H-1L layer, at
    the same height, so at one origin every 2H-1L column continues in the bilayer."""
    assert library.POLYMORPHS[second][0] == library.POLYMORPHS["2H-1L"][0]
    one = library.build_cell(dict(material="MoS2", polymorph="2H-1L")).atoms
    two = library.build_cell(dict(material="MoS2", polymorph=second)).atoms
    first_layer = two.positions[two.positions[:, 2] < one.positions[:, 2].max() + 1e-6]
    key = lambda xyz: sorted(map(tuple, np.round(xyz, 6)))
    assert key(first_layer) == key(one.positions) and np.allclose(one.cell.lengths()[:2], two.cell.lengths()[:2])
    _, runs = _pair(f"2H-1L+{second}_MoS2")
    pos = lambda run: {(round(x, 6), round(y, 6)) for (x, y, *_) in run.columns}
    assert pos(runs[0]) <= pos(runs[1])


def _junction_geometry(run, seed):
    rng = np.random.default_rng(seed)
    g = testset.Geometry(120, 0.2, rng.uniform(0, 360), (rng.uniform(0, 9), rng.uniform(0, 10)))
    b = testset.Boundary((12 + rng.uniform(-3, 3), 12 + rng.uniform(-3, 3)), rng.uniform(0, 2 * math.pi))
    return g, b, testset.lattice_sites(run, g)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_junction_weight_is_0_or_1_away_from_the_boundary(seed):
    _, runs = _pair("2H-1L+3R-2L_MoS2")
    g, b, sites = _junction_geometry(runs[0], seed)
    r, c = np.mgrid[0:g.size, 0:g.size]
    w = testset.junction_weight(g, b, sites, c, r)
    s = b.signed(g, c, r)
    assert ((w >= 0) & (w <= 1)).all()
    far = np.abs(s) >= testset.JUNCTION_CUTOFF
    assert (w[far] == (s[far] > 0)).all()
    assert ((w > 0) & (w < 1)).any()
    # near the line, within 2 A: neither everywhere one side nor a straight cut
    near = np.abs(s) < 2
    assert (w[near & (s < 0)] > 0.5).any() or (w[near & (s > 0)] < 0.5).any()
    # on every site (columns and hollows) the weight is its side's, and flat
    sx, sy = sites
    inside = (sx > 2) & (sy > 2) & (sx < g.size - 3) & (sy < g.size - 3)
    sx, sy = sx[inside], sy[inside]
    side = b.signed(g, sx, sy) > 0
    ws = testset.junction_weight(g, b, sites, sx, sy)
    assert np.abs(ws - side).max() < 0.02
    h = 0.1 / g.px
    grad = np.hypot(testset.junction_weight(g, b, sites, sx + h, sy) - testset.junction_weight(g, b, sites, sx - h, sy),
                    testset.junction_weight(g, b, sites, sx, sy + h) - testset.junction_weight(g, b, sites, sx, sy - h)) / 0.2
    assert grad.max() < 0.3, grad.max()  # per A; across the ramp it reaches several per A


@pytest.mark.parametrize("cell,kv", [("2H-1L+2H-2L_MoS2", 80), ("2H-1L+3R-2L_MoS2", 80), ("2H-1L+2H-2L_MoS2", 60)])
def test_junction_image_and_truth(cell, kv):
    pair, runs = _pair(cell, kv)
    Fs = [r.coefficients(40, 160) for r in runs]
    sc = testset.pair_scene(pair, runs, Fs, np.random.default_rng(11), size=128)
    g, w, clean, poly, cols = sc["g"], sc["w"], sc["clean"], sc["poly"], sc["cols"]
    b = testset.Boundary(sc["params"]["boundary"]["point_angstrom"], sc["params"]["boundary"]["normal_angle_rad"])
    # far from the boundary the image is each run's own image on the same grid
    one, two = (testset.render(r, F, g) for r, F in zip(runs, Fs))
    assert (w == 0).mean() > 0.2 and (w == 1).mean() > 0.2
    assert np.array_equal(clean[w == 0], one[w == 0]) and np.array_equal(clean[w == 1], two[w == 1])
    # the polymorph map is each side's class, the boundary within about 1 A of the line
    r, c = np.mgrid[0:g.size, 0:g.size]
    s = b.signed(g, c, r).reshape(g.size, g.size)
    k1, k2 = testset.CLASSES.index("2H-1L"), testset.CLASSES.index(runs[1].polymorph)
    assert set(np.unique(poly)) == {k1, k2}
    assert (poly[s < -1.2] == k1).all() and (poly[s > 1.2] == k2).all()
    assert (poly == np.where(w >= 0.5, k2, k1)).all()
    # the truth columns: each side's run, as many as the image shows on each side
    layers = {"2H-1L": 1, runs[1].polymorph: 2}
    cs = b.signed(g, [q["x"] for q in cols], [q["y"] for q in cols])
    for q, sq in zip(cols, cs):
        assert q["polymorph"] == ("2H-1L" if sq <= 0 else runs[1].polymorph)
        assert q["layers"] == layers[q["polymorph"]] and q["site"] in CONTENTS[q["polymorph"]]
        # the image at the column is its own run's
        assert abs(testset.junction_weight(g, b, testset.lattice_sites(runs[0], g), [q["x"]], [q["y"]])[0] - (sq > 0)) < 0.02
    c1, _ = testset.truth_points(runs[0], g)
    c2, _ = testset.truth_points(runs[1], g)
    n1 = (b.signed(g, [q["x"] for q in c1], [q["y"] for q in c1]) <= 0).sum()
    n2 = (b.signed(g, [q["x"] for q in c2], [q["y"] for q in c2]) > 0).sum()
    assert len(cols) == n1 + n2 and n1 > 20 and n2 > 20
    assert sc["off"].max() < testset.PEAK_TOLERANCE
    # the boundary runs through the middle
    assert np.hypot(*(np.asarray(b.point) - (g.size - 1) / 2 * g.px)) <= testset.BOUNDARY_OFFSET + 1e-9


@pytest.mark.parametrize("thickness", [5, 10, 20])
def test_carbon_patch_image_and_truth(thickness):
    pair, runs = _pair(f"2H-1L_MoS2_C{thickness}A-patch")
    Fs = [r.coefficients(66, 192) for r in runs]
    sc = testset.pair_scene(pair, runs, Fs, np.random.default_rng(thickness), size=160)
    g, w, clean, carbon, poly = sc["g"], sc["w"], sc["clean"], sc["carbon"], sc["poly"]
    assert (w == 1).any() and (w == 0).mean() > 0.5
    assert (carbon[w == 0] == 0).all() and np.allclose(carbon[w == 1], thickness)
    assert (carbon[w > 0] > 0).all() and carbon.max() <= thickness
    assert (poly == testset.CLASSES.index("2H-1L")).all()
    one, two = (testset.render(r, F, g) for r, F in zip(runs, Fs))
    assert np.array_equal(clean[w == 0], one[w == 0]) and np.array_equal(clean[w == 1], two[w == 1])
    # carbon adds signal: the covered image is brighter on average
    assert two.mean() > one.mean()
    # each patch 10-20 A across on average, inside the image
    d = sc["extra"]["patch_diameters_angstrom"]
    assert 1 <= len(d) <= 2 and all(10 <= x <= 20 for x in d)
    assert sc["params"]["carbon"]["max_thickness_angstrom"] == thickness
    # the columns are the clean cell's, on image maxima outside the patches (under them the
    # carbon may move a maximum a little: recorded)
    ref, _ = testset.truth_points(runs[0], g)
    assert sc["cols"] == ref
    xs, ys = np.array([q["x"] for q in ref]), np.array([q["y"] for q in ref])
    under = sc["weight"](xs, ys) > 0
    assert under.sum() > 10 and sc["off"][~under].max() < testset.PEAK_TOLERANCE
    assert sc["extra"]["max_peak_offset_under_carbon_angstrom"] == sc["off"][under].max() < 0.2


def test_patch_weight_ramp():
    g = testset.Geometry(100, 0.2, 0.0, (0.0, 0.0))
    patch = (10.0, 10.0, 6.0, [])
    x = np.linspace(0, 99, 1000)
    w = testset.patch_weight(g, [patch], x, np.full(x.size, 50.0))
    rho = np.abs(x * 0.2 - 10.0)
    assert (w[rho <= 6 - testset.PATCH_RAMP / 2] == 1).all() and (w[rho >= 6 + testset.PATCH_RAMP / 2] == 0).all()
    assert np.all(np.diff(w[x * 0.2 > 10]) <= 0) and abs(np.interp(6.0, rho[x * 0.2 > 10], w[x * 0.2 > 10]) - 0.5) < 0.01


@pytest.mark.parametrize("cell", ["2H-1L+3R-2L_MoS2", "2H-1L_MoS2_C10A-patch"])
def test_pair_folder_format_and_scores(cell, tmp_path):
    pair, runs = _pair(cell)
    Fs = [r.coefficients(40, 160) for r in runs]
    group = testset.group_name(pair.first, 40, 160, 1e5, pair.cell)
    folder = tmp_path / "set" / group / "00"
    src = testset.make_pair_folder(pair, runs, Fs, 40, 160, 1e5, folder, seed=5, size=128)
    for name in ("image.tif", "polymorph.tif", "carbon.tif", "truth.json", "source.json"):
        assert (folder / name).is_file(), name
    truth = json.loads((folder / "truth.json").read_text())
    p = truth["params"]
    assert p["polymorph"] == "2H-1L" and p["chemistry"] == "MoS2" and p["dose_e_per_angstrom2"] == 1e5
    img = tifffile.imread(folder / "image.tif")
    poly = tifffile.imread(folder / "polymorph.tif")
    carbon = tifffile.imread(folder / "carbon.tif")
    assert img.shape == poly.shape == carbon.shape == (128, 128) and img.dtype == np.float32
    assert poly.dtype == np.uint8 and carbon.dtype == np.float32
    if pair.kind == "junction":
        assert p["second_polymorph"] == "3R-2L" and p["boundary"]["irregularity_angstrom"] == 0
        assert (carbon == 0).all() and src["second_polymorph"] == "3R-2L"
    else:
        assert p["carbon"]["max_thickness_angstrom"] == 10 and p["second_polymorph"] is None
        assert carbon.max() == 10 and src["carbon_angstrom"] == 10
    again = testset.make_pair_folder(pair, runs, Fs, 40, 160, 1e5, folder, seed=5, size=128)
    assert again == src and np.array_equal(tifffile.imread(folder / "image.tif"), img)
    # scoring: a perfect analysis, then one that calls all 2H-1L and flags everything
    assert testset.link_images(tmp_path / "set", tmp_path / "links") == 1
    assert (tmp_path / "links" / f"{group}__00.tif").resolve() == (folder / "image.tif").resolve()
    ana = tmp_path / "analysis" / f"{group}__00"
    ana.mkdir(parents=True)
    testset.write_tif(ana / "polymorph.tif", poly, 0.2)
    testset.write_tif(ana / "contamination.tif", np.where(carbon >= 3, 1, 0).astype(np.uint8), 0.2)
    rows = testset.score_pairs(tmp_path / "set", tmp_path / "analysis")
    assert len(rows) == 1 and rows[0]["images"] == 1
    r = rows[0]
    if pair.kind == "junction":
        assert r["first_accuracy"] == r["second_accuracy"] == 1 and r["flagged"] == 0 and r["second_flagged"] == 0
        s = testset.score_folder(folder, ana)
        assert s["first"]["pixels"] > 100 and s["second"]["pixels"] > 100
        # the scored pixels lie >= 5 A from the other side
        k2 = testset.CLASSES.index("3R-2L")
        d = testset.distance_outside(poly == k2, src["pixel_size_angstrom"])
        assert s["first"]["pixels"] == int(((poly != k2) & (d >= testset.SCORE_MARGIN)).sum())
    else:
        assert r["free_flagged"] == 0 and r["carbon_flagged"] == 1 and r["polymorph_accuracy"] == 1
        s = testset.score_folder(folder, ana)
        assert s["far_pixels"] > 100 and s["carbon_pixels"] > 100 and s["free_pixels"] > s["far_pixels"]
    testset.write_tif(ana / "polymorph.tif", np.full_like(poly, testset.CLASSES.index("2H-1L")), 0.2)
    testset.write_tif(ana / "contamination.tif", np.full_like(poly, 2), 0.2)
    r = testset.score_pairs(tmp_path / "set", tmp_path / "analysis")[0]
    assert r["flagged"] == 1
    if pair.kind == "junction":
        assert r["first_accuracy"] == 1 and r["second_accuracy"] == 0 and r["second_called"] == {"2H-1L": 1.0}
        assert r["first_flagged"] == r["second_flagged"] == 1
    else:
        assert r["free_flagged"] == 1 and r["far_flagged"] == 1
    assert "| " + group in testset.score_table([r])
