"""``mln-pose``: the command-line entry point (one subcommand per job)."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

PAPER_TABLE2 = {  # paper Table 2: model size (MB), parameters, FLOPs (= MACs), P40 FPS
    "mln": (85.2, 21_278_912, 82.5e9, 42.2),
    "openpose": (209.3, 52_298_816, 159.6e9, 20.4),
}


def _summary(args: argparse.Namespace) -> int:
    import numpy as np

    from mln_tf import model as m
    from mln_tf.timing import keras_forward, median_ms

    hw = m.parse_hw(args.input)
    rows = []
    for arch in args.arch:
        net = m.build_mln() if arch == "mln" else m.build_openpose()
        weights, macs, size = m.count_kernel_weights(net), m.count_macs(net, hw), m.model_size_mb(net)
        latency = float("nan")
        if args.runs > 0:
            x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, *hw, 3)).astype(np.float32)
            forward = keras_forward(net)
            latency = median_ms(lambda: forward(x), runs=args.runs, warmup=1)
        rows.append((arch, weights, macs, size, latency))

    p = PAPER_TABLE2
    print(f"\nTable 2 columns for our build at {hw[0]}x{hw[1]} (paper figures in brackets; "
          "MACs are the paper's 'FLOPs'; paper FPS is on a Tesla P40, ours is this CPU)")
    header = f"{'model':<9} {'weights':>22} {'MACs':>20} {'fp32 MB':>16} {'CPU ms (median)':>16}"
    print(header)
    print("-" * len(header))
    for arch, weights, macs, size, latency in rows:
        pm, pw, pf, fps = p[arch]
        print(f"{arch:<9} {weights:>10,} [{pw:>10,}] {macs / 1e9:>8.2f}e9 [{pf / 1e9:5.1f}e9] "
              f"{size:>7.2f} [{pm:5.1f}] {latency:>9.1f} ({args.runs} runs)")
    if len(rows) == 2 and args.runs > 0:
        (_, *_, a), (_, *_, b) = rows
        print(f"\nbaseline / MLN latency on this CPU: {b / a:.2f}x (paper, P40 GPU: "
              f"{PAPER_TABLE2['mln'][3] / PAPER_TABLE2['openpose'][3]:.2f}x)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``mln-pose`` argument parser with all subcommands."""
    parser = argparse.ArgumentParser(prog="mln-pose", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="weights, MACs, size and CPU latency (paper Table 2 columns)",
                       description="Build the full-size network(s) and print the paper's Table 2 "
                                   "columns for them beside the paper's figures.")
    s.add_argument("--arch", choices=("mln", "openpose"), action="append",
                   help="network to summarise; repeat for both (default: both)")
    s.add_argument("--input", default="368x432",
                   help="input HEIGHTxWIDTH, multiples of 8 (default: the paper's 368x432)")
    s.add_argument("--runs", type=int, default=5,
                   help="timed forward passes for the median CPU latency; 0 skips timing (default 5)")
    s.set_defaults(func=_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mln-pose`` with ``argv``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "arch", None) is None and args.command == "summary":
        args.arch = ["mln", "openpose"]
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"mln-pose {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
