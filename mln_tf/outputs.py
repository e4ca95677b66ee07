"""Result formats other tools read: COCO keypoint results and OpenPose per-image JSON."""

from __future__ import annotations

import numpy as np

from mln_tf import skeleton
from mln_tf.poses import Poses

PERSON_CATEGORY = 1


def coco_results(image_id: int, poses: Poses) -> list[dict]:
    """COCO keypoint results (17 keypoints as x, y, v; missing parts are 0, 0, 0), with ``track_id`` when tracked."""
    coco = skeleton.openpose18_to_coco17(poses.keypoints)
    out = []
    for i, (kp, score) in enumerate(zip(coco, poses.scores)):
        flat = np.where(kp[:, 2:] > 0, np.concatenate([kp[:, :2], np.ones((17, 1))], 1), 0.0)
        result = {
            "image_id": int(image_id),
            "category_id": PERSON_CATEGORY,
            "keypoints": [round(float(v), 2) for v in flat.reshape(-1)],
            "score": round(float(score), 5),
        }
        if poses.ids is not None:
            result["track_id"] = int(poses.ids[i])
        out.append(result)
    return out


def openpose_json(poses: Poses) -> dict:
    """OpenPose's per-image format: ``people[].pose_keypoints_2d`` = 18 x (x, y, score).

    ``person_id`` is OpenPose's one-element list: the track ID when tracked, else [-1] as OpenPose writes.
    """
    ids = poses.ids if poses.ids is not None else np.full(len(poses.scores), -1)
    return {
        "version": 1.3,
        "people": [
            {
                "person_id": [int(i)],
                "pose_keypoints_2d": [round(float(v), 3) for v in kp.reshape(-1)],
                "score": round(float(s), 5),
            }
            for kp, s, i in zip(poses.keypoints, poses.scores, ids)
        ],
    }
