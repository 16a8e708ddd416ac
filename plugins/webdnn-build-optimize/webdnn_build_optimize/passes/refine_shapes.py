"""refine_shapes: give static shapes to values whose shape import left open but folding made knowable.

onnx's shape inference at import sees the graph before folding: an ``Expand`` whose shape input is
computed by a Shape → Gather → Concat chain gets ``[?, ?, 16, 16]``, and every op after it inherits
the unknown dims. Once folding has made those inputs constant, inferring each such node again, on its
own with its now-known input shapes and small constant inputs, settles the dims, in graph order so that
one refined value refines its readers.
"""

from __future__ import annotations

from webdnn_build.ir import Graph
from webdnn_build.registry import PassContext

from .fold_constants import inferred_shapes


def _compatible(old, new: list[int]) -> bool:
    """``new`` only fills in ``old``'s unknown dims (a contradiction is left for the backends to report)."""
    if old is None:
        return True
    return len(old) == len(new) and all(not isinstance(a, int) or a == b for a, b in zip(old, new))


def run(graph: Graph, ctx: PassContext) -> bool:
    """Re-infer the output shapes of nodes with open output dims whose inputs are all static."""
    refined = 0
    for node in graph.nodes:
        outs = [o for o in node.outputs if o]
        if not outs or all(graph.value(o).is_static for o in outs) or node.subgraphs():
            continue
        if not all(graph.value(i).is_static for i in node.inputs if i):
            continue
        shapes = inferred_shapes(graph, node)
        if shapes is None or len(shapes) != len(outs):
            continue
        for name, dims in zip(outs, shapes):
            v = graph.value(name)
            if not v.is_static and _compatible(v.shape, dims):
                v.shape = tuple(dims)
                refined += 1
    if refined:
        ctx.log(f"refine_shapes: {refined} value(s) got a static shape")
    return bool(refined)
