"""TFLite export for phones: ``mln-pose export tflite MODEL OUT.tflite --mode MODE``.

Modes (all keep float32 input and outputs, so every .tflite takes the same
``mln_tf.inference.preprocess`` output and gives maps for the same ``postprocess``):

* ``fp32``    float32 weights and math (reference, largest).
* ``fp16``    float16 weights, dequantized to float32 at load (half the size; GPU-friendly).
* ``dynamic`` int8 weights, float activations (a quarter of the size).
* ``int8``    full integer: weights and activations int8, activation ranges calibrated on
              ``--calibration`` images (real photos through ``preprocess``, ~100 of them).
* ``qat``     quantization-aware fine-tuning (tfmot, ``--qat-steps`` steps, in a separate
              ``tf_keras`` process) then full-integer conversion: self-distillation on the
              ``--calibration`` photos (the float model's own maps are the targets; no labels),
              or labelled on ``--train-json``/``--train-images`` (or ``--qat-data``).

int8 and qat models are compared with the float model on the calibration photos (people
found, matched, mean OKS, map error); when the int8 model finds nobody, or its OKS-weighted
people agreement is below ``--min-agreement``, nothing is written and the exit status is 1,
unless ``--force``. int8 first equalises activation ranges across layers (``mln_tf/export/equalize.py``,
exact in float), measures every activation range in float64 and clips the inner ones by MSE
(``mln_tf/export/ranges.py``), and keeps in float the few layers that cannot take 8 bits
(``--float-layers``: by default the branch of the first and the last stage whose quantization
gives the largest heatmap error, else found by a search; ``mln_tf/export/int8.py``). Every statistic
that decides the file is computed so that the same model, images and flags give the same
.tflite, byte for byte, on Intel (AVX-512) and AMD (AVX2) CPUs.

The input size is fixed (``--input``, default 368x432 as in the paper; e.g. 256x320 for
phones). A ``mixed_float16`` model is rebuilt in float32 first. The signature is
``serving_default``: input ``image`` float32 (1, H, W, 3) = pixel/256 - 0.5, outputs
``heatmaps`` (1, H/8, W/8, 19) and ``pafs`` (1, H/8, W/8, 38); run it with
``mln_tf.runners.load_runner``. A model that needs Flex (TF Select) or custom ops is refused
unless ``--allow-flex-ops``. The file is written atomically; a summary with the size, the
per-op table and the map error against the Keras model on one input is printed at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)

MODES = ("fp32", "fp16", "dynamic", "int8", "qat")
DEFAULT_INPUT = "368x432"
DEFAULT_CALIBRATION_IMAGES = 100
MIN_CALIBRATION_IMAGES = 4  # fewer give activation ranges of a few scenes; the CLI refuses them
from mln_tf.export.compare import agreement as compare_agreement  # noqa: E402
from mln_tf.export.compare import map_difference  # noqa: E402
from mln_tf.export.int8 import DEFAULT_TARGET  # noqa: E402


@dataclass(frozen=True)
class Exported:
    """What :func:`export_tflite` wrote."""

    path: Path
    mode: str
    input_hw: tuple[int, int]
    size_bytes: int
    ops: list  # export.tflite_ops.OpInfo
    seconds: float
    agreement: Any = None  # mln_tf.export.compare.Report vs the float model on the calibration images (int8/qat)
    float_layers: tuple[str, ...] = ()  # int8: layers kept in float
    worst_layers: tuple = ()  # int8: mln_tf.export.int8.LayerError, the layers adding the most error
    baseline: Any = None  # qat: the post-training int8 model's Agreement, the result QAT has to beat


def calibration_inputs(
    folder: str | Path, input_hw: tuple[int, int], count: int = DEFAULT_CALIBRATION_IMAGES, progress: bool = True
) -> list[np.ndarray]:
    """Up to ``count`` real images of ``folder`` through ``preprocess`` at ``input_hw``, (1, H, W, 3) each.

    Unreadable files are skipped with a warning naming them; none readable is an error.
    """
    from tqdm import tqdm

    from mln_tf.files import collect_files
    from mln_tf.inference import preprocess, read_image

    if count < 1:
        raise ValueError(f"calibration image count must be >= 1, got {count}")
    inputs, skipped = [], []
    files = collect_files([folder])
    for path in tqdm(files[:count], desc="calibration images", unit="img", disable=not progress):
        try:
            image = read_image(path)
        except ValueError as exc:
            skipped.append(str(exc))
            continue
        inputs.append(preprocess(image, input_hw=input_hw)[0][None])
    for reason in skipped:
        log.warning("skipping calibration image: %s", reason)
    if not inputs:
        raise ValueError(f"none of the {len(files[:count])} calibration images in {folder} could be read")
    return inputs


@dataclass(frozen=True)
class Int8Options:
    """How ``--mode int8`` quantizes: equalisation, float layers ('stages' rule, 'auto' search), search limits."""

    equalize: bool = True
    bias_correction: bool = True
    float_layers: tuple[str, ...] | str = "stages"
    max_float: int = 12
    target: float = DEFAULT_TARGET  # 'auto': heatmap error at which the search stops (mln_tf.export.int8.heatmap_error)


def convert(
    model: Any,
    mode: str,
    input_hw: tuple[int, int],
    calibration: Sequence[np.ndarray] | None = None,
    allow_flex_ops: bool = False,
    progress: bool = True,
    int8: Int8Options | None = None,
) -> bytes:
    """Convert a Keras pose model to .tflite bytes in ``mode`` (not 'qat': see :func:`export_tflite`).

    The model is rebuilt in float32 if needed and exported through a fixed-size SavedModel
    whose signature takes normalised input, so the .tflite has named outputs. For int8, see
    :func:`convert_int8`.
    """
    import tensorflow as tf

    from mln_tf.export.models import check_pose_model, float32_model, with_input_size
    from mln_tf.export.saved_model import write_archive
    from mln_tf.model import check_input_hw

    if mode not in MODES or mode == "qat":
        raise ValueError(f"convert() modes are fp32, fp16, dynamic, int8; got {mode!r}")
    input_hw = check_input_hw(input_hw)
    check_pose_model(model)
    if mode == "int8":
        return convert_int8(model, input_hw, calibration, progress, int8).data
    model = with_input_size(float32_model(model), input_hw)
    with tempfile.TemporaryDirectory(prefix="mln_tflite_") as tmp:
        saved = write_archive(model, Path(tmp) / "saved_model", input_hw, batch=1, pixels="normalized")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["serving_default"])
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if mode != "fp32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        if allow_flex_ops:
            ops = ops + [tf.lite.OpsSet.SELECT_TF_OPS]
            converter.allow_custom_ops = True
        converter.target_spec.supported_ops = ops
        try:
            with warnings.catch_warnings():
                # The calibrator uses tf.lite.Interpreter internally and warns about it.
                warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
                from mln_tf.console import filtered_stderr

                with filtered_stderr():  # the converter's native log lines
                    return converter.convert()
        except Exception as exc:  # ConverterError lives in a private module
            raise ValueError(_conversion_error(exc, mode)) from None


@dataclass(frozen=True)
class Int8Conversion:
    """What the int8 conversion made, handed along so that nothing is computed twice."""

    data: bytes  # the .tflite
    start: Any  # the equalised float model, before bias correction: where QAT starts
    samples: list  # the calibration inputs, (1, H, W, 3) float32 each
    reference: list  # the float model's maps on them (float64_maps): what every comparison uses
    result: Any  # mln_tf.export.int8.Int8Result: float layers, agreement, worst layers


def convert_int8(
    model: Any,
    input_hw: tuple[int, int],
    calibration: Sequence[np.ndarray] | None,
    progress: bool = True,
    int8: Int8Options | None = None,
) -> Int8Conversion:
    """Full-integer conversion: equalise, measure ranges, choose the float layers, bias-correct, quantize."""
    from mln_tf.export.models import check_pose_model, float32_model, with_input_size
    from mln_tf.model import check_input_hw

    input_hw = check_input_hw(input_hw)
    check_pose_model(model)
    if not calibration:
        raise ValueError(
            "int8 needs calibration images (--calibration FOLDER): activation ranges are measured on real photos"
        )
    model = with_input_size(float32_model(model), input_hw)
    int8 = int8 or Int8Options()
    samples = [np.asarray(x, np.float32) for x in calibration]
    for x in samples:
        if x.shape != (1, *input_hw, 3):
            raise ValueError(
                f"calibration input has shape {x.shape}, expected (1, {input_hw[0]}, "
                f"{input_hw[1]}, 3) (use calibration_inputs)"
            )
    if int8.equalize:
        from mln_tf.export.equalize import equalize

        model, _ = equalize(model, samples)
    reference = float64_maps(model, samples)
    result = _convert_int8(model, samples, reference, input_hw, int8, progress)
    return Int8Conversion(result.data, model, samples, reference, result)


def float64_maps(model: Any, samples: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The float model's (heatmaps, pafs) on each sample, computed in float64 and rounded to float32:
    the reference every int8 decision compares with, the same on every CPU kind."""
    from mln_tf.export.models import float64_model

    net = float64_model(model)
    out = []
    for x in samples:
        maps = net(np.asarray(x, np.float64), training=False)
        out.append((np.asarray(maps["heatmaps"], np.float32), np.asarray(maps["pafs"], np.float32)))
    return out


def _calibrated(
    model: Any, samples: list[np.ndarray], input_hw: tuple[int, int], progress: bool, what: str = "the float model"
) -> bytes:
    """The converter's calibrated float model of ``model`` (see :func:`mln_tf.export.int8.calibrate`), with the
    activation ranges of :func:`mln_tf.export.ranges.measured_ranges` in place of the calibrator's."""
    import tensorflow as tf
    from tqdm import tqdm

    from mln_tf.export.int8 import _layer_of, calibrate
    from mln_tf.export.ranges import apply_ranges, measured_ranges
    from mln_tf.export.saved_model import write_archive

    with tempfile.TemporaryDirectory(prefix="mln_tflite_") as tmp:
        saved = write_archive(model, Path(tmp) / "saved_model", input_hw, batch=1, pixels="normalized")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["serving_default"])
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
                calibrated = calibrate(converter, samples)
        except Exception as exc:  # ConverterError lives in a private module
            raise ValueError(_conversion_error(exc, "int8")) from None
    known = {layer.name for layer in model.layers}
    ranges = measured_ranges(
        model, list(tqdm(samples, desc="activation ranges", unit="img", disable=not progress)), what
    )
    return apply_ranges(calibrated, ranges, lambda name: _layer_of(name, known))


def _convert_int8(
    model: Any,
    samples: list[np.ndarray],
    reference: list,
    input_hw: tuple[int, int],
    options: Int8Options,
    progress: bool,
):
    """Calibrate, choose the float layers (or take them), then bias-correct the int8 layers and quantize.

    Bias correction is for 8-bit weights only, so it is applied once the float layers are known
    (a float layer with a corrected bias would be off by the shift it no longer has); the
    corrected model is calibrated again and kept if it agrees better with float.
    """
    import re

    import keras

    from mln_tf.export.equalize import correct_bias, final_outputs_model
    from mln_tf.export.int8 import quantize_model

    say = log.info  # the search is slow: say what it does (mln_tf.console.setup_logging shows it)
    names = [l.name for l in model.layers]
    result = quantize_model(
        _calibrated(model, samples, input_hw, progress),
        samples,
        reference,
        input_hw,
        options.float_layers,
        options.max_float,
        options.target,
        layer_names=names,
        progress=say,
    )
    if options.bias_correction:
        source = final_outputs_model(model)
        corrected = keras.models.clone_model(source)
        corrected.set_weights(source.get_weights())
        correct_bias(corrected, samples, skip=result.float_layers)
        say("bias correction of the int8 layers:")
        fixed = quantize_model(
            _calibrated(corrected, samples, input_hw, progress, "the bias-corrected model"),
            samples,
            reference,
            input_hw,
            [re.escape(l) for l in result.float_layers],
            layer_names=names,
            progress=say,
        )
        fixed.history = result.history + fixed.history
        if fixed.agreement.heatmap_error <= result.agreement.heatmap_error:
            result = fixed
        else:
            say(
                f"bias correction did not help here (heatmap error {fixed.agreement.heatmap_error:.4f} vs "
                f"{result.agreement.heatmap_error:.4f}): the model without it is kept"
            )
    return result


def _conversion_error(exc: Exception, mode: str) -> str:
    """The useful lines of a converter failure (which ops are missing), not its MLIR dump."""
    text = str(exc)
    found = [
        line.strip()
        for line in text.splitlines()
        if line.strip().startswith(("TF Select ops:", "Custom ops:", "Flex ops:"))
    ]
    if found:
        return (
            f"{mode} conversion needs ops outside the TFLite builtins ({'; '.join(dict.fromkeys(found))}): "
            "TF Select ops need the Flex delegate on the phone, custom ops your own kernels, and the "
            "GPU delegate runs neither. Change the model, or pass --allow-flex-ops to write it anyway"
        )
    lines = [line for line in text.splitlines() if "error" in line.lower()]
    return f"{mode} conversion failed: {(lines or text.splitlines() or ['?'])[0][:500]}"


def check_ops(data: bytes, allow_flex_ops: bool = False) -> list:
    """The model's ops; a ValueError naming any Flex/custom op unless ``allow_flex_ops``."""
    from mln_tf.export.tflite_ops import read_ops, unsupported_ops

    ops = read_ops(data)
    bad = unsupported_ops(ops)
    if bad and not allow_flex_ops:
        raise ValueError(
            f"the converted model contains Flex/custom ops {', '.join(bad)}, which a stock "
            "LiteRT runtime cannot run; refusing to write it (pass --allow-flex-ops to write it anyway)"
        )
    return ops


def export_tflite(
    model: Any,
    path: str | Path,
    mode: str = "fp32",
    input_hw: tuple[int, int] = (368, 432),
    calibration: Sequence[np.ndarray] | None = None,
    allow_flex_ops: bool = False,
    qat: Any = None,
    progress: bool = True,
    int8: Int8Options | None = None,
    min_agreement: float | None = None,
    check: Sequence[np.ndarray] | None = None,
) -> Exported:
    """Convert and atomically write a .tflite; ``qat`` is an :class:`mln_tf.export.qat.QATConfig` for mode 'qat'.

    For int8/qat with calibration images, the quantized model is compared with the float model
    on them, or on ``check`` inputs when given (people agreement, mean OKS, map error); with
    ``min_agreement`` set, a model below
    it (or one that finds nobody where the float model finds people, or a float model that finds
    nobody, which proves nothing) is a ValueError naming the worst layers, and nothing is written.
    """
    from mln_tf.export.int8 import tflite_maps
    from mln_tf.files import write_bytes_atomic

    start = time.perf_counter()
    agreement = None
    conversion = None
    if mode == "qat":
        from mln_tf.export.qat import run_qat

        if qat is None:
            raise ValueError("mode 'qat' needs a QATConfig (--train-json, --train-images, --qat-steps)")
        start_model = model
        if calibration:
            # QAT starts near post-training int8: the equalised weights, the same layers in float,
            # every fake-quant range measured; that int8 model is also the baseline to beat. Not
            # from its bias-corrected weights: on the pretrained network 240 steps from those gave
            # AP 0.402 / 0.187 (val / train), from the equalised ones 0.535 / 0.213.
            conversion = convert_int8(model, input_hw, calibration, progress, int8)
            start_model = conversion.start
            qat = dataclasses.replace(qat, float_layers=tuple(conversion.result.float_layers))
        data = run_qat(start_model, input_hw, qat)
    elif mode == "int8":
        conversion = convert_int8(model, input_hw, calibration, progress, int8)
        data = conversion.data
    else:
        data = convert(model, mode, input_hw, calibration, allow_flex_ops, progress, int8)
    result = conversion.result if conversion is not None else None
    if check is not None:
        agreement = _agreement(model, data, check, input_hw)
    elif mode == "qat" and conversion is not None:  # the same images and float maps as the int8 baseline
        agreement = compare_agreement(conversion.reference, tflite_maps(data, conversion.samples), input_hw, "qat")
    elif result is not None:
        agreement = result.agreement
    baseline = None
    if mode == "qat" and result is not None:
        baseline, result = result.agreement, dataclasses.replace(result, worst=[])  # PTQ's worst layers are not QAT's
    ops = check_ops(data, allow_flex_ops)
    if min_agreement is not None and mode in ("int8", "qat"):
        problem = quality_problem(agreement, min_agreement)
        if problem:
            worst = "; ".join(
                f"{e.layer} (error {e.error:.2f}, adds {e.added:.2f})"
                for e in (result.worst[:5] if result is not None else [])
            )
            raise ValueError(
                f"the {mode} model is not the float model: {problem}"
                + (f". Worst layers: {worst}" if worst else "")
                + ". Not written (pass --force to write it anyway)"
            )
    out = write_bytes_atomic(path, data)
    return Exported(
        out,
        mode,
        tuple(input_hw),
        len(data),
        ops,
        time.perf_counter() - start,
        agreement,
        tuple(result.float_layers) if result is not None else (),
        tuple(result.worst) if result is not None else (),
        baseline,
    )


def quality_problem(report: Any, floor: float) -> str | None:
    """Why a quantized model fails the export gate (``Thresholds.export_gate``; None = passes)."""
    from mln_tf.export.compare import Thresholds

    if report is None:
        return "no calibration images to compare it with the float model on (--calibration)"
    failed = report.verdict(Thresholds.export_gate(floor))
    if not failed:
        return None
    summary = report.summary()
    if report.people[0] == 0:
        return (
            f"the float model finds nobody on the calibration images, so agreement proves nothing "
            f"({summary}); calibrate on photos with people"
        )
    return (
        f"{'; '.join(failed)} ({summary}); try more --calibration images (about 100 photos of people), "
        "--mode qat, or --mode fp16"
    )


def _agreement(model: Any, data: bytes, calibration: Sequence[np.ndarray], input_hw: tuple[int, int]):
    """The export's people vs the float model's on ``calibration`` inputs (compare.agreement)."""
    from mln_tf.export.int8 import tflite_maps
    from mln_tf.export.models import float32_model, with_input_size

    samples = [np.asarray(x, np.float32) for x in calibration]
    reference = float64_maps(with_input_size(float32_model(model), tuple(input_hw)), samples)
    return compare_agreement(reference, tflite_maps(data, samples), tuple(input_hw))


def map_error(model: Any, tflite_path: str | Path, x: np.ndarray) -> tuple[float, float]:
    """(max, mean) |maps difference| of the .tflite vs the Keras model on one preprocessed input."""
    from mln_tf.export.models import float32_model, with_input_size
    from mln_tf.runners import keras_runner, load_runner

    reference = keras_runner(with_input_size(float32_model(model), tuple(x.shape[1:3])))(x)
    return map_difference(reference, load_runner(tflite_path)(x))
