"""Acquisition and processing conditions of real microscope images, applied to simulated
training images on the fly.

The simulator renders an ideal scan at 0.16-0.24 A/px. Real frames reach the engine in
other states, and each transform here turns a simulated image into one of them while its
labels stay valid (column positions do not move; only the pixel values change):

- `coarse_scan`: a survey frame scanned at 0.25-0.45 A/px (0.4 A/px is common), which the
  engine up-samples to its 0.2 A/px grid with Lanczos-3: columns come out soft and blocky.
- `gaussian_filter`, `median_filter`, `wiener_filter`: the smoothing users apply before
  saving.
- `bragg_filter`: a Fourier mask around the lattice's strong reflections ("FFT-filtered"
  images): periodic signal survives, vacancies and carbon speckle fade.
- `quantize_8bit`: an 8-bit export after a contrast stretch that clips both ends.
- `line_gains`: line-wise gain and offset jumps (detector or amplifier instability).
- `flyback`: a band at the start of every line where the probe had not settled.
- `frame_average`: a drift-corrected average of a few frames, each with its own small
  residual shift, which blurs anisotropically and lowers the noise.

`random_acquisition` draws none, one or two of them per sample. Everything is numpy only.
"""

import numpy as np

# Lanczos kernel half-width, as in the engine's resampler (native/src/math/resample.rs).
LANCZOS_A = 3


def lanczos_matrix(n_out, n_in, scale, offset):
    """Weights W (n_out x n_in) such that W @ v samples v (on pixels 0..n_in-1) at
    positions offset + scale * k, k = 0..n_out-1, with a Lanczos-3 kernel (no
    anti-aliasing widening: point sampling, as a scan samples the probe image)."""
    pos = offset + scale * np.arange(n_out, dtype=np.float64)
    base = np.floor(pos).astype(np.int64)
    w = np.zeros((n_out, n_in), np.float64)
    for t in range(-LANCZOS_A + 1, LANCZOS_A + 1):
        idx = base + t
        d = pos - idx
        k = np.sinc(d) * np.sinc(d / LANCZOS_A)
        np.add.at(w, (np.arange(n_out), np.clip(idx, 0, n_in - 1)), k)
    w /= w.sum(axis=1, keepdims=True)
    return w


def coarse_scan(img, factor, rng):
    """The image as a scan with `factor` times coarser pixels (random scan origin), brought
    back to the original grid with Lanczos-3 as the engine does."""
    h, w = img.shape
    ph, pw = rng.uniform(0, factor, 2)
    nh, nw = int((h - 1 - ph) // factor) + 1, int((w - 1 - pw) // factor) + 1
    coarse = lanczos_matrix(nh, h, factor, ph) @ img.astype(np.float64) @ lanczos_matrix(nw, w, factor, pw).T
    # Original pixel i sits at coarse coordinate (i - origin) / factor; the coarse frame
    # is extended by its edge value where the original grid runs past it.
    back_h = lanczos_matrix(h, nh, 1.0 / factor, -ph / factor)
    back_w = lanczos_matrix(w, nw, 1.0 / factor, -pw / factor)
    return (back_h @ coarse @ back_w.T).astype(np.float32)


def _frequencies(shape):
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    return fy, fx


def gaussian_filter(img, sigma_px):
    fy, fx = _frequencies(img.shape)
    g = np.exp(-2.0 * (np.pi * sigma_px) ** 2 * (fx * fx + fy * fy))
    return np.real(np.fft.ifft2(np.fft.fft2(img) * g)).astype(np.float32)


def median_filter(img, radius=1):
    """Median over a (2r+1)^2 window, edges replicated."""
    r = int(radius)
    p = np.pad(img, r, mode="edge")
    h, w = img.shape
    stack = [p[dy:dy + h, dx:dx + w] for dy in range(2 * r + 1) for dx in range(2 * r + 1)]
    return np.median(np.stack(stack), axis=0).astype(np.float32)


def wiener_filter(img, strength):
    """Fourier Wiener filter with the noise power read from the highest frequencies
    (beyond 0.4 cycles/px, where a 0.2 A/px lattice image holds only noise)."""
    f = np.fft.fft2(img)
    p = np.abs(f) ** 2
    fy, fx = _frequencies(img.shape)
    high = np.hypot(fx, fy) > 0.4
    noise = float(np.mean(p[high])) if high.any() else 0.0
    gain = p / (p + strength * noise + 1e-30)
    return np.real(np.fft.ifft2(f * gain)).astype(np.float32)


def bragg_filter(img, keep_fraction, radius_px):
    """Keeps the Fourier components near the strongest reflections (the top
    `keep_fraction` of magnitudes, each widened to a disk of `radius_px` frequency
    pixels) plus the low frequencies inside the first reflection ring."""
    f = np.fft.fft2(img)
    mag = np.abs(f)
    thr = np.quantile(mag, 1.0 - keep_fraction)
    mask = (mag >= thr).astype(np.float64)
    fy, fx = _frequencies(img.shape)
    h, w = img.shape
    d2 = (fy * h) ** 2 + (fx * w) ** 2
    disk = np.fft.fft2((d2 <= radius_px ** 2).astype(np.float64))
    mask = np.real(np.fft.ifft2(np.fft.fft2(mask) * disk)) > 0.5
    mask |= np.hypot(fx, fy) < 0.03
    return np.real(np.fft.ifft2(f * mask)).astype(np.float32)


def quantize_8bit(img, low_pct, high_pct):
    lo, hi = np.percentile(img, [low_pct, high_pct])
    x = np.clip((img - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    return (np.round(x * 255.0) / 255.0).astype(np.float32)


def line_gains(img, rng, jumps, size):
    """Rows after each of `jumps` random lines change gain by up to +-`size` and offset by
    up to +-`size` of the image's spread."""
    h = img.shape[0]
    gain = np.ones(h)
    offset = np.zeros(h)
    spread = float(np.std(img)) + 1e-12
    for row in rng.integers(1, h, size=jumps):
        gain[row:] *= 1.0 + rng.uniform(-size, size)
        offset[row:] += rng.uniform(-size, size) * spread
    return (img * gain[:, None] + offset[:, None]).astype(np.float32)


def flyback(img, rng, width_px, amplitude):
    """The first `width_px` pixels of each line carry an exponentially settling extra
    signal of `amplitude` times the image's spread (either sign)."""
    w = img.shape[1]
    x = np.arange(w)
    profile = np.exp(-x / max(width_px / 3.0, 1e-6)) * (x < width_px)
    a = amplitude * (float(np.std(img)) + 1e-12) * rng.choice([-1.0, 1.0])
    noise = 1.0 + 0.2 * rng.standard_normal(img.shape[0])
    return (img + a * noise[:, None] * profile[None, :]).astype(np.float32)


def shift(img, dy, dx):
    """Sub-pixel shift by Fourier phase (periodic)."""
    fy, fx = _frequencies(img.shape)
    ph = np.exp(-2j * np.pi * (fy * dy + fx * dx))
    return np.real(np.fft.ifft2(np.fft.fft2(img) * ph)).astype(np.float32)


def frame_average(img, rng, frames, residual_px):
    """Mean of `frames` copies of the frame, each shifted by a residual registration error
    of `residual_px` (rms): the blur a drift-corrected average keeps. Made from the one
    simulated frame, so its noise is smoothed by the same blur rather than lowered by
    sqrt(frames) as independent frames would."""
    acc = np.zeros_like(img, dtype=np.float64)
    for _ in range(frames):
        dy, dx = rng.normal(0.0, residual_px, 2)
        acc += shift(img, dy, dx)
    return (acc / frames).astype(np.float32)


def random_acquisition(img, rng, p=0.5):
    """With probability `p`, one or two acquisition/processing transforms with random
    settings; otherwise the image unchanged. Returns (image, names applied)."""
    if rng.random() >= p:
        return img, []
    choices = ["coarse", "gaussian", "median", "wiener", "bragg", "quantize", "lines", "flyback", "average"]
    # The coarse scan is the most common real condition among these (survey frames).
    weights = np.array([3, 1, 1, 1, 1, 1, 1, 1, 1], np.float64)
    n = 1 if rng.random() < 0.7 else 2
    picked = rng.choice(len(choices), size=n, replace=False, p=weights / weights.sum())
    # Scan-time effects first, processing after.
    order = sorted(picked, key=lambda i: (choices[i] not in ("coarse", "lines", "flyback"), i))
    names = []
    for i in order:
        name = choices[i]
        if name == "coarse":
            img = coarse_scan(img, rng.uniform(1.25, 2.25), rng)
        elif name == "gaussian":
            img = gaussian_filter(img, rng.uniform(0.5, 1.5))
        elif name == "median":
            img = median_filter(img, 1)
        elif name == "wiener":
            img = wiener_filter(img, rng.uniform(0.5, 4.0))
        elif name == "bragg":
            img = bragg_filter(img, rng.uniform(0.002, 0.01), rng.uniform(1.5, 4.0))
        elif name == "quantize":
            img = quantize_8bit(img, rng.uniform(0.0, 2.0), rng.uniform(98.0, 100.0))
        elif name == "lines":
            img = line_gains(img, rng, int(rng.integers(1, 5)), rng.uniform(0.02, 0.15))
        elif name == "flyback":
            img = flyback(img, rng, rng.uniform(3, 15), rng.uniform(0.3, 2.0))
        elif name == "average":
            img = frame_average(img, rng, int(rng.integers(2, 9)), rng.uniform(0.1, 0.6))
        names.append(name)
    return img, names
