"""Will a .tflite run on the phone's GPU? ``mln-pose check gpu MODEL.tflite``.

1. Static check: every operator of the model is checked against the LiteRT/TFLite GPU
   delegate's documented operator list and the delegate's per-op constraints (table
   ``GPU_OPS`` below). Sources, as of TensorFlow/LiteRT 2.21:

   * the operator list: "GPU delegates for LiteRT", section "GPU ML operations support",
     https://ai.google.dev/edge/litert/performance/gpu (formerly
     tensorflow.org/lite/performance/gpu): ADD, AVERAGE_POOL_2D, CONCATENATION, CONV_2D,
     DEPTHWISE_CONV_2D v1-2, EXP, FULLY_CONNECTED, LOGICAL_AND, LOGISTIC, LSTM v2 (basic
     LSTM only), MAX_POOL_2D, MAXIMUM, MINIMUM, MUL, PAD, PRELU, RELU, RELU6, RESHAPE,
     RESIZE_BILINEAR v1-3, SOFTMAX, STRIDED_SLICE, SUB, TRANSPOSE_CONV, in 16- and 32-bit
     float; quantized (int8) models add QUANTIZE/DEQUANTIZE (same page, "Quantized model
     support"), and float16 weights are dequantized by DEQUANTIZE ops the delegate folds;
   * the constraints: ``CheckGpuDelegateCompatibility`` in
     tensorflow/lite/tools/versioning/gpu_compatibility.cc (what the delegate's model
     builder checks per op: runtime input counts, strides/dilations/kernels > 0, fused
     activations other than SIGN_BIT, depthwise multiplier, ADD/MUL broadcasting, no int16
     DEQUANTIZE, FULLY_CONNECTED weight format), plus the delegate's general limits: static
     shapes, tensors of at most 4 dimensions, float/int8 data, no Flex (TF Select) ops and
     only its four custom ops.

   ``tf.lite.experimental.Analyzer(gpu_compatibility=True)`` is not used: in TF 2.21 it
   reports every model compatible, Flex ops included.
2. Run check (unless ``--no-run``): the model is run with LiteRT's GPU accelerator
   (``CompiledModel``, LiteRT 2.x ships a WebGPU accelerator that needs a Vulkan/Metal/D3D
   adapter) in a child process, and its maps are compared with the CPU interpreter's. Where
   no GPU adapter can be created (no GPU, no usable software Vulkan driver) the report says
   so and why; that is not a failure unless ``--require-gpu-run``.

   The run is judged by the p99.9 |GPU - CPU| map difference over the CPU maps' range
   (``mln_tf.export.compare.map_percentile``, ``--max-p999-error``); the max is reported, and
   checked only with ``--tolerance`` (one pixel's max moves with the driver's float kernels).

Exit status: 0 compatible (and, if it ran, GPU maps within the limits of CPU maps);
1 otherwise, with the offending ops listed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from mln_tf.export.tflite_ops import OpInfo

DOC_SOURCE = "https://ai.google.dev/edge/litert/performance/gpu (GPU ML operations support)"
CODE_SOURCE = "tensorflow/lite/tools/versioning/gpu_compatibility.cc (CheckGpuDelegateCompatibility)"
GPU_CUSTOM_OPS = ("Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler")
GPU_DTYPES = ("float32", "float16", "int8", "uint8")
SIGN_BIT = 5  # schema ActivationFunctionType.SIGN_BIT
DEFAULT_MAX_P999 = 0.05  # placeholder until measured


def _runtime_inputs(op: OpInfo) -> list:
    return [t for t in op.inputs if not t.const]


def _conv(op: OpInfo) -> str | None:
    if len(_runtime_inputs(op)) > 2 or len(op.outputs) != 1:
        return "expects 1-2 runtime inputs and 1 output"
    o = op.options
    if o is not None:
        if min(o.strideH, o.strideW) <= 0 or min(o.dilationHFactor, o.dilationWFactor) <= 0:
            return "strides and dilations must be > 0"
        if o.fusedActivationFunction == SIGN_BIT:
            return "fused SIGN_BIT activation"
    return None


def _depthwise(op: OpInfo) -> str | None:
    reason = _conv(op)
    if reason or op.options is None or len(op.inputs) < 2:
        return reason
    x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        return "input, filter and output must be 4-D"
    multiplier = op.options.depthMultiplier
    if y.shape[3] != x.shape[3] * max(multiplier, 1) and multiplier > 0:
        return "output channels != input channels * depth_multiplier"
    if multiplier not in (0, 1) and x.shape[3] != 1:
        return "depth_multiplier != 1 with more than one input channel"
    # No version limit: CheckDepthwiseConvGpuDelegateCompatibility has none, and the float
    # version-3 depthwise convs that selective int8 quantization writes run fully on LiteRT's
    # GPU accelerator (tests/test_quantization.py).
    return None


def _pool(op: OpInfo) -> str | None:
    if len(_runtime_inputs(op)) != 1 or len(op.outputs) != 1:
        return "expects 1 runtime input and 1 output"
    o = op.options
    if o is not None:
        if min(o.filterHeight, o.filterWidth, o.strideH, o.strideW) <= 0:
            return "kernel and strides must be > 0"
        if o.fusedActivationFunction == SIGN_BIT:
            return "fused SIGN_BIT activation"
    return None


def _binary(op: OpInfo) -> str | None:
    if len(op.inputs) != 2:
        return f"{op.name} requires two input tensors"
    a, b = (tuple(t.shape) for t in op.inputs)
    if len(a) > 1 and len(b) > 1 and len(a) != len(b):
        long, short = (a, b) if len(a) >= len(b) else (b, a)
        ok = (
            (len(long) == 4 and len(short) == 3 and long[0] == 1)
            or (len(long) == 4 and len(short) == 2 and long[0] == 1 and short == (1, 1))
            or (len(long) == 4 and len(short) == 2 and long[0] == short[0] and long[3] == short[1])
        )
        if not ok:
            return f"unsupported broadcast {list(a)} with {list(b)}"
    return None


def _dequantize(op: OpInfo) -> str | None:
    if op.inputs and op.inputs[0].dtype == "int16":
        return "int16 dequantization"
    return None


def _fully_connected(op: OpInfo) -> str | None:
    if op.options is not None and op.options.weightsFormat != 0:
        return "non-default weights format"
    if len(_runtime_inputs(op)) > 2:
        return "more than 2 runtime inputs"
    if op.inputs and op.inputs[0].const:
        return "constant input"
    return None


def _max_version(limit: int) -> Callable[[OpInfo], str | None]:
    def check(op: OpInfo) -> str | None:
        if op.version > limit and op.inputs and op.inputs[0].dtype.startswith("float"):
            return f"version {op.version} (documented: v1-{limit})"
        return None

    return check


def _any(op: OpInfo) -> str | None:
    return None


# Documented operators -> constraint check (None = supported). QUANTIZE/DEQUANTIZE: quantized
# and float16-weight models.
GPU_OPS: dict[str, Callable[[OpInfo], str | None]] = {
    "ADD": _binary,
    "AVERAGE_POOL_2D": _pool,
    "CONCATENATION": _any,
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _depthwise,
    "EXP": _any,
    "FULLY_CONNECTED": _fully_connected,
    "LOGICAL_AND": _any,
    "LOGISTIC": _any,
    "LSTM": _max_version(2),
    "MAX_POOL_2D": _pool,
    "MAXIMUM": _any,
    "MINIMUM": _any,
    "MUL": _binary,
    "PAD": _any,
    "PRELU": _any,
    "RELU": _any,
    "RELU6": _any,
    "RESHAPE": _any,
    "RESIZE_BILINEAR": _max_version(3),
    "SOFTMAX": _any,
    "STRIDED_SLICE": _any,
    "SUB": _binary,
    "TRANSPOSE_CONV": _any,
    "QUANTIZE": _any,
    "DEQUANTIZE": _dequantize,
}


@dataclass(frozen=True)
class Problem:
    """An operator the GPU delegate would not run, and why."""

    op_index: int
    op: str
    reason: str


def _fold_float16_weights(ops: list[OpInfo]) -> list[OpInfo]:
    """Mark outputs of DEQUANTIZE(constant float16) as constants, as the delegate does when
    it takes a float16-weight model (it reads those weights directly)."""
    folded = {
        op.outputs[0].name
        for op in ops
        if op.name == "DEQUANTIZE"
        and op.inputs
        and op.inputs[0].const
        and op.inputs[0].dtype == "float16"
        and len(op.outputs) == 1
    }
    if not folded:
        return ops

    def fix(tensors):
        return tuple(replace(t, const=True) if t.name in folded else t for t in tensors)

    return [replace(op, inputs=fix(op.inputs), outputs=fix(op.outputs)) for op in ops]


def check_ops(ops: list[OpInfo]) -> list[Problem]:
    """Every reason the GPU delegate would refuse an operator (empty = fully delegable)."""
    problems = []
    for op in _fold_float16_weights(ops):
        reason = None
        if op.flex:
            reason = "Flex (TF Select) op: the GPU delegate runs only TFLite builtins"
        elif op.custom:
            if op.name not in GPU_CUSTOM_OPS:
                reason = "custom op not supported by the GPU delegate"
        elif op.name not in GPU_OPS:
            reason = "not in the GPU delegate's documented operators"
        if reason is None:
            tensors = [t for t in op.inputs + op.outputs if not t.const]
            if any(t.dynamic for t in tensors):
                reason = "dynamic tensor shape (the GPU delegate needs static shapes)"
            elif any(len(t.shape) > 4 for t in tensors):
                reason = "tensor with more than 4 dimensions"
            elif any(t.dtype not in GPU_DTYPES for t in tensors):
                reason = f"data type {sorted({t.dtype for t in tensors} - set(GPU_DTYPES))}"
            elif not op.custom:
                reason = GPU_OPS[op.name](op)
        if reason:
            problems.append(Problem(op.index, op.name, reason))
    return problems


@dataclass(frozen=True)
class GpuRun:
    """Outcome of running the model on LiteRT's GPU accelerator."""

    ran: bool
    detail: str  # why it could not run, or what ran
    max_error: float = float("nan")  # max |GPU - CPU| over both maps
    mean_error: float = float("nan")
    p999_error: float = float("nan")  # p99.9 |GPU - CPU| / the CPU maps' range (compare.map_percentile)


def run_on_accelerator(
    model_path: str | Path, x: np.ndarray, accelerator: str = "gpu", enforce_f32: bool = False
) -> dict[str, np.ndarray]:
    """Run the ``serving_default`` signature on each input of ``x`` (N, H, W, 3) with LiteRT's
    CompiledModel on one accelerator only; the maps stacked by output name.

    ``enforce_f32``: the GPU computes in float32 (LiteRT's ``GpuOptions.enforce_f32``) instead of
    its default float16 arithmetic."""
    from ai_edge_litert.compiled_model import CompiledModel, GpuOptions, HardwareAccelerator, Options

    accel = {"gpu": HardwareAccelerator.GPU, "cpu": HardwareAccelerator.CPU}[accelerator]
    if enforce_f32 and accelerator == "gpu":
        options = Options(hardware_accelerators=accel, gpu_options=GpuOptions(enforce_f32=True))
        model = CompiledModel.from_file(str(model_path), options=options)
    else:
        model = CompiledModel.from_file(str(model_path), hardware_accel=accel)
    if accelerator == "gpu" and not model.is_fully_accelerated():
        raise RuntimeError("the GPU accelerator took the model but not all of its ops")
    sig = model.get_signature_list()["serving_default"]
    (input_name,) = sig["inputs"]
    inp = model.create_input_buffer_by_name("serving_default", input_name)
    outs = {name: model.create_output_buffer_by_name("serving_default", name) for name in sig["outputs"]}
    details = model.get_output_tensor_details("serving_default")
    x = np.asarray(x, np.float32)
    results: dict[str, list[np.ndarray]] = {name: [] for name in outs}
    for i in range(len(x)):  # one compiled model (shaders compiled once) for every input
        inp.write(np.ascontiguousarray(x[i : i + 1]))
        model.run_by_name("serving_default", {input_name: inp}, outs)
        for name, buf in outs.items():
            shape = tuple(details[name]["shape"])
            results[name].append(np.asarray(buf.read(int(np.prod(shape)), np.float32)).reshape(shape))
    return {name: np.concatenate(maps) for name, maps in results.items()}


def vulkan_devices() -> list[str]:
    """The Vulkan drivers (ICD manifests) installed here, e.g. ['lvp_icd.json'] for Mesa's lavapipe."""
    folders = [Path(p) for p in os.environ.get("VK_ICD_FILENAMES", "").split(os.pathsep) if p] or [
        Path(d) / "vulkan" / "icd.d" for d in ("/usr/share", "/usr/local/share", "/etc")
    ]
    found = []
    for folder in folders:
        if folder.is_file():
            found.append(folder.name)
        elif folder.is_dir():
            found += sorted(f.name for f in folder.glob("*.json"))
    return found


def run_maps(
    model_path: str | Path,
    inputs: np.ndarray,
    accelerator: str = "gpu",
    timeout: float = 600,
    enforce_f32: bool = False,
) -> tuple[list[tuple[np.ndarray, np.ndarray]] | None, str, float]:
    """(maps per input or None, why not / what ran, seconds) of the model on one accelerator,
    in a child process (a crashing or hanging driver stays out of this one); ``enforce_f32``: see
    :func:`run_on_accelerator`."""
    import time

    inputs = np.asarray(inputs, np.float32)
    with tempfile.TemporaryDirectory(prefix="mln_gpu_") as tmp:
        np.save(Path(tmp) / "x.npy", inputs)
        cmd = [
            sys.executable,
            "-m",
            "mln_tf.export.gpu_check",
            str(Path(model_path).resolve()),
            tmp,
            accelerator,
        ] + (["f32"] if enforce_f32 else [])
        root = str(Path(__file__).resolve().parents[2])  # where the mln_tf package lives
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=root)
        except subprocess.TimeoutExpired:
            return None, f"the {accelerator.upper()} run did not finish in {timeout:.0f} s", timeout
        seconds = time.perf_counter() - start
        out = Path(tmp) / "maps.npz"
        if proc.returncode != 0 or not out.is_file():
            return None, _failure_reason(proc.stdout + proc.stderr, proc.returncode), seconds
        maps = np.load(out)
        return (
            [(maps["heatmaps"][i : i + 1], maps["pafs"][i : i + 1]) for i in range(len(inputs))],
            f"ran on LiteRT's {accelerator.upper()} accelerator" + (" (float32)" if enforce_f32 else ""),
            seconds,
        )


def try_gpu(
    model_path: str | Path, accelerator: str = "gpu", timeout: float = 300, enforce_f32: bool = False
) -> GpuRun:
    """Run the model on the accelerator in a child process and compare with the CPU interpreter.

    A child process keeps a crashing or hanging driver (and its logging) out of this one.
    """
    from mln_tf.inference import probe_input
    from mln_tf.runners import load_runner

    runner = load_runner(model_path)
    x = probe_input(runner.input_hw)
    maps, how, _ = run_maps(model_path, x, accelerator, timeout, enforce_f32)
    if maps is None:
        return GpuRun(False, how)
    ((gpu_heatmaps, gpu_pafs),) = maps
    from mln_tf.export.compare import map_difference, map_percentile

    cpu = runner(x)
    gpu = (gpu_heatmaps, gpu_pafs)
    return GpuRun(True, how, *map_difference(cpu, gpu), map_percentile(cpu, gpu))


def _failure_reason(log: str, returncode: int) -> str:
    """The GPU-related lines of a failed accelerator run (not the NPU/plugin noise or traceback)."""
    keys = ("vulkan", "adapter", "webgpu", "gpu", "not all of its ops", "opencl", "metal")
    noise = (
        "npu",
        "openvino",
        "plugin",
        "source location",
        "registered",
        "attempting to load",
        "traceback",
        "accelerator_registry",
    )
    lines = [
        line.strip()
        for line in log.splitlines()
        if any(k in line.lower() for k in keys)
        and not any(n in line.lower() for n in noise)
        and not line.strip().startswith(("INFO", "at ", "- "))
    ]
    lines = list(dict.fromkeys(lines))[:4]
    return "; ".join(lines) if lines else f"accelerator process exited with status {returncode}"


def _worker(model_path: str, folder: str, accelerator: str, enforce_f32: bool) -> int:
    x = np.load(Path(folder) / "x.npy")
    np.savez(Path(folder) / "maps.npz", **run_on_accelerator(model_path, x, accelerator, enforce_f32))
    return 0


if __name__ == "__main__":  # the child process of run_maps: MODEL FOLDER ACCELERATOR [f32]
    sys.exit(_worker(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:] == ["f32"]))
