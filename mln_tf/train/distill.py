"""Self-distillation for a small input: the network at full resolution teaches itself at a fast point.

A network run on a small input (an operating point such as ``fast``: 256x320, stopped after
stage k) finds fewer people than the same network at the full size, mostly small ones. No labels
are needed to win some of that back: the full network's own maps at a higher resolution are the
targets. The steps, for every training step:

1. Draw a batch of photos or video frames (unlabelled) and, for each, one random augmentation of
   the paper's kinds (rotation, scaling, flip; ranges in :class:`DistillConfig`), warped straight
   into a crop of the student's aspect at ``teacher_scale`` times the student's input size.
2. The teacher (the full network, frozen) runs on that crop: its heatmaps and PAFs, resized to
   the student's map grid (area averaging), are the targets. The crop and the student's input
   show the same scene, so the maps line up cell for cell.
3. The student (a copy of the network cut after ``stage``, ``export.models.at_stage``) runs on
   the crop resized to its own input and takes one Adam step on the mean squared error of its
   heatmaps and PAFs against the targets.

:func:`distill` returns the trained student (same layer names and weights layout as the cut
network: it exports and loads as any Keras pose model) and the loss per step. Whether it is
better must be measured on images it never saw (``benchmarks/distill.py`` does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistillConfig:
    """Student input and stage, teacher resolution, augmentation ranges and the optimiser's settings."""

    input_hw: tuple[int, int] = (256, 320)
    stage: int | None = 3
    teacher_scale: float = 1.5
    steps: int = 300
    batch_size: int = 8
    learning_rate: float = 1e-5
    max_rotation: float = 20.0  # degrees, uniform in [-max_rotation, max_rotation]
    zoom_range: tuple[float, float] = (0.75, 1.25)  # multiplies the fit-to-crop scale
    flip_probability: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        h, w = self.input_hw
        if h % 8 or w % 8 or min(h, w) < 8:
            raise ValueError(f"input_hw must be positive multiples of 8, got {self.input_hw}")
        th, tw = self.teacher_hw
        if th % 8 or tw % 8:
            raise ValueError(f"teacher_scale {self.teacher_scale} gives a teacher input {th}x{tw}: not multiples of 8")
        if self.teacher_scale < 1 or self.steps < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError(f"invalid DistillConfig {self}")
        lo, hi = self.zoom_range
        if not 0 < lo <= hi or self.max_rotation < 0 or not 0 <= self.flip_probability <= 1:
            raise ValueError(f"invalid augmentation ranges in {self}")

    @property
    def teacher_hw(self) -> tuple[int, int]:
        """The teacher's input: the student's times ``teacher_scale``."""
        return round(self.input_hw[0] * self.teacher_scale), round(self.input_hw[1] * self.teacher_scale)


def augmented_crop(rgb: np.ndarray, out_hw: tuple[int, int], rng: np.random.Generator, config: DistillConfig):
    """``rgb`` rotated, zoomed and maybe mirrored about its centre, warped into an ``out_hw`` crop (uint8)."""
    import cv2

    h, w = rgb.shape[:2]
    oh, ow = out_hw
    fit = min(oh / h, ow / w)  # the image letterboxed as at test time (top left, grey padding), then the zoom
    zoom = fit * rng.uniform(*config.zoom_range)
    angle = rng.uniform(-config.max_rotation, config.max_rotation)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, zoom)
    m[:, 2] += (fit * w / 2 - w / 2, fit * h / 2 - h / 2)  # the image centre stays where letterboxing puts it
    if rng.random() < config.flip_probability:  # mirrored within the letterboxed content
        m = np.array([[-1.0, 0.0, fit * w - 1], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0.0, 0.0, 1.0]])
    return cv2.warpAffine(rgb, m, (ow, oh), flags=cv2.INTER_LINEAR, borderValue=(128, 128, 128))


def teacher_targets(teacher: Callable, crops: np.ndarray, grid_hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """The teacher's heatmaps and PAFs on ``crops`` (uint8), area-resized to the student's map grid."""
    import cv2

    from mln_tf.inference import normalize

    heatmaps, pafs = teacher(normalize(crops.astype(np.float32)))
    gh, gw = grid_hw

    def area(m: np.ndarray) -> np.ndarray:  # OpenCV's area resize takes at most 4 channels at a time
        parts = [
            cv2.resize(m[..., c : c + 4], (gw, gh), interpolation=cv2.INTER_AREA) for c in range(0, m.shape[-1], 4)
        ]
        return np.concatenate([p.reshape(gh, gw, -1) for p in parts], axis=-1)

    def resize(maps: np.ndarray) -> np.ndarray:
        return np.stack([area(np.ascontiguousarray(m)) for m in maps])

    return {"heatmaps": resize(np.asarray(heatmaps)), "pafs": resize(np.asarray(pafs))}


def distill(
    model: Any,
    images: Sequence[np.ndarray],
    config: DistillConfig = DistillConfig(),
    progress: bool = True,
) -> tuple[Any, list[float]]:
    """Train a copy of ``model`` cut after ``config.stage`` on ``images`` (RGB uint8) against ``model``'s maps.

    ``model`` is not changed. Returns (student, loss per step).
    """
    import cv2
    import keras

    from mln_tf.console import progress as bar
    from mln_tf.export.models import at_stage, float32_model, with_input_size
    from mln_tf.inference import normalize
    from mln_tf.runners import keras_runner

    if not images:
        raise ValueError("distillation needs at least one image")
    teacher = keras_runner(with_input_size(float32_model(model), config.teacher_hw))
    student_base = keras.models.clone_model(model)
    student_base.set_weights(model.get_weights())
    student = with_input_size(at_stage(student_base, config.stage), config.input_hw)
    maps = {k: student.output[k] for k in ("heatmaps", "pafs")}
    student = keras.Model(student.inputs[0], maps, name=f"{model.name}_distilled")
    student.compile(optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=1.0), loss="mse")
    rng = np.random.default_rng(config.seed)
    h, w = config.input_hw
    grid = (h // 8, w // 8)
    losses: list[float] = []
    for _ in bar(range(config.steps), quiet=not progress, desc="distilling", unit="step"):
        picks = rng.integers(0, len(images), config.batch_size)
        crops = np.stack([augmented_crop(images[i], config.teacher_hw, rng, config) for i in picks])
        targets = teacher_targets(teacher, crops, grid)
        small = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA) for c in crops])
        loss = student.train_on_batch(normalize(small.astype(np.float32)), targets)
        losses.append(float(np.asarray(loss).ravel()[0]))
        if not np.isfinite(losses[-1]):
            raise ValueError("distillation diverged (loss is NaN): lower the learning rate")
    log.info("distilled %d steps: loss %.4g -> %.4g", config.steps, losses[0], losses[-1])
    return student, losses
