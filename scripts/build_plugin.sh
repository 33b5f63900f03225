#!/usr/bin/env bash
# Builds the StemSight Fiji plugin, offline, in one go:
#   1. the release native library  (cargo build --release --lib → target/release/libstemsight.so)
#   2. the Java binding             (java/ → target/java/stemsight-java.jar, natives embedded)
#   3. the plugin                   (fiji-plugin/ → target/java/StemSight_.jar: plugin + binding
#                                    + natives + plugins.config, a single drop-in jar)
#   4. the Fiji update-site layout  (target/java/fiji/{plugins,jars,lib/<platform>}/)
# Needs cargo, a JDK (javac, jar) and ImageJ's ij.jar (Debian: apt-get install libij-java;
# or IJ_JAR=/path/to/ij.jar). No Maven, no Gradle, no network.
set -euo pipefail
cd "$(dirname "$0")/.."

IJ_JAR=${IJ_JAR:-/usr/share/java/ij.jar}
OUT=target/java
[ -f "$IJ_JAR" ] || { echo "build_plugin: ImageJ jar not found at $IJ_JAR (apt-get install libij-java, or set IJ_JAR)" >&2; exit 1; }
command -v javac >/dev/null || { echo "build_plugin: javac not found (install a JDK)" >&2; exit 1; }

# Platform folder as NativeLoader.platform() names it, and Fiji's lib/ folder name.
case "$(uname -s)" in Linux) os=linux ;; Darwin) os=macos ;; *) os=$(uname -s | tr 'A-Z' 'a-z') ;; esac
case "$(uname -m)" in x86_64|amd64) arch=x86_64 ;; aarch64|arm64) arch=aarch64 ;; *) arch=$(uname -m) ;; esac
platform="$os-$arch"
case "$platform" in
  linux-x86_64) fiji_lib=linux64 ;; linux-aarch64) fiji_lib=linux-arm64 ;; macos-*) fiji_lib=macosx ;; *) fiji_lib=$platform ;;
esac
lib=libstemsight.so
[ "$os" = macos ] && lib=libstemsight.dylib

echo "== native library (release)"
cargo build --release --lib
native=target/release/$lib

# Java 8 bytecode: many Fiji installations still run on Java 8.
JAVAC=(javac --release 8 -encoding UTF-8 -Xlint:all,-options -Werror)

echo "== Java binding"
rm -rf "$OUT/binding" "$OUT/plugin" "$OUT/natives" "$OUT/fiji"
mkdir -p "$OUT/binding" "$OUT/plugin" "$OUT/natives/natives/$platform"
"${JAVAC[@]}" -d "$OUT/binding" $(find java/src/main/java -name '*.java')
cp "$native" "$OUT/natives/natives/$platform/$lib"
# Symbols are not needed to run; stripping saves about a quarter of the size.
if command -v strip >/dev/null 2>&1 && [ "$os" = linux ]; then
    strip --strip-unneeded "$OUT/natives/natives/$platform/$lib"
fi
(cd "$OUT/natives/natives/$platform" && sha256sum "$lib" | cut -d' ' -f1 > "$lib.sha256")
jar cf "$OUT/stemsight-java.jar" -C "$OUT/binding" . -C "$OUT/natives" natives

echo "== Fiji plugin"
"${JAVAC[@]}" -cp "$IJ_JAR:$OUT/binding" -d "$OUT/plugin" $(find fiji-plugin/src/main/java -name '*.java')
cp fiji-plugin/src/main/resources/plugins.config "$OUT/plugin/"
# The documentation the dialogs' Help buttons point to travels inside the jar.
cp fiji-plugin/README.md "$OUT/plugin/README.md"
jar cf "$OUT/StemSight_.jar" -C "$OUT/plugin" . -C "$OUT/binding" . -C "$OUT/natives" natives

echo "== Fiji update-site layout"
mkdir -p "$OUT/fiji/plugins" "$OUT/fiji/jars" "$OUT/fiji/lib/$fiji_lib"
jar cf "$OUT/fiji/plugins/StemSight_.jar" -C "$OUT/plugin" .
jar cf "$OUT/fiji/jars/stemsight-java.jar" -C "$OUT/binding" .
cp "$OUT/natives/natives/$platform/$lib" "$OUT/fiji/lib/$fiji_lib/$lib"

echo "built: $OUT/StemSight_.jar (drop-in, natives for $platform embedded)"
echo "       $OUT/stemsight-java.jar (binding library)"
echo "       $OUT/fiji/ (update-site layout: plugins/, jars/, lib/$fiji_lib/)"
