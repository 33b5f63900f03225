#!/usr/bin/env bash
# Runs (or resumes) the reference library in the background on ONE core at low priority.
# Finished runs are skipped, so the same command continues an interrupted queue.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PHYSICS_PY:-/work/physics-venv/bin/python}
LOG=${PHYSICS_LOG:-/work/physics-logs/library.log}
mkdir -p "$(dirname "$LOG")"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \
       NUMEXPR_NUM_THREADS=1 VECLIB_MAXIMUM_THREADS=1 DASK_SCHEDULER=synchronous
nohup nice -n 10 taskset -c "${PHYSICS_CPU:-1}" "$PY" library.py "$@" >> "$LOG" 2>&1 &
echo "library run started, pid $! , log $LOG"
