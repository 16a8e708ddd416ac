"""fuse_swish: ``x * Sigmoid(alpha * x)`` becomes one ``Swish(x, alpha)``.

SiLU (``alpha`` 1: EfficientNet, YOLOv8, Llama-style MLPs) exports as Sigmoid + Mul, and QuickGELU
(``alpha`` 1.702: CLIP) as Mul + Sigmoid + Mul. Fused, the activation is one pass instead of two or
three, and a Conv or MatMul before it can take it as its fused activation. ``Swish`` is the ONNX op
(opset 24) with exactly this definition; the IR keeps it whatever the model's opset, as
``lower_contrib_ops`` does with Gelu, and every backend has a kernel for it.

Fused only when the Sigmoid (and the scaling Mul) have the chain as their only reader and are not graph
outputs, ``alpha`` is a one-element constant, and x is float32/float16.

Ordering: after folding (alpha must be a constant), before fuse_activation.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from webdnn_build.ir import Graph, Node
from webdnn_build.registry import PassContext

from ..graph_utils import Chain, float_scalar, other_input, remove_nodes

_DTYPES = ("float32", "float16")


def _match(chain: Chain, sig: Node) -> Optional[tuple[str, float, list[Node], str]]:
    """(x, alpha, the nodes to replace, the output) for the Swish through ``sigmoid``, or None."""
    g = chain.graph
    z = sig.inputs[0] if sig.inputs else ""
    mul = chain.only_reader(sig.outputs[0], "Mul")
    if not z or mul is None:
        return None
    x = other_input(mul, sig.outputs[0])
    if x is None:
        return None
    nodes = [sig, mul]
    if x == z:
        alpha = 1.0
    else:  # z = alpha * x, read by the Sigmoid alone
        scale = chain.produced_by(z, "Mul")
        if scale is None or chain.only_reader(z, "Sigmoid") is not sig or other_input(scale, x) is None:
            return None
        found = float_scalar(g, other_input(scale, x) or "")
        if found is None:
            return None
        alpha = found
        nodes.insert(0, scale)
    if g.value(x).dtype not in _DTYPES:
        return None
    return x, alpha, nodes, mul.outputs[0]


def run(graph: Graph, ctx: PassContext) -> bool:
    """Replace each ``x * Sigmoid(x)`` / ``x * Sigmoid(alpha * x)`` by ``Swish(x, alpha)``."""
    chain = Chain(graph)
    dead: list[Node] = []
    taken: set[int] = set()
    for sig in list(graph.nodes):
        if sig.op_type != "Sigmoid" or sig.domain not in ("", "ai.onnx") or "fused_activation" in sig.attrs:
            continue
        found = _match(chain, sig)
        if found is None or any(id(n) in taken for n in found[2]):
            continue
        x, alpha, nodes, y = found
        taken.update(id(n) for n in nodes)
        swish = Node("Swish", [x], [y], {"alpha": float(np.float32(alpha))}, "", graph.fresh_name(f"{sig.name}_swish"))
        graph.nodes.insert(max(graph.nodes.index(n) for n in nodes) + 1, swish)
        dead.extend(nodes)
        ctx.log(f"fuse_swish: {len(nodes)} ops ending in '{y}' → Swish(alpha={alpha:g})")
    if dead:
        remove_nodes(graph, dead)
        graph.prune_values()
    return bool(dead)
