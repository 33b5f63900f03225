#!/usr/bin/env bash
# Analyzes the junction and carbon-patch images that testset.py --link-images linked
# (LINKS/<group>__<k>.tif) into ANALYSIS, one `stemsight analyze` per group so that each
# group can be given its own acquisition; then `testset.py --score ANALYSIS` scores them.
# Usage: [DOSE_KNOWN=1 | OPTICS_KNOWN=1] scripts/physics/analyze_links.sh LINKS ANALYSIS [MODELS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/physics/dose_flags.sh
LINKS=$1
OUT=$2
MODELS=${3:-models}
BIN=${BIN:-target/release/stemsight}
mkdir -p "$OUT"
for group in $(ls "$LINKS" | grep '\.tif$' | sed 's/__.*//' | sort -u); do
  chem=$(echo "$group" | cut -d_ -f2)
  # shellcheck disable=SC2046
  "$BIN" analyze "$LINKS/$group"__*.tif --models "$MODELS" --chemistry "$chem" \
      $(dose_flags "$group") --out "$OUT" > "$OUT/$group.log" 2>&1 || echo "FAILED $group"
done
