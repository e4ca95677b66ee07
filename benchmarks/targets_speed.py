"""Target rendering speed: heatmaps, PAFs and mask for a 368x368 sample.

    .venv/bin/python benchmarks/targets_speed.py [--people 10] [--runs 200]

Uses the busiest image of the bundled COCO train subset (its labelled people scaled into
368x368) and, as a worst case, people with uniformly random joints spread over the image.
"""

from __future__ import annotations

import argparse
import json
import timeit
from pathlib import Path

import numpy as np

from mln_tf import skeleton
from mln_tf.targets import render_heatmaps, render_mask, render_pafs, render_targets

ROOT = Path(__file__).resolve().parent.parent


def busiest_coco_people(size: int, people: int) -> np.ndarray:
    """Labelled people of the bundled train image with the most of them, scaled to size."""
    data = json.loads((ROOT / "mln_tf/bundled/coco_train2017_mini/person_keypoints.json").read_text())
    images = {im["id"]: im for im in data["images"]}
    by_image: dict[int, list] = {}
    for ann in data["annotations"]:
        if ann["num_keypoints"] > 0:
            by_image.setdefault(ann["image_id"], []).append(ann["keypoints"])
    image_id = max(by_image, key=lambda k: len(by_image[k]))
    im = images[image_id]
    kp = np.asarray(by_image[image_id][:people], np.float32).reshape(-1, 17, 3)
    kp[..., :2] *= size / max(im["width"], im["height"])
    return skeleton.coco17_to_openpose18(kp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=10, help="people per sample (default 10)")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per case (default 200)")
    args = parser.parse_args()
    size, hw = 368, (46, 46)
    rng = np.random.default_rng(0)
    random_kp = np.zeros((args.people, 18, 3), np.float32)
    random_kp[..., :2] = rng.uniform(0, size, (args.people, 18, 2))
    random_kp[..., 2] = 2
    ignore = np.zeros((size, size), bool)
    ignore[100:180, 40:120] = True
    cases = {"COCO people": busiest_coco_people(size, args.people), "random joints": random_kp}
    print(f"target rendering, {size}x{size} input, median ms of {args.runs} calls")
    print(f"{'case':<14} {'people':>6} {'heatmaps':>9} {'pafs':>9} {'mask':>9} {'all':>9}")
    for name, kp in cases.items():
        parts = [
            lambda: render_heatmaps(kp, hw),
            lambda: render_pafs(kp, hw),
            lambda: render_mask(ignore, hw),
            lambda: render_targets(kp, (size, size), ignore),
        ]
        ms = [np.median(timeit.repeat(f, number=1, repeat=args.runs)) * 1e3 for f in parts]
        print(f"{name:<14} {len(kp):>6} " + " ".join(f"{v:>9.2f}" for v in ms))


if __name__ == "__main__":
    main()
