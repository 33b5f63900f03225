"""Make docs/gallery.png: one simulated image per polymorph plus a vacancy image, a
contaminated image and a boundary image, so a microscopist can judge realism.

Usage: python3 scripts/gallery.py [--bin target/release/stemsight] [--out docs/gallery.png]
Needs numpy, tifffile and pillow (pip install numpy tifffile pillow).
"""

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, ImageDraw

PANELS = [
    ("2H-1L", ["--polymorph", "2H-1L"]),
    ("2H-2L", ["--polymorph", "2H-2L"]),
    ("2H-3L", ["--polymorph", "2H-3L"]),
    ("3R-2L", ["--polymorph", "3R-2L"]),
    ("3R-3L", ["--polymorph", "3R-3L"]),
    ("1T", ["--polymorph", "1T"]),
    ("2H-1L VS1 8% / VS2 3% (circles)", ["--polymorph", "2H-1L", "--vs1-fraction", "0.08", "--vs2-fraction", "0.03"]),
    ("2H-1L, carbon 0.8", ["--polymorph", "2H-1L", "--carbon", "0.8"]),
    ("2H-1L | 3R-2L boundary", ["--polymorph", "2H-1L", "--second-polymorph", "3R-2L", "--boundary", "irregular"]),
]
COMMON = ["--size", "256", "--pixel-size", "0.1", "--dose", "2.5e5", "--scan-noise", "0.3"]
NO_VACANCIES = ["--vs1-fraction", "0", "--vs2-fraction", "0"]


def to_u8(img):
    lo, hi = np.percentile(img, [0.1, 99.9])
    return (np.clip((img - lo) / max(hi - lo, 1e-9), 0, 1) * 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/stemsight")
    ap.add_argument("--out", default="docs/gallery.png")
    args = ap.parse_args()
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, extra) in enumerate(PANELS):
            out = Path(tmp) / str(k)
            vac = [] if "--vs1-fraction" in extra else NO_VACANCIES
            subprocess.run([args.bin, "simulate", *COMMON, *vac, *extra, "--seed", str(40 + k), "--out", str(out)], check=True, capture_output=True)
            img = Image.fromarray(to_u8(tifffile.imread(out / "image.tif"))).convert("RGB")
            draw = ImageDraw.Draw(img)
            if "VS1" in label:
                import json

                truth = json.loads((out / "truth.json").read_text())
                for v in truth["vacancies"]:
                    color = (0, 160, 255) if v["type"] == "VS1" else (255, 60, 60)
                    draw.ellipse([v["x"] - 9, v["y"] - 9, v["x"] + 9, v["y"] + 9], outline=color, width=2)
            if "boundary" in label:
                poly = tifffile.imread(out / "polymorph.tif")
                edge = (np.abs(np.diff(poly.astype(int), axis=0, prepend=poly[:1])) > 0) | (np.abs(np.diff(poly.astype(int), axis=1, prepend=poly[:, :1])) > 0)
                arr = np.array(img)
                arr[edge] = (255, 200, 0)
                img = Image.fromarray(arr)
                draw = ImageDraw.Draw(img)
            draw.rectangle([0, 0, 256, 14], fill=(0, 0, 0))
            draw.text((4, 1), label, fill=(255, 255, 255))
            # 1 nm scale bar: 10 Å at 0.1 Å/px is 100 px.
            draw.rectangle([146, 240, 246, 244], fill=(255, 255, 255))
            draw.text((180, 226), "1 nm", fill=(255, 255, 255))
            tiles.append(img)
    gap = 4
    grid = Image.new("RGB", (3 * 256 + 2 * gap, 3 * 256 + 2 * gap), (255, 255, 255))
    for k, t in enumerate(tiles):
        grid.paste(t, ((k % 3) * (256 + gap), (k // 3) * (256 + gap)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
