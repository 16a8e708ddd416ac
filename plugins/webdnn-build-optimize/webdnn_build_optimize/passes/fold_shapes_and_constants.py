"""fold_shapes_and_constants: ``fold_shape_ops``, ``fold_constants`` and ``refine_shapes``, repeated until none
changes anything."""

from __future__ import annotations

from webdnn_build.ir import Graph
from webdnn_build.registry import PassContext

from . import fold_constants, fold_shape_ops, refine_shapes

#: a safety net; real models settle in two or three rounds
MAX_ROUNDS = 16


def run(graph: Graph, ctx: PassContext) -> bool:
    """Fold shape queries and constant subgraphs to a fixed point.

    Shape folding goes first in each round: a constant ``Shape`` is what lets
    constant folding collapse Shape → Gather → Concat → Reshape chains, and a
    folded chain can make another shape input constant in the next round.
    Shape refinement last: dims that import left open (``Expand`` by a
    computed shape) become known once their inputs are folded, and a known
    shape is what the next round's ``fold_shape_ops`` needs.
    """
    changed = False
    for _ in range(MAX_ROUNDS):
        round_changed = fold_shape_ops.run(graph, ctx)
        round_changed = fold_constants.run(graph, ctx) or round_changed
        round_changed = refine_shapes.run(graph, ctx) or round_changed
        if not round_changed:
            break
        changed = True
    else:
        ctx.log(f"fold_shapes_and_constants: stopped after {MAX_ROUNDS} rounds")
    return changed
