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


def make_strategy(name: str, cluster_timeout: float = 600.0):
    """The tf.distribute strategy: 'auto' is MirroredStrategy with several GPUs, else OneDeviceStrategy.

    'multiworker' is MultiWorkerMirroredStrategy from ``TF_CONFIG``: a ValueError names a
    malformed ``TF_CONFIG``, this worker's port already taken, or the workers that did not
    start within ``cluster_timeout`` seconds (TensorFlow alone would wait for ever).
    """
    import tensorflow as tf

    if name == "multiworker":
        cluster = tf_config_cluster()
        if cluster is None:
            log.warning("--strategy multiworker without TF_CONFIG runs as a single worker")
            return tf.distribute.MultiWorkerMirroredStrategy()
        addresses, me = cluster
        _check_port_free(addresses[me], me)
        from tensorflow.python.distribute import collective_all_reduce_strategy as collective

        # TensorFlow's first barrier after the set-up waits for every worker; 0 (its default) is for ever.
        collective.CollectiveAllReduceExtended._check_health_initial_timeout = max(1, int(round(cluster_timeout)))
        watchdog = _start_watchdog(addresses, me, cluster_timeout)
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as exc:
            if "Timeout waiting for the cluster" not in str(exc):
                raise
            raise ValueError(_missing_workers(addresses, me, cluster_timeout)) from None
        finally:
            watchdog.stdin.close()  # set up (or failed): the watchdog leaves
            watchdog.wait()
    gpus = gpu_count()
    if name == "mirrored" or (name == "auto" and gpus > 1):
        return tf.distribute.MirroredStrategy()
    if name == "auto":  # one device: input prefetched onto it, and Keras builds metrics up front
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    return tf.distribute.get_strategy()


def tf_config_cluster() -> tuple[dict[str, str], str] | None:
    """({"worker 0": "host:port", ...}, this task's name) from ``TF_CONFIG``; None when it is unset."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        tf_config = json.loads(text)
        cluster, task = tf_config["cluster"], tf_config["task"]
        if not all(isinstance(addrs, list) for addrs in cluster.values()):
            raise TypeError("each cluster entry must be a list of addresses")
        addresses = {f"{kind} {i}": addr for kind, addrs in cluster.items() for i, addr in enumerate(addrs)}
        index = task["index"]
        if isinstance(index, bool) or int(index) != float(index):  # 1.5 or true is no task index
            raise TypeError(f"task index {index!r} is not an integer")
        me = f"{task['type']} {int(index)}"
    # OverflowError: an index of Infinity; RecursionError: JSON nested too deep (found by fuzzing)
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        raise ValueError(
            'TF_CONFIG must be JSON like {"cluster": {"worker": ["host0:port", "host1:port"]}, '
            f'"task": {{"type": "worker", "index": 0}}}}; got {text[:120]!r} ({exc})'
        ) from None
    if me not in addresses:
        raise ValueError(f"TF_CONFIG: this task ({me}) is not in its cluster ({', '.join(addresses)})")
    for address in addresses.values():
        _port(address)
    return addresses, me


def _port(address: str) -> int:
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError(f"TF_CONFIG: {address!r} is not host:port (port 1..65535)")
    return int(port)


def _check_port_free(address: str, me: str) -> None:
    import socket

    port = _port(address)
    with socket.socket() as s:
        try:
            s.bind(("", port))  # TensorFlow's server listens on every interface
        except OSError as exc:
            raise ValueError(
                f"TF_CONFIG: this worker ({me}, {address}) cannot listen on port {port}: {exc.strerror}; "
                "another process holds it (a previous run still alive?): free it or choose another port"
            ) from None


def _missing_workers(addresses: dict[str, str], me: str, timeout: float) -> str:
    missing = [f"{task} at {addr}" for task, addr in addresses.items() if task != me and not _listening(addr)]
    return (
        f"the cluster did not come together within {timeout:.0f} s: {', '.join(missing) or 'a worker'} "
        "never answered; start every worker of TF_CONFIG (or check its addresses), or give more time "
        "with --cluster-timeout"
    )


# Run in its own process: it must act while this one is stuck in C++ holding the GIL.
_WATCHDOG = """
import json, os, select, signal, sys, time
from mln_tf.train.setup import _missing_workers
parent, timeout = int(sys.argv[1]), float(sys.argv[2])
addresses, me = json.loads(sys.argv[3]), sys.argv[4]
if select.select([sys.stdin], [], [], timeout)[0]:
    sys.exit(0)
sys.stderr.write("error: " + _missing_workers(addresses, me, timeout) + "\\n")
sys.stderr.flush()
os.kill(parent, signal.SIGTERM)
time.sleep(3)
try:
    os.kill(parent, signal.SIGKILL)
except ProcessLookupError:
    pass
"""


def _start_watchdog(addresses: dict[str, str], me: str, timeout: float):
    """A process that ends this one when the strategy is not set up within ``timeout`` seconds.

    TensorFlow connects to every worker inside ``MultiWorkerMirroredStrategy()`` (the eager
    context's set-up, in C++, holding the GIL) and waits for ever for one that never starts;
    no Python thread can interrupt it. The watchdog says who never answered and terminates
    this process (SIGTERM, then SIGKILL 3 s later: Python cannot run its handlers meanwhile, so
    the exit status is 143 or 137); closing its stdin tells it the set-up is done.
    """
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(timeout), json.dumps(addresses), me],
        stdin=subprocess.PIPE,
    )


def _listening(address: str) -> bool:
    import socket

    host = address.rpartition(":")[0]
    try:
        socket.create_connection((host, _port(address)), timeout=2).close()
        return True
    except OSError:
        return False


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
