"""fold_shapes_and_constants: ``fold_shape_ops`` then ``fold_constants``, repeated until neither changes anything."""

from __future__ import annotations

from webdnn_build.ir import Graph
from webdnn_build.registry import PassContext

from . import fold_constants, fold_shape_ops

#: a safety net; real models settle in two or three rounds
MAX_ROUNDS = 16


def run(graph: Graph, ctx: PassContext) -> bool:
    """Fold shape queries and constant subgraphs to a fixed point.

    Shape folding goes first in each round: a constant ``Shape`` is what lets
    constant folding collapse Shape → Gather → Concat → Reshape chains, and a
    folded chain can make another shape input constant in the next round.
    """
    changed = False
    for _ in range(MAX_ROUNDS):
        round_changed = fold_shape_ops.run(graph, ctx)
        round_changed = fold_constants.run(graph, ctx) or round_changed
        if not round_changed:
            break
        changed = True
    else:
        ctx.log(f"fold_shapes_and_constants: stopped after {MAX_ROUNDS} rounds")
    return changed
