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

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from webdnn_build.errors import ImportError_, ResourceError, ShapeError
from webdnn_build.ir import Graph, Node, Value
from webdnn_build.limits import check_dims
from webdnn_build.opdecl import fill_defaults
from webdnn_build.registry import ImportOptions
from webdnn_build.symdim import DIM_NAME, OpenDim

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
    bad = _invalid_string(model, "model")
    if bad:
        raise ImportError_(f"{path}: corrupt ONNX file: the string field {bad} is not valid UTF-8")
    if model.ir_version > MAX_IR_VERSION:
        raise ImportError_(f"{path}: IR version {model.ir_version} is newer than this onnx library supports ({MAX_IR_VERSION})")
    _load_small_external_data(model, path)
    return model


def _invalid_string(msg: Any, trail: str) -> Optional[str]:
    """The path of the first string field of ``msg`` that is not valid UTF-8, or None.

    protobuf parses proto2 ``string`` fields without checking them; reading one later raises
    ``UnicodeDecodeError`` or hands back ``bytes``, deep inside the import or a backend.
    """
    try:
        fields = msg.ListFields()
    except UnicodeDecodeError:
        return trail
    for fd, value in fields:
        name = f"{trail}.{fd.name}"
        repeated = fd.is_repeated if hasattr(fd, "is_repeated") else fd.label == fd.LABEL_REPEATED
        if fd.type == fd.TYPE_STRING:
            try:
                values = list(value) if repeated else [value]
            except UnicodeDecodeError:
                return name
            if any(not isinstance(v, str) for v in values):
                return name
        elif fd.type == fd.TYPE_MESSAGE:
            subs = list(value) if repeated else [value]
            for i, sub in enumerate(subs):
                found = _invalid_string(sub, f"{name}[{i}]" if repeated else name)
                if found:
                    return found
    return None


def _external_info(t: onnx.TensorProto, path: Path) -> tuple[Any, int, int]:
    """(info, offset, length) of an external tensor, checked against its file (which must stay in
    the model's folder: onnx's own opener refuses absolute paths, ``..`` and symlinks out)."""
    base = str(path.parent)
    try:
        info = onnx.external_data_helper.ExternalDataInfo(t)
        if not info.location:
            raise ValueError("no 'location' given")
        fd = onnx.external_data_helper._open_external_data_fd(base, info.location, t.name, True)
        with os.fdopen(fd, "rb") as f:
            size = os.fstat(f.fileno()).st_size
    except (OSError, ValueError, TypeError, onnx.checker.ValidationError) as exc:
        raise ImportError_(f"{path}: external data of tensor '{t.name}' could not be opened: {exc}") from exc
    offset = int(info.offset or 0)
    length = size - offset if info.length is None else int(info.length)
    if offset > size or offset + length > size:
        raise ImportError_(f"{path}: external data of tensor '{t.name}': offset {offset} + length {length} "
                           f"is past the end of '{info.location}' ({size} bytes)")
    return info, offset, length


def _load_small_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Check every external-data reference; read the small tensors (shape inference needs their values).

    Large initializers stay external: the IR maps their files (``np.memmap``) instead of reading
    them, so a model with gigabytes of external weights is not held in memory (twice) while it builds.
    """
    helper_ = onnx.external_data_helper
    tensors = [(t, True) for t in helper_._get_initializer_tensors(model)]
    tensors += [(t, False) for t in helper_._get_attribute_tensors(model)]
    for t, is_initializer in tensors:
        if not helper_.uses_external_data(t):
            continue
        _info, _offset, length = _external_info(t, path)
        if length <= SKELETON_KEEP_BYTES or not is_initializer:  # attribute tensors are always read
            check_dims(str(path), t.name or "tensor", list(t.dims),
                       elem_type_name(t.data_type) if t.data_type in ELEM_TYPES else None)
            try:
                helper_.load_external_data_for_tensor(t, str(path.parent))
            except (OSError, ValueError, onnx.checker.ValidationError) as exc:
                raise ImportError_(f"{path}: external data of tensor '{t.name}' could not be loaded: {exc}") from exc


def _mapped_array(t: onnx.TensorProto, path: Path) -> np.ndarray:
    """A still-external initializer as a read-only memory map of its file."""
    info, offset, length = _external_info(t, path)
    dims = tuple(int(d) for d in t.dims)
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)).newbyteorder("<")
    except (KeyError, TypeError, ValueError):
        raise ImportError_(f"{path}: external tensor '{t.name}' has data type {t.data_type}, which cannot be "
                           "stored externally here") from None
    if t.data_type in (onnx.TensorProto.STRING,) or dtype.kind == "O":
        raise ImportError_(f"{path}: external tensor '{t.name}': string tensors cannot be external")
    n = 1
    for d in dims:
        n *= d
    if n * dtype.itemsize != length:
        raise ImportError_(f"{path}: external tensor '{t.name}' has dims {list(dims)} ({n * dtype.itemsize} bytes "
                           f"of {dtype.name}), but its external data is {length} bytes")
    if n == 0:
        return np.zeros(dims, dtype)
    fd = onnx.external_data_helper._open_external_data_fd(str(path.parent), info.location, t.name, True)
    with os.fdopen(fd, "rb") as f:
        arr = np.memmap(f, dtype=dtype, mode="r", offset=offset, shape=dims)
    if t.data_type == onnx.TensorProto.BFLOAT16:
        return arr.view(np.uint16)
    return arr


#: ops onnxruntime registers in the ONNX domain although ONNX does not define them (its transformer
#: optimizer writes them there); the checker sees them as com.microsoft ops
ORT_ONNX_DOMAIN_OPS = frozenset({"SimplifiedLayerNormalization"})


def _check(model: onnx.ModelProto, path: Path) -> None:
    moved = [n for n in model.graph.node if n.domain in ("", "ai.onnx") and n.op_type in ORT_ONNX_DOMAIN_OPS]
    added = None
    if moved:
        for n in moved:
            n.domain = "com.microsoft"
        if not any(o.domain == "com.microsoft" for o in model.opset_import):
            added = model.opset_import.add(domain="com.microsoft", version=1)
    try:
        _check_as_is(model, path)
    finally:
        for n in moved:
            n.domain = ""
        if added is not None:
            model.opset_import.remove(added)


def _check_as_is(model: onnx.ModelProto, path: Path) -> None:
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
                      standins: set[str] = frozenset()) -> dict[str, tuple[int, Optional[int]]]:
    """Apply --input-shape overrides; refuse unknown names and rank changes. A dim left open (OpenDim) becomes a
    ``dim_param``: its name from the spec, else the model's ``dim_param``, else ``<input>_<axis>``. Returns the open
    dims: name -> (min, max or None), the ranges of dims sharing a name intersected."""
    dims_table: dict[str, tuple[int, Optional[int]]] = {}
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
        model_dims = list(dims) if tt.HasField("shape") else [None] * len(shape)
        for axis, (d, size) in enumerate(zip(model_dims, shape)):
            if d is not None and d.HasField("dim_value") and (isinstance(size, OpenDim) or d.dim_value != size):
                raise ShapeError(f"{path}: input '{name}' dim {axis} fixed to {d.dim_value} in the model, "
                                 f"--input-shape gives {size}" + (" (the model's own computations assume that size)"
                                                                  if isinstance(size, OpenDim) else ""))
        names = []
        for axis, (d, size) in enumerate(zip(model_dims, shape)):
            if not isinstance(size, OpenDim):
                names.append(None)
                continue
            dim_name = size.name or _open_dim_name(d.dim_param if d is not None else "", name, axis, dims_table)
            lo, hi = dims_table.get(dim_name, (0, None))
            lo, hi = max(lo, size.lo), (size.hi if hi is None else hi if size.hi is None else min(hi, size.hi))
            if hi is not None and hi < lo:
                raise ShapeError(f"{path}: dim '{dim_name}' (input '{name}' dim {axis}) has an empty range: "
                                 f"the --input-shape ranges of that dim do not overlap")
            dims_table[dim_name] = (lo, hi)
            names.append(dim_name)
        tt.shape.Clear()
        for size, dim_name in zip(shape, names):
            if dim_name is None:
                tt.shape.dim.add().dim_value = int(size)
            else:
                tt.shape.dim.add().dim_param = dim_name
    return dims_table


def _open_dim_name(dim_param: str, input_name: str, axis: int, taken: dict) -> str:
    """The name of a dim opened without one: the model's ``dim_param``, else ``<input>_<axis>``, where that is a
    valid dim name (symdim.DIM_NAME: names reach the bundle's expressions), else ``dim<k>``."""
    for candidate in (dim_param, f"{input_name}_{axis}"):
        if candidate and DIM_NAME.fullmatch(candidate):
            return candidate
    k = 0
    while f"dim{k}" in taken:
        k += 1
    return f"dim{k}"


def _dynamic_dims(model: onnx.ModelProto, standins: set[str] = frozenset(), open_dims=frozenset()) -> list[str]:
    """The input dims neither fixed by the model or --input-shape nor left open on purpose (``open_dims``)."""
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
            if not d.HasField("dim_value") and d.dim_param not in open_dims:
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
        # a negative dim_value in a declared type means "unknown" to exporters and onnxruntime
        # (e.g. the onnx suite's expanded AffineGrid); only tensor data dims must be >= 0
        if d.HasField("dim_value") and d.dim_value >= 0:
            dims.append(int(d.dim_value))
        elif d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dtype, tuple(dims)


def tensor_to_array(t: onnx.TensorProto, path: Optional[Path] = None, what: str = "tensor") -> np.ndarray:
    """TensorProto → numpy; bfloat16 comes back as its uint16 bit patterns.

    The declared dims are checked (size bound, no negative dims) before anything is allocated;
    data that does not match them is an :class:`ImportError_` naming the tensor.
    """
    where = str(path) if path is not None else "model"
    dtype = elem_type_name(t.data_type) if t.data_type in ELEM_TYPES else None
    check_dims(where, t.name or what, list(t.dims), dtype)
    if t.data_type not in ELEM_TYPES:
        name = onnx.TensorProto.DataType.Name(t.data_type) if t.data_type in onnx.TensorProto.DataType.values() \
            else str(t.data_type)
        raise ImportError_(f"{where}: {what} '{t.name}' has element type {name}, which is not supported")
    if path is not None and onnx.external_data_helper.uses_external_data(t):
        return _mapped_array(t, path)
    try:
        arr = numpy_helper.to_array(t)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, AttributeError) as exc:
        raise ImportError_(f"{where}: {what} '{t.name}' (dims {list(t.dims)}): its data does not match its "
                           f"type and dims: {exc}") from None
    if t.data_type == onnx.TensorProto.BFLOAT16:
        return arr.view(np.uint16)
    return arr


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
        if init.ByteSize() <= SKELETON_KEEP_BYTES and not onnx.external_data_helper.uses_external_data(init):
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


def _check_declared_sizes(g: onnx.GraphProto, path: Path) -> None:
    """Every shape the graph (and its subgraphs) declares within the size bound, before anything reads them."""
    for init in g.initializer:
        check_dims(str(path), init.name, list(init.dims),
                   elem_type_name(init.data_type) if init.data_type in ELEM_TYPES else None)
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        try:
            dtype, shape = _shape_of(vi.type)
        except ValueError:
            continue  # reported with its name when the graph is converted
        if shape is not None:
            check_dims(str(path), vi.name, shape, dtype)
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.HasField("t"):
                check_dims(str(path), a.t.name or f"{n.name or n.op_type}.{a.name}", list(a.t.dims), None)
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                _check_declared_sizes(sub, path)


#: rank-1 values longer than this turn onnx's data propagation off (see load_onnx)
DATA_PROP_MAX_VECTOR = 1 << 12


def _has_long_vector(model: onnx.ModelProto, open_dims: dict[str, tuple[int, Optional[int]]]) -> bool:
    """Whether a rank-1 value may be longer than DATA_PROP_MAX_VECTOR. Unknown lengths count as long; an open dim
    does not (data propagation allocates nothing per element of a vector whose length is a symbol)."""
    g = model.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            dims = vi.type.tensor_type.shape.dim
            if len(dims) == 1:
                d = dims[0]
                length = d.dim_value if d.HasField("dim_value") else 0 if d.dim_param in open_dims else None
                if length is None or length > DATA_PROP_MAX_VECTOR:
                    return True
    return any(len(i.dims) == 1 and i.dims[0] > DATA_PROP_MAX_VECTOR for i in g.initializer)


def load_onnx(path: Path, options: ImportOptions) -> Graph:
    path = Path(path)
    model = _read_model(path)
    _check_declared_sizes(model.graph, path)
    skeleton, removed, added = _skeleton(model)
    _check(skeleton, path)
    skeleton = _upgrade_opset(skeleton, path)
    standins = {i.name for i in removed}  # graph inputs that are really (large) initializers
    open_dims = _fix_input_shapes(skeleton, options, path, standins)
    dynamic = _dynamic_dims(skeleton, standins, open_dims)
    if dynamic:
        raise ShapeError(
            f"{path}: the model has dynamic input dims that must be fixed at build time: "
            + ", ".join(dynamic)
            + ". Pass --input-shape NAME=D1,D2,... (or input-shapes in the config) for each input; "
            "? or LO..HI for a dim keeps it open (sized at run time)."
        )
    try:
        inferred = onnx.shape_inference.infer_shapes(skeleton, check_type=False, strict_mode=False, data_prop=False)
        # onnx's data propagation allocates per element of rank-1 values (an Add of a float [n] input
        # asks for n dims: gigabytes for a large n); shape vectors are small, so it runs only when
        # no rank-1 value is large
        if not _has_long_vector(inferred, open_dims):
            inferred = onnx.shape_inference.infer_shapes(skeleton, check_type=False, strict_mode=False,
                                                         data_prop=True)
    except Exception as exc:  # inference is best effort; the graph stays usable with unknown shapes
        raise ImportError_(f"{path}: ONNX shape inference failed: {exc}") from exc
    graph = _to_ir(_restore(inferred, removed, added), path)
    graph.dims = open_dims
    _forget_inferred_dim_names(graph)
    return graph


def _forget_inferred_dim_names(graph: Graph) -> None:
    """Only the open input dims stay symbolic: the names onnx's inference makes up (``unk__N``, fresh in each
    inference run) and a model's own ``dim_param`` names elsewhere become unknown (None)."""
    for v in graph.values.values():
        if v.shape is not None and any(isinstance(d, str) and d not in graph.dims for d in v.shape):
            v.shape = tuple(None if isinstance(d, str) and d not in graph.dims else d for d in v.shape)


def _to_ir(model: onnx.ModelProto, path: Path) -> Graph:
    g = model.graph
    opsets = {("" if o.domain == "ai.onnx" else o.domain): int(o.version) for o in model.opset_import}
    graph = _graph_to_ir(g, path, opsets, g.name or path.stem)
    graph.source = str(path)
    graph.metadata = {"producer": model.producer_name, "ir_version": model.ir_version}
    return graph


def graph_from_proto(g: onnx.GraphProto, opsets: dict[str, int], name: str, source: str = "<graph>") -> Graph:
    """An ONNX ``GraphProto`` as an IR graph, the way the importer converts a model's graph (dtypes and
    shapes from its inputs, outputs and value_info; initializers as constants). For passes that build
    ONNX protos and turn them back into IR (expand_functions); ``source`` names it in error messages.
    The declared attribute defaults are filled in, as the compiler does for an imported model."""
    graph = _graph_to_ir(g, Path(source), opsets, name)
    fill_defaults(graph)
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
        if shape is not None:
            check_dims(str(path), vi.name, shape, dtype)
        graph.values[vi.name] = Value(vi.name, dtype, shape)

    for init in g.initializer:
        arr = tensor_to_array(init, path, "initializer")
        graph.values[init.name] = Value(init.name, elem_type_name(init.data_type), tuple(int(d) for d in arr.shape), arr)

    inits = {i.name for i in g.initializer}
    graph.inputs = [i.name for i in g.input if i.name not in inits]
    graph.outputs = [o.name for o in g.output]

    for index, n in enumerate(g.node):
        node_name = n.name or f"{n.op_type}_{index}"

        def convert(sub: onnx.GraphProto, _owner: str = node_name) -> Graph:
            return _graph_to_ir(sub, path, opsets, sub.name or f"{_owner}_body")

        attrs = {}
        for a in n.attribute:
            try:
                attrs[a.name] = _attr_value(a, convert)
            except (ImportError_, ResourceError) as exc:
                raise type(exc)(f"{exc} (attribute '{a.name}' of node '{node_name}' ({n.op_type}))") from None
            except (ValueError, TypeError, KeyError, UnicodeDecodeError, AttributeError) as exc:
                raise ImportError_(f"{path}: node '{node_name}' ({n.op_type}): attribute '{a.name}' is malformed: "
                                   f"{exc}") from None
        node = Node(
            op_type=n.op_type,
            inputs=list(n.input),
            outputs=list(n.output),
            attrs=attrs,
            domain="" if n.domain == "ai.onnx" else n.domain,
            name=node_name,
        )
        for value_name in node.inputs + node.outputs:
            if value_name:
                graph.value(value_name)
        graph.nodes.append(node)
    return graph
