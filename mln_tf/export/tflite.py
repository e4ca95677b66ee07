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

import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

# int8 and qat (calibration, the prepared float side, the float-layer choice, the gate) live in
# mln_tf.export.int8, the comparisons with the float model in mln_tf.export.compare; their names
# are importable from here as before.
from mln_tf.export.compare import float_agreement, map_error
from mln_tf.export.int8 import (
    DEFAULT_CALIBRATION_IMAGES,
    DEFAULT_TARGET,
    MIN_CALIBRATION_IMAGES,
    Int8Conversion,
    Int8Options,
    Prepared,
    calibration_inputs,
    check_gate,
    convert_int8,
    float64_maps,
    quality_problem,
    quantized_export,
)

__all__ = [
    "DEFAULT_CALIBRATION_IMAGES",
    "DEFAULT_INPUT",
    "DEFAULT_TARGET",
    "MIN_CALIBRATION_IMAGES",
    "MODES",
    "Exported",
    "Int8Conversion",
    "Int8Options",
    "Prepared",
    "calibration_inputs",
    "check_ops",
    "convert",
    "convert_int8",
    "export_tflite",
    "float64_maps",
    "map_error",
    "quality_problem",
]

MODES = ("fp32", "fp16", "dynamic", "int8", "qat")
DEFAULT_INPUT = "368x432"


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
    :func:`mln_tf.export.int8.convert_int8`.
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
    nobody, which proves nothing) is a ValueError naming the worst layers, and nothing is written
    (:func:`mln_tf.export.int8.quantized_export`, :func:`mln_tf.export.int8.check_gate`).
    """
    from mln_tf.files import write_bytes_atomic

    start = time.perf_counter()
    quantized = None
    if mode in ("int8", "qat"):
        quantized = quantized_export(model, mode, input_hw, calibration, qat, progress, int8, check)
        data, agreement = quantized.data, quantized.agreement
    else:
        data = convert(model, mode, input_hw, calibration, allow_flex_ops, progress, int8)
        agreement = float_agreement(model, data, check, input_hw) if check is not None else None
    ops = check_ops(data, allow_flex_ops)
    if min_agreement is not None and quantized is not None:
        check_gate(mode, quantized, min_agreement)
    out = write_bytes_atomic(path, data)
    return Exported(
        out,
        mode,
        tuple(input_hw),
        len(data),
        ops,
        time.perf_counter() - start,
        agreement,
        quantized.float_layers if quantized is not None else (),
        quantized.worst if quantized is not None else (),
        quantized.baseline if quantized is not None else None,
    )
