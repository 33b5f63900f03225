#!/usr/bin/env bash
# All tests: the Rust workspace (unit, physics, CLI) and the Python training smoke test.
# Needs the Python packages of scripts/train/requirements.txt (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
python3 -m pytest tests -q
