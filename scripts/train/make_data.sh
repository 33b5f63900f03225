#!/usr/bin/env bash
# Regenerates the training and validation data of models/stemsight-resunet with fixed seeds.
# Seed ranges are disjoint by construction (sample k of base seed s uses SplitMix(s, k)):
#   train 1000 (stage 1), 2000 (stage 2) and 3000 (stage 3), validation 500000 and 510000,
#   held-out tests 900000-930000
#   (scripts/eval.sh). Nothing generated here is committed (data/ is git-ignored).
# Usage: bash scripts/train/make_data.sh [N_TRAIN] [N_VAL]     (defaults 12000 and 512)
set -euo pipefail
cd "$(dirname "$0")/../.."
n_train=${1:-12000}
n_val=${2:-512}
cargo build --release --quiet
bin=target/release/stemsight
cfg=scripts/data/train.json
# Phase 2 data (current simulator). Phase 1 used seed 1000 with the simulator of commit fea2636
# (carbon patches <= 20 A); regenerate it from that commit to reproduce stage 1 exactly.
$bin dataset --n "$n_train" --seed 2000 --config "$cfg" --out data/train2
$bin dataset --n "$n_val" --seed 500000 --config "$cfg" --out data/val2
# Phase 3 data: the same ranges with WS2, MoSe2 and WSe2 mixed in (scripts/data/train3.json).
$bin dataset --n "$n_train" --seed 3000 --config scripts/data/train3.json --out data/train3
$bin dataset --n 256 --seed 510000 --config scripts/data/train3.json --out data/val3
