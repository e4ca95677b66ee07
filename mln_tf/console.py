"""A quiet, honest console: TensorFlow's start-up noise filtered, one logging setup for every tool.

TensorFlow prints a block of C++/absl lines on import (oneDNN, CUDA stubs, CPU features) and
``failed call to cuInit`` on machines without a GPU, twice over when several of its libraries
load; ``TF_CPP_MIN_LOG_LEVEL`` no longer hides most of them because absl writes everything to
stderr before its logging is initialised. :func:`quiet_tensorflow` (called when ``mln_tf`` is
imported, before anything imports TensorFlow) hooks the first ``import tensorflow``: its
stderr, and the device set-up that prints the CUDA lines, go to a buffer, and only lines that
are not known start-up noise are passed on. ``TF_CPP_MIN_LOG_LEVEL=0`` (or 1) shows everything.

Library modules report through ``logging.getLogger(__name__)``; CLIs call
:func:`setup_logging` once (``--quiet`` shows warnings and errors only).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from typing import Any

LOG_ENV = "TF_CPP_MIN_LOG_LEVEL"
# Lines TensorFlow prints at start-up that say nothing about the user's run.
NOISE = re.compile(
    "|".join(
        (
            r"All log messages before absl::InitializeLog\(\) is called",
            r"\bport\.cc:\d+\] oneDNN custom operations",
            r"\bcudart_stub\.cc:\d+\]",
            r"\bcpu_feature_guard\.cc:\d+\]",
            r"^To enable the following instructions:",
            r"\bcuda_platform\.cc:\d+\] failed call to cuInit",
            r"\bcuda_executor\.cc:\d+\] failed call to cuInit",
            r"Unable to register cu(DNN|FFT|BLAS) factory",
            r"computation placer already registered",
            r"TF-TRT Warning: Could not find TensorRT",
            r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.",
            r"^fully_quantize: \d+, inference_type: \d+, input_inference_type: ",
            r"^Estimated count of arithmetic ops: ",
        )
    )
)
LOGGERS = ("mln_tf", "benchmarks")


def verbose_tensorflow() -> bool:
    """True when the user asked for TensorFlow's own logs (``TF_CPP_MIN_LOG_LEVEL`` 0 or 1)."""
    return os.environ.get(LOG_ENV, "2").strip() in ("0", "1")


def filter_noise(text: str) -> str:
    """``text`` without TensorFlow's known start-up lines."""
    return "".join(line for line in text.splitlines(keepends=True) if not NOISE.search(line))


class _Silenced:
    """Send file descriptor 2 (C++ and Python stderr alike) to a buffer; pass on what is not noise."""

    def __init__(self, keep_all: bool = False) -> None:
        self.keep_all = keep_all

    def __enter__(self) -> "_Silenced":
        sys.stderr.flush()
        self.buffer = tempfile.TemporaryFile(mode="w+b")
        self.saved = os.dup(2)
        os.dup2(self.buffer.fileno(), 2)
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.buffer.seek(0)
        text = self.buffer.read().decode(errors="replace")
        self.buffer.close()
        # On a failed import everything is shown: the noise may explain it.
        kept = text if exc[0] is not None or self.keep_all else filter_noise(text)
        if kept:
            sys.stderr.write(kept)
            sys.stderr.flush()


def filtered_stderr() -> _Silenced:
    """A context manager passing on only what is not known noise of native code (TFLite, LiteRT).

    A no-op filter when the user asked for TensorFlow's logs (``TF_CPP_MIN_LOG_LEVEL`` 0 or 1).
    """
    return _Silenced(keep_all=verbose_tensorflow())


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        with _Silenced():
            self.loader.exec_module(module)
            # Device discovery prints the CUDA lines (cuInit) at the first op: do it here.
            try:
                module.config.list_physical_devices()
            except Exception:  # noqa: BLE001 - a device problem shows up again, unfiltered, later
                pass


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Wraps the first ``import tensorflow`` in :class:`_Silenced`, then steps aside."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow() -> None:
    """Filter TensorFlow's start-up noise from its first import on (no-op once it is imported)."""
    os.environ.setdefault(LOG_ENV, "2")
    if "tensorflow" in sys.modules or verbose_tensorflow():
        return
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def _not_retracing(record: logging.LogRecord) -> bool:
    """TensorFlow's note that images of other sizes traced the model again: expected, not the user's to act on."""
    return "triggered tf.function retracing" not in str(record.msg)


def setup_logging(quiet: bool = False) -> None:
    """Our loggers to stderr: progress and notes (INFO), or only warnings and errors when ``quiet``.

    Also hides TensorFlow's retracing note (images of several sizes through one model are expected).
    """
    tf_logger = logging.getLogger("tensorflow")
    if _not_retracing not in tf_logger.filters:
        tf_logger.addFilter(_not_retracing)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING if quiet else logging.INFO)
        logger.propagate = False  # a root handler (absl installs one) would print every line twice


PROGRESS_DELAY_S = 2.0  # work that ends sooner shows no bar at all


def progress(iterable: Any = None, *, quiet: bool = False, **kwargs: Any):
    """A tqdm progress bar for long work, shown only on a terminal and only after ``PROGRESS_DELAY_S``.

    ``quiet`` (``--quiet``) hides it; so does a non-terminal stderr (a log file, CI), where a bar is
    hundreds of carriage returns. Keyword arguments go to tqdm (``desc``, ``total``, ``unit``).
    """
    from tqdm import tqdm

    shown = not quiet and sys.stderr.isatty()
    return tqdm(iterable, disable=not shown, delay=PROGRESS_DELAY_S, **kwargs)
