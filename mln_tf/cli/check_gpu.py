"""Will a .tflite run on the phone's GPU? ``mln-pose check gpu MODEL.tflite``.

1. Static check: every operator of the model is checked against the LiteRT/TFLite GPU
   delegate's documented operator list and the delegate's per-op constraints (table
   ``GPU_OPS`` below). Sources, as of TensorFlow/LiteRT 2.21:

   * the operator list: "GPU delegates for LiteRT", section "GPU ML operations support",
     https://ai.google.dev/edge/litert/performance/gpu (formerly
     tensorflow.org/lite/performance/gpu): ADD, AVERAGE_POOL_2D, CONCATENATION, CONV_2D,
     DEPTHWISE_CONV_2D v1-2, EXP, FULLY_CONNECTED, LOGICAL_AND, LOGISTIC, LSTM v2 (basic
     LSTM only), MAX_POOL_2D, MAXIMUM, MINIMUM, MUL, PAD, PRELU, RELU, RELU6, RESHAPE,
     RESIZE_BILINEAR v1-3, SOFTMAX, STRIDED_SLICE, SUB, TRANSPOSE_CONV, in 16- and 32-bit
     float; quantized (int8) models add QUANTIZE/DEQUANTIZE (same page, "Quantized model
     support"), and float16 weights are dequantized by DEQUANTIZE ops the delegate folds;
   * the constraints: ``CheckGpuDelegateCompatibility`` in
     tensorflow/lite/tools/versioning/gpu_compatibility.cc (what the delegate's model
     builder checks per op: runtime input counts, strides/dilations/kernels > 0, fused
     activations other than SIGN_BIT, depthwise multiplier, ADD/MUL broadcasting, no int16
     DEQUANTIZE, FULLY_CONNECTED weight format), plus the delegate's general limits: static
     shapes, tensors of at most 4 dimensions, float/int8 data, no Flex (TF Select) ops and
     only its four custom ops.

   ``tf.lite.experimental.Analyzer(gpu_compatibility=True)`` is not used: in TF 2.21 it
   reports every model compatible, Flex ops included.
2. Run check (unless ``--no-run``): the model is run with LiteRT's GPU accelerator
   (``CompiledModel``, LiteRT 2.x ships a WebGPU accelerator that needs a Vulkan/Metal/D3D
   adapter) in a child process, and its maps are compared with the CPU interpreter's. Where
   no GPU adapter can be created (no GPU, no usable software Vulkan driver) the report says
   so and why; that is not a failure unless ``--require-gpu-run``.

Exit status: 0 compatible (and, if it ran, GPU maps within ``--tolerance`` of CPU maps);
1 otherwise, with the offending ops listed.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from mln_tf.cli import tool
from mln_tf.errors import EXIT_FAILED, EXIT_OK, UsageError
from mln_tf.export.gpu_check import CODE_SOURCE, DEFAULT_TOLERANCE, DOC_SOURCE, check_ops, try_gpu
from mln_tf.export.tflite_ops import read_ops

HELP = "a .tflite against the TFLite GPU delegate"
PROG = "mln-pose check gpu"


def _indices(idx: list[int], limit: int = 6) -> str:
    shown = ",".join(str(i) for i in idx[:limit])
    return shown + (",..." if len(idx) > limit else "")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The GPU check's flags."""
    parser = tool.parser(prog, __doc__)
    parser.add_argument("model", help="the .tflite file to check")
    parser.add_argument(
        "--no-run", action="store_true", help="only the static check; do not try LiteRT's GPU accelerator"
    )
    parser.add_argument(
        "--require-gpu-run",
        action="store_true",
        help="fail when the GPU accelerator cannot run here (default: report and go on)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"max |GPU - CPU| map difference when the GPU run works (default {DEFAULT_TOLERANCE}; "
        "GPU delegates compute in float16)",
    )
    parser.add_argument(
        "--accelerator",
        choices=("gpu", "cpu"),
        default="gpu",
        help="accelerator of the run check (cpu: LiteRT's CompiledModel on CPU, to test the comparison itself)",
    )
    parser.add_argument(
        "--enforce-f32",
        action="store_true",
        help="the GPU computes in float32 (LiteRT GpuOptions.enforce_f32) instead of its default float16",
    )
    return parser


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Run the GPU check; exit 2 for an unreadable model, 1 when it fails, 0 when it passes."""
    return tool.run_tool(build_parser, run, argv, prog)


def run(args: argparse.Namespace) -> int:
    """Static op check, then (unless --no-run) the accelerator run against the CPU interpreter."""
    from mln_tf.tables import format_table

    try:
        ops = read_ops(args.model)
    except (ValueError, OSError) as exc:
        raise UsageError(f"cannot read {args.model}: {exc}") from None
    problems = check_ops(ops)
    names = sorted({op.name for op in ops})
    bad_names = {p.op for p in problems}
    rows = [(name, sum(op.name == name for op in ops), "no" if name in bad_names else "yes") for name in names]
    print(
        format_table(
            ["op", "count", "GPU delegate"],
            rows,
            title=f"\n{args.model}: {len(ops)} ops checked against {DOC_SOURCE}\nand the constraints of {CODE_SOURCE}",
        )
    )
    failed = False
    if problems:
        failed = True
        grouped: dict[tuple[str, str], list[int]] = {}
        for p in problems:
            grouped.setdefault((p.op, p.reason), []).append(p.op_index)
        rows = [(op, len(idx), _indices(idx), reason) for (op, reason), idx in sorted(grouped.items())]
        print(
            format_table(
                ["op", "count", "op #", "why the GPU delegate refuses it"],
                rows,
                align="lrll",
                title=f"\nNOT GPU-compatible: {len(problems)} ops ({', '.join(sorted(bad_names))})",
            )
        )
    else:
        print("\nGPU-compatible: every op is supported by the GPU delegate")
    if not args.no_run:
        if problems:
            print("GPU run: skipped (incompatible ops)")
        else:
            run = try_gpu(args.model, args.accelerator, enforce_f32=args.enforce_f32)
            if run.ran:
                ok = run.max_error <= args.tolerance
                failed |= not ok
                print(
                    f"GPU run: {run.detail}; max |{args.accelerator.upper()} - CPU| {run.max_error:.2e}, "
                    f"mean {run.mean_error:.2e} ({'within' if ok else 'OVER'} tolerance {args.tolerance})"
                )
            else:
                failed |= args.require_gpu_run
                print(f"GPU run: not possible on this machine: {run.detail}")
    return EXIT_FAILED if failed else EXIT_OK
