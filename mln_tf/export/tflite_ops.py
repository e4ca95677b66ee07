"""What a .tflite file holds: its operators with their tensors and options, read from the
flatbuffer itself (no interpreter, so files with Flex or custom ops can be inspected too)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TensorInfo:
    """One tensor an operator reads or writes."""

    name: str
    dtype: str  # 'float32', 'int8', ...
    shape: tuple[int, ...]
    dynamic: bool  # some dimension is -1 in the shape signature
    const: bool  # holds weights/constants (has a data buffer)


@dataclass(frozen=True)
class OpInfo:
    """One operator: builtin name (CONV_2D) or custom code (FlexConv2D), version, tensors, options."""

    index: int
    subgraph: int
    name: str
    custom: bool
    version: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    options: Any = field(default=None, repr=False)  # schema *OptionsT object, or None

    @property
    def flex(self) -> bool:
        """A TensorFlow op carried by the Flex delegate (needs the select-TF-ops runtime)."""
        return self.custom and self.name.startswith("Flex")


def _names(cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def read_model(model: bytes | str | Path):
    """The schema's root ``Model`` table of a .tflite file or its bytes (ValueError if not one)."""
    from ai_edge_litert import schema_py_generated as schema

    data = Path(model).read_bytes() if isinstance(model, (str, Path)) else bytes(model)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(
            f"{model if isinstance(model, (str, Path)) else 'buffer'} is not a .tflite flatbuffer (no TFL3 identifier)"
        )
    return schema.Model.GetRootAs(data, 0)


def read_ops(model: bytes | str | Path) -> list[OpInfo]:
    """Every operator of every subgraph, in execution order."""
    from ai_edge_litert import schema_py_generated as schema

    root = read_model(model)
    builtin_names = _names(schema.BuiltinOperator)
    type_names = {k: v.lower() for k, v in _names(schema.TensorType).items()}
    codes = []
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        # The schema keeps small codes in the deprecated int8 field; the larger is the real one.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.CustomCode()
            codes.append(((custom or b"?").decode(), True, code.Version()))
        else:
            codes.append((builtin_names.get(builtin, f"BUILTIN_{builtin}"), False, code.Version()))

    def has_data(buffer_index: int) -> bool:
        if buffer_index <= 0 or buffer_index >= root.BuffersLength():
            return False
        buf = root.Buffers(buffer_index)
        return buf.DataLength() > 0 or buf.Offset() > 1

    ops: list[OpInfo] = []
    for s in range(root.SubgraphsLength()):
        sub = root.Subgraphs(s)
        tensors = {}

        def tensor(t: int) -> TensorInfo:
            if t not in tensors:
                ten = sub.Tensors(t)
                sig = ten.ShapeSignatureAsNumpy() if not ten.ShapeSignatureIsNone() else None
                shape = tuple(int(v) for v in ten.ShapeAsNumpy()) if not ten.ShapeIsNone() else ()
                tensors[t] = TensorInfo(
                    name=(ten.Name() or b"").decode(errors="replace"),
                    dtype=type_names.get(ten.Type(), str(ten.Type())),
                    shape=shape,
                    dynamic=bool(sig is not None and np.any(np.asarray(sig) < 0)),
                    const=has_data(ten.Buffer()),
                )
            return tensors[t]

        for j in range(sub.OperatorsLength()):
            op = sub.Operators(j)
            name, custom, version = codes[op.OpcodeIndex()]
            ins = tuple(tensor(int(t)) for t in (op.InputsAsNumpy() if not op.InputsIsNone() else []) if t >= 0)
            outs = tuple(tensor(int(t)) for t in (op.OutputsAsNumpy() if not op.OutputsIsNone() else []))
            options = schema.BuiltinOptionsCreator(op.BuiltinOptionsType(), op.BuiltinOptions())
            ops.append(OpInfo(len(ops), s, name, custom, version, ins, outs, options))
    return ops


def unsupported_ops(ops: list[OpInfo]) -> list[str]:
    """Names of Flex and custom ops (not runnable by a stock LiteRT interpreter), sorted."""
    return sorted({op.name for op in ops if op.custom})


def precision(ops: list[OpInfo]) -> str:
    """What a converted model computes in: 'int8' (full integer), 'dynamic' (int8 weights,
    float activations), 'fp16' (float16 weights), or 'fp32'."""
    compute = [op for op in ops if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")]
    if not compute:
        compute = ops
    weights = {t.dtype for op in compute for t in op.inputs[1:2] if t.const}
    activations = {t.dtype for op in compute for t in op.outputs}
    if activations & {"int8", "uint8", "int16"}:
        return "int8"
    if weights & {"int8", "uint8", "int4"}:
        return "dynamic"
    if any(op.name == "DEQUANTIZE" and op.inputs and op.inputs[0].dtype == "float16" for op in ops):
        return "fp16"
    return "fp32"


def op_summary(ops: list[OpInfo]) -> list[tuple[str, int, str]]:
    """(op, count, dtypes 'inputs -> outputs') rows, most frequent first."""
    counts = Counter()
    for op in ops:
        ins = "/".join(sorted({t.dtype for t in op.inputs if not t.const})) or "-"
        outs = "/".join(sorted({t.dtype for t in op.outputs})) or "-"
        counts[(op.name, f"{ins} -> {outs}")] += 1
    return [(name, n, types) for (name, types), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
