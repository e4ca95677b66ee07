"""SavedModel for serving: uint8 RGB images in, refined heatmaps and PAFs out.

    mln-pose export savedmodel runs/train/model.keras exported/mln_savedmodel
    mln-pose export savedmodel model.weights.h5 out/ --width tiny --input 368x432

The SavedModel (``keras.export.ExportArchive``) is float32 (a ``mixed_float16`` model is
rebuilt in float32 with the same weights) and has one signature, ``serving_default``:

* input ``image``: uint8 RGB, shape (N, H, W, 3); H and W must be multiples of 8 (the
  network's stride). Letterbox/pad with ``mln_tf.inference.preprocess`` (padding grey,
  pixel 128) or pass ``--input HxW`` to export a fixed size.
* outputs ``heatmaps`` float32 (N, H/8, W/8, 19) and ``pafs`` float32 (N, H/8, W/8, 38),
  the refined maps of the last stage.

Normalisation (pixel / 256 - 0.5, ``mln_tf.inference.normalize``) happens inside the graph,
so a client sends plain pixels. The folder loads with ``tf.saved_model.load`` in a process
that imports only TensorFlow and serves as is with TF Serving (see README.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from mln_tf.cli import flags, tool
from mln_tf.export.saved_model import SIGNATURE, export_saved_model, signature_summary, verify

HELP = "a serving SavedModel (uint8 RGB in)"
PROG = "mln-pose export savedmodel"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The exporter's flags."""
    parser = tool.parser(prog, __doc__)
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


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Export a SavedModel; exit 2 for bad arguments or input (nothing loaded), 1 when the export fails."""
    return tool.run_tool(build_parser, run, argv, prog)


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
        "serve with TF Serving (the folder is one version of a model; see README.md):\n"
        "  docker run -p 8501:8501 -v $PWD/<base>:/models/mln -e MODEL_NAME=mln tensorflow/serving"
    )
    if error > 1e-4:
        raise ValueError(f"the SavedModel's maps differ from the Keras model's by {error:.2e}")
    return 0
