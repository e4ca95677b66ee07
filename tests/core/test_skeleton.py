import numpy as np
import pytest

from mln_tf import skeleton as sk

# The CMU OpenPose COCO limb -> PAF-channel table of ../shared/peers/README.md.
PEERS_TABLE = [
    ((1, 2), (12, 13)),
    ((1, 5), (20, 21)),
    ((2, 3), (14, 15)),
    ((3, 4), (16, 17)),
    ((5, 6), (22, 23)),
    ((6, 7), (24, 25)),
    ((1, 8), (0, 1)),
    ((8, 9), (2, 3)),
    ((9, 10), (4, 5)),
    ((1, 11), (6, 7)),
    ((11, 12), (8, 9)),
    ((12, 13), (10, 11)),
    ((1, 0), (28, 29)),
    ((0, 14), (30, 31)),
    ((14, 16), (34, 35)),
    ((0, 15), (32, 33)),
    ((15, 17), (36, 37)),
    ((2, 16), (18, 19)),
    ((5, 17), (26, 27)),
]


def test_layout_is_cmu_openpose_coco():
    assert sk.NUM_HEATMAPS == 19 and sk.NUM_PAFS == 38
    assert list(zip(sk.LIMBS, sk.PAF_CHANNELS)) == PEERS_TABLE
    assert sk.PARTS[:5] == ("nose", "neck", "r_shoulder", "r_elbow", "r_wrist")
    assert sk.PARTS[14:] == ("r_eye", "l_eye", "r_ear", "l_ear")


def test_flip_tables_swap_sides_and_are_involutions():
    assert sk.PARTS[sk.FLIP_PARTS[sk.PARTS.index("l_wrist")]] == "r_wrist"
    for table in (sk.FLIP_PARTS, sk.FLIP_LIMBS, sk.FLIP_PAF_CHANNELS):
        assert [table[t] for t in table] == list(range(len(table)))
    assert sk.FLIP_LIMBS[sk.LIMBS.index((1, 0))] == sk.LIMBS.index((1, 0))  # neck -> nose is central
    cx, cy = sk.PAF_CHANNELS[0]
    assert sk.FLIP_PAF_SIGNS[cx] == -1 and sk.FLIP_PAF_SIGNS[cy] == 1


def test_coco_openpose_round_trip_and_neck():
    rng = np.random.default_rng(1)
    coco = np.concatenate([rng.uniform(0, 500, (4, 17, 2)), rng.integers(0, 3, (4, 17, 1))], -1)
    coco[coco[..., 2] == 0] = 0  # COCO stores unlabelled joints as (0, 0, 0)
    op = sk.coco17_to_openpose18(coco)
    np.testing.assert_allclose(sk.openpose18_to_coco17(op), coco.astype(np.float32))
    ls, rs = coco[:, 5], coco[:, 6]
    both = (ls[:, 2] > 0) & (rs[:, 2] > 0)
    neck = op[:, sk.PARTS.index("neck")]
    np.testing.assert_allclose(neck[both, :2], ((ls[:, :2] + rs[:, :2]) / 2)[both], rtol=1e-6)
    assert np.all(neck[~both] == 0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 17, 3\)"):
        sk.coco17_to_openpose18(np.zeros((2, 18, 3)))


def test_flip_keypoints_twice_is_identity():
    rng = np.random.default_rng(2)
    kp = np.concatenate([rng.uniform(0, 99, (3, 18, 2)), np.ones((3, 18, 1))], -1).astype(np.float32)
    once = sk.flip_keypoints(kp, 100)
    assert once[0, sk.PARTS.index("r_wrist"), 0] == pytest.approx(99 - kp[0, sk.PARTS.index("l_wrist"), 0])
    np.testing.assert_allclose(sk.flip_keypoints(once, 100), kp, atol=1e-5)


def test_flip_maps_twice_is_identity():
    rng = np.random.default_rng(3)
    hm, pf = rng.random((5, 7, 19)), rng.standard_normal((5, 7, 38))
    h2, p2 = sk.flip_maps(*sk.flip_maps(hm, pf))
    np.testing.assert_array_equal(h2, hm)
    np.testing.assert_array_equal(p2, pf)


def test_oks_sigmas_are_cocoevals_in_openpose_order():
    """The 18 OKS sigmas are pycocotools' 17, reordered, with the neck as the shoulders."""
    from mln_tf.evaluate import coco_sigmas

    sigmas = np.asarray(sk.OKS_SIGMAS)
    assert sigmas.shape == (sk.NUM_PARTS,)
    np.testing.assert_allclose(sigmas[list(sk.COCO_FROM_OPENPOSE)], coco_sigmas(), atol=1e-12)
    assert sigmas[sk.PARTS.index("neck")] == sigmas[sk.PARTS.index("r_shoulder")] == 0.079
