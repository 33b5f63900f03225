"""Checks of the acquisition transforms against what each condition does to a known image."""

import numpy as np

from acquisition import (bragg_filter, coarse_scan, flyback, frame_average, gaussian_filter, lanczos_matrix,
                         line_gains, median_filter, quantize_8bit, random_acquisition, wiener_filter)


def lattice(n=160, period=7.3, noise=0.0, seed=0):
    """Gaussian columns on a square lattice (period in px), optional white noise."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    img = np.zeros((n, n))
    for cy in np.arange(period / 2, n, period):
        for cx in np.arange(period / 2, n, period):
            img += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 1.2 ** 2))
    rng = np.random.default_rng(seed)
    return (img + noise * rng.standard_normal(img.shape)).astype(np.float32)


def high_power(img, above=0.3):
    f = np.abs(np.fft.fft2(img - img.mean())) ** 2
    fy = np.fft.fftfreq(img.shape[0])[:, None]
    fx = np.fft.fftfreq(img.shape[1])[None, :]
    return float(f[np.hypot(fx, fy) > above].sum())


class FixedPhase:
    """A stand-in generator whose uniform draws return a fixed value."""

    def __init__(self, v):
        self.v = v

    def uniform(self, a, b, n=None):
        return np.full(n, self.v) if n else self.v


def test_lanczos_rows_sum_to_one_and_hit_integers():
    w = lanczos_matrix(10, 40, 3.5, 0.0)
    assert np.allclose(w.sum(1), 1.0)
    # Sample positions 0, 3.5, 7, ...: integer positions take that pixel alone.
    assert np.isclose(w[0, 0], 1.0) and np.isclose(w[2, 7], 1.0)


def test_coarse_scan_keeps_a_band_limited_image_and_softens_a_sharp_one():
    smooth = gaussian_filter(lattice(period=16.0), 2.0)
    back = coarse_scan(smooth, 1.6, FixedPhase(0.4))
    inner = (slice(12, -12), slice(12, -12))
    assert np.abs(back - smooth)[inner].max() < 0.02 * smooth.max()
    sharp = lattice(period=8.0)
    soft = coarse_scan(sharp, 2.2, np.random.default_rng(1))
    # Columns of sigma 1.2 px scanned every 2.2 px: their peaks (at 4 + 8k) come back lower
    # on average, and the fine detail above the coarse Nyquist (0.23 cycles/px) is lost.
    centres = np.arange(4, 160, 8)[2:-2]
    peaks = np.ix_(centres, centres)
    assert soft[peaks].mean() < 0.9 * sharp[peaks].mean()
    assert high_power(soft, 0.25) < 0.5 * high_power(sharp, 0.25)
    assert abs(soft.mean() - sharp.mean()) < 0.05 * sharp.mean()


def test_smoothing_filters_lower_the_noise_and_keep_the_lattice():
    clean = lattice()
    noisy = lattice(noise=0.2)
    for f in (lambda im: gaussian_filter(im, 1.0), median_filter, lambda im: wiener_filter(im, 1.0),
              lambda im: bragg_filter(im, 0.005, 2.0)):
        out = f(noisy)
        assert out.shape == noisy.shape and out.dtype == np.float32
        assert np.std(out - clean) < 0.8 * np.std(noisy - clean)
        assert np.corrcoef(out.ravel(), clean.ravel())[0, 1] > 0.8


def test_quantize_has_at_most_256_levels_and_clips():
    out = quantize_8bit(lattice(noise=0.3), 1.0, 99.0)
    assert len(np.unique(out)) <= 256
    assert out.min() == 0.0 and out.max() == 1.0


def test_line_gains_change_whole_rows_only():
    img = lattice()
    out = line_gains(img, np.random.default_rng(3), 3, 0.1)
    ratio = (out - img)
    # Within a row the change is affine in the original value: gain - 1 and offset per row.
    for r in range(0, 160, 17):
        a, b = np.polyfit(img[r], out[r], 1)
        assert np.allclose(out[r], a * img[r] + b, atol=1e-4)
    assert np.abs(ratio).max() > 0


def test_flyback_touches_only_the_start_of_each_line():
    img = lattice()
    out = flyback(img, np.random.default_rng(4), 10, 1.0)
    assert np.allclose(out[:, 10:], img[:, 10:])
    assert np.abs(out[:, :3] - img[:, :3]).mean() > 0.1 * img.std()


def test_frame_average_blurs():
    img = lattice()
    out = frame_average(img, np.random.default_rng(5), 6, 0.8)
    assert out.max() < img.max()
    assert np.corrcoef(out.ravel(), img.ravel())[0, 1] > 0.8


def test_random_acquisition_is_reproducible_and_finite():
    img = lattice(noise=0.1)
    seen = set()
    for k in range(150):
        a, names_a = random_acquisition(img, np.random.default_rng(k), 0.9)
        b, names_b = random_acquisition(img, np.random.default_rng(k), 0.9)
        assert names_a == names_b and np.array_equal(a, b)
        assert a.shape == img.shape and a.dtype == np.float32 and np.isfinite(a).all()
        seen.update(names_a)
    assert seen == {"coarse", "gaussian", "median", "wiener", "bragg", "quantize", "lines", "flyback", "average"}
    same, none = random_acquisition(img, np.random.default_rng(0), 0.0)
    assert none == [] and same is img
