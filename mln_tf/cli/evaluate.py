"""``mln-pose eval``: COCO keypoint AP of a model on an annotated image folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mln_tf.cli import flags, tool
from mln_tf.errors import EXIT_FAILED, EXIT_OK, UsageError

HELP = "COCO keypoint AP of a model on an annotated image folder"
PROG = "mln-pose eval"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The flags of ``mln-pose eval``."""
    p = tool.parser(
        prog,
        "Run a model over a COCO-format image set and print COCOeval's "
        "keypoint table plus the left/right confusion rate.",
    )
    flags.add_model_flags(p)
    flags.add_annotations(p, required=True)
    flags.add_images(p, required=True, what="the folder holding the annotation file's images")
    p.add_argument("--out", default=None, metavar="FILE", help="also write the COCO results JSON here (atomically)")
    flags.add_overwrite(p, "an existing --out file")
    flags.add_limit(p, what="images of the annotation file")
    flags.add_quiet(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Check the inputs and --out, load the model, evaluate, print the COCO table."""
    from mln_tf.evaluate import evaluate_model, load_coco
    from mln_tf.evaluate import format_table as coco_table
    from mln_tf.files import write_json_atomic
    from mln_tf.runners import check_model_path

    if len(args.images) != 1:
        raise UsageError("eval reads one --images folder (the one the annotation file refers to)")
    images = Path(args.images[0])
    if not images.is_dir():
        raise UsageError(f"--images: image folder not found: {images}")
    if args.out:
        tool.check_output(args.out, args.overwrite, (".json",))
    try:
        gt = load_coco(args.annotations)  # checked before the model is loaded
    except ValueError as exc:
        raise UsageError(f"--annotations: {exc}") from None
    config = flags.estimator_config(args)
    check_model_path(args.model)
    ids = sorted(gt.getImgIds())[: args.limit] if args.limit else None
    estimator = flags.load_estimator(args, config)
    stats = evaluate_model(estimator, gt, images, progress=not args.quiet, verbose=False, image_ids=ids)
    print(f"{args.model}: {estimator.config.describe()}")
    print(coco_table(stats, stats["images"]))
    if stats["results"] == []:
        print("0 people detected: every score is 0", file=sys.stderr)
    if args.out:
        write_json_atomic(args.out, stats["results"])
        print(f"COCO results ({len(stats['results'])} detections) written to {args.out}")
    for failure in stats["failures"]:
        print(f"failed: {failure}", file=sys.stderr)
    return EXIT_FAILED if stats["failures"] else EXIT_OK


main = tool.entry(build_parser, run, PROG)  # main(argv=None, prog=PROG) -> exit status
