"""The one vocabulary of command-line flags, shared by every tool (imports no TensorFlow).

``--arch``/``--width`` name a registered network; ``--input HxW`` is a fixed network input,
``--input-height N`` aspect-preserving inference; ``--images``, ``--annotations``, ``--out``,
``--limit``, ``--overwrite`` and ``--quiet`` mean the same everywhere. Tools add them with the
helpers below, so names, types, defaults and help texts cannot drift apart
(``tests/test_flags.py`` checks every tool's ``--help``).

Exit codes and errors: ``mln_tf.cli.tool.run_tool`` (codes in ``mln_tf.errors``).
"""

from __future__ import annotations

import argparse
import logging

from mln_tf.inference import DEFAULT_INPUT_HEIGHT
from mln_tf.model import ARCHITECTURES, ARCHS, DEFAULT_INPUT_HW, WIDTHS, parse_hw

log = logging.getLogger(__name__)


def hw(text: str) -> tuple[int, int]:
    """argparse type: 'HxW' -> (H, W), multiples of 8."""
    try:
        return parse_hw(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def input_height(text: str) -> int:
    """argparse type: an inference height, a multiple of 8 of at least 8."""
    value = positive_int(text)
    if value % 8:
        raise argparse.ArgumentTypeError(f"must be a multiple of 8 (the output stride), got {value}")
    return value


def add_arch_arguments(
    p: argparse.ArgumentParser,
    scope: str = "of a .weights.h5 model (a .keras file carries its own)",
    default_arch: str | None = None,
    default_width: str | None = None,
) -> None:
    """``--arch`` and ``--width`` from the registry in mln_tf.model.

    Defaults None mean "not given": mln at paper width for a ``.weights.h5`` file, and what
    a ``.keras`` file records otherwise.
    """
    archs = "; ".join(f"{a.name}: {a.description}" for a in ARCHITECTURES.values())
    widths = "; ".join(f"{a.name}: {', '.join(a.widths)}" for a in ARCHITECTURES.values())
    p.add_argument(
        "--arch",
        choices=ARCHS,
        default=default_arch,
        help=f"network {scope} (default {default_arch or 'mln'}). {archs}",
    )
    p.add_argument(
        "--width",
        choices=WIDTHS,
        default=default_width,
        help=f"named widths {scope} (default {default_width or 'paper'}: paper is the published "
        f"network; tiny: the tests'; small: the quickstart's). Per network: {widths}",
    )


def add_model_arguments(parser: argparse.ArgumentParser, rebuilds: bool = False) -> None:
    """--arch / --width: the architecture of a ``.weights.h5`` file (a .keras file records its own).

    ``rebuilds``: the command also rebuilds the model from them (QAT), so say so.
    """
    add_arch_arguments(
        parser,
        "of a .weights.h5 model (a .keras model records its own, which --mode qat rebuilds with tf_keras)"
        if rebuilds
        else "of a .weights.h5 model (a .keras model records its own)",
    )


def add_input(
    p: argparse.ArgumentParser, default: tuple[int, int] | None = DEFAULT_INPUT_HW, what: str = "fixed network input"
) -> None:
    """``--input HxW``: a fixed network input size (multiples of 8)."""
    shown = f"{default[0]}x{default[1]}" if default else "none: any size"
    p.add_argument(
        "--input",
        type=hw,
        default=default,
        metavar="HxW",
        help=f"{what}, HEIGHTxWIDTH in multiples of 8 (default {shown})",
    )


def add_input_height(
    p: argparse.ArgumentParser,
    default: int = DEFAULT_INPUT_HEIGHT,
    flag: str = "--input-height",
    what: str = "inference",
) -> None:
    """``--input-height N``: aspect-preserving inference height."""
    p.add_argument(
        flag,
        type=input_height,
        default=default,
        metavar="N",
        help=f"{what} height in pixels (multiple of 8); images keep their aspect ratio "
        f"(default {default}). Fixed-size .tflite models letterbox into their own size",
    )


def add_images(
    p: argparse.ArgumentParser, required: bool = False, what: str = "image files or folders of images"
) -> None:
    """``--images PATH``: images to read (repeat the flag for several)."""
    p.add_argument(
        "--images", action="append", required=required, metavar="PATH", help=f"{what} (repeat --images for several)"
    )


def add_annotations(p: argparse.ArgumentParser, required: bool = False, what: str = "") -> None:
    """``--annotations FILE``: COCO person-keypoints JSON."""
    p.add_argument(
        "--annotations",
        required=required,
        metavar="FILE",
        help="COCO person-keypoints JSON" + (f" {what}" if what else ""),
    )


def add_out(p: argparse.ArgumentParser, default: str | None = None, what: str = "output folder") -> None:
    """``--out PATH``: where results go."""
    p.add_argument(
        "--out",
        required=default is None,
        default=default,
        metavar="PATH",
        help=what + (f" (default {default})" if default else " (required)"),
    )


def add_limit(p: argparse.ArgumentParser, what: str = "images or frames") -> None:
    """``--limit N``: at most N inputs."""
    p.add_argument(
        "--limit", type=positive_int, default=None, metavar="N", help=f"use at most the first N {what} (default: all)"
    )


def add_overwrite(p: argparse.ArgumentParser, what: str = "existing outputs") -> None:
    """``--overwrite``: replace what is there."""
    p.add_argument(
        "--overwrite", action="store_true", help=f"replace {what} (without it an existing output is an error)"
    )


def add_quiet(p: argparse.ArgumentParser) -> None:
    """``--quiet``: results only."""
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars, notes or per-item tables; warnings, errors and the summary only",
    )


# Chosen on the 4 val + 36 train images with the pretrained network (docs/pretrained.md):
# 1.0,1.25 beat flip (2x time), 1.0,0.75, 1.0,1.5 and 3 scales with flip (6x time) on both sets together.
ACCURATE_SCALES = (1.0, 1.25)


def scales(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated positive multiples of --input-height."""
    try:
        scales = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"scales must be comma-separated numbers, got {text!r}") from None
    if not scales or min(scales) <= 0:
        raise argparse.ArgumentTypeError("scales must be positive")
    return scales


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """--model and how to run it (scales, flip, threads): the flags of infer and eval."""
    p.add_argument(
        "--model",
        required=True,
        help="a .keras model, a .weights.h5 file (give --arch/--width), a SavedModel "
        "directory, a .tflite file, or pretrained:NAME for a shipped network "
        "(pretrained:tfpose_mobilenet_thin)",
    )
    add_arch_arguments(p)
    add_input_height(p)
    add_input(
        p,
        default=None,
        what="instead of --input-height, letterbox every image into this fixed network input "
        "(a fixed-size .tflite model brings its own)",
    )
    p.add_argument(
        "--accurate",
        action="store_const",
        dest="scales",
        const=ACCURATE_SCALES,
        default=(1.0,),
        help="multi-scale test at " + ",".join(map(str, ACCURATE_SCALES)) + " x --input-height: "
        "the best setting measured with the pretrained network on both bundled sets "
        "(COCO AP val 0.648 -> 0.684, train 0.243 -> 0.275) for about 2.7x the time per image, "
        "so not the default; same as --scales " + ",".join(map(str, ACCURATE_SCALES)),
    )
    p.add_argument(
        "--scales",
        type=scales,
        default=(1.0,),
        help="comma-separated multiples of --input-height for multi-scale testing (default 1)",
    )
    p.add_argument("--flip", action="store_true", help="also run the mirrored image and average (flip test)")
    add_speed(p, "a .keras model")
    add_decoder(p)
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="LiteRT CPU threads for .tflite models (default: LiteRT's)",
    )


def add_speed(p: argparse.ArgumentParser, applies: str) -> None:
    """``--speed NAME`` (a named operating point: input and stage) and ``--stage K``, for ``applies``."""
    from mln_tf.operating_points import AVX2_FACTOR, KEEP, POINTS, REFERENCE_CPU, camera_default

    points = "; ".join(point.describe() for point in POINTS.values())
    p.add_argument(
        "--speed",
        choices=list(POINTS),
        default=None,
        help=f"a named operating point of {applies}: its fixed input (letterboxed) and the refinement stage "
        f"the network stops after, instead of --input/--input-height and --stage. Measured with the shipped "
        f"network on the bundled images, on {REFERENCE_CPU}: {points}; on an AVX2-only AMD EPYC Zen 3 the "
        f"whole network took {AVX2_FACTOR:g}x this CPU's time. --camera uses {camera_default().name}, "
        f"the fastest that keeps {KEEP:g}x balanced's AP on both sets, unless told otherwise "
        "(docs/benchmarks.md#operating-points)",
    )
    p.add_argument(
        "--stage",
        type=positive_int,
        default=None,
        metavar="K",
        help=f"stop the network after refinement stage K (of {applies}; the later stages are not run; default: all)",
    )


def speed_settings(args: argparse.Namespace, default: str | None = None) -> tuple[tuple[int, int] | None, int | None]:
    """The (fixed input, stage) that --speed/--input/--stage ask for; ``default``: the point used when none is given.

    --speed with --input, --input-height or --stage is a UsageError (the point sets them).
    """
    from mln_tf.errors import UsageError
    from mln_tf.operating_points import point

    given = getattr(args, "input", None)
    stage = getattr(args, "stage", None)
    name = getattr(args, "speed", None)
    height = getattr(args, "input_height", DEFAULT_INPUT_HEIGHT) != DEFAULT_INPUT_HEIGHT  # --input-height given
    if name is not None:
        chosen = point(name)
        flags = (("--input", given is not None), ("--stage", stage is not None), ("--input-height", height))
        clash = [flag for flag, set_ in flags if set_]
        if clash:
            h, w = chosen.input_hw
            raise UsageError(
                f"--speed {name} sets the input ({h}x{w}) and the stage ({chosen.stage or 'all'}): "
                f"give either --speed or {'/'.join(clash)}"
            )
        return chosen.input_hw, chosen.stage
    if default is None or given is not None or stage is not None or height:
        return given, stage
    chosen = point(default)  # the run's summary names the input and the stage
    return chosen.input_hw, chosen.stage


def add_decoder(p: argparse.ArgumentParser) -> None:
    """``--decoder NAME=VALUE`` (repeatable): a decoder setting (PostprocessConfig / GroupingConfig)."""
    from mln_tf.estimator import decoder_settings

    known = ", ".join(f"{k}={v}" for k, v in decoder_settings().items())
    p.add_argument(
        "--decoder",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"a decoder setting, repeatable (docs/decoder.md); the settings used are written with the results. "
        f"Defaults: {known}",
    )


def estimator_config(args: argparse.Namespace, default_speed: str | None = None):
    """The one place flags become an ``EstimatorConfig``: --speed or --input-height/--input and --stage,
    --scales, --flip, --decoder. ``default_speed``: the operating point used when none of --speed,
    --input, --input-height and --stage is given and the model is a .keras one (a .tflite brings its own).

    An invalid combination is a UsageError naming the flags, before any model is loaded.
    """
    from mln_tf.errors import UsageError
    from mln_tf.estimator import EstimatorConfig
    from mln_tf.runners import check_stage, takes_stage

    model = getattr(args, "model", "")
    # a .tflite or SavedModel brings its own input and stage: no default point for it
    input_hw, stage = speed_settings(args, default_speed if takes_stage(model) else None)
    check_stage(model, stage)  # here, not in a Beam worker a minute later
    try:
        config = EstimatorConfig(
            input_height=args.input_height,
            input_hw=input_hw,
            scales=tuple(args.scales),
            flip=bool(args.flip),
            stage=stage,
        )
        return config.with_decoder(getattr(args, "decoder", None) or [])
    except ValueError as exc:
        text = str(exc).replace("input_hw", "--input").replace("drop the scales", "drop --scales/--accurate")
        raise UsageError(text) from None


def load_estimator(args: argparse.Namespace, config=None):
    """The model of --model (with --arch/--width/--threads) and ``config`` (default: from the flags) as an Estimator.

    A model that cannot honour the settings (a fixed-size .tflite with --scales) is a UsageError.
    """
    from mln_tf.errors import UsageError
    from mln_tf.estimator import Estimator
    from mln_tf.runners import load_runner

    config = config or estimator_config(args)
    runner = load_runner(
        args.model, arch=args.arch, width=args.width, threads=getattr(args, "threads", None), stage=config.stage
    )
    given = (args.arch, args.width)
    if runner.identity and any(g is not None and g != have for g, have in zip(given, runner.identity)):
        log.warning(
            "%s is %s at width %s (recorded in the model); --arch/--width are only for .weights.h5 "
            "files and were ignored",
            args.model,
            *runner.identity,
        )
    try:
        return Estimator(runner, config)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
