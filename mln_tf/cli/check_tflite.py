"""Before shipping a .tflite: does it give the same people as the server model?

    mln-pose check tflite mln_int8.tflite --reference model.keras \\
        --images val2017/ --annotations person_keypoints_val2017.json --threads 4

Every image goes through the *same* ``mln_tf.inference.preprocess`` (letterboxed to the
.tflite's fixed input size) and ``postprocess`` (the shared grouping) for both models: the
.tflite run with LiteRT on CPU (``--threads``) and the reference (a ``.keras`` /
``.weights.h5`` Keras model or a SavedModel folder from ``mln-pose export savedmodel``). Reported:

* map error: the worst image's p99.9 |TFLite - reference| over heatmaps and PAFs divided by
  the reference's map range (checked), the heatmap error (squared heatmap difference over the
  reference heatmaps' variance, the int8 recipe's statistic; checked) and the max and mean
  |difference| (reported: one pixel's max moves with the CPU's float kernels);
* people: the reference's people are matched one-to-one to the .tflite's (Hungarian
  assignment on OKS, pairs with OKS >= 0.5); agreement = matched / max(people of either);
  mean OKS of the matched pairs. OKS is COCO's (pycocotools ``COCOeval``), with the
  reference person as ground truth and its keypoint box area as the object scale;
* COCO keypoint AP of both models when ``--annotations`` names the images (by file name);
* median latency per image of both (model call only; one warm-up call first).

Thresholds default by what the .tflite computes in (fp32 / fp16 / dynamic / int8, read
from the file) and can be overridden. Exit status 1 when any check fails or an image cannot
be read (listed), 0 otherwise. ``--out FILE`` writes the full report as JSON.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from mln_tf.cli import flags, tool
from mln_tf.errors import EXIT_FAILED, EXIT_OK, UsageError
from mln_tf.export.compare import PRECISION_LIMITS, Thresholds, collect_images, compare, format_report

HELP = "a .tflite against its Keras/SavedModel reference"
PROG = "mln-pose check tflite"


OVERRIDES = ("max_map_error", "max_p999_error", "max_heatmap_error", "min_agreement", "min_oks", "max_ap_drop")


def _defaults(field: str) -> str:
    """'fp32 1e-4, fp16 ...' : the default of one limit per precision ('not checked' for None)."""
    values = {name: getattr(limits, field) for name, limits in PRECISION_LIMITS.items()}
    return ", ".join(f"{name} {'not checked' if v is None else f'{v:g}'}" for name, v in values.items())


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The check's flags (--images once per path, so the .tflite is never taken for an image)."""
    parser = tool.parser(prog, __doc__)
    parser.add_argument("tflite", help="the .tflite to check")
    parser.add_argument(
        "--reference",
        required=True,
        help="the server model: .keras, .weights.h5 (with --arch/--width), a SavedModel folder or pretrained:NAME",
    )
    flags.add_model_arguments(parser)
    flags.add_images(parser, required=True, what="an image folder or file (real photos, e.g. COCO val2017)")
    flags.add_annotations(parser, what="of the images: adds the COCO AP of both")
    flags.add_limit(parser, what="images")
    parser.add_argument(
        "--threads", type=int, default=None, help="LiteRT CPU threads for the .tflite (default: LiteRT's choice)"
    )
    parser.add_argument(
        "--max-map-error",
        type=float,
        help="fail above this max |map difference| of any one pixel (default: reported, not checked: "
        "one pixel moves with the CPU's float kernels)",
    )
    for flag, field, what in (
        ("--max-p999-error", "max_p999_error", "the worst image's p99.9 |map difference| / the reference's map range"),
        ("--max-heatmap-error", "max_heatmap_error", "the heatmap error (squared difference / heatmap variance)"),
        ("--min-agreement", "min_agreement", "people agreement (matched / people of either)"),
        ("--min-oks", "min_oks", "mean OKS of matched people"),
        ("--max-ap-drop", "max_ap_drop", "COCO AP of the reference minus the .tflite's"),
    ):
        side = "below" if field.startswith("min") else "above"
        parser.add_argument(flag, type=float, help=f"fail when {what} is {side} this (default: {_defaults(field)})")
    flags.add_decoder(parser)
    parser.add_argument("--out", metavar="FILE", help="also write the report as JSON (atomically)")
    flags.add_overwrite(parser, "an existing --out file")
    flags.add_quiet(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check every path (and the report's), load both models, compare, print, write the report."""
    from mln_tf.estimator import Estimator, EstimatorConfig
    from mln_tf.evaluate import load_coco
    from mln_tf.files import write_json_atomic
    from mln_tf.runners import check_model_path, load_runner

    if not str(args.tflite).endswith(".tflite"):
        raise UsageError(f"{args.tflite} is not a .tflite file")
    check_model_path(args.tflite)
    check_model_path(args.reference)
    if args.out:
        tool.check_output(args.out, args.overwrite, (".json",))
    try:
        annotations = load_coco(args.annotations) if args.annotations else None  # read once, checked first
    except ValueError as exc:
        raise UsageError(f"--annotations: {exc}") from None
    try:
        images = collect_images(args.images, args.limit)
        config = EstimatorConfig().with_decoder(args.decoder)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    tflite = Estimator(load_runner(args.tflite, threads=args.threads), config)
    reference = load_runner(args.reference, arch=args.arch, width=args.width)
    report = compare(
        tflite,
        reference,
        images,
        annotations,
        progress=not args.quiet,
        tflite_name=args.tflite,
        reference_name=args.reference,
    )
    limits = Thresholds.for_precision(report.precision)
    overrides = {k: getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None}
    try:
        limits = Thresholds(**{**asdict(limits), **overrides})
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(format_report(report, limits, per_image=not args.quiet))
    for failure in report.failures:  # also where errors go, one line each
        print(f"failed: {failure}", file=sys.stderr)
    if args.out:
        write_json_atomic(
            args.out,
            {
                **asdict(report),
                "thresholds": asdict(limits),
                "settings": tflite.settings(),
                "summary": {
                    "max_map_error": report.max_map_error,
                    "mean_map_error": report.mean_map_error,
                    "p999_map_error": report.p999_map_error,
                    "heatmap_error": report.heatmap_error,
                    "agreement": report.agreement,
                    "mean_oks": report.mean_oks,
                    "median_ms_tflite": report.median_ms("tflite"),
                    "median_ms_reference": report.median_ms("reference"),
                },
                "failed": report.verdict(limits),
            },
        )
    return EXIT_FAILED if report.verdict(limits) else EXIT_OK


main = tool.entry(build_parser, run, PROG)  # main(argv=None, prog=PROG) -> exit status
