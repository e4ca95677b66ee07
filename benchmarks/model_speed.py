"""MLN vs OpenPose-baseline forward latency on this CPU, measured in one run, as a ratio.

    .venv/bin/python benchmarks/model_speed.py [--input 368x432] [--runs 10] [--threads N]

The paper reports 42.2 vs 20.4 FPS on a Tesla P40 (2.07x). Runs alternate between the two
networks so that machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import mln_tf  # noqa: E402,F401  (filters TensorFlow's start-up noise before anything imports it)


def main() -> None:
    from mln_tf.cli import flags

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    flags.add_input(parser, what="network input")
    parser.add_argument("--runs", type=int, default=10, help="timed rounds per network (default 10)")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0 = TensorFlow's default)")
    args = parser.parse_args()

    import tensorflow as tf

    from mln_tf import model as m
    from mln_tf.timing import keras_forward, median_ms

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    hw = args.input
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, *hw, 3)).astype(np.float32)
    baseline, ours = m.PAPER_COMPARISON
    nets = {arch: m.build(arch) for arch in (ours, baseline)}
    forwards = {k: keras_forward(v) for k, v in nets.items()}
    times: dict[str, list[float]] = {k: [] for k in nets}
    for f in forwards.values():  # warm-up and trace
        f(x)
    for _ in range(args.runs):
        for k, f in forwards.items():
            times[k].append(median_ms(lambda: f(x), runs=1, warmup=0))
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"\nforward latency at {hw[0]}x{hw[1]}, batch 1, CPU ({os.cpu_count()} cores), median of {args.runs}")
    print(f"{'model':<10} {'MACs':>10} {'ms':>9} {'FPS':>7}")
    for k, net in nets.items():
        print(f"{k:<10} {m.count_macs(net, hw) / 1e9:>9.2f}G {med[k]:>9.1f} {1e3 / med[k]:>7.2f}")
    macs = {k: m.count_macs(net, hw) for k, net in nets.items()}
    print(
        f"\n{baseline} / {ours}: {med[baseline] / med[ours]:.2f}x on this CPU "
        f"(paper: 2.07x on a Tesla P40; MAC ratio {macs[baseline] / macs[ours]:.2f}x)"
    )


if __name__ == "__main__":
    main()
