"""Skeleton overlays: one colour per person, limbs of ``skeleton.DRAWN_LIMBS``."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from mln_tf import skeleton
from mln_tf.grouping import Poses
from mln_tf.inference import as_rgb


def person_colour(index: int) -> tuple[int, int, int]:
    """A distinct, bright RGB colour for person ``index`` (golden-ratio hue steps)."""
    r, g, b = colorsys.hsv_to_rgb((index * 0.618033988749895) % 1.0, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_poses(image: np.ndarray, poses: Poses, thickness: int | None = None) -> np.ndarray:
    """A copy of the RGB ``image`` with every person's skeleton drawn in its own colour."""
    canvas = as_rgb(image).copy()
    if thickness is None:  # scale lines with the image so overlays read at any size
        thickness = max(2, int(round(max(canvas.shape[:2]) / 300)))
    for i, kp in enumerate(poses.keypoints):
        colour = person_colour(i)
        for k in skeleton.DRAWN_LIMBS:
            a, b = skeleton.LIMBS[k]
            if kp[a, 2] > 0 and kp[b, 2] > 0:
                p = (int(round(kp[a, 0])), int(round(kp[a, 1])))
                q = (int(round(kp[b, 0])), int(round(kp[b, 1])))
                cv2.line(canvas, p, q, colour, thickness, cv2.LINE_AA)
        for x, y, score in kp:
            if score > 0:
                cv2.circle(canvas, (int(round(x)), int(round(y))), thickness + 1, colour, -1, cv2.LINE_AA)
    return canvas


def write_image(path, image_rgb: np.ndarray) -> None:
    """Write an RGB image atomically (temp file then rename); the format follows the suffix."""
    from pathlib import Path

    from mln_tf.files import write_bytes_atomic

    path = Path(path)
    ok, data = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(image_rgb[:, :, ::-1]))
    if not ok:
        raise ValueError(f"cannot encode an image as {path.suffix!r} for {path}")
    write_bytes_atomic(path, data.tobytes(), fsync=False)
