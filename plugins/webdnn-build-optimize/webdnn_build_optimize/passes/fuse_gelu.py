"""fuse_gelu: the erf form of GELU that exporters spell out in five elementwise ops becomes one ``Gelu``.

torch exports ``nn.GELU()`` (and transformers' ``gelu`` activation) below opset 20 as
``0.5 * x * (1 + Erf(x / sqrt(2)))``: Div (or Mul by 1/sqrt 2), Erf, Add 1, and two Muls whose order
differs between exporters (dynamo: ``x * (0.5 * (1 + erf))``; the legacy exporter: ``(x * (1 + erf)) * 0.5``;
others ``(0.5 * x) * (1 + erf)``). Each op is a pass over the whole FFN activation; every backend has a
one-pass Gelu kernel (ONNX Gelu, opset 20, approximate="none", whatever the model's opset: the IR keeps
the op, as ``lower_contrib_ops`` does for com.microsoft Gelu).

A chain is fused only when every intermediate value has the chain as its only reader and is not a graph
output, the constants are scalars within 1e-6 (relative) of sqrt 2 / 1 / 0.5, and x is float32/float16.

Ordering: after folding (the constants must be constants), before fuse_activation.
"""

from __future__ import annotations

import math
from typing import Optional

from webdnn_build.ir import Graph, Node
from webdnn_build.registry import PassContext

from ..graph_utils import Chain, other_input, remove_nodes, scalar_near

_DTYPES = ("float32", "float16")


def _match(chain: Chain, erf: Node) -> Optional[tuple[str, list[Node], str]]:
    """(x, the nodes to replace, the final output) for the GELU chain through ``erf``, or None."""
    g = chain.graph
    scaled = erf.inputs[0] if erf.inputs else ""
    pre = chain.produced_by(scaled, "Div") or chain.produced_by(scaled, "Mul")
    if pre is None or chain.only_reader(scaled, "Erf") is not erf:
        return None
    if pre.op_type == "Div":
        x = pre.inputs[0]
        if not scalar_near(g, pre.inputs[1], math.sqrt(2.0)):
            return None
    else:
        x = next((a for a, b in (pre.inputs, pre.inputs[::-1]) if scalar_near(g, b, math.sqrt(0.5))), None)
        if x is None:
            return None
    if g.value(x).dtype not in _DTYPES:
        return None
    add = chain.only_reader(erf.outputs[0], "Add")
    if add is None or not scalar_near(g, other_input(add, erf.outputs[0]) or "", 1.0):
        return None
    s = add.outputs[0]
    first = chain.consumers.get(s, [])
    if len(first) != 1 or s in chain.outputs or first[0].op_type != "Mul":
        return None
    m1 = first[0]
    other = other_input(m1, s)
    if other is None:
        return None
    nodes = [pre, erf, add, m1]
    if scalar_near(g, other, 0.5):                       # x * (0.5 * (1 + erf))
        m2 = chain.only_reader(m1.outputs[0], "Mul")
        if m2 is None or other_input(m2, m1.outputs[0]) != x:
            return None
        return x, nodes + [m2], m2.outputs[0]
    if other == x:                                       # (x * (1 + erf)) * 0.5
        m2 = chain.only_reader(m1.outputs[0], "Mul")
        if m2 is None or not scalar_near(g, other_input(m2, m1.outputs[0]) or "", 0.5):
            return None
        return x, nodes + [m2], m2.outputs[0]
    half = chain.produced_by(other, "Mul")                # (0.5 * x) * (1 + erf)
    if half is None or chain.only_reader(other, "Mul") is not m1 \
            or other_input(half, x) is None or not scalar_near(g, other_input(half, x) or "", 0.5):
        return None
    return x, nodes + [half], m1.outputs[0]


def run(graph: Graph, ctx: PassContext) -> bool:
    """Replace each ``0.5 * x * (1 + Erf(x / sqrt 2))`` chain by ``Gelu(x)``."""
    chain = Chain(graph)
    dead: list[Node] = []
    taken: set[int] = set()
    for erf in list(graph.nodes):
        if erf.op_type != "Erf" or erf.domain not in ("", "ai.onnx"):
            continue
        found = _match(chain, erf)
        if found is None or any(id(n) in taken for n in found[1]):
            continue
        x, nodes, y = found
        taken.update(id(n) for n in nodes)
        gelu = Node("Gelu", [x], [y], {"approximate": "none"}, "", graph.fresh_name(f"{erf.name}_gelu"))
        # the Gelu takes the place of the chain's last node, so the order stays topological
        last = max(graph.nodes.index(n) for n in nodes)
        graph.nodes.insert(last + 1, gelu)
        dead.extend(nodes)
        ctx.log(f"fuse_gelu: {len(nodes)} ops ending in '{y}' → Gelu")
    if dead:
        remove_nodes(graph, dead)
        graph.prune_values()
    return bool(dead)
