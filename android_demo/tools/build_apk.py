"""Build, package and sign the Android app's debug APK without Gradle (`make android-apk`).

    python android_demo/tools/build_apk.py [--out android_demo/build/mln-demo-debug.apk]

The same sources, versions (``gradle/libs.versions.toml``) and identity (``gradle.properties``)
as the Gradle build, from Maven Central and Debian alone:

1. the artifacts of the version catalog, fetched by ``mvn dependency:copy`` into
   ``android_demo/build/deps`` (``mvn``'s own cache is ``~/.m2``): TFLite's AARs (classes and
   native libraries), the framework at minSdk (``org.robolectric:android-all``) as the compile
   classpath, and the ``dx`` dexer;
2. resources and the manifest (package, versions and SDK levels added as Gradle's manifest
   merger adds them) compiled and linked by Debian's ``aapt2`` against its framework
   resources (``android-framework-res``), with ``R.java``; the model stored uncompressed;
3. the decoder's and the app's Java compiled against the framework API of minSdk (Java 8);
4. dexed with the TFLite classes (``dx --min-sdk-version``);
5. the native libraries of ``mln.abis`` added, ``zipalign``, and ``apksigner`` with a debug
   key made once by ``keytool`` (``android_demo/build/debug.keystore``).

Exit status 0 built, 1 a step failed (its output is shown), 2 usage, 3 a tool is missing (one
line saying what to install; the APK test then reports SKIPPED with it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

ANDROID = Path(__file__).resolve().parents[1]
APP = ANDROID / "app/src/main"
DECODER = ANDROID / "decoder/src/main/java"
BUILD = ANDROID / "build"
DEPS = BUILD / "deps"
APK = BUILD / "mln-demo-debug.apk"
MODEL = APP / "assets/mln.tflite"
KEYSTORE = BUILD / "debug.keystore"
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
# the catalog entries the APK needs: AARs contribute classes.jar and jni/, jars go on the classpath
RUNTIME = ("tensorflowlite-core", "tensorflowlite-api", "tensorflowlite-gpu", "tensorflowlite-gpuapi")
TOOLS = {  # command -> the Debian package that brings it
    "java": "default-jdk-headless",
    "javac": "default-jdk-headless",
    "keytool": "default-jdk-headless",
    "mvn": "maven",
    "aapt2": "aapt",
    "zipalign": "zipalign",
    "apksigner": "apksigner",
}
SKIPPED = 3


class BuildError(RuntimeError):
    """A build step failed; the message holds the step and its output."""


@dataclass(frozen=True)
class Artifact:
    """One Maven coordinate of the version catalog."""

    alias: str
    group: str
    name: str
    version: str

    @property
    def packaging(self) -> str:
        return "aar" if self.group == "org.tensorflow" else "jar"

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.version}.{self.packaging}"

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.name}:{self.version}:{self.packaging}"


@dataclass(frozen=True)
class Config:
    """The app's build settings, read from the files Gradle reads."""

    application_id: str
    version_code: int
    version_name: str
    abis: tuple[str, ...]
    min_sdk: int
    target_sdk: int
    artifacts: dict[str, Artifact]

    @classmethod
    def load(cls, android: Path = ANDROID) -> Config:
        """gradle/libs.versions.toml and gradle.properties of ``android``."""
        catalog = tomllib.loads((android / "gradle/libs.versions.toml").read_text())
        versions = catalog["versions"]
        artifacts = {}
        for alias, lib in catalog["libraries"].items():
            group, name = lib["module"].split(":")
            artifacts[alias] = Artifact(alias, group, name, versions[lib["version"]["ref"]])
        props = {}
        for line in (android / "gradle.properties").read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                props[key.strip()] = value.strip()
        return cls(
            props["mln.applicationId"],
            int(props["mln.versionCode"]),
            props["mln.versionName"],
            tuple(props["mln.abis"].split(",")),
            int(versions["minSdk"]),
            int(versions["targetSdk"]),
            artifacts,
        )


def missing_tools() -> str | None:
    """None when every tool is here, else one line saying what to install."""
    missing = sorted(t for t in TOOLS if shutil.which(t) is None)
    packages = sorted({TOOLS[t] for t in missing})
    if not FRAMEWORK_RES.is_file():
        missing.append(str(FRAMEWORK_RES))
        packages.append("android-framework-res")
    if not missing:
        return None
    return f"missing {', '.join(missing)}: apt-get install {' '.join(packages)}"


def run(step: str, cmd: list[str], cwd: Path | None = None) -> str:
    """Run one tool; a failure raises BuildError with its output."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"{step} failed (exit {proc.returncode}): {' '.join(cmd[:3])} ...\n{tail}")
    return proc.stdout


def fetch(artifacts: list[Artifact], dest: Path = DEPS) -> dict[str, Path]:
    """Each artifact from Maven Central by ``mvn dependency:copy`` (pinned, once) -> its file."""
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for a in artifacts:
        path = dest / a.file_name
        if not path.is_file():
            print(f"fetching {a.coordinate}", flush=True)
            run(
                f"mvn fetch of {a.coordinate}",
                [
                    "mvn",
                    "-B",
                    "-q",
                    "dependency:copy",
                    f"-Dartifact={a.coordinate}",
                    f"-DoutputDirectory={dest}",
                    "-Dtransitive=false",
                ],
            )
        out[a.alias] = path
    return out


def _add(z: zipfile.ZipFile, src: Path, name: str) -> None:
    """One deflated entry with a fixed time stamp (aapt2's own entries have one too): same inputs, same APK."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, src.read_bytes())


def inputs(model: Path = MODEL) -> list[Path]:
    """Every file the APK is built from (an APK older than one of them is stale)."""
    res = sorted(p for p in (APP / "res").rglob("*") if p.is_file())
    return [
        *java_sources(),
        *res,
        APP / "AndroidManifest.xml",
        ANDROID / "gradle/libs.versions.toml",
        ANDROID / "gradle.properties",
        Path(__file__).resolve(),
        model,
    ]


def merged_manifest(config: Config, source: Path = APP / "AndroidManifest.xml") -> str:
    """The source manifest with the package and versions, as Gradle's manifest merger writes them."""
    text = source.read_text()
    opening = '<manifest xmlns:android="http://schemas.android.com/apk/res/android">'
    if opening not in text:
        raise BuildError(f"{source}: expected the line {opening!r} (package and versions come from the build)")
    return text.replace(
        opening,
        opening[:-1] + f'\n    package="{config.application_id}"'
        f'\n    android:versionCode="{config.version_code}"'
        f'\n    android:versionName="{config.version_name}">',
    )


def intermediates_of(apk: Path) -> Path:
    """The folder beside ``apk`` with what it was built from: classes, linked resources, manifest, assets."""
    return apk.parent / f"{apk.stem}-intermediates"


def java_sources() -> list[Path]:
    """The decoder's and the app's sources (the app uses the decoder unchanged)."""
    return sorted(DECODER.rglob("*.java")) + sorted((APP / "java").rglob("*.java"))


def build(out: Path = APK, model: Path = MODEL, config: Config | None = None) -> dict:
    """Build, align and sign the APK at ``out`` (written atomically); returns what went in."""
    config = config or Config.load()
    if not model.is_file():
        raise BuildError(f"no model at {model}: run `make android-model` in the repository root")
    files = fetch(list(config.artifacts[a] for a in (*RUNTIME, "android-all", "dalvik-dx")))
    BUILD.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="apk-", dir=BUILD) as tmp:
        work = Path(tmp)
        # 1. the AARs' classes and native libraries
        jars, jni = [], []
        for alias in RUNTIME:
            unpacked = work / "aar" / alias
            with zipfile.ZipFile(files[alias]) as z:
                z.extractall(unpacked)
            jars.append(unpacked / "classes.jar")
            jni.append(unpacked / "jni")
        # 2. resources, manifest, R.java, the model asset (stored: the interpreter maps it from the APK)
        (work / "AndroidManifest.xml").write_text(merged_manifest(config))
        (work / "assets").mkdir()
        shutil.copyfile(model, work / "assets" / MODEL.name)
        print("aapt2: resources and manifest", flush=True)
        run("aapt2 compile", ["aapt2", "compile", "--dir", str(APP / "res"), "-o", str(work / "res.zip")])
        run(
            "aapt2 link",
            [
                "aapt2",
                "link",
                "-o",
                str(work / "base.apk"),
                "-I",
                str(FRAMEWORK_RES),
                "--manifest",
                str(work / "AndroidManifest.xml"),
                "--java",
                str(work / "gen"),
                "--min-sdk-version",
                str(config.min_sdk),
                "--target-sdk-version",
                str(config.target_sdk),
                "-A",
                str(work / "assets"),
                "-0",
                "tflite",
                # Debian's aapt2 (Android 10) predates <uses-native-library> (API 31, for the GPU
                # delegate's OpenCL): it is kept as written, a warning instead of an error
                "--warn-manifest-validation",
                str(work / "res.zip"),
            ],
        )
        # 3. Java 8 (its java.* API: android-all holds the framework only) against the framework of
        # minSdk: an android.* API newer than minSdk is a compile error here
        sources = java_sources() + sorted((work / "gen").rglob("*.java"))
        print(
            f"javac: {len(sources)} sources against android-all {config.artifacts['android-all'].version}", flush=True
        )
        run(
            "javac",
            [
                "javac",
                "--release",
                "8",
                "-cp",
                os.pathsep.join(map(str, [files["android-all"], *jars])),
                "-encoding",
                "UTF-8",
                "-Xlint:all,-options",
                "-Werror",
                "-d",
                str(work / "classes"),
                *map(str, sources),
            ],
        )
        # 4. dex
        print("dx: classes.dex", flush=True)
        run(
            "dx",
            [
                "java",
                "-cp",
                str(files["dalvik-dx"]),
                "com.android.dx.command.Main",
                "--dex",
                f"--min-sdk-version={config.min_sdk}",
                f"--output={work / 'classes.dex'}",
                str(work / "classes"),
                *map(str, jars),
            ],
        )
        # 5. native libraries, align, sign
        unsigned = work / "unsigned.apk"
        shutil.copyfile(work / "base.apk", unsigned)
        libs = []
        with zipfile.ZipFile(unsigned, "a", zipfile.ZIP_DEFLATED) as z:
            _add(z, work / "classes.dex", "classes.dex")
            for abi in config.abis:
                found = sorted(p for d in jni for p in (d / abi).glob("*.so"))
                if not found:
                    raise BuildError(
                        f"no native libraries for ABI {abi} in the TFLite AARs (gradle.properties mln.abis)"
                    )
                for so in found:
                    _add(z, so, f"lib/{abi}/{so.name}")
                    libs.append(f"lib/{abi}/{so.name}")
        aligned = work / "aligned.apk"
        run("zipalign", ["zipalign", "-p", "-f", "4", str(unsigned), str(aligned)])
        if not KEYSTORE.is_file():
            run(
                "keytool",
                [
                    "keytool",
                    "-genkeypair",
                    "-keystore",
                    str(KEYSTORE),
                    "-storepass",
                    "android",
                    "-keypass",
                    "android",
                    "-alias",
                    "androiddebugkey",
                    "-keyalg",
                    "RSA",
                    "-keysize",
                    "2048",
                    "-validity",
                    "10000",
                    "-dname",
                    "CN=Android Debug,O=Android,C=US",
                ],
            )
        signed = work / "signed.apk"
        run(
            "apksigner sign",
            [
                "apksigner",
                "sign",
                "--ks",
                str(KEYSTORE),
                "--ks-pass",
                "pass:android",
                "--key-pass",
                "pass:android",
                "--ks-key-alias",
                "androiddebugkey",
                "--min-sdk-version",
                str(config.min_sdk),
                "--out",
                str(signed),
                str(aligned),
            ],
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(signed, out)
        # what the JVM tests of the app (Robolectric) load: its classes, resources, manifest, assets
        kept = intermediates_of(out)
        shutil.rmtree(kept, ignore_errors=True)
        kept.mkdir()
        shutil.copytree(work / "classes", kept / "classes")
        shutil.copytree(work / "assets", kept / "assets")
        shutil.copyfile(work / "base.apk", kept / "resources.ap_")
        shutil.copyfile(work / "AndroidManifest.xml", kept / "AndroidManifest.xml")
    return {
        "apk": out,
        "intermediates": kept,
        "bytes": out.stat().st_size,
        "sources": len(java_sources()),
        "libs": libs,
        "artifacts": [config.artifacts[a].coordinate for a in (*RUNTIME, "android-all", "dalvik-dx")],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = APK.relative_to(ANDROID.parent)
    parser.add_argument("--out", type=Path, default=APK, help=f"the APK to write (default {default})")
    parser.add_argument("--model", type=Path, default=MODEL, help="the .tflite asset (default: make android-model's)")
    args = parser.parse_args(argv)
    why = missing_tools()
    if why:
        print(f"SKIPPED android-apk: {why}")
        return SKIPPED
    try:
        built = build(args.out.resolve(), args.model.resolve())
    except BuildError as exc:
        print(f"android-apk: {exc}", file=sys.stderr)
        return 1
    print(
        f"built {built['apk']} ({built['bytes'] / 1e6:.1f} MB): {built['sources']} Java sources, "
        f"{len(built['libs'])} native libraries, asset {args.model.name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
