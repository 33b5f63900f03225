#!/usr/bin/env bash
# All tests: the Rust workspace (unit, physics, CLI), the Python training smoke test, and the
# Java binding + Fiji plugin (scripts/test_java.sh; skipped when no JDK is installed).
# Needs the Python packages of scripts/train/requirements.txt and Debian's libij-java, junit4
# and xvfb (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
# Release mode: the engine links tract, and one optimized build serves the tests, the CLI and the JNI library.
cargo test --workspace --release
echo "(Rust tests done, ${SECONDS} s into the tests)"
python3 -m pytest tests scripts/physics scripts/train -q
echo "(Python tests done, ${SECONDS} s into the tests)"
bash scripts/test_java.sh
