"""fold_constants: evaluate nodes whose inputs are all constants and replace them by constants."""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx.reference import ReferenceEvaluator

from webdnn_build.ir import Graph, Node, dtype_name, value_kind
from webdnn_build.registry import PassContext

from ..graph_utils import const_of, remove_nodes
from ..onnx_bridge import single_node_model

#: domains whose ops onnx.reference implements
EVALUATOR_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")

#: ops whose result is not a function of their inputs
NONDETERMINISTIC_OPS = frozenset({
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial",
})

#: results larger than this (and larger than the node's inputs together) are not folded, unless every
#: element is equal (the bundle stores those as a `fill` descriptor, for free)
DEFAULT_MAX_BYTES = 16 << 20


def _has_graph_attr(node: Node) -> bool:
    return any(isinstance(v, Graph) or (isinstance(v, (list, tuple)) and any(isinstance(g, Graph) for g in v))
               for v in node.attrs.values())


def _foldable(graph: Graph, node: Node, outputs: set[str]) -> bool:
    if node.domain not in EVALUATOR_DOMAINS or node.op_type in NONDETERMINISTIC_OPS or _has_graph_attr(node):
        return False
    if not any(node.outputs):
        return False
    # sequences and optionals are never constants
    if any(value_kind(graph.value(o).dtype) != "tensor" for o in node.outputs if o):
        return False
    # a graph output is kept as a computed value: backends produce outputs, they do not ship them as weights
    if any(o in outputs for o in node.outputs):
        return False
    return all(const_of(graph, i) is not None for i in node.inputs if i)


def _is_uniform(array: np.ndarray) -> bool:
    if array.size == 0:
        return True
    flat = array.reshape(-1)
    return bool(np.all(flat == flat[0]))


def evaluate(graph: Graph, node: Node) -> list[np.ndarray]:
    """Run ``node`` on its constant inputs with ``onnx.reference``; one array per output (None for omitted)."""
    model = single_node_model(node, graph)
    feeds: dict[str, Any] = {i: const_of(graph, i) for i in node.inputs if i}
    results = ReferenceEvaluator(model).run(None, feeds)
    named = [o for o in node.outputs if o]
    if any(not isinstance(r, (np.ndarray, np.generic)) for r in results):
        # a sequence (list) or an empty optional (None): constants are tensors only
        raise ValueError("the result is not a tensor")
    return [np.asarray(r) for r in results][: len(named)]


def run(graph: Graph, ctx: PassContext) -> bool:
    """Replace every deterministic node whose inputs are all constants by its results, as constants.

    ``Constant`` nodes become constants the same way. Skipped: ops outside the
    domains ``onnx.reference`` implements, random ops, ops with subgraph
    attributes, nodes writing a graph output, and results over
    ``ctx.options["fold_constants.max_bytes"]`` (default 16 MiB) that are
    bigger than the inputs and not uniform. A node the evaluator fails on stays
    (the failure is logged).
    """
    max_bytes = int(ctx.options.get("fold_constants.max_bytes", DEFAULT_MAX_BYTES))
    outputs = set(graph.outputs)
    folded: list[Node] = []
    for node in graph.nodes:
        if not _foldable(graph, node, outputs):
            continue
        try:
            results = evaluate(graph, node)
        except Exception as exc:  # the evaluator's errors are as varied as the ops
            ctx.log(f"fold_constants: could not evaluate {node.describe()}: {type(exc).__name__}: {exc}")
            continue
        names = [o for o in node.outputs if o]
        if len(results) != len(names):
            ctx.log(f"fold_constants: {node.describe()} returned {len(results)} results for {len(names)} outputs")
            continue
        input_bytes = sum(const_of(graph, i).nbytes for i in node.inputs if i)  # type: ignore[union-attr]
        if any(r.nbytes > max(max_bytes, input_bytes) and not _is_uniform(r) for r in results):
            ctx.log(f"fold_constants: kept {node.describe()}: its result would add {sum(r.nbytes for r in results)} bytes")
            continue
        try:
            typed = [_typed(graph, name, r) for name, r in zip(names, results)]
        except ValueError as exc:
            ctx.log(f"fold_constants: kept {node.describe()}: {exc}")
            continue
        for name, array in zip(names, typed):
            v = graph.value(name)
            v.const = array
            v.dtype = dtype_name(array.dtype)
            v.shape = tuple(int(d) for d in array.shape)
        folded.append(node)
    if folded:
        remove_nodes(graph, folded)
        graph.prune_values()
        ctx.log(f"fold_constants: folded {len(folded)} node(s)")
    return bool(folded)


def _typed(graph: Graph, name: str, array: np.ndarray) -> np.ndarray:
    """``array`` checked against the dtype the IR declared for ``name``."""
    got = dtype_name(array.dtype)  # raises ValueError for dtypes the IR lacks (float8, int4, ...)
    want = graph.value(name).dtype
    if want is not None and want != got:
        raise ValueError(f"the evaluator returned {got} for '{name}', declared {want}")
    return array
