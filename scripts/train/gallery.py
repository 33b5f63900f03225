"""Gallery of the acquisition conditions in `acquisition.py`: one row per condition with
[simulated | transformed | real crop], so a microscopist can judge whether each transform
looks like the real images that show that condition.

    /work/physics-venv/bin/python scripts/train/gallery.py --out /tmp/gallery
    # or: --sim DIR (a `stemsight simulate` folder) instead of running the binary

Writes OUT/gallery.png and OUT/gallery.md (condition, transform settings, real file, crop
box, measured lattice constants). Interpreter: the physics venv
(/work/physics-venv/bin/python: numpy, tifffile, pillow). The training venv lacks
tifffile and pillow; the tile builder needs numpy alone, and without pillow the PNG is
written with zlib and carries no text (gallery.md then lists the rows in order).

Every tile is 40 A x 40 A at the engine's 0.2 A/px, so the lattice has the same scale in
every column. Real images are resampled to 0.2 A/px as the engine does (Lanczos-3 pixel
centres mapped exactly; `acquisition.lanczos_matrix` when enlarging, the kernel widened
by 1/f as anti-alias when shrinking). Their pixel sizes come from the file where it is
right, else from their own lattice (table REAL_FILES; ../shared/data/README.md).

The real images may not enter the repository (licence): the default output lies outside
it, and without the real-data folder (--real, default REPO/../shared/data/real) the real
column is a blank tile marked "absent".
"""

import argparse
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import acquisition as acq  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CANONICAL = 0.2  # A/px, the engine's model grid
TILE = 200  # px: 40 A at 0.2 A/px
GAP = 4
BAND = 30  # label band above each row (two text lines)
HEADER = 18
BLANK = 48  # grey level of an empty real tile

# Real images (../shared/data/real/): pixel size used, where it comes from, crop centre as
# fractions of the frame (x, y), and a note for the table.
REAL_FILES = {
    "wse2_ti_doped_adf1_2.dm4": (0.383, "its own lattice (the file says 0.3988)", (0.5, 0.5),
                                 "JEOL 80 kV survey-like scan at ~0.4 A/px, WSe2:Ti"),
    "wse2_ti_doped_adf2_2.dm4": (0.383, "its own lattice (the file says 0.3988)", (0.5, 0.5),
                                 "the same JEOL scan's low-angle detector: Se2 brighter than W"),
    "wse2_cr_doped_9.tif": (0.26, "its own lattice (no calibration in the file)", (0.5, 0.5),
                            "WSe2:Cr at ~0.26 A/px, normalized 0-1 by the authors"),
    "fully_converted_images_superscan__haadf__14_corrected.tif": (
        0.078, "the file", (0.5, 0.5),
        "Nion 100 kV WSe2, 8-bit export after ImageJ background subtraction (0.078 A/px: the "
        "8-bit steps average out in the 2.6x down-sampling; the clipped black floor stays)"),
    "ws2_monolayer_contaminated.tif": (0.1062, "the file", (0.22, 0.62),
                                       "WS2 (a = 3.15 A, 4 % below WSe2) at 60 kV, amorphous-carbon patches"),
}


# Rows that are simulator conditions rather than acquisition.py transforms: their
# 'transformed' image is a second simulation of the same scene with these extra arguments.
SIMULATED = {
    "low-angle": ("--low-angle-adf",),
    "carbon": ("--dose", "3e4", "--carbon", "0.6"),
}


def conditions():
    """(name, settings text, transform(img, rng) or a SIMULATED key, real file or None)."""
    return [
        ("coarse scan 0.40 A/px", "coarse_scan(factor=2.0): 0.4 A/px scan, Lanczos-3 back to 0.2",
         lambda x, r: acq.coarse_scan(x, 2.0, r), "wse2_ti_doped_adf1_2.dm4"),
        ("coarse scan 0.26 A/px", "coarse_scan(factor=1.3): 0.26 A/px scan, Lanczos-3 back to 0.2",
         lambda x, r: acq.coarse_scan(x, 1.3, r), "wse2_cr_doped_9.tif"),
        ("gaussian filter", "gaussian_filter(sigma_px=1.0)", lambda x, r: acq.gaussian_filter(x, 1.0), None),
        ("median filter", "median_filter(radius=1): 3x3", lambda x, r: acq.median_filter(x, 1), None),
        ("wiener filter", "wiener_filter(strength=2.0)", lambda x, r: acq.wiener_filter(x, 2.0), None),
        ("bragg (FFT) filter", "bragg_filter(keep_fraction=0.005, radius_px=2.5)",
         lambda x, r: acq.bragg_filter(x, 0.005, 2.5), None),
        ("8-bit export", "quantize_8bit(low_pct=1.0, high_pct=99.5)",
         lambda x, r: acq.quantize_8bit(x, 1.0, 99.5), "fully_converted_images_superscan__haadf__14_corrected.tif"),
        ("line gains", "line_gains(jumps=3, size=0.15): top of the training range",
         lambda x, r: acq.line_gains(x, r, 3, 0.15), None),
        ("flyback", "flyback(width_px=10, amplitude=1.0)", lambda x, r: acq.flyback(x, r, 10, 1.0), None),
        ("frame average", "frame_average(frames=4, residual_px=0.4)",
         lambda x, r: acq.frame_average(x, r, 4, 0.4), None),
        ("low-angle ADF", "simulator, not acquisition.py: --low-angle-adf (inner 25-40 mrad, outer "
         "60-120 mrad; the same scene)", "low-angle", "wse2_ti_doped_adf2_2.dm4"),
        ("low dose + carbon", "simulator, not acquisition.py: --dose 3e4 --carbon 0.6", "carbon",
         "ws2_monolayer_contaminated.tif"),
    ]


# ----------------------------------------------------------------------------- reading

_DM_TYPES = {2: "i2", 3: "i4", 4: "u2", 5: "u4", 6: "f4", 7: "f8", 8: "u1", 9: "i1", 10: "i1", 11: "i8", 12: "u8"}


def read_dm4(path):
    """Minimal DM4 reader: (image, x scale, unit) of the largest image in ImageList (the
    first entry is usually the thumbnail). Simple tags and arrays of simple types only."""
    buf = Path(path).read_bytes()
    version, _, order = struct.unpack(">IQI", buf[:16])
    if version != 4:
        raise ValueError(f"{path}: DM version {version}; only DM4 is read here")
    end = "<" if order == 1 else ">"
    tags = {}

    def group(pos, prefix):
        n = struct.unpack(">Q", buf[pos + 2:pos + 10])[0]
        pos += 10
        for k in range(n):
            kind = buf[pos]
            ln = struct.unpack(">H", buf[pos + 1:pos + 3])[0]
            name = buf[pos + 3:pos + 3 + ln].decode("latin-1") or f"[{k}]"
            size = struct.unpack(">Q", buf[pos + 3 + ln:pos + 11 + ln])[0]
            body = pos + 11 + ln
            key = prefix + "/" + name
            if kind == 20:
                group(body, key)
            elif kind == 21:
                ninfo = struct.unpack(">Q", buf[body + 4:body + 12])[0]
                info = struct.unpack(f">{ninfo}Q", buf[body + 12:body + 12 + 8 * ninfo])
                data = body + 12 + 8 * ninfo
                if ninfo == 1 and info[0] in _DM_TYPES:
                    tags[key] = np.frombuffer(buf, end + _DM_TYPES[info[0]], 1, data)[0]
                elif ninfo == 3 and info[0] == 20 and info[1] in _DM_TYPES:
                    tags[key] = np.frombuffer(buf, end + _DM_TYPES[info[1]], info[2], data)
            pos = body + size

    group(16, "")
    best = None
    for key, val in tags.items():
        if key.startswith("/ImageList/") and key.endswith("/ImageData/Data"):
            if best is None or val.size >= tags[best + "/Data"].size:
                best = key[:-len("/Data")]
    if best is None:
        raise ValueError(f"{path}: no image data")
    dims = [int(tags[f"{best}/Dimensions/[{i}]"]) for i in range(3) if f"{best}/Dimensions/[{i}]" in tags]
    unit = tags.get(f"{best}/Calibrations/Dimension/[0]/Units")
    unit = "".join(chr(int(c)) for c in unit) if unit is not None else ""
    return tags[best + "/Data"].reshape(dims[::-1]), float(tags.get(f"{best}/Calibrations/Dimension/[0]/Scale", 1.0)), unit


def read_image(path):
    path = Path(path)
    if path.suffix.lower() == ".dm4":
        img = read_dm4(path)[0]
    else:
        import tifffile

        img = tifffile.imread(path)
    img = np.asarray(img, np.float64)
    return img if img.ndim == 2 else img.reshape(-1, *img.shape[-2:])[0]


# ----------------------------------------------------------------------------- resampling

def resample_matrix(n_in, factor):
    """Rows: output pixels of the canonical grid (factor = input / canonical pixel size),
    centres mapped as the engine does: input x = (X + 0.5) / factor - 0.5."""
    n_out = max(1, int(np.ceil(n_in * factor - 1e-4)))
    if factor >= 1.0:
        return acq.lanczos_matrix(n_out, n_in, 1.0 / factor, 0.5 / factor - 0.5)
    # Shrinking: Lanczos-3 widened by 1/factor, the engine's anti-alias filter.
    stretch = 1.0 / factor
    c = (np.arange(n_out) + 0.5) / factor - 0.5
    i = np.arange(n_in)
    d = (i[None, :] - c[:, None]) / stretch
    w = np.sinc(d) * np.sinc(d / acq.LANCZOS_A) * (np.abs(d) < acq.LANCZOS_A)
    return w / w.sum(axis=1, keepdims=True)


def to_canonical(img, pixel_size):
    factor = pixel_size / CANONICAL
    if abs(factor - 1.0) < 1e-9:
        return np.asarray(img, np.float64)
    return resample_matrix(img.shape[0], factor) @ img @ resample_matrix(img.shape[1], factor).T


def lattice_constant(img, lo=2.2, hi=3.4):
    """Hexagonal lattice constant (A) of an image on the 0.2 A/px grid, from the radius of
    the strongest first-order reflections (d between `lo` and `hi` A; a = 2 d / sqrt 3)."""
    n = 2 * max(img.shape)
    win = np.outer(np.hanning(img.shape[0]), np.hanning(img.shape[1]))
    p = np.abs(np.fft.fft2((img - img.mean()) * win, (n, n))) ** 2
    f = np.fft.fftfreq(n)
    r = np.hypot(f[:, None], f[None, :]) * n  # frequency pixels of the padded grid
    ring = (r >= n * CANONICAL / hi) & (r <= n * CANONICAL / lo)
    k = np.argsort(p[ring])[-24:]  # the strongest few pixels: the six reflections
    radius = float(np.average(r[ring][k], weights=p[ring][k]))
    return 2.0 / np.sqrt(3.0) * n * CANONICAL / radius


# ----------------------------------------------------------------------------- tiles

def centre_crop(img, size):
    y0, x0 = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
    return img[y0:y0 + size, x0:x0 + size]


def real_tile(real_dir, name, size):
    """Crop (size px at 0.2 A/px) of a real image, or (None, reason)."""
    if name is None:
        return None, "no real example", {}
    path = Path(real_dir) / name if real_dir is not None else None
    if path is None or not path.is_file():
        return None, f"absent ({name} not found)", {}
    px, source, (fx, fy), note = REAL_FILES[name]
    img = to_canonical(read_image(path), px)
    size = min(size, *img.shape)
    cy = int(round(fy * img.shape[0])) - size // 2
    cx = int(round(fx * img.shape[1])) - size // 2
    cy, cx = min(max(cy, 0), img.shape[0] - size), min(max(cx, 0), img.shape[1] - size)
    f = px / CANONICAL  # canonical px per file px
    box = tuple(int(round((v + 0.5) / f - 0.5)) for v in (cx, cy, cx + size, cy + size))
    info = {"file": name, "pixel_size": px, "pixel_size_source": source, "note": note,
            "box_file_px": box, "lattice_a": lattice_constant(img)}
    return img[cy:cy + size, cx:cx + size], name, info


def build_rows(sim, real_dir, sims=None, tile=TILE, seed=0):
    """Rows of (condition, settings, simulated, transformed, real or None, real label,
    real info). `sim` and the images of `sims` (SIMULATED key -> image; a row whose image
    is missing is left out) are at 0.2 A/px, at least `tile` px wide. The transforms act on
    the simulated tile itself (a centre crop), as training applies them to whole training
    images: flyback bands and edge effects stay in view."""
    rows = []
    raw = centre_crop(sim, tile)
    sims = sims or {}
    for k, (name, settings, fn, real) in enumerate(conditions()):
        if isinstance(fn, str):
            if sims.get(fn) is None:
                continue
            out = centre_crop(sims[fn], tile)
        else:
            out = fn(raw.astype(np.float32), np.random.default_rng([seed, k]))
        r, label, info = real_tile(real_dir, real, tile)
        rows.append({"condition": name, "settings": settings, "simulated": raw,
                     "transformed": np.asarray(out, np.float64),
                     "real": r, "real_label": label, "real_info": info})
    return rows


def to_u8(img):
    lo, hi = np.percentile(img, [0.5, 99.5])
    return (np.clip((img - lo) / max(hi - lo, 1e-12), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def row_top(k, tile):
    return HEADER + k * (BAND + tile + GAP) + BAND


def col_left(j, tile):
    return GAP + j * (tile + GAP)


def mosaic(rows, tile=TILE):
    """uint8 mosaic: a header, then per row a label band and three tiles (simulated,
    transformed, real; an empty real tile is flat grey BLANK)."""
    h = HEADER + len(rows) * (BAND + tile + GAP)
    m = np.zeros((h, 3 * tile + 4 * GAP), np.uint8)
    for k, row in enumerate(rows):
        y = row_top(k, tile)
        for j, key in enumerate(("simulated", "transformed", "real")):
            x = col_left(j, tile)
            t = row[key]
            if t is None:
                m[y:y + tile, x:x + tile] = BLANK
            else:
                th, tw = t.shape
                m[y:y + th, x:x + tw] = to_u8(t)
                if th < tile or tw < tile:
                    m[y + th:y + tile, x:x + tile] = BLANK
                    m[y:y + tile, x + tw:x + tile] = BLANK
    return m


# ----------------------------------------------------------------------------- output

def write_png_plain(path, gray):
    """8-bit greyscale PNG with zlib alone."""
    h, w = gray.shape
    raw = b"".join(b"\x00" + gray[i].tobytes() for i in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    Path(path).write_bytes(png)


def write_png(path, m, rows, tile=TILE):
    """With pillow: labels drawn in the bands. Without: the plain mosaic. Returns whether
    text was drawn."""
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        write_png_plain(path, m)
        return False
    img = Image.fromarray(m).convert("RGB")
    d = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=11)
    except TypeError:  # pillow < 10.1: the bitmap font
        font = ImageFont.load_default()
    heads = ["simulated", "transformed", "real, resampled to 0.2 A/px"]
    for j, t in enumerate(heads):
        d.text((col_left(j, tile) + 2, 3), t, fill=(255, 255, 255), font=font)
    for k, row in enumerate(rows):
        y = row_top(k, tile) - BAND
        d.text((GAP + 2, y + 2), f"{k + 1}. {row['condition']}: {row['settings']}", fill=(255, 220, 120), font=font)
        info = row["real_info"]
        real = (f"real: {row['real_label']} @ {info['pixel_size']} A/px, box x{info['box_file_px'][0]}-{info['box_file_px'][2]}"
                f" y{info['box_file_px'][1]}-{info['box_file_px'][3]} (file px)") if info else f"real: {row['real_label']}"
        d.text((GAP + 2, y + 15), real, fill=(160, 210, 255), font=font)
        if row["real"] is None:
            x, yt = col_left(2, tile), row_top(k, tile)
            d.text((x + 8, yt + tile // 2 - 6), row["real_label"].split(" (")[0], fill=(220, 220, 220), font=font)
    img.save(path)
    return True


def write_md(path, rows, sim_desc, real_dir, drew_text, sim_a, tile=TILE):
    lines = ["# Acquisition-condition gallery", "",
             f"`gallery.png`: one row per condition, columns [simulated | transformed | real]; "
             f"every tile {tile} px = {tile * CANONICAL:.0f} A at {CANONICAL} A/px, each stretched to its own "
             f"0.5-99.5 % range. Simulated image: {sim_desc} (measured lattice a = {sim_a:.2f} A). "
             f"Real data: `{real_dir}`{'' if real_dir and Path(real_dir).is_dir() else ' (absent: real column blank)'}."
             + ("" if drew_text else " No text in the PNG (pillow missing): the table gives the row order."), "",
             "| row | condition | transform settings | real file | real pixel size used (source) | crop box in file px (x0, y0, x1, y1) | real lattice a (A, at 0.2 A/px) | real image |",
             "|---|---|---|---|---|---|---|---|"]
    for k, row in enumerate(rows):
        i = row["real_info"]
        if i:
            lines.append(f"| {k + 1} | {row['condition']} | `{row['settings']}` | `{i['file']}` | {i['pixel_size']} ({i['pixel_size_source']}) "
                         f"| {i['box_file_px']} | {i['lattice_a']:.2f} | {i['note']} |")
        else:
            lines.append(f"| {k + 1} | {row['condition']} | `{row['settings']}` | {row['real_label']} | | | | |")
    Path(path).write_text("\n".join(lines) + "\n")


def simulate(binary, out, extra=()):
    cmd = [str(binary), "simulate", "--polymorph", "2H-1L", "--chemistry", "WSe2", "--size", "256",
           "--pixel-size", "0.2", "--seed", "11", *extra, "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def load_sim(folder):
    import tifffile

    folder = Path(folder)
    px = CANONICAL
    truth = folder / "truth.json"
    if truth.is_file():
        px = float(json.loads(truth.read_text()).get("pixel_size_angstrom", CANONICAL))
    return to_canonical(np.asarray(tifffile.imread(folder / "image.tif"), np.float64), px)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/tmp/gallery", help="output folder (keep it outside the repository)")
    ap.add_argument("--sim", help="a `stemsight simulate` folder (image.tif) instead of running the binary")
    ap.add_argument("--sim-carbon", help="a second folder for the low-dose + carbon row (default: simulated)")
    ap.add_argument("--sim-low-angle", help="a second folder for the low-angle ADF row (default: simulated)")
    ap.add_argument("--bin", default=str(REPO / "target/release/stemsight"))
    ap.add_argument("--real", default=str(REPO.parent / "shared/data/real"), help="real-image folder")
    ap.add_argument("--seed", type=int, default=0, help="rng seed of the random transforms")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sim_dir = Path(args.sim) if args.sim else simulate(args.bin, out / "sim")
    given = {"carbon": args.sim_carbon, "low-angle": args.sim_low_angle}
    sims = {}
    for key, extra in SIMULATED.items():
        folder = Path(given[key]) if given[key] else None
        if folder is None and Path(args.bin).is_file():
            folder = simulate(args.bin, out / f"sim-{key}", extra)
        if folder is not None:
            sims[key] = load_sim(folder)
    sim = load_sim(sim_dir)
    real_dir = args.real if Path(args.real).is_dir() else None
    rows = build_rows(sim, real_dir, sims, TILE, args.seed)
    m = mosaic(rows, TILE)
    drew = write_png(out / "gallery.png", m, rows, TILE)
    desc = (f"`{sim_dir}`" + ("" if args.sim else " = `stemsight simulate --polymorph 2H-1L --chemistry WSe2 "
                                               "--size 256 --pixel-size 0.2 --seed 11`; the low-angle row adds `--low-angle-adf`, the "
                                               "carbon row `--dose 3e4 --carbon 0.6`"))
    write_md(out / "gallery.md", rows, desc, args.real, drew, lattice_constant(sim))
    print(f"{out / 'gallery.png'} ({m.shape[1]}x{m.shape[0]}, {len(rows)} rows), {out / 'gallery.md'}")


if __name__ == "__main__":
    main()
