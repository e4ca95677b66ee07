import numpy as np
import pytest

from mln_tf import skeleton as sk
from mln_tf.coords import map_to_input
from mln_tf.grouping import GroupingConfig, Poses, find_peaks, group_people, smooth
from mln_tf.targets import render_targets

P = sk.PARTS.index


def standing_person(cx: float, top: float, scale: float = 1.0) -> np.ndarray:
    """An upright OpenPose-18 person in *map* pixels (all 18 parts labelled)."""
    offsets = {
        "nose": (0, 0),
        "neck": (0, 3),
        "r_shoulder": (-2.5, 3),
        "r_elbow": (-3, 6),
        "r_wrist": (-3, 9),
        "l_shoulder": (2.5, 3),
        "l_elbow": (3, 6),
        "l_wrist": (3, 9),
        "r_hip": (-1.5, 10),
        "r_knee": (-1.5, 14),
        "r_ankle": (-1.5, 18),
        "l_hip": (1.5, 10),
        "l_knee": (1.5, 14),
        "l_ankle": (1.5, 18),
        "r_eye": (-0.7, -0.7),
        "l_eye": (0.7, -0.7),
        "r_ear": (-1.4, -0.2),
        "l_ear": (1.4, -0.2),
    }
    kp = np.zeros((18, 3), np.float32)
    for name, (dx, dy) in offsets.items():
        kp[P(name)] = (cx + dx * scale, top + dy * scale, 2)
    return kp


def oracle_maps(people_map: np.ndarray, map_hw: tuple[int, int]):
    kp = people_map.copy()
    kp[..., :2] = map_to_input(kp[..., :2])
    t = render_targets(kp, (map_hw[0] * 8, map_hw[1] * 8))
    return t.heatmaps, t.pafs


def match(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """For each true person, the found person with the nearest neck."""
    neck = P("neck")
    d = np.linalg.norm(found[None, :, neck, :2] - truth[:, None, neck, :2], axis=-1)
    return d.argmin(axis=1)


def test_two_people_are_recovered_with_subpixel_accuracy():
    truth = np.stack([standing_person(10.3, 4.6, 1.6), standing_person(30.7, 5.2, 1.5)])
    hm, pf = oracle_maps(truth, (40, 44))
    poses = group_people(hm, pf)
    assert isinstance(poses, Poses) and len(poses) == 2
    assert poses.keypoints.dtype == np.float32 and poses.keypoints.shape == (2, 18, 3)
    order = match(poses.keypoints, truth)
    err = np.abs(poses.keypoints[order, :, :2] - truth[:, :, :2])
    assert np.all(poses.keypoints[order, :, 2] > 0.4)  # smoothed peak values of sharp oracle peaks
    assert err.max() < 0.25, err.max()  # sub-pixel refinement (integer peaks would be 0.5 off)
    assert np.all(np.diff(poses.scores) <= 0)


def test_crowd_of_ten_people_each_part_used_once():
    rng = np.random.default_rng(0)
    truth = np.stack(
        [standing_person(6 + 10 * (i % 5) + rng.uniform(-1, 1), 3 + 24 * (i // 5), 1.0) for i in range(10)]
    )
    hm, pf = oracle_maps(truth, (50, 56))
    poses = group_people(hm, pf)
    assert len(poses) == 10
    order = match(poses.keypoints, truth)
    assert len(set(order.tolist())) == 10
    assert np.abs(poses.keypoints[order, :, :2] - truth[:, :, :2]).max() < 0.3
    # No peak appears in two people.
    present = poses.keypoints[..., 2] > 0
    for part in range(18):
        xy = poses.keypoints[present[:, part], part, :2]
        assert len(np.unique(xy.round(3), axis=0)) == len(xy)


def test_empty_and_flat_maps_give_no_people():
    empty = group_people(np.zeros((10, 12, 19), np.float32), np.zeros((10, 12, 38), np.float32))
    assert len(empty) == 0 and empty.keypoints.shape == (0, 18, 3) and empty.scores.shape == (0,)
    flat = group_people(np.full((10, 12, 19), 0.5, np.float32), np.zeros((10, 12, 38), np.float32))
    assert len(flat) == 0


def test_deterministic():
    truth = np.stack([standing_person(8, 3), standing_person(14, 4)])  # overlapping people
    hm, pf = oracle_maps(truth, (28, 24))
    a, b = group_people(hm, pf), group_people(hm.copy(), pf.copy())
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_plateau_gives_one_peak_and_threshold_applies():
    hm = np.zeros((6, 6, 19), np.float32)
    hm[2, 2:4, 0] = 0.8  # two equal neighbours
    hm[4, 4, 1] = 0.04  # below the 0.05 threshold
    peaks = find_peaks(hm, GroupingConfig(smooth_sigma=0, refine_peaks=False))
    assert peaks.part.tolist() == [0] and (peaks.x[0], peaks.y[0]) == (3, 2)


def test_max_peaks_keeps_the_strongest():
    hm = np.zeros((5, 20, 19), np.float32)
    hm[2, ::2, 3] = np.linspace(0.2, 0.9, 10)
    peaks = find_peaks(hm, GroupingConfig(smooth_sigma=0, max_peaks=3, refine_peaks=False))
    assert sorted(peaks.x.tolist()) == [14, 16, 18]


def test_smoothing_keeps_mass_and_peak_position():
    m = np.zeros((9, 11, 2), np.float32)
    m[4, 5, 0] = 1.0
    s = smooth(m, 0.75)
    assert s[..., 0].sum() == pytest.approx(1.0, abs=1e-5)
    assert np.unravel_index(s[..., 0].argmax(), (9, 11)) == (4, 5)
    np.testing.assert_allclose(s[..., 0], s[::-1, ::-1, 0], atol=1e-7)


def test_bad_maps_are_clear_errors():
    with pytest.raises(ValueError, match="heatmaps"):
        group_people(np.zeros((4, 4, 17)), np.zeros((4, 4, 38)))
    with pytest.raises(ValueError, match="pafs"):
        group_people(np.zeros((4, 4, 19)), np.zeros((4, 5, 38)))
    bad = np.zeros((4, 4, 19), np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        group_people(bad, np.zeros((4, 4, 38)))


def test_pair_rejected_when_paf_points_elsewhere():
    truth = standing_person(10, 3)[None]
    hm, pf = oracle_maps(truth, (26, 22))
    cx, cy = sk.PAF_CHANNELS[sk.LIMBS.index((8, 9))]  # r_hip -> r_knee
    pf[..., cx], pf[..., cy] = -pf[..., cx], -pf[..., cy]  # reversed field: knee -> hip
    poses = group_people(hm, pf)
    assert len(poses) >= 1
    best = poses.keypoints[0]
    assert best[P("r_hip"), 2] > 0 and best[P("r_knee"), 2] == 0 and best[P("r_ankle"), 2] == 0


def test_diagonal_neighbours_give_one_peak():
    hm = np.zeros((6, 6, 19), np.float32)
    hm[2, 2, 0] = hm[3, 3, 0] = 0.8  # equal diagonal neighbours: the later in raster order
    hm[2, 4, 1], hm[3, 3, 1] = 0.9, 0.5  # a weaker diagonal neighbour is no peak
    peaks = find_peaks(hm, GroupingConfig(smooth_sigma=0, refine_peaks=False))
    assert peaks.part.tolist() == [0, 1]
    assert peaks.x.tolist() == [3, 4] and peaks.y.tolist() == [3, 2]


def test_peaks_are_scored_and_thresholded_on_raw_values():
    hm = np.zeros((9, 9, 19), np.float32)
    hm[4, 4, 0] = 0.9
    hm[4, 4, 1] = 0.06  # smoothing would drop it below the 0.05 threshold; its raw value passes
    hm[3:6, 4, 2] = (0.3, 0.6, 0.5)  # asymmetric: the fit leans towards the larger neighbour
    peaks = find_peaks(hm, GroupingConfig(smooth_sigma=1.0))
    assert peaks.part.tolist() == [0, 1, 2]
    assert peaks.score.tolist() == pytest.approx([0.9, 0.06, 0.6])
    assert peaks.x[2] == pytest.approx(4.0, abs=1e-6) and 4.05 < peaks.y[2] < 4.5
    smoothed = smooth(hm, 1.0)[3:6, 4, 2]  # the fit reads the smoothed values
    b, c, a = (float(v) for v in smoothed)
    assert peaks.y[2] == pytest.approx(4 + 0.5 * (b - a) / (b - 2 * c + a), abs=1e-5)


def test_larger_person_ranks_first_among_equal_people():
    small, large = standing_person(8, 3, 0.6), standing_person(26, 3, 1.0)
    hm, pf = oracle_maps(np.stack([small, large]), (24, 36))
    poses = group_people(hm, pf)
    assert len(poses) == 2
    neck = P("neck")
    assert poses.keypoints[0, neck, 0] == pytest.approx(26, abs=0.2)
    assert poses.scores[0] > poses.scores[1]


@pytest.mark.parametrize(
    "case", ["zeros", "constant", "negative", "huge", "huge_negative", "max_float", "noise", "1x1", "1xN", "Nx1"]
)
def test_fuzzed_maps_never_crash(case):
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    hw = {"1x1": (1, 1), "1xN": (1, 17), "Nx1": (13, 1)}.get(case, (12, 15))
    hm = np.zeros(hw + (19,), np.float32)
    pf = np.zeros(hw + (38,), np.float32)
    if case == "constant":
        hm[:], pf[:] = 0.7, 0.3
    elif case == "negative":
        hm[:], pf[:] = -1.0, -0.5
    elif case in ("huge", "huge_negative"):
        sign = 1.0 if case == "huge" else -1.0
        hm[:] = sign * rng.uniform(1e30, 1e35, hm.shape)
        pf[:] = sign * rng.uniform(1e30, 1e35, pf.shape)
    elif case == "max_float":
        hm[::2, ::3] = np.finfo(np.float32).max
        pf[:] = np.finfo(np.float32).max
    elif case in ("noise", "1x1", "1xN", "Nx1"):
        hm[:] = rng.uniform(-0.2, 1.2, hm.shape)
        pf[:] = rng.uniform(-1.0, 1.0, pf.shape)
    for config in (GroupingConfig(), GroupingConfig(smooth_sigma=0, min_parts=1, min_mean_score=0)):
        with np.errstate(all="raise"):
            poses = group_people(hm, pf, config)
        assert poses.keypoints.shape == (len(poses), 18, 3) and poses.scores.shape == (len(poses),)
        assert np.isfinite(poses.keypoints).all() and np.isfinite(poses.scores).all()
        assert np.all(np.diff(poses.scores) <= 0)
        present = poses.keypoints[..., 2] > 0
        assert np.all(poses.keypoints[..., 0][present] >= -0.5)
        assert np.all(poses.keypoints[..., 0][present] <= hw[1] - 0.5)
    if case in ("zeros", "negative", "huge_negative"):
        assert len(poses) == 0  # nothing above the threshold


def test_infinite_maps_are_rejected():
    hm = np.zeros((4, 4, 19), np.float32)
    hm[1, 1, 3] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        group_people(hm, np.zeros((4, 4, 38), np.float32))


def test_crowd_of_two_hundred_people_decodes():
    rng = np.random.default_rng(7)
    truth = np.stack([standing_person(x, y, 0.5) for x, y in zip(rng.uniform(3, 157, 200), rng.uniform(2, 110, 200))])
    hm, pf = oracle_maps(truth, (122, 160))
    poses = group_people(hm, pf)  # more candidates than max_peaks per part: the strongest kept
    assert 50 <= len(poses) <= 200
    present = poses.keypoints[..., 2] > 0
    for part in range(18):  # every peak belongs to at most one person
        xy = poses.keypoints[present[:, part], part, :2]
        assert len(np.unique(xy.round(3), axis=0)) == len(xy)
