"""``mln-pose summary``: weights, MACs, size and CPU latency of our builds beside the paper's Table 2."""

from __future__ import annotations

import argparse

from mln_tf.cli import flags, tool
from mln_tf.errors import EXIT_OK
from mln_tf.model import ARCHS
from mln_tf.tables import format_table

HELP = "weights, MACs, size and CPU latency (paper Table 2 columns)"
PROG = "mln-pose summary"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The flags of ``mln-pose summary``."""
    p = tool.parser(
        prog,
        "Build the full-size network(s) and print the paper's Table 2 columns for them beside the paper's figures.",
    )
    p.add_argument(
        "--arch",
        choices=ARCHS,
        action="append",
        help=f"network to summarise; repeat for several (default: all of {', '.join(ARCHS)})",
    )
    flags.add_input(p, what="network input for MACs and latency")
    p.add_argument(
        "--runs",
        type=int,
        default=5,
        help="timed forward passes for the median CPU latency, after one warm-up pass; 0 skips timing (default 5)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    """Build each network, count, time, print the table."""
    import numpy as np

    from mln_tf import model as m
    from mln_tf.timing import keras_forward, median_ms

    hw = args.input
    rows, ms = [], {}
    for arch in args.arch or list(m.ARCHS):
        net = m.build(arch)
        ref = m.architecture(arch).reference
        latency = float("nan")
        if args.runs > 0:
            x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, *hw, 3)).astype(np.float32)
            forward = keras_forward(net)
            latency = ms[arch] = median_ms(lambda: forward(x), runs=args.runs, warmup=1)

        def cell(ours: str, theirs: str | None) -> str:
            return f"{ours} [{theirs}]" if theirs is not None else ours

        rows.append(
            (
                arch,
                cell(f"{m.count_kernel_weights(net):,}", ref and f"{ref.kernel_weights:,}"),
                f"{m.count_weights_with_bias(net):,}",
                cell(f"{m.count_macs(net, hw) / 1e9:.2f}e9", ref and ref.macs and f"{ref.macs / 1e9:.1f}e9"),
                cell(f"{m.model_size_mb(net):.2f}", ref and ref.size_mb and f"{ref.size_mb:.1f}"),
                f"{latency:.1f}" if latency == latency else "-",
                ref.source if ref else "-",
            )
        )
    print(
        format_table(
            ["model", "kernel weights [ref]", "all weights", "MACs [ref]", "fp32 MB [ref]", "CPU ms", "[ref] from"],
            rows,
            align="lrrrrrl",
            title=f"\nour builds at {hw[0]}x{hw[1]} (reference figures in brackets; MACs are the "
            "paper's 'FLOPs', counted at 368x432 there; CPU ms is this machine)",
        )
    )
    if args.runs > 0:
        print(f"(CPU ms: median of {args.runs} runs after 1 warm-up run, batch 1)")
    baseline, ours = m.PAPER_COMPARISON
    if {baseline, ours} <= set(ms):
        print(
            f"\n{baseline} / {ours} latency on this CPU: {ms[baseline] / ms[ours]:.2f}x "
            "(paper, P40 GPU: 42.2 / 20.4 FPS = 2.07x)"
        )
    return EXIT_OK


main = tool.entry(build_parser, run, PROG)  # main(argv=None, prog=PROG) -> exit status
