"""Pixel-centre convention shared by target rendering and decoding.

Image coordinates are pixel indices: pixel ``i`` has its centre at ``x = i`` (OpenCV's
convention; COCO keypoints are read as such). A map of stride ``s`` has its pixel ``j``
centred on the input pixels ``s*j .. s*j + s - 1``, i.e. at input coordinate
``s*j + (s - 1) / 2`` (CMU OpenPose's ``start = s/2 - 0.5``). Both directions go through
the two functions below and nowhere else.
"""

from __future__ import annotations

import numpy as np

DEFAULT_STRIDE = 8


def map_to_input(xy: np.ndarray, stride: float = DEFAULT_STRIDE) -> np.ndarray:
    """Map-pixel coordinates -> input-image pixel coordinates (same shape)."""
    return np.asarray(xy, dtype=np.float32) * stride + (stride - 1) / 2


def input_to_map(xy: np.ndarray, stride: float = DEFAULT_STRIDE) -> np.ndarray:
    """Input-image pixel coordinates -> map-pixel coordinates (same shape)."""
    return (np.asarray(xy, dtype=np.float32) - (stride - 1) / 2) / stride
