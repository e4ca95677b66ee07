"""mln_tf.tracking: IDs across frames, One Euro smoothing, bad input; mln_tf.tracking_metrics on known answers."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mln_tf import skeleton
from mln_tf.grouping import Poses
from mln_tf.tracking import PoseTracker, SmoothingConfig, TrackerConfig, oks_matrix
from mln_tf.tracking_metrics import Frame, mot_metrics

DT = 1000.0 / 30.0
# An upright person in units of its size (OpenPose-18 order).
BODY = np.array(
    [(0, -0.45), (0, -0.3), (-0.12, -0.3), (-0.15, -0.1), (-0.15, 0.1), (0.12, -0.3), (0.15, -0.1), (0.15, 0.1),
     (-0.08, 0.05), (-0.08, 0.25), (-0.08, 0.45), (0.08, 0.05), (0.08, 0.25), (0.08, 0.45), (-0.03, -0.48),
     (0.03, -0.48), (-0.06, -0.46), (0.06, -0.46)],
)  # fmt: skip


def person(cx: float, cy: float, size: float = 100.0, parts=None) -> np.ndarray:
    """(18, 3) keypoints of BODY at (cx, cy), ``size`` pixels tall; ``parts``: only these present."""
    kp = np.zeros((18, 3))
    kp[:, :2] = (cx, cy) + BODY * size
    kp[:, 2] = 0.8
    if parts is not None:
        keep = np.zeros(18, bool)
        keep[list(parts)] = True
        kp[~keep] = 0
    return kp


def frame(*people: np.ndarray) -> np.ndarray:
    return np.array(people).reshape(-1, 18, 3)


def test_ids_follow_people_whatever_their_order():
    tracker = PoseTracker()
    rng = np.random.default_rng(0)
    starts = [(100 + 150 * i, 200 + 30 * (i % 3)) for i in range(8)]
    first = None
    for f in range(60):
        people = [person(x + 3 * f, y + rng.normal(0, 1)) for x, y in starts]
        order = rng.permutation(8)
        out = tracker.update(frame(*[people[i] for i in order]), f * DT)
        by_person = dict(zip(order.tolist(), out.ids.tolist()))
        first = first or by_person
        assert by_person == first, f"frame {f}"
    assert tracker.next_id == 8


def test_crossing_people_keep_their_ids_where_score_order_greedy_would_swap():
    """Two people walk into each other; the one behind is hidden while they overlap; detector
    scores favour the wrong pairing at the crossing. Prediction + Hungarian keep both IDs."""
    tracker = PoseTracker(TrackerConfig(smoothing=None))
    ids_a, ids_b = set(), set()
    for f in range(80):
        xa, xb = 100 + 6 * f, 580 - 6 * f
        a, b = person(xa, 240), person(xb, 245)
        hidden = abs(xa - xb) < 60
        people = [a] if hidden else [b, a]  # b listed first: the greedy rule would give b first pick
        out = tracker.update(frame(*people), f * DT)
        ids_a.add(int(out.ids[-1]))
        if not hidden:
            ids_b.add(int(out.ids[0]))
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_a_track_survives_misses_up_to_max_age_and_ids_are_never_reused():
    config = TrackerConfig(max_age_ms=500.0)
    tracker = PoseTracker(config)
    assert tracker.update(frame(person(200, 200)), 0.0).ids.tolist() == [0]
    tracker.update(frame(), 100.0)  # missed frames
    assert tracker.update(frame(person(200, 200)), 450.0).ids.tolist() == [0]  # back within 500 ms
    assert tracker.update(frame(person(200, 200)), 1000.0).ids.tolist() == [1]  # 550 ms unseen: a new ID
    assert tracker.update(frame(person(200, 200), person(500, 200)), 1033.0).ids.tolist() == [1, 2]
    assert len(tracker) == 2  # the ended track is gone


def test_a_frame_with_100_people_caps_the_tracks_and_marks_the_rest_untracked():
    tracker = PoseTracker(TrackerConfig(max_tracks=32))
    crowd = frame(*[person(60 * (i % 10), 120 * (i // 10), size=40) for i in range(100)])
    out = tracker.update(crowd, 0.0)
    assert len(out) == 100 and len(tracker) == 32
    assert sorted(out.ids[out.ids >= 0].tolist()) == list(range(32)) and (out.ids[32:] == -1).all()
    # the next frame: the same 32 keep their IDs; a newcomer replaces the longest-unseen track only
    out = tracker.update(crowd[:32], DT)
    assert out.ids.tolist() == list(range(32))
    out = tracker.update(frame(person(2000, 2000)), 2 * DT)
    assert out.ids.tolist() == [32] and len(tracker) == 32


def test_empty_frames_nan_keypoints_and_one_visible_part_are_defined():
    tracker = PoseTracker()
    assert len(tracker.update(Poses.empty(), 0.0)) == 0
    assert len(tracker.update(np.zeros((0, 18, 3)), 10.0)) == 0
    bad = person(200, 200)
    bad[3] = np.nan  # a NaN part is a missing part
    bad[4, 0] = np.inf
    out = tracker.update(frame(bad), 20.0)
    assert np.isfinite(out.keypoints).all() and (out.keypoints[0, [3, 4]] == 0).all() and out.ids.tolist() == [0]
    lonely = person(600, 200, parts=[0])  # one visible part: no size to track it by, ID -1, raw keypoints
    out = tracker.update(frame(person(200, 200), lonely), 30.0)
    assert out.ids.tolist() == [0, -1] and np.array_equal(out.keypoints[1], lonely.astype(np.float32))
    # a tracked person seen with one part keeps its ID
    assert tracker.update(frame(person(200, 200, parts=[1])), 60.0).ids.tolist() == [0]
    nobody = np.zeros((1, 18, 3))  # a person without any part gets no track
    assert tracker.update(nobody, 90.0).ids.tolist() == [-1]


def test_time_stamps_that_repeat_or_go_back_are_a_step_of_1_ms(caplog):
    a, b = PoseTracker(), PoseTracker()
    rng = np.random.default_rng(1)
    frames = [frame(person(200 + 2 * f + rng.normal(0, 2), 200)) for f in range(4)]
    with caplog.at_level(logging.WARNING, logger="mln_tf.tracking"):
        got = [a.update(fr, t).keypoints for fr, t in zip(frames, [0.0, 33.0, 33.0, float("nan")])]
    want = [b.update(fr, t).keypoints for fr, t in zip(frames, [0.0, 33.0, 34.0, 35.0])]
    np.testing.assert_array_equal(np.array(got), np.array(want))
    assert len([r for r in caplog.records if "does not increase" in r.message]) == 1  # said once


def test_smoothing_steadies_a_still_person_and_follows_a_moving_one():
    rng = np.random.default_rng(2)
    truth = person(300, 300)
    tracker = PoseTracker()
    raw_err, out_err = [], []
    for f in range(90):
        noisy = truth.copy()
        noisy[:, :2] += rng.normal(0, 2.0, (18, 2))
        out = tracker.update(frame(noisy), f * DT).keypoints[0]
        if f > 30:
            raw_err.append(np.abs(noisy[:, :2] - truth[:, :2]).mean())
            out_err.append(np.abs(out[:, :2] - truth[:, :2]).mean())
    assert np.mean(out_err) < 0.5 * np.mean(raw_err)
    # walking at constant speed: the filter runs in the person's moving frame, so it does not trail
    tracker = PoseTracker()
    for f in range(60):
        out = tracker.update(frame(person(100 + 4 * f, 300)), f * DT).keypoints[0]
    np.testing.assert_allclose(out[:, 0], person(100 + 4 * 59, 300)[:, 0], atol=0.5)


def test_a_part_that_was_missing_starts_fresh_where_it_reappears():
    tracker = PoseTracker()
    tracker.update(frame(person(300, 300)), 0.0)
    without = person(300, 300)
    without[4] = 0  # the right wrist disappears for a frame
    tracker.update(frame(without), DT)
    moved = person(300, 300)
    moved[4, :2] += (40, -30)  # and comes back elsewhere
    out = tracker.update(frame(moved), 2 * DT).keypoints[0]
    np.testing.assert_allclose(out[4, :2], moved[4, :2])  # not dragged from its old place
    assert out[4, 2] == pytest.approx(0.8)


def test_outputs_scale_with_the_image():
    """Speeds are in person sizes: the same scene at twice the resolution gives twice the coordinates."""
    rng = np.random.default_rng(3)
    frames = [frame(person(200 + 5 * f + rng.normal(0, 3), 200 + rng.normal(0, 3))) for f in range(30)]
    small, large = PoseTracker(), PoseTracker()
    for f, fr in enumerate(frames):
        big = fr.copy()
        big[..., :2] *= 2
        a, b = small.update(fr, f * DT), large.update(big, f * DT)
        assert a.ids.tolist() == b.ids.tolist()
        np.testing.assert_allclose(2 * a.keypoints[..., :2], b.keypoints[..., :2], rtol=1e-6, atol=1e-4)


def test_without_smoothing_the_keypoints_are_the_detectors():
    tracker = PoseTracker(TrackerConfig(smoothing=None))
    for f in range(5):
        kp = frame(person(200 + 7 * f, 200), person(500, 200 - 3 * f))
        out = tracker.update(Poses(kp.astype(np.float32), np.array([0.9, 0.5], np.float32)), f * DT)
        np.testing.assert_array_equal(out.keypoints, kp.astype(np.float32))
        np.testing.assert_array_equal(out.scores, np.array([0.9, 0.5], np.float32))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_similarity": 1.5}, "min_similarity"),
        ({"min_shared_parts": 0}, "min_shared_parts"),
        ({"max_age_ms": -1.0}, "max_age_ms"),
        ({"max_tracks": 0}, "max_tracks"),
        ({"search_growth": float("nan")}, "search_growth"),
    ],
)
def test_bad_configs_say_which_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrackerConfig(**kwargs)


def test_bad_smoothing_and_bad_shapes_are_one_clear_error():
    with pytest.raises(ValueError, match="min_cutoff"):
        SmoothingConfig(min_cutoff=0.0)
    with pytest.raises(ValueError, match=r"\(people, 18, 3\)"):
        PoseTracker().update(np.zeros((2, 17, 3)), 0.0)


def test_oks_matrix_is_cocos_oks_on_18_parts():
    from mln_tf.evaluate import coco_sigmas
    from mln_tf.oks import oks

    rng = np.random.default_rng(4)
    a, b = person(200, 200), person(203, 198)
    b[:, :2] += rng.normal(0, 2, (18, 2))
    area = 5000.0
    sim, count, total = oks_matrix(
        a[None, :, :2], np.ones((1, 18), bool), np.array([area]), b[None, :, :2], b[None, :, 2] > 0
    )
    want = oks(skeleton.openpose18_to_coco17(b), skeleton.openpose18_to_coco17(a), area, coco_sigmas())[1]
    neck_sigma = skeleton.OKS_SIGMAS[1]
    d2 = np.sum((a[1, :2] - b[1, :2]) ** 2)
    neck = np.exp(-d2 / (2 * (2 * neck_sigma) ** 2 * area))
    assert count[0, 0] == 18
    assert sim[0, 0] == pytest.approx((want.sum() + neck) / 18, rel=1e-6)  # COCO-17 conversion is float32
    assert total[0, 0] == pytest.approx(want.sum() + neck, rel=1e-6)
    # a track that never saw the legs: their terms count 0 in the mean over the person's parts
    legs = np.zeros((1, 18), bool)
    legs[0, 8:14] = True
    sim_legs, count_legs, total_legs = oks_matrix(
        a[None, :, :2], ~legs, np.array([area]), b[None, :, :2], b[None, :, 2] > 0
    )
    assert count_legs[0, 0] == 12 and sim_legs[0, 0] == pytest.approx(total_legs[0, 0] / 18)


# ------------------------------------------------------------------ metrics on known answers


def _seq(ids_per_frame, positions):
    return [Frame(np.array(ids), frame(*[person(x, 200) for x in xs]), np.full(len(ids), 1e4)) for ids, xs in
            zip(ids_per_frame, positions)]  # fmt: skip


def test_mot_metrics_on_known_answers():
    xs = [[100, 400]] * 10
    labels = _seq([[1, 2]] * 10, xs)
    perfect = _seq([[7, 8]] * 10, xs)
    r = mot_metrics([(labels, perfect)])
    assert (r.mota, r.idf1, r.id_switches) == (1.0, 1.0, 0)
    # the output swaps its two IDs at frame 5: two switches; IDF1 = 2 * 10 / (20 + 20)
    swapped = _seq([[7, 8]] * 5 + [[8, 7]] * 5, xs)
    r = mot_metrics([(labels, swapped)])
    assert r.id_switches == 2 and r.idf1 == pytest.approx(0.5) and r.mota == pytest.approx(0.9)
    # a missed person (4 frames) and a false one (2 frames)
    out = _seq([[7]] * 4 + [[7, 8]] * 4 + [[7, 8, 9]] * 2, [[100]] * 4 + [[100, 400]] * 4 + [[100, 400, 700]] * 2)
    r = mot_metrics([(labels, out)])
    assert (r.misses, r.false_positives, r.id_switches) == (4, 2, 0)
    assert r.mota == pytest.approx(1 - 6 / 20) and r.idf1 == pytest.approx(2 * 16 / (20 + 18))
