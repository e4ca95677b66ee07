"""The Keras pose model an export starts from: loading it, checking it, making it float32."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

OUTPUTS = ("heatmaps", "pafs")


def load_pose_model(path: str | Path, arch: str | None = None, width: str | None = None):
    """A ``.keras`` / ``.weights.h5`` / ``pretrained:NAME`` pose model, checked to have ``heatmaps``/``pafs``."""
    from mln_tf.runners import load_keras_model

    model = load_keras_model(path, arch, width)
    check_pose_model(model)
    return model


def arch_and_width(model: Any, path: str | Path, arch: str | None = None, width: str | None = None) -> tuple[str, str]:
    """The architecture and width of a loaded model: what it records, else the flags (default mln, paper).

    A ``.keras`` model built by ``mln_tf.model`` records both, so nobody has to give them again;
    flags that contradict the record are an error (a QAT rebuild from them would not fit).
    """
    from mln_tf.runners import model_identity

    identity = model_identity(model, path)
    if identity is None:
        return arch or "mln", width or "paper"
    wrong = [
        f"--{k} {g}"
        for k, g, have in (("arch", arch, identity[0]), ("width", width, identity[1]))
        if g is not None and g != have
    ]
    if wrong:
        from mln_tf.errors import UsageError

        raise UsageError(
            f"{path} is {identity[0]} at width {identity[1]} (recorded in the model), not "
            f"{' '.join(wrong)}: leave --arch/--width out for a .keras model"
        )
    return identity


def check_pose_model(model: Any) -> None:
    """A clear error unless ``model`` takes (N, H, W, 3) images and outputs heatmaps and pafs."""
    names = set(getattr(model, "output_names", None) or [])
    if not set(OUTPUTS) <= names:
        raise ValueError(
            f"not a pose model: outputs {sorted(names)} lack 'heatmaps' and 'pafs' (build it with mln_tf.model.build)"
        )
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[-1] not in (3, None):
        raise ValueError(
            f"not a pose model: expected one (N, H, W, 3) image input, got {[tuple(t.shape) for t in inputs]}"
        )


def is_float32(model: Any) -> bool:
    """True when every layer computes and stores its variables in float32."""
    return all(
        getattr(layer, "compute_dtype", "float32") == "float32"
        and getattr(layer, "variable_dtype", "float32") == "float32"
        for layer in model.layers
    )


def float32_model(model: Any):
    """``model`` itself if it is float32, else the same network rebuilt in float32 with its weights.

    A ``mixed_float16`` model converts to TFLite with float16 Conv2D/BiasAdd/Relu left as
    Flex ops that phones cannot run, and serves in float16; exports need float32.
    """
    return model if is_float32(model) else with_dtype(model, "float32")


def float64_model(model: Any):
    """The same network in float64 with its weights: statistics that do not depend on the CPU.

    float32 convolutions differ in the last bits between CPU kinds (oneDNN picks AVX2 or AVX-512
    kernels); float64 runs on TensorFlow's Eigen kernels, and its results rounded to float32 are the
    same on every x86-64 CPU (checked with ``ONEDNN_MAX_CPU_ISA=AVX2`` against AVX-512: bit-identical).
    """
    return with_dtype(model, "float64")


def with_dtype(model: Any, dtype: str):
    """``model`` rebuilt with every layer computing and storing weights in ``dtype``."""
    import keras

    def rebuild(layer):
        config = layer.get_config()
        config["dtype"] = dtype
        return layer.__class__.from_config(config)

    rebuilt = keras.models.clone_model(model, clone_function=rebuild)
    rebuilt.set_weights([np.asarray(w).astype(dtype) for w in model.get_weights()])
    wrong = [
        layer.name
        for layer in rebuilt.layers
        if not isinstance(layer, keras.layers.InputLayer)
        and (getattr(layer, "compute_dtype", dtype), getattr(layer, "variable_dtype", dtype)) != (dtype, dtype)
    ]
    if wrong:
        raise ValueError(f"could not rebuild {model.name} in {dtype} (nested models are not supported): {wrong[0]}")
    return rebuilt


def input_hw(model: Any) -> tuple[int, int] | None:
    """The model's fixed input (H, W), or None when any multiple of 8 is accepted."""
    h, w = tuple(model.inputs[0].shape[1:3])
    return (int(h), int(w)) if h is not None and w is not None else None


def with_input_size(model: Any, size: tuple[int, int] | None):
    """``model`` accepting ``size`` (H, W), or any multiple-of-8 size when None.

    A model built for a fixed size (``build_mln(..., input_hw=...)``) refuses other sizes;
    being fully convolutional it is rebuilt on a new input with the same weights.
    """
    import keras

    fixed = input_hw(model)
    if fixed is None or (size is not None and tuple(size) == fixed):
        return model
    h, w = size if size is not None else (None, None)
    rebuilt = keras.models.clone_model(model, input_tensors=keras.Input((h, w, 3), name="image"))
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def stages(model: Any) -> list[int]:
    """The refinement stages whose maps ``model`` outputs (``stage{k}_heatmaps``/``_pafs``), the last included."""
    names = set(model.output) if isinstance(model.output, dict) else set()
    found = sorted(int(n[5:-9]) for n in names if n.startswith("stage") and n.endswith("_heatmaps"))
    return [*found, (found[-1] + 1) if found else 1]


def at_stage(model: Any, stage: int | None):
    """``model`` stopped after refinement stage ``stage`` (1-based): its ``heatmaps``/``pafs`` are that stage's.

    The later stages are not in the new graph, so an export of it does less work (no retraining:
    the stages are trained to predict the maps on their own). The last stage, or None, is ``model``
    itself; a stage the network does not have is a UsageError (a ValueError) naming the ones it has.
    """
    import keras

    from mln_tf.errors import UsageError

    if stage is None:
        return model
    have = stages(model)
    if stage not in have:
        raise UsageError(f"the network has refinement stages {have[0]}..{have[-1]}, not stage {stage}")
    if stage == have[-1]:
        return model
    out = model.output
    maps = {
        "heatmaps": keras.layers.Identity(name="heatmaps")(out[f"stage{stage}_heatmaps"]),
        "pafs": keras.layers.Identity(name="pafs")(out[f"stage{stage}_pafs"]),
    }
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # one tensor, as the model was built
    return keras.Model(inputs, maps, name=f"{model.name}_stage{stage}")
