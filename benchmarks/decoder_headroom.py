"""Where the decoder's AP goes on real maps: ground-truth oracles and a keypoint error census.

    .venv/bin/python benchmarks/decoder_headroom.py
    .venv/bin/python benchmarks/decoder_headroom.py --set smooth_sigma=0 --match 0.5

The detections of one decoder configuration (default, or ``--set`` as in
``decoder_quality.py``) on the two bundled real-map sets are scored by COCOeval as they are
and under oracles that each use the ground truth to repair one kind of error, leaving the
rest as decoded. A detection's *match* is the labelled person (not crowd, at least one
keypoint) of its image with the highest OKS (COCO's formula), when that OKS >= ``--match``.

  decoded  as ``postprocess`` + ``coco_results`` give them
  rank     person score = the detection's best OKS: the AP of a perfect ranking
  no-FP    detections whose best OKS < 0.5 removed
  fill     parts the decoder did not output, placed at the match's labelled position
  fix      output parts of OKS term < 0.5, moved to the match's labelled position

Each oracle's AP minus the decoded AP bounds what that kind of change can buy: a better
person score at most ``rank``, dropping doubtful people at most ``no-FP``, finding missing
parts at most ``fill``, localisation and part assignment at most ``fix``. COCO's OKS
charges a part left out exactly like a wrong one, so dropping doubtful *parts* cannot
raise AP. The census counts the labelled keypoints of matched people: right (term >= 0.5),
missing, near miss (wrong, but within twice the distance of term 0.5: localisation) and
far (another peak or another person's part).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from decoder_quality import SETS, load_maps, parse_overrides  # noqa: E402

from mln_tf.evaluate import coco_sigmas, evaluate_coco, load_coco  # noqa: E402
from mln_tf.inference import PostprocessConfig, postprocess  # noqa: E402
from mln_tf.oks import oks  # noqa: E402
from mln_tf.outputs import coco_results  # noqa: E402
from mln_tf.tables import format_table  # noqa: E402

ORACLES = ("decoded", "rank", "no-FP", "fill", "fix")
CENSUS = ("right", "missing", "near miss", "far")
TERM_OK = 0.5  # a part is right when its OKS term is at least this


def labelled_people(gt, image_id: int) -> list[dict]:
    """The annotations COCOeval does not ignore: not crowd, at least one keypoint."""
    anns = gt.loadAnns(gt.getAnnIds(imgIds=image_id))
    return [a for a in anns if a.get("num_keypoints", 0) > 0 and not a.get("iscrowd", 0)]


def best_match(det: np.ndarray, people: list[dict], sigmas: np.ndarray) -> tuple[int, float, np.ndarray]:
    """(index, OKS, terms) of the labelled person most similar to ``det``; (-1, 0, zeros) if none."""
    best = (-1, 0.0, np.zeros(len(sigmas)))
    for i, a in enumerate(people):
        value, terms = oks(det, np.reshape(a["keypoints"], (-1, 3)), a["area"], sigmas)
        if value > best[1]:
            best = (i, value, terms)
    return best


def oracle(results: list[dict], gt, kind: str, match: float, sigmas: np.ndarray) -> list[dict]:
    """``results`` repaired by one oracle of ``ORACLES`` (new dicts; the input is untouched)."""
    if kind not in ORACLES:
        raise ValueError(f"unknown oracle {kind!r}; known: {ORACLES}")
    out = []
    for r in results:
        det = np.reshape(r["keypoints"], (-1, 3)).astype(np.float64)
        people = labelled_people(gt, r["image_id"])
        index, value, terms = best_match(det, people, sigmas)
        new = dict(r)
        if kind == "rank":
            new["score"] = value + 1e-6 * r["score"]  # ties keep the decoder's order
        elif kind == "no-FP" and value < 0.5:
            continue
        elif kind in ("fill", "fix") and index >= 0 and value >= match:
            truth = np.reshape(people[index]["keypoints"], (-1, 3))
            present = det[:, 2] > 0
            repair = (truth[:, 2] > 0) & (~present if kind == "fill" else present & (terms < TERM_OK))
            if repair.any():
                det[repair] = np.concatenate([truth[repair, :2], np.ones((int(repair.sum()), 1))], 1)
                new["keypoints"] = [round(float(v), 2) for v in det.reshape(-1)]
        out.append(new)
    return out


def census(results: list[dict], gt, match: float, sigmas: np.ndarray) -> Counter:
    """Labelled keypoints of every matched labelled person, by ``CENSUS`` category.

    Each labelled person is judged by its best detection (highest OKS, >= ``match``).
    """
    counts: Counter = Counter()
    by_image: dict[int, list[np.ndarray]] = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(np.reshape(r["keypoints"], (-1, 3)).astype(np.float64))
    for image_id, dets in by_image.items():
        for a in labelled_people(gt, image_id):
            truth = np.reshape(a["keypoints"], (-1, 3)).astype(np.float64)
            scored = [(oks(d, truth, a["area"], sigmas), d) for d in dets]
            (value, terms), det = max(scored, key=lambda s: s[0][0])
            if value < match:
                continue
            # term = TERM_OK at distance sqrt(2 ln 2) * sqrt(area) * 2 sigma
            tolerance = math.sqrt(2 * math.log(1 / TERM_OK) * a["area"]) * 2.0 * sigmas
            distance = np.hypot(*(det[:, :2] - truth[:, :2]).T)
            for j in np.nonzero(truth[:, 2] > 0)[0]:
                if det[j, 2] <= 0:
                    counts["missing"] += 1
                elif terms[j] >= TERM_OK:
                    counts["right"] += 1
                else:
                    counts["near miss" if distance[j] < 2 * tolerance[j] else "far"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PostprocessConfig/GroupingConfig field of the decoder measured "
        "(repeat for several; default: the default decoder)",
    )
    parser.add_argument(
        "--match",
        type=float,
        default=0.3,
        help="lowest OKS at which a detection counts as finding a labelled person, "
        "for the fill/fix oracles and the census (default 0.3)",
    )
    args = parser.parse_args(argv)
    if not 0.0 < args.match <= 1.0:
        parser.error("--match must be in (0, 1]")
    try:
        config = parse_overrides(args.set) if args.set else PostprocessConfig()
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))

    sigmas = coco_sigmas()
    rows, census_rows = [], []
    for dev in SETS:
        gt = load_coco(dev.annotations)
        results = []
        for image_id, hm, pf, transform in load_maps(dev, gt):
            results += coco_results(image_id, postprocess(hm, pf, transform, config))
        for kind in ORACLES:
            stats = evaluate_coco(oracle(results, gt, kind, args.match, sigmas), gt, verbose=False)
            rows.append([dev.name, kind] + [round(stats[c], 3) for c in ("AP", "AP50", "AP75", "AR")])
        counts = census(results, gt, args.match, sigmas)
        census_rows.append([dev.name] + [counts[c] for c in CENSUS])
    print(
        format_table(
            ["set", "oracle", "AP", "AP50", "AP75", "AR"],
            rows,
            title=f"COCO AP of the decoded people and of oracles repairing one error kind "
            f"({', '.join(args.set) or 'default decoder'})",
        )
    )
    print()
    print(
        format_table(["set", *CENSUS], census_rows, title=f"labelled keypoints of people found at OKS >= {args.match}")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
