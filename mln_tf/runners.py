"""Run any exported form of a pose model on preprocessed input, with one interface.

``load_runner(path)`` accepts a Keras model (``.keras``, or ``.weights.h5`` with the
architecture given), a SavedModel directory (``mln_tf.export.saved_model``), or a ``.tflite``
file (run with LiteRT). Every runner takes a batch of *preprocessed* input
(``mln_tf.inference.preprocess``: float32 RGB pixel/256 - 0.5, (N, H, W, 3)) and returns
``(heatmaps (N, h, w, 19), pafs (N, h, w, 38))`` as float32 NumPy arrays. ``input_hw``
is the fixed input size a runner needs (TFLite), or None when any multiple of 8 works.

Contracts with the exporters:
* SavedModel: signature ``serving_default`` takes ``image`` uint8 RGB (N, H, W, 3) and
  returns ``heatmaps`` and ``pafs``; normalisation is inside the graph. The runner turns
  the preprocessed floats back into the exact uint8 pixels (x = p/256 - 0.5 is exact).
* TFLite: signature ``serving_default`` with one float32 input (N, H, W, 3) already
  normalised, outputs named ``heatmaps`` and ``pafs`` (quantized models keep float I/O).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mln_tf.errors import UsageError
from mln_tf.inference import PIXEL_OFFSET, PIXEL_SCALE
from mln_tf.pretrained import PRETRAINED, PRETRAINED_DIR, pretrained_model_path

PRETRAINED_PREFIX = "pretrained:"  # load_runner('pretrained:NAME'): a model shipped in mln_tf/bundled/pretrained

Maps = tuple[np.ndarray, np.ndarray]


@dataclass
class Runner:
    """A loaded model: ``runner(batch) -> (heatmaps, pafs)``."""

    kind: str
    path: str
    input_hw: tuple[int, int] | None
    _fn: Callable[[np.ndarray], Maps] = field(repr=False)
    identity: tuple[str, str] | None = None  # (arch, width) of a Keras model that records it
    stage: int | None = None  # the refinement stage a Keras network stops after (None: not known, as in a .tflite)

    def __call__(self, batch: np.ndarray) -> Maps:
        x = np.asarray(batch, np.float32)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"{self.kind} runner: expected a preprocessed batch (N, H, W, 3), got shape {x.shape}")
        if self.input_hw is not None and tuple(x.shape[1:3]) != self.input_hw:
            raise ValueError(
                f"{self.path} takes a fixed {self.input_hw[0]}x{self.input_hw[1]} input, got "
                f"{x.shape[1]}x{x.shape[2]}: preprocess with input_hw={self.input_hw}"
            )
        if x.shape[1] % 8 or x.shape[2] % 8:
            raise ValueError(f"input {x.shape[1]}x{x.shape[2]} is not a multiple of 8: use mln_tf.inference.preprocess")
        heatmaps, pafs = self._fn(x)
        return np.asarray(heatmaps, np.float32), np.asarray(pafs, np.float32)


def resolve_model_path(path: str | Path) -> Path:
    """``path`` itself, or the shipped file of ``pretrained:NAME`` (``mln_tf.pretrained.PRETRAINED``)."""
    if str(path).startswith(PRETRAINED_PREFIX):
        return pretrained_model_path(str(path)[len(PRETRAINED_PREFIX) :])
    return Path(path)


def takes_stage(path: str | Path) -> bool:
    """Whether ``path`` names a network that can be cut at a stage (.keras, .weights.h5, ``pretrained:NAME``),
    from its name alone (before anything is loaded); an exported SavedModel or .tflite ends where it was exported."""
    text = str(path)
    return text.startswith(PRETRAINED_PREFIX) or text.lower().endswith((".keras", ".weights.h5"))


def check_stage(path: str | Path, stage: int | None) -> None:
    """A UsageError when ``stage`` is given for a model that :func:`takes_stage` says cannot be cut."""
    if stage is not None and not takes_stage(path):
        raise UsageError(
            f"{Path(str(path)).name} ends at the stage it was exported with: --speed/--stage apply to .keras "
            "models (export the file with --speed/--stage instead)"
        )


def check_model_path(path: str | Path, keras_only: bool = False) -> Path:
    """The model file or folder ``path`` names, or a one-line UsageError (before anything is loaded).

    ``keras_only``: only ``.keras``/``.weights.h5`` (what the exporters start from).
    """
    try:
        resolved = resolve_model_path(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not resolved.exists():
        raise UsageError(f"model not found: {resolved}")
    if resolved.is_dir():
        if keras_only:
            raise UsageError(f"{resolved} is a folder: give a .keras model or .weights.h5 weights")
        if not (resolved / "saved_model.pb").is_file():
            raise UsageError(f"{resolved} is a directory but not a SavedModel (no saved_model.pb)")
        return resolved
    if resolved.stat().st_size == 0:
        raise UsageError(f"model file is empty (0 bytes): {resolved}")
    kinds = (".keras", ".weights.h5") if keras_only else (".keras", ".weights.h5", ".tflite")
    if not resolved.name.lower().endswith(kinds):
        raise UsageError(
            f"unsupported model file {resolved.name!r}: use {', '.join(kinds)}"
            + ("" if keras_only else " or a SavedModel folder")
        )
    return resolved


def keras_runner(model: Any, path: str = "<in memory>") -> Runner:
    """Wrap a Keras pose model (dict outputs ``heatmaps``/``pafs``)."""
    from mln_tf.timing import keras_forward

    forward = keras_forward(model)

    def run(x: np.ndarray) -> Maps:
        out = forward(x)
        return out["heatmaps"], out["pafs"]

    shape = tuple(model.inputs[0].shape[1:3])  # model.input is a list when a model was built with one
    return Runner("keras", path, shape if None not in shape else None, run)


def load_keras_model(path: str | Path, arch: str | None = None, width: Any = None):
    """A Keras pose model from ``.keras``, or from ``.weights.h5`` built as ``arch``/``width``.

    ``width`` is a named width ('paper', 'small', 'tiny') or a builder config object; both
    only matter for ``.weights.h5`` (default mln, paper): a ``.keras`` model carries its own
    architecture and width (:func:`model_identity`), so they are not used for one.
    """

    from mln_tf import model as m

    path = resolve_model_path(path)
    if not path.is_file():
        raise ValueError(f"model not found: {path}")
    if not path.name.lower().endswith((".keras", ".weights.h5")):
        raise ValueError(f"unsupported model file {path.name!r}: use a .keras model or .weights.h5 weights")
    m.register_serializables()
    if path.name.endswith(".weights.h5"):
        arch = arch or "mln"
        entry = m.architecture(arch)
        config = entry.config(width or "paper") if width is None or isinstance(width, str) else width
        net = entry.builder(config, name=arch)
        try:
            net.load_weights(path)
        except ValueError as exc:
            raise ValueError(f"{path} does not fit the {arch} architecture {config or '(paper)'}: {exc}") from exc
        return net
    return m.load_keras_file(path)


def model_identity(model: Any, path: str | Path | None = None) -> tuple[str, str] | None:
    """(arch, width) of a loaded model: recorded in it, or the registry entry of a shipped one."""
    from mln_tf import model as m

    identity = m.model_identity(model)
    if identity is None and path is not None:  # shipped files predate the recorded identity
        name = str(path)[len(PRETRAINED_PREFIX) :] if str(path).startswith(PRETRAINED_PREFIX) else None
        for entry in PRETRAINED.values():
            if entry.name == name or Path(path).resolve() == (PRETRAINED_DIR / entry.file).resolve():
                return entry.arch, entry.width
    return identity


def _load_keras(path: Path, arch: str | None, width: Any, stage: int | None = None) -> Runner:
    from mln_tf.export.models import at_stage, stages

    model = load_keras_model(path, arch, width)
    identity = model_identity(model, path)
    last = stages(model)[-1]
    runner = keras_runner(at_stage(model, stage), str(path))
    runner.identity = identity
    runner.stage = last if stage is None else stage
    return runner


def _load_saved_model(path: Path) -> Runner:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    if "serving_default" not in loaded.signatures:
        raise ValueError(f"SavedModel {path} has no 'serving_default' signature")
    fn = loaded.signatures["serving_default"]
    ((input_name, spec),) = fn.structured_input_signature[1].items()
    fixed = tuple(spec.shape[1:3])

    def run(x: np.ndarray) -> Maps:
        pixels = np.rint((x - PIXEL_OFFSET) / PIXEL_SCALE).clip(0, 255).astype(np.uint8)
        out = fn(**{input_name: tf.constant(pixels)})
        return out["heatmaps"].numpy(), out["pafs"].numpy()

    return Runner("savedmodel", str(path), fixed if None not in fixed else None, run)


def _first_line(exc: BaseException) -> str:
    """LiteRT's message, one line (it ends some with a newline, some are empty)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0].strip() if lines else f"{type(exc).__name__} (LiteRT gave no reason)"


def _load_tflite(path: Path, threads: int | None) -> Runner:
    from ai_edge_litert.interpreter import Interpreter

    from mln_tf.console import filtered_stderr
    from mln_tf.tflite_file import check_tflite_file

    check_tflite_file(path)  # LiteRT does not verify the flatbuffer: a damaged file would crash the process
    try:
        with filtered_stderr():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"cannot load TFLite model {path}: {_first_line(exc)}") from exc
    signatures = interpreter.get_signature_list()
    if "serving_default" not in signatures:
        raise ValueError(f"{path} has no 'serving_default' signature (export with mln_tf.export.tflite)")
    sig = signatures["serving_default"]
    if not {"heatmaps", "pafs"} <= set(sig["outputs"]) or len(sig["inputs"]) != 1:
        raise ValueError(f"{path}: expected one input and outputs heatmaps/pafs, got {sig}")
    try:
        with filtered_stderr():
            interpreter.allocate_tensors()  # fails here, not mid-run, on Flex/custom ops it lacks
        runner = interpreter.get_signature_runner("serving_default")
    except RuntimeError as exc:
        raise ValueError(f"cannot run TFLite model {path} with LiteRT: {_first_line(exc)}") from exc
    input_name = sig["inputs"][0]
    detail = runner.get_input_details()[input_name]
    full = tuple(int(v) for v in detail["shape"])
    if len(full) != 4 or full[3] != 3 or min(full) < 1 or detail["dtype"] != np.float32:
        raise ValueError(f"{path}: expected a float32 (1, H, W, 3) input, got {np.dtype(detail['dtype']).name} {full}")
    shape = full[1:3]

    def run(x: np.ndarray) -> Maps:
        # A TFLite signature has a fixed batch; run image by image.
        outs = [runner(**{input_name: x[i : i + 1]}) for i in range(len(x))]
        return (np.concatenate([o["heatmaps"] for o in outs]), np.concatenate([o["pafs"] for o in outs]))

    return Runner("tflite", str(path), shape, run)


def load_runner(
    path: str | Path, arch: str | None = None, width: Any = None, threads: int | None = None, stage: int | None = None
) -> Runner:
    """Load a .keras / .weights.h5 / SavedModel dir / .tflite pose model as a :class:`Runner`.

    ``pretrained:NAME`` loads a pretrained model shipped with the repository
    (``mln_tf.pretrained.PRETRAINED``, e.g. ``pretrained:tfpose_mobilenet_thin``).
    ``arch`` and ``width`` only matter for ``.weights.h5`` files (no architecture inside;
    default mln at paper width);
    ``threads`` only for ``.tflite`` (LiteRT CPU threads; None = LiteRT's default);
    ``stage``: a Keras network stops after this refinement stage (``export.models.at_stage``); an
    exported SavedModel or .tflite ends where it was exported, so a stage for one is a ValueError.
    """
    check_stage(path, stage)
    path = resolve_model_path(path)
    if not path.exists():
        raise ValueError(f"model not found: {path}")
    name = path.name.lower()
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise ValueError(f"{path} is a directory but not a SavedModel (no saved_model.pb)")
        return _load_saved_model(path)
    if name.endswith(".tflite"):
        return _load_tflite(path, threads)
    if name.endswith(".keras") or name.endswith(".weights.h5"):
        return _load_keras(path, arch, width, stage)
    raise ValueError(
        f"unsupported model file {path.name!r}: use .keras, .weights.h5, a SavedModel directory or .tflite"
    )
