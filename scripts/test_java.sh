#!/usr/bin/env bash
# Java binding and Fiji plugin tests (idempotent; builds what it needs):
#   1. scripts/build_plugin.sh (release native library + jars)
#   2. a simulated image, analyzed by the CLI as the reference
#   3. JUnit: the binding through JNI (loading the library from the jar), counts equal the CLI's
#   4. ImageJ end to end under xvfb: scripts/macros/ci_e2e.ijm runs every command and checks
#      the Results tables; screenshot out/ci/fiji_overlay.png
#   5. the batch macro on a folder → summary CSV
# Needs: a JDK, ImageJ's ij.jar, JUnit 4 + hamcrest, xvfb-run (Debian: libij-java junit4 xvfb,
# installed by .ci/run). Skips (exit 0) only when java/javac are missing.
# Models: STEMSIGHT_MODELS, else the repository's models/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
    echo "test_java: SKIPPED - java/javac not installed (apt-get install default-jdk-headless)"
    exit 0
fi
IJ_JAR=${IJ_JAR:-/usr/share/java/ij.jar}
JUNIT_JAR=${JUNIT_JAR:-/usr/share/java/junit4.jar}
HAMCREST_JAR=${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}
for jar in "$IJ_JAR" "$JUNIT_JAR" "$HAMCREST_JAR"; do
    [ -f "$jar" ] || { echo "test_java: missing $jar (apt-get install libij-java junit4)" >&2; exit 1; }
done
command -v xvfb-run >/dev/null || { echo "test_java: xvfb-run missing (apt-get install xvfb)" >&2; exit 1; }
MODELS=${STEMSIGHT_MODELS:-$root/models}
export IJ_JAR

out=$root/out/ci
work=$out/java
rm -rf "$work"
mkdir -p "$work"

echo "== build"
bash scripts/build_plugin.sh
cargo build --release --bin stemsight
cli=$root/target/release/stemsight

echo "== reference: simulated image analyzed by the CLI"
"$cli" simulate --polymorph 2H-1L --size 256 --pixel-size 0.1 --seed 7 --out "$work/sim7"
"$cli" analyze "$work/sim7/image.tif" --models "$MODELS" --out "$work/cli"
report=$work/cli/image/report.json
# Experimental images, when the shared data are there (skipped cleanly otherwise).
real=$root/../shared/data/real
real_props=()
if ls "$real"/*.tif >/dev/null 2>&1; then
    for tif in "$real"/*.tif; do
        # An uncalibrated file (the Cr-doped WSe2 TIFF) is calibrated from its own lattice.
        "$cli" analyze "$tif" --models "$MODELS" --out "$work/cli_real" 2>/dev/null \
            || "$cli" analyze "$tif" --pixel-size lattice --chemistry WSe2 --models "$MODELS" --out "$work/cli_real"
    done
    real_props=(-Dstemsight.test.realDir="$real" -Dstemsight.test.realCli="$work/cli_real")
else
    echo "(no experimental images in $real: RealImagesTest will be skipped)"
fi

echo "== JUnit (binding through JNI)"
tests=$root/target/java/test-classes
rm -rf "$tests"
mkdir -p "$tests"
javac --release 8 -encoding UTF-8 -cp "$root/target/java/binding:$JUNIT_JAR:$IJ_JAR" -d "$tests" \
    $(find java/src/test/java -name '*.java')
# The jar (not target/release) is on the class path: this also tests extraction from the jar.
cp="$tests:$root/target/java/stemsight-java.jar:$JUNIT_JAR:$HAMCREST_JAR:$IJ_JAR"
classes=$(cd java/src/test/java && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)
timeout 600 java -Xmx2g -cp "$cp" -Dstemsight.models="$MODELS" \
    -Dstemsight.test.image="$work/sim7/image.tif" -Dstemsight.test.cliReport="$report" \
    ${real_props[@]+"${real_props[@]}"} org.junit.runner.JUnitCore $classes 2>&1 | tee "$work/junit.txt"
grep -q '^OK (' "$work/junit.txt" || { echo "test_java: JUnit failed" >&2; exit 1; }

echo "== ImageJ end to end (xvfb)"
ij=$work/imagej
mkdir -p "$ij/plugins"
cp target/java/StemSight_.jar "$ij/plugins/"
counts=$(java -cp "$cp" org.stemsight.ReportCounts "$report")
echo "CLI counts (atoms|Mo|S2 sites|VS1|VS2): $counts"
[ "${counts%%|*}" -gt 0 ] || [ -n "${STEMSIGHT_ALLOW_EMPTY:-}" ] || { echo "test_java: the CLI found no atoms; is the model trained?" >&2; exit 1; }
rm -f "$out/fiji_overlay.png"
# Real X server (xvfb), not -Djava.awt.headless=true, which breaks run("Command") in ImageJ 1.5x.
timeout 300 xvfb-run -a java -Xmx2g -Dplugins.dir="$ij" -Dstemsight.models="$MODELS" \
    -cp "$IJ_JAR" ij.ImageJ -batch "$root/scripts/macros/ci_e2e.ijm" \
    "$work/sim7/image.tif|$out|$counts" 2>&1 | tee "$work/imagej_e2e.txt"
result=$(cat "$out/e2e_result.txt" 2>/dev/null || echo "no result file")
[ "$result" = PASS ] || { echo "test_java: ImageJ end-to-end failed: $result" >&2; exit 1; }
[ -s "$out/fiji_overlay.png" ] || { echo "test_java: no overlay screenshot" >&2; exit 1; }

echo "== batch macro"
mkdir -p "$work/batch"
cp "$work/sim7/image.tif" "$work/batch/a.tif"
cp "$work/sim7/image.tif" "$work/batch/b.tif"
expected_rows=2
# A real JEOL DM4 (when ../shared is there) goes through the engine's reader in Fiji too.
dm4=$root/../shared/data/real/wse2_ti_doped_adf1_2.dm4
if [ -f "$dm4" ]; then
    cp "$dm4" "$work/batch/c.dm4"
    "$cli" analyze "$work/batch/c.dm4" --models "$MODELS" --out "$work/cli_dm4"
    dm4_atoms=$(java -cp "$cp" org.stemsight.ReportCounts "$work/cli_dm4/c/report.json" | cut -d'|' -f1)
    expected_rows=3
fi
timeout 300 xvfb-run -a java -Xmx2g -Dplugins.dir="$ij" -Dstemsight.models="$MODELS" \
    -cp "$IJ_JAR" ij.ImageJ -batch "$root/scripts/macros/stemsight_batch.ijm" \
    "$work/batch out=$work/batch_summary.csv" 2>&1 | tee "$work/imagej_batch.txt"
rows=$(($(wc -l < "$work/batch_summary.csv") - 1))
[ "$rows" -eq "$expected_rows" ] || { echo "test_java: batch summary has $rows rows, expected $expected_rows" >&2; exit 1; }
# The batch (default settings) must give the CLI's numbers: n_atoms and n_Mo columns.
summary_column() {
    awk -F, -v want="$1" -v image="$2" 'NR==1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        index($col["Image"], image) { print $col[want] }' "$work/batch_summary.csv"
}
if [ -f "$dm4" ]; then
    got=$(summary_column n_atoms c.dm4)
    [ "$got" = "$dm4_atoms" ] || { echo "test_java: batch on the DM4 found $got atoms, CLI $dm4_atoms" >&2; exit 1; }
    px=$(summary_column Pixel_size_A c.dm4)
    awk -v p="$px" 'BEGIN { exit !(p > 0.3983 && p < 0.3993) }' \
        || { echo "test_java: batch read the DM4 at $px A/px, the file says 0.3988" >&2; exit 1; }
fi
batch_counts=$(awk -F, 'NR==1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $col["Image"] ~ /^[ab]\.tif/ { print $col["n_atoms"] "|" $col["n_Mo"] }' "$work/batch_summary.csv" | sort -u)
cli_counts=$(echo "$counts" | cut -d'|' -f1,2)
[ "$batch_counts" = "$cli_counts" ] || { echo "test_java: batch gives $batch_counts, CLI $cli_counts" >&2; exit 1; }

echo "test_java: OK (JUnit, ImageJ end to end, batch; screenshot $out/fiji_overlay.png)"
