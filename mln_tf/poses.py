"""``Poses``: the people found in one image (keypoints, scores, track IDs), the value every stage passes on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mln_tf import skeleton


@dataclass(frozen=True)
class Poses:
    """People found in one image.

    ``keypoints`` float32 (P, 18, 3): OpenPose-18 (x, y, score), score 0 = part missing;
    ``scores`` float32 (P,), highest first; ``ids`` int64 (P,) track IDs when a
    ``mln_tf.tracking.PoseTracker`` gave them (-1: untracked), else None.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> "Poses":
        return cls(np.zeros((0, skeleton.NUM_PARTS, 3), np.float32), np.zeros((0,), np.float32))
