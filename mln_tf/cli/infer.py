"""``mln-pose infer``: people in images, folders, videos and cameras -> OpenPose JSON and overlays."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mln_tf.cli import flags, tool
from mln_tf.errors import EXIT_FAILED, EXIT_OK, UsageError
from mln_tf.files import write_json_atomic
from mln_tf.tables import format_table

HELP = "people in images, folders, videos and cameras -> JSON and overlays"
PROG = "mln-pose infer"
RUN_JSON = "run.json"  # the model and settings of the latest run into --out, with its counts
WARMUP = {"keras": "graph tracing", "tflite": "interpreter set-up", "savedmodel": "graph loading"}
log = logging.getLogger("mln_tf.cli")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The flags of ``mln-pose infer``."""
    p = tool.parser(
        prog,
        "Estimate poses and write, per image, OpenPose-style JSON "
        "(people[].pose_keypoints_2d, 18 x (x, y, score)) and a skeleton "
        "overlay; videos and cameras give per-frame JSON and an overlay .mp4. "
        "Files are written atomically. Exits 1 if any input failed, 2 on "
        "bad arguments (nothing is loaded or written then).",
    )
    flags.add_model_flags(p)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, video files, or folders of them")
    flags.add_images(p, what="image/video files or folders (same as INPUT)")
    p.add_argument(
        "--camera",
        metavar="DEVICE",
        help="read an OpenCV camera (index such as 0, a device path or a stream URL) until "
        "Ctrl-C, q/Esc in the window, or --limit frames",
    )
    flags.add_out(p, what="output folder (created if missing)")
    p.add_argument("--no-overlay", action="store_true", help="write JSON only, no overlay images/videos")
    p.add_argument(
        "--no-track",
        action="store_true",
        help="videos and cameras: treat each frame alone (default: people keep an ID across frames, "
        "person_id in the JSON, one colour per ID in the overlay; images are never tracked)",
    )
    p.add_argument(
        "--no-smooth",
        action="store_true",
        help="videos and cameras: keep the detector's keypoints (default: One Euro smoothing per tracked "
        "person, see docs/tracking.md)",
    )
    p.add_argument(
        "--no-pipeline",
        action="store_true",
        help="one frame at a time (default: the next frame is read, and the previous one decoded, tracked "
        "and written, while the network runs: the same results, sooner; a camera's frames are dropped "
        "when the network falls behind, and counted)",
    )
    p.add_argument(
        "--draw-ids",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write each tracked person's ID above its head in the overlays (default: on)",
    )
    p.add_argument(
        "--show",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a live window (default: for --camera when a display exists; opencv-python-headless has none)",
    )
    b = p.add_argument_group("batch on Apache Beam (pip install 'mln_tf[beam]'; docs/cli.md)")
    b.add_argument(
        "--beam",
        action="store_true",
        help="run as an Apache Beam pipeline (images only; inputs may be globs on any Beam filesystem, "
        "e.g. gs://bucket/*.jpg): per-image JSON, coco_results.json and failed.txt in --out",
    )
    b.add_argument(
        "--runner",
        default="DirectRunner",
        choices=("DirectRunner", "FlinkRunner", "SparkRunner", "DataflowRunner"),
        help="the Beam runner (default DirectRunner: local processes)",
    )
    b.add_argument(
        "--beam-workers",
        type=flags.positive_int,
        default=2,
        metavar="N",
        help="DirectRunner: worker processes, each loading the model once (default 2)",
    )
    b.add_argument(
        "--beam-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a further Beam pipeline option, e.g. project=my-project, region=europe-west1, "
        "flink_master=host:8081 (repeatable)",
    )
    flags.add_limit(p)
    flags.add_overwrite(p, "result files already in --out (without it the run stops before loading the model)")
    flags.add_quiet(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Check inputs and outputs, load the model, run every frame, write, report."""
    from mln_tf.console import progress
    from mln_tf.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES, collect_files
    from mln_tf.images import BadFiles
    from mln_tf.runners import check_model_path
    from mln_tf.stream import (
        LiveWindow,
        PoseStream,
        ResultWriter,
        _frames,
        camera_frames,
        camera_source,
        display_available,
        video_info,
    )

    inputs = list(args.inputs) + list(args.images or [])
    from mln_tf.operating_points import camera_default

    # a bad combination of settings is refused before anything else; a camera runs at the camera point
    config = flags.estimator_config(args, default_speed=camera_default().name if args.camera is not None else None)
    if args.beam:
        return run_beam(args, inputs, config)
    if not inputs and args.camera is None:
        raise UsageError("give images, folders or videos (positional or --images), or --camera")
    if inputs and args.camera is not None:
        raise UsageError("give either files/folders or --camera, not both")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    # Everything is checked before the model is loaded (seconds) and before anything is written.
    try:
        if args.camera is not None:
            frames = camera_frames(args.camera, args.limit)
            total = args.limit
            sources = [camera_source(args.camera)]
        else:
            files = collect_files(inputs, IMAGE_SUFFIXES | VIDEO_SUFFIXES, what="images or videos")
            frames = _frames(files, args.limit)
            total = sum((video_info(f)[0] or 1) if f.suffix.lower() in VIDEO_SUFFIXES else 1 for f in files)
            total = min(total, args.limit) if args.limit else total
            sources = [str(f) for f in files]
    except ValueError as exc:  # a missing input, an empty folder, a camera that does not open
        raise UsageError(str(exc)) from None
    if args.no_track and args.no_smooth:
        log.info("--no-smooth has no effect with --no-track (smoothing follows tracked people)")
    writer = ResultWriter(out, overlay=not args.no_overlay, label_ids=args.draw_ids)
    check_model_path(args.model)
    _check_writable(out, writer.planned(sources), args.overwrite)
    show = args.show if args.show is not None else (args.camera is not None and display_available())
    if show and not display_available():
        raise UsageError(
            "--show: no display (DISPLAY unset) or this OpenCV has no GUI "
            "(opencv-python-headless); results are written to --out instead"
        )
    estimator = flags.load_estimator(args, config)
    # each unreadable input is one "failed:" line in the report, not also a warning as it happens
    stream = PoseStream(estimator, tracking=tracker_config(args), failures=BadFiles(quiet=True))
    window = LiveWindow() if show else None
    interrupted = False
    try:
        with progress(total=total, desc="infer", unit="frame", quiet=args.quiet) as bar:
            for frame, poses in stream.run(frames, pipelined=not args.no_pipeline):
                writer.write(frame, poses)
                bar.update()
                if window is not None and not window.show(frame, poses):
                    break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        writer.close()
        if window is not None:
            window.close()
    status = _report(stream, writer, out, args.quiet)
    if interrupted and args.camera is None:  # a camera runs until stopped: Ctrl-C is its normal end
        done = sum(s.frames for s in writer.stats.values())
        raise tool.Interrupted(done, total, "frames", f"their results are in {out}/")
    return status


def run_beam(args: argparse.Namespace, inputs: list[str], config) -> int:
    """--beam: the same poses as a Beam pipeline (mln_tf.beam); checks first, then the job, then a summary.

    Every setting of plain infer reaches the workers (``config``: --input-height/--input,
    --scales/--accurate, --flip, --decoder; --limit). It writes the JSON results, not overlays;
    --show is refused.
    """
    if args.camera is not None or not inputs:
        raise UsageError("--beam reads image files, folders or globs (positional or --images), not --camera")
    if args.show:
        raise UsageError("--show: a Beam job has no window; drop --show or --beam")
    try:
        from mln_tf import beam
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    from mln_tf.runners import check_model_path

    options = {}
    for item in args.beam_option:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--beam-option {item!r}: expected NAME=VALUE")
        options[name] = value
    out = args.out
    if "://" not in out:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise UsageError(f"--out {out} exists and is not a folder")
        _check_writable(path, sorted(path.glob("*_keypoints.json")) + [path / beam.COCO_RESULTS], args.overwrite)
        missing = [i for i in inputs if "://" not in i and not any(c in i for c in "*?[") and not Path(i).exists()]
        if missing:
            raise UsageError(f"input not found: {missing[0]}")
    check_model_path(args.model)
    if str(args.model).lower().endswith(".tflite") and config.scales != (1.0,):
        raise UsageError(
            f"{args.model} takes a fixed input, which runs at one scale: drop --accurate/--scales, "
            "or give the .keras/SavedModel form"
        )
    try:
        job = beam.BeamJob(
            model=args.model,
            inputs=tuple(inputs),
            out=out,
            runner=args.runner,
            config=config,
            limit=args.limit,
            threads=args.threads,
            arch=args.arch,
            width=args.width,
            workers=args.beam_workers,
            options=options,
        )
        beam.match_images(job.inputs, job.limit)  # no images at all is said now, before the job starts
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    summary = beam.run_job(job)
    if "://" not in out and summary.images:
        record = {"model": args.model, **config.settings(), "images": summary.images, "people": summary.people}
        write_json_atomic(Path(out) / RUN_JSON, record)
    if not args.quiet:
        print(
            format_table(
                ["runner", "images", "people", "failed", "s", "images/s"],
                [
                    (
                        args.runner,
                        summary.images,
                        summary.people,
                        len(summary.failed),
                        summary.seconds,
                        summary.images / max(summary.seconds, 1e-9),
                    )
                ],
                align="lrrrrr",
            )
        )
        print(f"{summary.images} image(s): per-image *_keypoints.json and {beam.COCO_RESULTS} in {out}/")
    for path, reason in summary.failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    if summary.failed:
        print(f"{len(summary.failed)} image(s) could not be read: listed in {out}/{beam.FAILED}", file=sys.stderr)
    return EXIT_FAILED if summary.failed or not summary.images else EXIT_OK


def tracker_config(args: argparse.Namespace):
    """The tracking of --no-track/--no-smooth: a TrackerConfig, or None for none."""
    from mln_tf.tracking import TrackerConfig

    if args.no_track:
        return None
    return TrackerConfig(smoothing=None) if args.no_smooth else TrackerConfig()


def _check_writable(out: Path, planned: list[Path], overwrite: bool) -> None:
    there = [path for path in planned if path.exists()]
    if there and not overwrite:
        raise UsageError(
            f"{len(there)} result file(s) already in {out}/ (first: {there[0].name}); "
            "pass --overwrite to replace them, or choose another --out"
        )
    tool.check_writable(out)


def _report(stream, writer, out: Path, quiet: bool) -> int:
    rows = [
        (
            Path(s.source).name if s.kind != "camera" else s.source,
            s.kind,
            s.frames,
            s.people,
            stream.tracks.get(s.source, "-"),
            stream.median_ms(s.source),
        )
        for s in writer.stats.values()
    ]
    if rows and not quiet:
        print(format_table(["input", "kind", "frames", "people", "IDs", "ms/frame"], rows, align="llrrrr"))
    frames = sum(r[2] for r in rows)
    people = sum(r[3] for r in rows)
    if stream.first_ms is not None and not quiet:
        warmup = WARMUP.get(getattr(stream.estimator.runner, "kind", None), "set-up")
        timing = (
            f"first call {stream.first_ms:.0f} ms (warm-up: {warmup}; not in ms/frame); "
            f"median {stream.median_ms():.1f} ms/frame over the other {len(stream.frame_ms)}"
            if stream.frame_ms
            else f"one call: {stream.first_ms:.0f} ms (includes the warm-up: {warmup})"
        )
        print(timing)
    if stream.dropped:
        print(f"{stream.dropped} camera frame(s) dropped while the network was behind (the latest frame is kept)")
    written = writer.files_written()
    if written:
        print(
            f"{people} {'person' if people == 1 else 'people'} in {frames} frame(s); {written} file(s) "
            f"written to {out}/ (OpenPose-style *_keypoints.json" + (", *_pose overlays)" if writer.overlay else ")")
        )
        write_json_atomic(out / RUN_JSON, {**stream.estimator.settings(), "frames": frames, "people": people})
    elif not stream.failures:
        print("nothing written: no input gave a frame", file=sys.stderr)
    lines = stream.failures.lines()
    for i, failure in enumerate(lines):  # one line per unreadable input; the last says when nothing was written
        last = i == len(lines) - 1 and not written
        print(f"failed: {failure}" + (" (nothing written)" if last else ""), file=sys.stderr)
    return EXIT_FAILED if stream.failures or not written else EXIT_OK


main = tool.entry(build_parser, run, PROG)  # main(argv=None, prog=PROG) -> exit status
