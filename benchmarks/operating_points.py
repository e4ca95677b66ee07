"""Accuracy against speed of the shipped network: input size x refinement stages x precision, on this CPU.

    .venv/bin/python benchmarks/operating_points.py [--sizes 192x256 224x288 ...] [--stages 1 2 ... 6]
        [--int8 front|all|none] [--threads 2] [--rounds 7] [--video vtest.avi] [--out runs/operating_points]

Each point is an export of ``pretrained:tfpose_mobilenet_thin`` at a fixed input size, stopped after
refinement stage k (``mln_tf.export.models.at_stage``: the graph ends at stage k's maps; no
retraining), fp32 for every size and stage, int8 (calibrated on the bundled train images, the
README's recipe) for the points of the fp32 Pareto front. For each:

* COCO AP on the 4 val and the 36 train images (the same decoder and COCOeval as ``mln-pose
  eval``; the images letterboxed into the fixed input, as the phone and the browser do);
* the network's median ms per frame (LiteRT, ``--threads``, batch 1, a real photo; rounds
  interleaved over all the points so that the machine's noise falls on all alike);
* on the Pareto front: end-to-end frames per second of the stream (read, network, decoder,
  tracker), serial and pipelined (``mln_tf.pipeline``), on a clip made from a bundled photo and
  on OpenCV's ``vtest.avi`` (Debian's opencv-doc) when it is installed.

The table is printed with the CPU and its ISA, written to ``--out``/points.json, and plotted (AP
against ms, Pareto front marked) into ``--out``/operating_points.png. Exports are cached in
``--out`` and reused. ``mln_tf/operating_points.py`` takes its named points from this table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mln_tf  # noqa: E402,F401  (filters TensorFlow's start-up noise)

SIZES = ("192x256", "224x288", "256x320", "288x352", "320x384", "368x432")
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")  # OpenCV's pedestrians (Debian's opencv-doc)
SETS = {"val": ROOT / "mln_tf/bundled/coco_val2017_mini", "train": ROOT / "mln_tf/bundled/coco_train2017_mini"}


def export_point(model, size: str, stage: int, mode: str, out: Path, calibration) -> Path:
    """The .tflite of one point (reused when it exists)."""
    from mln_tf.export.models import at_stage
    from mln_tf.export.tflite import export_tflite
    from mln_tf.model import parse_hw

    path = out / f"thin_s{stage}_{mode}_{size}.tflite"
    if not path.is_file():
        hw = parse_hw(size)
        export_tflite(
            at_stage(model, stage), path, mode, hw, calibration(hw) if mode == "int8" else None, progress=False
        )
    return path


def accuracy(path: Path, threads: int) -> dict[str, float]:
    """COCO AP of one .tflite on each bundled set."""
    from mln_tf.estimator import Estimator
    from mln_tf.evaluate import evaluate_model

    est = Estimator.load(path, threads=threads)
    return {
        name: float(evaluate_model(est, folder / "person_keypoints.json", folder, progress=False, verbose=False)["AP"])
        for name, folder in SETS.items()
    }


def network_ms(paths: list[Path], threads: int, rounds: int) -> list[float]:
    """Median ms of one network call of each file, rounds interleaved over all the files."""
    from mln_tf.inference import preprocess, read_image
    from mln_tf.runners import load_runner

    rgb = read_image(SETS["val"] / "000000197388.jpg")
    runners = [load_runner(p, threads=threads) for p in paths]
    inputs = [preprocess(rgb, input_hw=r.input_hw)[0][None] for r in runners]
    for r, x in zip(runners, inputs):
        r(x)  # warm-up
    times: list[list[float]] = [[] for _ in runners]
    for _ in range(rounds):
        for k, (r, x) in enumerate(zip(runners, inputs)):
            start = time.perf_counter()
            for _ in range(3):
                r(x)
            times[k].append((time.perf_counter() - start) * 1e3 / 3)
    return [float(np.median(t)) for t in times]


def stream_fps(path: Path, threads: int, clip: Path, pipelined: bool, limit: int) -> float:
    """Frames per second of the stream (decode, network, decoder, tracker) over ``clip``, after its first frame."""
    from mln_tf.estimator import Estimator
    from mln_tf.stream import PoseStream, frames_from

    stream = PoseStream(Estimator.load(path, threads=threads))
    start = None
    frames = 0
    for _frame, _poses in stream.run(frames_from([clip], limit), pipelined=pipelined):
        if start is None:
            start = time.perf_counter()
        else:
            frames += 1
    return frames / (time.perf_counter() - start)


def fps(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def pareto(points: list[dict]) -> list[dict]:
    """The points no other point beats on both mean AP and ms."""
    return [
        p
        for p in points
        if not any(
            q["ms"] <= p["ms"] and q["ap"] >= p["ap"] and (q["ms"], q["ap"]) != (p["ms"], p["ap"]) for q in points
        )
    ]


def plot(points: list[dict], front: list[dict], path: Path, title: str) -> None:
    """AP against ms as a PNG (OpenCV drawing: no plotting library needed)."""
    import cv2

    from mln_tf.draw import write_image

    w, h, m = 900, 600, 70
    img = np.full((h, w, 3), 255, np.uint8)
    ms = [p["ms"] for p in points]
    ap = [p["ap"] for p in points]
    x0, x1 = 0.0, max(ms) * 1.08
    y0, y1 = max(0.0, min(ap) - 0.03), max(ap) + 0.03

    def xy(p):
        return (
            int(m + (p["ms"] - x0) / (x1 - x0) * (w - 2 * m)),
            int(h - m - (p["ap"] - y0) / (y1 - y0) * (h - 2 * m)),
        )

    cv2.rectangle(img, (m, m), (w - m, h - m), (0, 0, 0), 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for k in range(6):
        v = x0 + (x1 - x0) * k / 5
        cv2.putText(img, f"{v:.0f}", (m + int((w - 2 * m) * k / 5) - 10, h - m + 20), font, 0.45, (0, 0, 0), 1)
        a = y0 + (y1 - y0) * k / 5
        cv2.putText(img, f"{a:.2f}", (10, h - m - int((h - 2 * m) * k / 5) + 5), font, 0.45, (0, 0, 0), 1)
    cv2.putText(img, "network ms per frame", (w // 2 - 90, h - 20), font, 0.55, (0, 0, 0), 1)
    cv2.putText(img, "COCO AP (mean of val and train)", (m, m - 25), font, 0.55, (0, 0, 0), 1)
    cv2.putText(img, title, (m, m - 45), font, 0.5, (0, 0, 0), 1)
    colours = {"fp32": (40, 90, 220), "int8": (220, 80, 40)}
    for k, (mode, colour) in enumerate(colours.items()):  # the legend, top left inside the frame
        cv2.circle(img, (m + 15, m + 18 + 20 * k), 6, colour, -1)
        cv2.putText(img, mode, (m + 28, m + 23 + 20 * k), font, 0.45, (0, 0, 0), 1)
    cv2.putText(img, "filled, joined: the Pareto front", (m + 10, m + 63), font, 0.45, (0, 0, 0), 1)
    ordered = sorted(front, key=lambda p: p["ms"])
    for a, b in zip(ordered, ordered[1:]):
        cv2.line(img, xy(a), xy(b), (120, 120, 120), 1)
    for p in points:
        cv2.circle(img, xy(p), 7 if p in front else 4, colours.get(p["mode"], (0, 0, 0)), -1 if p in front else 1)
        if p in front:
            label = f"{p['size']} s{p['stage']} {p['mode']}"
            cv2.putText(img, label, (xy(p)[0] + 8, xy(p)[1] - 6), font, 0.4, (0, 0, 0), 1)
    write_image(path, img)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    parser.add_argument("--stages", nargs="+", type=int, default=[1, 2, 3, 4, 5, 6])
    parser.add_argument(
        "--int8",
        choices=("front", "all", "none"),
        default="front",
        help="int8 exports of the fp32 Pareto front's points (default), of every point, or none",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--video", type=Path, default=VTEST, help=f"a second clip for the FPS (default {VTEST})")
    parser.add_argument("--frames", type=int, default=120, help="frames of --video to time (default 120)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs/operating_points")
    args = parser.parse_args(argv)

    from mln_tf.cli.demo_steps import moving_clip, write_video
    from mln_tf.export.int8 import calibration_inputs
    from mln_tf.inference import read_image
    from mln_tf.pretrained import load_pretrained
    from mln_tf.tables import format_table
    from mln_tf.timing import cpu_description

    args.out.mkdir(parents=True, exist_ok=True)
    model = load_pretrained("tfpose_mobilenet_thin")
    cache: dict = {}

    def calibration(hw):
        if hw not in cache:
            cache[hw] = calibration_inputs(SETS["train"], hw, progress=False)
        return cache[hw]

    def measure(size: str, stage: int, mode: str) -> dict:
        path = export_point(model, size, stage, mode, args.out, calibration)
        aps = accuracy(path, args.threads)
        print(f"{size} stage {stage} {mode}: AP val {aps['val']:.3f} train {aps['train']:.3f}", flush=True)
        mean = (aps["val"] + aps["train"]) / 2
        return {"size": size, "stage": stage, "mode": mode, "path": str(path), **aps, "ap": mean}

    def timed(points: list[dict]) -> None:
        for p, ms in zip(points, network_ms([Path(p["path"]) for p in points], args.threads, args.rounds)):
            p["ms"] = ms

    points = [measure(size, stage, "fp32") for size in args.sizes for stage in args.stages]
    if args.int8 != "none":
        timed(points)  # a first pass picks the fp32 front; the figures reported come from the pass below
        chosen = points if args.int8 == "all" else pareto(points)
        points += [measure(p["size"], p["stage"], "int8") for p in chosen]
    timed(points)  # every point in the same interleaved rounds
    photo = read_image(SETS["val"] / "000000197388.jpg")
    clips = {"clip": write_video(args.out / "clip.mp4", moving_clip(photo), 12.0)}
    if args.video.is_file():
        clips["video"] = args.video
    else:
        print(f"{args.video} not found (Debian: apt-get install opencv-doc): FPS on the bundled clip only")
    front = pareto(points)
    for p in points:
        p["pareto"] = p in front
        for name, clip in clips.items():
            for pipelined in (False, True):
                key = f"fps_{name}_{'pipelined' if pipelined else 'serial'}"
                p[key] = stream_fps(Path(p["path"]), args.threads, clip, pipelined, args.frames) if p in front else None
    cpu = cpu_description()
    rows = [
        (
            p["size"],
            p["stage"],
            p["mode"],
            p["val"],
            p["train"],
            p["ap"],
            p["ms"],
            *[fps(p.get(f"fps_{name}_{kind}")) for name in ("clip", "video") for kind in ("serial", "pipelined")],
            "*" if p["pareto"] else "",
        )
        for p in sorted(points, key=lambda p: p["ms"])
    ]
    print(
        f"\n{cpu}, LiteRT {args.threads} threads; AP on the 4 val / 36 train photos; FPS of the stream "
        f"(decode, network, decoder, tracker) on the bundled clip and {args.video.name}, serial / pipelined"
    )
    head = ["input", "stage", "mode", "AP val", "AP train", "mean", "ms"]
    head += ["clip serial", "clip piped", "video serial", "video piped", "Pareto"]
    print(format_table(head, rows))
    (args.out / "points.json").write_text(json.dumps({"cpu": cpu, "threads": args.threads, "points": points}, indent=1))
    plot(points, front, args.out / "operating_points.png", f"{cpu}, {args.threads} threads")
    print(f"\n{args.out / 'points.json'}, {args.out / 'operating_points.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
