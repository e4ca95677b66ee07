"""Keras callbacks of a run: step-numbered checkpoints (also on SIGTERM/SIGINT), COCO evaluation, TensorBoard."""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
import time
from pathlib import Path

from mln_tf.files import write_json_atomic
from mln_tf.train.config import TrainConfig
from mln_tf.train.setup import inference_copy, save_keras_atomic

log = logging.getLogger(__name__)


def _callbacks():
    """The run's callback classes: StepCheckpoint, CocoEvaluation, StepTensorBoard (made here, on Keras' import)."""
    import keras

    StepCheckpoint = _step_checkpoint_class(keras)
    CocoEvaluation = _coco_evaluation_class(keras)
    StepTensorBoard = _step_tensorboard_class(keras)
    return StepCheckpoint, CocoEvaluation, StepTensorBoard


def _step_checkpoint_class(keras):
    """StepCheckpoint: the run's global step counter and checkpoint writer."""

    class StepCheckpoint(keras.callbacks.Callback):
        """Counts global steps; writes atomic checkpoints every N steps and on SIGTERM/SIGINT."""

        def __init__(
            self, ckpt_dir: Path, first_step: int, end_step: int, every: int, keep: int, chief: bool, state_extra
        ) -> None:
            super().__init__()
            self.dir, self.step, self.end_step = ckpt_dir, first_step, end_step
            self.every, self.keep, self.chief = every, keep, chief
            self.state_extra = state_extra
            self.signalled: int | None = None
            self.last_saved: int | None = None
            self.last_logs: dict[str, float] = {}

        def request_stop(self, signum, _frame=None) -> None:
            if self.signalled is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C stops at once
            self.signalled = signum

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            self.last_logs = {k: float(v) for k, v in (logs or {}).items()}
            if self.step % self.every == 0 or self.signalled is not None:
                self.save()
            if self.signalled is not None or self.step >= self.end_step:
                self.model.stop_training = True

        def save(self) -> Path | None:
            """Checkpoint the current step (model + optimizer) and point checkpoint.json at it."""
            if self.last_saved == self.step:
                return self.dir / f"ckpt-{self.step:08d}.keras"
            name = f"ckpt-{self.step:08d}.keras"
            target = self.dir if self.chief else Path(tempfile.mkdtemp(prefix="mln-ckpt-worker-"))
            path = save_keras_atomic(self.model, target / name)
            if not self.chief:  # other workers take part in saving but keep nothing
                shutil.rmtree(target, ignore_errors=True)
                self.last_saved = self.step
                return None
            write_json_atomic(
                self.dir / "checkpoint.json",
                {"step": self.step, "file": name, "time": time.time(), **self.state_extra()},
            )
            _remove_stale_checkpoints(self.dir, self.keep)
            self.last_saved = self.step
            return path

    return StepCheckpoint


def _remove_stale_checkpoints(ckpt_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints in ``ckpt_dir``."""
    for stale in sorted(ckpt_dir.glob("ckpt-*.keras"))[:-keep]:
        stale.unlink(missing_ok=True)


def _coco_evaluation_class(keras):
    """CocoEvaluation: COCO keypoint AP on the validation set every --eval-every steps (on the chief)."""

    class CocoEvaluation(_EvaluationRecord, keras.callbacks.Callback):
        """COCO keypoint AP on a validation set every N steps; keeps the best model."""

        def on_train_batch_end(self, batch, logs=None):
            step = self.counter.step
            if step % self.config.eval_every == 0 and self.counter.signalled is None:
                self.evaluate()

        def evaluate(self) -> dict | None:
            """Evaluate the model at the current step (the chief only, once per step); the row kept, or None."""
            step = self.counter.step
            if not self.chief or self.last_step == step:
                return None
            from mln_tf.estimator import Estimator, EstimatorConfig
            from mln_tf.evaluate import STAT_NAMES, evaluate_coco, load_coco, predict_dataset
            from mln_tf.runners import keras_runner

            if self.runner is None:
                self.runner = Estimator(keras_runner(self.model), EstimatorConfig(self.config.eval_input_height))
            if self.gt is None:  # parsed once per run, not at every evaluation
                self.gt = load_coco(self.config.val_json)
            gt = self.gt
            ids = sorted(gt.getImgIds())[: self.config.eval_images or None]
            results, done, failures = predict_dataset(
                self.runner, gt, self.config.val_images, image_ids=ids, progress=self.config.verbose > 0
            )
            if not done:
                raise ValueError(f"no validation image could be read: {failures[:3]}")
            stats = evaluate_coco(results, gt, done, verbose=False)
            row = {
                "step": step,
                **{k: float(stats[k]) for k in (*STAT_NAMES, "lr_confusion")},
                "images": len(done),
                "detections": len(results),
            }
            self._record(row)
            return row

    return CocoEvaluation


class _EvaluationRecord:
    """CocoEvaluation's state and what it writes: evals.json, best.keras, TensorBoard scalars, the log line."""

    def __init__(
        self,
        counter,
        config: TrainConfig,
        out_dir: Path,
        chief: bool,
        best_ap: float | None,
        best_step: int | None,
        history: list[dict],
    ) -> None:
        super().__init__()
        self.counter, self.config, self.out_dir, self.chief = counter, config, out_dir, chief
        self.best_ap, self.best_step, self.history = best_ap, best_step, history
        self.runner = None
        self.gt = None
        self.writer = None
        self.last_step: int | None = None

    def _record(self, row: dict) -> None:
        """Add one evaluation to evals.json, TensorBoard and the log; a new best AP also saves best.keras."""
        step = row["step"]
        self.history.append(row)
        improved = self.best_ap is None or row["AP"] > self.best_ap
        if improved:
            self.best_ap, self.best_step = row["AP"], step
            save_keras_atomic(
                inference_copy(self.model, self.config.arch, self.config.width), self.out_dir / "best.keras"
            )
        write_json_atomic(self.out_dir / "evals.json", self.history)
        self._log(row)
        self.last_step = step
        if self.config.verbose:
            log.info(
                f"step {step}: COCO AP {row['AP']:.3f} (AP50 {row['AP50']:.3f}, AR {row['AR']:.3f}) "
                f"on {row['images']} images; best {self.best_ap:.3f} at step {self.best_step}"
                + (" -> best.keras" if improved else "")
            )

    def _log(self, row: dict) -> None:
        """The row's COCO scalars into the TensorBoard logs' eval folder (with --tensorboard)."""
        if not self.config.tensorboard:
            return
        import tensorflow as tf

        if self.writer is None:
            self.writer = tf.summary.create_file_writer(str(self.out_dir / "logs" / "eval"))
        with self.writer.as_default():
            for key in ("AP", "AP50", "AP75", "AR", "lr_confusion"):
                tf.summary.scalar(f"coco_{key}", row[key], step=row["step"])
        self.writer.flush()


def _step_tensorboard_class(keras):
    """StepTensorBoard: Keras' TensorBoard callback numbered by the run's global step."""

    class StepTensorBoard(keras.callbacks.TensorBoard):
        """Keras' TensorBoard with batch summaries numbered by the run's global step."""

        def __init__(self, counter, **kwargs) -> None:
            super().__init__(**kwargs)
            self.counter = counter

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            self._global_train_batch = self.counter.step

    return StepTensorBoard
