"""The Estimator: one value for how a model runs on an image, the Python API, the one image loop."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mln_tf
from mln_tf.bundled import VAL_DIR
from mln_tf.estimator import Estimator, EstimatorConfig, decoder_changes, decoder_config
from mln_tf.images import BadFiles, iter_images
from mln_tf.inference import PostprocessConfig

ROOT = Path(__file__).resolve().parents[2]
PHOTO = VAL_DIR / "000000000785.jpg"  # one person, skiing


class FixedRunner:
    """A fixed-size model's contract (as a .tflite), maps of nobody."""

    input_hw = (64, 80)
    path = "fixed.tflite"
    kind = "tflite"

    def __call__(self, batch):
        n, h, w = batch.shape[:3]
        return np.zeros((n, h // 8, w // 8, 19), np.float32), np.zeros((n, h // 8, w // 8, 38), np.float32)


def test_the_readme_three_lines_find_the_person_and_draw_them():
    """README's Python API, as written there."""
    readme = (ROOT / "README.md").read_text()
    for line in (
        "est = mln_tf.Estimator.pretrained()",
        "poses = est.estimate(image)",
        "overlay = mln_tf.draw_poses(image, poses)",
    ):
        assert line in readme, f"the README no longer shows {line!r}"
    image = mln_tf.read_image(PHOTO)
    est = mln_tf.Estimator.pretrained()
    poses = est.estimate(image)
    overlay = mln_tf.draw_poses(image, poses)
    assert len(poses) == 1 and (poses.keypoints[0, :, 2] > 0).sum() >= 12
    assert overlay.shape == image.shape and (overlay != image).any()
    settings = est.settings()
    assert settings["model"].endswith("tfpose_mobilenet_thin.keras") and settings["input_height"] == 368
    json.dumps(settings)  # plain JSON values


def test_import_mln_tf_is_fast_and_lazy():
    loaded = "'tensorflow' in sys.modules, 'mln_tf.estimator' in sys.modules"
    code = f"import sys, mln_tf; print({loaded}, mln_tf.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["False", "False"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'attr = "mln_tf.__version__"' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+", out[2])
    for name in mln_tf.__all__:
        assert getattr(mln_tf, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        mln_tf.nonsense  # noqa: B018


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_height=100), "multiple of 8"),
        (dict(input_height=0), "multiple of 8"),
        (dict(scales=()), "scales must be positive"),
        (dict(scales=(1.0, -1.0)), "scales must be positive"),
        (dict(scales=(1.0, float("nan"))), "scales must be positive"),
        (dict(input_hw=(60, 80)), "multiples of 8"),
        (dict(input_hw=(64, 80), scales=(1.0, 1.25)), "one scale"),
        (dict(flip="yes"), "flip must be True or False"),
        (dict(postprocess={"upsample": 2}), "PostprocessConfig"),
    ],
)
def test_config_errors_name_the_setting(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EstimatorConfig(**kwargs)


def test_a_fixed_size_model_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match=r"fixed.tflite takes a fixed 64x80 input.*scales 1.0,1.25"):
        Estimator(FixedRunner(), EstimatorConfig(scales=(1.0, 1.25)))
    with pytest.raises(ValueError, match="not 96x96"):
        Estimator(FixedRunner(), EstimatorConfig(input_hw=(96, 96)))
    est = Estimator(FixedRunner())
    assert est.input_hw == (64, 80) and est.settings()["input_height"] is None
    heatmaps, pafs, transform = est.maps(np.zeros((30, 50, 3), np.uint8))
    assert heatmaps.shape == (8, 10, 19) and transform.input_hw == (64, 80)
    assert len(est.estimate(np.zeros((30, 50), np.uint8))) == 0  # gray is converted


def test_a_fixed_input_letterboxes_any_runner():
    est = Estimator(lambda x: FixedRunner()(x), EstimatorConfig(input_hw=(48, 64)))
    _, _, transform = est.maps(np.zeros((100, 100, 3), np.uint8))
    assert transform.input_hw == (48, 64) and transform.content_hw == (48, 48)


def test_decoder_settings_parse_apply_and_describe_themselves():
    config = decoder_config(["upsample=2", "min_parts=5", "refine_peaks=false"])
    assert config.upsample == 2 and config.grouping.min_parts == 5 and config.grouping.refine_peaks is False
    assert decoder_changes(config) == {"upsample": 2, "refine_peaks": False, "min_parts": 5}
    assert decoder_changes(PostprocessConfig()) == {}
    described = EstimatorConfig(flip=True).with_decoder(["min_parts=5"]).describe()
    assert described == "input height 368, scale 1, flip; decoder min_parts=5"
    for bad, message in (
        ("nonsense=1", "unknown decoder setting 'nonsense'"),
        ("min_parts", "expected NAME=VALUE"),
        ("min_parts=many", "min_parts: expected int"),
        ("refine_peaks=maybe", "expected true or false"),
        ("samples=1", "samples"),
    ):
        with pytest.raises(ValueError, match=message):
            decoder_config([bad])


def test_decoder_settings_reach_the_people(tmp_path):
    image = mln_tf.read_image(PHOTO)
    est = Estimator.pretrained(config=EstimatorConfig(input_height=184))
    assert len(est.estimate(image)) == 1
    assert len(est.replace(postprocess=decoder_config(["min_parts=19"])).estimate(image)) == 0  # 18 parts at most


def test_iter_images_reads_the_good_files_and_names_the_bad_ones_once(tmp_path, caplog):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    files = [PHOTO, tmp_path / "broken.jpg", tmp_path / "missing.png", VAL_DIR / "000000040083.jpg"]
    bad = BadFiles()
    read = list(iter_images(files, bad))
    assert [p.name for p, _ in read] == ["000000000785.jpg", "000000040083.jpg"]
    assert all(rgb.dtype == np.uint8 and rgb.shape[2] == 3 for _, rgb in read)
    assert len(bad) == 2 and bad.lines()[0].count("broken.jpg") == 1
    assert "not an image or corrupt" in bad.lines()[0] and "missing.png" in bad.lines()[1]
    assert sum("skipping" in r.message for r in caplog.records) == 2
    assert [p.name for p, _ in iter_images(files, limit=1)] == ["000000000785.jpg"]
    quiet = BadFiles(quiet=True)
    caplog.clear()
    list(iter_images(files[1:2], quiet))
    assert len(quiet) == 1 and not caplog.records
