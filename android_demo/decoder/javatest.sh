#!/usr/bin/env bash
# Compile the plain-Java decoder (android_demo/decoder) and run its JUnit 4 tests, which check
# it against the golden vectors written by the Python reference. `make java-test` runs this.
#
# Needs a JDK (javac/java 11+) and JUnit 4 with Hamcrest (Debian/Ubuntu: apt-get install junit4).
# When either is missing it prints a SKIPPED line and exits 0, so `make test` still runs
# everything else; CI (.ci/run) installs them, so there the Java tests always run.
#
#   android_demo/decoder/javatest.sh                 # compile + run all tests
#   GOLDEN_DIR=/tmp/g android_demo/decoder/javatest.sh   # against another set of vectors
#   JUNIT_JAR=... HAMCREST_JAR=... android_demo/decoder/javatest.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD_DIR:-$here/build/make}"

skip() {
    echo "SKIPPED Java decoder tests (android_demo/decoder): $1"
    exit 0
}

command -v javac >/dev/null 2>&1 || skip "javac not found; install a JDK 11+ (apt-get install default-jdk-headless)"
command -v java >/dev/null 2>&1 || skip "java not found; install a JDK 11+"
junit="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
hamcrest="${HAMCREST_JAR:-}"
if [ -z "$hamcrest" ]; then
    for candidate in /usr/share/java/hamcrest-core.jar /usr/share/java/hamcrest.jar; do
        if [ -f "$candidate" ]; then hamcrest="$candidate"; break; fi
    done
fi
[ -f "$junit" ] || skip "JUnit 4 not found at $junit (apt-get install junit4, or set JUNIT_JAR)"
[ -n "$hamcrest" ] && [ -f "$hamcrest" ] || skip "Hamcrest not found (apt-get install junit4, or set HAMCREST_JAR)"

rm -rf "$build"
mkdir -p "$build/main" "$build/test"
# The decoder targets Android (minSdk 24): compile it against the Java 8 API to keep it usable there.
release=(--release 8)
javac "${release[@]}" -Xlint:-options -version >/dev/null 2>&1 || release=(--release 11)
mapfile -t main_src < <(find "$here/src/main/java" -name '*.java' | sort)
mapfile -t test_src < <(find "$here/src/test/java" -name '*.java' | sort)
javac "${release[@]}" -Xlint:all,-options -Werror -encoding UTF-8 -d "$build/main" "${main_src[@]}"
javac "${release[@]}" -Xlint:-options -encoding UTF-8 -cp "$build/main:$junit" -d "$build/test" "${test_src[@]}"

props=(-Dmlntf.root="$root")
if [ -n "${GOLDEN_DIR:-}" ]; then props+=(-Dmlntf.golden="$GOLDEN_DIR"); fi
echo "Java decoder tests: $(java -version 2>&1 | head -n 1), JUnit $(basename "$junit")"
exec java "${props[@]}" -cp "$build/main:$build/test:$junit:$hamcrest" org.junit.runner.JUnitCore org.mlntf.decoder.AllTests
