"""A built model's convolution weights, multiply-accumulates and fp32 size (the figures of paper Table 2)."""

from __future__ import annotations

import numpy as np

from mln_tf.model.configs import check_input_hw


def _conv_layers(model) -> list:
    found = []
    for layer in model.layers:
        if hasattr(layer, "layers"):  # nested model
            found.extend(_conv_layers(layer))
        elif hasattr(layer, "kernel") and hasattr(layer, "kernel_size"):
            found.append(layer)
    return found


def count_kernel_weights(model) -> int:
    """Convolution kernel weights (no biases): the paper's "# Parameter" convention."""
    return int(sum(np.prod(layer.kernel.shape) for layer in _conv_layers(model)))


def count_weights_with_bias(model) -> int:
    """All conv weights including biases (what the fp32 model size is made of)."""
    return int(sum(np.prod(w.shape) for layer in _conv_layers(model) for w in layer.weights))


def count_macs(model, input_hw: tuple[int, int]) -> int:
    """Multiply-accumulates of all convolutions for one image of ``input_hw`` (the paper's "FLOPs")."""
    import keras

    h, w = check_input_hw(input_hw)
    fixed = keras.models.clone_model(model, input_tensors=keras.Input((h, w, 3)))
    total = 0
    for layer in _conv_layers(fixed):
        out_h, out_w = layer.output.shape[1:3]
        kh, kw, cin_per_group, cout = layer.kernel.shape
        total += out_h * out_w * kh * kw * cin_per_group * cout
    return int(total)


def model_size_mb(model) -> float:
    """fp32 size of all weights in MB (10^6 bytes), the paper's "Model Size"."""
    return count_weights_with_bias(model) * 4 / 1e6
