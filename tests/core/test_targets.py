import numpy as np
import pytest

from mln_tf import skeleton as sk
from mln_tf.coords import input_to_map, map_to_input
from mln_tf.targets import TargetConfig, render_heatmaps, render_mask, render_pafs, render_targets

CFG = TargetConfig()
P = sk.PARTS.index


def person(**parts: tuple[float, float]) -> np.ndarray:
    """One OpenPose-18 person with the named parts labelled at *map* pixel coordinates."""
    kp = np.zeros((18, 3), np.float32)
    for name, (mx, my) in parts.items():
        kp[P(name)] = (*map_to_input(np.array([mx, my])), 2)
    return kp


def test_coordinate_convention_round_trips():
    xy = np.array([[0.0, 0.0], [3.5, 10.25]])
    np.testing.assert_allclose(input_to_map(map_to_input(xy)), xy, atol=1e-6)
    assert map_to_input(np.array(0.0)) == pytest.approx(3.5)  # centre of input pixels 0..7


def test_heatmap_peaks_at_the_right_pixels_with_value_one():
    people = np.stack([person(nose=(5, 4), l_wrist=(12, 9)), person(nose=(20, 15))])
    people[1, P("l_wrist"), 2] = 0  # not labelled: must not be drawn
    hm = render_heatmaps(people, (24, 32))
    assert hm.shape == (24, 32, 19) and hm.dtype == np.float32
    nose = hm[..., P("nose")]
    assert nose[4, 5] == pytest.approx(1.0) and nose[15, 20] == pytest.approx(1.0)
    assert set(zip(*np.nonzero(nose > 0.99))) == {(4, 5), (15, 20)}
    assert np.unravel_index(hm[..., P("l_wrist")].argmax(), (24, 32)) == (9, 12)
    # One map pixel is 8 input pixels: exp(-64 / (2 * 7^2)).
    assert nose[4, 6] == pytest.approx(np.exp(-64 / 98), rel=1e-5)
    assert nose[6, 5] == pytest.approx(np.exp(-256 / 98), rel=1e-5)
    assert nose[6, 7] == 0  # exp(-512 / 98) < 0.01: cut like CMU's renderer
    assert nose[4, 9] == 0  # exp(-1024 / 98) < 0.01: cut like CMU's renderer
    assert hm[..., P("r_ankle")].max() == 0
    np.testing.assert_allclose(hm[..., 18], 1 - hm[..., :18].max(-1), atol=1e-6)
    assert hm[4, 5, 18] == pytest.approx(0.0, abs=1e-6) and hm[0, 31, 18] == pytest.approx(1.0)


def test_overlapping_people_heatmap_is_max_not_sum():
    people = np.stack([person(nose=(5, 5)), person(nose=(6, 5))])
    hm = render_heatmaps(people, (12, 12))
    assert hm[..., P("nose")].max() == pytest.approx(1.0)


def test_paf_unit_length_and_direction_on_two_people():
    a = person(r_shoulder=(4, 4), r_elbow=(12, 4))  # horizontal limb, pointing +x
    b = person(r_shoulder=(20, 4), r_elbow=(20, 14))  # vertical limb, pointing +y
    pafs = render_pafs(np.stack([a, b]), (20, 28))
    cx, cy = sk.PAF_CHANNELS[sk.LIMBS.index((2, 3))]
    vx, vy = pafs[..., cx], pafs[..., cy]
    np.testing.assert_allclose(vx[4, 5:12], 1.0)
    np.testing.assert_allclose(vy[4, 5:12], 0.0)
    np.testing.assert_allclose(vy[6:14, 20], 1.0)
    np.testing.assert_allclose(vx[6:14, 20], 0.0)
    norm = np.hypot(vx, vy)
    assert np.all((np.abs(norm - 1) < 1e-6) | (norm == 0))
    assert norm[4, 8] == 1 and norm[5, 8] == 1 and norm[6, 8] == 0  # band half-width 1 pixel
    assert norm[10, 4] == 0  # far from both limbs
    assert np.count_nonzero(np.delete(pafs, [cx, cy], axis=-1)) == 0  # other limbs untouched


def test_paf_overlap_is_averaged():
    a = person(r_shoulder=(2, 5), r_elbow=(10, 5))  # +x
    b = person(r_shoulder=(6, 1), r_elbow=(6, 9))  # +y, crosses a at (6, 5)
    cx, cy = sk.PAF_CHANNELS[sk.LIMBS.index((2, 3))]
    pafs = render_pafs(np.stack([a, b]), (12, 12))
    assert pafs[5, 6, cx] == pytest.approx(0.5) and pafs[5, 6, cy] == pytest.approx(0.5)
    assert pafs[5, 3, cx] == pytest.approx(1.0) and pafs[2, 6, cy] == pytest.approx(1.0)


def test_mask_zeroes_a_crowd_region():
    ignore = np.zeros((96, 128), bool)
    ignore[16:48, 64:128] = True  # a crowd box covering map rows 2..5, columns 8..15
    mask = render_mask(ignore, (12, 16))
    assert mask.shape == (12, 16)
    assert np.all(mask[2:6, 8:16] == 0)
    assert mask.sum() == 12 * 16 - 4 * 8
    half = np.zeros((96, 128), bool)
    half[0:8, 0:3] = True  # 3/8 of map pixel (0, 0): below the 0.5 threshold, still trained
    assert render_mask(half, (12, 16))[0, 0] == 1
    assert render_mask(None, (12, 16)).min() == 1
    with pytest.raises(ValueError, match="ignore mask"):
        render_mask(ignore, (10, 16))


def test_render_targets_shapes_and_empty_image():
    t = render_targets(np.zeros((0, 18, 3)), (64, 80))
    assert t.heatmaps.shape == (8, 10, 19) and t.pafs.shape == (8, 10, 38) and t.mask.shape == (8, 10)
    assert np.all(t.heatmaps[..., 18] == 1) and not t.pafs.any() and np.all(t.mask == 1)
    with pytest.raises(ValueError, match="multiples of the stride"):
        render_targets(np.zeros((0, 18, 3)), (60, 80))
    with pytest.raises(ValueError, match=r"\(P, 18, 3\)"):
        render_targets(np.zeros((2, 17, 3)), (64, 80))


def test_person_with_no_keypoints_renders_nothing():
    t = render_targets(np.zeros((1, 18, 3)), (32, 32))
    assert not t.heatmaps[..., :18].any() and not t.pafs.any()
