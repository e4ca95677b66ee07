"""COCO's object keypoint similarity (OKS): the one formula every comparison of two people here uses.

For two people's parts i with distance d_i, an object scale s^2 (COCO: the labelled person's
area) and per-part constants kappa_i = 2 sigma_i::

    term_i = exp(-d_i^2 / (2 kappa_i^2 (s^2 + eps)))       eps = np.spacing(1), so that area 0 divides
    OKS    = sum_i [v_i > 0] term_i / sum_i [v_i > 0]       over the parts the ground truth labels

as pycocotools' ``COCOeval.computeOks`` computes it (a part the detection leaves out sits where
its coordinates say, usually (0, 0)). Users: COCO evaluation's left/right confusion and
``mln_tf.export.compare`` (COCO-17, pycocotools' sigmas: ``mln_tf.evaluate.coco_sigmas``), the
tracker and the tracking metrics (OpenPose-18, :data:`SIGMAS` from ``mln_tf.skeleton``, the neck
taking the shoulders' sigma), and the benchmarks' re-implemented peers. NumPy only.
"""

from __future__ import annotations

import numpy as np

from mln_tf import skeleton

SIGMAS = np.asarray(skeleton.OKS_SIGMAS, np.float64)  # (18,) OpenPose-18 order: COCO's, neck = shoulders
VARIANCES = (2.0 * SIGMAS) ** 2  # COCO's kappa^2 = (2 sigma)^2 per part


def oks_terms(a: np.ndarray, b: np.ndarray, area, sigmas: np.ndarray = SIGMAS) -> np.ndarray:
    """Per-part OKS terms ``exp(-d^2 / (2 (2 sigma)^2 (area + eps)))`` of ``a`` against ``b``.

    ``a``, ``b``: (..., K, >= 2) keypoints (only x, y are read); ``area``: scalar or (...) object
    scales; ``sigmas``: (K,). All broadcast: ``oks_terms(a[:, None], b[None], area[:, None])``
    gives the (M, N, K) terms of every pair. Returns (..., K) float64.
    """
    d2 = np.sum((np.asarray(a, np.float64)[..., :2] - np.asarray(b, np.float64)[..., :2]) ** 2, axis=-1)
    scale = np.asarray(area, np.float64)[..., None] + np.spacing(1)
    return np.exp(-d2 / (2.0 * (2.0 * np.asarray(sigmas, np.float64)) ** 2 * scale))


def oks(
    det: np.ndarray, gt: np.ndarray, area, sigmas: np.ndarray = SIGMAS, detected: np.ndarray | None = None
) -> tuple[np.ndarray | float, np.ndarray]:
    """COCO's OKS of detections ``det`` to labelled people ``gt`` (area: the labelled person's), and its terms.

    ``det``, ``gt``: (..., K, 3), broadcasting as in :func:`oks_terms`; the mean is over the parts
    ``gt`` labels (v > 0), 0 where it labels none. ``detected`` (..., K) bool: a part the detection
    does not have counts 0 (default: as pycocotools, its coordinates are used as they are).
    Returns (OKS (...) - a float for one pair -, terms (..., K)).
    """
    terms = oks_terms(det, gt, area, sigmas)
    if detected is not None:
        terms = np.where(detected, terms, 0.0)
    labelled = np.asarray(gt)[..., 2] > 0
    count = labelled.sum(-1)
    value = np.where(count > 0, np.where(labelled, terms, 0.0).sum(-1) / np.maximum(count, 1), 0.0)
    return (float(value) if value.ndim == 0 else value), terms
