"""Self-distillation for a small input (mln_tf/train/distill.py): targets line up, the student learns."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import TRAIN
from mln_tf.inference import read_image
from mln_tf.train.distill import DistillConfig, augmented_crop, distill, teacher_targets


def test_config_refuses_sizes_the_network_cannot_take():
    with pytest.raises(ValueError, match="multiples of 8"):
        DistillConfig(input_hw=(250, 320))
    with pytest.raises(ValueError, match="teacher input 300x300"):
        DistillConfig(input_hw=(200, 200), teacher_scale=1.5)
    with pytest.raises(ValueError, match="augmentation"):
        DistillConfig(zoom_range=(1.2, 0.8))
    assert DistillConfig().teacher_hw == (384, 480)


def test_the_crop_without_augmentation_is_the_letterboxed_image():
    """No rotation, zoom 1, no flip: the crop is what preprocess letterboxes (test time's geometry)."""
    from mln_tf.inference import preprocess

    rgb = read_image(sorted(TRAIN.glob("*.jpg"))[0])
    plain = dict(max_rotation=0.0, zoom_range=(1.0, 1.0))
    crop = augmented_crop(rgb, (384, 480), np.random.default_rng(0), DistillConfig(**plain, flip_probability=0.0))
    assert crop.shape == (384, 480, 3) and crop.dtype == np.uint8
    x, transform = preprocess(rgb, input_hw=(384, 480))
    letterboxed = (x + 0.5) * 256
    assert np.abs(crop - letterboxed).mean() < 4  # the same picture, bilinear against area resampling
    h, w = transform.content_hw
    flipped = augmented_crop(rgb, (384, 480), np.random.default_rng(0), DistillConfig(**plain, flip_probability=1.0))
    assert np.abs(flipped[:h, :w][:, ::-1].astype(float) - crop[:h, :w]).mean() < 4  # mirrored in place


def test_teacher_maps_are_area_resized_to_the_student_grid():
    maps = np.arange(2 * 6 * 9 * 19, dtype=np.float32).reshape(2, 6, 9, 19)

    def teacher(x):
        return maps, np.concatenate([maps, maps], axis=-1)

    out = teacher_targets(teacher, np.zeros((2, 48, 72, 3), np.uint8), (2, 3))
    assert out["heatmaps"].shape == (2, 2, 3, 19) and out["pafs"].shape == (2, 2, 3, 38)
    np.testing.assert_allclose(out["heatmaps"][1, 0, 0], maps[1, :3, :3].mean(axis=(0, 1)), rtol=1e-5)


@pytest.mark.slow
def test_distillation_trains_a_cut_copy_and_leaves_the_network_alone():
    from mln_tf.export.models import at_stage
    from mln_tf.pretrained import load_pretrained

    model = load_pretrained("tfpose_mobilenet_thin")
    before = [w.copy() for w in model.get_weights()]
    images = [read_image(p) for p in sorted(TRAIN.glob("*.jpg"))[:3]]
    config = DistillConfig(input_hw=(64, 80), stage=2, steps=3, batch_size=2, learning_rate=1e-4)
    student, losses = distill(model, images, config, progress=False)
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the teacher is untouched
    cut = at_stage(model, 2)
    assert [w.shape for w in student.get_weights()] == [w.shape for w in cut.get_weights()]
    moved = [np.abs(a - b).max() for a, b in zip(student.get_weights(), cut.get_weights())]
    assert max(moved) > 0  # it trained
    out = student(np.zeros((1, 64, 80, 3), np.float32))
    assert out["heatmaps"].shape == (1, 8, 10, 19) and out["pafs"].shape == (1, 8, 10, 38)
