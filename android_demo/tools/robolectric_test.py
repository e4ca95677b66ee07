"""Run the app's Robolectric tests (``app/src/test``) without Gradle (`make android-robolectric`).

    python android_demo/tools/robolectric_test.py [--apk android_demo/build/mln-demo-debug.apk]

The Activity runs on the real framework of targetSdk (Robolectric's pre-instrumented
``android-all-instrumented`` jar) with the APK's own classes, linked resources, manifest and
assets (what ``build_apk.py`` keeps beside the APK), as Gradle's
``unitTests.includeAndroidResources`` gives them:

1. Robolectric and its dependencies (the version catalog's ``robolectric``) copied by ``mvn
   dependency:copy-dependencies`` into ``android_demo/build/deps/robolectric``, and the
   framework jar by ``mvn dependency:copy``; Robolectric then runs offline from that folder
   (``robolectric.offline``), never downloading;
2. the decoder's test helpers and the app's tests compiled against them;
3. ``com/android/tools/test_config.properties`` (the file the Android Gradle Plugin writes)
   pointing at the APK's resources, and JUnit run.

Exit status 0 passed, 1 failed (JUnit's report is shown), 2 usage, 3 a tool is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from android_demo.tools import build_apk  # noqa: E402

ANDROID = build_apk.ANDROID
TESTS = ANDROID / "app/src/test"
DECODER_TESTS = ANDROID / "decoder/src/test/java"
RUNTIME_DEPS = build_apk.DEPS / "robolectric"
TEST_CLASSES = ("org.mlntf.demo.MainActivityTest",)


def robolectric_sdk() -> int:
    """The ``sdk`` of app/src/test/resources/robolectric.properties."""
    for line in (TESTS / "resources/robolectric.properties").read_text().splitlines():
        if line.strip().startswith("sdk="):
            return int(line.split("=", 1)[1])
    raise build_apk.BuildError("app/src/test/resources/robolectric.properties names no sdk")


def fetch_robolectric(config: build_apk.Config) -> list[Path]:
    """Robolectric and JUnit with their dependencies, by ``mvn`` into the cache folder, once -> the jars."""
    marker = RUNTIME_DEPS / ".complete"
    wanted = " ".join(config.artifacts[a].coordinate for a in ("robolectric", "junit"))
    if not (marker.is_file() and marker.read_text() == wanted):
        print(f"fetching {wanted} and dependencies", flush=True)
        deps = "".join(
            f"<dependency><groupId>{a.group}</groupId><artifactId>{a.name}</artifactId>"
            f"<version>{a.version}</version></dependency>"
            for a in (config.artifacts["robolectric"], config.artifacts["junit"])
        )
        with tempfile.TemporaryDirectory() as tmp:
            pom = Path(tmp) / "pom.xml"
            pom.write_text(
                '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
                "<groupId>org.mlntf</groupId><artifactId>robolectric-deps</artifactId><version>1</version>"
                f"<dependencies>{deps}</dependencies></project>"
            )
            RUNTIME_DEPS.mkdir(parents=True, exist_ok=True)
            build_apk.run(
                "mvn fetch of Robolectric",
                [
                    "mvn",
                    "-B",
                    "-q",
                    "-f",
                    str(pom),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={RUNTIME_DEPS}",
                    "-DincludeScope=runtime",
                ],
            )
        marker.write_text(wanted)
    jars = sorted(RUNTIME_DEPS.glob("*.jar"))
    for aar in sorted(RUNTIME_DEPS.glob("*.aar")):  # androidx.test:monitor comes as an AAR: its classes
        jar = aar.with_suffix(".classes.jar")
        if not jar.is_file():
            with zipfile.ZipFile(aar) as z:
                jar.write_bytes(z.read("classes.jar"))
        jars.append(jar)
    return jars


def run_tests(apk: Path = build_apk.APK, config: build_apk.Config | None = None) -> str:
    """Compile and run the app's Robolectric tests against the APK built at ``apk`` -> JUnit's output."""
    config = config or build_apk.Config.load()
    if robolectric_sdk() != config.target_sdk:
        raise build_apk.BuildError(
            f"robolectric.properties runs sdk {robolectric_sdk()}, the app targets {config.target_sdk}: "
            "change both (and androidAllInstrumented) together"
        )
    kept = build_apk.intermediates_of(apk)
    if not (kept / "resources.ap_").is_file():
        raise build_apk.BuildError(f"no build of the app at {kept}: run `make android-apk` first")
    frameworks = ("android-all", "android-all-instrumented")
    files = build_apk.fetch([config.artifacts[a] for a in (*build_apk.RUNTIME, *frameworks)])
    runtime = fetch_robolectric(config)
    with tempfile.TemporaryDirectory(prefix="robolectric-", dir=build_apk.BUILD) as tmp:
        work = Path(tmp)
        tflite = []
        for alias in build_apk.RUNTIME:  # the app's classes link against TFLite's
            with zipfile.ZipFile(files[alias]) as z:
                jar = work / f"{alias}.jar"
                jar.write_bytes(z.read("classes.jar"))
                tflite.append(jar)
        # the test sources see the framework of the SDK they run on
        compile_cp = [kept / "classes", *tflite, *runtime, files["android-all-instrumented"]]
        sources = sorted(DECODER_TESTS.rglob("*.java")) + sorted((TESTS / "java").rglob("*.java"))
        build_apk.run(
            "javac (tests)",
            [
                "javac",
                "--release",
                "17",
                "-encoding",
                "UTF-8",
                "-nowarn",
                "-cp",
                os.pathsep.join(map(str, compile_cp)),
                "-d",
                str(work / "test-classes"),
                *map(str, sources),
            ],
        )
        res = work / "test-resources"
        (res / "com/android/tools").mkdir(parents=True)
        (res / "com/android/tools/test_config.properties").write_text(
            f"android_merged_manifest={kept / 'AndroidManifest.xml'}\n"
            f"android_merged_assets={kept / 'assets'}\n"
            f"android_resource_apk={kept / 'resources.ap_'}\n"
            f"android_custom_package={config.application_id}\n"
        )
        (res / "robolectric.properties").write_text((TESTS / "resources/robolectric.properties").read_text())
        # the framework API last, as the Gradle plugin puts android.jar: JUnit reflects on the test
        # class outside the sandbox (the sandbox itself loads the instrumented framework)
        run_cp = [work / "test-classes", res, kept / "classes", *tflite, *runtime, files["android-all"]]
        proc = subprocess.run(
            [
                "java",
                "-Drobolectric.offline=true",
                f"-Drobolectric.dependency.dir={build_apk.DEPS}",
                f"-Dmlntf.root={ANDROID.parent}",
                "-cp",
                os.pathsep.join(map(str, run_cp)),
                "org.junit.runner.JUnitCore",
                *TEST_CLASSES,
            ],
            capture_output=True,
            text=True,
        )
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise build_apk.BuildError(f"Robolectric tests failed (exit {proc.returncode}):\n{out[-6000:]}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apk", type=Path, default=build_apk.APK, help="the APK whose build the tests load")
    args = parser.parse_args(argv)
    why = build_apk.missing_tools()
    if why:
        print(f"SKIPPED android-robolectric: {why}")
        return build_apk.SKIPPED
    try:
        out = run_tests(args.apk.resolve())
    except build_apk.BuildError as exc:
        print(f"android-robolectric: {exc}", file=sys.stderr)
        return 1
    print("\n".join(re.findall(r"robolectric: .*|OK \(.*|Time: .*", out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
