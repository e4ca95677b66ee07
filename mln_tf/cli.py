"""``mln-pose``: one entry point, one subcommand per job.

    mln-pose train    ...   train a network on COCO keypoints (python -m training.train)
    mln-pose export   tflite|savedmodel ...   export a trained model (python -m export.tflite / .saved_model)
    mln-pose check    tflite|gpu ...   check a .tflite against its reference / the GPU delegate
    mln-pose infer    ...   people in images, folders, videos and cameras -> JSON and overlays
    mln-pose eval     ...   COCO keypoint AP of a model on an annotated image folder
    mln-pose summary  ...   weights, MACs, size and CPU latency (paper Table 2 columns)
    mln-pose demo     ...   the quickstart on the bundled COCO images (python -m training.quickstart)

Every "python -m" form keeps working; flags are the shared vocabulary of mln_tf.flags.
Exit status: 0 success, 1 a failed run or check, 2 a usage error or bad input.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import sys
from pathlib import Path
from typing import Sequence

from mln_tf import flags
from mln_tf.console import setup_logging
from mln_tf.tables import format_table

log = logging.getLogger("mln_tf.cli")  # not __name__: it is "__main__" under python -m

# Subcommands that are whole tools of their own: (module, one-line help); nested for export/check.
DELEGATED: dict[str, dict[str, tuple[str, str]]] = {
    "train": {"": ("training.train", "train a network on COCO keypoints with Keras fit")},
    "demo": {"": ("training.quickstart", "the CPU quickstart on the bundled COCO images (make demo)")},
    "export": {
        "tflite": ("export.tflite", "a .tflite file (fp32, fp16, int8 PTQ, QAT)"),
        "savedmodel": ("export.saved_model", "a serving SavedModel (uint8 RGB in)"),
    },
    "check": {
        "tflite": ("export.check_tflite", "a .tflite against its Keras/SavedModel reference"),
        "gpu": ("export.gpu_check", "a .tflite against the TFLite GPU delegate"),
    },
}
# Chosen on the 4 val + 36 train images with the pretrained network (README, Pretrained weights):
# 1.0,1.25 beat flip (2x time), 1.0,0.75, 1.0,1.5 and 3 scales with flip (6x time) on both sets together.
ACCURATE_SCALES = (1.0, 1.25)
add_arch_arguments = flags.add_arch_arguments  # its old home (export.models imports it from here)


def _summary(args: argparse.Namespace) -> int:
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
    return flags.EXIT_OK


def _runner(args: argparse.Namespace):
    from mln_tf.runners import load_runner

    runner = load_runner(args.model, arch=args.arch, config=args.width, threads=args.threads)
    given = (args.arch, args.width)
    if runner.identity and any(g is not None and g != have for g, have in zip(given, runner.identity)):
        log.warning(
            "%s is %s at width %s (recorded in the model); --arch/--width are only for .weights.h5 "
            "files and were ignored",
            args.model,
            *runner.identity,
        )
    return runner


def _scales(text: str) -> tuple[float, ...]:
    try:
        scales = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"scales must be comma-separated numbers, got {text!r}") from None
    if not scales or min(scales) <= 0:
        raise argparse.ArgumentTypeError("scales must be positive")
    return scales


def _infer(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mln_tf.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES, collect_files
    from mln_tf.stream import (
        LiveWindow,
        PoseStream,
        ResultWriter,
        _frames,
        camera_frames,
        display_available,
        video_info,
    )

    inputs = list(args.inputs) + list(args.images or [])
    if not inputs and args.camera is None:
        raise flags.UsageError("give images, folders or videos (positional or --images), or --camera")
    if inputs and args.camera is not None:
        raise flags.UsageError("give either files/folders or --camera, not both")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise flags.UsageError(f"--out {out} exists and is not a folder")
    # Everything is checked before the model is loaded (seconds) and before anything is written.
    if args.camera is not None:
        frames = camera_frames(args.camera, args.limit)
        total = args.limit
    else:
        files = collect_files(inputs, IMAGE_SUFFIXES | VIDEO_SUFFIXES, what="images or videos")
        frames = _frames(files, args.limit)
        total = sum((video_info(f)[0] or 1) if f.suffix.lower() in VIDEO_SUFFIXES else 1 for f in files)
        total = min(total, args.limit) if args.limit else total
    show = args.show if args.show is not None else (args.camera is not None and display_available())
    if show and not display_available():
        raise flags.UsageError(
            "--show: no display (DISPLAY unset) or this OpenCV has no GUI "
            "(opencv-python-headless); results are written to --out instead"
        )
    runner = _runner(args)
    stream = PoseStream(runner, args.input_height, args.scales, args.flip)
    writer = ResultWriter(out, overlay=not args.no_overlay)
    window = LiveWindow() if show else None
    interrupted = False
    try:
        with tqdm(total=total, desc="infer", unit="frame", disable=args.quiet) as bar:
            for frame, poses in stream.run(frames):
                writer.write(frame, poses)
                bar.update()
                if window is not None and not window.show(frame, poses):
                    break
    except KeyboardInterrupt:  # a camera runs until stopped: keep what was written
        interrupted = True
    finally:
        writer.close()
        if window is not None:
            window.close()
    return _infer_report(stream, writer, out, interrupted, args.quiet)


def _infer_report(stream, writer, out: Path, interrupted: bool, quiet: bool) -> int:
    rows = [
        (
            Path(s.source).name if s.kind != "camera" else s.source,
            s.kind,
            s.frames,
            s.people,
            stream.median_ms(s.source),
        )
        for s in writer.stats.values()
    ]
    if rows and not quiet:
        print(format_table(["input", "kind", "frames", "people", "ms/frame"], rows, align="llrrr"))
    frames = sum(r[2] for r in rows)
    people = sum(r[3] for r in rows)
    if stream.first_ms is not None:
        timing = (
            f"first call {stream.first_ms:.0f} ms (warm-up: graph tracing for Keras; not in ms/frame); "
            f"median {stream.median_ms():.1f} ms/frame over the other {len(stream.frame_ms)}"
            if stream.frame_ms
            else f"one call: {stream.first_ms:.0f} ms (includes the warm-up: graph tracing for Keras)"
        )
        print(timing)
    written = writer.files_written()
    if written:
        print(
            f"{people} {'person' if people == 1 else 'people'} in {frames} frame(s); {written} file(s) "
            f"written to {out}/ (OpenPose-style *_keypoints.json" + (", *_pose overlays)" if writer.overlay else ")")
        )
    else:
        print("nothing written: no input could be read", file=sys.stderr)
    for failure in stream.failures:
        print(f"failed: {failure}", file=sys.stderr)
    if interrupted:
        print("stopped by Ctrl-C; the frames before it are written", file=sys.stderr)
    return flags.EXIT_FAILED if stream.failures or not written else flags.EXIT_OK


def _eval(args: argparse.Namespace) -> int:
    from mln_tf.evaluate import evaluate_model, load_coco
    from mln_tf.evaluate import format_table as coco_table
    from mln_tf.files import write_json_atomic

    if len(args.images) != 1:
        raise flags.UsageError("eval reads one --images folder (the one the annotation file refers to)")
    images = Path(args.images[0])
    if not images.is_dir():
        raise flags.UsageError(f"--images: image folder not found: {images}")
    gt = load_coco(args.annotations)  # checked before the model is loaded
    ids = sorted(gt.getImgIds())[: args.limit] if args.limit else None
    runner = _runner(args)
    stats = evaluate_model(
        runner,
        gt,
        images,
        args.input_height,
        scales=args.scales,
        flip=args.flip,
        progress=not args.quiet,
        verbose=False,
        image_ids=ids,
    )
    print(coco_table(stats, stats["images"]))
    if stats["results"] == []:
        print("0 people detected: every score is 0", file=sys.stderr)
    if args.out:
        write_json_atomic(args.out, stats["results"])
        print(f"COCO results ({len(stats['results'])} detections) written to {args.out}")
    for failure in stats["failures"]:
        print(f"failed: {failure}", file=sys.stderr)
    return flags.EXIT_FAILED if stats["failures"] else flags.EXIT_OK


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        required=True,
        help="a .keras model, a .weights.h5 file (give --arch/--width), a SavedModel "
        "directory, a .tflite file, or pretrained:NAME for a shipped network "
        "(pretrained:tfpose_mobilenet_thin)",
    )
    flags.add_arch_arguments(p)
    flags.add_input_height(p)
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
        type=_scales,
        default=(1.0,),
        help="comma-separated multiples of --input-height for multi-scale testing (default 1)",
    )
    p.add_argument("--flip", action="store_true", help="also run the mirrored image and average (flip test)")
    p.add_argument(
        "--threads",
        type=flags.positive_int,
        default=None,
        help="LiteRT CPU threads for .tflite models (default: LiteRT's)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``mln-pose`` argument parser with all subcommands."""
    from mln_tf.model import ARCHS

    parser = argparse.ArgumentParser(
        prog="mln-pose", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, tools in DELEGATED.items():
        helps = "; ".join(f"{k}: {h}" if k else h for k, (_, h) in tools.items())
        sub.add_parser(name, help=helps, add_help=False)

    s = sub.add_parser(
        "summary",
        help="weights, MACs, size and CPU latency (paper Table 2 columns)",
        description="Build the full-size network(s) and print the paper's Table 2 "
        "columns for them beside the paper's figures.",
    )
    s.add_argument(
        "--arch",
        choices=ARCHS,
        action="append",
        help=f"network to summarise; repeat for several (default: all of {', '.join(ARCHS)})",
    )
    flags.add_input(s, what="network input for MACs and latency")
    s.add_argument(
        "--runs",
        type=int,
        default=5,
        help="timed forward passes for the median CPU latency, after one warm-up pass; 0 skips timing (default 5)",
    )
    s.set_defaults(func=_summary)

    i = sub.add_parser(
        "infer",
        help="people in images, folders, videos and cameras -> JSON and overlays",
        description="Estimate poses and write, per image, OpenPose-style JSON "
        "(people[].pose_keypoints_2d, 18 x (x, y, score)) and a skeleton "
        "overlay; videos and cameras give per-frame JSON and an overlay .mp4. "
        "Files are written atomically. Exits 1 if any input failed, 2 on "
        "bad arguments (nothing is loaded or written then).",
    )
    _add_model_args(i)
    i.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, video files, or folders of them")
    flags.add_images(i, what="image/video files or folders (same as INPUT)")
    i.add_argument(
        "--camera",
        metavar="DEVICE",
        help="read an OpenCV camera (index such as 0, a device path or a stream URL) until "
        "Ctrl-C, q/Esc in the window, or --limit frames",
    )
    flags.add_out(i, what="output folder (created if missing)")
    i.add_argument("--no-overlay", action="store_true", help="write JSON only, no overlay images/videos")
    i.add_argument(
        "--show",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a live window (default: for --camera when a display exists; opencv-python-headless has none)",
    )
    flags.add_limit(i)
    flags.add_quiet(i)
    i.set_defaults(func=_infer)

    e = sub.add_parser(
        "eval",
        help="COCO keypoint AP of a model on an annotated image folder",
        description="Run a model over a COCO-format image set and print COCOeval's "
        "keypoint table plus the left/right confusion rate.",
    )
    _add_model_args(e)
    flags.add_annotations(e, required=True)
    flags.add_images(e, required=True, what="the folder holding the annotation file's images")
    e.add_argument(
        "--out",
        "--results",
        dest="out",
        default=None,
        metavar="FILE",
        help="also write the COCO results JSON here (--results is its old name)",
    )
    flags.add_limit(e, what="images of the annotation file")
    flags.add_quiet(e)
    e.set_defaults(func=_eval)
    return parser


def _delegate(argv: list[str]) -> int:
    """Run a whole-tool subcommand (train, demo, export X, check X) with the rest of ``argv``."""
    command, rest = argv[0], argv[1:]
    tools = DELEGATED[command]
    if "" in tools:
        module, _ = tools[""]
    elif rest and rest[0] in tools:
        module, _ = tools[rest[0]]
        command, rest = f"{command} {rest[0]}", rest[1:]
    else:
        kinds = "|".join(tools)
        lines = "\n".join(f"  {k:<11} {h}" for k, (_, h) in tools.items())
        stream = sys.stdout if rest and rest[0] in ("-h", "--help") else sys.stderr
        print(f"usage: mln-pose {command} {{{kinds}}} ...\n\n{lines}", file=stream)
        if stream is sys.stdout:
            return flags.EXIT_OK
        print(
            f"mln-pose {command}: error: choose one of {kinds}" + (f", not {rest[0]!r}" if rest else ""),
            file=sys.stderr,
        )
        return flags.EXIT_USAGE
    main_fn = importlib.import_module(module).main
    if "prog" in inspect.signature(main_fn).parameters:
        return main_fn(rest, prog=f"mln-pose {command}")
    return main_fn(rest)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mln-pose`` with ``argv``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        return _delegate(argv)
    args = build_parser().parse_args(argv)
    setup_logging(getattr(args, "quiet", False))
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"mln-pose {args.command}: error: {exc}", file=sys.stderr)
        return flags.EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
