"""``python -m training.train``: train MLN or the OpenPose baseline on COCO keypoints with Keras ``fit``.

Paper 3.2 defaults: SGD, learning rate 6e-5, momentum 0.9, weight decay 5e-4, batch 28,
the masked sum-of-squares losses (eq. 3-4) on every output, rotation/scale/flip
augmentation (``mln_tf.data``). Weight decay is Caffe's: ``wd * w`` is added to the
gradient of every conv kernel (biases are not decayed) and goes through the momentum, as
in the paper's Caffe training; it is an L2 penalty ``wd/2 * |w|^2`` on the kernels, so it
is included in the logged ``loss``.

Runs are measured in steps (one step = one global batch). The data stream is a pure
function of (seed, step), so ``--resume`` continues from the last checkpoint with exactly
the batches an uninterrupted run would have seen; checkpoints are written atomically every
``--checkpoint-every`` steps and when the process gets SIGTERM (or Ctrl-C), so a killed
run loses at most the steps since its last checkpoint.

Artifacts in ``--out``: ``checkpoints/ckpt-<step>.keras`` (model + optimizer state) and
``checkpoints/checkpoint.json`` (the latest), ``model.keras`` (final weights, float32, no
optimizer), ``best.keras`` (best validation AP), ``evals.json``, ``train_config.json``,
``summary.json`` and TensorBoard logs in ``logs/``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from mln_tf.data import AugmentConfig
from mln_tf.files import write_json_atomic
from mln_tf.model import ARCHITECTURES, ARCHS, WIDTHS

PAPER_LR = 6e-5
PAPER_MOMENTUM = 0.9
PAPER_WEIGHT_DECAY = 5e-4
PAPER_BATCH = 28
# CMU OpenPose's Caffe solver (the paper trains with it): lr x 0.333 every 136,106 steps.
CMU_LR_STEP = 136_106
CMU_LR_GAMMA = 0.333
CMU_MAX_ITER = 600_000
# Fields that decide the model or the data stream: a resumed run must match them.
RESUME_FIELDS = ("train_json", "train_images", "arch", "width", "input_hw", "batch_size", "seed",
                 "augment", "skip_empty", "optimizer")
EXIT_SIGNALLED = {signal.SIGTERM: 143, signal.SIGINT: 130}


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (the CLI flags, as one frozen value)."""

    train_json: str
    train_images: str
    out_dir: str = "runs/train"
    val_json: str | None = None
    val_images: str | None = None
    arch: str = "mln"
    width: str = "paper"
    input_hw: tuple[int, int] = (368, 368)
    batch_size: int = PAPER_BATCH
    steps: int = CMU_MAX_ITER
    steps_per_epoch: int = 1000
    optimizer: str = "sgd"
    learning_rate: float = PAPER_LR
    momentum: float = PAPER_MOMENTUM
    weight_decay: float = PAPER_WEIGHT_DECAY
    lr_schedule: str = "step"
    lr_step: int = CMU_LR_STEP
    lr_gamma: float = CMU_LR_GAMMA
    seed: int = 0
    workers: int | None = None
    deterministic: bool = True
    mixed_precision: bool | None = None
    strategy: str = "auto"
    init_vgg19: str | None = None
    init_pretrained: str | None = None
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    eval_every: int = 10_000
    eval_input_height: int = 368
    eval_images: int | None = None
    resume: bool = False
    skip_empty: bool = False
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    tensorboard: bool = True
    verbose: int = 1

    def __post_init__(self) -> None:
        from mln_tf.model import check_input_hw

        check_input_hw(self.input_hw)
        checks = {
            f"arch must be one of {ARCHS}": self.arch in ARCHS,
            f"width must be one of {WIDTHS}": self.width in WIDTHS,
            f"width {self.width!r} does not exist for arch {self.arch!r}":
                self.arch not in ARCHS or self.width not in WIDTHS or self.width in ARCHITECTURES[self.arch].widths,
            "batch_size must be >= 1": self.batch_size >= 1,
            "steps must be >= 1": self.steps >= 1,
            "steps_per_epoch must be >= 1": self.steps_per_epoch >= 1,
            "optimizer must be 'sgd' or 'adam'": self.optimizer in ("sgd", "adam"),
            "learning_rate must be > 0": self.learning_rate > 0,
            "weight_decay must be >= 0": self.weight_decay >= 0,
            "lr_schedule must be constant, step or cosine": self.lr_schedule in ("constant", "step", "cosine"),
            "lr_step must be >= 1": self.lr_step >= 1,
            "strategy must be auto, default, mirrored or multiworker":
                self.strategy in ("auto", "default", "mirrored", "multiworker"),
            "checkpoint_every must be >= 1": self.checkpoint_every >= 1,
            "keep_checkpoints must be >= 1": self.keep_checkpoints >= 1,
            "eval_every must be >= 1": self.eval_every >= 1,
            "val_json and val_images go together": (self.val_json is None) == (self.val_images is None),
            "workers must be >= 1": self.workers is None or self.workers >= 1,
            "init_vgg19 and init_pretrained exclude each other": not (self.init_vgg19 and self.init_pretrained),
        }
        failed = [msg for msg, ok in checks.items() if not ok]
        if failed:
            raise ValueError("invalid training configuration: " + "; ".join(failed))

    def to_json(self) -> dict:
        """A JSON-able dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass
class TrainResult:
    """What a run produced."""

    first_step: int
    step: int
    seconds: float
    losses: dict[str, float]
    best_ap: float | None
    best_step: int | None
    last_eval: dict[str, float] | None
    artifacts: dict[str, str]
    bad_records: dict[str, str]
    stopped_by: str | None = None  # "SIGTERM" / "SIGINT" when interrupted
    epochs: list[dict] = field(default_factory=list)  # per Keras epoch: epoch, losses (means)

    @property
    def completed(self) -> bool:
        return self.stopped_by is None


def build_model(arch: str, width: str, input_hw=None):
    """The pose network for ``arch``/``width`` (dict outputs, see mln_tf.model)."""
    from mln_tf.model import build

    return build(arch, width, input_hw)


def add_weight_decay(model, weight_decay: float) -> int:
    """Caffe weight decay: an L2 penalty wd/2 * |w|^2 on every conv kernel; returns the count."""
    import keras

    count = 0
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and weight_decay > 0:
            kernel.regularizer = keras.regularizers.L2(weight_decay / 2.0)
            count += 1
    return count


def make_optimizer(config: TrainConfig):
    """SGD (paper) or Adam with the configured learning-rate schedule."""
    import keras

    lr: Any = config.learning_rate
    if config.lr_schedule == "step":
        lr = keras.optimizers.schedules.ExponentialDecay(
            config.learning_rate, config.lr_step, config.lr_gamma, staircase=True)
    elif config.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.steps)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=config.momentum)
    return keras.optimizers.Adam(lr)


def gpu_count() -> int:
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def make_strategy(name: str):
    """The tf.distribute strategy: 'auto' is MirroredStrategy with several GPUs, else OneDeviceStrategy."""
    import tensorflow as tf

    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            print("warning: --strategy multiworker without TF_CONFIG runs as a single worker",
                  file=sys.stderr)
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = gpu_count()
    if name == "mirrored" or (name == "auto" and gpus > 1):
        return tf.distribute.MirroredStrategy()
    if name == "auto":  # one device: input prefetched onto it, and Keras builds metrics up front
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    return tf.distribute.get_strategy()


def is_chief(strategy) -> bool:
    """True on the worker that writes checkpoints, logs and evaluations."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def save_keras_atomic(model, path: Path) -> Path:
    """``model.save`` to a temporary .keras beside ``path``, then rename."""
    from mln_tf.files import write_file_atomic

    return write_file_atomic(path, lambda tmp: model.save(tmp))


def inference_copy(model, arch: str, width: str):
    """A float32 copy of the trained network without optimizer or regularisers (for export)."""
    import keras

    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        clean = build_model(arch, width)
    finally:
        keras.config.set_dtype_policy(policy)
    clean.set_weights(model.get_weights())
    return clean


def read_checkpoint_state(out_dir: Path) -> dict | None:
    """The latest checkpoint's state (step, file, best AP), or None when there is none."""
    state_path = out_dir / "checkpoints" / "checkpoint.json"
    if not state_path.is_file():
        return None
    state = json.loads(state_path.read_text())
    ckpt = out_dir / "checkpoints" / state["file"]
    if not ckpt.is_file():
        raise ValueError(f"{state_path} names {ckpt}, which does not exist")
    return state


def _check_resumable(config: TrainConfig, out_dir: Path) -> None:
    saved_path = out_dir / "train_config.json"
    if not saved_path.is_file():
        return
    saved = json.loads(saved_path.read_text())
    now = config.to_json()
    changed = [f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in RESUME_FIELDS if saved.get(k) != now.get(k)]
    if changed:
        raise ValueError(f"cannot resume the run in {out_dir}: these settings differ from the "
                         f"checkpointed run and would change the model or data order: {'; '.join(changed)}")


# ----------------------------------------------------------------------------- callbacks

def _callbacks():
    import keras

    class StepCheckpoint(keras.callbacks.Callback):
        """Counts global steps; writes atomic checkpoints every N steps and on SIGTERM/SIGINT."""

        def __init__(self, ckpt_dir: Path, first_step: int, end_step: int, every: int, keep: int,
                     chief: bool, state_extra) -> None:
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
                import shutil

                shutil.rmtree(target, ignore_errors=True)
                self.last_saved = self.step
                return None
            write_json_atomic(self.dir / "checkpoint.json",
                              {"step": self.step, "file": name, "time": time.time(), **self.state_extra()})
            old = sorted(self.dir.glob("ckpt-*.keras"))[:-self.keep]
            for stale in old:
                stale.unlink(missing_ok=True)
            self.last_saved = self.step
            return path

    class CocoEvaluation(keras.callbacks.Callback):
        """COCO keypoint AP on a validation set every N steps; keeps the best model."""

        def __init__(self, counter: StepCheckpoint, config: TrainConfig, out_dir: Path, chief: bool,
                     best_ap: float | None, best_step: int | None, history: list[dict]) -> None:
            super().__init__()
            self.counter, self.config, self.out_dir, self.chief = counter, config, out_dir, chief
            self.best_ap, self.best_step, self.history = best_ap, best_step, history
            self.runner = None
            self.gt = None
            self.writer = None
            self.last_step: int | None = None

        def on_train_batch_end(self, batch, logs=None):
            step = self.counter.step
            if step % self.config.eval_every == 0 and self.counter.signalled is None:
                self.evaluate()

        def evaluate(self) -> dict | None:
            step = self.counter.step
            if not self.chief or self.last_step == step:
                return None
            from mln_tf.evaluate import STAT_NAMES, evaluate_coco, load_coco, predict_dataset
            from mln_tf.runners import keras_runner

            if self.runner is None:
                self.runner = keras_runner(self.model)
            if self.gt is None:  # parsed once per run, not at every evaluation
                self.gt = load_coco(self.config.val_json)
            gt = self.gt
            ids = sorted(gt.getImgIds())[:self.config.eval_images or None]
            if self.config.verbose:
                print()
            results, done, failures = predict_dataset(
                self.runner, gt, self.config.val_images, self.config.eval_input_height,
                image_ids=ids, progress=self.config.verbose > 0)
            if not done:
                raise ValueError(f"no validation image could be read: {failures[:3]}")
            stats = evaluate_coco(results, gt, done, verbose=False)
            row = {"step": step, **{k: float(stats[k]) for k in (*STAT_NAMES, "lr_confusion")},
                   "images": len(done), "detections": len(results)}
            self.history.append(row)
            improved = self.best_ap is None or row["AP"] > self.best_ap
            if improved:
                self.best_ap, self.best_step = row["AP"], step
                save_keras_atomic(inference_copy(self.model, self.config.arch, self.config.width),
                                  self.out_dir / "best.keras")
            write_json_atomic(self.out_dir / "evals.json", self.history)
            self._log(row)
            self.last_step = step
            if self.config.verbose:
                print(f"step {step}: COCO AP {row['AP']:.3f} (AP50 {row['AP50']:.3f}, AR {row['AR']:.3f}) "
                      f"on {len(done)} images; best {self.best_ap:.3f} at step {self.best_step}"
                      + (" -> best.keras" if improved else ""))
            return row

        def _log(self, row: dict) -> None:
            if not self.config.tensorboard:
                return
            import tensorflow as tf

            if self.writer is None:
                self.writer = tf.summary.create_file_writer(str(self.out_dir / "logs" / "eval"))
            with self.writer.as_default():
                for key in ("AP", "AP50", "AP75", "AR", "lr_confusion"):
                    tf.summary.scalar(f"coco_{key}", row[key], step=row["step"])
            self.writer.flush()

    class StepTensorBoard(keras.callbacks.TensorBoard):
        """Keras' TensorBoard with batch summaries numbered by the run's global step."""

        def __init__(self, counter: StepCheckpoint, **kwargs) -> None:
            super().__init__(**kwargs)
            self.counter = counter

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            self._global_train_batch = self.counter.step

    return StepCheckpoint, CocoEvaluation, StepTensorBoard


# ----------------------------------------------------------------------------- training

def _segments(first: int, end: int, per_epoch: int) -> list[tuple[int, int, int]]:
    """(initial_epoch, epochs, steps_per_epoch) fits covering steps [first, end).

    A resumed run may start inside an epoch: its remainder is one fit, then whole epochs.
    """
    segs = []
    if first % per_epoch:
        epoch = first // per_epoch
        stop = min(end, (epoch + 1) * per_epoch)
        segs.append((epoch, epoch + 1, stop - first))
        first = stop
    if first < end:
        segs.append((first // per_epoch, math.ceil(end / per_epoch), per_epoch))
    return segs


def train(config: TrainConfig, callbacks: Sequence[Any] = ()) -> TrainResult:
    """Run (or resume) training as configured; see the module docstring for artifacts.

    ``callbacks``: extra Keras callbacks, called before ours at every step.
    """
    import keras

    from mln_tf.data import CocoKeypoints, DataConfig, describe, training_dataset
    from mln_tf.losses import pose_losses
    from mln_tf.pretrained import PRETRAINED, load_pretrained_weights, load_vgg19_trunk

    strategy = make_strategy(config.strategy)
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ValueError(f"batch size {config.batch_size} is not divisible by the {replicas} replicas: "
                         f"use a multiple of {replicas} (e.g. {replicas * max(1, config.batch_size // replicas)})")
    mixed = config.mixed_precision if config.mixed_precision is not None else gpu_count() > 0
    out_dir = Path(config.out_dir)
    ckpt_dir = out_dir / "checkpoints"
    chief = is_chief(strategy)

    state = read_checkpoint_state(out_dir)
    if config.resume:
        if state is None:
            raise ValueError(f"--resume: no checkpoint in {ckpt_dir} (checkpoint.json missing)")
        _check_resumable(config, out_dir)
    elif state is not None:
        raise ValueError(f"{out_dir} already holds a run (checkpoint at step {state['step']}): "
                         "pass --resume to continue it or choose another --out")
    first_step = int(state["step"]) if config.resume else 0
    if first_step >= config.steps:
        raise ValueError(f"the checkpoint is at step {first_step}, already >= --steps {config.steps}")
    if config.init_vgg19 and not Path(config.init_vgg19).is_file():
        raise ValueError(f"--init-vgg19: file not found: {config.init_vgg19}")
    if config.init_pretrained and config.init_pretrained not in PRETRAINED \
            and not Path(config.init_pretrained).is_file():
        raise ValueError(f"--init-pretrained: {config.init_pretrained!r} is neither a shipped pretrained "
                         f"model ({', '.join(PRETRAINED)}) nor a .keras file")
    if config.val_json:
        for p in (config.val_json, config.val_images):
            if not Path(p).exists():
                raise ValueError(f"validation data not found: {p}")

    source = CocoKeypoints(config.train_json, config.train_images, skip_empty=config.skip_empty)
    data_config = DataConfig(input_hw=tuple(config.input_hw), augment=config.augment,
                             skip_empty=config.skip_empty)
    if chief:
        out_dir.mkdir(parents=True, exist_ok=True)
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        if not config.resume:
            write_json_atomic(out_dir / "train_config.json", config.to_json())

    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.config.dtype_policy()
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        with strategy.scope():
            model = build_model(config.arch, config.width)
            if config.init_vgg19 and not config.resume:
                load_vgg19_trunk(model, config.init_vgg19)
            if config.init_pretrained and not config.resume:
                load_pretrained_weights(model, config.init_pretrained)
            decayed = add_weight_decay(model, config.weight_decay)
            model.compile(optimizer=make_optimizer(config), loss=pose_losses(model.output_names))
            # Built here rather than inside the first traced step, which saves a retrace.
            model.optimizer.build(model.trainable_variables)
            if config.resume:
                model.load_weights(ckpt_dir / state["file"])
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    eval_history: list[dict] = []
    evals_path = out_dir / "evals.json"
    if config.resume and evals_path.is_file():
        eval_history = [r for r in json.loads(evals_path.read_text()) if r["step"] <= first_step]
    best_ap = (state or {}).get("best_ap") if config.resume else None
    best_step = (state or {}).get("best_step") if config.resume else None

    StepCheckpoint, CocoEvaluation, StepTensorBoard = _callbacks()
    evaluator: Any = None
    counter = StepCheckpoint(ckpt_dir, first_step, config.steps, config.checkpoint_every,
                             config.keep_checkpoints, chief,
                             lambda: {"best_ap": evaluator.best_ap if evaluator else None,
                                      "best_step": evaluator.best_step if evaluator else None})
    keras_callbacks: list = [*callbacks, counter]
    if config.val_json:
        evaluator = CocoEvaluation(counter, config, out_dir, chief, best_ap, best_step, eval_history)
        keras_callbacks.append(evaluator)
    if config.tensorboard and chief:
        keras_callbacks.append(StepTensorBoard(counter, log_dir=str(out_dir / "logs"),
                                               update_freq=min(100, config.checkpoint_every),
                                               write_graph=False, profile_batch=0))

    def dataset_from(step: int):
        common = dict(config=data_config, output_names=model.output_names,
                      batch_size=config.batch_size, seed=config.seed, start_step=step,
                      workers=config.workers, deterministic=config.deterministic)
        if config.strategy != "multiworker":
            return training_dataset(source, **common)

        def per_worker(ctx):
            return training_dataset(source, num_shards=ctx.num_input_pipelines,
                                    shard_index=ctx.input_pipeline_id,
                                    replica_batch=ctx.get_per_replica_batch_size(config.batch_size),
                                    **common)
        return strategy.distribute_datasets_from_function(per_worker)

    if config.verbose:
        print(f"training {config.arch} ({config.width} width) at {config.input_hw[0]}x{config.input_hw[1]}, "
              f"batch {config.batch_size} on {replicas} replica(s) ({type(strategy).__name__}), "
              f"{'mixed_float16' if mixed else 'float32'}; steps {first_step} -> {config.steps}; "
              f"data: {describe(source)}; weight decay on {decayed} kernels")

    handlers = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            handlers[sig] = signal.signal(sig, counter.request_stop)
        except ValueError:  # not the main thread: no signal handling
            break
    start = time.perf_counter()
    epoch_logs: list[dict] = []
    try:
        for initial, epochs, per_epoch in _segments(first_step, config.steps, config.steps_per_epoch):
            fitted = model.fit(dataset_from(counter.step), epochs=epochs, initial_epoch=initial,
                               steps_per_epoch=per_epoch, callbacks=keras_callbacks,
                               verbose=config.verbose, shuffle=False)
            epoch_logs += [{"epoch": e + 1, **{k: float(v[i]) for k, v in fitted.history.items()}}
                           for i, e in enumerate(fitted.epoch)]
            if counter.signalled is not None or counter.step >= config.steps:
                break
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    seconds = time.perf_counter() - start

    counter.save()
    artifacts = {"checkpoint": str(ckpt_dir / f"ckpt-{counter.step:08d}.keras"),
                 "out_dir": str(out_dir)}
    stopped = signal.Signals(counter.signalled).name if counter.signalled is not None else None
    if stopped is None:
        if evaluator is not None:
            evaluator.evaluate()
        if chief:
            artifacts["model"] = str(save_keras_atomic(
                inference_copy(model, config.arch, config.width), out_dir / "model.keras"))
    if evaluator is not None and evaluator.best_ap is not None and chief:
        artifacts["best"] = str(out_dir / "best.keras")
        artifacts["evals"] = str(evals_path)
    if config.tensorboard and chief:
        artifacts["tensorboard"] = str(out_dir / "logs")
    result = TrainResult(
        first_step=first_step, step=counter.step, seconds=seconds,
        losses={k: v for k, v in counter.last_logs.items() if k.endswith("loss")},
        best_ap=evaluator.best_ap if evaluator else None,
        best_step=evaluator.best_step if evaluator else None,
        last_eval=eval_history[-1] if eval_history else None, artifacts=artifacts,
        bad_records=dict(source.bad), stopped_by=stopped, epochs=epoch_logs)
    if chief:
        write_json_atomic(out_dir / "summary.json", dataclasses.asdict(result))
    return result


def summary_table(result: TrainResult, config: TrainConfig) -> str:
    """The end-of-run summary as a small two-column table."""
    steps = result.step - result.first_step
    rows = [("steps", f"{result.first_step} -> {result.step} of {config.steps}"
             + (f" (stopped by {result.stopped_by})" if result.stopped_by else "")),
            ("time", f"{result.seconds:.1f} s" + (f" ({steps * config.batch_size / result.seconds:.1f} "
                                                  f"samples/s)" if steps and result.seconds > 0 else ""))]
    for name, value in sorted(result.losses.items()):
        rows.append((name, f"{value:.4f} (mean over the last epoch)"))
    if result.best_ap is not None:
        rows.append(("best COCO AP", f"{result.best_ap:.3f} at step {result.best_step}"))
    if result.last_eval:
        rows.append(("last COCO AP", f"{result.last_eval['AP']:.3f} at step {result.last_eval['step']}"))
    rows.append(("bad records", str(len(result.bad_records))))
    for name, path in result.artifacts.items():
        rows.append((name, path))
    width = max(len(k) for k, _ in rows)
    line = "-" * (width + 2 + max(len(v) for _, v in rows))
    return "\n".join([line, *(f"{k:<{width}}  {v}" for k, v in rows), line])


# ----------------------------------------------------------------------------- CLI

def _hw(text: str) -> tuple[int, int]:
    from mln_tf.model import parse_hw

    try:
        return parse_hw(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training.train",
        description="Train MLN (or another registered network: the OpenPose baseline, tf-pose's "
                    "mobilenet_thin) on COCO person keypoints with Keras fit. "
                    "Defaults are the paper's (section 3.2).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--coco", metavar="DIR",
                   help="COCO 2017 root (annotations/person_keypoints_{train,val}2017.json, train2017/, "
                        "val2017/); sets the four paths below unless they are given")
    d.add_argument("--train-json", help="COCO-format person keypoint annotations to train on")
    d.add_argument("--train-images", help="folder holding the training images")
    d.add_argument("--val-json", help="annotations for the periodic COCO evaluation (optional)")
    d.add_argument("--val-images", help="folder holding the validation images")
    d.add_argument("--input", type=_hw, default=(368, 368), metavar="HxW",
                   help="training crop size (multiples of 8)")
    d.add_argument("--workers", type=int, default=None,
                   help="parallel data-loading calls (default: tf.data autotune)")
    d.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True,
                   help="assemble batches in order (reproducible); --no-deterministic can be faster")
    d.add_argument("--skip-empty", action="store_true",
                   help="drop images without any person with labelled keypoints")
    d.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="rotation/scale/flip augmentation (paper 3.2)")
    a = AugmentConfig()
    d.add_argument("--max-rotation", type=float, default=a.max_rotation, help="degrees, uniform in +-this")
    d.add_argument("--scale-min", type=float, default=a.scale_range[0], help="smallest scale multiplier")
    d.add_argument("--scale-max", type=float, default=a.scale_range[1], help="largest scale multiplier")
    d.add_argument("--flip-probability", type=float, default=a.flip_probability,
                   help="probability of a horizontal flip")

    m = p.add_argument_group("model")
    m.add_argument("--arch", choices=ARCHS, default="mln", help="network to train")
    m.add_argument("--width", choices=WIDTHS, default="paper",
                   help="paper widths, 'small' (reduced MLN for CPU demos) or 'tiny' (tests)")
    m.add_argument("--init-pretrained", metavar="NAME|PATH",
                   help="start from a trained network of the same --arch/--width: a shipped one "
                        "(tfpose_mobilenet_thin, with --arch mobilenet_thin) or a .keras file (fine-tuning)")
    m.add_argument("--init-vgg19", metavar="PATH",
                   help="local ImageNet VGG-19 weights (.h5/.keras/.npz) for the trunk (mln_tf.pretrained)")

    o = p.add_argument_group("optimisation")
    o.add_argument("--batch-size", type=int, default=PAPER_BATCH, help="global batch (all replicas)")
    o.add_argument("--steps", type=int, default=CMU_MAX_ITER, help="total training steps")
    o.add_argument("--steps-per-epoch", type=int, default=1000,
                   help="steps per Keras epoch (progress bar and epoch logs)")
    o.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="paper: SGD with momentum")
    o.add_argument("--lr", type=float, default=PAPER_LR, help="initial learning rate")
    o.add_argument("--momentum", type=float, default=PAPER_MOMENTUM, help="SGD momentum")
    o.add_argument("--weight-decay", type=float, default=PAPER_WEIGHT_DECAY,
                   help="Caffe-style weight decay on conv kernels (0 disables)")
    o.add_argument("--lr-schedule", choices=("constant", "step", "cosine"), default="step",
                   help="step: x --lr-gamma every --lr-step steps (CMU's solver); cosine: to 0 at --steps")
    o.add_argument("--lr-step", type=int, default=CMU_LR_STEP, help="steps between learning-rate drops")
    o.add_argument("--lr-gamma", type=float, default=CMU_LR_GAMMA, help="learning-rate drop factor")
    o.add_argument("--seed", type=int, default=0, help="seed of the data order, augmentation and init")
    o.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed_float16 compute (default: on when a GPU is present)")
    o.add_argument("--strategy", choices=("auto", "default", "mirrored", "multiworker"), default="auto",
                   help="tf.distribute: auto = MirroredStrategy on several GPUs; multiworker = "
                        "MultiWorkerMirroredStrategy configured by TF_CONFIG")

    r = p.add_argument_group("checkpoints, evaluation, output")
    r.add_argument("--out", default="runs/train", help="run folder (checkpoints, logs, models)")
    r.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint, with the same data order")
    r.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints")
    r.add_argument("--keep-checkpoints", type=int, default=3, help="checkpoints kept on disk")
    r.add_argument("--eval-every", type=int, default=10_000, help="steps between COCO evaluations")
    r.add_argument("--eval-input-height", type=int, default=368, help="inference height for evaluation")
    r.add_argument("--eval-images", type=int, default=None,
                   help="evaluate on the first N validation images only (default: all)")
    r.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard logs")
    r.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Flags -> TrainConfig (fills the COCO 2017 layout from --coco)."""
    paths = {"train_json": args.train_json, "train_images": args.train_images,
             "val_json": args.val_json, "val_images": args.val_images}
    if args.coco:
        root = Path(args.coco)
        layout = {"train_json": root / "annotations" / "person_keypoints_train2017.json",
                  "train_images": root / "train2017",
                  "val_json": root / "annotations" / "person_keypoints_val2017.json",
                  "val_images": root / "val2017"}
        paths = {k: v if v is not None else str(layout[k]) for k, v in paths.items()}
    if not paths["train_json"] or not paths["train_images"]:
        raise ValueError("give --coco DIR or both --train-json and --train-images")
    augment = AugmentConfig(max_rotation=args.max_rotation, scale_range=(args.scale_min, args.scale_max),
                            flip_probability=args.flip_probability) if args.augment else None
    return TrainConfig(
        **paths, out_dir=args.out, arch=args.arch, width=args.width, input_hw=args.input,
        batch_size=args.batch_size, steps=args.steps, steps_per_epoch=args.steps_per_epoch,
        optimizer=args.optimizer, learning_rate=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, lr_schedule=args.lr_schedule, lr_step=args.lr_step,
        lr_gamma=args.lr_gamma, seed=args.seed, workers=args.workers,
        deterministic=args.deterministic, mixed_precision=args.mixed_precision,
        strategy=args.strategy, init_vgg19=args.init_vgg19, init_pretrained=args.init_pretrained,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints, eval_every=args.eval_every,
        eval_input_height=args.eval_input_height, eval_images=args.eval_images, resume=args.resume,
        skip_empty=args.skip_empty, augment=augment, tensorboard=not args.no_tensorboard,
        verbose=args.verbose)


def _error_text(exc: BaseException) -> str:
    """The useful line of an error, also when it surfaced through tf.data (numpy_function)."""
    text = str(exc)
    for marker in ("ValueError: ", "FileNotFoundError: ", "OSError: "):
        if marker in text:
            return text.split(marker, 1)[1].splitlines()[0]
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        result = train(config)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {_error_text(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - TF wraps data errors; report them plainly
        import tensorflow as tf

        if isinstance(exc, tf.errors.OpError):
            print(f"error: {_error_text(exc)}", file=sys.stderr)
            return 1
        raise
    print(summary_table(result, config))
    if result.stopped_by:
        print(f"stopped by {result.stopped_by} at step {result.step}; continue with the same command "
              "plus --resume")
        return EXIT_SIGNALLED.get(getattr(signal, result.stopped_by), 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
