"""Two real training processes on 127.0.0.1 train one model with MultiWorkerMirroredStrategy.

Each worker is ``mln-pose train --strategy multiworker`` with its own ``TF_CONFIG`` (run
through a small runner that also records the weights the worker holds at the end). Checked:
both finish; the chief's model equals the other worker's; only the chief writes; ``--resume``
continues from the chief's checkpoint on both; a killed worker makes the other fail with a
clear message, not hang.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from mln_tf.bundled import TRAIN_DIR

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 420
# The worker: mln-pose train's own parser, config and error handling, plus a callback that saves
# the weights this process holds when training ends (what the other worker cannot see).
RUNNER = textwrap.dedent(
    """
    import sys, numpy as np, keras
    from mln_tf.cli import train as cli, tool

    dump = sys.argv[1]

    class Dump(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            np.savez(dump, *[w.numpy() for w in self.model.weights])

    from mln_tf.train import loop
    original = loop.train
    loop.train = lambda config, callbacks=(): original(config, [*callbacks, Dump()])
    sys.exit(cli.main(sys.argv[2:]))
    """
)


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _flags(out: Path, steps: int, *extra: str, strategy: str = "multiworker") -> list[str]:
    return [
        "--train-json", str(TRAIN_DIR / "person_keypoints.json"), "--train-images", str(TRAIN_DIR),
        "--arch", "mln", "--width", "tiny", "--input", "64x64", "--batch-size", "4", "--steps", str(steps),
        "--steps-per-epoch", "2", "--checkpoint-every", "2", "--optimizer", "sgd", "--lr", "1e-3",
        "--no-mixed-precision", "--strategy", strategy, "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip


def _start(tmp: Path, ports: list[int], index: int, flags: list[str], tag: str) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    if ports:
        env["TF_CONFIG"] = json.dumps(
            {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        )
    log = open(tmp / f"{tag}-worker{index}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(tmp / f"{tag}-weights{index}.npz"), *flags],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _run_pair(tmp: Path, flags_of, tag: str) -> list[str]:
    ports = _free_ports(2)
    procs = [_start(tmp, ports, i, flags_of(i), tag) for i in range(2)]
    try:
        codes = [p.wait(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:
            p.kill()
    logs = [(tmp / f"{tag}-worker{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], "\n----\n".join(log[-3000:] for log in logs)
    return logs


def _weights(path: Path) -> list[np.ndarray]:
    with np.load(path) as d:
        return [d[f"arr_{i}"] for i in range(len(d.files))]


def _max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert len(a) == len(b)
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


@pytest.mark.slow
def test_two_workers_train_one_model_only_the_chief_writes_and_resume_continues(tmp_path):
    chief_out, worker_out = tmp_path / "chief", tmp_path / "worker"
    # Run 1: each worker its own --out, as on two hosts without shared storage.
    _run_pair(tmp_path, lambda i: _flags(chief_out if i == 0 else worker_out, 4), "run1")
    w0, w1 = _weights(tmp_path / "run1-weights0.npz"), _weights(tmp_path / "run1-weights1.npz")
    diff = _max_diff(w0, w1)
    print(f"run 1: steps 0 -> 4, max |chief - worker| weight difference {diff:.3g}")
    assert diff <= 1e-6
    assert not worker_out.exists(), f"the non-chief worker wrote {sorted(worker_out.rglob('*'))}"
    summary = json.loads((chief_out / "summary.json").read_text())
    assert (summary["first_step"], summary["step"]) == (0, 4)
    state = json.loads((chief_out / "checkpoints" / "checkpoint.json").read_text())
    assert state["step"] == 4 and (chief_out / "checkpoints" / state["file"]).is_file()
    assert (chief_out / "model.keras").is_file() and any((chief_out / "logs").rglob("*tfevents*"))
    # The model the chief wrote is the one both held (the .keras is a float32 inference copy).
    from mln_tf.model import load_keras_file

    saved = load_keras_file(chief_out / "model.keras")
    trainable = {id(v) for v in saved.trainable_weights}
    assert _max_diff([w.numpy() for w in saved.weights if id(w) in trainable], w0[: len(trainable)]) <= 1e-6

    # The same 4 steps in one process with the same global batch give the same model.
    single = _start(tmp_path, None, 0, _flags(tmp_path / "single", 4, strategy="default"), "one")
    assert single.wait(timeout=TIMEOUT) == 0, (tmp_path / "one-worker0.log").read_text()[-3000:]
    diff_single = _max_diff(_weights(tmp_path / "one-weights0.npz"), w0)
    print(f"one worker, same global batch: max weight difference {diff_single:.3g}")
    assert diff_single <= 1e-5

    # Run 2: --resume; now both see the chief's folder (shared storage, the documented recipe).
    _run_pair(tmp_path, lambda i: _flags(chief_out, 6, "--resume"), "run2")
    w0, w1 = _weights(tmp_path / "run2-weights0.npz"), _weights(tmp_path / "run2-weights1.npz")
    diff = _max_diff(w0, w1)
    summary = json.loads((chief_out / "summary.json").read_text())
    print(f"run 2 (--resume): steps {summary['first_step']} -> {summary['step']}, max difference {diff:.3g}")
    assert (summary["first_step"], summary["step"]) == (4, 6) and diff <= 1e-6
    assert json.loads((chief_out / "checkpoints" / "checkpoint.json").read_text())["step"] == 6


@pytest.mark.slow
def test_a_killed_worker_makes_the_other_fail_clearly_not_hang(tmp_path):
    ports = _free_ports(2)
    flags = [_flags(tmp_path / f"out{i}", 100000, "--checkpoint-every", "100000") for i in range(2)]
    procs = [_start(tmp_path, ports, i, flags[i], "kill") for i in range(2)]
    try:
        log0 = tmp_path / "kill-worker0.log"
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and procs[0].poll() is None:  # wait until training runs
            if (tmp_path / "out0" / "train_config.json").exists():
                break
            time.sleep(1)
        time.sleep(10)  # a few steps in
        procs[1].kill()
        start = time.monotonic()
        code = procs[0].wait(timeout=TIMEOUT)
        waited = time.monotonic() - start
    finally:
        for p in procs:
            p.kill()
    text = log0.read_text()
    print(f"the chief stopped {waited:.0f} s after the other worker was killed, exit {code}: {text.strip()[-300:]}")
    assert code == 1
    last = [line for line in text.splitlines() if line.startswith("mln-pose train: error:")]
    assert last and "worker" in last[-1] and "Traceback" not in text, text[-3000:]


@pytest.mark.slow
def test_a_worker_that_never_starts_is_named_within_the_cluster_timeout(tmp_path):
    ports = _free_ports(2)
    proc = _start(tmp_path, ports, 0, _flags(tmp_path / "out", 4, "--cluster-timeout", "10"), "alone")
    start = time.monotonic()
    code = proc.wait(timeout=TIMEOUT)
    waited = time.monotonic() - start
    text = (tmp_path / "alone-worker0.log").read_text()
    print(f"alone: exit {code} after {waited:.0f} s")
    assert code != 0 and waited < 60, text[-2000:]
    assert f"worker 1 at 127.0.0.1:{ports[1]} never answered" in text and "--cluster-timeout" in text


def test_tf_config_errors_are_one_clear_line(monkeypatch):
    import socket

    from mln_tf.train.setup import _check_port_free, tf_config_cluster

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert tf_config_cluster() is None
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON like"):
        tf_config_cluster()
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}})
    )
    with pytest.raises(ValueError, match=r"this task \(worker 3\) is not in its cluster \(worker 0\)"):
        tf_config_cluster()
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": {"worker": ["h0:2222", "h1:2222"]}, "task": {"type": "worker", "index": 1}})
    )
    assert tf_config_cluster() == ({"worker 0": "h0:2222", "worker 1": "h1:2222"}, "worker 1")
    with socket.socket() as held:
        held.bind(("", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(ValueError, match=f"cannot listen on port {port}.*another process holds it"):
            _check_port_free(f"127.0.0.1:{port}", "worker 0")
