"""SavedModel for serving: uint8 RGB images in, refined heatmaps and PAFs out.

    mln-pose export savedmodel runs/train/model.keras exported/mln_savedmodel
    mln-pose export savedmodel model.weights.h5 out/ --width tiny --input 368x432

The SavedModel (``keras.export.ExportArchive``) is float32 (a ``mixed_float16`` model is
rebuilt in float32 with the same weights) and has one signature, ``serving_default``:

* input ``image``: uint8 RGB, shape (N, H, W, 3); H and W must be multiples of 8 (the
  network's stride). Letterbox/pad with ``mln_tf.inference.preprocess`` (padding grey,
  pixel 128) or pass ``--input HxW`` to export a fixed size.
* outputs ``heatmaps`` float32 (N, H/8, W/8, 19) and ``pafs`` float32 (N, H/8, W/8, 38),
  the refined maps of the last stage.

Normalisation (pixel / 256 - 0.5, ``mln_tf.inference.normalize``) happens inside the graph,
so a client sends plain pixels. The folder loads with ``tf.saved_model.load`` in a process
that imports only TensorFlow and serves as is with TF Serving (see docs/export.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SIGNATURE = "serving_default"
INPUT_NAME = "image"
STRIDE = 8


def write_archive(
    model: Any,
    path: str | Path,
    input_hw: tuple[int, int] | None = None,
    batch: int | None = None,
    pixels: str = "uint8",
) -> Path:
    """Write ``model`` as a SavedModel whose ``serving_default`` returns ``heatmaps`` and ``pafs``.

    ``pixels='uint8'``: the input is uint8 RGB and normalised in the graph (serving).
    ``pixels='normalized'``: the input is already float32 pixel/256 - 0.5 (what the TFLite
    converter reads, so the .tflite takes ``preprocess`` output). Not atomic: see
    :func:`export_saved_model`.
    """
    import keras
    import tensorflow as tf

    from mln_tf.inference import normalize

    if pixels not in ("uint8", "normalized"):
        raise ValueError(f"pixels must be 'uint8' or 'normalized', got {pixels!r}")
    h, w = input_hw if input_hw is not None else (None, None)
    dtype = tf.uint8 if pixels == "uint8" else tf.float32
    spec = tf.TensorSpec([batch, h, w, 3], dtype, name=INPUT_NAME)

    def serve(image):
        # Signatures do not check shapes at run time (a rank-3 image would abort the server
        # inside the convolution): EnsureShape and the stride assertion do.
        image = tf.ensure_shape(image, spec.shape)
        if input_hw is None:
            tf.debugging.assert_equal(
                tf.math.floormod(tf.shape(image)[1:3], STRIDE),
                0,
                message=f"image height and width must be multiples of {STRIDE} (pad with mln_tf.inference.preprocess)",
            )
        x = normalize(tf.cast(image, tf.float32)) if pixels == "uint8" else image
        out = model(x, training=False)
        return {"heatmaps": out["heatmaps"], "pafs": out["pafs"]}

    archive = keras.export.ExportArchive()
    # No archive.track(model): the endpoint already tracks the variables it uses, and
    # tracking the model as well stores every weight twice (Keras 3.15 keeps the Keras
    # variables and the endpoint's tf.Variables as separate checkpoint entries).
    archive.add_endpoint(SIGNATURE, tf.function(serve), input_signature=[spec])
    archive.write_out(str(path), verbose=False)
    return Path(path)


def export_saved_model(
    model: Any, path: str | Path, input_hw: tuple[int, int] | None = None, overwrite: bool = False
) -> Path:
    """Export a Keras pose model as a float32 serving SavedModel at ``path`` (written atomically)."""
    from mln_tf.export.models import check_pose_model, float32_model, with_input_size
    from mln_tf.files import write_dir_atomic
    from mln_tf.model import check_input_hw

    check_pose_model(model)
    if input_hw is not None:
        input_hw = check_input_hw(input_hw)
    model = with_input_size(float32_model(model), input_hw)
    return write_dir_atomic(path, lambda tmp: write_archive(model, tmp, input_hw), overwrite=overwrite)


def verify(model: Any, path: str | Path, input_hw: tuple[int, int] = (64, 96), seed: int = 0) -> float:
    """Max |maps difference| between the Keras model and the exported SavedModel on random pixels."""
    from mln_tf.inference import probe_input
    from mln_tf.runners import keras_runner, load_runner

    x = probe_input(input_hw, seed)
    a = keras_runner(model)(x)
    b = load_runner(path)(x)
    return float(max(np.abs(a[0] - b[0]).max(), np.abs(a[1] - b[1]).max()))


def signature_summary(path: str | Path) -> list[tuple[str, str, str, str]]:
    """(kind, name, dtype, shape) of the ``serving_default`` inputs and outputs."""
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures[SIGNATURE]
    rows = []
    for name, spec in fn.structured_input_signature[1].items():
        rows.append(("input", name, spec.dtype.name, str(tuple(spec.shape.as_list()))))
    for name, spec in fn.structured_outputs.items():
        rows.append(("output", name, spec.dtype.name, str(tuple(spec.shape.as_list()))))
    return rows
