"""Output head definitions shared by data, training and export.

One place so that the channel meaning written into the ONNX sidecar can
never drift from what the targets in data.py actually encode.
"""

from dataclasses import dataclass

POLYMORPH_CLASSES = ["vacuum", "2H-1L", "2H-2L", "2H-3L", "3R-2L", "3R-3L", "1T"]

# Carbon target = clip(thickness / CARBON_SCALE_A, 0, 1); the head's sigmoid
# output times this scale is a thickness estimate in Å that saturates here.
CARBON_SCALE_A = 10.0

# Gaussian width of the atom heatmaps; ~ the projected column radius at 0.1 Å/px.
ATOM_SIGMA_A = 0.4


@dataclass(frozen=True)
class HeadSpec:
    channels: tuple  # channel names, in output order
    activation: str  # applied inside the exported graph: "sigmoid" | "softmax"
    target: str  # human-readable target definition (copied into model.json)


HEADS = {
    "atoms": HeadSpec(
        channels=("metal", "chalcogen"),
        activation="sigmoid",
        target=(
            f"per-channel Gaussian heatmap, sigma = {ATOM_SIGMA_A} Å / pixel_size, peak 1 at each "
            "column centre (overlaps combined by max); channel 0 = column containing >= 1 Mo, "
            "channel 1 = chalcogen-only column (S2 or S); loss = BCE on the soft targets"
        ),
    ),
    "vacancy": HeadSpec(
        channels=("background", "VS1", "VS2"),
        activation="softmax",
        target="per-pixel class from vacancy.npy (disks r = 0.95 Å at vacancy sites); loss = weighted CE + soft Dice on VS1/VS2",
    ),
    "polymorph": HeadSpec(
        channels=tuple(POLYMORPH_CLASSES),
        activation="softmax",
        target="per-pixel class from polymorph.npy (0 = vacuum); loss = CE",
    ),
    "carbon": HeadSpec(
        channels=("carbon",),
        activation="sigmoid",
        target=(
            f"clip(thickness_A / {CARBON_SCALE_A}, 0, 1) from carbon.npy; loss = BCE on the soft target; "
            f"output * {CARBON_SCALE_A} = thickness estimate in Å (saturates at {CARBON_SCALE_A} Å)"
        ),
    ),
}

DEFAULT_HEADS = {name: len(spec.channels) for name, spec in HEADS.items()}


def parse_heads(text):
    """'atoms,vacancy' -> {'atoms': 2, 'vacancy': 3}, in the order given."""
    names = [h.strip() for h in text.split(",") if h.strip()]
    unknown = [h for h in names if h not in HEADS]
    if unknown or not names:
        raise ValueError(f"unknown heads {unknown}; choose from {list(HEADS)}")
    return {h: len(HEADS[h].channels) for h in names}
