"""Named operating points (``--speed``) and networks stopped after a refinement stage (``--stage``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import VAL
from mln_tf.cli.main import main
from mln_tf.errors import UsageError
from mln_tf.estimator import Estimator, EstimatorConfig
from mln_tf.inference import preprocess, read_image
from mln_tf.operating_points import KEEP, POINTS, OperatingPoint, camera_default, point

PRETRAINED = "pretrained:tfpose_mobilenet_thin"
IMAGE = sorted(VAL.glob("*.jpg"))[0]


def test_the_camera_default_is_the_fastest_point_that_keeps_most_of_balanced():
    chosen = camera_default()
    balanced = POINTS["balanced"]
    assert all(a >= KEEP * b for a, b in zip(chosen.ap, balanced.ap))
    faster = [p for p in POINTS.values() if p.ms < chosen.ms]
    assert all(any(a < KEEP * b for a, b in zip(p.ap, balanced.ap)) for p in faster), faster
    # the rule itself: none keeps 0.9x on both sets -> balanced; one that does and is faster -> that one
    slow = OperatingPoint("balanced", (368, 432), None, (0.5, 0.2), 70.0, 10.0)
    weak = OperatingPoint("fast", (192, 256), 2, (0.5, 0.1), 20.0, 30.0)
    keeps = OperatingPoint("medium", (256, 320), 3, (0.46, 0.19), 35.0, 20.0)
    assert camera_default({"balanced": slow, "fast": weak}) is slow
    assert camera_default({"balanced": slow, "fast": weak, "medium": keeps}) is keeps


def test_points_are_valid_estimator_settings_and_unknown_names_are_refused():
    for p in POINTS.values():
        config = p.config(EstimatorConfig(flip=True))
        assert config.input_hw == p.input_hw and config.stage == p.stage and config.flip  # the rest is kept
        assert p.name in p.describe() and "AP" in p.describe()
    with pytest.raises(ValueError, match="unknown operating point 'turbo'; known: fast"):
        point("turbo")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="stage must be"):
            EstimatorConfig(stage=bad)


@pytest.fixture(scope="module")
def full():
    from mln_tf.pretrained import load_pretrained

    return load_pretrained("tfpose_mobilenet_thin")


def test_an_estimator_at_a_stage_runs_the_cut_network(full):
    """Estimator.load cuts a .keras network at the config's stage (at_stage itself: tests/export/test_export.py)."""
    x = preprocess(read_image(IMAGE), input_hw=(128, 160))[0][None]
    everything = full(x, training=False)
    est = Estimator.load(PRETRAINED, EstimatorConfig(input_hw=(128, 160), stage=3))
    assert est.runner.stage == 3 and est.settings()["stage"] == 3
    heatmaps, pafs = est.runner(x)
    np.testing.assert_allclose(heatmaps, np.asarray(everything["stage3_heatmaps"]), atol=1e-5)
    np.testing.assert_allclose(pafs, np.asarray(everything["stage3_pafs"]), atol=1e-5)


def test_a_stage_the_runner_does_not_stop_at_is_refused(full, tmp_path):
    from mln_tf.runners import keras_runner, load_runner

    with pytest.raises(ValueError, match="runs all its stages, not stage 3: load it with Estimator.load"):
        Estimator(keras_runner(full), EstimatorConfig(stage=3))
    assert Estimator.load(PRETRAINED, EstimatorConfig(stage=6)).runner.stage == 6  # the last stage: the network
    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"\0" * 16)
    with pytest.raises(UsageError, match="m.tflite ends at the stage it was exported with"):
        load_runner(tflite, stage=3)


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--speed", "fast", "--input", "256x320"], "--speed fast sets the input (256x320) and the stage (3)"),
        (["--speed", "fast", "--input-height", "256"], "give either --speed or --input-height"),
        (["--speed", "fast", "--stage", "2"], "give either --speed or --stage"),
        (["--speed", "turbo"], "invalid choice: 'turbo'"),
        (["--speed", "fast", "--accurate"], "fixed"),
        (["--stage", "9"], "refinement stages 1..6, not stage 9"),
        (["--stage", "0"], "must be >= 1"),
    ],
)
def test_speed_and_stage_mistakes_are_one_line_before_any_work(extra, words, tmp_path, capsys):
    out = tmp_path / "o"
    try:
        code = main(["infer", "--model", PRETRAINED, str(IMAGE), "--out", str(out), *extra])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and words in err, err
    assert not out.exists()


def test_infer_at_a_named_point_writes_its_settings(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["infer", "--model", PRETRAINED, str(IMAGE), "--out", str(out), "--speed", "fast", "--quiet"]) == 0
    settings = json.loads((out / "run.json").read_text())
    fast = POINTS["fast"]
    assert settings["input_hw"] == list(fast.input_hw) and settings["stage"] == fast.stage
    assert json.loads(next(out.rglob("*_keypoints.json")).read_text())["people"]  # it still finds people


def test_an_exported_point_is_the_cut_network_at_its_input(tmp_path, capsys):
    from mln_tf.runners import load_runner

    path = tmp_path / "fast.tflite"
    assert main(["export", "tflite", PRETRAINED, str(path), "--speed", "fast", "--quiet"]) == 0
    assert "stops after refinement stage 3" in capsys.readouterr().out
    runner = load_runner(path)
    fast = POINTS["fast"]
    assert runner.input_hw == fast.input_hw
    keras = Estimator.load(PRETRAINED, fast.config()).runner
    x = preprocess(read_image(IMAGE), input_hw=fast.input_hw)[0][None]
    assert np.abs(runner(x)[0] - keras(x)[0]).max() < 1e-3
    code = main(["export", "tflite", PRETRAINED, str(tmp_path / "q.tflite"), "--speed", "fast", "--mode", "qat"])
    assert code == 2 and "qat fine-tunes the whole network" in capsys.readouterr().err
