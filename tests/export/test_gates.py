"""``mln-pose check tflite``'s default limits: good exports pass, broken ones fail.

The shipped network's fp32 / fp16 / int8 files at a small input (exported.py, shared with the
quantization tests) pass against the Keras reference on the bundled val images, on this CPU and
with the reference's oneDNN kernels held to AVX2 (``ONEDNN_MAX_CPU_ISA``: what an AVX2-only CPU
computes; LiteRT's XNNPACK kernels cannot be forced, docs/export.md). Three broken exports fail:
an int8 file without the recipe (collapsed), weights perturbed until people are lost, and a
model fed pixel/255 instead of pixel/256 - 0.5.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from exported import Q_HW
from helpers import VAL
from mln_tf.bundled import PRETRAINED_DIR
from mln_tf.cli import check_tflite as check_cli
from mln_tf.estimator import Estimator
from mln_tf.export import compare, tflite
from mln_tf.export.compare import Thresholds
from mln_tf.runners import keras_runner, load_runner

VAL_JSON = VAL / "person_keypoints.json"
REFERENCE = PRETRAINED_DIR / "tfpose_mobilenet_thin.keras"
GOOD = ("fp32", "fp16", "int8")


def _check(path, reference) -> compare.Report:
    """The check's report of ``path`` against the Keras ``reference`` on the val images."""
    images = sorted(VAL.glob("*.jpg"))
    return compare.compare(Estimator(load_runner(path)), keras_runner(reference), images, VAL_JSON, progress=False)


def _verdict(report: compare.Report) -> list[str]:
    return report.verdict(Thresholds.for_precision(report.precision))


@pytest.fixture(scope="module")
def good_reports(pretrained, quantized):
    """{mode: Report} of the good files, reference on this machine's own ISA."""
    return {mode: _check(quantized[mode].path, pretrained) for mode in GOOD}


@pytest.mark.slow
def test_good_exports_pass_on_this_cpu(good_reports):
    for mode, report in good_reports.items():
        assert report.precision == mode
        assert report.people[0] >= 8, f"{mode}: the reference finds {report.people[0]} people: proves nothing"
        assert _verdict(report) == [], (mode, _verdict(report))
        assert report.heatmap_error is not None and report.p999_map_error == report.p999_map_error  # measured


@pytest.mark.slow
def test_good_exports_pass_with_the_reference_on_avx2(quantized, tmp_path):
    """``mln-pose check tflite`` in a child process whose TensorFlow runs AVX2 kernels only."""
    out = {mode: tmp_path / f"{mode}.json" for mode in GOOD}
    script = (
        "import sys\nfrom mln_tf.cli import check_tflite\ncodes = []\n"
        + "".join(
            f"codes.append(check_tflite.main([{str(quantized[mode].path)!r}, '--reference', {str(REFERENCE)!r}, "
            f"'--images', {str(VAL)!r}, '--annotations', {str(VAL_JSON)!r}, '--quiet', '--out', {str(out[mode])!r}]))\n"
            for mode in GOOD
        )
        + "sys.exit(max(codes))\n"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ONEDNN_VERBOSE": "0"}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    failed = {mode: json.loads(out[mode].read_text())["failed"] for mode in GOOD if out[mode].is_file()}
    assert run.returncode == 0 and failed == {mode: [] for mode in GOOD}, (
        failed,
        run.stdout[-3000:],
        run.stderr[-2000:],
    )


def _collapsed_int8(pretrained, calibration, folder):
    """Plain integer conversion (no equalisation, no float layers): AP 0 on the full network."""
    options = tflite.Int8Options(equalize=False, bias_correction=False, float_layers=())
    return tflite.export_tflite(
        pretrained, folder / "collapsed.tflite", "int8", Q_HW, calibration[:4], progress=False, int8=options
    ).path


def _perturbed_fp16(pretrained, folder):
    """Every kernel moved by noise of 25% of its own spread: an fp16 file that loses people."""
    rng = np.random.default_rng(0)
    broken = keras.models.clone_model(pretrained)
    broken.set_weights(
        [
            w + rng.normal(0, 0.25 * (w.std() or 1), w.shape).astype(w.dtype) if w.ndim == 4 else w
            for w in pretrained.get_weights()
        ]
    )
    return tflite.export_tflite(broken, folder / "perturbed.tflite", "fp16", Q_HW, progress=False).path


def _wrong_input_fp32(pretrained, folder):
    """An fp32 file whose network sees pixel/255 where it was trained on pixel/256 - 0.5."""
    x = keras.Input((*Q_HW, 3), name="image")
    pixels01 = keras.layers.Rescaling(256 / 255, offset=128 / 255)(x)  # (p/256 - 0.5) -> p/255
    maps = pretrained(pixels01)
    heatmaps, pafs = (maps["heatmaps"], maps["pafs"]) if isinstance(maps, dict) else maps
    wrapped = keras.Model(
        x,
        {
            "heatmaps": keras.layers.Activation("linear", name="heatmaps")(heatmaps),
            "pafs": keras.layers.Activation("linear", name="pafs")(pafs),
        },
    )
    return tflite.export_tflite(wrapped, folder / "wrong_input.tflite", "fp32", Q_HW, progress=False).path


@pytest.fixture(scope="module")
def broken(pretrained, calibration, tmp_path_factory):
    """{name: path} of the three broken exports, made once for both CPU kinds' checks."""
    folder = tmp_path_factory.mktemp("broken")
    return {
        "collapsed int8": _collapsed_int8(pretrained, calibration, folder),
        "perturbed fp16": _perturbed_fp16(pretrained, folder),
        "wrong input fp32": _wrong_input_fp32(pretrained, folder),
    }


@pytest.mark.slow
def test_collapsed_int8_fails(pretrained, broken):
    report = _check(broken["collapsed int8"], pretrained)
    failed = _verdict(report)
    assert report.precision == "int8" and any("people agreement" in f or "finds" in f for f in failed), failed
    assert any("heatmap error" in f for f in failed), (failed, report.heatmap_error)
    path = broken["collapsed int8"]
    code = check_cli.main([str(path), "--reference", str(REFERENCE), "--images", str(VAL), "--quiet"])
    assert code == 1


@pytest.mark.slow
def test_perturbed_weights_fail(pretrained, broken):
    report = _check(broken["perturbed fp16"], pretrained)
    failed = _verdict(report)
    assert report.precision == "fp16" and report.agreement < 0.95, (report.agreement, failed)
    assert any("people agreement" in f for f in failed) and any("p99.9 map error" in f for f in failed), failed


@pytest.mark.slow
def test_wrong_input_normalisation_fails(pretrained, broken):
    report = _check(broken["wrong input fp32"], pretrained)
    failed = _verdict(report)
    assert report.precision == "fp32" and any("p99.9 map error" in f for f in failed), failed
    assert any("heatmap error" in f for f in failed), failed


@pytest.mark.slow
def test_broken_exports_fail_with_the_reference_on_avx2(broken, tmp_path):
    """The same three files through ``mln-pose check tflite`` in a child whose TensorFlow runs AVX2 kernels only."""
    out = {name: tmp_path / f"{i}.json" for i, name in enumerate(broken)}
    script = (
        "import sys\nfrom mln_tf.cli import check_tflite\ncodes = []\n"
        + "".join(
            f"codes.append(check_tflite.main([{str(path)!r}, '--reference', {str(REFERENCE)!r}, "
            f"'--images', {str(VAL)!r}, '--quiet', '--out', {str(out[name])!r}]))\n"
            for name, path in broken.items()
        )
        + "print(codes)\n"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ONEDNN_VERBOSE": "0"}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and run.stdout.strip().splitlines()[-1] == "[1, 1, 1]", (run.stdout, run.stderr[-2000:])
    for name in broken:
        assert json.loads(out[name].read_text())["failed"], name


def test_limits_are_validated_and_only_stable_statistics_are_checked_by_default():
    for precision in ("fp32", "fp16", "dynamic", "int8"):
        limits = Thresholds.for_precision(precision)
        assert limits.max_map_error is None and limits.max_heatmap_error is not None, precision
    with pytest.raises(ValueError, match="max_p999_error"):
        Thresholds(None, 0.9, 0.9, 0.01, max_p999_error=-1.0)
    with pytest.raises(ValueError, match="min_oks"):
        Thresholds(None, 0.9, 1.5, 0.01)
    # one pixel far off, the rest exact: the max moves, the p99.9 does not
    ref = (
        np.zeros((1, 28, 36, 19), np.float32),
        np.linspace(-1, 1, 28 * 36 * 38, dtype=np.float32).reshape(1, 28, 36, 38),
    )
    hot = (ref[0].copy(), ref[1].copy())
    hot[0][0, 3, 4, 5] = 0.5
    assert compare.map_difference(ref, hot)[0] == 0.5 and compare.map_percentile(ref, hot) == 0.0
    shifted = (ref[0] + 0.01, ref[1])
    assert compare.map_percentile(ref, shifted) == pytest.approx(0.01 / 2, rel=1e-3)  # PAFs span 2
