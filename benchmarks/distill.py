"""Does self-distillation (mln_tf/train/distill.py) win back what the fast operating point loses?

    .venv/bin/python benchmarks/distill.py [--speed fast] [--steps 300] [--batch 8] [--lr 1e-5]
        [--video /usr/share/doc/opencv-doc/examples/data/vtest.avi] [--save runs/distill/student.keras]

The shipped network is trained at the operating point's input and stage against its own full
network's maps at 1.5x that resolution, on unlabelled images: the first 24 (by file name) of the
36 bundled train photos and every 8th frame of OpenCV's vtest.avi (pedestrians; Debian's
opencv-doc, BSD licence) when it is installed. Held out, never seen in training: the 4 bundled val
photos and the last 12 train photos. COCO AP (the same decoder and COCOeval as ``mln-pose eval``,
images letterboxed into the point's input) before and after, on the held-out sets and on the 24
it trained on, and the balanced point for scale.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mln_tf  # noqa: E402,F401  (filters TensorFlow's start-up noise)

VAL = ROOT / "mln_tf/bundled/coco_val2017_mini"
TRAIN = ROOT / "mln_tf/bundled/coco_train2017_mini"
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
TRAIN_SEEN = 24  # the first 24 train photos by name are training data; the last 12 are held out


def split_train() -> tuple[list[int], list[int]]:
    """(seen, held-out) COCO image ids of the bundled train photos, by file name."""
    from mln_tf.evaluate import load_coco

    gt = load_coco(TRAIN / "person_keypoints.json")
    ids = sorted(gt.getImgIds(), key=lambda i: gt.imgs[i]["file_name"])
    return ids[:TRAIN_SEEN], ids[TRAIN_SEEN:]


def training_images(seen: list[int], video: Path, every: int) -> list:
    """RGB uint8 images: the seen train photos and every ``every``-th frame of ``video``."""
    import cv2

    from mln_tf.evaluate import load_coco
    from mln_tf.inference import read_image

    gt = load_coco(TRAIN / "person_keypoints.json")
    images = [read_image(TRAIN / gt.imgs[i]["file_name"]) for i in seen]
    if video.is_file():
        cap = cv2.VideoCapture(str(video))
        k = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if k % every == 0:
                images.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            k += 1
        cap.release()
    else:
        print(f"{video} not found (Debian: apt-get install opencv-doc): training on the photos only")
    return images


def ap_table(runner, input_hw, seen, held) -> dict[str, float]:
    """COCO AP of ``runner`` at ``input_hw`` on held-out val, held-out train and seen train."""
    from mln_tf.estimator import Estimator, EstimatorConfig
    from mln_tf.evaluate import evaluate_model

    est = Estimator(runner, EstimatorConfig(input_hw=input_hw))

    def ap(folder: Path, ids) -> float:
        stats = evaluate_model(est, folder / "person_keypoints.json", folder, False, False, image_ids=ids)
        return float(stats["AP"])

    return {"val (held out)": ap(VAL, None), "train 12 (held out)": ap(TRAIN, held), "train 24 (seen)": ap(TRAIN, seen)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", default="fast", help="the operating point to distil for (default fast)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--video", type=Path, default=VTEST)
    parser.add_argument("--every", type=int, default=8, help="every N-th frame of --video (default 8)")
    parser.add_argument("--save", type=Path, default=None, help="write the distilled network (.keras) here")
    args = parser.parse_args(argv)

    from mln_tf.export.models import at_stage
    from mln_tf.operating_points import point
    from mln_tf.pretrained import load_pretrained
    from mln_tf.runners import keras_runner
    from mln_tf.tables import format_table
    from mln_tf.timing import cpu_description
    from mln_tf.train.distill import DistillConfig, distill

    chosen, balanced = point(args.speed), point("balanced")
    model = load_pretrained("tfpose_mobilenet_thin")
    seen, held = split_train()
    images = training_images(seen, args.video, args.every)
    print(f"{cpu_description()}; {len(images)} training images ({TRAIN_SEEN} photos, the rest video frames)")
    config = DistillConfig(
        input_hw=chosen.input_hw, stage=chosen.stage, steps=args.steps, batch_size=args.batch, learning_rate=args.lr
    )
    cut = at_stage(model, chosen.stage)
    before = ap_table(keras_runner(cut), chosen.input_hw, seen, held)
    full = ap_table(keras_runner(at_stage(model, balanced.stage)), balanced.input_hw, seen, held)
    start = time.perf_counter()
    student, losses = distill(model, images, config)
    minutes = (time.perf_counter() - start) / 60
    if args.save:  # before anything else can go wrong
        args.save.parent.mkdir(parents=True, exist_ok=True)
        student.save(args.save)
    after = ap_table(keras_runner(student), chosen.input_hw, seen, held)
    rows = [
        (name, f"{full[name]:.3f}", f"{before[name]:.3f}", f"{after[name]:.3f}", f"{after[name] - before[name]:+.3f}")
        for name in before
    ]
    print(
        f"\n{args.speed} ({chosen.input_hw[0]}x{chosen.input_hw[1]}, stage {chosen.stage or 'all'}), {args.steps} "
        f"steps of {args.batch}, Adam {args.lr:g}, {minutes:.1f} min; loss {losses[0]:.4g} -> "
        f"{sum(losses[-20:]) / len(losses[-20:]):.4g} (mean of the last 20)"
    )
    head = ["COCO AP", "balanced", f"{args.speed} before", f"{args.speed} distilled", "change"]
    print(format_table(head, rows))
    if args.save:
        summary = {"speed": args.speed, "steps": args.steps, "before": before, "after": after, "full": full}
        args.save.with_suffix(".json").write_text(json.dumps(summary, indent=1))
        print(f"written {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
