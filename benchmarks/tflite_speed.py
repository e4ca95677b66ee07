"""Latency of every exported form of MLN and the OpenPose baseline on this CPU, in one run.

    .venv/bin/python benchmarks/tflite_speed.py [--input 368x432] [--runs 5] [--threads N]
        [--calibration mln_tf/bundled/coco_train2017_mini --calibration-images 8] [--arch mln openpose]

For each network (paper widths, random weights: latency does not depend on the values):
Keras (``tf.function``), the serving SavedModel (``mln_tf.export.saved_model``, uint8 in) and the
TFLite fp32 / fp16 / int8 files of ``mln_tf.export.tflite`` run by LiteRT on CPU (XNNPACK,
``--threads``), and int8 with every layer in 8 bits ("int8 all": what the recipe's float layers
cost in speed). Batch 1, one real image through ``preprocess``. Rounds alternate between all
the runners so machine noise hits them alike; the median of ``--runs`` rounds is reported,
with ratios (int8 and fp16 vs fp32, TFLite fp32 vs Keras, baseline vs MLN). The CPU's model
and ISA (avx2, avx512f, avx512_vnni, amx) head the table: int8's gain depends on them most.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the export/ package when run as a script
import mln_tf  # noqa: E402,F401  (filters TensorFlow's start-up noise before anything imports it)

FORMATS = ("keras", "savedmodel", "tflite fp32", "tflite fp16", "tflite int8", "tflite int8 all")


def main() -> None:
    from mln_tf.cli import flags
    from mln_tf.model import ARCHS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    flags.add_input(parser, what="network input")
    parser.add_argument("--runs", type=int, default=5, help="timed rounds per runner (default 5)")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count(),
        help="CPU threads for LiteRT and TensorFlow intra-op (default: all cores)",
    )
    parser.add_argument(
        "--calibration",
        default=str(ROOT / "mln_tf" / "bundled" / "coco_train2017_mini"),
        help="real images for int8 calibration (default: the bundled COCO train images)",
    )
    parser.add_argument(
        "--calibration-images", type=int, default=8, help="calibration images for int8 (default 8: enough for timing)"
    )
    parser.add_argument(
        "--arch",
        nargs="+",
        choices=ARCHS,
        default=list(ARCHS),
        help=f"networks to measure (default all: {', '.join(ARCHS)})",
    )
    args = parser.parse_args()

    import tensorflow as tf
    from tqdm import tqdm

    from mln_tf import model as m
    from mln_tf.export.saved_model import export_saved_model
    from mln_tf.export.tflite import Int8Options, calibration_inputs, export_tflite
    from mln_tf.runners import keras_runner, load_runner
    from mln_tf.tables import format_table
    from mln_tf.timing import cpu_description, median_ms

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    hw = args.input
    calibration = calibration_inputs(args.calibration, hw, args.calibration_images)
    x = calibration[0]
    runners, sizes, build_s = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="tflite_speed_") as tmp:
        for arch in args.arch:
            net = m.build(arch)
            runners[(arch, "keras")] = keras_runner(net)
            sizes[(arch, "keras")] = m.model_size_mb(net)
            start = time.perf_counter()
            sm = export_saved_model(net, Path(tmp) / f"{arch}_savedmodel")
            build_s[(arch, "savedmodel")] = time.perf_counter() - start
            runners[(arch, "savedmodel")] = load_runner(sm)
            sizes[(arch, "savedmodel")] = sum(f.stat().st_size for f in sm.rglob("*") if f.is_file()) / 1e6
            for fmt in FORMATS[2:]:
                mode = fmt.split()[1]
                print(f"converting {arch} to {fmt} ...", flush=True)
                result = export_tflite(
                    net,
                    Path(tmp) / f"{arch}_{fmt.replace(' ', '_')}.tflite",
                    mode,
                    hw,
                    calibration if mode == "int8" else None,
                    int8=Int8Options(float_layers=()) if fmt.endswith(" all") else None,
                )
                runners[(arch, fmt)] = load_runner(result.path, threads=args.threads)
                sizes[(arch, fmt)] = result.size_bytes / 1e6
                build_s[(arch, fmt)] = result.seconds
        for run in runners.values():  # warm-up (tracing, XNNPACK packing): not in the table
            run(x)
        times = {key: [] for key in runners}
        for _ in tqdm(range(args.runs), desc="timed rounds", unit="round"):
            for key, run in runners.items():
                times[key].append(median_ms(lambda: run(x), runs=1, warmup=0))
    med = {key: float(np.median(v)) for key, v in times.items()}

    rows = [
        (
            arch,
            fmt,
            f"{sizes[(arch, fmt)]:.1f}",
            f"{med[(arch, fmt)]:.0f}",
            f"{1e3 / med[(arch, fmt)]:.2f}",
            f"{build_s[(arch, fmt)]:.0f}" if (arch, fmt) in build_s else "-",
        )
        for arch in args.arch
        for fmt in FORMATS
    ]
    print(
        format_table(
            ["model", "format", "MB", "median ms", "FPS", "export s"],
            rows,
            align="llrrrr",
            title=f"\nlatency at {hw[0]}x{hw[1]}, batch 1, {cpu_description()}, {os.cpu_count()} cores, "
            f"{args.threads} threads, median of {args.runs} rounds",
        )
    )
    ratios = []
    for arch in args.arch:
        fp32 = med[(arch, "tflite fp32")]
        ratios += [
            (arch, "tflite int8 vs tflite fp32 (speed-up)", fp32 / med[(arch, "tflite int8")]),
            (arch, "tflite int8 time / fp32 time (goal: <= 0.5 VNNI, <= 0.7 AVX2)", med[(arch, "tflite int8")] / fp32),
            (arch, "tflite int8 all-8-bit time / fp32 time", med[(arch, "tflite int8 all")] / fp32),
            (arch, "tflite fp16 vs tflite fp32 (speed-up)", fp32 / med[(arch, "tflite fp16")]),
            (arch, "tflite fp32 vs Keras (speed-up)", med[(arch, "keras")] / med[(arch, "tflite fp32")]),
            (arch, "SavedModel vs Keras (speed-up)", med[(arch, "keras")] / med[(arch, "savedmodel")]),
        ]
    baseline, ours = m.PAPER_COMPARISON
    if {baseline, ours} <= set(args.arch):
        for fmt in FORMATS:
            ratios.append(("both", f"{baseline} / {ours} latency, {fmt}", med[(baseline, fmt)] / med[(ours, fmt)]))
    print(
        format_table(
            ["model", "ratio", "x"],
            [(a, r, f"{v:.2f}") for a, r, v in ratios],
            align="llr",
            title=f"\nratios on {cpu_description()} (paper: baseline / MLN = 2.07x on a Tesla P40)",
        )
    )


if __name__ == "__main__":
    main()
