"""expand_functions: replace an ONNX op that no selected native backend runs with its ONNX function body.

Many ONNX ops are *defined* by a function of simpler ops (the spec's function body):
SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss, opset-23 Attention and RMSNormalization,
RotaryEmbedding, CastLike, Celu, GreaterOrEqual, the window functions, ReduceL1 and friends... onnx
ships these bodies (``OpSchema.get_function_with_opset_version`` and, where the body depends on the
node's attributes and input types, ``get_context_dependent_function_with_opset_version``). Where a
selected native backend (wasm, webgpu) has no kernel for such a node, the node is replaced by its
body, inlined by onnx's own inliner (``onnx.inliner``, converting the body to the model's opset) and
shape-inferred, so that its parts run on the backend's kernels instead of the js fallback.

A node is expanded only when it pays: the body is folded first as the pipeline will fold it (its
constant parts and shape queries evaluated), and every node left (after expanding nested function
ops the same way) must run natively on every selected native backend. Otherwise the node stays as it is: one js
step is cheaper than several. Ops a backend does run natively (LayerNormalization, Gelu, HardSwish...)
are never expanded, and with only the js backend selected the pass does nothing.

Ordering: after fold_shapes_and_constants (order 20), so that the native backends judge nodes by
the shapes they will have; each body is folded, and its Identity and no-op Cast nodes removed, on
its own before it is spliced in.
"""

from __future__ import annotations

from typing import Callable, Optional

import onnx
import onnx.inliner
import onnx.shape_inference
from onnx import helper

from webdnn_build.ir import Graph, Node, Value
from webdnn_build.registry import PassContext
from webdnn_build_onnx.importer import graph_from_proto

from ..onnx_bridge import array_to_tensor, single_node_model
from . import eliminate_dead_code, eliminate_identity, fold_shapes_and_constants

#: the private domain a function body is given while onnx's inliner expands it
_FN_DOMAIN = "webdnn.expand"
#: how deep function ops inside function bodies are expanded (SoftmaxCrossEntropyLoss → NLL: 2)
_MAX_DEPTH = 3
#: constants up to this many elements go into the model that is shape-inferred, so that shape
#: inference sees values such as Reshape targets (bigger ones stay typed inputs)
_SMALL_CONST = 4096



def _call_model(node: Node, graph: Graph, schema: onnx.defs.OpSchema) -> onnx.ModelProto:
    """A one-node model of ``node`` whose node carries every attribute the schema gives a default and the
    node leaves out: the inliner drops an attribute reference the call does not set, so a body reading
    ``axes`` of MeanVarianceNormalization would otherwise reduce over every axis."""
    model = single_node_model(node, graph)
    call = model.graph.node[0]
    present = {a.name for a in call.attribute}
    for name, attr in schema.attributes.items():
        if name not in present and not attr.required and attr.default_value.name:
            call.attribute.append(attr.default_value)
    return model


def _function_body(node: Node, graph: Graph, opset: int) -> Optional[onnx.FunctionProto]:
    """The node's function body from its ONNX schema at the graph's opset (the newest body defined at or
    below it), or None when it has none."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, "")
    except onnx.defs.SchemaError:
        return None
    try:
        if schema.has_context_dependent_function:
            version = max((v for v in schema.context_dependent_function_opset_versions if v <= opset), default=None)
            if version is None:
                return None
            model = _call_model(node, graph, schema)
            by_name = {vi.name: vi.type.SerializeToString() for vi in model.graph.input}
            input_types = [by_name.get(name, onnx.TypeProto().SerializeToString()) for name in node.inputs]
            body = schema.get_context_dependent_function_with_opset_version(
                version, model.graph.node[0].SerializeToString(), input_types)
        elif schema.has_function:
            version = max((v for v in schema.function_opset_versions if v <= opset), default=None)
            body = schema.get_function_with_opset_version(version) if version is not None else None
        else:
            return None
        if not body:
            return None
        fn = body if isinstance(body, onnx.FunctionProto) else onnx.FunctionProto.FromString(body)
        return fn if len(fn.node) else None
    except Exception:  # a body onnx cannot produce for this node (unsupported type, attribute): keep the node
        return None


def _body(node: Node, graph: Graph, opset: int, fn: onnx.FunctionProto) -> Optional[Graph]:
    """The function body of ``node`` inlined (onnx's inliner, converted to the model's opset), shape-inferred,
    and folded the way the pipeline will fold it (constant inputs known, shape queries and constant
    parts evaluated), as an IR graph whose inputs and outputs carry the node's own value names."""
    model = _call_model(node, graph, onnx.defs.get_schema(node.op_type, opset, ""))
    model.graph.node[0].domain = _FN_DOMAIN
    fn = onnx.FunctionProto.FromString(fn.SerializeToString())
    fn.domain, fn.name = _FN_DOMAIN, node.op_type
    model.functions.append(fn)
    model.opset_import.append(helper.make_opsetid(_FN_DOMAIN, 1))
    consts = {name: graph.values[name] for name in node.inputs if name and graph.values[name].is_const}
    for name, v in consts.items():
        if (v.numel() or 0) <= _SMALL_CONST:  # visible to shape inference (Reshape targets, axes)
            model.graph.initializer.append(array_to_tensor(v.const, name))
    try:
        inlined = onnx.inliner.inline_local_functions(model, convert_version=True)
        inlined = onnx.shape_inference.infer_shapes(inlined, data_prop=True)
    except Exception:
        return None
    if any(n.domain == _FN_DOMAIN for n in inlined.graph.node):
        return None
    opsets = {("" if o.domain == "ai.onnx" else o.domain): int(o.version) for o in inlined.opset_import
              if o.domain != _FN_DOMAIN}
    if opsets.get("", opset) != opset:
        return None  # the body could not be brought to the model's opset
    try:
        body = graph_from_proto(inlined.graph, opsets, f"{node.name}_body", source=f"function body of {node.op_type}")
    except Exception:
        return None
    for name, v in consts.items():
        body.values[name] = Value(name, v.dtype, v.shape, v.const)
    body.inputs = [i for i in body.inputs if i not in consts]
    quiet = PassContext()
    fold_shapes_and_constants.run(body, quiet)
    eliminate_identity.run(body, quiet)
    eliminate_dead_code.run(body, quiet)
    return body


def _splice(node: Node, graph: Graph, body: Graph) -> list[Node]:
    """Body nodes renamed into ``graph``: the node's inputs and outputs keep their names, every value made
    inside the body gets a fresh one (and a Value with the dtype, shape and, when folded, data it has there)."""
    keep = set(node.inputs) | set(node.outputs) | {""}
    renames: dict[str, str] = {}

    def fresh(name: str) -> str:
        if name in keep:
            return name
        if name not in renames:
            base = f"{node.name}/{name}"
            new, k = base, 1
            while new in graph.values or new in renames.values():
                new, k = f"{base}_{k}", k + 1
            renames[name] = new
            v = body.values.get(name)
            graph.values[new] = Value(new, v.dtype if v else None, v.shape if v else None,
                                      v.const if v is not None and v.is_const else None)
        return renames[name]

    nodes = []
    for i, n in enumerate(body.nodes):
        nodes.append(Node(n.op_type, [fresh(x) for x in n.inputs], [fresh(x) for x in n.outputs], dict(n.attrs),
                          n.domain, f"{node.name}/{n.op_type}_{i}"))
    for out in node.outputs:  # shape inference may know more than the graph did
        v, inferred = graph.values.get(out), body.values.get(out)
        if v is not None and inferred is not None:
            v.dtype = v.dtype or inferred.dtype
            v.shape = v.shape if v.shape is not None else inferred.shape
    return nodes


def _expand(node: Node, graph: Graph, opset: int, native: Callable[[Node, Graph], bool],
            depth: int = 0) -> Optional[list[Node]]:
    """The nodes that replace ``node`` (their values added to ``graph``), or None when it stays: when it has
    no function body, or a part of the body (after nested expansion) would not run natively."""
    fn = _function_body(node, graph, opset)
    body = _body(node, graph, opset, fn) if fn is not None else None
    if body is None or any(out and out not in body.values for out in node.outputs):
        return None
    if any(out in body.values and body.values[out].is_const for out in node.outputs):
        return None  # folded to a constant: fold_constants does that for the node itself
    values_before = set(graph.values)
    out: list[Node] = []
    for n in _splice(node, graph, body):
        if native(n, graph):
            out.append(n)
            continue
        nested = _expand(n, graph, opset, native, depth + 1) if depth + 1 < _MAX_DEPTH else None
        if nested is None:
            for name in set(graph.values) - values_before:  # leave the graph as it was
                del graph.values[name]
            return None
        out.extend(nested)
    return out


def run(graph: Graph, ctx: PassContext) -> bool:
    """Replace each top-level ONNX node that a selected native backend would run on the js kernels by its
    function body, where the body then runs natively; True when a node was replaced."""
    native = ctx.runs_natively
    opset = graph.opsets.get("", graph.opsets.get("ai.onnx", 0))
    if native is None or not opset:
        return False
    changed = False
    new_nodes: list[Node] = []
    for node in graph.nodes:
        replaced = None
        if node.domain in ("", "ai.onnx") and not native(node, graph):
            replaced = _expand(node, graph, opset, native)
        if replaced is None:
            new_nodes.append(node)
        else:
            ctx.log(f"expand_functions: {node.op_type} '{node.name}' → {len(replaced)} nodes of its ONNX function body")
            new_nodes.extend(replaced)
            changed = True
    graph.nodes = new_nodes
    return changed
