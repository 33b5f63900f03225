#!/usr/bin/env bash
# Scores a model on every group of the frozen-phonon test set (scripts/physics/testset.py):
# one `stemsight eval` JSON per group <cell>_<kV>kV_<detector>mrad_<dose>, then the table.
# Usage: [DOSE_KNOWN=1 | OPTICS_KNOWN=1] scripts/physics/eval_testset.sh [SET] [OUT] [MODELS]
#   defaults: /work/physics-logs/fp_testset, /work/physics-logs/fp_eval, models/
#   DOSE_KNOWN=1 passes each group's dose, voltage and detector (from its name) to the engine,
#   which then reads the 2H layer count from the absolute signal (analysis::layers);
#   OPTICS_KNOWN=1 passes the voltage and detector alone, as a file's metadata gives them: the
#   columns' contrast is then compared with the simulator's at those optics (analysis::contrast).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/physics/dose_flags.sh
SET=${1:-/work/physics-logs/fp_testset}
OUT=${2:-/work/physics-logs/fp_eval}
MODELS=${3:-models}
BIN=${BIN:-target/release/stemsight}
mkdir -p "$OUT"
for g in "$SET"/*/; do
  name=$(basename "$g")
  chem=$(echo "$name" | cut -d_ -f2)
  # shellcheck disable=SC2046
  "$BIN" eval --data "$g" --models "$MODELS" --chemistry "$chem" $(dose_flags "$name") --out "$OUT/$name.json" \
      > "$OUT/$name.log" 2>&1 || echo "FAILED $name"
done
python3 scripts/physics/testset_table.py "$OUT"
