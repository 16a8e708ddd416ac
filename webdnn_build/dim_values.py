"""Shape arithmetic computed from the open dims (issue 10): one ``webdnn.DimValues`` node per value.

A model exported with dynamic axes computes its shapes at run time: ``Shape -> Gather -> Unsqueeze -> Concat ->
Reshape``, dozens of tiny int64 ops per layer. With dims left open these survive constant folding, and every
one is a step at run time (on wasm and webgpu a js step; on webgpu a Shape step would even read its input back
from the GPU to learn a shape). The symbolic shape inference (symshape.py) already knows each such value as a
vector of expressions in the open dims. This pass replaces the producer of every such value by one
``webdnn.DimValues`` node that evaluates those expressions from the sizes of the graph inputs that carry the
dims (it reads their shapes only, never their data); values the dims' ranges decide become constants; the
chains that fed them are then dead and removed.

``webdnn.DimValues`` attributes: ``values`` (the expressions, symshape.to_json text), ``dims`` (the dim names
the expressions use), ``dim_inputs``/``dim_axes`` (per dim: which of the node's inputs has it, at which
axis), ``scalar`` (1: a rank-0 result), ``to`` (the output dtype name).
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .ir import Graph, Node
from .symshape import _Vec, symbols_of, to_json

DIM_VALUES = ("webdnn", "DimValues")
_DTYPES = {"int64": np.int64, "int32": np.int32, "bool": np.bool_}


def dim_sources(graph: Graph) -> dict[str, tuple[str, int]]:
    """Open dim name -> (graph input, axis) of the first input that has it."""
    out: dict[str, tuple[str, int]] = {}
    for name in graph.inputs:
        for axis, d in enumerate(graph.values[name].shape or ()):
            if isinstance(d, str) and d in graph.dims:
                out.setdefault(d, (name, axis))
    return out


def fold_dim_arithmetic(graph: Graph, vecs: dict[str, _Vec], log: Callable[[str], None] = lambda m: None) -> int:
    """Replace shape arithmetic by ``webdnn.DimValues`` nodes and constants (see the module docstring); ``vecs``:
    what infer_symbolic_shapes(graph, vecs) learnt of the small int tensors. Returns the number of nodes removed."""
    if not graph.dims:
        return 0
    sources = dim_sources(graph)
    before = len(graph.nodes)
    nodes: list[Node] = []
    computed = constant = 0
    for node in graph.nodes:
        replacement = _replacement(graph, node, vecs, sources)
        if replacement is None:
            nodes.append(node)
        elif isinstance(replacement, np.ndarray):
            out = graph.values[node.outputs[0]]
            out.const, out.shape = replacement, tuple(replacement.shape)
            constant += 1
        else:
            nodes.append(replacement)
            computed += 1
    # DimValues nodes read graph inputs' shapes only: first, so that the ops between them are not cut into many
    # steps (a backend runs them as js steps between its own kernels)
    live = _live(graph, nodes)
    graph.nodes = [n for n in live if (n.domain, n.op_type) == DIM_VALUES] + \
        [n for n in live if (n.domain, n.op_type) != DIM_VALUES]
    graph.prune_values()
    removed = before - len(graph.nodes)
    if computed or constant:
        log(f"dim arithmetic: {computed} value(s) computed from the open dims, {constant} made constant, "
            f"{removed} node(s) fewer")
    return removed


def _replacement(graph: Graph, node: Node, vecs: dict[str, _Vec],
                 sources: dict[str, tuple[str, int]]) -> Optional[object]:
    """A DimValues node or a constant array for the node's only output, or None to keep the node."""
    if (node.domain, node.op_type) == DIM_VALUES or node.op_type == "Constant" or node.domain not in ("", "ai.onnx"):
        return None
    outs = [o for o in node.outputs if o]
    if len(outs) != 1 or len(node.outputs) != 1 or node.subgraphs():
        return None
    out = graph.values.get(outs[0])
    vec = vecs.get(outs[0])
    if out is None or vec is None or out.dtype not in _DTYPES or any(e is None for e in vec.elems):
        return None
    if all(e.value is not None for e in vec.elems):
        array = np.array([e.value for e in vec.elems], dtype=_DTYPES[out.dtype])
        return array.reshape(()) if vec.scalar else array
    names = sorted(set().union(*(symbols_of(e) for e in vec.elems)))
    if any(n not in sources for n in names):
        return None
    try:
        texts = [to_json(e) for e in vec.elems]
    except ValueError:
        return None
    inputs: list[str] = []
    for n in names:
        if sources[n][0] not in inputs:
            inputs.append(sources[n][0])
    attrs = {"values": texts, "dims": names, "dim_inputs": [inputs.index(sources[n][0]) for n in names],
             "dim_axes": [sources[n][1] for n in names], "scalar": int(vec.scalar), "to": out.dtype}
    out.shape = () if vec.scalar else (len(texts),)
    return Node(DIM_VALUES[1], inputs, [out.name], attrs, DIM_VALUES[0], node.name)


def _live(graph: Graph, nodes: list[Node]) -> list[Node]:
    """The nodes some graph output needs (outer reads of subgraphs count)."""
    live = set(graph.outputs)
    kept = []
    for node in reversed(nodes):
        if any(o and o in live for o in node.outputs):
            kept.append(node)
            live.update(node.reads())
    return kept[::-1]
