"""The one skeleton definition: CMU OpenPose COCO-18 parts, limbs and PAF channels.

Channel layout (identical to CMU OpenPose's COCO model and tf-pose-estimation, so maps
and weights of OpenPose-family networks interchange with ours):

* heatmaps: 19 channels = the 18 parts of ``PARTS`` in that order, then background;
* PAFs: 38 channels; limb ``k`` (``LIMBS[k]`` = (part A, part B), vector pointing A -> B)
  keeps its x component in channel ``PAF_CHANNELS[k][0]`` and its y component in
  ``PAF_CHANNELS[k][1]``. The limb order is tf-pose's ``CocoPairs`` order; the channel
  order is the network's (``CocoPairsNetwork``), which is *not* limb order.

Limbs 17 and 18 (shoulder -> ear) are trained and scored like the others but are not
drawn (``DRAWN_LIMBS``).
"""

from __future__ import annotations

import numpy as np

PARTS: tuple[str, ...] = (
    "nose",
    "neck",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
    "r_eye",
    "l_eye",
    "r_ear",
    "l_ear",
)
NUM_PARTS = len(PARTS)  # 18
BACKGROUND = NUM_PARTS  # heatmap channel 18
NUM_HEATMAPS = NUM_PARTS + 1  # 19

LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2),
    (1, 5),
    (2, 3),
    (3, 4),
    (5, 6),
    (6, 7),
    (1, 8),
    (8, 9),
    (9, 10),
    (1, 11),
    (11, 12),
    (12, 13),
    (1, 0),
    (0, 14),
    (14, 16),
    (0, 15),
    (15, 17),
    (2, 16),
    (5, 17),
)
PAF_CHANNELS: tuple[tuple[int, int], ...] = (
    (12, 13),
    (20, 21),
    (14, 15),
    (16, 17),
    (22, 23),
    (24, 25),
    (0, 1),
    (2, 3),
    (4, 5),
    (6, 7),
    (8, 9),
    (10, 11),
    (28, 29),
    (30, 31),
    (34, 35),
    (32, 33),
    (36, 37),
    (18, 19),
    (26, 27),
)
NUM_LIMBS = len(LIMBS)  # 19
NUM_PAFS = 2 * NUM_LIMBS  # 38
DRAWN_LIMBS: tuple[int, ...] = tuple(range(17))

COCO_PARTS: tuple[str, ...] = (
    "nose",
    "l_eye",
    "r_eye",
    "l_ear",
    "r_ear",
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
    "l_hip",
    "r_hip",
    "l_knee",
    "r_knee",
    "l_ankle",
    "r_ankle",
)
NUM_COCO_PARTS = len(COCO_PARTS)  # 17
# OPENPOSE_FROM_COCO[j] = COCO-17 index of OpenPose part j (-1: the synthesized neck).
OPENPOSE_FROM_COCO: tuple[int, ...] = tuple(-1 if name == "neck" else COCO_PARTS.index(name) for name in PARTS)
COCO_FROM_OPENPOSE: tuple[int, ...] = tuple(PARTS.index(name) for name in COCO_PARTS)
# COCO's per-keypoint OKS sigmas (pycocotools' kpt_oks_sigmas) in OpenPose-18 order; the neck,
# which COCO does not label, takes the shoulders' 0.079. Every OKS on 18 parts (tracking) uses these.
OKS_SIGMAS: tuple[float, ...] = (
    0.026,
    0.079,
    0.079,
    0.072,
    0.062,
    0.079,
    0.072,
    0.062,
    0.107,
    0.087,
    0.089,
    0.107,
    0.087,
    0.089,
    0.025,
    0.025,
    0.035,
    0.035,
)


def _mirror_name(name: str) -> str:
    if name.startswith("l_"):
        return "r_" + name[2:]
    if name.startswith("r_"):
        return "l_" + name[2:]
    return name


# FLIP_PARTS[j]: the part that j becomes in a horizontally mirrored image.
FLIP_PARTS: tuple[int, ...] = tuple(PARTS.index(_mirror_name(n)) for n in PARTS)
FLIP_HEATMAP_CHANNELS: tuple[int, ...] = FLIP_PARTS + (BACKGROUND,)
# FLIP_LIMBS[k]: the limb that k becomes when mirrored (same direction A -> B).
FLIP_LIMBS: tuple[int, ...] = tuple(LIMBS.index((FLIP_PARTS[a], FLIP_PARTS[b])) for a, b in LIMBS)


def _flip_paf_tables() -> tuple[tuple[int, ...], tuple[float, ...]]:
    source = [0] * NUM_PAFS
    sign = [1.0] * NUM_PAFS
    for k, (cx, cy) in enumerate(PAF_CHANNELS):
        mx, my = PAF_CHANNELS[FLIP_LIMBS[k]]
        source[cx], sign[cx] = mx, -1.0  # x flips sign in a mirror image
        source[cy], sign[cy] = my, 1.0
    return tuple(source), tuple(sign)


# A mirrored PAF map: flipped[..., c] = FLIP_PAF_SIGNS[c] * original_mirrored[..., FLIP_PAF_CHANNELS[c]]
FLIP_PAF_CHANNELS, FLIP_PAF_SIGNS = _flip_paf_tables()


def coco17_to_openpose18(keypoints: np.ndarray) -> np.ndarray:
    """COCO-17 keypoints (..., 17, 3) as (x, y, v) -> OpenPose-18 (..., 18, 3).

    The neck is the midpoint of the shoulders when both are labelled (v > 0), with
    v = min of the two; otherwise it is (0, 0, 0), COCO's "not labelled".
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.shape[-2:] != (NUM_COCO_PARTS, 3):
        raise ValueError(f"expected COCO keypoints of shape (..., 17, 3), got {kp.shape}")
    out = np.zeros(kp.shape[:-2] + (NUM_PARTS, 3), dtype=np.float32)
    for j, c in enumerate(OPENPOSE_FROM_COCO):
        if c >= 0:
            out[..., j, :] = kp[..., c, :]
    ls, rs = kp[..., COCO_PARTS.index("l_shoulder"), :], kp[..., COCO_PARTS.index("r_shoulder"), :]
    both = (ls[..., 2] > 0) & (rs[..., 2] > 0)
    neck = np.where(
        both[..., None],
        np.concatenate([(ls[..., :2] + rs[..., :2]) / 2, np.minimum(ls[..., 2:], rs[..., 2:])], axis=-1),
        0.0,
    )
    out[..., PARTS.index("neck"), :] = neck
    return out


def openpose18_to_coco17(keypoints: np.ndarray) -> np.ndarray:
    """OpenPose-18 keypoints (..., 18, 3) -> COCO-17 (..., 17, 3); the neck is dropped."""
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.shape[-2:] != (NUM_PARTS, 3):
        raise ValueError(f"expected OpenPose keypoints of shape (..., 18, 3), got {kp.shape}")
    return kp[..., list(COCO_FROM_OPENPOSE), :].copy()


def flip_keypoints(keypoints: np.ndarray, width: float) -> np.ndarray:
    """Mirror OpenPose-18 keypoints (..., 18, 3) in an image ``width`` pixels wide.

    Pixel-index convention: pixel i has its centre at x = i, so x -> width - 1 - x.
    Left and right parts swap; missing parts (score 0) stay missing.
    """
    kp = np.asarray(keypoints, dtype=np.float32)[..., list(FLIP_PARTS), :].copy()
    present = kp[..., 2] > 0
    kp[..., 0] = np.where(present, width - 1 - kp[..., 0], kp[..., 0])
    return kp


def flip_maps(heatmaps: np.ndarray, pafs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror (..., H, W, 19) heatmaps and (..., H, W, 38) PAFs horizontally.

    Swaps left/right channels and negates PAF x-components, so the result is what the
    network would predict on the mirrored image.
    """
    hm = np.asarray(heatmaps)[..., ::-1, :][..., list(FLIP_HEATMAP_CHANNELS)]
    pf = np.asarray(pafs)[..., ::-1, :][..., list(FLIP_PAF_CHANNELS)]
    return hm, pf * np.asarray(FLIP_PAF_SIGNS, dtype=pf.dtype)
