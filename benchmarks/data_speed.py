"""Training-data throughput: samples/s of the full tf.data pipeline at 368x368.

    .venv/bin/python benchmarks/data_speed.py [--samples 400] [--workers 1 2] [--batch 28]

Full pipeline = JPEG decode, ignore mask, rotation/scale/crop/flip, eq. 1-2 targets, W(p),
packing for the 4 MLN outputs, normalisation, batching: exactly what ``training.train``
feeds the GPU. The bundled 36 COCO train2017 images are cycled (files stay in the page
cache, as on a training machine with enough RAM). Also times the per-sample NumPy work
alone in this thread, and prints how many data workers one step of the paper's batch (28)
needs per second of GPU step time.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import mln_tf  # noqa: E402,F401  (filters TensorFlow's start-up noise before anything imports it)

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "mln_tf" / "bundled" / "coco_train2017_mini"
OUTPUTS = ("det_heatmaps", "det_pafs", "heatmaps", "pafs")


def pipeline_rate(source, config, workers: int, batch: int, samples: int) -> float:
    """Samples per second through training_dataset with ``workers`` parallel map calls."""
    from mln_tf.data import training_dataset

    steps = max(2, samples // batch)
    ds = training_dataset(source, config, OUTPUTS, batch, seed=0, workers=workers, steps=steps + 1)
    it = iter(ds)
    next(it)  # start-up (thread pools, first epoch order) is not throughput
    start = time.perf_counter()
    for _ in range(steps):
        next(it)
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=400, help="samples timed per case")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="parallel map calls to try")
    parser.add_argument("--batch", type=int, default=28, help="batch size (paper: 28)")
    parser.add_argument("--size", type=int, default=368, help="square crop side")
    args = parser.parse_args()

    from mln_tf.data import CocoKeypoints, DataConfig

    source = CocoKeypoints(TRAIN / "person_keypoints.json", TRAIN)
    config = DataConfig(input_hw=(args.size, args.size))
    n = min(args.samples, 200)
    start = time.perf_counter()
    for i in range(n):
        source.sample(i, 0, config)
    per_sample = (time.perf_counter() - start) / n
    print(f"data pipeline at {args.size}x{args.size}, batch {args.batch}, {os.cpu_count()} CPU cores")
    print(f"one sample, NumPy/OpenCV only, this thread: {per_sample * 1e3:.1f} ms ({1 / per_sample:.1f} samples/s)")
    print(f"{'workers':>7} {'samples/s':>10} {'vs 1 worker':>12} {'batches/s':>10}")
    base = None
    for workers in args.workers:
        rate = pipeline_rate(source, config, workers, args.batch, args.samples)
        base = base or rate
        print(f"{workers:>7} {rate:>10.1f} {rate / base:>11.2f}x {rate / args.batch:>10.2f}")
    print(
        f"one {args.batch}-sample step every T seconds needs about "
        f"{args.batch * per_sample:.2f} / T busy cores of data work"
    )


if __name__ == "__main__":
    main()
