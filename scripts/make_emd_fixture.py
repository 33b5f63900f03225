"""Writes native/tests/data/velox_two_detectors.emd: a tiny file in the Velox EMD layout
(HDF5; /Data/Image/<id>/Data rows x columns x frames, /Data/Image/<id>/Metadata zero-padded
JSON bytes x frames) with a DF4 image first and a two-frame HAADF image second, so the
reader's choice of detector, frame order, pixel values and calibration can be tested.

    python3 scripts/make_emd_fixture.py   (needs h5py; the output is committed)
"""

import json
import os

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "native", "tests", "data", "velox_two_detectors.emd")


def metadata(detector, frames, pixel_m):
    docs = [json.dumps({"BinaryResult": {"Detector": detector, "PixelSize": {"width": repr(pixel_m), "height": repr(pixel_m)},
                                         "PixelUnitX": "m", "PixelUnitY": "m"}, "Frame": k}).encode() for k in range(frames)]
    n = max(len(d) for d in docs) + 16
    out = np.zeros((n, frames), np.uint8)
    for k, d in enumerate(docs):
        out[: len(d), k] = np.frombuffer(d, np.uint8)
    return out


def main():
    h, w = 24, 20
    r, c = np.mgrid[0:h, 0:w]
    with h5py.File(OUT, "w") as f:
        f.create_dataset("Version", data=np.array([b'{"version": "11", "format": "Velox"}'], dtype=object))
        df = f.create_group("Data/Image/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a")
        df.create_dataset("Data", data=np.full((h, w, 1), 7, np.uint16))
        df.create_dataset("Metadata", data=metadata("DF4", 1, 2.0e-11))
        haadf = f.create_group("Data/Image/1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b")
        # pixel (r, c) of frame k = 1000 k + 10 r + c: each frame and position is recognisable
        data = np.stack([1000 * k + 10 * r + c for k in range(2)], axis=-1).astype(np.uint16)
        haadf.create_dataset("Data", data=data)
        haadf.create_dataset("Metadata", data=metadata("HAADF", 2, 1.25e-11))
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
