"""InputCheck, the pose models' one custom Keras layer, and the identity (arch, width) it records."""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from mln_tf.coords import DEFAULT_STRIDE


@functools.cache
def _input_check_layer(km: ModuleType) -> type:
    """A no-op layer that rejects inputs whose static H or W is not a multiple of 8.

    It also carries the model's identity (``arch``, ``width``) through save/load.
    """

    class InputCheck(km.layers.Layer):
        def __init__(
            self, stride: int = DEFAULT_STRIDE, arch: str | None = None, width: str | None = None, **kwargs: Any
        ) -> None:
            super().__init__(**kwargs)
            self.stride = stride
            self.arch = arch
            self.width = width

        def call(self, x):  # noqa: D401 - Keras API
            shape = tuple(x.shape)
            if len(shape) != 4 or (shape[-1] is not None and shape[-1] != 3):
                raise ValueError(f"pose model input must be a batch of RGB images (N, H, W, 3); got shape {shape}")
            bad = [s for s in shape[1:3] if s is not None and s % self.stride]
            if bad:
                raise ValueError(
                    f"pose model input is {shape[1]}x{shape[2]}: height and width must be "
                    f"multiples of {self.stride} (use mln_tf.inference.preprocess, which pads)"
                )
            return x

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self) -> dict:
            config = {**super().get_config(), "stride": self.stride}
            if self.arch is not None:
                config.update(arch=self.arch, width=self.width)
            return config

    InputCheck.__module__ = "mln_tf.model"  # where saved .keras configs say it lives, as before the split
    register = km.saving.register_keras_serializable if hasattr(km, "saving") else None
    if register is not None:
        InputCheck = register(package="mln_tf")(InputCheck)
    return InputCheck


def model_identity(model: Any) -> tuple[str, str] | None:
    """``(arch, width)`` recorded in a model built by :mod:`mln_tf.model`, or None if it has none.

    ``width`` is a registered width name, or ``"custom"`` for a config that matches none.
    """
    try:
        layer = model.get_layer("input_check")
    except (ValueError, AttributeError):
        return None
    arch = getattr(layer, "arch", None)
    return (arch, getattr(layer, "width", None) or "custom") if arch else None
