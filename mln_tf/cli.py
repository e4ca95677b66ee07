"""``mln-pose``: the command-line entry point (one subcommand per job)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from mln_tf.tables import format_table

# Chosen on the 4 val + 36 train images with the pretrained network (README, Pretrained weights):
# 1.0,1.25 beat flip (2x time), 1.0,0.75, 1.0,1.5 and 3 scales with flip (6x time) on both sets together.
ACCURATE_SCALES = (1.0, 1.25)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


def _summary(args: argparse.Namespace) -> int:
    import numpy as np

    from mln_tf import model as m
    from mln_tf.timing import keras_forward, median_ms

    hw = m.parse_hw(args.input)
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

        rows.append((arch,
                     cell(f"{m.count_kernel_weights(net):,}", ref and f"{ref.kernel_weights:,}"),
                     f"{m.count_weights_with_bias(net):,}",
                     cell(f"{m.count_macs(net, hw) / 1e9:.2f}e9", ref and ref.macs and f"{ref.macs / 1e9:.1f}e9"),
                     cell(f"{m.model_size_mb(net):.2f}", ref and ref.size_mb and f"{ref.size_mb:.1f}"),
                     f"{latency:.1f}", ref.source if ref else "-"))
    print(format_table(["model", "kernel weights [ref]", "all weights", "MACs [ref]", "fp32 MB [ref]",
                        "CPU ms", "[ref] from"], rows, align="lrrrrrl",
                       title=f"\nour builds at {hw[0]}x{hw[1]} (reference figures in brackets; MACs are the "
                             "paper's 'FLOPs', counted at 368x432 there; CPU ms is this machine)"))
    if args.runs > 0:
        print(f"(CPU ms: median of {args.runs} runs, batch 1)")
    if {"mln", "openpose"} <= set(ms):
        print(f"\nbaseline / MLN latency on this CPU: {ms['openpose'] / ms['mln']:.2f}x "
              "(paper, P40 GPU: 42.2 / 20.4 FPS = 2.07x)")
    return 0


def _runner(args: argparse.Namespace):
    from mln_tf import model as m
    from mln_tf.runners import load_runner

    return load_runner(args.model, arch=args.arch, config=m.named_config(args.arch, args.width),
                       threads=args.threads)


def _scales(text: str) -> tuple[float, ...]:
    try:
        scales = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"scales must be comma-separated numbers, got {text!r}") from None
    if not scales or min(scales) <= 0:
        raise argparse.ArgumentTypeError("scales must be positive")
    return scales


def _collect_inputs(inputs: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
            if not found:
                raise ValueError(f"no images or videos in folder {path}")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"input not found: {path}")
    return files


def _infer(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mln_tf.draw import draw_poses, write_image
    from mln_tf.inference import estimate_poses, read_image
    from mln_tf.files import write_json_atomic
    from mln_tf.outputs import openpose_json

    files = _collect_inputs(args.inputs)
    runner = _runner(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    rows, failures = [], []

    def unique(stem: str) -> str:
        name, n = stem, 1
        while name in used:
            n += 1
            name = f"{stem}_{n}"
        used.add(name)
        return name

    def run(rgb):
        return estimate_poses(runner, rgb, args.input_height, scales=args.scales, flip=args.flip)

    images = [f for f in files if f.suffix.lower() not in VIDEO_SUFFIXES]
    videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
    for path in tqdm(images, desc="images", unit="img", disable=not images):
        start = time.perf_counter()
        try:
            rgb = read_image(path)
        except ValueError as exc:
            failures.append(str(exc))
            continue
        poses = run(rgb)
        name = unique(path.stem)
        write_json_atomic(out / f"{name}_keypoints.json", openpose_json(poses))
        if not args.no_overlay:
            write_image(out / f"{name}_pose.jpg", draw_poses(rgb, poses))
        rows.append((path.name, 1, len(poses), (time.perf_counter() - start) * 1e3))
    for path in videos:
        result = _infer_video(path, out / unique(path.stem), run, not args.no_overlay)
        if isinstance(result, str):
            failures.append(result)
        else:
            rows.append((path.name, *result))

    print(f"\n{'input':<32} {'frames':>7} {'people':>7} {'ms/frame':>9}")
    for name, frames, people, ms in rows:
        print(f"{name[:32]:<32} {frames:>7} {people:>7} {ms / max(frames, 1):>9.1f}")
    print(f"\noutputs in {out}/ (OpenPose-style *_keypoints.json" + ("" if args.no_overlay else ", *_pose overlays") + ")")
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _infer_video(path: Path, out_stem: Path, run, overlay: bool):
    """Per-frame JSON in ``out_stem/`` and an overlay video; returns (frames, people, ms) or an error."""
    import os

    import cv2
    from tqdm import tqdm

    from mln_tf.draw import draw_poses
    from mln_tf.files import write_json_atomic
    from mln_tf.outputs import openpose_json

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        return f"cannot open video {path}"
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    writer, tmp = None, out_stem.with_name(f".{out_stem.name}_pose.tmp.mp4")
    frames = people = 0
    start = time.perf_counter()
    with tqdm(total=total, desc=path.name, unit="frame") as bar:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = bgr[:, :, ::-1]
            poses = run(rgb)
            write_json_atomic(out_stem / f"{out_stem.name}_{frames:06d}_keypoints.json", openpose_json(poses))
            if overlay:
                if writer is None:
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                             (rgb.shape[1], rgb.shape[0]))
                writer.write(draw_poses(rgb, poses)[:, :, ::-1].copy())
            frames += 1
            people += len(poses)
            bar.update()
    capture.release()
    if writer is not None:
        writer.release()
        os.replace(tmp, out_stem.with_name(f"{out_stem.name}_pose.mp4"))
    if frames == 0:
        return f"no decodable frames in video {path}"
    return frames, people, (time.perf_counter() - start) * 1e3


def _eval(args: argparse.Namespace) -> int:
    from mln_tf.evaluate import evaluate_model
    from mln_tf.files import write_json_atomic

    runner = _runner(args)
    stats = evaluate_model(runner, args.annotations, args.images, args.input_height,
                           scales=args.scales, flip=args.flip)
    if args.results:
        write_json_atomic(args.results, stats["results"])
        print(f"COCO results written to {args.results}")
    for failure in stats["failures"]:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if stats["failures"] else 0


def add_arch_arguments(p: argparse.ArgumentParser, scope: str) -> None:
    """``--arch`` and ``--width`` (``--config`` is its old name) from the registry in mln_tf.model."""
    from mln_tf.model import ARCHITECTURES, ARCHS, WIDTHS

    archs = "; ".join(f"{a.name}: {a.description}" for a in ARCHITECTURES.values())
    widths = "; ".join(f"{a.name}: {', '.join(a.widths)}" for a in ARCHITECTURES.values())
    p.add_argument("--arch", choices=ARCHS, default="mln", help=f"network {scope} (default mln). {archs}")
    p.add_argument("--width", "--config", dest="width", choices=WIDTHS, default="paper",
                   help=f"named widths {scope} (default paper: the published network; tiny: the tests'; "
                        f"small: the quickstart's). Per network: {widths}")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="a .keras model, a .weights.h5 file (give --arch/--width), a SavedModel "
                        "directory, a .tflite file, or pretrained:NAME for a shipped network "
                        "(pretrained:tfpose_mobilenet_thin)")
    add_arch_arguments(p, "of a .weights.h5 file (a .keras file carries its own)")
    p.add_argument("--input-height", type=int, default=368,
                   help="network input height; images keep their aspect ratio (default 368). "
                        "Fixed-size .tflite models letterbox into their own size instead")
    p.add_argument("--accurate", action="store_const", dest="scales", const=ACCURATE_SCALES,
                   help="multi-scale test at " + ",".join(map(str, ACCURATE_SCALES)) + " x --input-height: "
                        "the best setting measured with the pretrained network on both bundled sets "
                        "(COCO AP val 0.648 -> 0.684, train 0.243 -> 0.275) for about 2.7x the time per image "
                        "time, so not the default; same as --scales " + ",".join(map(str, ACCURATE_SCALES)))
    p.add_argument("--scales", type=_scales, default=(1.0,),
                   help="comma-separated multiples of --input-height for multi-scale testing (default 1)")
    p.add_argument("--flip", action="store_true", help="also run the mirrored image and average (flip test)")
    p.add_argument("--threads", type=int, default=None, help="LiteRT CPU threads for .tflite models")


def build_parser() -> argparse.ArgumentParser:
    """The ``mln-pose`` argument parser with all subcommands."""
    from mln_tf.model import ARCHS

    parser = argparse.ArgumentParser(prog="mln-pose", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("summary", help="weights, MACs, size and CPU latency (paper Table 2 columns)",
                       description="Build the full-size network(s) and print the paper's Table 2 "
                                   "columns for them beside the paper's figures.")
    s.add_argument("--arch", choices=ARCHS, action="append",
                   help=f"network to summarise; repeat for several (default: all of {', '.join(ARCHS)})")
    s.add_argument("--input", default="368x432",
                   help="input HEIGHTxWIDTH, multiples of 8 (default: the paper's 368x432)")
    s.add_argument("--runs", type=int, default=5,
                   help="timed forward passes for the median CPU latency; 0 skips timing (default 5)")
    s.set_defaults(func=_summary)

    i = sub.add_parser("infer", help="people in images, folders and videos -> JSON and overlays",
                       description="Estimate poses and write, per image, OpenPose-style JSON "
                                   "(people[].pose_keypoints_2d, 18 x (x, y, score)) and a skeleton "
                                   "overlay; videos give per-frame JSON and an overlay .mp4. Files "
                                   "are written atomically. Exits 1 if any input failed.")
    _add_model_args(i)
    i.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders of images, or video files")
    i.add_argument("--out", required=True, help="output folder (created if missing)")
    i.add_argument("--no-overlay", action="store_true", help="write JSON only, no overlay images/videos")
    i.set_defaults(func=_infer)

    e = sub.add_parser("eval", help="COCO keypoint AP of a model on an annotated image folder",
                       description="Run a model over a COCO-format image set and print COCOeval's "
                                   "keypoint table plus the left/right confusion rate.")
    _add_model_args(e)
    e.add_argument("--annotations", required=True, help="COCO person-keypoints JSON")
    e.add_argument("--images", required=True, help="folder holding the annotation file's images")
    e.add_argument("--results", default=None, help="also write the COCO results JSON here")
    e.set_defaults(func=_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mln-pose`` with ``argv``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"mln-pose {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
