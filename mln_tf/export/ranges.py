"""int8 activation ranges measured in float64 and clipped by MSE: the same ranges on every CPU.

The TFLite calibrator records each activation tensor's min and max from its own float32 runs.
Two things are wrong with that for us:

* **It depends on the CPU.** float32 kernels differ in the last bits between CPU kinds
  (AVX2 / AVX-512), and so do the min/max, the scales and then every int8 value downstream.
  Here every layer's output is measured with the float64 copy of the Keras model
  (:func:`mln_tf.export.models.float64_model`, bit-identical across CPU kinds), accumulated in integer
  histograms, and every range written is a multiple of ``top / GRID`` (``top`` a power of two):
  a last-bit difference moves a range only if it lands within that difference of a grid step.
* **min/max wastes levels.** After range equalisation (:mod:`mln_tf.export.equalize`) every channel of
  a ReLU output reaches 1 somewhere, while most of its values are far smaller; 8 bits spread over
  a tail that a few pixels reach leave the rest a handful of levels. Outputs of convolutions that
  only feed other convolutions get the range that minimises the expected squared error
  (rounding error ``step^2 / 12`` inside, the clipped distance outside; the classic MSE
  calibration). Tensors that carry the maps (model outputs, every stage's heatmaps and PAFs
  feeding the next stage's concatenation), concatenations, pooling and the input keep min/max:
  clipping a heatmap peak removes the person the decoder would have found there.

On the pretrained mobilenet_thin at 368x432 with the 'stages' float layers and no bias
correction, MSE ranges (here from histograms of the calibrator's own float32 model) moved the
val / train AP from 0.502 / 0.202 (the calibrator's min/max) to 0.541 / 0.203 (fp32 0.482 /
0.223); fully int8 from 0.266 / 0.142 to 0.364 / 0.135. The shipped recipe (float64 histograms,
bias correction kept by heatmap error) measures 0.529 / 0.189: on 40 images, 0.01-0.02 of AP is
one person's keypoints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)
BINS = 4096  # histogram bins over [-top, top]
GRID = 64  # ranges are multiples of top / GRID
MIN_TOP = 2.0**-20  # below this a tensor is treated as all zeros


@dataclass
class Histogram:
    """Counts of a tensor's values over [-top, top] in ``BINS`` bins; ``top`` doubles when exceeded."""

    top: float = 0.0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(BINS, np.int64))

    def add(self, values: np.ndarray) -> None:
        """Count ``values`` (any shape); the bins merge in pairs while a value lies beyond ``top``."""
        values = np.asarray(values, np.float64).ravel()
        peak = float(np.abs(values).max()) if values.size else 0.0
        if self.top == 0.0:
            self.top = 2.0 ** np.ceil(np.log2(max(peak, MIN_TOP)))
        while peak > self.top:
            # [-top, top] becomes the middle half of [-2 top, 2 top]: bin i goes to BINS/4 + i//2
            merged = np.zeros(BINS, np.int64)
            np.add.at(merged, BINS // 4 + np.arange(BINS) // 2, self.counts)
            self.counts, self.top = merged, self.top * 2
        index = np.floor((values + self.top) / (2 * self.top) * BINS).astype(np.int64)
        self.counts += np.bincount(np.clip(index, 0, BINS - 1), minlength=BINS)

    def centers(self) -> np.ndarray:
        return (np.arange(BINS) + 0.5) / BINS * 2 * self.top - self.top


def _grid(value: float, top: float, outward: bool) -> float:
    """``value`` rounded to a multiple of top / GRID, away from zero when ``outward``."""
    unit = top / GRID
    steps = value / unit
    if not outward:
        return float(np.round(steps) * unit)
    return float((np.ceil(steps) if value > 0 else np.floor(steps)) * unit)


def minmax_range(h: Histogram) -> tuple[float, float]:
    """The values' extent on the grid (outward), always containing 0."""
    used = np.nonzero(h.counts)[0]
    if not used.size or h.top <= MIN_TOP:
        return 0.0, 0.0
    edges = np.array([used[0], used[-1] + 1]) / BINS * 2 * h.top - h.top
    return min(_grid(float(edges[0]), h.top, True), 0.0), max(_grid(float(edges[1]), h.top, True), 0.0)


def mse_range(h: Histogram) -> tuple[float, float]:
    """The grid range with the least expected squared error of 8-bit quantization (ties: the wider).

    Candidates shrink the min/max range in grid steps, keeping its proportion of negative to
    positive; the error of a candidate [a, b] is ``n_inside * step^2 / 12`` plus the squared
    distance of every clipped value to the bound.
    """
    lo, hi = minmax_range(h)
    if hi - lo <= 0.0:
        return lo, hi
    c, n = h.centers(), h.counts.astype(np.float64)
    steps = np.arange(1, int(round(max(hi, -lo) / (h.top / GRID))) + 1)
    fractions = steps / steps[-1]
    a = np.array([_grid(lo * f, h.top, True) if lo < 0 else 0.0 for f in fractions])
    b = np.array([_grid(hi * f, h.top, True) if hi > 0 else 0.0 for f in fractions])
    step = (b - a) / 255.0
    clipped = np.clip(c[None, :], a[:, None], b[:, None])
    error = (n[None, :] * (c[None, :] - clipped) ** 2).sum(axis=1)
    error += n[None, :].dot(((c[None, :] >= a[:, None]) & (c[None, :] <= b[:, None])).T).ravel() * step**2 / 12
    best = int(np.flatnonzero(error <= error.min() * (1 + 1e-9))[-1])  # the widest of the (near-)ties
    return float(a[best]), float(b[best])


def layer_histograms(model64: Any, layers: Sequence[str], samples: Sequence[np.ndarray]) -> dict[str, Histogram]:
    """Histograms of the outputs of ``layers`` of a float64 model over ``samples`` ((1, H, W, 3) each)."""
    import keras

    probe = keras.Model(model64.inputs[0], [model64.get_layer(n).output for n in layers])
    hists = {name: Histogram() for name in layers}
    for x in samples:
        outs = probe(np.asarray(x, np.float64), training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for name, out in zip(layers, outs):
            hists[name].add(np.asarray(out))
    return hists


def clipped_layers(model: Any) -> list[str]:
    """Convolutions whose output feeds only convolutions: the tensors that get MSE ranges."""
    from mln_tf.export.equalize import _kind, layer_graph

    _, consumers = layer_graph(model)
    outputs = set(model.output_names)
    convs = {l.name for l in model.layers if _kind(l) in ("conv", "depthwise")}
    return [
        name
        for name in sorted(convs)
        if name not in outputs and consumers.get(name) and all(u in convs for u in consumers[name])
    ]


def measured_ranges(
    model: Any, samples: Sequence[np.ndarray], what: str = "the model", model64: Any = None
) -> dict[str, tuple[float, float]]:
    """Per layer (and per model output name): the int8 range of its output, from float64 runs;
    ``what`` names the model in the log line; ``model64``: its float64 copy when made already."""
    import keras

    from mln_tf.export.models import float64_model

    model64 = model64 if model64 is not None else float64_model(model)
    clipped = set(clipped_layers(model))
    names = [l.name for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    hists = layer_histograms(model64, names, samples)
    ranges = {name: (mse_range(h) if name in clipped else minmax_range(h)) for name, h in hists.items()}
    log.info("activation ranges of %s, in float64: %d layers, %d clipped by MSE", what, len(ranges), len(clipped))
    return ranges


def apply_ranges(
    calibrated: bytes, ranges: dict[str, tuple[float, float]], layer_of: Callable[[str], str | None]
) -> bytes:
    """The calibrated model with the min/max of every tensor that belongs to a layer in ``ranges``.

    A tensor belongs to the layer :func:`layer_of` names; the signature's outputs (named like the
    model's outputs) to the layer of that name. Tensors of no known layer (the input) keep the
    calibrator's range, which for the input is the exact range of ``preprocess``.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    by_index = {}
    for signature in model.signatureDefs or []:
        for tensor_map in signature.outputs or []:
            by_index[tensor_map.tensorIndex] = tensor_map.name.decode()
    changed = 0
    for index, tensor in enumerate(model.subgraphs[0].tensors):
        q = tensor.quantization
        if q is None or q.min is None or not len(q.min):
            continue
        layer = by_index.get(index) or layer_of(tensor.name.decode())
        if layer not in ranges:
            continue
        lo, hi = ranges[layer]
        if hi - lo <= 0.0:
            continue  # an all-zero tensor: the calibrator's range is as good as any
        q.min, q.max = np.array([lo], np.float32), np.array([hi], np.float32)
        changed += 1
    log.debug("activation ranges set on %d tensors", changed)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
