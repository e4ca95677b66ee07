"""Keras training: loss goes down, checkpoints, SIGTERM + resume, periodic COCO eval, CLI."""

import json
import os
import signal

import keras
import numpy as np
import pytest

from mln_tf import train as tr
from mln_tf.bundled import TRAIN_DIR, VAL_DIR
from mln_tf.cli import train as train_cli
from mln_tf.data import CocoKeypoints, DataConfig, training_dataset
from mln_tf.losses import pose_losses


@pytest.fixture(scope="module")
def paths(data_dir):
    t, v = TRAIN_DIR, VAL_DIR
    return {
        "train_json": str(t / "person_keypoints.json"),
        "train_images": str(t),
        "val_json": str(v / "person_keypoints.json"),
        "val_images": str(v),
    }


def tiny(paths, out_dir, **overrides) -> tr.TrainConfig:
    """A tiny MLN at 64x64 with evaluation on the 4 bundled val images every 4 steps."""
    base = dict(
        train_json=paths["train_json"],
        train_images=paths["train_images"],
        val_json=paths["val_json"],
        val_images=paths["val_images"],
        out_dir=str(out_dir),
        width="tiny",
        input_hw=(64, 64),
        batch_size=4,
        steps=8,
        steps_per_epoch=4,
        checkpoint_every=4,
        eval_every=4,
        eval_input_height=96,
        optimizer="sgd",
        learning_rate=1e-3,
        verbose=0,
        tensorboard=False,
        mixed_precision=False,
    )
    return tr.TrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def straight(paths, tmp_path_factory):
    """An uninterrupted 8-step run (the reference for the resume test)."""
    out = tmp_path_factory.mktemp("straight")
    return tr.train(tiny(paths, out, tensorboard=True)), out


def held_out_loss(model, batch) -> float:
    model.compile(loss=pose_losses(model.output_names))
    return float(model.evaluate(*batch, verbose=0, return_dict=True)["loss"])


@pytest.mark.slow
def test_a_few_steps_lower_the_loss_and_evaluation_keeps_the_best_model(paths, straight):
    result, out = straight
    assert result.completed and result.step == 8 and result.first_step == 0
    keras.utils.set_random_seed(0)  # train() builds its initial model after seeding this way
    initial = tr.build_model("mln", "tiny")
    final = keras.models.load_model(result.artifacts["model"])
    source = CocoKeypoints(paths["train_json"], paths["train_images"])
    batch = next(iter(training_dataset(source, DataConfig(input_hw=(64, 64)), initial.output_names, 8, seed=123)))
    before, after = held_out_loss(initial, batch), held_out_loss(final, batch)
    assert after < 0.85 * before, (before, after)

    evals = json.loads((out / "evals.json").read_text())
    assert [row["step"] for row in evals] == [4, 8]
    assert all(0.0 <= row["AP"] <= 1.0 and row["images"] == 4 for row in evals)
    best = max(evals, key=lambda row: row["AP"])
    assert result.best_ap == pytest.approx(best["AP"]) and (out / "best.keras").is_file()
    assert any((out / "logs" / "train").iterdir())  # TensorBoard
    assert any((out / "logs" / "eval").iterdir())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 8 and summary["bad_records"] == {}
    table = tr.summary_table(result, tiny(paths, out))
    assert "best COCO AP" in table and "model.keras" in table


class KillAt(keras.callbacks.Callback):
    """Sends this process SIGTERM after ``step`` batches, as a scheduler would."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step, self.seen = step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def weights_of(path) -> list:
    return keras.models.load_model(path, compile=False).get_weights()


@pytest.mark.slow
def test_sigterm_checkpoints_and_resume_matches_an_uninterrupted_run(paths, straight, tmp_path):
    reference, reference_dir = straight
    run = tmp_path / "killed"
    handler = signal.getsignal(signal.SIGTERM)
    killed = tr.train(tiny(paths, run), callbacks=[KillAt(3)])
    assert killed.stopped_by == "SIGTERM" and killed.step == 3  # mid-epoch (4 steps per epoch)
    state = json.loads((run / "checkpoints" / "checkpoint.json").read_text())
    assert state["step"] == 3 and (run / "checkpoints" / "ckpt-00000003.keras").is_file()
    assert not (run / "model.keras").exists()  # not finished
    assert signal.getsignal(signal.SIGTERM) is handler  # our handler is removed again

    with pytest.raises(ValueError, match="already holds a run"):
        tr.train(tiny(paths, run))
    with pytest.raises(ValueError, match="seed"):
        tr.train(tiny(paths, run, seed=5, resume=True))

    resumed = tr.train(tiny(paths, run, resume=True, keep_checkpoints=2))
    assert resumed.completed and resumed.first_step == 3 and resumed.step == 8
    kept = sorted(p.name for p in (run / "checkpoints").glob("*.keras"))
    assert kept == ["ckpt-00000004.keras", "ckpt-00000008.keras"]
    # Same data order and optimizer state: the resumed run ends where the straight one did,
    # and its evaluations at steps 4 and 8 agree.
    for a, b in zip(weights_of(reference.artifacts["model"]), weights_of(resumed.artifacts["model"])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    evals = json.loads((run / "evals.json").read_text())
    ref_evals = json.loads((reference_dir / "evals.json").read_text())
    assert [r["step"] for r in evals] == [4, 8]
    assert [r["AP"] for r in evals] == pytest.approx([r["AP"] for r in ref_evals], abs=1e-3)


def test_resume_without_a_checkpoint_and_bad_inputs_are_clear_errors(paths, tmp_path, capsys):
    with pytest.raises(ValueError, match="no checkpoint"):
        tr.train(tiny(paths, tmp_path / "empty", resume=True))
    with pytest.raises(ValueError, match="batch_size"):
        tiny(paths, tmp_path, batch_size=0)
    code = train_cli.main(
        [
            "--train-json",
            str(tmp_path / "missing.json"),
            "--train-images",
            str(tmp_path),
            "--out",
            str(tmp_path / "cli"),
        ]
    )
    assert code == 2 and "--train-json: not found" in capsys.readouterr().err  # checked before TF loads


def test_help_documents_the_paper_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_cli.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--arch",
        "--init-vgg19",
        "--mixed-precision",
        "--strategy",
        "--resume",
        "--checkpoint-every",
        "--eval-every",
        "--val-json",
    ):
        assert flag in text
    assert "6e-05" in text and "0.0005" in text and "28" in text
    args = train_cli.build_parser().parse_args(["--coco", "/data/coco"])
    config = train_cli.config_from_args(args)
    assert config.learning_rate == 6e-5 and config.momentum == 0.9 and config.batch_size == 28
    assert config.train_json.endswith("annotations/person_keypoints_train2017.json")
    assert config.mixed_precision is None  # decided by the devices: on only with a GPU


@pytest.mark.slow
def test_fine_tuning_the_pretrained_network_keeps_it_finding_people(paths, tmp_path):
    """--arch mobilenet_thin --init-pretrained: a few small-lr steps start from, and keep, a real network."""
    from mln_tf.estimator import Estimator
    from mln_tf.evaluate import evaluate_model
    from mln_tf.runners import load_runner

    config = tiny(
        paths,
        tmp_path / "ft",
        arch="mobilenet_thin",
        width="paper",
        init_pretrained="tfpose_mobilenet_thin",
        input_hw=(184, 184),
        batch_size=2,
        steps=3,
        steps_per_epoch=3,
        checkpoint_every=3,
        eval_every=3,
        eval_input_height=368,
        optimizer="adam",
        learning_rate=5e-6,
        weight_decay=0.0,
        lr_schedule="constant",
    )
    result = tr.train(config)
    assert result.completed and result.best_ap is not None and result.best_ap >= 0.45  # 0.648 before
    runner = load_runner(result.artifacts["model"])
    stats = evaluate_model(Estimator(runner), paths["val_json"], paths["val_images"], progress=False, verbose=False)
    assert stats["AP50"] >= 0.8
    with pytest.raises(ValueError, match="neither a shipped pretrained model"):
        tr.train(tiny(paths, tmp_path / "bad", init_pretrained="openpose_coco"))
    with pytest.raises(ValueError, match="exclude each other"):
        tiny(paths, tmp_path / "both", init_pretrained="tfpose_mobilenet_thin", init_vgg19="vgg.h5")
