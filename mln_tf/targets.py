"""Training targets of paper eq. 1-2 and the loss mask W(p), rendered with NumPy.

All functions take keypoints already in *input-image* pixel coordinates (after any
augmentation) as an OpenPose-18 array (P, 18, 3) of (x, y, v); a part is rendered when
v > 0 (COCO "labelled", visible or occluded). Maps are produced at the output stride with
the pixel-centre convention of :mod:`mln_tf.coords`: map pixel j sits at input coordinate
``stride*j + (stride-1)/2``.

Everything is vectorised over people, parts and pixels; ``render_targets`` for a 368x368
sample with 10 people takes about a millisecond (``benchmarks/targets_speed.py``).
From ``tf.data`` call it through ``tf.numpy_function`` (see ``mln_tf.data``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from mln_tf import skeleton
from mln_tf.coords import DEFAULT_STRIDE, input_to_map

# Gaussian values below exp(-4.6052) = 0.01 are drawn as 0, as CMU's renderer does, so
# each joint only touches a small window and the background stays exactly 1 far away.
_GAUSS_CUTOFF = 4.6052


@dataclass(frozen=True)
class TargetConfig:
    """How targets are drawn.

    ``sigma``: standard deviation of each joint's Gaussian, in input pixels. Eq. 1 writes
    the exponent as d^2/sigma^2; we use CMU's d^2/(2 sigma^2) so that sigma=7 draws exactly
    the peaks OpenPose-family weights were trained on (also cut to 0 below 0.01 like CMU).
    ``paf_width``: half-width of a limb's band in map pixels (CMU: 1). A pixel is on the
    limb when its distance to the limb axis is <= paf_width and its projection falls on the
    segment extended by paf_width at both ends.
    ``mask_threshold``: a map pixel gets W(p) = 0 when more than this fraction of its
    stride x stride input pixels lie on unannotated people or crowd regions.
    """

    stride: int = DEFAULT_STRIDE
    sigma: float = 7.0
    paf_width: float = 1.0
    mask_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.stride < 1 or self.sigma <= 0 or self.paf_width < 0:
            raise ValueError(f"invalid TargetConfig {self}")
        if not 0.0 <= self.mask_threshold <= 1.0:
            raise ValueError(f"mask_threshold must be in [0, 1], got {self.mask_threshold}")


class Targets(NamedTuple):
    """One image's targets: heatmaps (h, w, 19), pafs (h, w, 38), mask (h, w), float32."""

    heatmaps: np.ndarray
    pafs: np.ndarray
    mask: np.ndarray


def map_size(input_hw: tuple[int, int], stride: int = DEFAULT_STRIDE) -> tuple[int, int]:
    """Output-map size for an input size; sides must be multiples of the stride."""
    h, w = int(input_hw[0]), int(input_hw[1])
    if h <= 0 or w <= 0 or h % stride or w % stride:
        raise ValueError(f"input size {h}x{w} must be positive multiples of the stride {stride}")
    return h // stride, w // stride


def _check_keypoints(keypoints: np.ndarray) -> np.ndarray:
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.size == 0:
        return np.zeros((0, skeleton.NUM_PARTS, 3), np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (skeleton.NUM_PARTS, 3):
        raise ValueError(f"keypoints must be OpenPose-18 of shape (P, 18, 3), got {kp.shape}")
    return kp


def render_heatmaps(
    keypoints: np.ndarray, map_hw: tuple[int, int], config: TargetConfig = TargetConfig()
) -> np.ndarray:
    """Eq. 1: per part the max over people of a Gaussian; channel 18 = 1 - max over parts."""
    kp = _check_keypoints(keypoints)
    h, w = map_hw
    parts = np.zeros((skeleton.NUM_PARTS, h, w), np.float32)
    person, part = np.nonzero(kp[:, :, 2] > 0)
    if part.size:
        xy = input_to_map(kp[person, part, :2], config.stride)  # (K, 2) map coordinates
        # Only a window around each joint can exceed the cutoff; evaluate the separable
        # Gaussian there (at map-pixel centres) and max-accumulate into the flat maps.
        s = config.sigma / config.stride  # sigma in map pixels
        radius = int(np.ceil(np.sqrt(2 * _GAUSS_CUTOFF) * s + 0.5))
        offsets = np.arange(-radius, radius + 1)
        cols = np.rint(xy[:, :1]).astype(np.int64) + offsets  # (K, 2r+1)
        rows = np.rint(xy[:, 1:]).astype(np.int64) + offsets
        ex = (cols - xy[:, :1]) ** 2 / (2 * s * s)
        ey = (rows - xy[:, 1:]) ** 2 / (2 * s * s)
        expo = ey[:, :, None] + ex[:, None, :]  # (K, 2r+1, 2r+1)
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        keep = inside & (expo <= _GAUSS_CUTOFF)
        flat = (part[:, None, None] * h + rows[:, :, None]) * w + cols[:, None, :]
        np.maximum.at(parts.reshape(-1), flat[keep], np.exp(-expo[keep]).astype(np.float32))
    background = 1.0 - parts.max(axis=0, initial=0.0)
    return np.concatenate([parts, background[None]], axis=0).transpose(1, 2, 0).copy()


def render_pafs(keypoints: np.ndarray, map_hw: tuple[int, int], config: TargetConfig = TargetConfig()) -> np.ndarray:
    """Eq. 2: unit vector A -> B on each limb's band, averaged where people overlap."""
    kp = _check_keypoints(keypoints)
    h, w = map_hw
    pafs = np.zeros((h, w, skeleton.NUM_PAFS), np.float32)
    limbs = np.asarray(skeleton.LIMBS)
    a = kp[:, limbs[:, 0]]  # (P, L, 3)
    b = kp[:, limbs[:, 1]]
    vec = input_to_map(b[..., :2], config.stride) - input_to_map(a[..., :2], config.stride)
    length = np.linalg.norm(vec, axis=-1)
    person, limb = np.nonzero((a[..., 2] > 0) & (b[..., 2] > 0) & (length > 1e-6))
    if limb.size == 0:
        return pafs
    start = input_to_map(a[person, limb, :2], config.stride)  # (N, 2) map coordinates
    end = input_to_map(b[person, limb, :2], config.stride)
    unit = vec[person, limb] / length[person, limb, None]
    seg = length[person, limb]
    # Candidate pixels: each limb's bounding box grown by the band's half-width, flattened
    # into one array so the whole image is a handful of vectorised operations.
    pad = config.paf_width
    lo = np.clip(np.ceil(np.minimum(start, end) - pad), 0, [w - 1, h - 1]).astype(np.int64)
    hi = np.clip(np.floor(np.maximum(start, end) + pad), 0, [w - 1, h - 1]).astype(np.int64)
    box_w = np.maximum(hi[:, 0] - lo[:, 0] + 1, 0)
    sizes = box_w * np.maximum(hi[:, 1] - lo[:, 1] + 1, 0)
    rep = functools.partial(np.repeat, repeats=sizes)  # per-instance value -> per candidate
    local = np.arange(sizes.sum(), dtype=np.int32) - rep(np.cumsum(sizes, dtype=np.int32) - sizes)
    row = local // rep(box_w.astype(np.int32))
    px = local - row * rep(box_w.astype(np.int32)) + rep(lo[:, 0].astype(np.int32))
    py = row + rep(lo[:, 1].astype(np.int32))
    dx = px.astype(np.float32) - rep(start[:, 0])
    dy = py.astype(np.float32) - rep(start[:, 1])
    ux, uy = rep(unit[:, 0]), rep(unit[:, 1])
    along = dx * ux + dy * uy
    on = (np.abs(dx * uy - dy * ux) <= pad) & (along >= -pad) & (along <= rep(seg) + pad)
    ux, uy = ux[on], uy[on]
    cell = rep(limb.astype(np.int32))[on] * (h * w) + py[on] * w + px[on]
    size = skeleton.NUM_LIMBS * h * w
    count = np.maximum(np.bincount(cell, minlength=size), 1).reshape(skeleton.NUM_LIMBS, h, w)
    mean_x = np.bincount(cell, ux, minlength=size).reshape(count.shape) / count
    mean_y = np.bincount(cell, uy, minlength=size).reshape(count.shape) / count
    channels = np.asarray(skeleton.PAF_CHANNELS)
    pafs[:, :, channels[:, 0]] = mean_x.transpose(1, 2, 0)
    pafs[:, :, channels[:, 1]] = mean_y.transpose(1, 2, 0)
    return pafs


def render_mask(
    ignore: np.ndarray | None, map_hw: tuple[int, int], config: TargetConfig = TargetConfig()
) -> np.ndarray:
    """Loss mask W(p) at map resolution from an input-resolution ignore mask.

    ``ignore`` is True on pixels of crowd regions and of people with no labelled keypoint
    (``mln_tf.data.ignore_mask`` builds it); None means nothing is ignored.
    """
    h, w = map_hw
    if ignore is None:
        return np.ones((h, w), np.float32)
    ign = np.asarray(ignore)
    if ign.shape != (h * config.stride, w * config.stride):
        raise ValueError(
            f"ignore mask has shape {ign.shape}, expected the input size {(h * config.stride, w * config.stride)}"
        )
    frac = cv2.resize(ign.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    return (frac <= config.mask_threshold).astype(np.float32)


def render_targets(
    keypoints: np.ndarray,
    input_hw: tuple[int, int],
    ignore: np.ndarray | None = None,
    config: TargetConfig = TargetConfig(),
) -> Targets:
    """All targets for one input image of size ``input_hw`` (multiples of the stride)."""
    hw = map_size(input_hw, config.stride)
    return Targets(
        render_heatmaps(keypoints, hw, config), render_pafs(keypoints, hw, config), render_mask(ignore, hw, config)
    )


def pack_targets(target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Append the W(p) mask (..., h, w) to targets (..., h, w, C) as channel C."""
    target = np.asarray(target, np.float32)
    mask = np.asarray(mask, np.float32)
    if mask.shape != target.shape[:-1]:
        raise ValueError(f"mask shape {mask.shape} does not match targets {target.shape[:-1]}")
    return np.concatenate([target, mask[..., None]], axis=-1)
