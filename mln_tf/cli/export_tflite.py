"""``mln-pose export tflite``: a .tflite for phones (mln_tf.export.tflite does the work)."""

from __future__ import annotations

import argparse
import os
import sys

from mln_tf.cli import flags, tool
from mln_tf.cli.tool import check_output, parser
from mln_tf.errors import UsageError
from mln_tf.export import tflite as library
from mln_tf.export.compare import map_error
from mln_tf.export.int8 import (
    DEFAULT_CALIBRATION_IMAGES,
    DEFAULT_MIN_AGREEMENT,
    DEFAULT_TARGET,
    MIN_CALIBRATION_IMAGES,
    Int8Options,
    calibration_inputs,
    quality_problem,
)
from mln_tf.export.tflite import MODES, export_tflite
from mln_tf.model import DEFAULT_INPUT_HW

HELP = "a .tflite file (fp32, fp16, int8 PTQ, QAT)"
PRECISION_NOTE = {  # what the file stores is not what every runtime computes in
    "fp16": "fp16 weights (float32 math on CPUs, which dequantize them at load; fp16 on GPU delegates)",
    "dynamic": "int8 weights, float32 activations",
    "int8": "int8 weights and activations (float layers where listed below)",
}
PROG = "mln-pose export tflite"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The exporter's flags (the shared vocabulary of mln_tf.cli.flags where they overlap)."""
    p = parser(prog, library.__doc__)
    p.add_argument(
        "model",
        help="trained model: .keras (it records its architecture), .weights.h5 with --arch/--width, or pretrained:NAME",
    )
    p.add_argument("out", help="the .tflite file to write")
    flags.add_model_arguments(p, rebuilds=True)
    p.add_argument(
        "--mode",
        choices=MODES,
        default="fp32",
        help="fp32 (default), fp16 (float16 weights), dynamic (int8 weights), int8 "
        "(full integer, needs --calibration), qat (quantization-aware training, "
        "then full integer). What int8 costs: on photos it was not calibrated on, the shipped network "
        "at 368x432 lost about a quarter of its COCO AP (0.270 -> 0.206 on 42 held-out val images; "
        "0.223 -> 0.189 on the bundled train set); fp16 keeps fp32's AP (0.489 / 0.226 against 0.482 / "
        "0.223 on the bundled val / train) at half the size. Where int8 pays: CPUs with VNNI (Intel "
        "AVX-512 VNNI, AMD Zen 4+: about 0.5x fp32's time) and phones' ARM CPUs (8-bit dot products); "
        "on AVX2-only CPUs (AMD Zen 3) it is 0.87-0.97x fp32's time, so ship fp16 there; fp16 for GPUs. "
        "A smaller --speed point saves more time than int8 on every CPU (docs/benchmarks.md)",
    )
    flags.add_input(
        p,
        default=None,
        what=f"fixed network input of the .tflite (default {DEFAULT_INPUT_HW[0]}x{DEFAULT_INPUT_HW[1]}, the paper's "
        "test size)",
    )
    flags.add_speed(p, "the exported network (the later stages are left out of the file)")
    p.add_argument(
        "--calibration",
        metavar="FOLDER",
        help="folder of real photos: int8 calibration and the comparison with float (int8/qat), "
        "qat self-distillation data, and the map check of any mode",
    )
    p.add_argument(
        "--calibration-images",
        type=int,
        default=DEFAULT_CALIBRATION_IMAGES,
        metavar="N",
        help=f"use at most N calibration images (default {DEFAULT_CALIBRATION_IMAGES})",
    )
    p.add_argument(
        "--float-layers",
        default="stages",
        metavar="stages|auto|none|NAME,...",
        help="int8: layers kept in float (Keras layer names or regexes, comma-separated); "
        "'stages' (default): in the first and the last stage ('stage<N>' in the layer names), the branch "
        "whose 8 bits alone give the largest heatmap error ('auto' for models without stage names); "
        "'auto' keeps in float, one depthwise-separable pair at a time, the unit whose 8 bits alone give "
        "the largest heatmap error until the int8 model's heatmap error is at most --int8-target or "
        "--max-float-layers are float; 'none'",
    )
    p.add_argument(
        "--max-float-layers", type=int, default=12, metavar="N", help="int8 auto: at most N float layers (default 12)"
    )
    p.add_argument(
        "--int8-target",
        type=float,
        default=DEFAULT_TARGET,
        metavar="F",
        help="int8 auto: stop when the heatmap error vs float (squared error relative to the heatmaps' "
        f"variance) is at most F (default {DEFAULT_TARGET})",
    )
    p.add_argument(
        "--no-equalize",
        action="store_true",
        help="int8: skip cross-layer range equalisation (mln_tf/export/equalize.py; for comparison)",
    )
    p.add_argument(
        "--no-bias-correction",
        action="store_true",
        help="int8: skip the bias correction for 8-bit weight rounding (mln_tf/export/equalize.py)",
    )
    p.add_argument(
        "--min-agreement",
        type=float,
        default=DEFAULT_MIN_AGREEMENT,
        metavar="F",
        help="int8/qat: fail (exit 1, nothing written) when the quantized model finds nobody or its "
        "OKS-weighted people agreement with the float model on the calibration images (sum of matched "
        f"OKS / people of either) is below F (default {DEFAULT_MIN_AGREEMENT}: a collapsed model, not a "
        "CPU-kind difference; good int8 models measure 0.55-0.7)",
    )
    p.add_argument(
        "--force", action="store_true", help="int8/qat: write the model even when it fails the comparison with float"
    )
    p.add_argument(
        "--allow-flex-ops",
        action="store_true",
        help="write the model even if it needs Flex (TF Select) or custom ops; phones then "
        "need the Flex delegate and the GPU delegate cannot run those ops",
    )
    p.add_argument(
        "--train-json",
        help="qat, labelled mode: COCO person-keypoints annotation file of the "
        "training set (without it, qat self-distils on the --calibration photos)",
    )
    p.add_argument("--train-images", help="qat: folder of the training images")
    p.add_argument("--qat-steps", type=int, default=2000, help="qat: fine-tuning steps (default 2000)")
    p.add_argument("--qat-batch", type=int, default=8, help="qat: batch size (default 8)")
    p.add_argument(
        "--qat-lr",
        type=float,
        default=1e-5,
        help="qat: learning rate (default 1e-5): Adam with clipped gradients for self-distillation "
        "(240 steps of batch 4 at 1e-5 lift the pretrained network over post-training int8), SGD with "
        "momentum 0.9 for labelled data (a sixth of the paper's 6e-5)",
    )
    p.add_argument("--seed", type=int, default=0, help="qat: data stream seed (default 0)")
    p.add_argument(
        "--qat-data",
        default=None,
        metavar="MODULE:FUNCTION",
        help="qat: your function giving the training batches (default: the COCO training "
        "pipeline mln_tf.data on --train-json/--train-images; contract in mln_tf/export/qat.py)",
    )
    flags.add_overwrite(p, "an existing .tflite file")
    flags.add_quiet(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Check every path, load the model, export, print the op table and the summary."""
    from mln_tf.export.models import arch_and_width, at_stage, load_pose_model
    from mln_tf.export.tflite_ops import op_summary, precision
    from mln_tf.tables import format_table

    progress = not args.quiet
    hw, stage = flags.speed_settings(args)
    hw = hw or DEFAULT_INPUT_HW
    _check_paths(args)
    if stage is not None and args.mode == "qat":
        raise UsageError("--mode qat fine-tunes the whole network: export qat without --speed/--stage")
    try:
        calibration = (
            calibration_inputs(args.calibration, hw, args.calibration_images, progress) if args.calibration else None
        )
    except ValueError as exc:
        raise UsageError(f"--calibration: {exc}") from None
    if args.mode in ("int8", "qat") and calibration and len(calibration) < MIN_CALIBRATION_IMAGES:
        raise UsageError(
            f"--calibration: only {len(calibration)} readable image(s) in {args.calibration}; {args.mode} "
            f"needs at least {MIN_CALIBRATION_IMAGES} photos of people for its activation ranges "
            f"(about {DEFAULT_CALIBRATION_IMAGES} recommended)"
        )
    model = load_pose_model(args.model, args.arch, args.width)
    arch, width = arch_and_width(model, args.model, args.arch, args.width)
    model = at_stage(model, stage)
    qat = None
    if args.mode == "qat":
        from mln_tf.export.qat import QATConfig

        distill = not args.train_json and not args.train_images and args.qat_data is None
        if distill and not args.calibration:
            raise UsageError(
                "--mode qat needs photos: --calibration FOLDER (self-distillation from the float "
                "model, no annotations) or --train-json/--train-images (labelled)"
            )
        qat = QATConfig(
            train_json=args.train_json,
            train_images=args.train_images,
            images=args.calibration if distill else None,
            arch=arch,
            width=width,
            steps=args.qat_steps,
            batch_size=args.qat_batch,
            learning_rate=args.qat_lr,
            seed=args.seed,
            dataset=args.qat_data,
        )
    float_layers = (
        {"stages": "stages", "auto": "auto", "none": ()}.get(args.float_layers)
        if args.float_layers in ("stages", "auto", "none")
        else tuple(p for p in args.float_layers.split(",") if p)
    )
    int8 = Int8Options(
        equalize=not args.no_equalize,
        bias_correction=not args.no_bias_correction,
        float_layers=float_layers,
        max_float=args.max_float_layers,
        target=args.int8_target,
    )
    result = export_tflite(
        model,
        args.out,
        args.mode,
        hw,
        calibration,
        args.allow_flex_ops,
        qat,
        progress,
        int8,
        None if args.force else args.min_agreement,
    )

    print(format_table(["op", "count", "dtypes (in -> out)"], op_summary(result.ops), title=f"\nops of {result.path}"))
    rows = [
        ("file", str(result.path)),
        ("mode", result.mode),
        ("precision", PRECISION_NOTE.get(precision(result.ops), precision(result.ops))),
        ("input", f"image float32 (1, {hw[0]}, {hw[1]}, 3), pixel/256 - 0.5"),
        ("stages", f"stops after refinement stage {stage}" if stage else "all"),
        ("outputs", f"heatmaps (1, {hw[0] // 8}, {hw[1] // 8}, 19), pafs (1, {hw[0] // 8}, {hw[1] // 8}, 38)"),
        ("size", f"{result.size_bytes / 1e6:.2f} MB"),
        ("ops", f"{len(result.ops)} ({len({op.name for op in result.ops})} kinds)"),
        ("time", f"{result.seconds:.1f} s"),
    ]
    if not any(op.custom for op in result.ops):
        from mln_tf.inference import probe_input

        x = calibration[0] if calibration else probe_input(hw)
        worst, mean = map_error(model, result.path, x)
        source = "first calibration image" if calibration else "random pixels"
        if result.mode == "qat":
            source += "; QAT fine-tuning changed the weights"
        rows.append(("vs Keras", f"max |map diff| {worst:.2e}, mean {mean:.2e} ({source})"))
    else:
        rows.append(("vs Keras", "not run: the model needs Flex/custom ops"))
    if result.agreement is not None:
        a = result.agreement
        maps = f", map error max {a.max_map_error:.3f} mean {a.mean_map_error:.4f}"
        rows.append(("vs float (calibration)", a.summary() + maps))
    if result.baseline is not None:
        rows.append(("post-training int8", result.baseline.summary() + " (what QAT started from)"))
    if result.mode in ("int8", "qat"):
        rows.append(("float layers", ", ".join(result.float_layers) or "none"))
        rows.append(
            (
                "worst int8 layers",
                "; ".join(f"{e.layer} ({e.error:.2f}, +{e.added:.2f})" for e in result.worst_layers[:4]) or "-",
            )
        )
    print(format_table(["", ""], rows, title="\nsummary", align="ll"))
    if args.force and args.mode in ("int8", "qat"):
        problem = quality_problem(result.agreement, args.min_agreement)
        if problem:
            print(f"WARNING: written with --force although {problem}", file=sys.stderr)
    return 0


def _check_paths(args: argparse.Namespace) -> None:
    """Bad paths and missing inputs as UsageError (exit 2) before anything is loaded."""
    from mln_tf.runners import check_model_path

    check_output(args.out, args.overwrite, (".tflite",))
    check_model_path(args.model, keras_only=True)
    if args.mode == "int8" and not args.calibration:
        raise UsageError("--mode int8 needs --calibration FOLDER (real images for the activation ranges)")
    for flag, value in (("--calibration", args.calibration), ("--train-images", args.train_images)):
        if value and not os.path.isdir(value):
            raise UsageError(f"{flag}: folder not found: {value}")
    if args.train_json and not os.path.isfile(args.train_json):
        raise UsageError(f"--train-json: file not found: {args.train_json}")


main = tool.entry(build_parser, run, PROG)  # main(argv=None, prog=PROG) -> exit status
