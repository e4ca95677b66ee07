"""``train(config)``: build, resume, fit in step-numbered segments, evaluate, save (see training.train)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from mln_tf.files import write_json_atomic
from mln_tf.train.callbacks import _callbacks
from mln_tf.train.config import TrainConfig
from mln_tf.train.report import TrainResult
from mln_tf.train.setup import (
    _check_resumable,
    add_weight_decay,
    build_model,
    gpu_count,
    inference_copy,
    is_chief,
    make_optimizer,
    make_strategy,
    read_checkpoint_state,
    save_keras_atomic,
)

log = logging.getLogger(__name__)


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


def _fit_on_several_workers(model, element_spec) -> None:
    """Two work-arounds that let Keras 3's ``fit`` run under MultiWorkerMirroredStrategy.

    Keras 3 (3.15; keras-team/keras#20585, the TensorFlow multi-worker tutorial fails the
    same way) breaks twice with several workers: it builds the model by reducing one
    distributed batch across workers ("Attempt to convert a value (PerReplica...)"), and it
    averages each step's scalar logs across workers along an axis 0 they do not have
    ("Invalid reduction dimension 0"). The build needs only shapes and dtypes, which the
    dataset's element spec has, so the model is built from them and fit's own build is
    skipped; the logs leave the step as 1-element vectors, which reduce to the workers' mean.
    Weights are unaffected: gradients are all-reduced by the strategy as usual.
    """
    import tensorflow as tf

    model._symbolic_build(data_batch=element_spec)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    step = model.train_step
    model.train_step = lambda data: {k: tf.reshape(v, [1]) for k, v in step(data).items()}


@dataclass(frozen=True)
class _Run:
    """What the phases of one run share: its settings, strategy, folder and the step it starts at."""

    config: TrainConfig
    strategy: Any
    mixed: bool  # mixed_float16 rather than float32
    chief: bool  # the worker that writes checkpoints, logs, evaluations and the summary
    out_dir: Path
    first_step: int  # 0, or the resumed checkpoint's step
    checkpoint: dict | None  # checkpoint.json of the run resumed; None for a new run

    @property
    def ckpt_dir(self) -> Path:
        return self.out_dir / "checkpoints"

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync


@dataclass(frozen=True)
class _RunCallbacks:
    """The run's callbacks: the step counter (which checkpoints), the evaluator and the list given to fit."""

    counter: Any  # StepCheckpoint
    evaluator: Any  # CocoEvaluation, or None without validation data
    eval_history: list[dict]  # evals.json's rows; the evaluator appends to it
    keras: list  # the caller's callbacks first, then ours

    @property
    def stopped_by(self) -> str | None:
        """ "SIGTERM" / "SIGINT" when a signal stopped the run, else None."""
        signalled = self.counter.signalled
        return signal.Signals(signalled).name if signalled is not None else None


@dataclass(frozen=True)
class _Fitted:
    """What the fits produced: per-epoch logs and the seconds they took."""

    epochs: list[dict]
    seconds: float


def train(config: TrainConfig, callbacks: Sequence[Any] = ()) -> TrainResult:
    """Run (or resume) training as configured; see the module docstring for artifacts.

    ``callbacks``: extra Keras callbacks, called before ours at every step.
    """
    run = _open_run(config)
    source, data_config = _training_data(config)
    _prepare_run_folder(run)
    model, decayed = _build_model(run)
    run_callbacks = _make_callbacks(run, callbacks)
    dataset_from = _dataset_maker(run, source, data_config, model.output_names)
    if config.strategy == "multiworker":
        _fit_on_several_workers(model, dataset_from(run.first_step, distributed=False).element_spec)
    if config.verbose:
        log.info(_start_line(run, source, decayed))
    fitted = _fit(run, model, run_callbacks, dataset_from)
    artifacts = _save_final_model(run, model, run_callbacks)
    return _write_summary(run, run_callbacks, source, fitted, artifacts)


def _open_run(config: TrainConfig) -> _Run:
    """Make the strategy, then resolve the run folder and the step to start from, checking the inputs."""
    strategy = _make_strategy(config)
    mixed = config.mixed_precision if config.mixed_precision is not None else gpu_count() > 0
    out_dir = Path(config.out_dir)
    chief = is_chief(strategy)
    state = _resume_state(config, out_dir)
    first_step = int(state["step"]) if config.resume else 0
    if first_step >= config.steps:
        raise ValueError(f"the checkpoint is at step {first_step}, already >= --steps {config.steps}")
    _check_inputs(config)
    return _Run(config, strategy, mixed, chief, out_dir, first_step, state)


def _make_strategy(config: TrainConfig):
    """The tf.distribute strategy, with the global batch checked to divide over its replicas."""
    strategy = make_strategy(config.strategy, config.cluster_timeout)
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ValueError(
            f"batch size {config.batch_size} is not divisible by the {replicas} replicas: "
            f"use a multiple of {replicas} (e.g. {replicas * max(1, config.batch_size // replicas)})"
        )
    return strategy


def _resume_state(config: TrainConfig, out_dir: Path) -> dict | None:
    """The checkpoint state to resume from; an error for --resume without one, or a new run in a used folder."""
    state = read_checkpoint_state(out_dir)
    if config.resume:
        if state is None:
            raise ValueError(f"--resume: no checkpoint in {out_dir / 'checkpoints'} (checkpoint.json missing)")
        _check_resumable(config, out_dir)
    elif state is not None:
        raise ValueError(
            f"{out_dir} already holds a run (checkpoint at step {state['step']}): "
            "pass --resume to continue it or choose another --out"
        )
    return state


def _check_inputs(config: TrainConfig) -> None:
    """Clear errors for missing initial weights and validation data, before anything is built."""
    from mln_tf.pretrained import PRETRAINED

    if config.init_vgg19 and not Path(config.init_vgg19).is_file():
        raise ValueError(f"--init-vgg19: file not found: {config.init_vgg19}")
    if (
        config.init_pretrained
        and config.init_pretrained not in PRETRAINED
        and not Path(config.init_pretrained).is_file()
    ):
        raise ValueError(
            f"--init-pretrained: {config.init_pretrained!r} is neither a shipped pretrained "
            f"model ({', '.join(PRETRAINED)}) nor a .keras file"
        )
    if config.val_json:
        for p in (config.val_json, config.val_images):
            if not Path(p).exists():
                raise ValueError(f"validation data not found: {p}")


def _training_data(config: TrainConfig):
    """The COCO training records and what a sample looks like (CocoKeypoints, DataConfig)."""
    from mln_tf.data import CocoKeypoints, DataConfig

    source = CocoKeypoints(config.train_json, config.train_images, skip_empty=config.skip_empty)
    data_config = DataConfig(input_hw=tuple(config.input_hw), augment=config.augment, skip_empty=config.skip_empty)
    return source, data_config


def _prepare_run_folder(run: _Run) -> None:
    """On the chief: create the run and checkpoint folders; a new run also writes train_config.json."""
    if run.chief:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        run.ckpt_dir.mkdir(parents=True, exist_ok=True)
        if not run.config.resume:
            write_json_atomic(run.out_dir / "train_config.json", run.config.to_json())


def _build_model(run: _Run):
    """The compiled model under the strategy and precision policy: initial or resumed weights; (model, decayed)."""
    import keras

    from mln_tf.losses import pose_losses
    from mln_tf.pretrained import load_pretrained_weights, load_vgg19_trunk

    config = run.config
    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.config.dtype_policy()
    keras.mixed_precision.set_global_policy("mixed_float16" if run.mixed else "float32")
    try:
        with run.strategy.scope():
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
                model.load_weights(run.ckpt_dir / run.checkpoint["file"])
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return model, decayed


def _resumed_evaluations(run: _Run) -> tuple[list[dict], float | None, int | None]:
    """The evaluation history up to the resumed step, and the best AP and its step (empty for a new run)."""
    evals_path = run.out_dir / "evals.json"
    history: list[dict] = []
    if run.config.resume and evals_path.is_file():
        history = [r for r in json.loads(evals_path.read_text()) if r["step"] <= run.first_step]
    state = run.checkpoint or {}
    return history, state.get("best_ap"), state.get("best_step")


def _make_callbacks(run: _Run, extra: Sequence[Any]) -> _RunCallbacks:
    """The step counter and checkpointer, the COCO evaluator (with validation data) and TensorBoard (chief)."""
    StepCheckpoint, CocoEvaluation, StepTensorBoard = _callbacks()
    config = run.config
    history, best_ap, best_step = _resumed_evaluations(run)
    evaluator: Any = None
    counter = StepCheckpoint(
        run.ckpt_dir,
        run.first_step,
        config.steps,
        config.checkpoint_every,
        config.keep_checkpoints,
        run.chief,
        lambda: {
            "best_ap": evaluator.best_ap if evaluator else None,
            "best_step": evaluator.best_step if evaluator else None,
        },
    )
    keras_callbacks: list = [*extra, counter]
    if config.val_json:
        evaluator = CocoEvaluation(counter, config, run.out_dir, run.chief, best_ap, best_step, history)
        keras_callbacks.append(evaluator)
    if config.tensorboard and run.chief:
        keras_callbacks.append(
            StepTensorBoard(
                counter,
                log_dir=str(run.out_dir / "logs"),
                update_freq=min(100, config.checkpoint_every),
                write_graph=False,
                profile_batch=0,
            )
        )
    return _RunCallbacks(counter, evaluator, history, keras_callbacks)


def _dataset_maker(run: _Run, source, data_config, output_names) -> Callable[..., Any]:
    """``dataset_from(step, distributed=True)``: the training batches from a global step on."""
    from mln_tf.data import training_dataset

    config = run.config

    def dataset_from(step: int, distributed: bool = True):
        common = dict(
            config=data_config,
            output_names=output_names,
            batch_size=config.batch_size,
            seed=config.seed,
            start_step=step,
            workers=config.workers,
            deterministic=config.deterministic,
        )
        if config.strategy != "multiworker":
            return training_dataset(source, **common)
        if not distributed:  # one replica's batches, for their shapes
            return training_dataset(source, replica_batch=config.batch_size // run.replicas, **common)

        def per_worker(ctx):
            return training_dataset(
                source,
                num_shards=ctx.num_input_pipelines,
                shard_index=ctx.input_pipeline_id,
                replica_batch=ctx.get_per_replica_batch_size(config.batch_size),
                **common,
            )

        return run.strategy.distribute_datasets_from_function(per_worker)

    return dataset_from


def _start_line(run: _Run, source, decayed: int) -> str:
    """The log line that opens a run: network, input, batch, strategy, precision, steps, data, weight decay."""
    from mln_tf.data import describe

    config = run.config
    return (
        f"training {config.arch} ({config.width} width) at {config.input_hw[0]}x{config.input_hw[1]}, "
        f"batch {config.batch_size} on {run.replicas} replica(s) ({type(run.strategy).__name__}), "
        f"{'mixed_float16' if run.mixed else 'float32'}; steps {run.first_step} -> {config.steps}; "
        f"data: {describe(source)}; weight decay on {decayed} kernels"
    )


@contextlib.contextmanager
def _checkpoint_on_signals(counter):
    """While inside: SIGTERM and SIGINT ask ``counter`` to checkpoint and stop (main thread only)."""
    handlers = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            handlers[sig] = signal.signal(sig, counter.request_stop)
        except ValueError:  # not the main thread: no signal handling
            break
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _fit(run: _Run, model, run_callbacks: _RunCallbacks, dataset_from) -> _Fitted:
    """Fit from the first step to --steps in step-numbered segments, until done or a signal stops it."""
    config, counter = run.config, run_callbacks.counter
    epoch_logs: list[dict] = []
    with _checkpoint_on_signals(counter):
        start = time.perf_counter()
        for initial, epochs, per_epoch in _segments(run.first_step, config.steps, config.steps_per_epoch):
            history = model.fit(
                dataset_from(counter.step),
                epochs=epochs,
                initial_epoch=initial,
                steps_per_epoch=per_epoch,
                callbacks=run_callbacks.keras,
                verbose=config.verbose,
                shuffle=False,
            )
            epoch_logs += [
                {"epoch": e + 1, **{k: float(v[i]) for k, v in history.history.items()}}
                for i, e in enumerate(history.epoch)
            ]
            if counter.signalled is not None or counter.step >= config.steps:
                break
    return _Fitted(epoch_logs, time.perf_counter() - start)


def _save_final_model(run: _Run, model, run_callbacks: _RunCallbacks) -> dict[str, str]:
    """Checkpoint the last step; a run not stopped by a signal is evaluated and saves model.keras. The artifacts."""
    run_callbacks.counter.save()
    step, evaluator = run_callbacks.counter.step, run_callbacks.evaluator
    artifacts = {"checkpoint": str(run.ckpt_dir / f"ckpt-{step:08d}.keras"), "out_dir": str(run.out_dir)}
    if run_callbacks.stopped_by is None:
        if evaluator is not None:
            evaluator.evaluate()
        if run.chief:
            artifacts["model"] = str(
                save_keras_atomic(inference_copy(model, run.config.arch, run.config.width), run.out_dir / "model.keras")
            )
    if evaluator is not None and evaluator.best_ap is not None and run.chief:
        artifacts["best"] = str(run.out_dir / "best.keras")
        artifacts["evals"] = str(run.out_dir / "evals.json")
    if run.config.tensorboard and run.chief:
        artifacts["tensorboard"] = str(run.out_dir / "logs")
    return artifacts


def _write_summary(run: _Run, run_callbacks: _RunCallbacks, source, fitted: _Fitted, artifacts) -> TrainResult:
    """The run's TrainResult, also written to summary.json by the chief."""
    counter, evaluator, history = run_callbacks.counter, run_callbacks.evaluator, run_callbacks.eval_history
    result = TrainResult(
        first_step=run.first_step,
        step=counter.step,
        seconds=fitted.seconds,
        losses={k: v for k, v in counter.last_logs.items() if k.endswith("loss")},
        best_ap=evaluator.best_ap if evaluator else None,
        best_step=evaluator.best_step if evaluator else None,
        last_eval=history[-1] if history else None,
        artifacts=artifacts,
        bad_records=dict(source.bad),
        stopped_by=run_callbacks.stopped_by,
        epochs=fitted.epochs,
    )
    if run.chief:
        write_json_atomic(run.out_dir / "summary.json", dataclasses.asdict(result))
    return result
