"""Masked sum-of-squares losses of paper eq. 3-4, for ``model.compile``.

The loss mask W(p) travels inside ``y_true``: targets for an output with C channels are
packed as (N, h, w, C + 1), the last channel being W(p) (:func:`pack_targets`). A plain
(N, h, w, C) ``y_true`` means W = 1 everywhere. Packing keeps the loss a pure function of
(y_true, y_pred), so it works unchanged with dict or list outputs (QAT renames outputs),
``mixed_float16`` (it computes in float32) and ``tf.distribute``.

Normalisation: per image the loss is ``scale * sum_p sum_c W(p) (pred - target)^2``
(eq. 3-4 summed over pixels and channels), averaged over the batch. Keras divides the
per-replica mean by the number of replicas, so with equal per-replica batches the
gradient is that of the mean over the *global* batch, whatever the strategy. ``scale``
defaults to 1/2, the factor of Caffe's EuclideanLoss that the paper's implementation
(CMU's Caffe prototxt) trains with, so its learning rate 6e-5 carries over unchanged.
"""

from __future__ import annotations

import keras
from keras import ops

from mln_tf.targets import pack_targets  # noqa: F401  (its home was here)

CAFFE_SCALE = 0.5


@keras.saving.register_keras_serializable(package="mln_tf")
class MaskedSumSquares(keras.losses.Loss):
    """Eq. 3-4: W(p)-masked sum of squared errors per image, mean over the batch."""

    def __init__(self, scale: float = CAFFE_SCALE, name: str = "masked_sum_squares", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.scale = float(scale)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        channels = y_pred.shape[-1]
        if y_true.shape[-1] == channels + 1:
            target, mask = y_true[..., :channels], y_true[..., channels:]
        elif y_true.shape[-1] == channels:
            target, mask = y_true, ops.ones_like(y_true[..., :1])
        else:
            raise ValueError(
                f"targets have {y_true.shape[-1]} channels; expected {channels} (no mask) or "
                f"{channels + 1} (targets + W(p) mask, see mln_tf.losses.pack_targets)"
            )
        per_image = ops.sum(mask * ops.square(y_pred - target), axis=(1, 2, 3))
        return self.scale * per_image

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}


def pose_losses(output_names, scale: float = CAFFE_SCALE) -> dict:
    """One :class:`MaskedSumSquares` per model output (intermediate supervision on all)."""
    return {name: MaskedSumSquares(scale=scale, name=f"{name}_loss") for name in output_names}
