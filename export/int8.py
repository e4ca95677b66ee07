"""Full-integer conversion that keeps accuracy: calibrate once, quantize, find and float the worst layers.

``quantize_model`` does what ``export.tflite --mode int8`` needs after range equalisation
(:mod:`export.equalize`):

1. the converter calibrates once on the representative images (a float model carrying the
   measured activation ranges);
2. that model is quantized to int8, optionally leaving some layers in float (selective
   quantization: TFLite puts QUANTIZE/DEQUANTIZE around them);
3. :func:`layer_errors` runs the float and the int8 model side by side on a few images and
   measures every layer's output error relative to its float signal, and how much error the
   layer *adds* (its error minus its inputs' error);
4. while the int8 model disagrees with the float model about people (agreement or mean OKS
   below ``target``) and fewer than ``max_float`` layers are float, the layer adding the most
   error (with its depthwise partner, since a float pointwise conv fed by an int8 depthwise
   output keeps that output's coarse scale) is kept in float and step 2 repeats.

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

log = logging.getLogger(__name__)
DEFAULT_MAX_FLOAT = 8
DEFAULT_TARGET = 0.95  # people agreement and mean OKS vs float at which the search stops


@dataclass(frozen=True)
class LayerError:
    """One layer of the int8 model against float: relative RMS error of its output, error it adds."""

    layer: str
    error: float  # RMS(int8 - float) / std(float) of the layer's output
    added: float  # error minus the largest error of its inputs


@dataclass(frozen=True)
class Agreement:
    """People found by the int8 model vs the float model on the calibration images."""

    people_float: int
    people_int8: int
    matched: int
    agreement: float  # matched / sum(max(people of either)) (0 when the float model finds nobody)
    mean_oks: float  # of the matched pairs (0 when none)
    max_map_error: float
    mean_map_error: float

    def ok(self, floor: float) -> bool:
        """Both agreement and mean OKS at least ``floor``, and the float model found people."""
        return self.people_float > 0 and self.agreement >= floor and self.mean_oks >= floor


@dataclass
class Int8Result:
    """The chosen int8 model, its float layers, and how it compares with float."""

    data: bytes
    float_layers: list[str]
    agreement: Agreement
    worst: list[LayerError] = field(default_factory=list)
    history: list[tuple[list[str], Agreement]] = field(default_factory=list)


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
        return converter.convert()


def quantize(calibrated: bytes, float_layers: Sequence[str] = ()) -> bytes:
    """int8 model from a calibrated one, leaving the ops of ``float_layers`` (Keras layer names) in float."""
    from tensorflow.lite.python import convert

    nodes = layer_tensors(calibrated, float_layers) if float_layers else None
    return convert.mlir_quantize(calibrated, disable_per_channel=False, fully_quantize=False,
                                 enable_numeric_verify=False, denylisted_ops=None, denylisted_nodes=nodes)


_KERAS_LAYERS: set[str] = set()  # names of the model being quantized (see quantize_model)


def _layer_of(tensor_name: str) -> str | None:
    """The Keras layer a TFLite tensor belongs to ('.../MConv_Stage1_L2_4_pointwise_1/Relu;...');
    the '_N' suffix Keras adds to the name scopes of a cloned model is dropped."""
    first = tensor_name.split(";")[0]
    parts = first.split("/")
    if len(parts) < 2:
        return None
    scope = parts[-2]
    if _KERAS_LAYERS and scope not in _KERAS_LAYERS:
        stripped = re.sub(r"_\d+$", "", scope)
        if stripped in _KERAS_LAYERS:
            return stripped
    return scope


def layer_tensors(model: bytes, layers: Sequence[str]) -> list[str]:
    """Names of the tensors of ``model`` that belong to the Keras ``layers``."""
    from ai_edge_litert.interpreter import Interpreter

    wanted = set(layers)
    names = [d["name"] for d in Interpreter(model_content=model).get_tensor_details()]
    found = [n for n in names if _layer_of(n) in wanted]
    missing = wanted - {_layer_of(n) for n in found}
    if missing:
        raise ValueError(f"layers not found in the converted model: {', '.join(sorted(missing))}")
    return found


def _all_tensors(model: bytes, x: np.ndarray) -> tuple[dict[str, np.ndarray], list[dict], dict[int, str]]:
    """Every 4-D activation of ``model`` on ``x`` (dequantized) by name, its ops, tensor names by index."""
    from ai_edge_litert.interpreter import Interpreter

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


def layer_errors(calibrated: bytes, quantized: bytes, samples: Sequence[np.ndarray]) -> list[LayerError]:
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
            layer = _layer_of(outs[0])
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


def agreement(reference: Sequence[tuple[np.ndarray, np.ndarray]], maps: Sequence[tuple[np.ndarray, np.ndarray]],
              input_hw: tuple[int, int]) -> Agreement:
    """People of ``maps`` vs ``reference`` (one (heatmaps, pafs) pair per image, batch of 1), in input pixels."""
    from export.check_tflite import match_people
    from mln_tf.inference import Transform, postprocess

    transform = Transform.from_resize(input_hw, input_hw)
    n_ref = n_got = matched = total = 0
    oks: list[float] = []
    max_err, mean_errs = 0.0, []
    for (hr, pr), (hq, pq) in zip(reference, maps):
        diff = np.concatenate([np.abs(hq - hr).ravel(), np.abs(pq - pr).ravel()])
        max_err = max(max_err, float(diff.max()))
        mean_errs.append(float(diff.mean()))
        people_r = postprocess(hr[0], pr[0], transform)
        people_q = postprocess(hq[0], pq[0], transform)
        pairs = match_people(people_r, people_q, input_hw)
        n_ref += len(people_r)
        n_got += len(people_q)
        matched += len(pairs)
        total += max(len(people_r), len(people_q))
        oks.extend(p[2] for p in pairs)
    return Agreement(n_ref, n_got, matched, matched / total if total else 0.0,
                     float(np.mean(oks)) if oks else 0.0, max_err, float(np.mean(mean_errs)) if mean_errs else 0.0)


def tflite_maps(data: bytes, samples: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(heatmaps, pafs) of a .tflite (our signature) on each sample."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data)
    run = it.get_signature_runner("serving_default")
    out = []
    for x in samples:
        o = run(image=np.asarray(x, np.float32))
        out.append((o["heatmaps"], o["pafs"]))
    return out


def partner(layer: str, layers: Sequence[str]) -> list[str]:
    """``layer`` and the other half of its depthwise-separable pair, when the model names them so."""
    for a, b in (("_pointwise", "_depthwise"), ("_depthwise", "_pointwise")):
        if layer.endswith(a):
            other = layer[: -len(a)] + b
            return [layer, other] if other in layers else [layer]
    return [layer]


def quantize_model(calibrated: bytes, samples: Sequence[np.ndarray],
                   reference: Sequence[tuple[np.ndarray, np.ndarray]], input_hw: tuple[int, int],
                   float_layers: Sequence[str] | str = "auto", max_float: int = DEFAULT_MAX_FLOAT,
                   target: float = DEFAULT_TARGET, probe: int = 4, candidates: int = 8,
                   layer_names: Sequence[str] = (),
                   progress: Callable[[str], None] | None = None) -> Int8Result:
    """int8 model of ``calibrated``; ``float_layers`` a list of layer names/regexes, or 'auto' (the search).

    ``layer_names``: the Keras model's layer names (TFLite name scopes may carry a '_N' suffix).
    Each search round tries the ``candidates`` layers adding the most error, each (with its
    depthwise partner) in float, and keeps the one that brings the maps closest to float on
    ``probe`` images.
    """
    say = progress or (lambda msg: log.info(msg))
    _KERAS_LAYERS.clear()
    _KERAS_LAYERS.update(layer_names)
    known = sorted({l for l in (_layer_of(n) for n in _tensor_names(calibrated)) if l})
    if isinstance(float_layers, str) and float_layers == "auto":
        chosen: list[str] = []
        auto = True
    else:
        chosen = [l for pattern in float_layers for l in known if re.fullmatch(pattern, l)]
        unknown = [p for p in float_layers if not any(re.fullmatch(p, l) for l in known)]
        if unknown:
            raise ValueError(f"--float-layers {', '.join(unknown)} match no layer of the model "
                             f"(layers are named like {', '.join(known[:3])}, ...)")
        auto = False
    history = []
    while True:
        data = quantize(calibrated, chosen)
        agree = agreement(reference, tflite_maps(data, samples), input_hw)
        history.append((list(chosen), agree))
        say(f"int8 with {len(chosen)} float layers: people agreement {agree.agreement:.3f}, "
            f"mean OKS {agree.mean_oks:.3f}, mean map error {agree.mean_map_error:.4f}")
        if not auto or agree.ok(target) or len(chosen) >= max_float:
            break
        if agree.people_float == 0:
            say("the float model finds nobody on the calibration images: no basis to choose float layers")
            break
        worst = [e for e in layer_errors(calibrated, data, samples[:2]) if e.layer not in chosen]
        units: list[list[str]] = []
        for e in worst:
            unit = [l for l in partner(e.layer, known) if l not in chosen]
            if unit and sorted(unit) not in [sorted(u) for u in units]:
                units.append(unit)
            if len(units) >= candidates:
                break
        if not units:
            break
        tried = []
        for unit in units:
            maps = tflite_maps(quantize(calibrated, chosen + unit), samples[:probe])
            err = float(np.mean([np.abs(a[0] - b[0]).mean() + np.abs(a[1] - b[1]).mean()
                                 for a, b in zip(maps, reference[:probe])]))
            tried.append((err, unit))
        err, unit = min(tried, key=lambda t: t[0])
        say(f"keeping {', '.join(unit)} in float (mean map error on {probe} images {err:.4f}; "
            f"tried {len(tried)} candidates)")
        chosen += unit
    if auto and len(history) > 1:
        best = max(range(len(history)), key=lambda i: (min(history[i][1].agreement, history[i][1].mean_oks),
                                                        -len(history[i][0])))
        if history[best][0] != chosen:
            chosen = history[best][0]
            data = quantize(calibrated, chosen)
            agree = history[best][1]
    worst = layer_errors(calibrated, data, samples[:probe])
    return Int8Result(data, chosen, agree, worst[:8], history)


def _tensor_names(model: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    return [d["name"] for d in Interpreter(model_content=model).get_tensor_details()]
