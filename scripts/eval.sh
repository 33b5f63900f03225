#!/usr/bin/env bash
# Reproduces the held-out metric tables in models/README.md.
#   1. paper-like set: dose 2.5e5 e-/Å², mixed carbon, pixel sizes 0.06-0.2 Å (seed 900000)
#   2. curves set: dose 1e3-1e6 e-/Å² log-uniform, carbon 0-1 (seed 910000)
# Seeds 900000+ are never used for training (1000+) or validation (500000+).
# Usage: bash scripts/eval.sh [N_PAPER] [N_CURVES]   (defaults 60 and 120)
set -euo pipefail
cd "$(dirname "$0")/.."
n_paper=${1:-60}
n_curves=${2:-120}
cargo build --release --quiet
bin=target/release/stemsight
rm -rf data/eval data/eval_curves
$bin testset --n "$n_paper" --seed 900000 --config scripts/data/eval.json --field 40 --out data/eval
$bin testset --n "$n_curves" --seed 910000 --config scripts/data/eval_curves.json --field 40 --out data/eval_curves
mkdir -p models/metrics
$bin eval --data data/eval --out models/metrics/eval_paper_dose.json | tee models/metrics/eval_paper_dose.txt
$bin eval --data data/eval_curves --out models/metrics/eval_curves.json | tee models/metrics/eval_curves.txt
