"""``train(config)``: build, resume, fit in step-numbered segments, evaluate, save (see training.train)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import signal
import time
from pathlib import Path
from typing import Any, Sequence

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


def train(config: TrainConfig, callbacks: Sequence[Any] = ()) -> TrainResult:
    """Run (or resume) training as configured; see the module docstring for artifacts.

    ``callbacks``: extra Keras callbacks, called before ours at every step.
    """
    import keras

    from mln_tf.data import CocoKeypoints, DataConfig, describe, training_dataset
    from mln_tf.losses import pose_losses
    from mln_tf.pretrained import PRETRAINED, load_pretrained_weights, load_vgg19_trunk

    strategy = make_strategy(config.strategy, config.cluster_timeout)
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ValueError(
            f"batch size {config.batch_size} is not divisible by the {replicas} replicas: "
            f"use a multiple of {replicas} (e.g. {replicas * max(1, config.batch_size // replicas)})"
        )
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
        raise ValueError(
            f"{out_dir} already holds a run (checkpoint at step {state['step']}): "
            "pass --resume to continue it or choose another --out"
        )
    first_step = int(state["step"]) if config.resume else 0
    if first_step >= config.steps:
        raise ValueError(f"the checkpoint is at step {first_step}, already >= --steps {config.steps}")
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

    source = CocoKeypoints(config.train_json, config.train_images, skip_empty=config.skip_empty)
    data_config = DataConfig(input_hw=tuple(config.input_hw), augment=config.augment, skip_empty=config.skip_empty)
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
    counter = StepCheckpoint(
        ckpt_dir,
        first_step,
        config.steps,
        config.checkpoint_every,
        config.keep_checkpoints,
        chief,
        lambda: {
            "best_ap": evaluator.best_ap if evaluator else None,
            "best_step": evaluator.best_step if evaluator else None,
        },
    )
    keras_callbacks: list = [*callbacks, counter]
    if config.val_json:
        evaluator = CocoEvaluation(counter, config, out_dir, chief, best_ap, best_step, eval_history)
        keras_callbacks.append(evaluator)
    if config.tensorboard and chief:
        keras_callbacks.append(
            StepTensorBoard(
                counter,
                log_dir=str(out_dir / "logs"),
                update_freq=min(100, config.checkpoint_every),
                write_graph=False,
                profile_batch=0,
            )
        )

    def dataset_from(step: int, distributed: bool = True):
        common = dict(
            config=data_config,
            output_names=model.output_names,
            batch_size=config.batch_size,
            seed=config.seed,
            start_step=step,
            workers=config.workers,
            deterministic=config.deterministic,
        )
        if config.strategy != "multiworker":
            return training_dataset(source, **common)
        if not distributed:  # one replica's batches, for their shapes
            return training_dataset(source, replica_batch=config.batch_size // replicas, **common)

        def per_worker(ctx):
            return training_dataset(
                source,
                num_shards=ctx.num_input_pipelines,
                shard_index=ctx.input_pipeline_id,
                replica_batch=ctx.get_per_replica_batch_size(config.batch_size),
                **common,
            )

        return strategy.distribute_datasets_from_function(per_worker)

    if config.strategy == "multiworker":
        _fit_on_several_workers(model, dataset_from(first_step, distributed=False).element_spec)

    if config.verbose:
        log.info(
            f"training {config.arch} ({config.width} width) at {config.input_hw[0]}x{config.input_hw[1]}, "
            f"batch {config.batch_size} on {replicas} replica(s) ({type(strategy).__name__}), "
            f"{'mixed_float16' if mixed else 'float32'}; steps {first_step} -> {config.steps}; "
            f"data: {describe(source)}; weight decay on {decayed} kernels"
        )

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
            fitted = model.fit(
                dataset_from(counter.step),
                epochs=epochs,
                initial_epoch=initial,
                steps_per_epoch=per_epoch,
                callbacks=keras_callbacks,
                verbose=config.verbose,
                shuffle=False,
            )
            epoch_logs += [
                {"epoch": e + 1, **{k: float(v[i]) for k, v in fitted.history.items()}}
                for i, e in enumerate(fitted.epoch)
            ]
            if counter.signalled is not None or counter.step >= config.steps:
                break
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    seconds = time.perf_counter() - start

    counter.save()
    artifacts = {"checkpoint": str(ckpt_dir / f"ckpt-{counter.step:08d}.keras"), "out_dir": str(out_dir)}
    stopped = signal.Signals(counter.signalled).name if counter.signalled is not None else None
    if stopped is None:
        if evaluator is not None:
            evaluator.evaluate()
        if chief:
            artifacts["model"] = str(
                save_keras_atomic(inference_copy(model, config.arch, config.width), out_dir / "model.keras")
            )
    if evaluator is not None and evaluator.best_ap is not None and chief:
        artifacts["best"] = str(out_dir / "best.keras")
        artifacts["evals"] = str(evals_path)
    if config.tensorboard and chief:
        artifacts["tensorboard"] = str(out_dir / "logs")
    result = TrainResult(
        first_step=first_step,
        step=counter.step,
        seconds=seconds,
        losses={k: v for k, v in counter.last_logs.items() if k.endswith("loss")},
        best_ap=evaluator.best_ap if evaluator else None,
        best_step=evaluator.best_step if evaluator else None,
        last_eval=eval_history[-1] if eval_history else None,
        artifacts=artifacts,
        bad_records=dict(source.bad),
        stopped_by=stopped,
        epochs=epoch_logs,
    )
    if chief:
        write_json_atomic(out_dir / "summary.json", dataclasses.asdict(result))
    return result
