"""``mln-pose export savedmodel``: a SavedModel for serving (mln_tf.export.saved_model does the work)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mln_tf.cli import flags, tool
from mln_tf.export import saved_model as library
from mln_tf.export.saved_model import SIGNATURE, export_saved_model, signature_summary, verify

HELP = "a serving SavedModel (uint8 RGB in)"
PROG = "mln-pose export savedmodel"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The exporter's flags."""
    parser = tool.parser(prog, library.__doc__)
    parser.add_argument(
        "model",
        help="trained model: .keras (it records its architecture), .weights.h5 with --arch/--width, or pretrained:NAME",
    )
    parser.add_argument("out", help="SavedModel folder to write (for TF Serving: <base>/<model>/<version>)")
    flags.add_model_arguments(parser)
    flags.add_input(
        parser,
        default=None,
        what="fixed network input, e.g. 368x432 (without it the graph takes "
        "any H and W that are multiples of 8, checked in the graph)",
    )
    flags.add_overwrite(parser, "an existing folder at OUT")
    flags.add_quiet(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check the paths, load, export in float32, verify against Keras, print the signature."""
    from mln_tf.export.models import float32_model, load_pose_model, with_input_size
    from mln_tf.runners import check_model_path
    from mln_tf.tables import format_table

    hw = args.input
    check_model_path(args.model, keras_only=True)
    tool.check_output(args.out, args.overwrite, folder=True)
    model = load_pose_model(args.model, args.arch, args.width)
    model32 = with_input_size(float32_model(model), hw)
    path = export_saved_model(model32, args.out, hw, overwrite=args.overwrite)
    error = verify(model32, path, hw or (64, 96))
    size = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    print(
        format_table(
            ["", "name", "dtype", "shape"],
            signature_summary(path),
            title=f"\nSavedModel {path} ({size / 1e6:.1f} MB), signature '{SIGNATURE}'",
        )
    )
    print(
        f"\nfloat32: {'rebuilt from mixed precision' if model32 is not model else 'yes'}; "
        f"max |Keras - SavedModel| on a test image: {error:.2e}"
    )
    print(
        "serve with TF Serving (the folder is one version of a model; see docs/export.md):\n"
        "  docker run -p 8501:8501 -v $PWD/<base>:/models/mln -e MODEL_NAME=mln tensorflow/serving"
    )
    if error > 1e-4:
        raise ValueError(f"the SavedModel's maps differ from the Keras model's by {error:.2e}")
    return 0


main = tool.entry(build_parser, run, PROG)  # main(argv=None, prog=PROG) -> exit status
