"""``mln-pose check gpu``: will a .tflite run on the phone's GPU? (mln_tf.export.gpu_check does the work)"""

from __future__ import annotations

import argparse

from mln_tf.cli import tool
from mln_tf.errors import EXIT_FAILED, EXIT_OK, UsageError
from mln_tf.export import gpu_check as library
from mln_tf.export.gpu_check import CODE_SOURCE, DEFAULT_MAX_P999, DOC_SOURCE, check_ops, try_gpu
from mln_tf.export.tflite_ops import read_ops

HELP = "a .tflite against the TFLite GPU delegate"
PROG = "mln-pose check gpu"


def _indices(idx: list[int], limit: int = 6) -> str:
    shown = ",".join(str(i) for i in idx[:limit])
    return shown + (",..." if len(idx) > limit else "")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The GPU check's flags."""
    parser = tool.parser(prog, library.__doc__)
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
        "--max-p999-error",
        type=float,
        default=DEFAULT_MAX_P999,
        help="fail when the p99.9 |GPU - CPU| map difference over the CPU maps' range is above this "
        f"(default {DEFAULT_MAX_P999:g}; GPU delegates compute in float16)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        help="also fail when one pixel's max |GPU - CPU| map difference is above this (default: reported, not checked)",
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
                ok = run.p999_error <= args.max_p999_error
                ok_max = args.tolerance is None or run.max_error <= args.tolerance
                failed |= not (ok and ok_max)
                name = args.accelerator.upper()
                print(
                    f"GPU run: {run.detail}; p99.9 |{name} - CPU| / range {run.p999_error:.2e} "
                    f"({'within' if ok else 'OVER'} {args.max_p999_error:g}), max {run.max_error:.2e}"
                    + ("" if args.tolerance is None else f" ({'within' if ok_max else 'OVER'} {args.tolerance:g})")
                    + f", mean {run.mean_error:.2e}"
                )
            else:
                failed |= args.require_gpu_run
                print(f"GPU run: not possible on this machine: {run.detail}")
    return EXIT_FAILED if failed else EXIT_OK


main = tool.entry(build_parser, run, PROG)  # main(argv=None, prog=PROG) -> exit status
