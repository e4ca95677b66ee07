"""The Android app, built for real: the signed debug APK of `make android-apk` and what is in it.

The APK is built without Gradle (``android_demo/tools/build_apk.py``) from the same sources and
versions as the Gradle build; the tests check it as a phone's package installer would
(signature, manifest) and what the app needs at run time (every class dexed, the native
libraries of each ABI, the model asset uncompressed and equal to the exported model), that the
sources compile only against the framework API of minSdk, that the GPU classes link against the
GPU API from Maven Central, and that the golden frames of the JVM frame-path test are what
LiteRT computes on the shipped asset. Without the tools (Java, mvn, aapt2, ...) they report
SKIPPED with what to install; ``.ci/run`` installs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from android_demo.tools import build_apk, robolectric_test, write_frame_golden
from mln_tf.export.compare import match_people
from mln_tf.grouping import Poses
from mln_tf.inference import postprocess, preprocess
from mln_tf.operating_points import camera_default
from mln_tf.runners import load_runner

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
ELF_MACHINE = {"arm64-v8a": 183, "armeabi-v7a": 40, "x86_64": 62, "x86": 3}


def _tool_or_skip() -> None:
    why = build_apk.missing_tools()
    if why:
        pytest.skip(f"android-apk: {why}")


@pytest.fixture(scope="module")
def config() -> build_apk.Config:
    return build_apk.Config.load()


@pytest.fixture(scope="module")
def model() -> Path:
    """The APK's asset: `make android-model`'s file (made here when missing)."""
    _tool_or_skip()
    if not build_apk.MODEL.is_file():
        subprocess.run(["make", "--no-print-directory", "android-model"], cwd=ROOT, check=True)
    return build_apk.MODEL


@pytest.fixture(scope="module")
def apk(model, tmp_path_factory) -> Path:
    """`make android-apk`'s APK when it is newer than every input, else one built now."""
    made = build_apk.APK
    if made.is_file() and all(p.stat().st_mtime <= made.stat().st_mtime for p in build_apk.inputs(model)):
        return made
    return build_apk.build(tmp_path_factory.mktemp("apk") / "mln-demo-debug.apk", model)["apk"]


def _dex_classes(apk: Path) -> set[str]:
    out = subprocess.run(["dexdump", str(apk)], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"Class descriptor\s*:\s*'L([^;]+);'", out))


def test_apk_is_signed_and_its_manifest_is_the_apps(apk, config):
    verify = subprocess.run(
        ["apksigner", "verify", "--verbose", "--min-sdk-version", str(config.min_sdk), str(apk)],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Verifies" in verify.stdout
    assert re.search(r"v2 scheme \(APK Signature Scheme v2\): true", verify.stdout), verify.stdout
    badging = subprocess.run(["aapt2", "dump", "badging", str(apk)], capture_output=True, text=True).stdout
    assert f"package: name='{config.application_id}' versionCode='{config.version_code}'" in badging
    assert f"sdkVersion:'{config.min_sdk}'" in badging
    assert f"targetSdkVersion:'{config.target_sdk}'" in badging
    assert "uses-permission: name='android.permission.CAMERA'" in badging
    assert f"launchable-activity: name='{config.application_id}.MainActivity'" in badging
    assert "uses-feature: name='android.hardware.camera.any'" in badging
    # no androidx anywhere: the framework alone
    assert not any(c.startswith("androidx/") for c in _dex_classes(apk))


def test_dex_holds_every_class_of_the_app_the_decoder_and_tflite(apk):
    classes = _dex_classes(apk)
    for source in build_apk.java_sources():
        package = re.search(r"^package ([\w.]+);", source.read_text(), re.M).group(1)
        name = f"{package.replace('.', '/')}/{source.stem}"
        assert name in classes, f"{name} ({source.relative_to(ROOT)}) is not in classes.dex"
    for name in (
        "org/mlntf/demo/R",
        "org/mlntf/demo/R$layout",
        "org/mlntf/decoder/FramePipeline$Result",
        "org/tensorflow/lite/Interpreter",
        "org/tensorflow/lite/gpu/GpuDelegate",
        "org/tensorflow/lite/gpu/CompatibilityList",
        "org/tensorflow/lite/gpu/GpuDelegateFactory$Options",
    ):
        assert name in classes, f"{name} is not in classes.dex"


def test_native_libraries_for_each_abi_are_of_that_cpu(apk, config):
    with zipfile.ZipFile(apk) as z:
        names = set(z.namelist())
        for abi in config.abis:
            for lib in ("libtensorflowlite_jni.so", "libtensorflowlite_gpu_jni.so"):
                entry = f"lib/{abi}/{lib}"
                assert entry in names, f"{entry} missing"
                header = z.read(entry)[:20]
                assert header[:4] == b"\x7fELF", entry
                machine = int.from_bytes(header[18:20], "little")
                assert machine == ELF_MACHINE[abi], f"{entry}: ELF machine {machine}, not {abi}'s"
        assert {n.split("/")[1] for n in names if n.startswith("lib/")} == set(config.abis)


def test_model_asset_is_the_exported_model_stored_and_aligned(apk, model, tmp_path):
    with zipfile.ZipFile(apk) as z:
        info = z.getinfo("assets/mln.tflite")
        assert info.compress_type == zipfile.ZIP_STORED, "the interpreter maps the model from the APK: store it"
        assert z.read(info) == model.read_bytes()
    aligned = subprocess.run(["zipalign", "-c", "-p", "4", str(apk)], capture_output=True, text=True)
    assert aligned.returncode == 0, aligned.stdout + aligned.stderr
    # the asset is what `make android-model` exports from the current code (the export is deterministic)
    fresh = tmp_path / "fresh.tflite"
    subprocess.run(
        ["make", "--no-print-directory", "android-model", f"ANDROID_MODEL={fresh}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert fresh.read_bytes() == model.read_bytes(), "the asset is stale: run `make android-model`"
    runner = load_runner(model)
    camera = camera_default()  # the phone runs at the camera's operating point
    assert runner.input_hw == camera.input_hw
    makefile = (ROOT / "Makefile").read_text()
    assert f"ANDROID_SPEED ?= {camera.name}\n" in makefile, "make android-model exports another point than the camera's"


def test_sources_compile_only_against_the_framework_of_min_sdk(apk, config, tmp_path):
    """The build compiles against android-all of minSdk; an API added later fails there (the check bites)."""
    assert config.min_sdk == 24 and config.artifacts["android-all"].version.startswith("7.0.0")
    src = tmp_path / "Newer.java"
    src.write_text(  # NotificationChannel is API 26
        'class Newer { Object f() { return new android.app.NotificationChannel("a", "b", 3); } }\n'
    )
    jar = build_apk.DEPS / config.artifacts["android-all"].file_name
    proc = subprocess.run(
        ["javac", "--release", "8", "-cp", str(jar), "-d", str(tmp_path), str(src)], capture_output=True, text=True
    )
    assert proc.returncode != 0 and "NotificationChannel" in proc.stderr, proc.stderr


def _members(jar: Path, cls: str) -> set[str]:
    out = subprocess.run(["javap", "-p", "-s", "-cp", str(jar), cls], capture_output=True, text=True, check=True).stdout
    names = re.findall(r"[ (]([\w$<>]+)\([^)]*\)[^;]*;\n\s*descriptor: (\S+)", out)
    return {f"{n}:{d}" for n, d in names} | {"<init>:" + d for d in re.findall(r"\n\s*descriptor: (\(\S*\)V)", out)}


def test_gpu_classes_link_against_the_gpu_api_from_maven_central(apk, config, tmp_path):
    """tensorflow-lite-gpu 2.16.1 calls into GpuDelegateFactory.Options of tensorflow-lite-gpu-api 2.14.0."""
    jars = {}
    for alias in ("tensorflowlite-gpu", "tensorflowlite-gpuapi"):
        with zipfile.ZipFile(build_apk.DEPS / config.artifacts[alias].file_name) as z:
            jars[alias] = tmp_path / f"{alias}.jar"
            jars[alias].write_bytes(z.read("classes.jar"))
    with zipfile.ZipFile(jars["tensorflowlite-gpu"]) as z:
        classes = [n[:-6].replace("/", ".") for n in z.namelist() if n.endswith(".class")]
    code = subprocess.run(
        ["javap", "-c", "-p", "-cp", os.pathsep.join(map(str, jars.values())), *classes],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    used = set(re.findall(r"Method (org/tensorflow/lite/gpu/GpuDelegateFactory[\w$]*)\.([\w<>\"]+):(\S+)", code))
    assert used, "tensorflow-lite-gpu no longer uses GpuDelegateFactory: revisit tensorflowLiteGpuApi"
    for owner, name, desc in sorted(used):
        members = _members(jars["tensorflowlite-gpuapi"], owner.replace("/", "."))
        assert f"{name.strip(chr(34))}:{desc}" in members, f"{owner}.{name}{desc} is not in the GPU API jar"


def test_golden_frames_are_what_litert_finds_on_the_shipped_model(model):
    """The JVM frame-path test replays maps; here LiteRT runs the asset on the same frames again."""
    folder = ROOT / "android_demo/decoder/src/test/resources/frames"
    index = json.loads((folder / "frames.json").read_text())
    runner = load_runner(model, threads=2)
    assert list(runner.input_hw) == index["input_hw"]
    with np.load(folder / "frames.npz") as arrays:
        for seq in index["sequences"]:
            h, w = seq["sensor_hw"]
            for frame in seq["frames"]:
                key = frame["key"]
                planes = {p: arrays[f"{key}_{p}"] for p in ("y", "u", "v")}
                planes.update(y_row=seq["y_row"], uv_row=seq["uv_row"], uv_pixel=seq["uv_pixel"])
                rgb = write_frame_golden.upright(
                    write_frame_golden.yuv_to_rgb(planes, h, w), seq["rotation"], seq["mirror"]
                )
                x, transform = preprocess(rgb, input_hw=runner.input_hw)
                heatmaps, pafs = runner(x)
                poses = postprocess(heatmaps[0], pafs[0], transform)
                golden = Poses(arrays[f"{key}_raw_keypoints"], arrays[f"{key}_scores"])
                assert len(poses) == frame["people"] == len(golden) > 0, key
                pairs = match_people(golden, poses)
                assert len(pairs) == len(golden), f"{key}: LiteRT now finds other people than the golden frame"
                assert min(oks for _, _, oks in pairs) > 0.95, f"{key}: {pairs}"


def test_the_activity_on_robolectric_draws_the_people_of_replayed_camera_frames(apk):
    """The app's Activity on the framework of targetSdk (Robolectric) with the APK's own resources."""
    out = robolectric_test.run_tests(apk)
    assert "OK (3 tests)" in out, out
    drawn = re.search(r"robolectric: (\d+) replayed frames, (\d+) drawn points", out)
    assert drawn and int(drawn.group(1)) >= 2 and int(drawn.group(2)) >= 20, out
    print(drawn.group(0))


def test_missing_tools_and_model_are_one_line(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no java, mvn, aapt2 ...
    proc = subprocess.run(
        [sys.executable, str(ROOT / "android_demo/tools/build_apk.py")], capture_output=True, text=True, env=env
    )
    assert proc.returncode == build_apk.SKIPPED
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("SKIPPED android-apk: missing ") and "apt-get install" in lines[0]
    assert "aapt" in lines[0] and "maven" in lines[0]
    if shutil.which("aapt2"):
        with pytest.raises(build_apk.BuildError, match="make android-model"):
            build_apk.build(tmp_path / "x.apk", tmp_path / "missing.tflite")
