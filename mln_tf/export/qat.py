"""Quantization-aware training (tfmot) and full-integer conversion, in a process of its own.

tfmot 0.8 only wraps legacy ``tf_keras`` models, and ``TF_USE_LEGACY_KERAS=1`` must be set
before TensorFlow is imported, so ``mln-pose export tflite --mode qat`` runs this module as a child
process (``python -m mln_tf.export.qat JOB_DIR``) after writing into JOB_DIR:

* ``model.weights.h5``: the float32 Keras 3 weights (layer names are shared, so the same
  architecture built with ``build_mln(..., keras_module=tf_keras)`` loads them);
* ``probe.npz``: one input and the Keras 3 model's maps on it (the child checks that the
  rebuilt tf_keras model reproduces them before training);
* ``job.json``: :class:`QATConfig` and the input size.

The child builds the tf_keras model, wraps it with tfmot's default 8-bit scheme
(fake-quantised int8 weights and activations) except ``QATConfig.float_layers``, fine-tunes it
for ``steps`` steps with the losses of ``mln_tf.losses`` on every output (eq. 3-4), and
converts it with float32 input/output to ``model.tflite``; a failure is written to
``error.txt`` for the parent.

Where it starts matters. With calibration photos, ``mln-pose export tflite --mode qat`` first makes the
post-training int8 model and starts QAT from its range-equalised weights (before bias
correction, which made QAT worse) and its float layers; the child then fixes two tfmot
defaults that made QAT on the pretrained network useless (AP 0.000 after 150 steps):

* every activation range starts at tfmot's [-6, 6] and moves by an EMA of decay 0.999, i.e.
  over thousands of steps: :func:`init_ranges` sets each one to the float model's min/max on
  ``range_images`` photos, as TFLite's calibration does;
* tfmot's "per-axis" depthwise weights take the kernel's last axis, of size 1: one scale for
  all channels, which equalised kernels cannot take; ``DepthwisePerChannel`` quantizes each
  channel, as the converter does.

The fake-quant model then starts near the post-training int8 one (AP val 0.44 / train 0.21
at 368x432 before any step, post-training 0.50 / 0.20 without bias correction) and 240 steps of
batch 4 at 1e-5 take it to val 0.535 / train 0.213 against fp32's 0.482 / 0.223.

Two ways to get targets:

* **self-distillation** (``QATConfig.images``, a folder of photos; ``mln-pose export tflite --mode qat
  --calibration FOLDER`` without ``--train-json``): the float model's own maps on the photos
  and their mirror images are the targets, for every output, so no keypoint annotations are
  needed and the quantized model learns to reproduce the float one (:func:`distill_dataset`);
* **labelled** (``train_json``/``train_images`` or ``dataset``): rendered COCO targets with
  their loss masks, as in training (below).

Training data, the one interface: ``QATConfig.dataset`` names a function
``"module:function"`` called in the child as ``function(qat, input_hw, output_names)``; it
returns a ``tf.data.Dataset`` of at least ``qat.steps`` batches of ``(x, targets)``, ``x``
float32 (B, H, W, 3) = pixel/256 - 0.5 and ``targets`` a dict {output name: (B, H/8, W/8,
C + 1) float32}, the maps packed with their loss mask W(p) (``mln_tf.losses.pack_targets``),
one entry per name in ``output_names`` (the model's outputs: ``det_*``/``stage*`` and the
final ``heatmaps``/``pafs``). The default, :func:`coco_dataset`, is the training pipeline
``mln_tf.data.training_dataset`` on the COCO set of ``train_json``/``train_images`` with the
paper's augmentation; pass another function to fine-tune on your own data.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

PROBE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class QATConfig:
    """How to fine-tune: data, architecture of the weights, steps, batch, SGD learning rate."""

    train_json: str | None = None
    train_images: str | None = None
    images: str | None = None  # self-distillation: a folder of photos, no annotations (see distill_dataset)
    arch: str = "mln"
    width: str = "paper"  # the named width of mln_tf.model (what --width names)
    steps: int = 2000
    batch_size: int = 8
    learning_rate: float = 1e-5
    momentum: float = 0.9
    seed: int = 0
    verbose: int = 2  # Keras fit verbosity in the child (2: one line per epoch)
    dataset: str | None = None  # "module:function" giving the training batches; None: COCO (coco_dataset)
    float_layers: tuple[str, ...] = ()  # Keras layers left in float (not fake-quantized), as int8's choice
    range_images: int = 64  # images whose float activations give every fake-quant range before training

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"qat steps and batch size must be >= 1, got {self.steps} and {self.batch_size}")
        if self.range_images < 1:
            raise ValueError(f"qat range images must be >= 1, got {self.range_images}")
        if self.learning_rate <= 0:
            raise ValueError(f"qat learning rate must be > 0, got {self.learning_rate}")
        if self.dataset is not None and ":" not in self.dataset:
            raise ValueError(f"qat dataset must be 'module:function', got {self.dataset!r}")
        if self.images is not None:
            if not Path(self.images).is_dir():
                raise ValueError(f"QAT image folder not found: {self.images}")
        elif self.dataset is None:
            if not self.train_json or not self.train_images:
                raise ValueError("qat on COCO needs the training annotations and images (--train-json, --train-images)")
            if not Path(self.train_json).is_file():
                raise ValueError(f"training annotation file not found: {self.train_json}")
            if not Path(self.train_images).is_dir():
                raise ValueError(f"training image folder not found: {self.train_images}")


def run_qat(model: Any, input_hw: tuple[int, int], qat: QATConfig, timeout: float | None = None) -> bytes:
    """Fine-tune ``model`` (Keras 3) with QAT in a child process; returns the int8 .tflite bytes."""
    from mln_tf import model as m
    from mln_tf.export.models import check_pose_model, float32_model, with_input_size
    from mln_tf.inference import probe_input
    from mln_tf.runners import keras_runner

    check_pose_model(model)
    input_hw = m.check_input_hw(input_hw)
    missing = [name for name in ("tf_keras", "tensorflow_model_optimization") if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(
            f"--mode qat needs {' and '.join(missing)}: pip install 'mln_tf[qat]' "
            "(tf-keras and tensorflow-model-optimization, pinned in requirements.txt)"
        )
    needed = [] if qat.images or qat.dataset is None else [qat.dataset.partition(":")[0]]
    for module in needed:  # fail here rather than in a child process a minute later
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise ValueError(f"QAT data module {module!r} not found")
    model = float32_model(model)
    expected = m.build(qat.arch, qat.width)
    if _weight_shapes(expected) != _weight_shapes(model):
        raise ValueError(
            f"the model is not the {qat.arch} architecture at width '{qat.width}': "
            "QAT rebuilds it from the architecture and width a .keras model records, or from "
            "--arch/--width for .weights.h5: pass the ones it was trained with"
        )
    with tempfile.TemporaryDirectory(prefix="mln_qat_") as tmp:
        job = Path(tmp)
        model.save_weights(job / "model.weights.h5")
        x = probe_input(input_hw, qat.seed)
        heatmaps, pafs = keras_runner(with_input_size(model, input_hw))(x)
        np.savez(job / "probe.npz", x=x, heatmaps=heatmaps, pafs=pafs)
        (job / "job.json").write_text(json.dumps({"qat": asdict(qat), "input_hw": list(input_hw)}))
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
        root = str(Path(__file__).resolve().parents[2])  # where the mln_tf package lives
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
        try:
            proc = subprocess.run([sys.executable, "-m", "mln_tf.export.qat", str(job)], env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ValueError(f"QAT process did not finish within {timeout} s") from None
        error = job / "error.txt"
        if proc.returncode != 0 or not (job / "model.tflite").is_file():
            detail = error.read_text().strip() if error.is_file() else f"exit status {proc.returncode}"
            raise ValueError(f"QAT failed: {detail}")
        return (job / "model.tflite").read_bytes()


def _weight_shapes(model: Any) -> dict[str, list[tuple]]:
    return {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers if layer.weights}


# ---- everything below runs in the child process (tf_keras) ----


def build_legacy_model(arch: str, width: str, input_hw: tuple[int, int], weights: str | Path):
    """The architecture built with tf_keras at a fixed input size, with the Keras 3 weights loaded."""
    import tf_keras

    from mln_tf import model as m

    net = m.build(arch, width, input_hw, keras_module=tf_keras)
    net.load_weights(str(weights))
    return net


def coco_dataset(qat: QATConfig, input_hw: tuple[int, int], output_names: list[str]):
    """The default QAT data: ``mln_tf.data.training_dataset`` on ``train_json``/``train_images``."""
    try:
        from mln_tf.data import CocoKeypoints, DataConfig, training_dataset
    except ImportError as exc:
        raise ValueError(
            f"QAT on COCO needs the training pipeline mln_tf.data ({exc}); "
            "or pass your own batches with --qat-data module:function"
        ) from exc
    source = CocoKeypoints(qat.train_json, qat.train_images)
    return training_dataset(
        source,
        DataConfig(input_hw=tuple(input_hw)),
        output_names,
        batch_size=qat.batch_size,
        seed=qat.seed,
        steps=qat.steps,
    )


def distill_images(qat: QATConfig, input_hw: tuple[int, int]) -> np.ndarray:
    """The photos of ``qat.images`` and their mirror images through ``preprocess``, (N, H, W, 3)."""
    from mln_tf.files import collect_files
    from mln_tf.images import BadFiles, iter_images
    from mln_tf.inference import preprocess

    xs = []
    for _, image in iter_images(collect_files([qat.images]), BadFiles()):  # unreadable: skipped with a warning
        x, _ = preprocess(image, input_hw=tuple(input_hw))
        xs += [x, x[:, ::-1]]
    if not xs:
        raise ValueError(f"no readable images in {qat.images}")
    return np.stack(xs).astype(np.float32)


def distill_dataset(net: Any, qat: QATConfig, x: np.ndarray, output_names: list[str]):
    """Self-distillation batches: images ``x`` (:func:`distill_images`) with the float model's
    own maps on them as targets, for every output; no annotations needed."""
    import tensorflow as tf

    maps = net.predict(x, batch_size=2, verbose=0)
    targets = {name: np.asarray(maps[name], np.float32) for name in output_names}
    print(f"QAT: self-distillation on {len(x)} images ({len(x) // 2} photos and their mirror images)", flush=True)
    data = tf.data.Dataset.from_tensor_slices((x, targets)).shuffle(len(x), seed=qat.seed)
    return data.repeat().batch(qat.batch_size, drop_remainder=len(x) >= qat.batch_size)


def quantize_for_training(net: Any, float_layers: Sequence[str] = ()):
    """tfmot's default 8-bit QAT wrapping; layers it does not know (Rescaling) only get their
    output fake-quantized; ``float_layers`` are left unwrapped (float in the .tflite)."""
    import tensorflow_model_optimization as tfmot
    import tf_keras

    qk = tfmot.quantization.keras

    class OutputOnly(qk.QuantizeConfig):
        """No weights; the output quantized per tensor, as every other activation."""

        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [
                qk.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)
            ]

        def get_config(self):
            return {}

    unknown = set(float_layers) - {layer.name for layer in net.layers}
    if unknown:
        raise ValueError(f"QAT float layers not in the model: {', '.join(sorted(unknown))}")

    class DepthwisePerChannel(qk.quantizers.Quantizer):
        """Symmetric int8 per input channel of a depthwise kernel (kh, kw, C, 1), as TFLite's converter
        quantizes it. tfmot's own per-axis quantizer takes the last axis, of size 1 here: one scale for
        all channels, which the equalised kernels (channel scales up to 1e3 apart) cannot take."""

        def build(self, tensor_shape, name, layer):
            return {}

        def __call__(self, inputs, training, weights, **kwargs):
            import tensorflow as tf

            kh, kw, c, m = inputs.shape
            flat = tf.reshape(inputs, (kh, kw, 1, c * m))  # same element order: channels last
            bound = tf.maximum(tf.reduce_max(tf.abs(flat), axis=(0, 1, 2)), 1e-12)
            quantized = tf.quantization.fake_quant_with_min_max_vars_per_channel(
                flat, -bound, bound, num_bits=8, narrow_range=True
            )
            return tf.reshape(quantized, (kh, kw, c, m))

        def get_config(self):
            return {}

    class DepthwiseConfig(OutputOnly):
        """tfmot's depthwise scheme (activation quantized after the op) with per-channel weights."""

        def get_weights_and_quantizers(self, layer):
            return [(layer.depthwise_kernel, DepthwisePerChannel())]

        def get_activations_and_quantizers(self, layer):
            return [
                (
                    layer.activation,
                    qk.quantizers.MovingAverageQuantizer(
                        num_bits=8, per_axis=False, symmetric=False, narrow_range=False
                    ),
                )
            ]

        def set_quantize_weights(self, layer, quantize_weights):
            layer.depthwise_kernel = quantize_weights[0]

        def set_quantize_activations(self, layer, quantize_activations):
            layer.activation = quantize_activations[0]

        def get_output_quantizers(self, layer):
            return []

    def annotate(layer):
        if layer.name in float_layers:
            return layer
        if isinstance(layer, tf_keras.layers.Rescaling):
            return qk.quantize_annotate_layer(layer, quantize_config=OutputOnly())
        if isinstance(layer, tf_keras.layers.DepthwiseConv2D):
            return qk.quantize_annotate_layer(layer, quantize_config=DepthwiseConfig())
        return qk.quantize_annotate_layer(layer)

    annotated = tf_keras.models.clone_model(net, clone_function=annotate)
    annotated.set_weights(net.get_weights())
    with qk.quantize_scope({"OutputOnly": OutputOnly, "DepthwiseConfig": DepthwiseConfig}):
        return qk.quantize_apply(annotated)


def activation_ranges(net: Any, x: np.ndarray, batch: int = 2) -> dict[str, tuple[float, float]]:
    """Per layer of the float model (and 'input'): min and max of its output over the images ``x``."""
    import tf_keras

    layers = [layer for layer in net.layers if not isinstance(layer, tf_keras.layers.InputLayer)]
    probe = tf_keras.Model(net.inputs[0], [layer.output for layer in layers])
    ranges = {"input": (float(x.min()), float(x.max()))}
    for i in range(0, len(x), batch):
        outs = probe(x[i : i + batch], training=False)
        for layer, out in zip(layers, outs):
            out = np.asarray(out)
            lo, hi = ranges.get(layer.name, (np.inf, -np.inf))
            ranges[layer.name] = (min(lo, float(out.min())), max(hi, float(out.max())))
    return ranges


def init_ranges(qmodel: Any, ranges: dict[str, tuple[float, float]]) -> int:
    """Set every activation fake-quant range of ``qmodel`` to the float model's measured ``ranges``.

    tfmot starts each range at [-6, 6] and moves it by an EMA of decay 0.999, so for the first
    thousand steps an activation spanning 0..1 gets a handful of levels: the model starts far
    worse than post-training int8 calibrated on the same images (AP 0 here after 150 steps).
    Measured ranges (what TFLite's calibration records) start it where post-training int8 is.
    Returns the number of ranges set.
    """
    done = 0
    for layer in qmodel.layers:
        name = "input" if layer.name == "quantize_layer" else layer.name.removeprefix("quant_")
        if name not in ranges:
            continue
        lo, hi = ranges[name]
        lo, hi = min(lo, 0.0), max(hi, 0.0)  # an int8 range always holds zero
        if hi - lo < 1e-6:
            hi = lo + 1e-6
        for var in layer.non_trainable_variables:
            short = var.name.split("/")[-1].split(":")[0]
            if "kernel" in short:
                continue  # weight ranges follow the weights at every step
            if short.endswith("_min"):
                var.assign(lo)
                done += 1
            elif short.endswith("_max"):
                var.assign(hi)
    return done


def qat_dataset(qat: QATConfig, input_hw: tuple[int, int], output_names: list[str]):
    """The batches of ``qat.dataset`` (see the module docstring for the contract)."""
    if qat.dataset is None:
        return coco_dataset(qat, tuple(input_hw), list(output_names))
    module, _, name = qat.dataset.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot find the QAT dataset function {qat.dataset!r}: {exc}") from exc
    return fn(qat, tuple(input_hw), list(output_names))


def fine_tune(qmodel: Any, dataset: Any, qat: QATConfig) -> dict[str, float]:
    """QAT fine-tuning with eq. 3-4 on every output; returns the last step's losses; a NaN loss is an error."""
    import tf_keras

    from mln_tf.losses import MaskedSumSquares

    # The quantized model keeps dict outputs but renames its output layers (quant_*), so the
    # losses go as a list (one per output, all the same function). tf_keras reduces the
    # per-image values of MaskedSumSquares.call to the batch mean, as Keras 3 does.
    loss = MaskedSumSquares()
    if qat.images:
        # Self-distillation starts from the float weights with 8-bit fake quantization, whose
        # first errors are large: Adam with clipped gradients (SGD with momentum diverges here).
        optimizer = tf_keras.optimizers.Adam(qat.learning_rate, clipnorm=1.0)
    else:
        optimizer = tf_keras.optimizers.SGD(qat.learning_rate, momentum=qat.momentum)
    qmodel.compile(optimizer=optimizer, loss=[loss.call] * len(qmodel.outputs))
    epochs = max(1, min(10, qat.steps // 20))  # a line per epoch: progress on long runs
    steps = [qat.steps // epochs + (1 if i < qat.steps % epochs else 0) for i in range(epochs)]
    history = (
        qmodel.fit(
            dataset,
            epochs=epochs,
            steps_per_epoch=steps[0],
            verbose=qat.verbose,
            callbacks=[tf_keras.callbacks.TerminateOnNaN()],
        )
        if len(set(steps)) == 1
        else qmodel.fit(
            dataset,
            epochs=1,
            steps_per_epoch=qat.steps,
            verbose=qat.verbose,
            callbacks=[tf_keras.callbacks.TerminateOnNaN()],
        )
    )
    losses = {k: float(v[-1]) for k, v in history.history.items()}
    if not np.isfinite(losses.get("loss", float("nan"))):
        raise ValueError("QAT diverged (loss is NaN): lower --qat-lr")
    return losses


def convert_quantized(qmodel: Any, input_hw: tuple[int, int]) -> bytes:
    """Full-integer .tflite of a QAT model, float32 input ``image`` and outputs heatmaps/pafs."""
    import tensorflow as tf

    spec = tf.TensorSpec([1, *input_hw, 3], tf.float32, name="image")

    def serve(image):
        out = qmodel(image, training=False)
        return {"heatmaps": out["heatmaps"], "pafs": out["pafs"]}

    concrete = tf.function(serve).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], qmodel)
    # The fake-quant ranges learnt in training give every int8 scale: no calibration set.
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    from mln_tf.console import filtered_stderr

    with filtered_stderr():  # the converter's native log lines
        return converter.convert()


def _child(job: Path) -> None:
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise ValueError(
            "run through mln-pose export tflite --mode qat "
            "(TF_USE_LEGACY_KERAS=1 must be set before TensorFlow is imported)"
        )
    spec = json.loads((job / "job.json").read_text())
    qat = QATConfig(**{**spec["qat"], "float_layers": tuple(spec["qat"].get("float_layers", ()))})
    input_hw = tuple(spec["input_hw"])
    net = build_legacy_model(qat.arch, qat.width, input_hw, job / "model.weights.h5")
    probe = np.load(job / "probe.npz")
    out = net(probe["x"], training=False)
    worst = max(float(np.abs(np.asarray(out[k]) - probe[k]).max()) for k in ("heatmaps", "pafs"))
    if worst > PROBE_TOLERANCE:
        raise ValueError(f"the tf_keras rebuild does not reproduce the Keras model (max map diff {worst:.2e})")
    print(
        f"QAT: tf_keras rebuild reproduces the Keras model (max map diff {worst:.1e}); "
        f"fine-tuning {qat.steps} steps, batch {qat.batch_size}, lr {qat.learning_rate}",
        flush=True,
    )
    if qat.images:
        x = distill_images(qat, input_hw)
        dataset = distill_dataset(net, qat, x, list(net.output_names))
    else:
        dataset = qat_dataset(qat, input_hw, list(net.output_names))
        x = np.concatenate([np.asarray(b[0]) for b in dataset.take(max(1, qat.range_images // qat.batch_size))])
    qmodel = quantize_for_training(net, qat.float_layers)
    count = init_ranges(qmodel, activation_ranges(net, x[: qat.range_images]))
    print(
        f"QAT: {count} activation ranges set from the float model on {min(len(x), qat.range_images)} images; "
        f"{len(qat.float_layers)} layers stay float",
        flush=True,
    )
    losses = fine_tune(qmodel, dataset, qat)
    print(f"QAT: final loss {losses.get('loss', float('nan')):.4g}; converting", flush=True)
    data = convert_quantized(qmodel, input_hw)
    tmp = job / "model.tflite.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, job / "model.tflite")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m mln_tf.export.qat JOB_DIR (started by mln_tf.export.qat.run_qat)", file=sys.stderr)
        return 2
    job = Path(argv[0])
    try:
        _child(job)
    except Exception as exc:  # reported to the parent, which exits non-zero with it
        (job / "error.txt").write_text(f"{type(exc).__name__}: {exc}")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
