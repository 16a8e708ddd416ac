"""eliminate_dead_code: remove nodes whose results never reach a graph output."""

from __future__ import annotations

from webdnn_build.ir import Graph, Node
from webdnn_build.registry import PassContext


def run(graph: Graph, ctx: PassContext) -> bool:
    """Remove every node none of whose outputs is needed for a graph output; prune unused values.

    Walks the nodes backwards from the graph outputs. A value read only inside a
    node's subgraph (an outer-scope reference) is live when that node is. Graph
    inputs are kept even when unused (they are the model's interface).
    Subgraphs themselves are not pruned.
    """
    live: set[str] = set(graph.outputs)
    kept: list[Node] = []
    removed = 0
    for node in reversed(graph.nodes):
        if any(o and o in live for o in node.outputs):
            kept.append(node)
            live.update(node.reads())  # inputs, and outer values its subgraphs (If/Loop/Scan bodies) read
        else:
            removed += 1
    kept.reverse()
    before = len(graph.values)
    if removed:
        graph.nodes = kept
        ctx.log(f"eliminate_dead_code: removed {removed} node(s)")
    graph.prune_values()
    return removed > 0 or len(graph.values) != before
