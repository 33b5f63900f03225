#!/usr/bin/env bash
# Java binding and Fiji plugin tests (idempotent; builds what it needs):
#   1. scripts/build_plugin.sh (release native library + jars)
#   2. a simulated image, analyzed by the CLI as the reference
#   3. JUnit: the binding through JNI (loading the library from the jar), counts equal the CLI's
#   4. ImageJ end to end under xvfb: scripts/macros/ci_e2e.ijm runs every command and checks
#      the Results tables, the analysis cache, windows and the ROI Manager; screenshots
#      out/ci/fiji_overlay.png, fiji_polymorph_map.png, fiji_carbon_map.png, fiji_about.png
#   5. scripts/macros/ci_windows.ijm with real windows (-macro): focus and no duplicates
#   6. the batch macro (Batch Analyze Folder) on a folder with TIFF, EMD and a bad file →
#      per-image result folders as the CLI writes them + summary CSV; a rerun skips them
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
rm -f "$out"/fiji_*.png
# Real X server (xvfb), not -Djava.awt.headless=true, which breaks run("Command") in ImageJ 1.5x.
timeout 300 xvfb-run -a java -Xmx2g -Dplugins.dir="$ij" -Dstemsight.models="$MODELS" \
    -cp "$IJ_JAR" ij.ImageJ -batch "$root/scripts/macros/ci_e2e.ijm" \
    "$work/sim7/image.tif|$out|$counts" 2>&1 | tee "$work/imagej_e2e.txt"
result=$(cat "$out/e2e_result.txt" 2>/dev/null || echo "no result file")
[ "$result" = PASS ] || { echo "test_java: ImageJ end-to-end failed: $result" >&2; exit 1; }
# In -batch the Log is stdout: the cache said what it did, the RGB image was refused before
# any dialog, and that refusal is the only error.
grep -q 'analysis computed' "$work/imagej_e2e.txt" && grep -q 'analysis reused' "$work/imagej_e2e.txt" \
    || { echo "test_java: no 'analysis computed/reused' lines in the Log" >&2; exit 1; }
grep -q "StemSight error: 'rgb' is a colour image" "$work/imagej_e2e.txt" \
    || { echo "test_java: the RGB image was not refused" >&2; exit 1; }
errors=$(grep -c 'StemSight error' "$work/imagej_e2e.txt" || true)
[ "$errors" -eq 1 ] || { echo "test_java: $errors StemSight errors in the Log, expected only the RGB one" >&2; exit 1; }
for shot in fiji_overlay.png fiji_polymorph_map.png fiji_carbon_map.png fiji_carbon_tint.png fiji_about.png; do
    [ -s "$out/$shot" ] || { echo "test_java: no screenshot $out/$shot" >&2; exit 1; }
done

echo "== ImageJ with real windows (xvfb, -macro): focus stays on the source, reruns replace windows"
rm -f "$out/windows_result.txt"
timeout 300 xvfb-run -a java -Xmx2g -Dplugins.dir="$ij" -Dstemsight.models="$MODELS" \
    -cp "$IJ_JAR" ij.ImageJ -macro "$root/scripts/macros/ci_windows.ijm" \
    "$work/sim7/image.tif|$out" > "$work/imagej_windows.txt" 2>&1 || true
result=$(cat "$out/windows_result.txt" 2>/dev/null || echo "no result file")
[ "$result" = PASS ] || { echo "test_java: window test failed: $result" >&2; exit 1; }

echo "== batch: Batch Analyze Folder through the batch macro (TIFF, EMD, a bad file; resumes)"
batch=$work/batch
results=$work/batch_results
mkdir -p "$batch"
cp "$work/sim7/image.tif" "$batch/a.tif"
cp "$work/sim7/image.tif" "$batch/b.tif"
# A two-frame Velox EMD (HAADF read), written as results/d/frame-0000 and frame-0001.
cp native/tests/data/velox_two_detectors.emd "$batch/d.emd"
echo "not an image" > "$batch/bad.tif"
expected_rows=4
# A real JEOL DM4 (when ../shared is there) goes through the engine's reader in Fiji too.
dm4=$root/../shared/data/real/wse2_ti_doped_adf1_2.dm4
if [ -f "$dm4" ]; then
    cp "$dm4" "$batch/c.dm4"
    "$cli" analyze "$batch/c.dm4" --models "$MODELS" --out "$work/cli_dm4"
    dm4_atoms=$(java -cp "$cp" org.stemsight.ReportCounts "$work/cli_dm4/c/report.json" | cut -d'|' -f1)
    expected_rows=5
fi
run_batch() {
    timeout 300 xvfb-run -a java -Xmx2g -Dplugins.dir="$ij" -Dstemsight.models="$MODELS" \
        -cp "$IJ_JAR" ij.ImageJ -batch "$root/scripts/macros/stemsight_batch.ijm" \
        "$batch out=$work/batch_summary.csv results=$results" 2>&1 | tee "$1"
}
run_batch "$work/imagej_batch.txt"
rows=$(($(wc -l < "$work/batch_summary.csv") - 1))
[ "$rows" -eq "$expected_rows" ] || { echo "test_java: batch summary has $rows rows, expected $expected_rows" >&2; exit 1; }
# Every image's folder is what `stemsight analyze` writes.
for dir in a b d/frame-0000 d/frame-0001; do
    for f in report.json atoms.csv vacancies.csv polymorph.tif carbon.tif overlay.png; do
        [ -s "$results/$dir/$f" ] || { echo "test_java: batch wrote no $dir/$f" >&2; exit 1; }
    done
done
[ ! -e "$results/bad" ] || { echo "test_java: a folder for the bad file" >&2; exit 1; }
bad_lines=$(grep -c 'bad\.tif' "$work/imagej_batch.txt" || true)
[ "$bad_lines" -eq 1 ] && grep -q 'FAILED bad\.tif' "$work/imagej_batch.txt" \
    || { echo "test_java: expected one FAILED line for bad.tif, got $bad_lines lines" >&2; exit 1; }
# The batch (default settings) gives the CLI's numbers, in the summary and in report.json.
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
folder_counts=$(java -cp "$cp" org.stemsight.ReportCounts "$results/a/report.json")
[ "$folder_counts" = "$counts" ] || { echo "test_java: batch report.json gives $folder_counts, CLI $counts" >&2; exit 1; }
# A rerun skips every finished image (folders untouched) and fails the bad file again.
stamp=$(stat -c %Y.%s "$results/a/report.json" "$results/d/frame-0001/report.json")
run_batch "$work/imagej_batch_rerun.txt"
skipped=$(grep -c 'already analyzed' "$work/imagej_batch_rerun.txt" || true)
[ "$skipped" -eq $((expected_rows - 1)) ] || { echo "test_java: rerun skipped $skipped images, expected $((expected_rows - 1))" >&2; exit 1; }
[ "$stamp" = "$(stat -c %Y.%s "$results/a/report.json" "$results/d/frame-0001/report.json")" ] \
    || { echo "test_java: rerun rewrote finished folders" >&2; exit 1; }
rows=$(($(wc -l < "$work/batch_summary.csv") - 1))
[ "$rows" -eq "$expected_rows" ] || { echo "test_java: rerun summary has $rows rows, expected $expected_rows" >&2; exit 1; }

echo "test_java: OK (JUnit, ImageJ end to end, batch with resume; screenshots $out/fiji_*.png)"
