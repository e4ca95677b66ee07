"""mln_tf.tracking_scenarios: the synthetic sequences of the tracking benchmark (A) and the ports' golden files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mln_tf import tracking_scenarios as sc
from mln_tf.tracking import box_area


@pytest.fixture(scope="module")
def templates():
    return sc.person_templates()


def test_templates_are_bundled_people_of_size_one(templates):
    assert len(templates) >= 20
    for t in templates:
        present = t[:, 2] > 0
        assert t.shape == (18, 3) and present.sum() >= 12
        assert math.sqrt(box_area(t[:, :2], present)) == pytest.approx(1.0)
    first = sc.bundled_annotations()[:5]
    assert len(sc.person_templates(first)) <= 5  # any COCO annotations, not only the bundled ones


@pytest.mark.parametrize("kind", [*sc.KINDS, "sinus"])
def test_a_sequence_is_fixed_by_its_seed_and_consistent(templates, kind):
    times, labels, observed = sc.synthetic(kind, 3, templates, frames=40)
    again = sc.synthetic(kind, 3, templates, frames=40)
    assert times == again[0] and len(labels) == len(observed) == 40
    assert times[1] == pytest.approx(1000.0 / sc.FPS)
    for (lab, (kp, scores)), (lab2, (kp2, scores2)) in zip(zip(labels, observed), zip(again[1], again[2])):
        np.testing.assert_array_equal(kp, kp2)
        np.testing.assert_array_equal(lab.keypoints, lab2.keypoints)
        assert isinstance(lab, sc.Labels) and len(lab.ids) == len(lab.keypoints) == len(lab.areas) == len(kp)
        assert kp.shape == (len(scores), 18, 3) and (np.diff(scores) <= 0).all()  # in score order
        seen = kp[..., 2] > 0
        assert (kp[~seen] == 0).all()
        labelled = lab.keypoints[..., 2] > 0  # labels in walker order, people in score order
        assert all(any((labelled[j] >= seen[i]).all() for j in range(len(lab.ids))) for i in range(len(kp)))
    other = sc.synthetic(kind, 4, templates, frames=40)[2]
    assert any(a[0].shape != b[0].shape or not np.array_equal(a[0], b[0]) for a, b in zip(observed, other))


def test_crossings_hide_the_one_behind_and_exits_leave_the_canvas(templates):
    _, labels, _ = sc.synthetic("cross", 0, templates, frames=150)
    counts = [len(lab.ids) for lab in labels]
    assert {int(i) for lab in labels for i in lab.ids} == {0, 1, 2, 3} and min(counts) < 4
    _, labels, _ = sc.synthetic("exit", 2, templates, frames=150)
    h, w = sc.CANVAS
    assert min(len(lab.ids) for lab in labels) < 3  # someone is out of the frame for a while
    xy = np.concatenate([lab.keypoints[lab.keypoints[..., 2] > 0, :2] for lab in labels if len(lab.ids)])
    assert (xy[:, 0] >= 0).all() and (xy[:, 0] < w).all() and (xy[:, 1] < h).all()
