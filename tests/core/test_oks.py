"""mln_tf.oks: COCO's OKS as pycocotools computes it, for one pair or every pair at once."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from mln_tf import skeleton
from mln_tf.evaluate import coco_sigmas, load_coco
from mln_tf.oks import SIGMAS, VARIANCES, oks, oks_terms


def _people(rng, n: int) -> np.ndarray:
    xy = rng.uniform(0, 300, (n, 17, 2))
    v = rng.integers(0, 3, (n, 17, 1)).astype(np.float64)
    v[:, 0] = 2  # at least one labelled part (COCOeval falls back to boxes for none)
    return np.concatenate([xy, v], -1)


def test_matrix_is_cocoevals_compute_oks():
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(0)
    gts = _people(rng, 4)
    areas = rng.uniform(500, 20000, 4)
    dets = np.concatenate([gts, gts[:2]])
    dets[..., :2] += rng.normal(0, 8, dets[..., :2].shape)
    dets[5, 3:9] = 0  # parts a detection leaves out sit at (0, 0)
    dets[..., 2] = 1
    anns = [
        {"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": float(a), "bbox": [0, 0, 300, 300],
         "num_keypoints": int((g[:, 2] > 0).sum()), "keypoints": g.reshape(-1).tolist()}
        for i, (g, a) in enumerate(zip(gts, areas))
    ]  # fmt: skip
    gt = load_coco({"images": [{"id": 1, "width": 300, "height": 300}], "annotations": anns})
    scores = np.linspace(1.0, 0.5, len(dets))  # COCOeval orders detections by score
    results = [{"image_id": 1, "category_id": 1, "keypoints": d.reshape(-1).tolist(), "score": float(s)}
               for d, s in zip(dets, scores)]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(results), iouType="keypoints")
        ev.params.imgIds = [1]
        ev._prepare()
    want = np.asarray(ev.computeOks(1, 1))  # (detections, labelled people)
    value, terms = oks(dets[:, None], gts[None], areas[None], coco_sigmas())
    assert value.shape == (6, 4) and terms.shape == (6, 4, 17)
    np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-15)
    assert value[0, 0] > 0.5 and value[0, 1] < 0.1  # each detection is most like its own person
    # one pair gives a float and the same numbers
    one, one_terms = oks(dets[1], gts[1], areas[1], coco_sigmas())
    assert isinstance(one, float) and one == value[1, 1]
    np.testing.assert_array_equal(one_terms, terms[1, 1])


def test_terms_formula_broadcasting_and_the_18_part_table():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 100, (3, 18, 2)), rng.uniform(0, 100, (5, 18, 2))
    area = np.array([100.0, 2500.0, 0.0])
    terms = oks_terms(a[:, None], b[None], area[:, None])
    assert terms.shape == (3, 5, 18)
    np.testing.assert_allclose(terms[1, 4], np.exp(-((a[1] - b[4]) ** 2).sum(-1) / (2 * VARIANCES * 2500.0)))
    near = a[2] + 1e-9  # area 0 divides (by eps): only the same place, to within ~1e-8, is similar
    tiny = oks_terms(near, a[2], 0.0)
    d2 = ((near - a[2]) ** 2).sum(-1)
    np.testing.assert_allclose(tiny, np.exp(-d2 / (2 * VARIANCES * np.spacing(1))), rtol=1e-12)
    assert (tiny > 0.01).all() and (terms[2] < 1e-300).all()
    assert oks_terms(a[0], a[0], 0.0).tolist() == [1.0] * 18  # the same place is 1 at any scale
    np.testing.assert_array_equal(VARIANCES, (2 * np.asarray(skeleton.OKS_SIGMAS)) ** 2)
    np.testing.assert_allclose(SIGMAS[list(skeleton.COCO_FROM_OPENPOSE)], coco_sigmas(), atol=1e-12)


def test_mean_over_labelled_parts_and_missing_detected_parts_count_zero():
    gt = np.zeros((18, 3))
    gt[:4] = [[10, 10, 1], [20, 10, 1], [30, 10, 1], [40, 10, 1]]
    det = gt.copy()
    det[4:, :2] = 500  # far off, but not labelled: not counted
    value, terms = oks(det, gt, 1000.0)
    assert value == pytest.approx(1.0) and terms[:4].tolist() == [1.0] * 4 and terms[5] < 1e-6
    found = np.ones(18, bool)
    found[0] = False
    assert oks(det, gt, 1000.0, detected=found)[0] == pytest.approx(0.75)
    assert oks(det, np.zeros((18, 3)), 1000.0)[0] == 0.0  # nothing labelled: 0
