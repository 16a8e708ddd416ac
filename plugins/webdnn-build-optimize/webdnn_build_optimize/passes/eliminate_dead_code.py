"""eliminate_dead_code: remove nodes whose results never reach a graph output."""

from __future__ import annotations

from webdnn_build.ir import Graph, Node
from webdnn_build.registry import PassContext


def _subgraph_reads(node: Node) -> set[str]:
    """Outer-scope names a node's subgraph attributes (If/Loop/Scan bodies) may read."""
    names: set[str] = set()
    for attr in node.attrs.values():
        graphs = attr if isinstance(attr, (list, tuple)) else [attr]
        for g in graphs:
            if isinstance(g, Graph):
                for n in g.nodes:
                    names.update(i for i in n.inputs if i)
                    names |= _subgraph_reads(n)
                names.update(g.outputs)
    return names


def run(graph: Graph, ctx: PassContext) -> bool:
    """Remove every node none of whose outputs is needed for a graph output; prune unused values.

    Walks the nodes backwards from the graph outputs. Graph inputs are kept even
    when unused (they are the model's interface).
    """
    live: set[str] = set(graph.outputs)
    kept: list[Node] = []
    removed = 0
    for node in reversed(graph.nodes):
        if any(o and o in live for o in node.outputs):
            kept.append(node)
            live.update(i for i in node.inputs if i)
            live |= _subgraph_reads(node)
        else:
            removed += 1
    kept.reverse()
    before = len(graph.values)
    if removed:
        graph.nodes = kept
        ctx.log(f"eliminate_dead_code: removed {removed} node(s)")
    graph.prune_values()
    return removed > 0 or len(graph.values) != before
