"""TFLite export for phones: ``python -m export.tflite MODEL OUT.tflite --mode MODE``.

Modes (all keep float32 input and outputs, so every .tflite takes the same
``mln_tf.inference.preprocess`` output and gives maps for the same ``postprocess``):

* ``fp32``    float32 weights and math (reference, largest).
* ``fp16``    float16 weights, dequantized to float32 at load (half the size; GPU-friendly).
* ``dynamic`` int8 weights, float activations (a quarter of the size).
* ``int8``    full integer: weights and activations int8, activation ranges calibrated on
              ``--calibration`` images (real photos through ``preprocess``, ~100 of them).
* ``qat``     quantization-aware fine-tuning (tfmot, ``--qat-steps`` steps on the training
              pipeline ``mln_tf.data``, in a separate ``tf_keras`` process) then full-integer
              conversion; needs ``--train-json`` and ``--train-images`` (or ``--qat-data``).

The input size is fixed (``--input``, default 368x432 as in the paper; e.g. 256x320 for
phones). A ``mixed_float16`` model is rebuilt in float32 first. The signature is
``serving_default``: input ``image`` float32 (1, H, W, 3) = pixel/256 - 0.5, outputs
``heatmaps`` (1, H/8, W/8, 19) and ``pafs`` (1, H/8, W/8, 38); run it with
``mln_tf.runners.load_runner``. A model that needs Flex (TF Select) or custom ops is refused
unless ``--allow-flex-ops``. The file is written atomically; a summary with the size, the
per-op table and the map error against the Keras model on one input is printed at the end.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

MODES = ("fp32", "fp16", "dynamic", "int8", "qat")
DEFAULT_INPUT = "368x432"
DEFAULT_CALIBRATION_IMAGES = 100
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class Exported:
    """What :func:`export_tflite` wrote."""

    path: Path
    mode: str
    input_hw: tuple[int, int]
    size_bytes: int
    ops: list  # export.tflite_ops.OpInfo
    seconds: float


def image_files(folder: str | Path) -> list[Path]:
    """Image files of a folder, sorted (a clear error if the folder is missing or has none)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def calibration_inputs(folder: str | Path, input_hw: tuple[int, int],
                       count: int = DEFAULT_CALIBRATION_IMAGES, progress: bool = True) -> list[np.ndarray]:
    """Up to ``count`` real images of ``folder`` through ``preprocess`` at ``input_hw``, (1, H, W, 3) each.

    Unreadable files are skipped with a warning naming them; none readable is an error.
    """
    from tqdm import tqdm

    from mln_tf.inference import preprocess, read_image

    if count < 1:
        raise ValueError(f"calibration image count must be >= 1, got {count}")
    inputs, skipped = [], []
    files = image_files(folder)
    for path in tqdm(files[:count], desc="calibration images", unit="img", disable=not progress):
        try:
            image = read_image(path)
        except ValueError as exc:
            skipped.append(str(exc))
            continue
        inputs.append(preprocess(image, input_hw=input_hw)[0][None])
    for reason in skipped:
        print(f"warning: skipping calibration image: {reason}", file=sys.stderr)
    if not inputs:
        raise ValueError(f"none of the {len(files[:count])} calibration images in {folder} could be read")
    return inputs


def convert(model: Any, mode: str, input_hw: tuple[int, int],
            calibration: Sequence[np.ndarray] | None = None, allow_flex_ops: bool = False,
            progress: bool = True) -> bytes:
    """Convert a Keras pose model to .tflite bytes in ``mode`` (not 'qat': see :func:`export_tflite`).

    The model is rebuilt in float32 if needed and exported through a fixed-size SavedModel
    whose signature takes normalised input, so the .tflite has named outputs.
    """
    import tensorflow as tf
    from tqdm import tqdm

    from export.models import check_pose_model, float32_model, with_input_size
    from export.saved_model import write_archive
    from mln_tf.model import check_input_hw

    if mode not in MODES or mode == "qat":
        raise ValueError(f"convert() modes are fp32, fp16, dynamic, int8; got {mode!r}")
    input_hw = check_input_hw(input_hw)
    check_pose_model(model)
    if mode == "int8" and not calibration:
        raise ValueError("int8 needs calibration images (--calibration FOLDER): activation ranges "
                         "are measured on real photos")
    model = with_input_size(float32_model(model), input_hw)
    with tempfile.TemporaryDirectory(prefix="mln_tflite_") as tmp:
        saved = write_archive(model, Path(tmp) / "saved_model", input_hw, batch=1, pixels="normalized")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["serving_default"])
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if mode != "fp32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        if mode == "int8":
            samples = [np.asarray(x, np.float32) for x in calibration]
            for x in samples:
                if x.shape != (1, *input_hw, 3):
                    raise ValueError(f"calibration input has shape {x.shape}, expected (1, {input_hw[0]}, "
                                     f"{input_hw[1]}, 3) (use calibration_inputs)")

            def representative() -> Iterator[dict]:
                for x in tqdm(samples, desc="calibrating", unit="img", disable=not progress):
                    yield {"image": x}

            converter.representative_dataset = representative
            ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            # Float input/output stay: the runner contract is one float32 input and float maps.
            converter.inference_input_type = tf.float32
            converter.inference_output_type = tf.float32
        if allow_flex_ops:
            ops = ops + [tf.lite.OpsSet.SELECT_TF_OPS]
            converter.allow_custom_ops = True
        converter.target_spec.supported_ops = ops
        try:
            with warnings.catch_warnings():
                # The calibrator uses tf.lite.Interpreter internally and warns about it.
                warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
                return converter.convert()
        except Exception as exc:  # ConverterError lives in a private module
            raise ValueError(_conversion_error(exc, mode)) from None


def _conversion_error(exc: Exception, mode: str) -> str:
    """The useful lines of a converter failure (which ops are missing), not its MLIR dump."""
    text = str(exc)
    found = [line.strip() for line in text.splitlines()
             if line.strip().startswith(("TF Select ops:", "Custom ops:", "Flex ops:"))]
    if found:
        return (f"{mode} conversion needs ops outside the TFLite builtins ({'; '.join(dict.fromkeys(found))}): "
                "TF Select ops need the Flex delegate on the phone, custom ops your own kernels, and the "
                "GPU delegate runs neither. Change the model, or pass --allow-flex-ops to write it anyway")
    lines = [line for line in text.splitlines() if "error" in line.lower()]
    return f"{mode} conversion failed: {(lines or text.splitlines() or ['?'])[0][:500]}"


def check_ops(data: bytes, allow_flex_ops: bool = False) -> list:
    """The model's ops; a ValueError naming any Flex/custom op unless ``allow_flex_ops``."""
    from export.tflite_ops import read_ops, unsupported_ops

    ops = read_ops(data)
    bad = unsupported_ops(ops)
    if bad and not allow_flex_ops:
        raise ValueError(f"the converted model contains Flex/custom ops {', '.join(bad)}, which a stock "
                         "LiteRT runtime cannot run; refusing to write it (pass --allow-flex-ops to write it anyway)")
    return ops


def export_tflite(model: Any, path: str | Path, mode: str = "fp32", input_hw: tuple[int, int] = (368, 432),
                  calibration: Sequence[np.ndarray] | None = None, allow_flex_ops: bool = False,
                  qat: Any = None, progress: bool = True) -> Exported:
    """Convert and atomically write a .tflite; ``qat`` is an :class:`export.qat.QATConfig` for mode 'qat'."""
    from mln_tf.files import write_bytes_atomic

    start = time.perf_counter()
    if mode == "qat":
        from export.qat import run_qat

        if qat is None:
            raise ValueError("mode 'qat' needs a QATConfig (--train-json, --train-images, --qat-steps)")
        data = run_qat(model, input_hw, qat)
    else:
        data = convert(model, mode, input_hw, calibration, allow_flex_ops, progress)
    ops = check_ops(data, allow_flex_ops)
    out = write_bytes_atomic(path, data)
    return Exported(out, mode, tuple(input_hw), len(data), ops, time.perf_counter() - start)


def map_error(model: Any, tflite_path: str | Path, x: np.ndarray) -> tuple[float, float]:
    """(max, mean) |maps difference| of the .tflite vs the Keras model on one preprocessed input."""
    from export.models import float32_model, with_input_size
    from mln_tf.runners import keras_runner, load_runner

    a = keras_runner(with_input_size(float32_model(model), tuple(x.shape[1:3])))(x)
    b = load_runner(tflite_path)(x)
    diff = np.concatenate([np.abs(a[0] - b[0]).ravel(), np.abs(a[1] - b[1]).ravel()])
    return float(diff.max()), float(diff.mean())


def build_parser() -> argparse.ArgumentParser:
    from export.models import add_model_arguments

    parser = argparse.ArgumentParser(prog="python -m export.tflite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="trained model: .keras, or .weights.h5 with --arch/--config")
    parser.add_argument("out", help="the .tflite file to write")
    add_model_arguments(parser, rebuilds=True)
    parser.add_argument("--mode", choices=MODES, default="fp32",
                        help="fp32 (default), fp16 (float16 weights), dynamic (int8 weights), int8 "
                             "(full integer, needs --calibration), qat (quantization-aware training, "
                             "then full integer)")
    parser.add_argument("--input", default=DEFAULT_INPUT, metavar="HxW",
                        help=f"fixed input size, multiples of 8 (default {DEFAULT_INPUT}, the paper's)")
    parser.add_argument("--calibration", metavar="FOLDER",
                        help="folder of real images for int8 calibration (and the map check of any mode)")
    parser.add_argument("--calibration-images", type=int, default=DEFAULT_CALIBRATION_IMAGES, metavar="N",
                        help=f"use at most N calibration images (default {DEFAULT_CALIBRATION_IMAGES})")
    parser.add_argument("--allow-flex-ops", action="store_true",
                        help="write the model even if it needs Flex (TF Select) or custom ops; phones then "
                             "need the Flex delegate and the GPU delegate cannot run those ops")
    parser.add_argument("--train-json", help="qat: COCO person-keypoints annotation file of the training set")
    parser.add_argument("--train-images", help="qat: folder of the training images")
    parser.add_argument("--qat-steps", type=int, default=2000,
                        help="qat: fine-tuning steps (default 2000)")
    parser.add_argument("--qat-batch", type=int, default=8, help="qat: batch size (default 8)")
    parser.add_argument("--qat-lr", type=float, default=1e-5,
                        help="qat: SGD learning rate, momentum 0.9 (default 1e-5, a sixth of the paper's 6e-5)")
    parser.add_argument("--seed", type=int, default=0, help="qat: data stream seed (default 0)")
    parser.add_argument("--qat-data", default="export.qat:coco_dataset", metavar="MODULE:FUNCTION",
                        help="qat: function giving the training batches (default: the COCO training "
                             "pipeline mln_tf.data on --train-json/--train-images; contract in export/qat.py)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported
    from export.models import load_pose_model
    from mln_tf.tables import format_table
    from export.tflite_ops import op_summary, precision
    from mln_tf.model import parse_hw

    progress = not args.no_progress
    try:
        hw = parse_hw(args.input)
        if args.mode == "int8" and not args.calibration:
            raise ValueError("--mode int8 needs --calibration FOLDER (real images for the activation ranges)")
        calibration = (calibration_inputs(args.calibration, hw, args.calibration_images, progress)
                       if args.calibration else None)
        qat = None
        if args.mode == "qat":
            from export.qat import QATConfig

            qat = QATConfig(train_json=args.train_json, train_images=args.train_images, arch=args.arch,
                            config=args.width, steps=args.qat_steps, batch_size=args.qat_batch,
                            learning_rate=args.qat_lr, seed=args.seed, dataset=args.qat_data)
        model = load_pose_model(args.model, args.arch, args.width)
        result = export_tflite(model, args.out, args.mode, hw, calibration, args.allow_flex_ops, qat, progress)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    print(format_table(["op", "count", "dtypes (in -> out)"], op_summary(result.ops),
                       title=f"\nops of {result.path}"))
    rows = [("file", str(result.path)), ("mode", result.mode),
            ("computes in", precision(result.ops)),
            ("input", f"image float32 (1, {hw[0]}, {hw[1]}, 3), pixel/256 - 0.5"),
            ("outputs", f"heatmaps (1, {hw[0] // 8}, {hw[1] // 8}, 19), pafs (1, {hw[0] // 8}, {hw[1] // 8}, 38)"),
            ("size", f"{result.size_bytes / 1e6:.2f} MB"),
            ("ops", f"{len(result.ops)} ({len({op.name for op in result.ops})} kinds)"),
            ("time", f"{result.seconds:.1f} s")]
    if not any(op.custom for op in result.ops):
        x = calibration[0] if calibration else _random_input(hw)
        worst, mean = map_error(model, result.path, x)
        source = "first calibration image" if calibration else "random pixels"
        if result.mode == "qat":
            source += "; QAT fine-tuning changed the weights"
        rows.append(("vs Keras", f"max |map diff| {worst:.2e}, mean {mean:.2e} ({source})"))
    else:
        rows.append(("vs Keras", "not run: the model needs Flex/custom ops"))
    print(format_table(["", ""], rows, title="\nsummary", align="ll"))
    return 0


def _random_input(hw: tuple[int, int]) -> np.ndarray:
    from mln_tf.inference import normalize

    pixels = np.random.default_rng(0).integers(0, 256, (1, *hw, 3)).astype(np.float32)
    return normalize(pixels)


if __name__ == "__main__":
    sys.exit(main())
