"""A ``.tflite`` file checked in Python before LiteRT reads it: :func:`check_tflite`.

LiteRT's Python ``Interpreter`` builds its model from the file without running the FlatBuffers
verifier, so a damaged or hostile file (an offset past the end, a tensor index out of range, a
shape of 2^31 elements) can crash the whole process (SIGSEGV) or exhaust its memory in
``Interpreter(...)`` or ``allocate_tensors()`` instead of raising. The fuzzer
(``benchmarks/fuzz.py tflite``) found such files among mutations of a valid one. This module
walks the parts of the schema (LiteRT's ``schema_py_generated``, ``tflite/schema.fbs``) that the
interpreter reads when it loads a model and allocates its tensors, and raises a ValueError naming
the file and the first problem:

* FlatBuffers structure, as the C++ verifier checks it: every table, vtable, vector and string
  inside the file and aligned; the ``TFL3`` identifier;
* references: buffer, operator-code, tensor, subgraph and signature indices in range; a
  constant tensor's data the size its shape and type need; buffers stored outside the
  flatbuffer (``offset``/``size``) inside the file;
* sizes: no tensor needs more than :data:`MAX_TENSOR_BYTES`.

It does not run operators' own checks (LiteRT's ``Prepare``), which report problems as errors.
NumPy-free, standard library only.
"""

from __future__ import annotations

import struct
from pathlib import Path

IDENTIFIER = b"TFL3"
MAX_TENSOR_BYTES = 1 << 30  # 1 GiB: a pose network's largest map is tens of MB
MAX_RANK = 16
MAX_TABLES = 1_000_000  # the C++ verifier's default limit on the number of tables

# TensorType -> bytes per element (None: variable or packed; no size check).
_TYPE_BYTES = {
    0: 4,  # FLOAT32
    1: 2,  # FLOAT16
    2: 4,  # INT32
    3: 1,  # UINT8
    4: 8,  # INT64
    5: None,  # STRING
    6: 1,  # BOOL
    7: 2,  # INT16
    8: 8,  # COMPLEX64
    9: 1,  # INT8
    10: 8,  # FLOAT64
    11: 16,  # COMPLEX128
    12: 8,  # UINT64
    13: None,  # RESOURCE
    14: None,  # VARIANT
    15: 4,  # UINT32
    16: 2,  # UINT16
    17: None,  # INT4 (packed)
    18: 2,  # BFLOAT16
    19: None,  # INT2 (packed)
    20: None,  # UINT4 (packed)
    21: 1,  # FLOAT8_E4M3FN
    22: 1,  # FLOAT8_E5M2
}

# BuiltinOptions (union) members whose tables hold vectors or strings LiteRT reads: field -> element size
# (0: string). Every other options table is checked as a table of scalars.
_OPTION_VECTORS = {
    3: {1: 4, 2: 4},  # ConcatEmbeddingsOptions: num_columns_per_channel, embedding_dim_per_channel
    17: {0: 4},  # ReshapeOptions.new_shape
    30: {0: 4},  # SqueezeOptions.squeeze_dims
    115: {0: 4},  # BucketizeOptions.boundaries (float)
    # VarHandleOptions: container, shared_name
    111: {0: 0, 1: 0},
}
# Operators that take optional inputs (tensor index -1): builtin code -> the input positions that may be
# absent (None: any but the first). Elsewhere a kernel reads the missing tensor (a null pointer in LiteRT).
_OPTIONAL_INPUTS = {
    3: {2},  # CONV_2D: bias
    4: {2},  # DEPTHWISE_CONV_2D: bias
    9: {2},  # FULLY_CONNECTED: bias
    67: {3},  # TRANSPOSE_CONV: bias
    16: None,  # LSTM
    24: None,  # RNN
    27: None,  # SVDF
    35: None,  # UNIDIRECTIONAL_SEQUENCE_RNN
    44: None,  # UNIDIRECTIONAL_SEQUENCE_LSTM
    46: None,  # BIDIRECTIONAL_SEQUENCE_RNN
    52: None,  # BIDIRECTIONAL_SEQUENCE_LSTM
    32: None,  # CUSTOM
}
# How many inputs and outputs the common builtin operators take: code -> (inputs min, max, outputs min, max),
# None = no limit. LiteRT's XNNPACK delegate reads a node's inputs before the kernel counts them (STRIDED_SLICE
# with fewer than 4 read past the end: a crash found by the fuzzer), so the counts are checked here.
_UNARY = (1, 1, 1, 1)
_BINARY = (2, 2, 1, 1)
_ARITY = {
    **dict.fromkeys((1, 5, 6, 8, 11, 14, 17, 19, 20, 21, 25, 26, 28, 43, 47, 53, 59, 66, 73, 75, 76), _UNARY),
    **dict.fromkeys((92, 98, 101, 104, 108, 111, 114, 116, 117, 150), _UNARY),
    **dict.fromkeys((0, 18, 23, 36, 39, 40, 41, 42, 54, 55, 56, 57, 69, 74, 79, 82, 97, 99, 100, 126), _BINARY),
    2: (1, None, 1, 1),  # CONCATENATION
    3: (2, 3, 1, 1),  # CONV_2D
    4: (2, 3, 1, 1),  # DEPTHWISE_CONV_2D
    9: (2, 3, 1, 2),  # FULLY_CONNECTED
    22: (1, 2, 1, 1),  # RESHAPE
    34: (2, 3, 1, 1),  # PAD
    45: (4, 4, 1, 1),  # STRIDED_SLICE
    49: (2, 2, 1, None),  # SPLIT
    60: (2, 3, 1, 1),  # PADV2
    65: (3, 3, 1, 1),  # SLICE
    67: (3, 4, 1, 1),  # TRANSPOSE_CONV
    83: (1, None, 1, 1),  # PACK
    102: (3, 3, 1, None),  # SPLIT_V
}
# The builtin options table each common operator reads (BuiltinOptions union types): an operator with another
# operator's options is refused (a TILE turned SPLIT kept no SplitOptions and crashed the XNNPACK delegate);
# NONE (LiteRT's defaults) is allowed except where the options are needed (_OPTIONS_NEEDED).
_OPTIONS = {
    0: 11, 1: 5, 2: 10, 3: 1, 4: 2, 5: 94, 6: 38, 9: 8, 11: 12, 17: 5, 18: 21, 22: 17, 23: 15, 25: 9, 26: 19,
    34: 22, 36: 23, 39: 26, 40: 27, 41: 28, 42: 29, 43: 30, 45: 32, 47: 33, 49: 35, 53: 37, 55: 39, 56: 40,
    57: 39, 59: 42, 60: 43, 65: 48, 67: 49, 69: 51, 74: 27, 79: 57, 82: 27, 83: 59, 92: 66, 97: 74, 98: 75,
    99: 76, 100: 77, 101: 78, 102: 79, 108: 84, 114: 89, 117: 91, 126: 101, 150: 116,
}  # fmt: skip
_OPTIONS_NEEDED = {49, 102}  # SPLIT, SPLIT_V: num_splits
# Options that name subgraphs: (IfOptions, WhileOptions, CallOnceOptions) -> fields holding a subgraph index
_OPTION_SUBGRAPHS = {92: (0, 1), 93: (0, 1), 103: (0,)}


# The names of the builtin operators checked here, for messages (BuiltinOperator in schema.fbs).
_NAMES = {
    0: "ADD",
    1: "AVERAGE_POOL_2D",
    2: "CONCATENATION",
    3: "CONV_2D",
    4: "DEPTHWISE_CONV_2D",
    5: "DEPTH_TO_SPACE",
    6: "DEQUANTIZE",
    8: "FLOOR",
    9: "FULLY_CONNECTED",
    11: "L2_NORMALIZATION",
    14: "LOGISTIC",
    16: "LSTM",
    17: "MAX_POOL_2D",
    18: "MUL",
    19: "RELU",
    20: "RELU_N1_TO_1",
    21: "RELU6",
    22: "RESHAPE",
    23: "RESIZE_BILINEAR",
    24: "RNN",
    25: "SOFTMAX",
    26: "SPACE_TO_DEPTH",
    27: "SVDF",
    28: "TANH",
    32: "CUSTOM",
    34: "PAD",
    35: "UNIDIRECTIONAL_SEQUENCE_RNN",
    36: "GATHER",
    39: "TRANSPOSE",
    40: "MEAN",
    41: "SUB",
    42: "DIV",
    43: "SQUEEZE",
    44: "UNIDIRECTIONAL_SEQUENCE_LSTM",
    45: "STRIDED_SLICE",
    46: "BIDIRECTIONAL_SEQUENCE_RNN",
    47: "EXP",
    49: "SPLIT",
    52: "BIDIRECTIONAL_SEQUENCE_LSTM",
    53: "CAST",
    54: "PRELU",
    55: "MAXIMUM",
    56: "ARG_MAX",
    57: "MINIMUM",
    59: "NEG",
    60: "PADV2",
    65: "SLICE",
    66: "SIN",
    67: "TRANSPOSE_CONV",
    69: "TILE",
    73: "LOG",
    74: "SUM",
    75: "SQRT",
    76: "RSQRT",
    79: "ARG_MIN",
    82: "REDUCE_MAX",
    83: "PACK",
    92: "SQUARE",
    97: "RESIZE_NEAREST_NEIGHBOR",
    98: "LEAKY_RELU",
    99: "SQUARED_DIFFERENCE",
    100: "MIRROR_PAD",
    101: "ABS",
    102: "SPLIT_V",
    104: "CEIL",
    108: "COS",
    111: "ELU",
    114: "QUANTIZE",
    116: "ROUND",
    117: "HARD_SWISH",
    126: "BATCH_MATMUL",
    150: "GELU",
}


def _op(code: int) -> str:
    return f"{_NAMES.get(code, 'builtin operator')} ({code})"


class _Bad(Exception):
    pass


class _Buffer:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)
        self.tables = 0

    def need(self, pos: int, n: int, align: int, what: str) -> None:
        if pos < 0 or n < 0 or pos + n > self.size:
            raise _Bad(f"{what} lies outside the file (bytes {pos}..{pos + n} of {self.size})")
        if pos % align:
            raise _Bad(f"{what} is not aligned")

    def scalar(self, fmt: str, pos: int, what: str):
        size = struct.calcsize("<" + fmt)
        self.need(pos, size, min(size, 8), what)
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def table(self, pos: int, what: str) -> "_Table":
        self.tables += 1
        if self.tables > MAX_TABLES:
            raise _Bad("too many tables")
        self.need(pos, 4, 4, what)
        vtable = pos - struct.unpack_from("<i", self.data, pos)[0]
        self.need(vtable, 4, 2, f"{what}'s vtable")
        vt_size, obj_size = struct.unpack_from("<HH", self.data, vtable)
        if vt_size < 4 or vt_size % 2:
            raise _Bad(f"{what}'s vtable has a bad size {vt_size}")
        self.need(vtable, vt_size, 2, f"{what}'s vtable")
        self.need(pos, obj_size, 4, what)
        fields = struct.unpack_from(f"<{(vt_size - 4) // 2}H", self.data, vtable + 4)
        for i, off in enumerate(fields):
            if off and (off < 4 or off >= obj_size):
                raise _Bad(f"{what}'s field {i} lies outside the table")
        return _Table(self, pos, fields, obj_size, what)

    def offset(self, pos: int, what: str) -> int:
        return pos + self.scalar("I", pos, what)


class _Table:
    def __init__(self, buf: _Buffer, pos: int, fields: tuple[int, ...], obj_size: int, what: str) -> None:
        self.buf, self.pos, self.fields, self.obj_size, self.what = buf, pos, fields, obj_size, what

    def _field(self, i: int, size: int, name: str) -> int | None:
        off = self.fields[i] if i < len(self.fields) else 0
        if not off:
            return None
        if off + size > self.obj_size:
            raise _Bad(f"{self.what}.{name} lies outside the table")
        return self.pos + off

    def scalar(self, i: int, fmt: str, name: str, default=0):
        pos = self._field(i, struct.calcsize("<" + fmt), name)
        return default if pos is None else self.buf.scalar(fmt, pos, f"{self.what}.{name}")

    def table(self, i: int, name: str) -> "_Table | None":
        pos = self._field(i, 4, name)
        return None if pos is None else self.buf.table(self.buf.offset(pos, name), f"{self.what}.{name}")

    def vector(self, i: int, elem: int, name: str) -> tuple[int, int]:
        """(start, length) of a vector of ``elem``-byte scalars or offsets; (0, 0) when absent."""
        pos = self._field(i, 4, name)
        if pos is None:
            return 0, 0
        what = f"{self.what}.{name}"
        at = self.buf.offset(pos, what)
        length = self.buf.scalar("I", at, what)
        self.buf.need(at + 4, length * elem, 4 if elem >= 4 else elem, what)
        return at + 4, length

    def ints(self, i: int, name: str, fmt: str = "i") -> tuple:
        start, n = self.vector(i, struct.calcsize(fmt), name)
        return struct.unpack_from(f"<{n}{fmt}", self.buf.data, start) if n else ()

    def text(self, i: int, name: str) -> str | None:
        """A string LiteRT's Python API decodes (names): UTF-8 or a problem."""
        start, n = self.vector(i, 1, name)
        value = self.string(i, name)
        try:
            return None if value is None else bytes(self.buf.data[start : start + n]).decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad(f"{self.what}.{name} is not UTF-8") from None

    def string(self, i: int, name: str) -> str | None:
        start, n = self.vector(i, 1, name)
        if not (self.fields[i] if i < len(self.fields) else 0):
            return None
        what = f"{self.what}.{name}"
        self.buf.need(start + n, 1, 1, f"{what}'s terminator")
        if self.buf.data[start + n] != 0:
            raise _Bad(f"{what} is not a terminated string")
        return self.buf.data[start : start + n].decode("utf-8", "replace")

    def tables(self, i: int, name: str) -> list["_Table"]:
        start, n = self.vector(i, 4, name)
        return [self.buf.table(self.buf.offset(start + 4 * k, name), f"{self.what}.{name}[{k}]") for k in range(n)]


def check_tflite(data: bytes, name: str = "model") -> None:
    """Raise a ValueError naming ``name`` when ``data`` is not a .tflite model LiteRT can safely read."""
    try:
        _check(_Buffer(bytes(data)))
    except _Bad as exc:
        raise ValueError(f"{name} is not a valid TFLite model: {exc}") from None


def check_tflite_file(path: str | Path) -> None:
    """:func:`check_tflite` on a file's bytes."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read TFLite model {path}: {exc.strerror or exc}") from None
    check_tflite(data, str(path))


def _check(buf: _Buffer) -> None:
    if buf.size < 8:
        raise _Bad(f"{buf.size} bytes is too short for a flatbuffer")
    if buf.size >= 1 << 31:
        return  # a > 2 GiB model keeps its weights outside the flatbuffer; too big to walk here
    if buf.data[4:8] != IDENTIFIER:
        raise _Bad(f"no {IDENTIFIER.decode()} identifier (not a .tflite file)")
    model = buf.table(buf.offset(0, "root"), "model")
    codes = []  # each operator code's builtin operator (LiteRT: the larger of the two fields)
    for code in model.tables(1, "operator_codes"):
        code.string(1, "custom_code")
        code.scalar(2, "i", "version")
        codes.append(max(code.scalar(0, "b", "deprecated_builtin_code"), code.scalar(3, "i", "builtin_code")))
    model.string(3, "description")
    buffers = model.tables(4, "buffers")
    sizes = [_buffer_size(buf, b) for b in buffers]
    for value in model.ints(5, "metadata_buffer"):
        if not 0 <= value < len(buffers):
            raise _Bad(f"metadata_buffer {value} is not one of the {len(buffers)} buffers")
    for meta in model.tables(6, "metadata"):
        meta.string(0, "name")
        if meta.scalar(1, "I", "buffer") >= len(buffers):
            raise _Bad("a metadata entry names a missing buffer")
    subgraphs = model.tables(2, "subgraphs")
    if not subgraphs:
        raise _Bad("no subgraph")
    counts = [_check_subgraph(buf, g, k, codes, sizes, len(subgraphs)) for k, g in enumerate(subgraphs)]
    for k, sig in enumerate(model.tables(7, "signature_defs")):
        sig.text(2, "signature_key")
        graph = sig.scalar(4, "I", "subgraph_index")
        if graph >= len(subgraphs):
            raise _Bad(f"signature {k} names subgraph {graph} of {len(subgraphs)}")
        for field, side in ((0, "inputs"), (1, "outputs")):
            for entry in sig.tables(field, side):
                entry.text(0, "name")
                if entry.scalar(1, "I", "tensor_index") >= counts[graph]:
                    raise _Bad(f"signature {k}'s {side} name a tensor that subgraph {graph} lacks")
    if len(model.fields) > 8 and (model.fields[8] or (len(model.fields) > 9 and model.fields[9])):
        raise _Bad("external buffers (weights in another file) are not supported")


def _buffer_size(buf: _Buffer, table: _Table) -> int:
    start, n = table.vector(0, 1, "data")
    offset, size = table.scalar(1, "Q", "offset"), table.scalar(2, "Q", "size")
    if offset > 1:  # data outside the flatbuffer, at this file offset
        if offset + size > buf.size:
            raise _Bad(f"a buffer's data ({size} bytes at {offset}) lies outside the file")
        return size
    return n


def _check_subgraph(buf: _Buffer, graph: _Table, k: int, codes: list[int], sizes: list[int], n_graphs: int) -> int:
    where = f"subgraph {k}"
    tensors = graph.tables(0, "tensors")
    n = len(tensors)
    for t, tensor in enumerate(tensors):
        _check_tensor(tensor, f"{where} tensor {t}", sizes)
    for field, name in ((1, "inputs"), (2, "outputs")):
        for index in graph.ints(field, name):
            if not 0 <= index < n:
                raise _Bad(f"{where}'s {name} name tensor {index} of {n}")
    graph.string(4, "name")
    for o, op in enumerate(graph.tables(3, "operators")):
        what = f"{where} operator {o}"
        code = op.scalar(0, "I", "opcode_index")
        if code >= len(codes):
            raise _Bad(f"{what} has operator code {code} of {len(codes)}")
        optional = _OPTIONAL_INPUTS.get(codes[code], set())
        arity = _ARITY.get(codes[code])
        if arity is not None:
            n_in, n_out = op.vector(1, 4, "inputs")[1], op.vector(2, 4, "outputs")[1]
            lo_in, hi_in, lo_out, hi_out = arity
            if not (lo_in <= n_in <= (hi_in or n_in) and lo_out <= n_out <= (hi_out or n_out)):
                raise _Bad(f"{what}, {_op(codes[code])}, has {n_in} inputs and {n_out} outputs")
        for field, name in ((1, "inputs"), (2, "outputs"), (8, "intermediates")):
            for position, index in enumerate(op.ints(field, name)):
                if index == -1 and field == 1 and (position in optional if optional is not None else position > 0):
                    continue
                if not 0 <= index < n:
                    raise _Bad(f"{what}, {_op(codes[code])}: its {name}[{position}] is tensor {index} of {n}")
        kind = op.scalar(3, "B", "builtin_options_type")
        expected = _OPTIONS.get(codes[code])
        if expected is not None and kind != expected and (kind != 0 or codes[code] in _OPTIONS_NEEDED):
            raise _Bad(f"{what}, {_op(codes[code])}, has options of type {kind}, not its own ({expected})")
        options = op.table(4, "builtin_options")
        if options is not None:
            for field, elem in _OPTION_VECTORS.get(kind, {}).items():
                op_field = f"builtin_options field {field}"
                options.string(field, op_field) if elem == 0 else options.vector(field, elem, op_field)
            for field in _OPTION_SUBGRAPHS.get(kind, ()):
                if not 0 <= options.scalar(field, "i", f"builtin_options field {field}") < n_graphs:
                    raise _Bad(f"{what} names a missing subgraph")
        op.vector(5, 1, "custom_options")
        op.vector(7, 1, "mutating_variable_inputs")
        if op.scalar(9, "Q", "large_custom_options_offset") > 1:
            start, size = (
                op.scalar(9, "Q", "large_custom_options_offset"),
                op.scalar(10, "Q", "large_custom_options_size"),
            )
            if start + size > buf.size:
                raise _Bad(f"{what}'s custom options lie outside the file")
        op.table(12, "builtin_options_2")
    return n


def _check_tensor(tensor: _Table, what: str, sizes: list[int]) -> None:
    shape = tensor.ints(0, "shape")
    if len(shape) > MAX_RANK:
        raise _Bad(f"{what} has rank {len(shape)}")
    if any(d < 0 for d in shape):
        raise _Bad(f"{what} has a negative dimension in {list(shape)}")
    signature = tensor.ints(7, "shape_signature")
    if len(signature) > MAX_RANK or any(d < -1 for d in signature):
        raise _Bad(f"{what} has a bad shape signature {list(signature)}")
    kind = tensor.scalar(1, "b", "type")
    if kind not in _TYPE_BYTES:
        raise _Bad(f"{what} has an unknown type {kind}")
    elements = nonzero = 1
    for d in shape:
        elements *= d
        nonzero *= max(d, 1)
    elem = _TYPE_BYTES[kind]
    # the other dimensions too: a zero among huge ones passed, and LiteRT's MEAN over the zero axis made
    # 13 GB of [1140850689, 1, 1, 3] (found by fuzzing: 24 s and 13 GB of memory before its error)
    if nonzero * (elem or 1) > MAX_TENSOR_BYTES:
        raise _Bad(f"{what} of shape {list(shape)} needs more than {MAX_TENSOR_BYTES >> 30} GiB")
    index = tensor.scalar(2, "I", "buffer")
    if index >= len(sizes):
        raise _Bad(f"{what} names buffer {index} of {len(sizes)}")
    tensor.text(3, "name")
    sparse = tensor.table(6, "sparsity")
    if sparse is not None:
        sparse.ints(0, "traversal_order")
        sparse.ints(1, "block_map")
        for dim in sparse.tables(2, "dim_metadata"):
            for kind_field, value_field in ((2, 3), (4, 5)):
                values = dim.table(value_field, "array")
                if values is not None:  # Int32Vector, Uint16Vector, Uint8Vector
                    elem_size = {1: 4, 2: 2, 3: 1}.get(dim.scalar(kind_field, "B", "array type"))
                    if elem_size is None:
                        raise _Bad(f"{what}'s sparsity has an unknown index type")
                    values.vector(0, elem_size, "values")
    elif elem and sizes[index] and sizes[index] != elements * elem:
        raise _Bad(
            f"{what} of shape {list(shape)} needs {elements * elem} bytes of data, its buffer has {sizes[index]}"
        )
    quant = tensor.table(4, "quantization")
    if quant is not None:
        for field, fmt, name in ((0, "f", "min"), (1, "f", "max"), (2, "f", "scale"), (3, "q", "zero_point")):
            quant.vector(field, struct.calcsize(fmt), name)
        details = quant.table(5, "details")
        if details is not None and quant.scalar(4, "B", "details_type") == 1:  # CustomQuantization
            details.vector(0, 1, "custom")
        dim = quant.scalar(6, "i", "quantized_dimension")
        if quant.vector(2, 4, "scale")[1] > 1 and not 0 <= dim < max(len(shape), 1):
            raise _Bad(f"{what}'s quantized dimension {dim} is not one of its {len(shape)} axes")
    for variant in tensor.tables(9, "variant_tensors"):
        variant.ints(0, "shape")
    if tensor.scalar(10, "I", "external_buffer"):
        raise _Bad(f"{what} keeps its data in an external buffer (not supported)")
