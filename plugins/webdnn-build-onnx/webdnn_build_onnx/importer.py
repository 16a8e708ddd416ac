"""ONNX → IR.

Parsing, checking, opset conversion and shape inference are onnx's own
(`onnx.load`, `onnx.checker`, `onnx.version_converter`, `onnx.shape_inference`);
this module only maps the result onto the IR and turns failures into errors
that name the file and node.

Subgraph attributes (If/Loop/Scan/SequenceMap bodies) become nested IR graphs,
converted recursively; their references to outer-scope values stay plain
names (see ``webdnn_build.ir``). Sequence and optional values get type strings
(``"sequence<float32>"``, ``"optional<...>"``) as their dtype.
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
    except (OSError, ValueError, onnx.checker.ValidationError) as exc:
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


def _fix_input_shapes(model: onnx.ModelProto, options: ImportOptions, path: Path,
                      standins: set[str] = frozenset()) -> None:
    """Apply --input-shape overrides; refuse unknown names and rank changes."""
    inits = {i.name for i in model.graph.initializer} | set(standins)
    inputs = {i.name: i for i in model.graph.input if i.name not in inits}
    for name, shape in options.input_shapes.items():
        if name not in inputs:
            raise ShapeError(f"{path}: --input-shape names '{name}', but the model's inputs are {sorted(inputs)}")
        if not inputs[name].type.HasField("tensor_type"):
            kind = inputs[name].type.WhichOneof("value")
            raise ShapeError(f"{path}: --input-shape names '{name}', which is not a tensor ({kind}); "
                             "sequence/optional inputs take their shapes at run time")
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


def _dynamic_dims(model: onnx.ModelProto, standins: set[str] = frozenset()) -> list[str]:
    inits = {i.name for i in model.graph.initializer} | set(standins)
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


def _type_string(vi_type: onnx.TypeProto) -> Optional[str]:
    """The IR dtype / type string of a TypeProto; None for an unset type, ValueError for map/sparse types."""
    kind = vi_type.WhichOneof("value")
    if kind is None:
        return None
    if kind == "tensor_type":
        return elem_type_name(vi_type.tensor_type.elem_type) if vi_type.tensor_type.elem_type else None
    if kind in ("sequence_type", "optional_type"):
        inner_type = getattr(vi_type, kind).elem_type
        inner = _type_string(inner_type) if inner_type.WhichOneof("value") else None
        return f"{kind.split('_')[0]}<{inner or '?'}>"
    raise ValueError(kind)


def _shape_of(vi_type: onnx.TypeProto) -> tuple[Optional[str], Optional[tuple]]:
    """(dtype, shape) of a value's type; non-tensors get a type string and no shape."""
    if not vi_type.HasField("tensor_type"):
        return _type_string(vi_type), None
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


def _attr_value(attr: onnx.AttributeProto, convert_graph: Any = None) -> Any:
    """An attribute as a python value; subgraphs go through ``convert_graph`` (GraphProto → IR Graph)."""
    v = onnx.helper.get_attribute_value(attr)
    if isinstance(v, onnx.GraphProto):
        return convert_graph(v) if convert_graph else v
    if isinstance(v, onnx.TypeProto):  # e.g. Optional's "type": the IR type string
        return _type_string(v)
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, onnx.TensorProto):
        return tensor_to_array(v)
    if isinstance(v, list):
        if v and isinstance(v[0], bytes):
            return [x.decode("utf-8", errors="replace") for x in v]
        if v and isinstance(v[0], onnx.TensorProto):
            return [tensor_to_array(x) for x in v]
        if v and isinstance(v[0], onnx.GraphProto) and convert_graph:
            return [convert_graph(x) for x in v]
        return list(v)
    return v  # int, float


#: initializers larger than this are left out of the model handed to onnx's checker and shape
#: inference (both serialize the whole model: for a 100 MB model that is most of the import time,
#: and past 2 GB it fails); small ones stay, since shape inference reads them (Reshape shapes, ...)
SKELETON_KEEP_BYTES = 1 << 12


def _skeleton(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[onnx.TensorProto], set[str]]:
    """The model without its large initializers, which become typed graph inputs instead.

    Returns the skeleton, the initializers taken out and the names of the inputs added for them.
    """
    sk = onnx.ModelProto()
    for field in ("ir_version", "producer_name", "producer_version", "domain", "model_version", "doc_string"):
        setattr(sk, field, getattr(model, field))
    sk.opset_import.extend(model.opset_import)
    sk.functions.extend(model.functions)
    sk.metadata_props.extend(model.metadata_props)
    g, src = sk.graph, model.graph
    g.name, g.doc_string = src.name, src.doc_string
    g.node.extend(src.node)
    g.input.extend(src.input)
    g.output.extend(src.output)
    g.value_info.extend(src.value_info)
    g.sparse_initializer.extend(src.sparse_initializer)
    declared = {i.name for i in src.input}
    removed, added = [], set()
    for init in src.initializer:
        if init.ByteSize() <= SKELETON_KEEP_BYTES:
            g.initializer.append(init)
            continue
        removed.append(init)
        if init.name not in declared:
            g.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
            added.add(init.name)
    return sk, removed, added


def _restore(inferred: onnx.ModelProto, removed: list[onnx.TensorProto], added: set[str]) -> onnx.ModelProto:
    """Put the large initializers back into the inferred skeleton and drop the inputs that stood in for them."""
    kept = [i for i in inferred.graph.input if i.name not in added]
    del inferred.graph.input[:]
    inferred.graph.input.extend(kept)
    inferred.graph.initializer.extend(removed)
    return inferred


def load_onnx(path: Path, options: ImportOptions) -> Graph:
    path = Path(path)
    model = _read_model(path)
    skeleton, removed, added = _skeleton(model)
    _check(skeleton, path)
    skeleton = _upgrade_opset(skeleton, path)
    standins = {i.name for i in removed}  # graph inputs that are really (large) initializers
    _fix_input_shapes(skeleton, options, path, standins)
    dynamic = _dynamic_dims(skeleton, standins)
    if dynamic:
        raise ShapeError(
            f"{path}: the model has dynamic input dims that must be fixed at build time: "
            + ", ".join(dynamic)
            + ". Pass --input-shape NAME=D1,D2,... (or input-shapes in the config) for each input."
        )
    try:
        inferred = onnx.shape_inference.infer_shapes(skeleton, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:  # inference is best effort; the graph stays usable with unknown shapes
        raise ImportError_(f"{path}: ONNX shape inference failed: {exc}") from exc
    return _to_ir(_restore(inferred, removed, added), path)


def _to_ir(model: onnx.ModelProto, path: Path) -> Graph:
    g = model.graph
    opsets = {("" if o.domain == "ai.onnx" else o.domain): int(o.version) for o in model.opset_import}
    graph = _graph_to_ir(g, path, opsets, g.name or path.stem)
    graph.source = str(path)
    graph.metadata = {"producer": model.producer_name, "ir_version": model.ir_version}
    return graph


def _graph_to_ir(g: onnx.GraphProto, path: Path, opsets: dict[str, int], name: str) -> Graph:
    """One GraphProto (the model's, or a subgraph attribute's, recursively) as an IR graph."""
    graph = Graph(name=name, opsets=dict(opsets), source=str(path))

    for vi in list(g.input) + list(g.value_info) + list(g.output):
        try:
            dtype, shape = _shape_of(vi.type)
        except ValueError as exc:
            raise ImportError_(f"{path}: value '{vi.name}' has type {exc}; only tensors, sequences "
                               "and optionals are supported") from None
        graph.values[vi.name] = Value(vi.name, dtype, shape)

    for init in g.initializer:
        arr = tensor_to_array(init)
        graph.values[init.name] = Value(init.name, elem_type_name(init.data_type), tuple(int(d) for d in arr.shape), arr)

    inits = {i.name for i in g.initializer}
    graph.inputs = [i.name for i in g.input if i.name not in inits]
    graph.outputs = [o.name for o in g.output]

    for index, n in enumerate(g.node):
        node_name = n.name or f"{n.op_type}_{index}"

        def convert(sub: onnx.GraphProto, _owner: str = node_name) -> Graph:
            return _graph_to_ir(sub, path, opsets, sub.name or f"{_owner}_body")

        node = Node(
            op_type=n.op_type,
            inputs=list(n.input),
            outputs=list(n.output),
            attrs={a.name: _attr_value(a, convert) for a in n.attribute},
            domain="" if n.domain == "ai.onnx" else n.domain,
            name=node_name,
        )
        for value_name in node.inputs + node.outputs:
            if value_name:
                graph.value(value_name)
        graph.nodes.append(node)
    return graph
