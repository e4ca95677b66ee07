"""How a model runs on an image, as one value: ``Estimator(runner, EstimatorConfig(...))``.

    est = Estimator.pretrained()                      # or Estimator.load("model.tflite", threads=2)
    poses = est.estimate(read_image("photo.jpg"))     # people in the photo's pixels
    draw_poses(image, poses)

The :class:`EstimatorConfig` holds everything but the network: the input (an aspect-keeping
height, or a fixed HxW letterbox), test-time scales and flip, and the decoder's settings
(``PostprocessConfig`` with its ``GroupingConfig``). Every path that runs a model on images
(``mln-pose infer`` and its Beam pipeline, ``eval``, ``check tflite``, the demo, the stream of
videos and cameras, training's evaluation) takes one, built from the command line in one place
(``mln_tf.cli.flags.estimator_config``), so a setting is honoured everywhere or refused before
any work. This module imports no TensorFlow (the runner does, when it is loaded).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from mln_tf.grouping import GroupingConfig, Poses
from mln_tf.inference import DEFAULT_INPUT_HEIGHT, PostprocessConfig, Transform, postprocess, predict_maps

DEFAULT_PRETRAINED = "tfpose_mobilenet_thin"


@dataclass(frozen=True)
class EstimatorConfig:
    """Everything about running a network on an image except the network itself.

    ``input_height``: images are resized to this height keeping their aspect (multiple of 8);
    ``input_hw``: instead, letterbox into this fixed (H, W) (a fixed-size model such as a
    .tflite brings its own); ``scales``: multiples of the input height, averaged (multi-scale
    test); ``flip``: also the mirrored image, averaged; ``stage``: stop the network after this
    refinement stage (1-based; None: all of them; the later stages are not run, no retraining);
    ``postprocess``: the decoder. Named settings of input and stage: ``mln_tf.operating_points``.
    """

    input_height: int = DEFAULT_INPUT_HEIGHT
    input_hw: tuple[int, int] | None = None
    scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    stage: int | None = None
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.postprocess, PostprocessConfig):
            raise ValueError(f"postprocess must be a PostprocessConfig, got {type(self.postprocess).__name__}")
        stride = self.postprocess.stride
        if int(self.input_height) != self.input_height or self.input_height < stride or self.input_height % stride:
            raise ValueError(
                f"input_height must be a multiple of {stride} of at least {stride}, got {self.input_height}"
            )
        if self.input_hw is not None:
            hw = tuple(int(v) for v in self.input_hw)
            if len(hw) != 2 or min(hw) < stride or hw[0] % stride or hw[1] % stride:
                raise ValueError(f"input_hw must be (H, W) in positive multiples of {stride}, got {self.input_hw}")
            object.__setattr__(self, "input_hw", hw)
        scales = tuple(float(s) for s in self.scales)
        if not scales or min(scales) <= 0 or not all(np.isfinite(scales)):
            raise ValueError(f"scales must be positive numbers, got {self.scales}")
        if self.input_hw is not None and scales != (1.0,):
            raise ValueError("a fixed input size (input_hw) runs at one scale: drop the scales or the fixed input")
        object.__setattr__(self, "scales", scales)
        if not isinstance(self.flip, bool):
            raise ValueError(f"flip must be True or False, got {self.flip!r}")
        if self.stage is not None and (isinstance(self.stage, bool) or int(self.stage) != self.stage or self.stage < 1):
            raise ValueError(f"stage must be a refinement stage number >= 1 (or None for all), got {self.stage!r}")

    def replace(self, **changes: Any) -> EstimatorConfig:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

    def with_decoder(self, items: Iterable[str]) -> EstimatorConfig:
        """A copy whose decoder takes ``NAME=VALUE`` settings (``--decoder``); see :func:`decoder_config`."""
        return self.replace(postprocess=decoder_config(items, self.postprocess))

    def describe(self) -> str:
        """One line for a console: the input, scales, flip and the decoder settings that differ from the defaults."""
        size = f"input {self.input_hw[0]}x{self.input_hw[1]}" if self.input_hw else f"input height {self.input_height}"
        changed = decoder_changes(self.postprocess)
        decoder = ", ".join(f"{k}={v}" for k, v in changed.items()) if changed else "defaults"
        scales = ",".join(f"{s:g}" for s in self.scales)
        flip = "flip" if self.flip else "no flip"
        stage = f", stops after stage {self.stage}" if self.stage else ""
        return f"{size}{stage}, scale{'s' if len(self.scales) > 1 else ''} {scales}, {flip}; decoder {decoder}"

    def settings(self) -> dict[str, Any]:
        """The settings as plain JSON values, for the summaries and results of every run."""
        return {
            "input_height": None if self.input_hw else self.input_height,
            "input_hw": list(self.input_hw) if self.input_hw else None,
            "scales": list(self.scales),
            "flip": self.flip,
            "stage": self.stage,
            "decoder": dataclasses.asdict(self.postprocess),
        }


def decoder_settings() -> dict[str, Any]:
    """Every decoder setting ``--decoder`` takes, with its default (PostprocessConfig, then GroupingConfig)."""
    post = {f.name: getattr(PostprocessConfig(), f.name) for f in dataclasses.fields(PostprocessConfig)}
    post.pop("grouping")
    return {**post, **dataclasses.asdict(GroupingConfig())}


def decoder_changes(config: PostprocessConfig) -> dict[str, Any]:
    """The decoder settings of ``config`` that differ from the defaults, by name."""
    flat = {k: v for k, v in dataclasses.asdict(config).items() if k != "grouping"}
    flat.update(dataclasses.asdict(config.grouping))
    defaults = decoder_settings()
    return {k: v for k, v in flat.items() if v != defaults[k]}


def decoder_config(items: Iterable[str], base: PostprocessConfig | None = None) -> PostprocessConfig:
    """``["smooth_sigma=1.0", "upsample=2"]`` applied to ``base`` -> a PostprocessConfig.

    Names are the fields of PostprocessConfig and GroupingConfig; an unknown name, a value of
    the wrong type or an invalid combination is a ValueError naming it.
    """
    base = base or PostprocessConfig()
    known = decoder_settings()
    grouping_names = {f.name for f in dataclasses.fields(GroupingConfig)}
    post, group = {}, {}
    for item in items:
        name, sep, text = str(item).partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"decoder setting {item!r}: expected NAME=VALUE")
        if name not in known:
            raise ValueError(f"unknown decoder setting {name!r}; known: {', '.join(sorted(known))}")
        value = _parse_value(text.strip(), type(known[name]), name)
        (group if name in grouping_names else post)[name] = value
    return dataclasses.replace(base, grouping=dataclasses.replace(base.grouping, **group), **post)


def _parse_value(text: str, kind: type, name: str) -> Any:
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"decoder setting {name}: expected true or false, got {text!r}")
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"decoder setting {name}: expected {kind.__name__}, got {text!r}") from None


@dataclass(frozen=True)
class Estimator:
    """A loaded network and how it runs on an image: ``estimate(rgb) -> Poses``.

    ``runner`` is any ``mln_tf.runners.Runner`` (or a callable with its contract: a
    preprocessed batch -> (heatmaps, pafs), and ``input_hw`` when it takes one fixed size).
    A fixed-size runner letterboxes every image into its size: a config with several scales,
    or with another fixed size, is a ValueError here, before any image. So is a config's
    ``stage`` that the runner does not stop at (:meth:`load` builds the runner for it).
    """

    runner: Any
    config: EstimatorConfig = field(default_factory=EstimatorConfig)

    def __post_init__(self) -> None:
        if not callable(self.runner):
            raise ValueError(f"runner must be callable (a mln_tf.runners.Runner), got {type(self.runner).__name__}")
        if not isinstance(self.config, EstimatorConfig):
            raise ValueError(f"config must be an EstimatorConfig, got {type(self.config).__name__}")
        fixed = getattr(self.runner, "input_hw", None)
        if fixed is not None:
            name = getattr(self.runner, "path", "the model")
            if self.config.scales != (1.0,):
                raise ValueError(
                    f"{name} takes a fixed {fixed[0]}x{fixed[1]} input, which runs at one scale: "
                    f"it cannot run scales {','.join(map(str, self.config.scales))} (drop --accurate/--scales, "
                    "or use the .keras/SavedModel form)"
                )
            if self.config.input_hw is not None and tuple(self.config.input_hw) != tuple(fixed):
                raise ValueError(
                    f"{name} takes a fixed {fixed[0]}x{fixed[1]} input, not "
                    f"{self.config.input_hw[0]}x{self.config.input_hw[1]}"
                )
        stage = getattr(self.runner, "stage", None)
        if self.config.stage is not None and stage != self.config.stage:
            name = getattr(self.runner, "path", "the model")
            runs = f"stops after stage {stage}" if stage else "runs all its stages"
            raise ValueError(
                f"{name} {runs}, not stage {self.config.stage}: load it with Estimator.load(model, config) "
                "(a .keras model is cut at the stage), or export the .tflite with --speed/--stage"
            )

    @classmethod
    def load(
        cls,
        model: str | Path,
        config: EstimatorConfig | None = None,
        *,
        threads: int | None = None,
        arch: str | None = None,
        width: str | None = None,
    ) -> Estimator:
        """The model at ``model``: .keras, .weights.h5 (with ``arch``/``width``), SavedModel, .tflite, pretrained:N."""
        from mln_tf.runners import load_runner

        config = config or EstimatorConfig()
        return cls(load_runner(model, arch=arch, width=width, threads=threads, stage=config.stage), config)

    @classmethod
    def pretrained(cls, name: str = DEFAULT_PRETRAINED, config: EstimatorConfig | None = None) -> Estimator:
        """The COCO-trained network shipped in the package (``mln_tf.pretrained.PRETRAINED``)."""
        return cls.load(f"pretrained:{name}", config)

    def replace(self, **changes: Any) -> Estimator:
        """A copy whose config takes ``changes`` (the same runner)."""
        return Estimator(self.runner, self.config.replace(**changes))

    @property
    def input_hw(self) -> tuple[int, int] | None:
        """The fixed input every image is letterboxed into, or None (aspect-keeping height)."""
        fixed = getattr(self.runner, "input_hw", None)
        return tuple(fixed) if fixed is not None else self.config.input_hw

    def maps(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, Transform]:
        """One RGB image -> (heatmaps, pafs, transform), scales and flip averaged."""
        c = self.config
        return predict_maps(
            self.runner, image, c.input_height, c.scales, c.flip, stride=c.postprocess.stride, input_hw=self.input_hw
        )

    def decode(self, maps: tuple[np.ndarray, np.ndarray, Transform]) -> Poses:
        """The ``maps`` of an image (``maps(image)``) -> people in its pixels."""
        heatmaps, pafs, transform = maps
        return postprocess(heatmaps, pafs, transform, self.config.postprocess)

    def estimate(self, image: np.ndarray) -> Poses:
        """One RGB image (uint8 (H, W, 3); gray and RGBA are converted) -> people in its pixels."""
        return self.decode(self.maps(image))

    def settings(self) -> dict[str, Any]:
        """The model and its settings as plain JSON values (written beside every run's results)."""
        fixed = self.input_hw
        return {
            "model": getattr(self.runner, "path", type(self.runner).__name__),
            "kind": getattr(self.runner, "kind", None),
            **self.config.settings(),
            "input_hw": list(fixed) if fixed else None,
            "input_height": None if fixed else self.config.input_height,
        }
