"""benchmarks/decoder_headroom.py: COCO's OKS (mln_tf.oks) reproduced, oracles that repair, the real-map table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mln_tf.evaluate import coco_sigmas, evaluate_coco, load_coco
from mln_tf.oks import oks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    from benchmarks import decoder_headroom

    return decoder_headroom


def _person(x0: float, y0: float) -> list[float]:
    """17 labelled keypoints on a 40 x 80 px figure at (x0, y0)."""
    rng = np.random.default_rng(int(x0))
    xy = np.stack([x0 + rng.uniform(0, 40, 17), y0 + rng.uniform(0, 80, 17)], 1)
    return np.concatenate([xy, np.full((17, 1), 2.0)], 1).reshape(-1).tolist()


@pytest.fixture
def scene():
    anns = [
        {
            "id": i + 1,
            "image_id": 1,
            "category_id": 1,
            "iscrowd": 0,
            "num_keypoints": 17,
            "area": 2000.0,
            "bbox": [x, 10, 40, 80],
            "keypoints": _person(x, 10),
        }
        for i, x in enumerate((10, 200))
    ]
    return load_coco({"images": [{"id": 1, "width": 400, "height": 200}], "annotations": anns})


def test_oks_terms_match_cocoeval(bench, scene):
    truth = np.reshape(scene.loadAnns(1)[0]["keypoints"], (-1, 3))
    det = truth.copy()
    det[:, :2] += np.linspace(-3, 3, 17)[:, None]
    det[4] = 0  # a part left out sits at (0, 0) for COCO
    value, terms = oks(det, truth, 2000.0, coco_sigmas())
    assert terms[4] < 1e-6 and 0.5 < value < 0.95
    # A single detection on an image with one labelled person: AP at threshold t is 1 iff OKS >= t.
    results = [{"image_id": 1, "category_id": 1, "keypoints": det.reshape(-1).tolist(), "score": 1.0}]
    one = load_coco({"images": [{"id": 1, "width": 400, "height": 200}], "annotations": [scene.loadAnns(1)[0]]})
    ap50 = evaluate_coco(results, one, verbose=False)["AP50"]
    assert ap50 == pytest.approx(1.0 if value >= 0.5 else 0.0)
    thresholds = np.arange(0.5, 0.951, 0.05)
    assert evaluate_coco(results, one, verbose=False)["AP"] == pytest.approx((thresholds <= value + 1e-9).mean())


def test_oracles_repair_only_their_error_kind(bench, scene):
    sigmas = bench.coco_sigmas()
    truth = [np.reshape(a["keypoints"], (-1, 3)) for a in scene.loadAnns([1, 2])]
    missing = truth[0].copy()
    missing[[9, 10]] = 0  # wrists left out
    wrong = truth[1].copy()
    wrong[0, :2] += 30  # nose far off
    junk = truth[0].copy()
    junk[:, :2] += 100  # matches nobody
    results = [
        {"image_id": 1, "category_id": 1, "keypoints": d.reshape(-1).tolist(), "score": s}
        for d, s in ((missing, 0.5), (wrong, 0.4), (junk, 0.9))
    ]
    filled = bench.oracle(results, scene, "fill", 0.3, sigmas)
    assert np.allclose(np.reshape(filled[0]["keypoints"], (-1, 3))[[9, 10], :2], truth[0][[9, 10], :2], atol=0.01)
    assert filled[1]["keypoints"] == results[1]["keypoints"]  # nothing left out there
    fixed = bench.oracle(results, scene, "fix", 0.3, sigmas)
    assert np.allclose(np.reshape(fixed[1]["keypoints"], (-1, 3))[0, :2], truth[1][0, :2], atol=0.01)
    assert fixed[0]["keypoints"] == results[0]["keypoints"]  # nothing wrong, only missing
    assert len(bench.oracle(results, scene, "no-FP", 0.3, sigmas)) == 2
    ranked = bench.oracle(results, scene, "rank", 0.3, sigmas)
    assert ranked[2]["score"] < min(ranked[0]["score"], ranked[1]["score"])
    assert results[0]["keypoints"][27:30] == [0.0, 0.0, 0.0]  # the input is untouched
    counts = bench.census(results, scene, 0.3, sigmas)
    assert counts["missing"] == 2 and counts["far"] == 1 and counts["right"] == 31
    with pytest.raises(ValueError, match="unknown oracle"):
        bench.oracle(results, scene, "magic", 0.3, sigmas)


def test_real_maps_every_oracle_at_least_the_decoded_ap(bench, capsys):
    assert bench.main([]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    ap = {(r[0], r[1]): float(r[2]) for r in rows if len(r) == 6 and r[1] in bench.ORACLES}
    assert len(ap) == 10
    for name in ("val", "train"):
        assert all(ap[name, kind] >= ap[name, "decoded"] for kind in bench.ORACLES)
        assert ap[name, "fix"] > ap[name, "decoded"] + 0.05  # localisation is where AP goes


def test_bad_arguments_are_usage_errors(bench):
    for bad in (["--match", "0"], ["--match", "1.5"], ["--set", "nonsense=1"]):
        with pytest.raises(SystemExit) as exc:
            bench.main(bad)
        assert exc.value.code == 2, bad
