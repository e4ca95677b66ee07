"""Skeleton overlays: one colour per person (per track ID when tracked), limbs of ``skeleton.DRAWN_LIMBS``."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from mln_tf import skeleton
from mln_tf.inference import as_rgb
from mln_tf.poses import Poses

UNTRACKED = (160, 160, 160)  # people without a track ID (over the tracker's cap)


def person_colour(index: int) -> tuple[int, int, int]:
    """A distinct, bright RGB colour for person ``index`` (golden-ratio hue steps)."""
    r, g, b = colorsys.hsv_to_rgb((index * 0.618033988749895) % 1.0, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_poses(image: np.ndarray, poses: Poses, thickness: int | None = None, label_ids: bool = True) -> np.ndarray:
    """A copy of the RGB ``image`` with every person's skeleton drawn in its own colour.

    Tracked people (``poses.ids``) keep their colour from frame to frame and, with
    ``label_ids``, carry their ID above the head; untracked ones (-1) are grey.
    """
    canvas = as_rgb(image).copy()
    if thickness is None:  # scale lines with the image so overlays read at any size
        thickness = max(2, int(round(max(canvas.shape[:2]) / 300)))
    for i, kp in enumerate(poses.keypoints):
        track = None if poses.ids is None else int(poses.ids[i])
        colour = person_colour(i) if track is None else (UNTRACKED if track < 0 else person_colour(track))
        if label_ids and track is not None and track >= 0 and (kp[:, 2] > 0).any():
            _label(canvas, str(track), kp[kp[:, 2] > 0, :2], colour, thickness)
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


def _label(canvas: np.ndarray, text: str, xy: np.ndarray, colour: tuple[int, int, int], thickness: int) -> None:
    scale = 0.4 * thickness
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x = int(round(xy[:, 0].mean() - w / 2))
    y = int(round(xy[:, 1].min())) - 2 * thickness
    y = max(y, h + 2)
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def write_image(path, image_rgb: np.ndarray) -> None:
    """Write an RGB image atomically (temp file then rename); the format follows the suffix."""
    from pathlib import Path

    from mln_tf.files import write_bytes_atomic

    path = Path(path)
    ok, data = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(image_rgb[:, :, ::-1]))
    if not ok:
        raise ValueError(f"cannot encode an image as {path.suffix!r} for {path}")
    write_bytes_atomic(path, data.tobytes(), fsync=False)
