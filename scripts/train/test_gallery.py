"""Checks of gallery.py's tile builder on synthetic images: no binary, no shared data."""

import struct
import zlib

import numpy as np

import gallery


def hexagonal(n, pixel_size, a=3.28, sigma=0.45, noise=0.05, seed=0):
    """Gaussian columns on a hexagonal lattice of constant `a` (A), `n` px at `pixel_size`."""
    y, x = np.mgrid[0:n, 0:n] * pixel_size
    img = np.zeros((n, n))
    extent = n * pixel_size
    for i in range(-2, int(extent / a) + 3):
        for j in range(-2, int(extent / (a * 0.866)) + 3):
            cx, cy = i * a + (j * a / 2) % a, j * a * np.sqrt(3) / 2
            img += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2))
    return img + noise * np.random.default_rng(seed).standard_normal(img.shape)


def test_mosaic_shape_transforms_and_absent_real_column(tmp_path):
    tile = 48
    sim = hexagonal(64, 0.2)
    rows = gallery.build_rows(sim, tmp_path / "no-such-dir", None, tile=tile, seed=0)
    n_transforms = sum(callable(fn) for _, _, fn, _ in gallery.conditions())
    assert len(rows) == n_transforms  # no second simulations: their rows are left out
    m = gallery.mosaic(rows, tile)
    assert m.dtype == np.uint8
    assert m.shape == (gallery.HEADER + len(rows) * (gallery.BAND + tile + gallery.GAP), 3 * tile + 4 * gallery.GAP)
    for k, row in enumerate(rows):
        assert row["simulated"].shape == row["transformed"].shape == (tile, tile)
        assert not np.allclose(row["transformed"], row["simulated"], atol=1e-6), row["condition"]
        assert row["real"] is None and row["real_label"].startswith("absent") or row["real_label"] == "no real example"
        y, x = gallery.row_top(k, tile), gallery.col_left(2, tile)
        assert np.all(m[y:y + tile, x:x + tile] == gallery.BLANK)
        # The simulated and transformed tiles hold an image, not the blank.
        assert m[y:y + tile, gallery.col_left(0, tile):gallery.col_left(0, tile) + tile].std() > 10


def test_simulated_rows_appear_with_their_second_simulations():
    sim = hexagonal(56, 0.2)
    rows = gallery.build_rows(sim, None, {"carbon": hexagonal(56, 0.2, noise=0.5, seed=1)}, tile=40)
    assert rows[-1]["condition"] == "low dose + carbon"
    assert rows[-1]["real"] is None and rows[-1]["real_label"].startswith("absent")
    assert "low-angle ADF" not in [r["condition"] for r in rows]
    rows = gallery.build_rows(sim, None, {"low-angle": hexagonal(56, 0.2, seed=2)}, tile=40)
    assert rows[-1]["condition"] == "low-angle ADF"
    assert rows[-1]["real_label"].startswith("absent (wse2_ti_doped_adf2_2.dm4")


def test_resampling_keeps_the_lattice_scale():
    # A 0.1 A/px image brought to 0.2 A/px (shrinking) and a 0.4 A/px one (enlarging)
    # both show a = 3.28 A on the canonical grid.
    for px, n in ((0.1, 200), (0.4, 64)):
        img = gallery.to_canonical(hexagonal(n, px, sigma=0.6), px)
        assert abs(img.shape[0] - n * px / 0.2) <= 1
        assert abs(gallery.lattice_constant(img) - 3.28) < 0.08, px
    w = gallery.resample_matrix(50, 0.4)
    assert np.allclose(w.sum(1), 1.0)


def test_plain_png_decodes(tmp_path):
    g = (np.arange(12 * 7) % 256).astype(np.uint8).reshape(7, 12)
    gallery.write_png_plain(tmp_path / "x.png", g)
    b = (tmp_path / "x.png").read_bytes()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", b[16:24])
    assert (w, h) == (12, 7)
    n = struct.unpack(">I", b[33:37])[0]
    raw = zlib.decompress(b[41:41 + n])
    assert np.array_equal(np.frombuffer(raw, np.uint8).reshape(7, 13)[:, 1:], g)
