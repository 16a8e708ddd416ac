"""IR → ONNX protobufs, for evaluating nodes and checking passes numerically.

``fold_constants`` turns one IR node into a one-node ``ModelProto`` and runs it
with ``onnx.reference``; the pass tests turn whole graphs into models and run
them with onnxruntime before and after a pass.

Conventions:

- attribute values are python values (``int``, ``float``, ``str``/``bytes``,
  lists of those), numpy arrays (tensor attributes) or IR graphs (subgraphs).
  Where the op's schema is known, the schema's attribute type decides the proto
  type (so ``alpha=1`` still becomes a FLOAT);
- a fused activation (``fused_activation*`` attributes, see :mod:`webdnn_build.opdecl`)
  is emitted as a separate node after the producer;
- constants become initializers; dtypes and shapes (``int`` → ``dim_value``,
  ``str`` → ``dim_param``, ``None`` → unknown dim) go into value_info.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import numpy as np
import onnx
from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto, helper, numpy_helper

from webdnn_build.ir import Graph, Node, Value, dtype_name
from webdnn_build.opdecl import FusedActivation, split_attrs

_IR_TO_ONNX_DTYPE: dict[str, int] = {
    "float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE, "float16": TensorProto.FLOAT16,
    "bfloat16": TensorProto.BFLOAT16, "int8": TensorProto.INT8, "uint8": TensorProto.UINT8,
    "int16": TensorProto.INT16, "uint16": TensorProto.UINT16, "int32": TensorProto.INT32,
    "uint32": TensorProto.UINT32, "int64": TensorProto.INT64, "uint64": TensorProto.UINT64,
    "bool": TensorProto.BOOL, "string": TensorProto.STRING,
}
_ONNX_TO_IR_DTYPE: dict[int, str] = {v: k for k, v in _IR_TO_ONNX_DTYPE.items()}


def onnx_dtype(dtype: Optional[str]) -> int:
    """The ``TensorProto`` element type of an IR dtype name (UNDEFINED for None)."""
    if dtype is None:
        return TensorProto.UNDEFINED
    try:
        return _IR_TO_ONNX_DTYPE[dtype]
    except KeyError:
        raise ValueError(f"no ONNX element type for dtype '{dtype}'") from None


def ir_dtype(elem_type: int) -> Optional[str]:
    """The IR dtype name of a ``TensorProto`` element type, None when the IR has none."""
    return _ONNX_TO_IR_DTYPE.get(int(elem_type))


def array_to_tensor(array: np.ndarray, name: str = "") -> TensorProto:
    array = np.asarray(array)
    if array.dtype.kind in ("U", "S"):
        array = array.astype(object)
    return numpy_helper.from_array(array, name)


def value_to_info(value: Value) -> ValueInfoProto:
    """A ValueInfoProto with the value's dtype and (possibly partial) shape."""
    shape: Optional[list[Any]] = None
    if value.shape is not None:
        shape = [d if isinstance(d, (int, str)) else None for d in value.shape]
    return helper.make_tensor_value_info(value.name, onnx_dtype(value.dtype), shape)


# -- attributes -----------------------------------------------------------------

def _schema_attr_type(op_type: str, domain: str, opset: int, name: str) -> Optional[int]:
    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return None
    attr = schema.attributes.get(name)
    return int(attr.type.value) if attr is not None else None


def _as_str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def attribute_to_proto(name: str, value: Any, op_type: str = "", domain: str = "", opset: int = 0) -> AttributeProto:
    """One IR attribute as an ``AttributeProto``, typed by the op's schema where known."""
    attr_type = _schema_attr_type(op_type, domain, opset, name) if op_type and opset else None
    A = AttributeProto
    if isinstance(value, Graph):
        return helper.make_attribute(name, graph_to_onnx(value), attr_type=A.GRAPH)
    if isinstance(value, (list, tuple)) and value and all(isinstance(g, Graph) for g in value):
        return helper.make_attribute(name, [graph_to_onnx(g) for g in value], attr_type=A.GRAPHS)
    if attr_type == A.FLOAT:
        return helper.make_attribute(name, float(np.asarray(value).reshape(())), attr_type=A.FLOAT)
    if attr_type == A.INT:
        return helper.make_attribute(name, int(np.asarray(value).reshape(())), attr_type=A.INT)
    if attr_type == A.STRING:
        return helper.make_attribute(name, _as_str(value), attr_type=A.STRING)
    if attr_type == A.FLOATS:
        return helper.make_attribute(name, [float(v) for v in np.asarray(value).reshape(-1)], attr_type=A.FLOATS)
    if attr_type == A.INTS:
        return helper.make_attribute(name, [int(v) for v in np.asarray(value).reshape(-1)], attr_type=A.INTS)
    if attr_type == A.STRINGS:
        return helper.make_attribute(name, [_as_str(v) for v in value], attr_type=A.STRINGS)
    if attr_type == A.TENSOR or isinstance(value, np.ndarray):
        return helper.make_attribute(name, array_to_tensor(np.asarray(value)), attr_type=A.TENSOR)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)) and not value:
        # an empty list carries no element type; INTS is by far the most common (axes, pads, perm)
        return helper.make_attribute(name, [], attr_type=A.INTS)
    return helper.make_attribute(name, value)


# -- nodes ----------------------------------------------------------------------

def _norm_domain(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


def _fresh(taken: set[str], hint: str) -> str:
    name, i = hint, 0
    while name in taken:
        i += 1
        name = f"{hint}_{i}"
    taken.add(name)
    return name


def activation_nodes(act: FusedActivation, x: str, y: str, opset: int, taken: set[str],
                     name: str = "") -> tuple[list[NodeProto], list[TensorProto]]:
    """The ONNX node(s) computing ``y = act(x)`` (plus initializers Clip needs in opset >= 11)."""
    attrs: dict[str, Any] = {}
    inputs = [x]
    inits: list[TensorProto] = []
    if act.op_type in ("LeakyRelu", "HardSigmoid", "Swish") and act.alpha is not None:
        attrs["alpha"] = act.alpha
    if act.op_type == "HardSigmoid" and act.beta is not None:
        attrs["beta"] = act.beta
    if act.op_type == "Clip":
        if opset < 11:
            if act.min is not None:
                attrs["min"] = act.min
            if act.max is not None:
                attrs["max"] = act.max
        else:
            # Clip's bounds must have the input's dtype: float32 here, node_to_onnx casts them to the producer's
            for bound, hint in ((act.min, "min"), (act.max, "max")):
                if bound is None:
                    inputs.append("")
                    continue
                init_name = _fresh(taken, f"{y}__clip_{hint}")
                inits.append(numpy_helper.from_array(np.array(bound, dtype=np.float32), init_name))
                inputs.append(init_name)
    node = helper.make_node(act.op_type, inputs, [y], name=f"{name}__{act.op_type.lower()}" if name else "", **attrs)
    return [node], inits


def node_to_onnx(node: Node, opset: int, taken: Optional[set[str]] = None,
                 value_dtypes: Optional[dict[str, Optional[str]]] = None) -> tuple[list[NodeProto], list[TensorProto]]:
    """An IR node as ONNX node(s): the node itself, then its fused activation if it has one.

    ``opset`` is the opset of the node's domain; ``taken`` holds names already in
    use (names made up here are added to it); ``value_dtypes`` lets Clip bounds
    take the producer's dtype.
    """
    taken = taken if taken is not None else set(node.inputs) | set(node.outputs)
    domain = _norm_domain(node.domain)
    attrs, act = split_attrs(node.attrs)
    outputs = list(node.outputs)
    if act is not None:
        outputs[0] = _fresh(taken, f"{node.outputs[0]}__preact")
    proto = helper.make_node(node.op_type, list(node.inputs), outputs, name=node.name, domain=domain)
    proto.attribute.extend(
        attribute_to_proto(k, v, node.op_type, domain, opset) for k, v in sorted(attrs.items()) if v is not None)
    if act is None:
        return [proto], []
    act_nodes, inits = activation_nodes(act, outputs[0], node.outputs[0], opset, taken, node.name)
    dtype = (value_dtypes or {}).get(node.outputs[0])
    if dtype and dtype != "float32":
        np_dtype = helper.tensor_dtype_to_np_dtype(onnx_dtype(dtype))
        inits = [numpy_helper.from_array(numpy_helper.to_array(t).astype(np_dtype), t.name) for t in inits]
    return [proto, *act_nodes], inits


# -- graphs ---------------------------------------------------------------------

def graph_to_onnx(graph: Graph, opsets: Optional[dict[str, int]] = None) -> GraphProto:
    """The IR graph as a ``GraphProto``: constants as initializers, shapes as value_info."""
    opsets = opsets or graph.opsets
    taken = set(graph.values)
    dtypes = {name: v.dtype for name, v in graph.values.items()}
    nodes: list[NodeProto] = []
    inits: list[TensorProto] = []
    inputs = set(graph.inputs)
    for v in graph.values.values():
        if v.is_const and v.name not in inputs:
            inits.append(array_to_tensor(v.const, v.name))  # type: ignore[arg-type]
    for n in graph.nodes:
        domain = _norm_domain(n.domain)
        opset = opsets.get(domain, opsets.get("ai.onnx" if domain == "" else domain, 0))
        ns, extra = node_to_onnx(n, opset or onnx.defs.onnx_opset_version(), taken, dtypes)
        nodes.extend(ns)
        inits.extend(extra)
    outputs = set(graph.outputs)
    value_info = [value_to_info(v) for v in graph.values.values()
                  if v.name not in inputs and v.name not in outputs and not v.is_const and v.dtype is not None]
    return helper.make_graph(
        nodes, graph.name,
        [value_to_info(graph.value(i)) for i in graph.inputs],
        [value_to_info(graph.value(o)) for o in graph.outputs],
        initializer=inits, value_info=value_info,
    )


def _opset_imports(opsets: dict[str, int], domains: Iterable[str]) -> list[onnx.OperatorSetIdProto]:
    merged: dict[str, int] = {}
    for d, v in opsets.items():
        merged[_norm_domain(d)] = v
    merged.setdefault("", onnx.defs.onnx_opset_version())
    for d in domains:
        if d not in merged:
            merged[d] = 1
    return [helper.make_opsetid(d, v) for d, v in sorted(merged.items())]


def graph_to_model(graph: Graph, opsets: Optional[dict[str, int]] = None) -> ModelProto:
    """The IR graph as a ``ModelProto`` (IR version: the lowest its opsets allow)."""
    opsets = dict(opsets or graph.opsets)
    g = graph_to_onnx(graph, opsets)
    imports = _opset_imports(opsets, {_norm_domain(n.domain) for n in graph.nodes})
    model = helper.make_model(g, opset_imports=imports, producer_name="webdnn-build-optimize")
    model.ir_version = _ir_version_for(imports)
    return model


def _ir_version_for(imports: Sequence[onnx.OperatorSetIdProto]) -> int:
    try:
        known = [i for i in imports if i.domain in ("", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training")]
        return max(helper.find_min_ir_version_for(known), 3)
    except Exception:
        return onnx.IR_VERSION


def single_node_model(node: Node, graph: Graph) -> ModelProto:
    """A model holding only ``node``: its non-empty inputs are graph inputs, its outputs graph outputs."""
    sub = Graph(name=f"eval_{node.op_type}", opsets=dict(graph.opsets))
    for name in dict.fromkeys(i for i in node.inputs if i):
        v = graph.value(name)
        dtype = v.dtype if v.dtype else (_dtype_of(v.const) if v.const is not None else None)
        sub.values[name] = Value(name, dtype, v.shape)
        sub.inputs.append(name)
    for name in node.outputs:
        if name:
            v = graph.value(name)
            sub.values[name] = Value(name, v.dtype, None)
            sub.outputs.append(name)
    sub.nodes.append(Node(node.op_type, list(node.inputs), list(node.outputs), dict(node.attrs), node.domain, node.name))
    return graph_to_model(sub)


def _dtype_of(array: np.ndarray) -> Optional[str]:
    try:
        return dtype_name(array.dtype)
    except ValueError:
        return None
