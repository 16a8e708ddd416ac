"""ONNX → IR.

Parsing, checking, opset conversion and shape inference are onnx's own
(`onnx.load`, `onnx.checker`, `onnx.version_converter`, `onnx.shape_inference`);
this module only maps the result onto the IR and turns failures into errors
that name the file and node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from webdnn_build.errors import ImportError_, ShapeError
from webdnn_build.ir import Graph, Node, Value
from webdnn_build.registry import ImportOptions

#: oldest default-domain opset kept as is; older models are converted up to it
MIN_OPSET = 7
MAX_IR_VERSION = onnx.IR_VERSION

ELEM_TYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.UINT8: "uint8", onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.UINT16: "uint16", onnx.TensorProto.INT16: "int16", onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT64: "int64", onnx.TensorProto.STRING: "string", onnx.TensorProto.BOOL: "bool",
    onnx.TensorProto.FLOAT16: "float16", onnx.TensorProto.DOUBLE: "float64", onnx.TensorProto.UINT32: "uint32",
    onnx.TensorProto.UINT64: "uint64", onnx.TensorProto.BFLOAT16: "bfloat16",
}


def looks_like_onnx(head: bytes) -> bool:
    """An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08."""
    return len(head) > 1 and head[0] == 0x08


def elem_type_name(elem_type: int) -> str:
    if elem_type in ELEM_TYPES:
        return ELEM_TYPES[elem_type]
    return onnx.TensorProto.DataType.Name(elem_type).lower()


def _read_model(path: Path) -> onnx.ModelProto:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportError_(f"{path}: cannot read file: {exc.strerror}") from exc
    if not data:
        raise ImportError_(f"{path}: file is empty, not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except DecodeError as exc:
        hint = "truncated or corrupt ONNX file" if looks_like_onnx(data[:2]) else "not an ONNX model (protobuf parse failed)"
        raise ImportError_(f"{path}: {hint}: {exc}") from exc
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise ImportError_(f"{path}: not an ONNX model (no IR version or graph)")
    if model.ir_version > MAX_IR_VERSION:
        raise ImportError_(f"{path}: IR version {model.ir_version} is newer than this onnx library supports ({MAX_IR_VERSION})")
    try:
        onnx.external_data_helper.load_external_data_for_model(model, str(path.parent))
    except (OSError, ValueError) as exc:
        raise ImportError_(f"{path}: external data could not be loaded: {exc}") from exc
    return model


def _check(model: onnx.ModelProto, path: Path) -> None:
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid model"
        raise ImportError_(f"{path}: ONNX checker: {first}") from exc
    except ValueError:
        # models > 2 GB cannot be checked in memory; the per-node checks below still apply
        pass


def _upgrade_opset(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    version = _default_opset(model)
    if version >= MIN_OPSET or not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
        return model
    try:
        return onnx.version_converter.convert_version(model, MIN_OPSET)
    except Exception as exc:  # the converter raises a bare RuntimeError for unsupported adapters
        raise ImportError_(f"{path}: opset {version} is older than {MIN_OPSET} and onnx's version converter failed: {exc}") from exc


def _default_opset(model: onnx.ModelProto) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return 0


def _fix_input_shapes(model: onnx.ModelProto, options: ImportOptions, path: Path) -> None:
    """Apply --input-shape overrides; refuse unknown names and rank changes."""
    inits = {i.name for i in model.graph.initializer}
    inputs = {i.name: i for i in model.graph.input if i.name not in inits}
    for name, shape in options.input_shapes.items():
        if name not in inputs:
            raise ShapeError(f"{path}: --input-shape names '{name}', but the model's inputs are {sorted(inputs)}")
        tt = inputs[name].type.tensor_type
        dims = tt.shape.dim
        if tt.HasField("shape") and len(dims) != len(shape):
            raise ShapeError(f"{path}: input '{name}' has rank {len(dims)}, --input-shape gives {len(shape)} dims")
        if tt.HasField("shape"):
            for d, size in zip(dims, shape):
                if d.HasField("dim_value") and d.dim_value != size:
                    raise ShapeError(f"{path}: input '{name}' dim fixed to {d.dim_value} in the model, --input-shape gives {size}")
        tt.shape.Clear()
        for size in shape:
            tt.shape.dim.add().dim_value = int(size)


def _dynamic_dims(model: onnx.ModelProto) -> list[str]:
    inits = {i.name for i in model.graph.initializer}
    problems = []
    for inp in model.graph.input:
        if inp.name in inits or not inp.type.HasField("tensor_type"):
            continue
        tt = inp.type.tensor_type
        if not tt.HasField("shape"):
            problems.append(f"'{inp.name}' has unknown rank")
            continue
        for i, d in enumerate(tt.shape.dim):
            if not d.HasField("dim_value"):
                label = d.dim_param or "?"
                problems.append(f"'{inp.name}' dim {i} ({label})")
    return problems


def _shape_of(vi_type: onnx.TypeProto) -> tuple[Optional[str], Optional[tuple]]:
    if not vi_type.HasField("tensor_type"):
        return None, None
    tt = vi_type.tensor_type
    dtype = elem_type_name(tt.elem_type) if tt.elem_type else None
    if not tt.HasField("shape"):
        return dtype, None
    dims: list[Any] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dtype, tuple(dims)


def tensor_to_array(t: onnx.TensorProto) -> np.ndarray:
    """TensorProto → numpy; bfloat16 comes back as its uint16 bit patterns."""
    if t.data_type == onnx.TensorProto.BFLOAT16:
        return numpy_helper.to_array(t).view(np.uint16)
    return numpy_helper.to_array(t)


def _attr_value(attr: onnx.AttributeProto) -> Any:
    v = onnx.helper.get_attribute_value(attr)
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, onnx.TensorProto):
        return tensor_to_array(v)
    if isinstance(v, list):
        if v and isinstance(v[0], bytes):
            return [x.decode("utf-8", errors="replace") for x in v]
        if v and isinstance(v[0], onnx.TensorProto):
            return [tensor_to_array(x) for x in v]
        return list(v)
    return v  # int, float, GraphProto (subgraphs stay protos; no backend runs them yet)


def load_onnx(path: Path, options: ImportOptions) -> Graph:
    path = Path(path)
    model = _read_model(path)
    _check(model, path)
    model = _upgrade_opset(model, path)
    _fix_input_shapes(model, options, path)
    dynamic = _dynamic_dims(model)
    if dynamic:
        raise ShapeError(
            f"{path}: the model has dynamic input dims that must be fixed at build time: "
            + ", ".join(dynamic)
            + ". Pass --input-shape NAME=D1,D2,... (or input-shapes in the config) for each input."
        )
    try:
        model = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:  # inference is best effort; the graph stays usable with unknown shapes
        raise ImportError_(f"{path}: ONNX shape inference failed: {exc}") from exc
    return _to_ir(model, path)


def _to_ir(model: onnx.ModelProto, path: Path) -> Graph:
    g = model.graph
    graph = Graph(name=g.name or path.stem, source=str(path))
    graph.opsets = {("" if o.domain == "ai.onnx" else o.domain): int(o.version) for o in model.opset_import}
    graph.metadata = {"producer": model.producer_name, "ir_version": model.ir_version}

    for vi in list(g.input) + list(g.value_info) + list(g.output):
        dtype, shape = _shape_of(vi.type)
        if dtype is None and not vi.type.HasField("tensor_type"):
            kind = vi.type.WhichOneof("value")
            raise ImportError_(f"{path}: value '{vi.name}' has type {kind}; only tensors are supported")
        graph.values[vi.name] = Value(vi.name, dtype, shape)

    for init in g.initializer:
        arr = tensor_to_array(init)
        graph.values[init.name] = Value(init.name, elem_type_name(init.data_type), tuple(int(d) for d in arr.shape), arr)

    inits = {i.name for i in g.initializer}
    graph.inputs = [i.name for i in g.input if i.name not in inits]
    graph.outputs = [o.name for o in g.output]

    for index, n in enumerate(g.node):
        node = Node(
            op_type=n.op_type,
            inputs=list(n.input),
            outputs=list(n.output),
            attrs={a.name: _attr_value(a) for a in n.attribute},
            domain="" if n.domain == "ai.onnx" else n.domain,
            name=n.name or f"{n.op_type}_{index}",
        )
        for name in node.inputs + node.outputs:
            if name:
                graph.value(name)
        graph.nodes.append(node)
    return graph
