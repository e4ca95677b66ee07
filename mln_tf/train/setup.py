"""The pieces a run is made of: model, weight decay, optimizer, tf.distribute strategy, checkpoint state."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from mln_tf.train.config import RESUME_FIELDS, TrainConfig

log = logging.getLogger(__name__)


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
            config.learning_rate, config.lr_step, config.lr_gamma, staircase=True
        )
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
            log.warning("--strategy multiworker without TF_CONFIG runs as a single worker")
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
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()
    )


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
        raise ValueError(
            f"cannot resume the run in {out_dir}: these settings differ from the "
            f"checkpointed run and would change the model or data order: {'; '.join(changed)}"
        )
