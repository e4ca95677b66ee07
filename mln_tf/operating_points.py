"""Named operating points of the shipped network: accuracy against speed, as Estimator settings.

An operating point is a fixed network input (every image letterboxed into it, as on a phone and in
the browser) and the refinement stage the network stops after (``export.models.at_stage``: the
later stages are not in the graph, no retraining). ``benchmarks/operating_points.py`` measures the
whole curve (input size x stage x fp32/int8: COCO AP on the bundled 4 val and 36 train images,
LiteRT ms, stream FPS) and draws it with its Pareto front (docs/benchmarks.md); the points here
are taken from that front:

1. ``accurate``: the front's most accurate point (368x432 after stage 5 of 6: more AP than the
   whole network on both sets, in 0.92x its time).
2. ``balanced``: 368x432, the size every export defaults to, after stage 3: the whole network's
   AP on the train set (0.223) and more on val, in 0.72x its time.
3. ``fast``: a front point that leaves time for a camera on 2 AVX2 cores (25 FPS end to end was
   the goal): 256x320 after stage 3, 0.53x balanced's time.

Camera, web and phone default to the fastest of them that keeps at least :data:`KEEP` of
balanced's AP on each bundled set (:func:`camera_default`), else to balanced.

``--speed NAME`` (``mln_tf.cli.flags``) takes one; ``OperatingPoint.config`` gives its
:class:`~mln_tf.estimator.EstimatorConfig` for Python. Without ``--speed``, photos keep their
aspect at ``--input-height`` through every stage, the setting that AP figures elsewhere use.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from mln_tf.estimator import EstimatorConfig

KEEP = 0.9  # the camera default keeps at least this share of balanced's AP on each bundled set
REFERENCE_CPU = "Intel Xeon [avx2 avx512f avx512_vnni avx_vnni amx_int8], 2 threads"
# The whole network at 368x432, fp32, 2 threads: 87.6 ms on an AVX2-only AMD EPYC Zen 3 (issue 29) against
# 49.3 ms on REFERENCE_CPU; int8 gains 3-13% there, not 2x.
AVX2_FACTOR = 1.8


@dataclass(frozen=True)
class OperatingPoint:
    """A named (input, stage) of the shipped network with what it measured (fp32, LiteRT).

    ``ap``: COCO AP on the bundled (val, train) images; ``ms``: the network's median ms per frame
    on :data:`REFERENCE_CPU`; ``fps``: the pipelined stream's end-to-end frames per second there.
    """

    name: str
    input_hw: tuple[int, int]
    stage: int | None
    ap: tuple[float, float]
    ms: float
    fps: float

    def __post_init__(self) -> None:
        EstimatorConfig(input_hw=self.input_hw, stage=self.stage)  # a ValueError if not a valid setting
        if len(self.ap) != 2 or not all(0.0 <= a <= 1.0 for a in self.ap) or self.ms <= 0 or self.fps <= 0:
            raise ValueError(f"operating point {self.name}: AP in [0, 1] for val and train, positive ms and fps")

    def config(self, base: EstimatorConfig | None = None) -> EstimatorConfig:
        """``base`` (default: the defaults) at this point's input and stage; its decoder is kept."""
        return (base or EstimatorConfig()).replace(input_hw=self.input_hw, stage=self.stage, scales=(1.0,))

    def describe(self) -> str:
        """One line: the setting and what it measured."""
        h, w = self.input_hw
        stage = f"stage {self.stage}" if self.stage else "all stages"
        return (
            f"{self.name}: {h}x{w}, {stage}; AP {self.ap[0]:.3f} val / {self.ap[1]:.3f} train, "
            f"{self.ms:.0f} ms network, {self.fps:.0f} FPS stream (fp32)"
        )


def _points(*points: OperatingPoint) -> MappingProxyType:
    return MappingProxyType({p.name: p for p in points})


# From benchmarks/operating_points.py on REFERENCE_CPU (docs/benchmarks.md#operating-points): ms is the
# fp32 network alone, fps the pipelined stream (decode, network, decoder, tracker) on OpenCV's vtest.avi.
POINTS = _points(
    OperatingPoint("fast", (256, 320), 3, (0.333, 0.206), 19.0, 43.3),
    OperatingPoint("balanced", (368, 432), 3, (0.511, 0.223), 35.5, 24.0),
    OperatingPoint("accurate", (368, 432), 5, (0.528, 0.230), 45.2, 19.6),
)


def point(name: str) -> OperatingPoint:
    """The operating point called ``name``; a ValueError lists the names."""
    try:
        return POINTS[name]
    except KeyError:
        raise ValueError(f"unknown operating point {name!r}; known: {', '.join(POINTS)}") from None


def camera_default(points: Mapping[str, OperatingPoint] = POINTS) -> OperatingPoint:
    """The fastest point keeping :data:`KEEP` x balanced's AP on each set (else balanced): camera, web, phone."""
    balanced = points["balanced"]
    keeps = [p for p in points.values() if all(a >= KEEP * b for a, b in zip(p.ap, balanced.ap))]
    return min(keeps, key=lambda p: p.ms) if keeps else balanced
