"""Latency measurement shared by the CLI summary and the benchmarks."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np


def median_ms(fn: Callable[[], Any], runs: int = 10, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``runs`` calls after ``warmup``."""
    if runs < 1:
        raise ValueError("runs must be >= 1")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def keras_forward(model) -> Callable[[np.ndarray], Any]:
    """The model's inference call compiled once with ``tf.function`` (no per-call retracing)."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def run(x: np.ndarray):
        out = fn(tf.constant(x))
        return {k: v.numpy() for k, v in out.items()} if isinstance(out, dict) else out

    return run
