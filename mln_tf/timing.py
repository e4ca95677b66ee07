"""Latency measurement shared by the CLI summary and the benchmarks."""

from __future__ import annotations

import time
from pathlib import Path
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


ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")  # what int8 kernels differ by


def cpu_description(cpuinfo: str | None = None) -> str:
    """'<model name> [<ISA flags>]' of this CPU, from /proc/cpuinfo: the line every speed figure names.

    int8 speed depends on the ISA most: XNNPACK's int8 kernels use VNNI dot products where the CPU
    has them (Intel AVX-512 VNNI, AMD Zen 4+) and AVX2 multiply-adds elsewhere (AMD Zen 3).
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return "unknown CPU (no /proc/cpuinfo)"
    model, flags = "unknown CPU", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown CPU":
            model = " ".join(value.split())
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    isa = [f for f in ISA_FLAGS if f in flags]
    return f"{model} [{' '.join(isa) or 'no AVX2'}]"


def keras_forward(model) -> Callable[[np.ndarray], Any]:
    """The model's inference call compiled once with ``tf.function`` (no per-call retracing)."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def run(x: np.ndarray):
        out = fn(tf.constant(x))
        return {k: v.numpy() for k, v in out.items()} if isinstance(out, dict) else out

    return run
